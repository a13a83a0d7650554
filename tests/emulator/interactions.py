"""Interactions as Discord builds them (INTERACTION_CREATE) and the results tests inspect."""

from __future__ import annotations

import asyncio
import mimetypes
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import payloads
from .permissions import P, has
from .state import AppCommand, Attachment, Channel, Message, walk_components
from .world import World

# Interaction types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

FOLLOWUP_LIFETIME = 15 * 60
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

OptionValue = str | int | float | bool


class EmulatorError(Exception):
    """A simulated person tried something the Discord client would not let them do."""


class InteractionFailed(EmulatorError):
    """The bot missed the 3 s deadline: the user sees "This interaction failed"."""


@dataclass
class InteractionResult:
    """Everything the bot answered to one interaction, updated live as responses arrive."""

    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    guild_id: int | None
    name: str | None = None
    source_message_id: int | None = None
    created: float = field(default_factory=time.monotonic)
    response_type: int | None = None
    responded_at: float | None = None
    message: Message | None = None
    followups: list[Message] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None
    missed_deadline: bool = False
    late_callbacks: int = 0
    acknowledging: bool = False  # a first callback is being stored
    trigger: InteractionResult | None = None  # what opened the modal this one submits
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def responded(self) -> bool:
        """True once the bot's first callback was accepted."""
        return self.response_type is not None

    @property
    def deferred(self) -> bool:
        """True while the original response is a "thinking…" placeholder."""
        return self.message is not None and bool(self.message.flags & Message.LOADING)

    @property
    def content(self) -> str | None:
        """Content of the original response message (after any edits)."""
        return None if self.message is None else self.message.content

    @property
    def embeds(self) -> list[dict[str, Any]]:
        """Embeds of the original response message."""
        return [] if self.message is None else self.message.embeds

    @property
    def components(self) -> list[dict[str, Any]]:
        """Components of the original response message."""
        return [] if self.message is None else self.message.components

    @property
    def attachments(self) -> list[dict[str, Any]]:
        """Attachments of the original response message."""
        return [] if self.message is None else self.message.attachments

    @property
    def ephemeral(self) -> bool:
        """Whether the original response is only visible to the invoking user."""
        return self.message is not None and self.message.ephemeral

    def changed(self) -> None:
        """Wake everyone waiting in :meth:`wait_for`."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(
        self, predicate: Callable[[InteractionResult], bool], within: float = 5.0
    ) -> InteractionResult:
        """Wait until ``predicate(self)`` holds, e.g. ``lambda r: len(r.followups) == 2``."""
        deadline = time.monotonic() + within
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"interaction {self.name or self.id}: condition not met: {self}")
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue
        return self

    async def followup(self, index: int = 0, within: float = 5.0) -> Message:
        """The ``index``-th follow-up message, waiting for it if needed."""
        await self.wait_for(lambda r: len(r.followups) > index, within)
        return self.followups[index]

    async def final(self, within: float = 5.0) -> InteractionResult:
        """Wait until a deferred response has been filled in by an edit or follow-up."""
        return await self.wait_for(lambda r: r.responded and not r.deferred, within)


class Registry:
    """Live interactions by token, with Discord's 3 s response deadline."""

    def __init__(self) -> None:
        self.deadline = 3.0
        self.by_token: dict[str, InteractionResult] = {}
        self.missed: list[InteractionResult] = []

    def add(self, result: InteractionResult) -> None:
        """Track an interaction and arm its deadline."""
        self.by_token[result.token] = result
        asyncio.get_running_loop().call_later(self.deadline, self._expire, result)

    def _expire(self, result: InteractionResult) -> None:
        if not result.responded:
            result.missed_deadline = True
            self.missed.append(result)
            result.changed()

    def get(self, token: str) -> InteractionResult | None:
        """The interaction for a token still usable for follow-ups (15 minutes)."""
        result = self.by_token.get(token)
        if result is None or time.monotonic() - result.created > FOLLOWUP_LIFETIME:
            return None
        return result


# payload building ----------------------------------------------------------------


def base_payload(world: World, result: InteractionResult, data: dict[str, Any]) -> dict[str, Any]:
    """Fields every interaction carries, for guild channels and DMs alike."""
    state = world.state
    channel = state.channel(result.channel_id)
    payload: dict[str, Any] = {
        "id": str(result.id),
        "application_id": str(world.bot_id),
        "type": result.type,
        "data": data,
        "channel_id": str(channel.id),
        "channel": payloads.channel(state, channel),
        "token": result.token,
        "version": 1,
        "app_permissions": str(world.perms(world.bot_id, channel)),
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if result.guild_id is not None:
        guild = state.guild(result.guild_id)
        member = payloads.member(state, guild.members[result.user_id])
        member["permissions"] = str(world.perms(result.user_id, channel))
        payload.update(
            guild_id=str(guild.id),
            guild={"id": str(guild.id), "locale": "en-US", "features": []},
            guild_locale="en-US",
            member=member,
            authorizing_integration_owners={"0": str(guild.id)},
            context=0,
        )
    else:
        payload.update(
            user=payloads.user(state.user(result.user_id)),
            authorizing_integration_owners={"0": "0"},
            context=1,
        )
    return payload


def new_result(
    interaction_type: int, user_id: int, channel: Channel, world: World, **fields: Any
) -> InteractionResult:
    """A fresh interaction id and token for a user acting in a channel."""
    return InteractionResult(
        id=world.state.new_id(),
        token="aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48),
        type=interaction_type,
        user_id=user_id,
        channel_id=channel.id,
        guild_id=channel.guild_id,
        **fields,
    )


def check_command_visible(
    world: World, command: AppCommand, user_id: int, channel: Channel
) -> None:
    """The Discord client only offers commands the member may use in that channel."""
    if channel.guild_id is None:
        contexts = command.data.get("contexts")
        if (
            command.guild_id is not None
            or command.data.get("dm_permission") is False
            or (contexts is not None and 1 not in contexts)
        ):
            raise EmulatorError(f"/{command.name} is not available in DMs")
        return
    perms = world.perms(user_id, channel)
    required = command.data.get("default_member_permissions")
    if not perms & P.USE_APPLICATION_COMMANDS or (
        required is not None and not has(perms, int(required))
    ):
        raise EmulatorError(f"user {user_id} cannot use /{command.name} in #{channel.name}")


def command_data(
    world: World,
    command: AppCommand,
    path: list[str],
    options: dict[str, Any],
    channel: Channel,
    user_id: int,
    focused: str | None = None,
) -> dict[str, Any]:
    """``data`` of a command/autocomplete interaction for ``/name sub... opt=value``."""
    definitions: list[dict[str, Any]] = command.data.get("options") or []
    built: list[dict[str, Any]] = []
    container = built
    for word in path:
        sub = next((o for o in definitions if o["name"] == word and o["type"] in (1, 2)), None)
        if sub is None:
            raise EmulatorError(f"/{command.name} has no subcommand {word!r}")
        node: dict[str, Any] = {"name": word, "type": sub["type"], "options": []}
        container.append(node)
        container = node["options"]
        definitions = sub.get("options") or []
    if any(o["type"] in (1, 2) for o in definitions):
        raise EmulatorError(
            f"/{command.name} needs a subcommand: {[o['name'] for o in definitions]}"
        )
    resolved: dict[str, dict[str, Any]] = {}
    known = {o["name"]: o for o in definitions}
    for name in options:
        if name not in known:
            raise EmulatorError(f"/{command.name} {' '.join(path)} has no option {name!r}")
    for definition in definitions:
        name = definition["name"]
        if name not in options:
            if definition.get("required") and focused is None:
                raise EmulatorError(f"missing required option {name!r}")
            continue
        option: dict[str, Any] = {"name": name, "type": definition["type"]}
        if name == focused:
            option.update(value=str(options[name]), focused=True)
        else:
            option["value"] = _coerce(world, definition, options[name], channel, user_id, resolved)
        container.append(option)
    data: dict[str, Any] = {
        "id": str(command.id),
        "name": command.name,
        "type": command.type,
        "options": built,
    }
    if resolved:
        data["resolved"] = resolved
    if command.guild_id is not None:
        data["guild_id"] = str(command.guild_id)
    return data


def _coerce(
    world: World,
    definition: dict[str, Any],
    value: Any,
    channel: Channel,
    user_id: int,
    resolved: dict[str, dict[str, Any]],
) -> OptionValue:
    """Validate a value as the Discord client would and fill ``resolved`` for entity options."""
    kind, name = definition["type"], definition["name"]
    if kind == 5:
        return bool(value)
    if kind == 11:
        return _upload(world, value, channel, resolved)
    if kind in (6, 7, 8, 9):
        target = int(getattr(value, "id", value))
        _resolve(world, kind, name, target, channel, user_id, definition, resolved)
        return str(target)
    coerced: str | int | float
    if kind == 3:
        coerced = str(value)
        if (
            not definition.get("min_length", 0)
            <= len(coerced)
            <= definition.get("max_length", 6000)
        ):
            raise EmulatorError(f"option {name!r}: length out of range")
    elif kind in (4, 10):
        coerced = int(value) if kind == 4 else float(value)
        low, high = definition.get("min_value"), definition.get("max_value")
        if (low is not None and coerced < low) or (high is not None and coerced > high):
            raise EmulatorError(f"option {name!r}: {coerced} out of range [{low}, {high}]")
    else:
        raise EmulatorError(f"option type {kind} is not emulated")
    choices = definition.get("choices")
    if choices and coerced not in [c["value"] for c in choices]:
        raise EmulatorError(f"option {name!r}: {coerced!r} is not one of the choices")
    return coerced


def _upload(
    world: World, value: Any, channel: Channel, resolved: dict[str, dict[str, Any]]
) -> str:
    """An attachment option: the client uploads the file first (``value`` is
    ``(filename, bytes)``), then the interaction names it and resolves it, served at its URL."""
    filename, data = value
    if len(data) > ATTACHMENT_SIZE_LIMIT:
        raise EmulatorError(f"attachment {filename!r} is over the upload limit")
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    stored = Attachment(world.state.new_id(), filename, content_type, bytes(data))
    world.state.files[stored.id] = stored
    url = f"{world.base_url}/attachments/{channel.id}/{stored.id}/{filename}"
    resolved.setdefault("attachments", {})[str(stored.id)] = {
        "id": str(stored.id),
        "filename": filename,
        "content_type": content_type,
        "size": len(data),
        "url": url,
        "proxy_url": url,
    }
    return str(stored.id)


def _resolve(
    world: World,
    kind: int,
    name: str,
    target: int,
    channel: Channel,
    user_id: int,
    definition: dict[str, Any],
    resolved: dict[str, dict[str, Any]],
) -> None:
    """Resolved users/members/roles/channels; channel permissions are the invoker's."""
    state = world.state
    guild = state.guilds.get(channel.guild_id or 0)
    if kind in (6, 9) and target in state.users:
        resolved.setdefault("users", {})[str(target)] = payloads.user(state.users[target])
        if guild is not None and target in guild.members:
            member = payloads.member(state, guild.members[target], with_user=False)
            member["permissions"] = str(world.perms(target, channel))
            resolved.setdefault("members", {})[str(target)] = member
    elif kind in (8, 9) and guild is not None and target in guild.roles:
        resolved.setdefault("roles", {})[str(target)] = payloads.role(guild.roles[target])
    elif kind == 7 and target in state.channels:
        picked = state.channels[target]
        types = definition.get("channel_types")
        if types and int(picked.type) not in types:
            raise EmulatorError(f"option {name!r}: channel type {picked.type} not allowed")
        data = payloads.channel(state, picked)
        data["permissions"] = str(world.perms(user_id, picked))
        resolved.setdefault("channels", {})[str(target)] = data
    else:
        raise EmulatorError(f"option {name!r}: unknown id {target}")


def component_data(message: Message, custom_id: str, values: list[str] | None) -> dict[str, Any]:
    """``data`` of a MESSAGE_COMPONENT interaction; refuses disabled or missing components."""
    component = next(
        (c for c in walk_components(message.components) if c.get("custom_id") == custom_id), None
    )
    if component is None:
        raise EmulatorError(
            f"message {message.id} has no component {custom_id!r}: {message.custom_ids()}"
        )
    if component.get("disabled"):
        raise EmulatorError(f"component {custom_id!r} is disabled")
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
    if component["type"] != 2:
        data["values"] = values or []
    return data


def modal_data(modal: dict[str, Any], values: dict[str, str | list[str]]) -> dict[str, Any]:
    """``data`` of a MODAL_SUBMIT, mirroring the modal's rows/labels as Discord does."""
    unknown = set(values) - {c.get("custom_id") for c in walk_components(modal["components"])}
    if unknown:
        raise EmulatorError(f"modal {modal['custom_id']!r} has no inputs {sorted(unknown)}")

    def submitted(component: dict[str, Any]) -> dict[str, Any]:
        if component["type"] == 1:
            return {"type": 1, "components": [submitted(c) for c in component["components"]]}
        if component["type"] == 18:
            return {
                "type": 18,
                "id": component.get("id", 0),
                "component": submitted(component["component"]),
            }
        custom_id = component.get("custom_id")
        entry: dict[str, Any] = {"type": component["type"], "id": component.get("id", 0)}
        if custom_id is None:
            return entry
        entry["custom_id"] = custom_id
        given = values.get(custom_id)
        if component["type"] == 4:
            text = "" if given is None else str(given)
            if component.get("required", True) and not text:
                raise EmulatorError(f"modal input {custom_id!r} is required")
            if len(text) > component.get("max_length", 4000):
                raise EmulatorError(f"modal input {custom_id!r} is too long")
            entry["value"] = text
        else:
            entry["values"] = [] if given is None else list(given)
        return entry

    return {
        "custom_id": modal["custom_id"],
        "components": [submitted(c) for c in modal["components"]],
    }
