"""Every command a message tells people to run exists, with the options it names.

Hints are read from the source of bot/ and cogs/ (a backticked `/command sub option:`)
and checked against the command tree the bot syncs, so renaming a command or option
without fixing a message fails here. The same tree's descriptions are checked for how
they read in Discord's command picker.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from discord import app_commands
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import BalintBot, build_bot, extension_names
from bot.config import SecretStr, Settings

ROOT = Path(__file__).resolve().parents[1]
HINT = re.compile(r"`(/[a-z][a-z-]*(?: [^`]*)?)`")
ANY_DATABASE = pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)


@pytest.fixture
async def synced_tree(engine: AsyncEngine) -> AsyncIterator[app_commands.CommandTree[BalintBot]]:
    """The tree exactly as `setup_hook` builds it, without connecting to Discord."""
    settings = Settings(discord_token=SecretStr("x.y.z"))
    bot = build_bot(settings, engine)
    for name in extension_names():
        await bot.load_extension(name)
    yield bot.tree
    await bot.close()


def hints() -> list[tuple[str, str]]:
    found = []
    for folder in ("bot", "cogs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for match in HINT.finditer(path.read_text()):
                found.append((f"{path.relative_to(ROOT)}", match[1]))
    return found


Node = app_commands.Command[Any, ..., Any] | app_commands.Group | app_commands.ContextMenu


def resolve(tree: app_commands.CommandTree[BalintBot], words: list[str]) -> Node | None:
    """The command or group named by the leading words of a hint."""
    node: Node | None = tree.get_command(words[0])
    for word in words[1:]:
        if not isinstance(node, app_commands.Group):
            break
        node = node.get_command(word)
        if node is None:
            return None
    return node


def check_hint(tree: app_commands.CommandTree[BalintBot], hint: str) -> list[str]:
    """What a hint names that does not exist; empty when it is all true."""
    tokens = hint.lstrip("/").replace("|", " | ").split()
    path = [t for t in tokens if not t.endswith(":") and t != "|" and re.fullmatch(r"[a-z-]+", t)]
    options = [t.rstrip(":") for t in tokens if t.endswith(":")]
    if "|" in tokens:
        # `/phase next | back | set`: alternatives for the last word of the path.
        head = path[: tokens.index("|") - 1]
        alternatives = [t for t in tokens if re.fullmatch(r"[a-z-]+", t)][len(head):]
        return [problem for alt in alternatives for problem in check_hint(tree, "/" + " ".join(
            [*head, alt]))]
    problems: list[str] = []
    node = resolve(tree, path[:3])
    if node is None:
        return [f"no command {hint!r}"]
    if options:
        if not isinstance(node, app_commands.Command):
            return [f"{hint!r} names options of a group"]
        names = {parameter.name for parameter in node.parameters}
        problems += [f"/{node.qualified_name} has no option {o!r}" for o in options
                     if o not in names]
    return problems


def test_hints_are_found() -> None:
    """The scan sees the hints there are (a broken pattern would pass everything)."""
    found = {hint for _, hint in hints()}
    assert "/session start" in found
    assert len(found) > 20


@ANY_DATABASE
async def test_every_hint_names_commands_and_options_that_exist(
    synced_tree: app_commands.CommandTree[BalintBot],
) -> None:
    problems = [
        f"{where}: {problem}"
        for where, hint in hints()
        for problem in check_hint(synced_tree, hint)
    ]
    assert not problems, "\n".join(problems)


@ANY_DATABASE
async def test_a_wrong_hint_is_caught(synced_tree: app_commands.CommandTree[BalintBot]) -> None:
    assert check_hint(synced_tree, "/case suggest-presenters member:") == [
        "/case suggest-presenters has no option 'member'"
    ]
    assert check_hint(synced_tree, "/session begin") == ["no command '/session begin'"]
    assert check_hint(synced_tree, "/phase next | back | set | extend") == []
    assert check_hint(synced_tree, "/nonsense") == ["no command '/nonsense'"]


# What discord.py or a hurried author leaves when nothing was written.
PLACEHOLDERS = {"…", "...", "-", "no description given", "todo", "tbd", "description"}


def descriptions(tree: app_commands.CommandTree[BalintBot]) -> list[tuple[str, str, bool]]:
    """(where, description, is_command) for every command, group and option in the tree."""
    found: list[tuple[str, str, bool]] = []

    def walk(node: Node) -> None:
        if isinstance(node, app_commands.ContextMenu):
            return
        found.append((f"/{node.qualified_name}", node.description, True))
        if isinstance(node, app_commands.Group):
            for child in node.commands:
                walk(child)
        else:
            found.extend((f"/{node.qualified_name} {p.name}:", p.description, False)
                         for p in node.parameters)

    for command in tree.get_commands():
        walk(command)
    return found


def description_problems(where: str, text: str, is_command: bool) -> list[str]:
    """How a description would read badly in the picker; empty when it reads well."""
    problems = []
    name = where.rstrip(":").split()[-1].lstrip("/")
    if text.strip().lower() in PLACEHOLDERS or len(text.split()) < 2:
        problems.append("is a placeholder")
    if text.lower().replace("-", " ") == name.replace("-", " ").replace("_", " "):
        problems.append("only repeats the name")
    if len(text) > 100:
        problems.append(f"is {len(text)} characters (Discord allows 100)")
    if not text[:1].isupper():
        problems.append("does not start with a capital (sentence case)")
    if is_command != text.endswith("."):
        problems.append("commands end with a full stop, options without one")
    return [f"{where} {problem}: {text!r}" for problem in problems]


@ANY_DATABASE
async def test_every_command_and_option_reads_well_in_the_picker(
    synced_tree: app_commands.CommandTree[BalintBot],
) -> None:
    found = descriptions(synced_tree)
    assert len([d for d in found if d[2]]) > 40
    assert len([d for d in found if not d[2]]) > 60
    problems = [p for where, text, is_command in found
                for p in description_problems(where, text, is_command)]
    assert not problems, "\n".join(problems)


def test_a_placeholder_description_is_caught() -> None:
    assert description_problems("/room lobby channel:", "…", False)[0] == (
        "/room lobby channel: is a placeholder: '…'"
    )
    assert description_problems("/session", "session", True) == [
        "/session is a placeholder: 'session'",
        "/session only repeats the name: 'session'",
        "/session does not start with a capital (sentence case): 'session'",
        "/session commands end with a full stop, options without one: 'session'",
    ]
    assert description_problems("/phase next", "Move to the next phase (leaders).", True) == []
