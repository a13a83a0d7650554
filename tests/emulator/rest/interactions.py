"""Interaction callbacks and the interaction webhook (follow-ups, @original edits)."""

from __future__ import annotations

import time
from typing import Any

from .. import payloads
from ..errors import ApiError, invalid_form, unknown
from ..interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionResult,
)
from ..limits import check_choices, check_modal
from ..state import Message
from . import Call, Routes

routes = Routes()

# Callback (response) types.
MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, AUTOCOMPLETE_RESULT, MODAL = 4, 5, 6, 7, 8, 9
# Which callback types each interaction type accepts.
_ALLOWED = {
    APPLICATION_COMMAND: {MESSAGE, DEFERRED_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, MODAL},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE},
}


def _source_message(call: Call, result: InteractionResult) -> Message:
    state = call.world.state
    message_id = result.source_message_id or 0
    message = state.ephemeral.get(message_id) or state.messages.get(result.channel_id, {}).get(
        message_id
    )
    if message is None:
        raise unknown("message")
    return message


async def _store(call: Call, message: Message) -> Message:
    """Ephemeral messages live off-channel and are never dispatched; others are posted."""
    if message.ephemeral:
        call.world.state.ephemeral[message.id] = message
        return message
    return await call.world.post_message(message)


def _metadata(call: Call, result: InteractionResult) -> dict[str, Any]:
    """A message's ``interaction_metadata``: a component names the message clicked, a modal
    submit the interaction that opened the modal."""
    data: dict[str, Any] = {
        "id": str(result.id),
        "type": result.type,
        "user": payloads.user(call.world.state.users[result.user_id]),
        "authorizing_integration_owners": {"0": str(result.guild_id or 0)},
        **({"name": result.name} if result.name else {}),
    }
    if result.type == MESSAGE_COMPONENT and result.source_message_id is not None:
        data["interacted_message_id"] = str(result.source_message_id)
    if result.type == MODAL_SUBMIT and result.trigger is not None:
        data["triggering_interaction_metadata"] = _metadata(call, result.trigger)
    return data


def _response_message(
    call: Call, result: InteractionResult, data: dict[str, Any], flags: int
) -> Message:
    world = call.world
    channel = world.state.channel(result.channel_id)
    fields: dict[str, Any] = {
        "type": 20 if result.type == APPLICATION_COMMAND else 0,
        "webhook_id": world.bot_id,
        "application_id": world.bot_id,
        "flags": flags,
        "interaction_metadata": _metadata(call, result),
    }
    if flags & Message.LOADING:
        return Message(
            id=world.state.new_id(),
            channel_id=channel.id,
            author_id=world.bot_id,
            guild_id=channel.guild_id,
            **fields,
        )
    return world.build_message(channel, world.bot_id, data, call.uploads, **fields)


@routes("POST", "/interactions/{webhook_id}/{webhook_token}/callback")
async def callback(call: Call) -> Any:
    """The first response; 10062 after the 3 s deadline, 40060 when already acknowledged."""
    result = call.registry.by_token.get(call.param("webhook_token"))
    if result is None or result.id != call.id("webhook_id"):
        raise unknown("interaction")
    if result.missed_deadline or time.monotonic() - result.created > call.registry.deadline:
        result.late_callbacks += 1
        result.changed()
        raise unknown("interaction")
    if result.responded or result.acknowledging:
        raise ApiError(400, 40060, "Interaction has already been acknowledged.")
    # Discord takes one acknowledgement, even of two sent at once: the second is refused
    # while the first is still being stored.
    result.acknowledging = True
    try:
        return await _acknowledge(call, result)
    finally:
        result.acknowledging = False


async def _acknowledge(call: Call, result: InteractionResult) -> Any:
    """The first response, stored; the body Discord answers with (`with_response`)."""
    kind = int(call.json.get("type", 0))
    data = call.json.get("data") or {}
    if kind not in _ALLOWED[result.type]:
        raise invalid_form("type", f"Callback type {kind} is not valid for this interaction.")
    resource: dict[str, Any] = {"type": kind}
    if kind in (MESSAGE, DEFERRED_MESSAGE):
        flags = int(data.get("flags") or 0) & Message.EPHEMERAL
        if kind == DEFERRED_MESSAGE:
            flags |= Message.LOADING
        result.message = await _store(call, _response_message(call, result, data, flags))
        resource["message"] = payloads.message(call.world.state, result.message)
    elif kind in (DEFERRED_UPDATE, UPDATE):
        result.message = _source_message(call, result)
        if kind == UPDATE:
            call.world.apply_message_body(result.message, data, call.uploads)
            await call.world.message_edited(result.message)
            resource["message"] = payloads.message(call.world.state, result.message)
    elif kind == AUTOCOMPLETE_RESULT:
        check_choices(list(data.get("choices") or []))
        result.choices = list(data.get("choices") or [])
    elif kind == MODAL:
        check_modal(data)
        result.modal = data
    result.response_type = kind
    result.responded_at = time.monotonic()
    result.changed()
    if not call.query_flag("with_response"):
        return None
    interaction: dict[str, Any] = {
        "id": str(result.id),
        "type": result.type,
        "response_message_loading": kind == DEFERRED_MESSAGE,
        "response_message_ephemeral": result.ephemeral,
    }
    if result.message is not None:
        interaction["response_message_id"] = str(result.message.id)
    body: dict[str, Any] = {"interaction": interaction}
    if kind in (MESSAGE, UPDATE):  # the resource is the message made (Discord's docs)
        body["resource"] = resource
    return body


def _interaction(call: Call) -> InteractionResult:
    """The interaction behind a webhook token (15 minutes), after its first response."""
    result = call.registry.get(call.param("webhook_token"))
    if result is None or call.id("webhook_id") != call.world.bot_id:
        raise ApiError(401, 50027, "Invalid Webhook Token")
    if not result.responded:
        raise unknown("webhook")
    return result


def _webhook_message(call: Call, result: InteractionResult) -> Message:
    raw = call.request.match_info.get("message_id", "@original")
    if raw == "@original":
        if result.message is None:
            raise unknown("message")
        return result.message
    wanted = int(raw)
    for message in [result.message, *result.followups]:
        if message is not None and message.id == wanted:
            return message
    raise unknown("message")


@routes("POST", "/webhooks/{webhook_id}/{webhook_token}")
async def followup(call: Call) -> Any:
    """A follow-up; the first one after a deferral fills the "thinking…" message, as on Discord."""
    result = _interaction(call)
    if result.deferred and result.message is not None:
        message = result.message
        call.world.apply_message_body(message, call.json, call.uploads)
        message.flags &= ~Message.LOADING
        await call.world.message_edited(message)
    else:
        flags = int(call.json.get("flags") or 0) & Message.EPHEMERAL
        message = await _store(call, _response_message(call, result, call.json, flags))
    result.followups.append(message)
    result.changed()
    if not call.query_flag("wait"):
        return None
    return payloads.message(call.world.state, message)


@routes("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/@original")
@routes("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
async def get_webhook_message(call: Call) -> Any:
    """The original response or a follow-up."""
    result = _interaction(call)
    return payloads.message(call.world.state, _webhook_message(call, result))


@routes("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original")
@routes("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
async def edit_webhook_message(call: Call) -> Any:
    """Edit the original response (clearing "thinking…") or a follow-up."""
    result = _interaction(call)
    message = _webhook_message(call, result)
    call.world.apply_message_body(message, call.json, call.uploads)
    message.flags &= ~Message.LOADING
    await call.world.message_edited(message)
    result.changed()
    return payloads.message(call.world.state, message)


@routes("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/@original")
@routes("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
async def delete_webhook_message(call: Call) -> Any:
    """Delete the original response or a follow-up."""
    result = _interaction(call)
    message = _webhook_message(call, result)
    await call.world.delete_message(message)
    if message is result.message:
        result.message = None
    else:
        result.followups.remove(message)
    result.changed()
    return None
