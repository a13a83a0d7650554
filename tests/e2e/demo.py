"""`make demo`: the real bot against the emulator through one scripted Balint meeting.

Nothing here is a copy of the test harness: the server, the people, the clock and the bot
come from tests/e2e/conftest.py exactly as every end-to-end test gets them. The script
is a group's first weeks (created, members accept the agreement, a weekly schedule, the
reminder and RSVPs, a two-case meeting with the presenter pushed back, follow-ups), and
`Transcript` writes what each person saw, in order, as one self-contained HTML page:
channel messages, embeds and buttons, replies only the caller sees, DMs, forms, and who
could speak in the room. Run it with `python -m tests.e2e.demo [PATH]`.
"""

from __future__ import annotations

import asyncio
import html
import re
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import discord
from sqlalchemy import select

from bot.clock import ManualClock
from bot.db.models import Case, Group
from tests.conftest import fresh_database
from tests.e2e.conftest import START, Harness, answer_text, button_id
from tests.e2e.invariant import assert_silence_invariant
from tests.emulator.contract import Contract
from tests.emulator.control import Emulator
from tests.emulator.interactions import InteractionResult
from tests.emulator.state import ChannelType, Message

DEFAULT_OUTPUT = Path("build/demo/transcript.html")
ZONE = ZoneInfo("Australia/Sydney")
VIEW = discord.Permissions(view_channel=True).value
# The group meets on Tuesdays at 19:30 in Sydney; START is the Monday morning before.
FIRST_MEETING = datetime(2026, 5, 12, 19, 30, tzinfo=ZONE)


@dataclass
class Entry:
    """One thing someone saw (or did), at the demo clock's time."""

    at: datetime
    kind: str  # action, channel, ephemeral, dm, modal, voice
    place: str  # "#tuesday-group", "DM to dr-1", "only dr-leader sees", …
    audience: set[int]
    author: str = ""
    body: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    edited: bool = False


class Transcript:
    """Everything the emulated Discord showed, found by comparing its state after each step.

    A message is recorded when it appears and again when it is edited (the session panel
    changes with every phase); an ephemeral reply is shown only to the person whose
    interaction it answers; a channel message to everyone who can see the channel.
    """

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.entries: list[Entry] = []
        self._seen: dict[int, tuple[Any, ...]] = {}
        self._silenced: set[int] = set()
        self._rooms: dict[int, int | None] = {}

    @property
    def emu(self) -> Emulator:
        return self.harness.emu

    def name(self, user_id: int) -> str:
        user = self.emu.state.users.get(user_id)
        return user.username if user else str(user_id)

    def everyone(self) -> list[int]:
        people = self.harness.people
        return [people.admin, people.leader, *people.members, people.outsider]

    def act(self, user_id: int, what: str) -> None:
        """A person does something (runs a command, clicks, joins the room)."""
        self.collect()
        self.entries.append(Entry(self.harness.clock.now(), "action", "", {user_id},
                                  self.name(user_id), what))

    def collect(self) -> None:
        """Record every message that is new or changed since the last look, oldest first."""
        state = self.emu.state
        messages = [m for channel in state.messages.values() for m in channel.values()]
        messages += list(state.ephemeral.values())
        for message in sorted(messages, key=lambda m: m.id):
            if message.flags & Message.LOADING:
                continue  # "thinking…": recorded once the answer replaces it
            signature = (message.content, repr(message.embeds), repr(message.components))
            if self._seen.get(message.id) == signature:
                continue
            edited = message.id in self._seen
            self._seen[message.id] = signature
            self.entries.append(self._entry(message, edited))
        self._voice()

    def modal(self, user_id: int, result: InteractionResult) -> None:
        """A form the bot opened for someone (modals are not messages)."""
        self.collect()
        modal = result.modal or {}
        fields = [c.get("label", "") for row in modal.get("components", [])
                  for c in row.get("components", [])]
        self.entries.append(Entry(self.harness.clock.now(), "modal",
                                  f"form for {self.name(user_id)}",
                                  {user_id}, "balint-bot", f"**{modal.get('title', '')}**: "
                                  + ", ".join(fields)))

    def _entry(self, message: Message, edited: bool) -> Entry:
        state = self.emu.state
        author = self.name(message.author_id)
        common = dict(author=author, body=message.content, embeds=message.embeds,
                      components=message.components, edited=edited)
        if message.ephemeral:
            user_id = int((message.interaction_metadata or {}).get("user", {}).get("id", 0))
            return Entry(message.timestamp, "ephemeral", f"only {self.name(user_id)} sees",
                         {user_id}, **common)  # type: ignore[arg-type]
        channel = state.channel(message.channel_id)
        if channel.type == ChannelType.DM:
            recipient = next(u for u in channel.recipient_ids if u != self.emu.bot_id)
            return Entry(message.timestamp, "dm", f"DM to {self.name(recipient)}", {recipient},
                         **common)  # type: ignore[arg-type]
        audience = {u for u in self.everyone()
                    if self.emu.permissions_for(u, channel.id) & VIEW}
        where = f"#{channel.name}"
        if channel.is_thread and channel.parent_id:
            where = f"#{state.channel(channel.parent_id).name} › {channel.name}"
        return Entry(message.timestamp if not edited else self.harness.clock.now(),
                     "channel", where, audience, **common)  # type: ignore[arg-type]

    def _voice(self) -> None:
        """Note who joins, is moved or leaves, and when someone in a voice room stops, or
        starts again, being heard."""
        for user_id in self.everyone():
            room = self.emu.voice_channel_of(user_id)
            before = self._rooms.get(user_id)
            if room == before:
                continue
            self._rooms[user_id] = room
            name = self.name(user_id)
            what = (f"{name} leaves the voice channel" if room is None else
                    f"{name} joins 🔊{self.emu.channel(room).name}" if before is None else
                    f"{name} is moved to 🔊{self.emu.channel(room).name}")
            self.entries.append(Entry(self.harness.clock.now(), "voice", "voice", {user_id},
                                      "", what))
        in_voice = [u for u in self.everyone() if self.emu.voice_channel_of(u) is not None]
        silenced = {u for u in in_voice if not self.emu.can_speak(u)}
        room_people = set(in_voice)
        for user_id in sorted(silenced - self._silenced):
            self.entries.append(Entry(
                self.harness.clock.now(), "voice", "voice room", room_people, "",
                f"{self.name(user_id)} can no longer speak or write in the group's chat: "
                "pushed back, still hearing and reading everything"))
        for user_id in sorted((self._silenced - silenced) & room_people):
            self.entries.append(Entry(self.harness.clock.now(), "voice", "voice room",
                                      room_people, "", f"{self.name(user_id)} can speak again"))
        self._silenced = silenced

    # Rendering ---------------------------------------------------------------------------

    def render(self) -> str:
        people = [(u, self.name(u)) for u in self.everyone()]
        options = "".join(f'<option value="{u}">{html.escape(n)}</option>' for u, n in people)
        rows = "\n".join(self._row(entry) for entry in self.entries)
        return PAGE.format(options=options, rows=rows, count=len(self.entries))

    def _row(self, entry: Entry) -> str:
        at = entry.at
        when = entry.at.astimezone(ZONE).strftime("%a %d %b %H:%M")
        label = {"action": "does", "channel": "channel", "ephemeral": "only you",
                 "dm": "DM", "modal": "form", "voice": "voice"}[entry.kind]
        if entry.kind == "action":
            text = f"<b>{html.escape(entry.author)}</b> {self._markdown(entry.body, at)}"
        else:
            head = f"<b>{html.escape(entry.author)}</b> " if entry.author else ""
            text = head + (" <i>(edited)</i>" if entry.edited else "")
            text += f"<div>{self._markdown(entry.body, at)}</div>" if entry.body else ""
            text += "".join(self._embed(e, at) for e in entry.embeds)
            text += self._components(entry.components)
        audience = " ".join(str(u) for u in sorted(entry.audience))
        return (f'<tr class="{entry.kind}" data-audience="{audience}"><td class="when">{when}</td>'
                f'<td><span class="badge {entry.kind}">{label}</span></td>'
                f'<td class="place">{html.escape(entry.place)}</td><td>{text}</td></tr>')

    def _embed(self, embed: dict[str, Any], at: datetime) -> str:
        parts = []
        if "author" in embed:
            name = self._markdown(embed["author"].get("name", ""), at)
            parts.append(f'<div class="small">{name}</div>')
        if embed.get("title"):
            parts.append(f"<div><b>{self._markdown(embed['title'], at)}</b></div>")
        if embed.get("description"):
            parts.append(f"<div>{self._markdown(embed['description'], at)}</div>")
        for f in embed.get("fields", []):
            parts.append(f'<div class="field"><b>{self._markdown(f["name"], at)}</b><br>'
                         f"{self._markdown(f['value'], at)}</div>")
        if embed.get("footer"):
            footer = self._markdown(embed["footer"].get("text", ""), at)
            parts.append(f'<div class="small">{footer}</div>')
        return f'<div class="embed">{"".join(parts)}</div>'

    def _components(self, rows: list[dict[str, Any]]) -> str:
        shown = []
        for row in rows:
            for c in row.get("components", []):
                if c.get("type") == 2:
                    off = " disabled" if c.get("disabled") else ""
                    label = html.escape(c.get("label", ""))
                    shown.append(f'<span class="button{off}">{label}</span>')
                elif c.get("type") == 3:
                    label = html.escape(c.get("placeholder", ""))
                    shown.append(f'<span class="button">▾ {label}</span>')
        return f'<div class="buttons">{"".join(shown)}</div>' if shown else ""

    def _markdown(self, text: str, at: datetime) -> str:
        """Discord's mentions, timestamps (relative ones as of `at`), bold and code, on
        escaped text."""
        state = self.emu.state
        out = html.escape(text)

        def user(m: re.Match[str]) -> str:
            return f'<span class="mention">@{html.escape(self.name(int(m[1])))}</span>'

        def channel(m: re.Match[str]) -> str:
            found = state.channels.get(int(m[1]))
            return f'<span class="mention">#{html.escape(found.name if found else m[1])}</span>'

        def role(m: re.Match[str]) -> str:
            names = [r.name for g in state.guilds.values() for r in g.roles.values()
                     if r.id == int(m[1])]
            return f'<span class="mention">@{html.escape(names[0] if names else m[1])}</span>'

        def stamp(m: re.Match[str]) -> str:
            moment = datetime.fromtimestamp(int(m[1]), ZONE)
            if m[2] == "R":
                shown = relative(moment - at)
            else:
                shown = moment.strftime("%H:%M" if m[2] in ("t", "T") else "%A %d %B %Y %H:%M")
            return f'<span class="time">{shown}</span>'

        out = re.sub(r"&lt;@!?(\d+)&gt;", user, out)
        out = re.sub(r"&lt;#(\d+)&gt;", channel, out)
        out = re.sub(r"&lt;@&amp;(\d+)&gt;", role, out)
        out = re.sub(r"&lt;t:(\d+)(?::([tTdDfFR]))?&gt;", stamp, out)
        out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
        out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
        return out.replace("\n", "<br>")


def relative(delta: timedelta) -> str:
    """Discord's `<t:…:R>`: "in 2 days", "5 minutes ago"."""
    seconds = abs(delta.total_seconds())
    if seconds < 45:
        return "just now"
    unit, size = next((u, n) for u, n in (("day", 86400), ("hour", 3600), ("minute", 60),
                                          ("second", 1)) if seconds >= n)
    count = round(seconds / size)
    amount = f"{count} {unit}{'s' if count != 1 else ''}"
    return f"in {amount}" if delta.total_seconds() >= 0 else f"{amount} ago"


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>balint-bot demo: a group's first meeting</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1e1f22; }}
table {{ border-collapse: collapse; width: 100%; }}
td {{ border-top: 1px solid #e3e5e8; padding: 6px 8px; vertical-align: top; }}
td.when, td.place {{ color: #5c5e66; font-size: 12px; }}
td.when {{ white-space: nowrap; }} td.place {{ width: 11em; }}
tr.action td {{ background: #f6f6f7; }}
.badge {{ white-space: nowrap; font-size: 11px; padding: 1px 6px; border-radius: 8px;
          color: #fff; background: #5865f2; }}
.badge.ephemeral {{ background: #949cf7; }} .badge.dm {{ background: #23a55a; }}
.badge.action {{ background: #80848e; }} .badge.voice {{ background: #f23f43; }}
.badge.modal {{ background: #f0b232; }}
.embed {{ border-left: 4px solid #5865f2; background: #f2f3f5; padding: 6px 10px; margin: 4px 0;
          border-radius: 4px; max-width: 44em; }}
.field {{ margin-top: 4px; }} .small {{ font-size: 12px; color: #5c5e66; }}
.button {{ display: inline-block; border: 1px solid #4e5058; border-radius: 4px; padding: 2px 10px;
           margin: 4px 4px 0 0; font-size: 12px; }}
.button.disabled {{ opacity: .45; }}
.mention {{ background: #e6e8fd; color: #4752c4; border-radius: 3px; padding: 0 2px; }}
.time {{ background: #ebedef; border-radius: 3px; padding: 0 2px; }}
code {{ background: #ebedef; padding: 0 3px; border-radius: 3px; }}
</style></head><body>
<h1>balint-bot demo: a Balint group's first meeting</h1>
<p>The real bot, run against a local emulation of Discord: {count} things seen or done, in
order. Times are the group's (Australia/Sydney). <b>only you</b> marks replies that only the
person who ran the command sees; <b>DM</b> marks direct messages; <b>voice</b> who can be
heard in the meeting room.</p>
<p><label>Show what this person saw: <select id="who"><option value="">everyone</option>
{options}</select></label></p>
<table>
{rows}
</table>
<script>
document.getElementById("who").addEventListener("change", function (e) {{
  var who = e.target.value;
  document.querySelectorAll("tr[data-audience]").forEach(function (row) {{
    var seen = !who || row.dataset.audience.split(" ").indexOf(who) >= 0;
    row.style.display = seen ? "" : "none";
  }});
}});
</script>
</body></html>
"""


class Demo:
    """The harness with a transcript: each step is told, then what it showed is collected."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.transcript = Transcript(harness)

    async def run(self, user_id: int, command: str, channel_id: int | None = None,
                  **options: Any) -> InteractionResult:
        shown = " ".join(f"{k}:{self._option(v)}" for k, v in options.items())
        where = self.transcript.emu.channel(channel_id or self.harness.lobby_id).name
        self.transcript.act(user_id, f"runs `/{command}{' ' + shown if shown else ''}` in #{where}")
        result = await self.harness.command(user_id, command, channel_id, **options)
        if result.modal is not None:
            self.transcript.modal(user_id, result)
        self.transcript.collect()
        return result

    async def click(self, user_id: int, message: Message, label: str) -> InteractionResult:
        self.transcript.act(user_id, f"clicks **{label}**")
        result = await self.harness.emu.click(user_id, message, button_id(message, label))
        await result.final()
        await self.harness.settle()
        self.transcript.collect()
        return result

    async def wait_until(self, moment: datetime, why: str) -> None:
        self.transcript.collect()
        self.transcript.entries.append(Entry(self.harness.clock.now(), "action", "",
                                             set(self.transcript.everyone()), "",
                                             f"Time passes: {why}."))
        await self.harness.advance(moment - self.harness.clock.now())
        self.transcript.collect()

    def _option(self, value: Any) -> str:
        state = self.transcript.emu.state
        if isinstance(value, int) and value in state.users:
            return "@" + self.transcript.name(value)
        if isinstance(value, int) and value in state.channels:
            return "#" + state.channels[value].name
        return str(value)


async def invite(demo: Demo) -> None:
    """The bot is running; the admin adds it to the society's server (with its people)."""
    harness = demo.harness
    await harness.start_bot()
    await harness.setup_server()
    await harness.settle()
    demo.transcript.entries.append(Entry(
        harness.clock.now(), "action", "", {harness.people.admin}, "admin",
        "adds balint-bot to the server **Rural Balint Society** with the link from "
        "`balint-bot invite-url`"))
    demo.transcript.collect()


async def meeting_story(demo: Demo) -> Group:
    """A group's first weeks, as its admin, leader and members live them."""
    h = demo.harness
    admin, leader, members = h.people.admin, h.people.leader, h.people.members[:4]
    presenters = members[:2]
    await demo.run(admin, "help")
    await demo.run(admin, "room lobby", channel=h.lobby_id)
    await demo.run(admin, "group create", name="Tuesday group", leader=leader,
                   timezone="Australia/Sydney")
    async with h.bot.session_factory() as session:
        group = (await session.execute(select(Group))).scalar_one()
    chat = group.text_channel_id
    for user_id in members:
        await demo.run(leader, "group add", chat, member=user_id)
        invitation = h.latest_dm_with_buttons(user_id)
        await demo.click(user_id, invitation, "Accept")
    await demo.run(members[3], "group agreement", chat)
    await demo.run(leader, "group phases", chat)
    await demo.run(leader, "schedule set", chat, frequency="weekly", day="Tuesday",
                   time="19:30", duration=90)
    await demo.run(members[0], "help", chat)
    await demo.run(presenters[0], "case offer", chat, label="the farmer who would not rest")
    await demo.run(presenters[1], "case offer", chat, label="a mother's worry")
    await demo.run(leader, "case list", chat)

    await demo.wait_until(FIRST_MEETING - timedelta(hours=24), "to the day before the meeting")
    reminder = [m for m in h.emu.messages(chat or 0) if m.components][-1]
    for user_id in members[:3]:
        await demo.click(user_id, reminder, "Attending")
    await demo.click(members[3], reminder, "Apologies")
    await demo.run(leader, "schedule rsvps", chat)

    await demo.wait_until(FIRST_MEETING - timedelta(minutes=1), "to the meeting")
    await h.emu.join_voice(leader, group.voice_channel_id or 0)
    for user_id in members[:3]:
        await h.emu.join_voice(user_id, h.lobby_id)
    await h.settle()
    await demo.run(leader, "help", chat)
    await demo.run(leader, "session start", chat)
    for _ in range(2):  # check-in, follow-ups
        await demo.wait_until(h.clock.now() + timedelta(minutes=4), "the phase goes on")
        await demo.run(leader, "phase next", chat)
    for number, presenter in enumerate(presenters, start=1):
        await demo.run(leader, "case suggest-presenters", chat)
        await demo.run(leader, "case present", chat, member=presenter)
        # Presentation, questions, discussion, presenter returns, closing.
        for _ in range(5):
            moved = await demo.run(leader, "phase next", chat)
            if number == 1 and "Discussion" in answer_text(moved):
                await demo.wait_until(h.clock.now() + timedelta(minutes=18),
                                      "the group discusses the case; the presenter listens")
        if number < len(presenters):
            await demo.run(leader, "phase next", chat)  # the next case's "who has a case?"
    await demo.run(leader, "session end", chat)
    for user_id in [leader, *members[:3]]:
        await h.emu.leave_voice(user_id)
    await h.settle()

    async with h.bot.session_factory() as session:
        case = (await session.execute(select(Case).where(Case.presenter_id == presenters[0])
                                      )).scalars().one()
    opened = await demo.run(presenters[0], "followup write", chat, case=str(case.id))
    assert opened.modal is not None, answer_text(opened)
    demo.transcript.act(presenters[0], "fills in the form and sends it")
    sent = await h.emu.submit_modal(presenters[0], opened,
                                    {"text": "We spoke again; he agreed to a week off."})
    await sent.final()
    await h.settle()
    demo.transcript.collect()
    await demo.wait_until(FIRST_MEETING + timedelta(days=6),
                          "to the day before the next meeting")
    await assert_silence_invariant(h)
    return group


async def record_demo(output: Path) -> Path:
    """Run the story on a fresh SQLite database and write the transcript to `output`
    (also when the story fails part way: what it shows up to there is the clue)."""
    clock = ManualClock(START)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        async with fresh_database("sqlite", Path(folder)) as engine, \
                Emulator(now=clock.now) as emu:
            contract = emu.server.contract = Contract()
            harness = Harness(emu, engine, clock)
            demo = Demo(harness)
            try:
                await invite(demo)
                await meeting_story(demo)
            finally:
                demo.transcript.collect()
                page = demo.transcript.render()
                await asyncio.to_thread(output.write_text, page, encoding="utf-8")
                await harness.stop_bot()
            if contract.violations:
                raise RuntimeError(f"traffic that breaks Discord's spec: {contract.violations[0]}")
    return output


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else DEFAULT_OUTPUT
    written = asyncio.run(record_demo(output))
    print(f"Demo transcript: {written.resolve()} ({written.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
