"""The contract check against Discord's OpenAPI spec reports what breaks it, precisely."""

from __future__ import annotations

import contextlib

import discord

from tests.emulator.contract import Contract

from .conftest import Scene, bot_intents


def test_a_bad_request_body_is_named_by_route_and_json_path() -> None:
    """A message whose embed field value is a number breaks the spec at that very field."""
    contract = Contract()
    body = {"content": "x", "embeds": [{"fields": [{"name": "n", "value": 5}]}]}
    contract.check_request("POST", "/channels/{channel_id}/messages", "/channels/1/messages", body)
    (violation,) = contract.violations
    assert str(violation).startswith(
        "POST /channels/{channel_id}/messages request $.embeds[0].fields[0].value:"
    )


def test_snowflakes_as_ints_and_permission_strings_are_accepted() -> None:
    """discord.py sends some ids as ints and permissions as strings; both are what Discord
    takes (see the README's known gaps)."""
    contract = Contract()
    contract.check_request("PUT", "/channels/{channel_id}/permissions/{target}",
                           "/channels/1/permissions/2", {"allow": "1024", "deny": "0", "type": 1})
    contract.check_request("POST", "/users/@me/channels", "/users/@me/channels",
                           {"recipient_id": 1234})
    assert contract.violations == []
    contract.check_request("POST", "/users/@me/channels", "/users/@me/channels",
                           {"recipient_id": "not-an-id"})
    assert [v.json_path for v in contract.violations] == ["$.recipient_id"]


def test_a_bad_response_is_reported() -> None:
    """A user object without Discord's required fields is caught on the way out."""
    contract = Contract()
    contract.check_response("GET", "/users/{user_id}", "/users/1", 200, {"id": "1"})
    assert {v.json_path for v in contract.violations} == {"$"}
    assert all(v.direction == "response 200" for v in contract.violations)


async def test_the_emulators_traffic_meets_the_spec(scene: Scene) -> None:
    """A client's login, a message with a button and an error all validate."""
    contract = scene.emu.server.contract = Contract()
    client = discord.Client(intents=bot_intents())
    async with scene.emu.connected(client):
        channel = client.get_channel(scene.text.id)
        assert isinstance(channel, discord.TextChannel)
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="Go", custom_id="go"))
        await channel.send("hi", view=view)
        with contextlib.suppress(discord.NotFound):
            await channel.fetch_message(1)
    assert len(scene.emu.request_log) >= 4
    assert contract.violations == []
    assert contract.unknown_routes == set()
