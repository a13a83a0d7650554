"""Discord's limits on what a request may carry, refused (400 50035) rather than cut.

Sources (discord-api-docs): components/reference.mdx (rows, buttons, selects, text
inputs, modals), interactions/receiving-and-responding.mdx and application-commands.mdx
(autocomplete choices), resources/channel.mdx (thread names, overwrite type),
resources/guild-scheduled-event.mdx (event name and description), and the changelog
of 22 January 2021 (the MANAGE_ROLES bit in overwrites).
"""

from __future__ import annotations

from typing import Any

from .errors import invalid_form, missing_permissions
from .permissions import ALL, P
from .state import Overwrite

MAX_ROWS = 5  # action rows per message (without the components V2 flag)
MAX_ROW_ITEMS = 5  # buttons per action row, or one select
BUTTON, STRING_SELECT, TEXT_INPUT = 2, 3, 4
SELECTS = (3, 5, 6, 7, 8)
LABEL = 18  # a modal's Label wrapper (label max 45)
COMPONENTS_V2 = 1 << 15


def _length(path: str, value: Any, low: int, high: int) -> None:
    if value is None:
        return
    if not low <= len(str(value)) <= high:
        if low:
            message, code = f"Must be between {low} and {high} in length.", "BASE_TYPE_BAD_LENGTH"
        else:
            message, code = f"Must be {high} or fewer in length.", "BASE_TYPE_MAX_LENGTH"
        raise invalid_form(path, message, code)


def _number(path: str, value: Any, low: int, high: int) -> None:
    if value is not None and not low <= int(value) <= high:
        raise invalid_form(
            path, f"int value should be between {low} and {high}.", "NUMBER_TYPE_MAX"
        )


def check_thread_name(name: Any) -> None:
    """A thread (or forum post) name is 1-100 characters."""
    if not name:
        raise invalid_form("name", "This field is required", "BASE_TYPE_REQUIRED")
    _length("name", name, 1, 100)


def check_message_components(components: list[dict[str, Any]], flags: int = 0) -> None:
    """Legacy layout: at most 5 action rows, each with up to 5 buttons or one select."""
    if flags & COMPONENTS_V2:
        return  # another layout (40 components in all); the bot does not use it
    if len(components) > MAX_ROWS:
        raise invalid_form("components", f"Must be {MAX_ROWS} or fewer in length.",
                           "BASE_TYPE_MAX_LENGTH")
    for r, row in enumerate(components):
        items = row.get("components") or []
        path = f"components.{r}.components"
        if not 1 <= len(items) <= MAX_ROW_ITEMS:
            raise invalid_form(path, f"Must be between 1 and {MAX_ROW_ITEMS} in length.",
                               "BASE_TYPE_BAD_LENGTH")
        if any(i.get("type") in SELECTS for i in items) and len(items) > 1:
            raise invalid_form(path, "A select must be alone in its action row.",
                               "COMPONENT_LAYOUT_WIDTH_EXCEEDED")
        for c, item in enumerate(items):
            _check_item(f"{path}.{c}", item)


def _check_item(path: str, item: dict[str, Any]) -> None:
    _length(f"{path}.custom_id", item.get("custom_id"), 1, 100)
    kind = item.get("type")
    if kind == BUTTON:
        _length(f"{path}.label", item.get("label"), 0, 80)
        _length(f"{path}.url", item.get("url"), 0, 512)
    elif kind in SELECTS:
        _length(f"{path}.placeholder", item.get("placeholder"), 0, 150)
        _number(f"{path}.min_values", item.get("min_values"), 0, 25)
        _number(f"{path}.max_values", item.get("max_values"), 1, 25)
        if kind == STRING_SELECT:
            options = item.get("options") or []
            if not 1 <= len(options) <= 25:
                raise invalid_form(f"{path}.options", "Must be between 1 and 25 in length.",
                                   "BASE_TYPE_BAD_LENGTH")
            for o, option in enumerate(options):
                for key in ("label", "value"):
                    _length(f"{path}.options.{o}.{key}", option.get(key), 1, 100)
                _length(f"{path}.options.{o}.description", option.get("description"), 0, 100)
    elif kind == TEXT_INPUT:
        _length(f"{path}.label", item.get("label"), 1, 45)
        _length(f"{path}.placeholder", item.get("placeholder"), 0, 100)
        _length(f"{path}.value", item.get("value"), 0, 4000)
        _number(f"{path}.min_length", item.get("min_length"), 0, 4000)
        _number(f"{path}.max_length", item.get("max_length"), 1, 4000)


def check_modal(data: dict[str, Any]) -> None:
    """Title 1-45, custom_id 1-100, 1-5 rows or labels, each text input within its limits."""
    if not data.get("custom_id"):
        raise invalid_form("data.custom_id", "This field is required", "BASE_TYPE_REQUIRED")
    _length("data.custom_id", data["custom_id"], 1, 100)
    _length("data.title", data.get("title") or "", 1, 45)
    rows = data.get("components") or []
    if not 1 <= len(rows) <= 5:
        raise invalid_form("data.components", "Must be between 1 and 5 in length.",
                           "BASE_TYPE_BAD_LENGTH")
    for r, row in enumerate(rows):
        path = f"data.components.{r}"
        if row.get("type") == LABEL:
            _length(f"{path}.label", row.get("label"), 1, 45)
            _length(f"{path}.description", row.get("description"), 0, 100)
            inner = [row["component"]] if "component" in row else []
        else:
            inner = row.get("components") or []
        for c, item in enumerate(inner):
            _check_item(f"{path}.components.{c}", item)


def check_choices(choices: list[dict[str, Any]]) -> None:
    """Up to 25 autocomplete choices; names 1-100, string values up to 100."""
    if len(choices) > 25:
        raise invalid_form("data.choices", "Must be 25 or fewer in length.",
                           "BASE_TYPE_MAX_LENGTH")
    for n, choice in enumerate(choices):
        _length(f"data.choices.{n}.name", choice.get("name"), 1, 100)
        if isinstance(choice.get("value"), str):
            _length(f"data.choices.{n}.value", choice["value"], 0, 100)


def check_event_text(body: dict[str, Any]) -> None:
    """A scheduled event's name is 1-100 characters, its description (if any) 1-1000."""
    if "name" in body:
        _length("name", body["name"] or "", 1, 100)
    if body.get("description") is not None:
        _length("description", body["description"], 1, 1000)


def check_overwrite_type(overwrite_type: Any, path: str = "type") -> int:
    """0 (role) or 1 (member), nothing else."""
    if overwrite_type not in (0, 1, "0", "1"):
        raise invalid_form(path, "Value must be one of {0, 1}.", "BASE_TYPE_CHOICES")
    return int(overwrite_type)


def check_manage_roles_bit(
    new: Overwrite, old: Overwrite | None, perms: int, has_overwrite: bool
) -> None:
    """Only an administrator, or a member whose MANAGE_ROLES comes from an overwrite in the
    channel, may set the MANAGE_ROLES bit (allow or deny) in an overwrite (403 50013).
    Judged on the bit's change: an overwrite that keeps what it had is not "setting" it."""
    before = (old.allow & P.MANAGE_ROLES, old.deny & P.MANAGE_ROLES) if old else (0, 0)
    after = (new.allow & P.MANAGE_ROLES, new.deny & P.MANAGE_ROLES)
    if after != before and perms != ALL and not has_overwrite:
        raise missing_permissions()
