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
from dataclasses import dataclass
from typing import NoReturn

import aiohttp
import discord
from sqlalchemy import text

from bot.app import run_bot
from bot.clock import SystemClock
from bot.config import Settings, SettingsError
from bot.db import migrate
from bot.db.engine import DatabaseConfigError, create_engine, parse_database_url
from bot.health import judge, read_beat
from bot.logs import withhold_content_from_logs
from bot.permissions import REQUIRED_PERMISSIONS, lacking, required_permissions

TOKEN_HELP = (
    "set DISCORD_TOKEN in the environment or in a .env file; copy it from "
    "https://discord.com/developers/applications → your application → Bot → Reset Token"
)

UNREACHABLE = "check this machine's internet connection and https://discordstatus.com"

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
        return Settings.load()
    except SettingsError as error:
        # Names the setting and the problem, never the value: it could be the token.
        raise CliError(f"The settings are not valid ({error}).") from None


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
    # Imported here: only a failed migration needs it, and Alembic weighs on the process.
    from alembic.util.exc import CommandError as AlembicCommandError

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
            migrate.upgrade_if_behind(database_url)
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
        f"{UNREACHABLE}."
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


# How long `check` waits for Discord's answers before calling it unreachable.
DISCORD_CHECK_TIMEOUT = 30


@dataclass(frozen=True)
class ServerPermissions:
    """One server the bot is in and the required permissions its roles lack there."""

    name: str
    id: int
    missing: list[str]


@dataclass(frozen=True)
class DiscordView:
    """What Discord itself says about the bot: who it is and what it may do where."""

    bot_name: str
    application_id: int
    servers: list[ServerPermissions]


def missing_permissions(granted: discord.Permissions, owner: bool) -> list[str]:
    """The labels of the required permissions that `granted` lacks (none for owner/admin)."""
    if owner or granted.administrator:
        return []
    return [p.label for p in lacking(granted)]


async def ask_discord(token: str) -> DiscordView:
    """Log in over REST only (no gateway) and read the bot's user, application and servers.

    GET /users/@me/guilds gives the bot's server-wide permissions in each server (its roles
    combined, channel overwrites aside), which is what the invite grants or an admin edits.
    """
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        async with asyncio.timeout(DISCORD_CHECK_TIMEOUT):
            me = await http.static_login(token)
            application = await http.application_info()
            servers: list[ServerPermissions] = []
            after: int | None = None
            while True:
                page = await http.get_guilds(200, after=after, with_counts=False)
                for guild in page:
                    granted = discord.Permissions(int(guild.get("permissions", 0)))
                    servers.append(ServerPermissions(
                        guild["name"], int(guild["id"]),
                        missing_permissions(granted, bool(guild.get("owner"))),
                    ))
                if len(page) < 200:
                    break
                after = int(page[-1]["id"])
    except discord.LoginFailure:
        raise CliError(f"Discord refused the token; {TOKEN_HELP}.") from None
    except (TimeoutError, aiohttp.ClientError, OSError, discord.DiscordServerError):
        raise CliError(f"Cannot reach Discord; {UNREACHABLE}.") from None
    except discord.HTTPException as error:
        raise CliError(f"Discord answered {error.status} to the check ({error.text}).") from None
    finally:
        await http.close()
    return DiscordView(me["username"], int(application["id"]), servers)


def permissions_table(servers: list[ServerPermissions]) -> list[str]:
    """One row per server: its name and id, then "ok" or what to grant."""
    rows = [("Server", "Id", "Permissions")] + [
        (s.name, str(s.id), "ok" if not s.missing else "missing " + ", ".join(s.missing))
        for s in servers
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip() for row in rows]


def cmd_check(settings: Settings) -> int:
    """Every problem is one sentence on stderr; what is fine goes to stdout."""
    problems: list[str] = []
    view: DiscordView | None = None
    try:
        token = require_token(settings)
        view = asyncio.run(ask_discord(token))
        print(
            f"ok   Discord accepts the token: bot {view.bot_name}, "
            f"application {view.application_id}"
        )
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
    if view is not None:
        if not view.servers:
            print("\nThe bot is in no server yet; add it with `balint-bot invite-url`.")
        else:
            print()
            print("\n".join(permissions_table(view.servers)))
        lacking = [s.name for s in view.servers if s.missing]
        if lacking:
            problems.append(
                f"The bot lacks permissions in {', '.join(lacking)}; grant them to its role "
                "(Server Settings → Roles) or add it again with `balint-bot invite-url`."
            )
    for problem in problems:
        print(f"balint-bot: {problem}", file=sys.stderr)
    return 1 if problems else 0


def cmd_health(settings: Settings) -> int:
    """For a container's health check: 0 when the bot's heartbeat is fresh and connected."""
    path = settings.heartbeat_file
    if path is None:
        raise CliError(
            "HEARTBEAT_FILE is not set; give the bot and this command the same file path."
        )
    try:
        beat = read_beat(path)
    except (OSError, ValueError, KeyError):
        raise CliError(
            f"No heartbeat in {path}; is the bot running with HEARTBEAT_FILE set?"
        ) from None
    problem = judge(beat, SystemClock().now())
    if problem is not None:
        raise CliError(problem)
    print(f"ok   connected to Discord (heartbeat at {beat.at.isoformat(timespec='seconds')})")
    return 0


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
    commands.add_parser(
        "check", help="ask Discord about the token and permissions; check the database"
    )
    commands.add_parser(
        "health", help="exit 0 if the running bot is connected to Discord (for health checks)"
    )
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
        if args.command == "health":
            return cmd_health(settings)
        return cmd_check(settings)
    except CliError as error:
        print(f"balint-bot: {error}", file=sys.stderr)
        # A health check reads 1 as "unhealthy"; other commands keep 2 for "cannot run".
        return 1 if args.command == "health" else 2


if __name__ == "__main__":
    sys.exit(main())
