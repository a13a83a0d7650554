"""/schedule and /reminders: when a group meets, reminders, RSVPs and the calendar file."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Sequence

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import BalintBot
from bot.db import queries
from bot.db.models import Group, RsvpAnswer
from bot.domain.recurrence import describe
from bot.embeds import add_lines
from bot.errors import UserFacingError
from bot.replies import reply_ephemeral, timestamp, zone_choices
from bot.services.access import (
    channel_ids_of,
    group_led_by_caller,
    group_of_caller,
)
from bot.services.reminders import ReminderService, RsvpBoard, describe_offset
from bot.services.schedule import (
    FREQUENCIES,
    Overview,
    ScheduleChange,
    ScheduleForm,
    ScheduleService,
)
from cogs._shared import PersistentButton, bot_of

ANSWER_TEXT = {
    RsvpAnswer.ATTENDING: "Thank you: you're down as **attending**",
    RsvpAnswer.APOLOGIES: "Thank you: your **apologies** are noted",
}
FREQUENCY_CHOICES = [app_commands.Choice(name=f, value=f) for f in FREQUENCIES]
WEEK_CHOICES = [
    app_commands.Choice(name=name, value=value)
    for name, value in (("first", 1), ("second", 2), ("third", 3), ("fourth", 4), ("last", -1))
]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class RsvpButton(
    PersistentButton, template=r"rsvp:(?P<meeting>\d+):(?P<answer>attending|apologies)"
):
    """Attending / Apologies on a reminder; works after restarts (state in custom_id)."""

    def __init__(self, meeting_id: int, answer: RsvpAnswer | str) -> None:
        self.answer = RsvpAnswer(answer)
        attending = self.answer is RsvpAnswer.ATTENDING
        super().__init__(
            f"rsvp:{meeting_id}:{self.answer.value}",
            "Attending" if attending else "Apologies",
            discord.ButtonStyle.success if attending else discord.ButtonStyle.secondary,
        )
        self.meeting_id = meeting_id

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        cog = bot.get_cog(ScheduleCommands.__cog_name__)
        assert isinstance(cog, ScheduleCommands)
        try:
            meeting = await cog.reminders.record_rsvp(
                self.meeting_id, interaction.user.id, self.answer
            )
        except UserFacingError as error:
            await reply_ephemeral(interaction, error.message)
            return
        await reply_ephemeral(
            interaction,
            f"{ANSWER_TEXT[self.answer]} for the meeting {timestamp(meeting.scheduled_start)}. "
            "You can change your answer with the other button.",
        )


def rsvp_view(meeting_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for answer in RsvpAnswer:
        view.add_item(RsvpButton(meeting_id, answer))
    return view


def render_change(change: ScheduleChange, done: str) -> str:
    text = done
    if change.problems:
        text += "\n⚠️ " + "\n⚠️ ".join(change.problems)
    return text


def render_overview(group: Group, overview: Overview) -> discord.Embed:
    embed = discord.Embed(
        title=f"{group.name}: schedule",
        description=describe(overview.rule) if overview.rule else "No regular schedule is set.",
    )
    lines = []
    for shown in overview.coming:
        meeting = shown.meeting
        line = f"• {timestamp(meeting.scheduled_start)} ({timestamp(meeting.scheduled_start, 'R')})"
        if meeting.moved_from is not None:
            line += f", moved from {timestamp(meeting.moved_from, 'f')}"
        if shown.note:
            line += f"\n  ↳ {shown.note}"
        lines.append(line)
    lines += [f"• ~~{timestamp(m.scheduled_start)}~~ skipped" for m in overview.skipped]
    add_lines(embed, "Next meetings", lines, empty="None planned.")
    embed.set_footer(text="Times are shown in your own time zone.")
    return embed


def render_board(board: RsvpBoard) -> str:
    def people(ids: Sequence[int]) -> str:
        return ", ".join(f"<@{user_id}>" for user_id in ids) or "nobody"

    return (
        f"**Meeting {timestamp(board.meeting.scheduled_start)}**\n"
        f"Attending ({len(board.attending)}): {people(board.attending)}\n"
        f"Apologies ({len(board.apologies)}): {people(board.apologies)}\n"
        f"No answer yet ({len(board.unanswered)}): {people(board.unanswered)}"
    )


@app_commands.guild_only()
class ScheduleCommands(commands.Cog):
    """When groups meet, and the reminders and RSVPs around their meetings."""

    schedule = app_commands.Group(
        name="schedule",
        description="When the group meets: set, change, skip or move meetings; see RSVPs.",
        guild_only=True,
    )

    def __init__(self, bot: BalintBot) -> None:
        self.bot = bot
        self.reminders = ReminderService(bot, bot.session_factory, bot.clock, bot.jobs, rsvp_view)
        self.service = ScheduleService(
            bot, bot.session_factory, bot.clock, bot.jobs, bot.groups, self.reminders
        )

    @commands.Cog.listener()
    async def on_group_archived(self, group_id: int) -> None:
        """An archived group meets no more: its series, meetings and events end now."""
        async with self.bot.session_factory() as session:
            group = await session.get(Group, group_id)
        if group is not None:
            with contextlib.suppress(UserFacingError):
                await self.service.cancel_schedule(group)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(RsvpButton)
        await self.service.start_up()

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Mend events changed by hand while the bot was away, once Discord has sent them."""
        self.service.events.check_all()

    @commands.Cog.listener()
    async def on_server_back(self, guild: discord.Guild) -> None:
        """A server sent after `ready` (back from an outage) missed the check above."""
        self.service.events.check_all(guild.id)

    async def group_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild is None:
            return []
        async with self.bot.session_factory() as session:
            groups = await queries.user_groups(session, interaction.guild.id, interaction.user.id)
        return [
            app_commands.Choice(name=g.name, value=g.name)
            for g in groups
            if current.lower() in g.name.lower()
        ][:25]

    async def day_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=day, value=day)
            for day in WEEKDAYS
            if day.lower().startswith(current.lower().strip())
        ]

    async def timezone_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return zone_choices(current)

    # Setting and changing the schedule ---------------------------------------------------

    @schedule.command(name="set")
    @app_commands.describe(
        frequency="How often the group meets",
        day="The weekday, e.g. Tuesday",
        time="The start, HH:MM on a 24-hour clock in the group's time zone, e.g. 19:30",
        duration="Length of each meeting in minutes (15 to 240)",
        every="For every-n-weeks: the number of weeks between meetings",
        week="For monthly: which weekday of the month",
        starting="The first meeting on or after this date, YYYY-MM-DD (default: the next one)",
        until="No meetings after this date, YYYY-MM-DD",
        count="How many meetings in all",
        timezone="The group's IANA time zone, if it should change, e.g. Australia/Sydney",
        group="The group (default: the group of this channel)",
    )
    @app_commands.choices(frequency=FREQUENCY_CHOICES)
    @app_commands.choices(week=WEEK_CHOICES)
    async def schedule_set(
        self,
        interaction: discord.Interaction,
        frequency: str,
        day: str,
        time: str,
        duration: int,
        every: int | None = None,
        week: int | None = None,
        starting: str | None = None,
        until: str | None = None,
        count: int | None = None,
        timezone: str | None = None,
        group: str | None = None,
    ) -> None:
        """Set when the group meets (leaders)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await group_led_by_caller(
            self.bot.session_factory, interaction, "set the schedule", group
        )
        form = ScheduleForm(
            frequency, day, time, duration, every, week, starting, until, count, timezone
        )
        change = await self.service.set_schedule(found, form)
        assert change.rule is not None
        await interaction.followup.send(
            render_change(
                change,
                f"Schedule set: {describe(change.rule)}. {len(change.meetings)} meetings are "
                "planned so far; the members were told in the group's channel.",
            ),
            ephemeral=True,
        )

    @schedule.command(name="change")
    @app_commands.describe(
        from_date="The first day the change applies to, YYYY-MM-DD",
        frequency="How often the group meets from then",
        day="The weekday from then",
        time="The start from then, HH:MM",
        duration="Length of each meeting in minutes (15 to 240)",
        every="For every-n-weeks: the number of weeks between meetings",
        week="For monthly: which weekday of the month",
        until="No meetings after this date, YYYY-MM-DD",
        count="How many meetings from then on",
        timezone="The group's IANA time zone, if it should change",
        group="The group (default: the group of this channel)",
    )
    @app_commands.rename(from_date="from")
    @app_commands.choices(frequency=FREQUENCY_CHOICES)
    @app_commands.choices(week=WEEK_CHOICES)
    async def schedule_change(
        self,
        interaction: discord.Interaction,
        from_date: str,
        frequency: str | None = None,
        day: str | None = None,
        time: str | None = None,
        duration: int | None = None,
        every: int | None = None,
        week: int | None = None,
        until: str | None = None,
        count: int | None = None,
        timezone: str | None = None,
        group: str | None = None,
    ) -> None:
        """Change the schedule from a date onward; what you leave out stays as it was (leaders)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await group_led_by_caller(
            self.bot.session_factory, interaction, "change the schedule", group
        )
        form = ScheduleForm(
            frequency, day, time, duration, every, week, None, until, count, timezone
        )
        change = await self.service.change_schedule(found, from_date, form)
        assert change.rule is not None
        await interaction.followup.send(
            render_change(change, f"From {from_date}: {describe(change.rule)}."), ephemeral=True
        )

    @schedule.command(name="cancel")
    @app_commands.describe(group="The group (default: the group of this channel)")
    async def schedule_cancel(
        self, interaction: discord.Interaction, group: str | None = None
    ) -> None:
        """End the regular schedule; coming meetings are called off (leaders)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await group_led_by_caller(
            self.bot.session_factory, interaction, "cancel the schedule", group
        )
        change = await self.service.cancel_schedule(found)
        await interaction.followup.send(
            render_change(
                change, f"The schedule is cancelled; {len(change.meetings)} meetings called off."
            ),
            ephemeral=True,
        )

    @schedule.command(name="skip")
    @app_commands.describe(
        date="The date of the meeting to skip, YYYY-MM-DD (in the group's time zone)",
        group="The group (default: the group of this channel)",
    )
    async def schedule_skip(
        self, interaction: discord.Interaction, date: str, group: str | None = None
    ) -> None:
        """Skip one meeting (leaders)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await group_led_by_caller(
            self.bot.session_factory, interaction, "skip a meeting", group
        )
        change = await self.service.skip(found, date)
        start = change.meetings[0].scheduled_start
        await interaction.followup.send(
            render_change(change, f"The meeting {timestamp(start)} is skipped."), ephemeral=True
        )

    @schedule.command(name="move")
    @app_commands.describe(
        date="The date of the meeting to move, YYYY-MM-DD (in the group's time zone)",
        to_date="Its new date, YYYY-MM-DD (default: the same day)",
        to_time="Its new start, HH:MM (default: the same time)",
        group="The group (default: the group of this channel)",
    )
    async def schedule_move(
        self,
        interaction: discord.Interaction,
        date: str,
        to_date: str | None = None,
        to_time: str | None = None,
        group: str | None = None,
    ) -> None:
        """Move one meeting to another day or time (leaders)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await group_led_by_caller(
            self.bot.session_factory, interaction, "move a meeting", group
        )
        change = await self.service.move(found, date, to_date, to_time)
        start = change.meetings[0].scheduled_start
        await interaction.followup.send(
            render_change(change, f"The meeting now starts {timestamp(start)}."), ephemeral=True
        )

    @schedule.command(name="reminders-settings")
    @app_commands.describe(
        before="When to remind, before each meeting: e.g. `24h, 15m` (one to four times)",
        group="The group (default: the group of this channel)",
    )
    async def schedule_reminders(
        self, interaction: discord.Interaction, before: str, group: str | None = None
    ) -> None:
        """When the group's reminders go out before each meeting, for everyone (leaders)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await group_led_by_caller(
            self.bot.session_factory, interaction, "change the reminders", group
        )
        offsets = await self.service.set_reminder_offsets(found, before)
        await interaction.followup.send(
            "Reminders now go out "
            + ", ".join(describe_offset(offset) for offset in offsets)
            + " before each meeting.",
            ephemeral=True,
        )

    # Reading ----------------------------------------------------------------------------

    @schedule.command(name="show")
    @app_commands.describe(group="The group (default: the group of this channel)")
    async def schedule_show(
        self, interaction: discord.Interaction, group: str | None = None
    ) -> None:
        """The group's schedule and its next meetings."""
        found = await group_of_caller(
            self.bot.session_factory, interaction, "see the schedule", group
        )
        overview = await self.service.overview(found)
        await interaction.response.send_message(
            embed=render_overview(found, overview), ephemeral=True
        )

    @schedule.command(name="rsvps")
    @app_commands.describe(
        date="The meeting's date, YYYY-MM-DD (default: the next meeting)",
        group="The group (default: the group of this channel)",
    )
    async def schedule_rsvps(
        self, interaction: discord.Interaction, date: str | None = None, group: str | None = None
    ) -> None:
        """Who is coming, who sent apologies, who has not answered (leaders)."""
        found = await group_led_by_caller(
            self.bot.session_factory, interaction, "see the answers", group
        )
        meeting = await self.service.meeting_for(found, date)
        board = await self.reminders.board(meeting)
        await interaction.response.send_message(render_board(board), ephemeral=True)

    @schedule.command(name="ics")
    @app_commands.describe(group="The group (default: the group of this channel)")
    async def schedule_ics(
        self, interaction: discord.Interaction, group: str | None = None
    ) -> None:
        """The group's meetings as a calendar file; importing a newer one updates them."""
        found = await group_of_caller(
            self.bot.session_factory, interaction, "download the calendar", group
        )
        data = await self.service.calendar(found)
        name = re.sub(r"[^a-z0-9]+", "-", found.name.lower()).strip("-") or "balint-group"
        await interaction.response.send_message(
            "Import this file into your calendar. Importing a newer one later updates the "
            "meetings already there (moved or cancelled ones included).",
            file=discord.File(io.BytesIO(data), filename=f"{name}.ics"),
            ephemeral=True,
        )

    # /reminders --------------------------------------------------------------------------

    @app_commands.command(name="reminders")
    @app_commands.guild_only()
    @app_commands.describe(
        dms="Whether reminders also come to you by DM",
        group="One group (default: this channel's group, or all your groups here)",
    )
    @app_commands.choices(
        dms=[app_commands.Choice(name=answer, value=answer) for answer in ("on", "off")]
    )
    async def reminders_command(
        self, interaction: discord.Interaction, dms: str, group: str | None = None
    ) -> None:
        """Your own reminders by DM: on or off (the group's timing is the leaders' choice)."""
        assert interaction.guild is not None
        async with self.bot.session_factory() as session:
            here = await queries.group_by_channel(
                session, interaction.guild.id, channel_ids_of(interaction.channel)
            )
            mine = await queries.user_groups(session, interaction.guild.id, interaction.user.id)
        if group or here is not None:
            found = [
                await group_of_caller(
                    self.bot.session_factory, interaction, "get its reminders", group
                )
            ]
        elif mine:
            found = list(mine)
        else:
            raise UserFacingError("You aren't in any Balint group on this server yet.")
        await self.reminders.set_dms(found, interaction.user.id, dms == "on")
        names = ", ".join(f"**{g.name}**" for g in found)
        text = (
            f"You'll get reminders of {names} by DM as well as in the group's channel."
            if dms == "on"
            else f"No more reminder DMs for {names}; reminders stay in the group's channel."
        )
        await interaction.response.send_message(text, ephemeral=True)

    for _command in (
        schedule_set,
        schedule_change,
        schedule_cancel,
        schedule_skip,
        schedule_move,
        schedule_reminders,
        schedule_show,
        schedule_rsvps,
        schedule_ics,
        reminders_command,
    ):
        _command.autocomplete("group")(group_autocomplete)
    for _command in (schedule_set, schedule_change):
        _command.autocomplete("day")(day_autocomplete)
        _command.autocomplete("timezone")(timezone_autocomplete)

    # Meetings starting and ending -----------------------------------------------------------

    @commands.Cog.listener()
    async def on_meeting_started(self, meeting_id: int) -> None:
        await self.service.events.meeting_started(meeting_id)

    @commands.Cog.listener()
    async def on_meeting_ended(self, meeting_id: int) -> None:
        await self.service.events.meeting_ended(meeting_id)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, BalintBot)
    await bot.add_cog(ScheduleCommands(bot))
