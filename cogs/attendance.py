"""/attendance: who came and for how long, corrections, and statements for CPD."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable
from datetime import date

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import BalintBot
from bot.db.models import Group
from bot.domain.attendance import (
    PRESETS,
    AttendanceError,
    GridCell,
    Status,
    grid_csv,
    normalise_code,
    parse_day,
    parse_scheme,
)
from bot.domain.group_settings import GroupSettings
from bot.embeds import add_lines
from bot.errors import UserFacingError
from bot.replies import reply_ephemeral, timestamp
from bot.services.access import group_led_by_caller, group_of_caller
from bot.services.attendance import (
    DEFAULT_PERIOD,
    MeetingAttendance,
    scheme_of,
    status_counts,
)
from bot.services.attendance_files import (
    MAX_STATEMENT_BYTES,
    grid_png,
    read_statement_pdf,
    statement_pdf,
)

# Lines of `/attendance me` shown before "and N earlier".
ME_LINES = 24
ERASED = "(erased)"


def _day(text: str | None, what: str) -> date | None:
    if text is None:
        return None
    try:
        return parse_day(text, what)
    except AttendanceError as error:
        raise UserFacingError(str(error)) from None


async def display_names(guild: discord.Guild, ids: Iterable[int]) -> dict[int, str]:
    """Server display names, fetched one by one (the bot has no member list intent)."""
    names: dict[int, str] = {}
    for user_id in dict.fromkeys(ids):
        if user_id <= 0:
            names[user_id] = ERASED
            continue
        member = guild.get_member(user_id)
        if member is None:
            try:
                member = await guild.fetch_member(user_id)
            except discord.HTTPException:
                names[user_id] = f"user {user_id}"
                continue
        names[user_id] = member.display_name
    return names


def describe_row(meeting: MeetingAttendance, user_id: int) -> str:
    row = meeting.rows[user_id]
    text = f"{row.minutes} min, {row.status.value}"
    if row.corrected:
        text += f" (corrected from {row.measured_minutes} min: {meeting.reasons[user_id]})"
    return text


def render_meeting(group: Group, meeting: MeetingAttendance) -> discord.Embed:
    length = int((meeting.end - meeting.start).total_seconds()) // 60
    share = GroupSettings.from_dict(group.settings).attendance_share_percent
    embed = discord.Embed(
        title=f"{group.name}: attendance",
        description=f"Meeting of {timestamp(meeting.start)}, {length} min"
        + (" (still running)" if meeting.meeting.ended_at is None else ""),
        colour=discord.Colour.dark_teal(),
    )
    lines = [
        f"• <@{user_id}>: {describe_row(meeting, user_id)}"
        for user_id in sorted(meeting.rows, key=lambda u: -meeting.rows[u].minutes)
    ]
    add_lines(embed, "Members", lines, empty="No members.")
    embed.set_footer(text=f"Present from {share}% of the meeting; correct with /attendance correct")
    return embed


@app_commands.guild_only()
class AttendanceCommands(commands.GroupCog, group_name="attendance"):
    """Attendance from the voice room, and statements for professional credit."""

    def __init__(self, bot: BalintBot) -> None:
        self.bot = bot

    # Leaders ------------------------------------------------------------------------------

    @app_commands.command(name="meeting")
    @app_commands.describe(
        date="The meeting's date, YYYY-MM-DD (default: the latest meeting)",
        group="The group (default: the group of this channel)",
    )
    async def meeting(
        self, interaction: discord.Interaction, date: str | None = None, group: str | None = None
    ) -> None:
        """Who came to a meeting, for how long, and their status (leaders)."""
        found = await group_led_by_caller(
            self.bot.session_factory, interaction, "see attendance", group
        )
        record = await self.bot.attendance.meeting(found, _day(date, "meeting"))
        await interaction.response.send_message(
            embed=render_meeting(found, record), ephemeral=True
        )

    @app_commands.command(name="group")
    @app_commands.describe(
        start="First day, YYYY-MM-DD (default: a year ago)",
        end="Last day, YYYY-MM-DD (default: today)",
        group="The group (default: the group of this channel)",
    )
    async def grid(
        self,
        interaction: discord.Interaction,
        start: str | None = None,
        end: str | None = None,
        group: str | None = None,
    ) -> None:
        """Members × meetings for a period, as a chart and a CSV file (leaders)."""
        found = await group_led_by_caller(
            self.bot.session_factory, interaction, "see attendance", group
        )
        last = _day(end, "last") or self.bot.attendance.today(found)
        first = _day(start, "first") or last - DEFAULT_PERIOD
        await interaction.response.defer(ephemeral=True, thinking=True)
        record = await self.bot.attendance.grid(found, first, last)
        assert interaction.guild is not None
        members = list(record[0].rows)
        names = await display_names(interaction.guild, members)
        labels = [names[m] for m in members]
        days = [m.day for m in record]
        statuses = [[m.rows[user].status for m in record] for user in members]
        png = await asyncio.to_thread(grid_png, labels, days, statuses)
        csv_text = grid_csv(
            GridCell(m.day, names[user], m.rows[user], m.reasons.get(user, ""))
            for m in record
            for user in members
        )
        stem = f"attendance-{first.isoformat()}-{last.isoformat()}"
        await interaction.followup.send(
            f"**{found.name}**: {len(members)} members × {len(record)} meetings, "
            f"{first.isoformat()} to {last.isoformat()}.",
            files=[
                discord.File(io.BytesIO(png), filename=f"{stem}.png"),
                discord.File(io.BytesIO(csv_text.encode()), filename=f"{stem}.csv"),
            ],
            ephemeral=True,
        )

    @app_commands.command(name="correct")
    @app_commands.describe(
        member="Whose record to correct",
        minutes="The minutes they were really at the meeting",
        reason="Why, e.g. joined by phone, connection trouble",
        date="The meeting's date, YYYY-MM-DD (default: the latest meeting)",
        group="The group (default: the group of this channel)",
    )
    async def correct(
        self,
        interaction: discord.Interaction,
        member: discord.User,
        minutes: app_commands.Range[int, 0, 600],
        reason: str,
        date: str | None = None,
        group: str | None = None,
    ) -> None:
        """Correct a member's minutes at a meeting; the measured figure is kept (leaders)."""
        found = await group_led_by_caller(
            self.bot.session_factory, interaction, "correct attendance", group
        )
        record = await self.bot.attendance.correct(
            found, interaction.user.id, member.id, _day(date, "meeting"), minutes, reason
        )
        await interaction.response.send_message(
            f"Corrected: <@{member.id}> at the meeting of {timestamp(record.start, 'D')}: "
            f"{describe_row(record, member.id)}.",
            ephemeral=True,
        )

    @app_commands.command(name="scheme")
    @app_commands.describe(
        preset="A ready-made scheme (write your own with `text` to edit it)",
        text="Your scheme, e.g. 'Educational activity 0.5 h + Reviewing performance 1 h'",
        share="Counted as present from this percentage of the meeting (default 75)",
        group="The group (default: the group of this channel)",
    )
    @app_commands.choices(
        preset=[app_commands.Choice(name=name, value=text) for name, text in PRESETS.items()]
    )
    async def scheme(
        self,
        interaction: discord.Interaction,
        preset: str | None = None,
        text: str | None = None,
        share: app_commands.Range[int, 10, 100] | None = None,
        group: str | None = None,
    ) -> None:
        """Set how attendance counts for credit, or see the current scheme (leaders)."""
        found = await group_led_by_caller(
            self.bot.session_factory, interaction, "set the credit scheme", group
        )
        if preset and text:
            raise UserFacingError(
                "Choose a preset or write your own scheme, not both: to edit a preset, "
                "write it out in `text` with your changes."
            )
        changes: dict[str, object] = {}
        if preset or text:
            try:
                changes["credit_scheme"] = parse_scheme(text or preset or "").text()
            except AttendanceError as error:
                raise UserFacingError(str(error)) from None
        if share is not None:
            changes["attendance_share_percent"] = share
        if changes:
            await self.bot.groups.update_settings(found, lambda s: s.with_changes(**changes))
        settings = GroupSettings.from_dict(found.settings)
        await interaction.response.send_message(
            f"{'Saved. ' if changes else ''}**{found.name}** credits attendance as: "
            f"**{scheme_of(found).text()}**; a member counts as present from "
            f"{settings.attendance_share_percent}% of a meeting.",
            ephemeral=True,
        )

    # Members ------------------------------------------------------------------------------

    @app_commands.command(name="me")
    @app_commands.describe(group="The group (default: the group of this channel)")
    async def me(self, interaction: discord.Interaction, group: str | None = None) -> None:
        """Your own attendance over the last twelve months (only you see it)."""
        found = await group_of_caller(
            self.bot.session_factory, interaction, "see their attendance", group
        )
        user_id = interaction.user.id
        record = await self.bot.attendance.member_record(found, user_id)
        counts = status_counts(record, user_id)
        lines = [
            f"• {timestamp(m.start, 'D')}: {describe_row(m, user_id)}"
            for m in reversed(record)
        ]
        shown = lines[:ME_LINES]
        if len(lines) > ME_LINES:
            shown.append(f"… and {len(lines) - ME_LINES} earlier meetings.")
        total = sum(m.rows[user_id].minutes for m in record)
        summary = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts.get(s))
        await reply_ephemeral(
            interaction,
            f"**Your attendance at {found.name}** (last twelve months): {summary}; "
            f"{total} minutes in all.\n" + "\n".join(shown)
            + "\n`/attendance statement` sends you a PDF for your college.",
        )

    @app_commands.command(name="statement")
    @app_commands.describe(
        name="Your name as it should appear on the statement, e.g. Dr Jane Smith",
        start="First day, YYYY-MM-DD (default: a year ago)",
        end="Last day, YYYY-MM-DD (default: today)",
        group="The group (default: the group of this channel)",
    )
    async def statement(
        self,
        interaction: discord.Interaction,
        name: str,
        start: str | None = None,
        end: str | None = None,
        group: str | None = None,
    ) -> None:
        """Get a PDF statement of your attendance and credit, by DM, for your college."""
        found = await group_of_caller(
            self.bot.session_factory, interaction, "get an attendance statement", group
        )
        last = _day(end, "last") or self.bot.attendance.today(found)
        first = _day(start, "first") or last - DEFAULT_PERIOD
        await interaction.response.defer(ephemeral=True, thinking=True)
        issued = await self.bot.attendance.issue_statement(
            found, interaction.user.id, name, first, last
        )
        assert interaction.guild is not None
        leaders = await display_names(interaction.guild, issued.leader_ids)
        pdf = await asyncio.to_thread(
            statement_pdf,
            issued.statement,
            [leaders[i] for i in issued.leader_ids],
            issued.code,
            self.bot.attendance.today(found),
        )
        filename = f"attendance-statement-{first.isoformat()}-{last.isoformat()}.pdf"
        try:
            await interaction.user.send(
                f"Your attendance statement for **{found.name}**, {first.isoformat()} to "
                f"{last.isoformat()}. Verification code: `{issued.code}`.",
                file=discord.File(io.BytesIO(pdf), filename=filename),
            )
        except discord.HTTPException:
            await interaction.followup.send(
                "I couldn't DM you (your DMs may be closed), so here it is, visible only to you.",
                file=discord.File(io.BytesIO(pdf), filename=filename),
                ephemeral=True,
            )
            return
        await interaction.followup.send(
            "I've sent your statement to your DMs.", ephemeral=True
        )

    # Anyone --------------------------------------------------------------------------------

    @app_commands.command(name="verify")
    @app_commands.describe(
        code="The code printed on the statement, e.g. ABCD-EFGH-JKLM-NPQR",
        statement="The statement's PDF, to check that what it says is what was issued",
    )
    async def verify(
        self,
        interaction: discord.Interaction,
        code: str,
        statement: discord.Attachment | None = None,
    ) -> None:
        """Check a statement's verification code (and its PDF) against the records."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        shown = None
        if statement is not None:
            if statement.size > MAX_STATEMENT_BYTES:
                raise UserFacingError("This file is not a balint-bot attendance statement.")
            data = await statement.read()
            try:
                shown, printed = await asyncio.to_thread(read_statement_pdf, data)
            except AttendanceError as error:
                raise UserFacingError(str(error)) from None
            if printed != normalise_code(code):
                raise UserFacingError(
                    "The code you typed is not the one printed on this statement."
                )
        matches = await self.bot.attendance.verify(code, shown)
        await interaction.followup.send(
            "✅ Match: the statement with this code matches the attendance records."
            if matches
            else "❌ No match: no statement with this code matches the records (it may have "
            "been altered, or the records corrected or erased since it was issued).",
            ephemeral=True,
        )


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, BalintBot)
    await bot.add_cog(AttendanceCommands(bot))
