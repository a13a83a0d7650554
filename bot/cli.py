"""The `balint-bot` command line: run the bot, manage the database, print the invite URL."""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import logging
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

import aiohttp
import discord
from alembic.util.exc import CommandError as AlembicCommandError
from pydantic import ValidationError
from sqlalchemy import text

from bot.app import run_bot
from bot.config import Settings
from bot.db import migrate
from bot.db.engine import DatabaseConfigError, create_engine, parse_database_url
from bot.logs import withhold_content_from_logs
from bot.permissions import REQUIRED_PERMISSIONS, required_permissions

TOKEN_HELP = (
    "set DISCORD_TOKEN in the environment or in a .env file; copy it from "
    "https://discord.com/developers/applications → your application → Bot → Reset Token"
)


# Waits between attempts to reach Discord at start-up: 5 s, doubling, at most 5 min.
CONNECT_FIRST_DELAY = 5
CONNECT_LAST_DELAY = 300


class CliError(Exception):
    """A problem the user can fix, told in one sentence; the command exits non-zero."""


def application_id_from_token(token: str) -> int:
    """A bot token's first part is the application's id in base64."""
    first = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(first + "=" * (-len(first) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if token.count(".") != 2 or not decoded.isdigit():
        raise CliError(f"DISCORD_TOKEN does not look like a bot token; {TOKEN_HELP}.")
    return int(decoded)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        # Name the setting and the problem, never the value: it could be the token.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']).upper()}: {e['msg']}"
            for e in error.errors(include_input=False)
        )
        raise CliError(f"The settings are not valid ({problems}).") from None


def require_token(settings: Settings) -> str:
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise CliError(f"No bot token: {TOKEN_HELP}.")
    token = settings.discord_token.get_secret_value().strip()
    application_id_from_token(token)
    return token


def describe_database_error(error: BaseException, database_url: str) -> str:
    """One sentence for the ways a database commonly cannot be used."""
    url = parse_database_url(database_url)
    where = url.render_as_string(hide_password=True)
    detail = str(getattr(error, "orig", None) or error).lower()
    if isinstance(error, AlembicCommandError):
        if "can't locate revision" in detail or "no such revision" in detail:
            return (
                "There is no migration by that name; use `head`, `base` or a revision "
                "that `balint-bot db current` shows."
            )
        return f"The migration could not run on {where} ({error})."
    if "readonly" in detail or "read-only" in detail:
        return f"The database file {url.database} is read-only; let the bot write to it."
    if "unable to open database file" in detail:
        return f"The database file {url.database} cannot be opened; check its folder exists."
    if "password authentication failed" in detail:
        return f"The database at {where} refused the password; check DATABASE_URL."
    if "role" in detail and "does not exist" in detail:
        return (
            f"The database at {where} has no user {url.username!r}; "
            "create it, or fix the user in DATABASE_URL."
        )
    if "does not exist" in detail:
        return (
            f"The database {url.database!r} at {where} does not exist; create it first "
            f"(for example `createdb {url.database}`)."
        )
    if isinstance(error, OSError) or "connect" in detail or "refused" in detail:
        return f"Cannot reach the database at {where}; is it running and is DATABASE_URL right?"
    return f"The database at {where} could not be used ({type(error).__name__})."


def _with_database_errors(database_url: str, action: str) -> None:
    try:
        if action == "upgrade":
            migrate.upgrade(database_url)
    except DatabaseConfigError as error:
        raise CliError(str(error)) from None
    except Exception as error:  # database drivers raise many types; all mean the same here
        raise CliError(describe_database_error(error, database_url)) from None


async def _probe_database(database_url: str) -> str | None:
    """Connect once and report the schema revision; raises on any database problem."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


def cmd_run(settings: Settings) -> int:
    require_token(settings)
    _with_database_errors(settings.database_url, "upgrade")
    log = logging.getLogger(__name__)
    log.info("database is up to date; starting the bot")
    attempts = settings.discord_connect_attempts
    for attempt in range(1, attempts + 1):
        try:
            asyncio.run(run_bot(settings))
            return 0
        except discord.LoginFailure:
            raise CliError(f"Discord refused the token; {TOKEN_HELP}.") from None
        except discord.PrivilegedIntentsRequired:
            raise CliError("Discord refused an intent the bot asked for.") from None
        except (aiohttp.ClientError, OSError, discord.DiscordServerError, discord.GatewayNotFound):
            # An outage of Discord or of our network passes; a service waits it out.
            if attempt == attempts:
                break
            delay = min(CONNECT_FIRST_DELAY * 2 ** (attempt - 1), CONNECT_LAST_DELAY)
            log.warning(
                "cannot reach Discord (attempt %d of %d); trying again in %d s",
                attempt,
                attempts,
                delay,
            )
            time.sleep(delay)
    raise CliError(
        f"Cannot reach Discord after {attempts} attempt{'s' if attempts > 1 else ''}; "
        "check this machine's internet connection and https://discordstatus.com."
    )


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    if args.db_command == "downgrade" and not args.yes:
        confirm_downgrade(args.revision)
    try:
        if args.db_command == "upgrade":
            migrate.upgrade(settings.database_url, args.revision)
        elif args.db_command == "downgrade":
            migrate.downgrade(settings.database_url, args.revision)
        revision = asyncio.run(_probe_database(settings.database_url))
    except DatabaseConfigError as error:
        raise CliError(str(error)) from None
    except Exception as error:
        raise CliError(describe_database_error(error, settings.database_url)) from None
    print(f"Database revision: {revision or 'empty (no migrations applied)'}")
    return 0


def confirm_downgrade(revision: str) -> None:
    """Going back drops tables and the data in them: a person must say yes."""
    what = "every table and all the bot's data" if revision == "base" else "data"
    question = f"Downgrading to {revision} deletes {what}. Type 'yes' to go on: "
    if not sys.stdin.isatty():
        raise CliError(f"Downgrading to {revision} deletes {what}; add --yes to confirm.")
    if input(question).strip().lower() != "yes":
        raise CliError("Nothing was changed.")


def cmd_invite_url(settings: Settings, client_id: int | None) -> int:
    if client_id is None:
        try:
            client_id = application_id_from_token(require_token(settings))
        except CliError as error:
            raise CliError(
                f"{error} Or give the application id with --client-id (Developer Portal → "
                "your application → General Information → Application ID)."
            ) from None
    permissions = required_permissions()
    url = discord.utils.oauth_url(
        client_id, permissions=permissions, scopes=("bot", "applications.commands")
    )
    print(url)
    print(f"\nPermissions integer {permissions.value}:", file=sys.stderr)
    for permission in REQUIRED_PERMISSIONS:
        print(f"  {permission.label}: {permission.reason}", file=sys.stderr)
    return 0


def cmd_check(settings: Settings) -> int:
    problems: list[str] = []
    try:
        application_id = application_id_from_token(require_token(settings))
        print(f"ok   DISCORD_TOKEN is set (application {application_id})")
    except CliError as error:
        problems.append(str(error))
    try:
        revision = asyncio.run(_probe_database(settings.database_url))
        print(
            f"ok   database reachable (revision {revision or 'none: run `balint-bot db upgrade`'})"
        )
    except DatabaseConfigError as error:
        problems.append(str(error))
    except Exception as error:
        problems.append(describe_database_error(error, settings.database_url))
    for problem in problems:
        print(f"FAIL {problem}")
    return 1 if problems else 0


class ArgumentParser(argparse.ArgumentParser):
    """Argument mistakes read like every other error: one sentence, then exit 2."""

    def error(self, message: str) -> NoReturn:
        if "the following arguments are required" in message:
            choices = [
                name
                for action in self._actions
                if isinstance(action, argparse._SubParsersAction)
                for name in action.choices
            ]
            if choices:
                message = f"say what to do: {', '.join(choices)}"
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`).\n")


def application_id(value: str) -> int:
    """An application id is a snowflake: a positive whole number."""
    if not value.isdigit() or not 0 < int(value) < 2**64:
        raise argparse.ArgumentTypeError(
            f"{value[:30]!r} is not an application id (a long positive number from the "
            "Developer Portal)"
        )
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="balint-bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    commands.add_parser("run", help="apply pending migrations, then start the bot")
    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True, parser_class=ArgumentParser)
    upgrade = db_commands.add_parser("upgrade", help="migrate to the newest (or a given) revision")
    upgrade.add_argument("revision", nargs="?", default="head")
    downgrade = db_commands.add_parser("downgrade", help="migrate back to REV (e.g. base)")
    downgrade.add_argument("revision")
    downgrade.add_argument("--yes", action="store_true", help="don't ask for confirmation")
    db_commands.add_parser("current", help="print the database's revision")
    invite = commands.add_parser("invite-url", help="print the URL that adds the bot to a server")
    invite.add_argument(
        "--client-id", type=application_id, help="the application id (default: from the token)"
    )
    commands.add_parser("check", help="check the settings and the database")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        withhold_content_from_logs()
        logging.basicConfig(
            level=settings.log_level_number(),
            stream=sys.stdout,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        if args.command == "run":
            return cmd_run(settings)
        if args.command == "db":
            return cmd_db(settings, args)
        if args.command == "invite-url":
            return cmd_invite_url(settings, args.client_id)
        return cmd_check(settings)
    except CliError as error:
        print(f"balint-bot: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
