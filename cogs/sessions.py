"""/session, /phase, /case and /room: the live meeting as leaders and members run it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.app import BalintBot
from bot.db.models import Group, Meeting
from bot.domain.phases import (
    Phase,
    PhaseTemplate,
    Position,
    describe_position,
    format_progress,
    next_position,
    phase_named,
    position_for,
    previous_position,
)
from bot.domain.rotation import ProposalReason
from bot.embeds import FOOTER, add_lines, clip
from bot.errors import HandledElsewhere, UserFacingError
from bot.replies import defer_first, reply_ephemeral, tell_if_slow, timestamp
from bot.services.access import (
    channel_ids_of,
    group_led_by_caller,
    group_of_caller,
    group_run_by_caller,
    require_leader,
    require_runner,
    resolve_group,
)
from bot.services.followups import FollowUpDigest
from bot.services.sessions import (
    FIRST_RETRY,
    GroupRef,
    MeetingSummary,
    NoSuchGroup,
    PanelState,
    PositionChooser,
    template_of,
)
from cogs._shared import PersistentButton, bot_of, load_group
from cogs.frame import add_frame_fields

log = logging.getLogger(__name__)

REASON_TEXT = {
    ProposalReason.VOLUNTEER: "volunteered",
    ProposalReason.DUE: "due a turn",
    ProposalReason.VOLUNTEER_HAD_TURN: "volunteered, had a turn this round",
    ProposalReason.HAD_TURN: "had a turn this round",
}
EXTEND_BUTTON_MINUTES = 5


def render_panel(
    state: PanelState, now: datetime, new_followups: Sequence[FollowUpDigest] = ()
) -> discord.Embed:
    """The session panel: phase, presenter (named, never pinged), time used and planned."""
    entry = state.entry
    planned = timedelta(seconds=entry.planned_seconds)
    embed = discord.Embed(
        title=f"{state.group.name}: meeting in progress",
        description=f"**{describe_position(state.template, state.position)}**",
        colour=discord.Colour.dark_teal(),
    )
    if state.position.case_number is not None:
        embed.add_field(
            name="Presenter",
            value=f"<@{state.presenter_id}>"
            if state.presenter_id
            else "not chosen yet (`/case present`)",
        )
    embed.add_field(
        name="Time",
        value=f"{format_progress(entry.started_at, planned, now)} "
        f"(ends {timestamp(entry.started_at + planned, 't')})",
    )
    if state.position.phase is Phase.DISCUSSION and state.presenter_id:
        embed.add_field(
            name="Presenter pushed back",
            value="The presenter listens in silence until invited back.",
            inline=False,
        )
    if state.position.phase is Phase.FOLLOW_UPS:
        add_lines(
            embed,
            "New follow-ups since the last meeting",
            [
                f"• <#{digest.forum_thread_id}> {digest.label} ({digest.count})"
                if digest.forum_thread_id
                else f"• {digest.label} ({digest.count})"
                for digest in new_followups
            ],
            empty="None yet.",
        )
    embed.set_footer(
        text=clip(f"Next: {state.next_label}", FOOTER)
        if state.next_label
        else "Last phase: end the meeting when you're done."
    )
    return embed


def panel_view(group_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ("back", "next", "extend", "end"):
        view.add_item(PanelButton(group_id, action))
    return view


class PanelButton(
    PersistentButton, template=r"panel:(?P<group>\d+):(?P<action>back|next|extend|end)"
):
    """The panel's buttons: leaders only, and alive across restarts (state in custom_id)."""

    LABELS: ClassVar[dict[str, str]] = {
        "back": "◀ Back",
        "next": "Next ▶",
        "extend": f"+{EXTEND_BUTTON_MINUTES} min",
        "end": "End meeting",
    }

    def __init__(self, group_id: int, action: str) -> None:
        super().__init__(
            f"panel:{group_id}:{action}",
            self.LABELS[action],
            discord.ButtonStyle.danger
            if action == "end"
            else (
                discord.ButtonStyle.primary if action == "next" else discord.ButtonStyle.secondary
            ),
        )
        self.group_id = group_id
        self.action = action

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        if interaction.guild is None:
            await reply_ephemeral(interaction, messages.NOT_IN_SERVER)
            return
        cog = bot.get_cog("SessionCommands")
        assert isinstance(cog, SessionCommands)
        try:
            # Acknowledged before anything is written (a move is read meanwhile), and the
            # acknowledgement is the claim (bot/app.py: `acknowledged_first`). The deputy
            # holding the meeting may move it on; ending it stays with the leaders.
            if self.action == "end":
                if not await defer_first(interaction, ephemeral=True, thinking=True):
                    return
                group = await load_group(bot, self.group_id)
                await require_leader(
                    bot.session_factory, group, interaction.user.id, "run the meeting"
                )
                summary = await cog.end_meeting(interaction.guild, group)
                await interaction.followup.send(embed=render_summary(summary), ephemeral=True)
                await cog.debrief(interaction.guild, group, summary)
                return
            # A deferred update answers at once; the panel is then edited through the
            # interaction's webhook, which the global rate limit does not count.
            state: PanelState | None
            if self.action == "extend":
                if not await defer_first(interaction):
                    return
                group = await load_group(bot, self.group_id)
                await require_runner(
                    bot.session_factory, group, interaction.user.id, "run the meeting"
                )
                state = await bot.sessions.extend(group, EXTEND_BUTTON_MINUTES)
            else:
                change = bot.sessions.move(
                    interaction.guild,
                    GroupRef(interaction.guild.id, group_id=self.group_id),
                    interaction.user.id,
                    next_position if self.action == "next" else previous_position,
                    "run the meeting",
                    acknowledge=defer_first(interaction),
                )

                async def tell(note: str) -> None:
                    await interaction.followup.send(note, ephemeral=True)

                # One note (follow-ups would pile up); the panel shows when it is done.
                try:
                    state = await tell_if_slow(
                        bot.pace, change, tell, "the room's change for this phase", in_place=False
                    )
                except HandledElsewhere:
                    return
                if state is None:
                    raise UserFacingError("That was the last phase: press **End meeting**.")

            async def edit(_: PanelState, embed: discord.Embed) -> None:
                await interaction.edit_original_response(
                    embed=embed, view=panel_view(self.group_id)
                )

            await cog.show_panel(state.group, state, edit)
        except UserFacingError as error:
            await reply_ephemeral(interaction, error.message)


def render_summary(summary: MeetingSummary) -> discord.Embed:
    """The leaders' private record of the meeting: cases, presenters, time per phase."""
    embed = discord.Embed(
        title=f"{summary.group.name}: meeting summary", colour=discord.Colour.dark_grey()
    )
    add_lines(
        embed,
        "Cases",
        [
            f"Case {c.case_number}: {c.label}, presented by <@{c.presenter_id}>"
            for c in summary.cases
        ],
        empty="No case was presented.",
    )
    add_lines(
        embed,
        "Time per phase",
        [f"{row.label}: {_minutes(row.actual)} of {_minutes(row.planned)}" for row in summary.rows],
        empty="—",
    )
    embed.add_field(name="Attended", value=str(len(summary.attendees)))
    if summary.missed_in_a_row:
        add_lines(
            embed,
            "Missed several meetings in a row",
            [
                f"• <@{user_id}>: the last {count}"
                for user_id, count in sorted(summary.missed_in_a_row.items(), key=lambda i: -i[1])
            ],
            empty="",
            suffix="\nA word from a leader may help. (`/attendance group` shows the whole record.)",
        )
    if summary.failures:
        # The first failure names what to grant; the rest are counted if they do not fit.
        add_lines(
            embed,
            "Needs attention",
            summary.failures,
            empty="",
            separator="; ",
            prefix="I could not finish: ",
            suffix=". I'll keep trying.",
        )
    return embed


def _minutes(duration: timedelta) -> str:
    return f"{round(duration.total_seconds() / 60)} min"


@app_commands.guild_only()
class SessionCommands(commands.Cog):
    """Running the meeting."""

    session = app_commands.Group(
        name="session",
        description="Start or end the meeting; run it in the group's chat (leaders).",
        guild_only=True,
    )
    phase = app_commands.Group(
        name="phase",
        description="Move through the meeting's phases, in the group's chat (leaders).",
        guild_only=True,
    )
    case = app_commands.Group(
        name="case",
        description="Offer a case, or choose who presents; run it in the group's chat.",
        guild_only=True,
    )

    def __init__(self, bot: BalintBot) -> None:
        self.bot = bot
        # Panel edits of a group, one at a time, and the version each panel shows: an edit
        # rendered before a newer one and sent after it would show a phase already over.
        self._panel_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._panel_shown: dict[int, tuple[int, int, int]] = {}

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PanelButton)

    # /session --------------------------------------------------------------------------

    @session.command(name="start")
    async def session_start(self, interaction: discord.Interaction) -> None:
        """Open the meeting in its room and post the session panel (leaders)."""
        assert interaction.guild is not None
        group = await group_led_by_caller(self.bot.session_factory, interaction, "start a meeting")
        await interaction.response.defer(ephemeral=True, thinking=True)
        meeting, warnings = await self.bot.sessions.start(
            interaction.guild, group, interaction.user.id
        )
        if not await self._post_panel(interaction.guild, group):
            warnings.append(
                f"I couldn't post the session panel in <#{group.text_channel_id}>: please let "
                "me **Send Messages** and **Embed Links** there. `/phase` commands still work."
            )
        await interaction.followup.send(
            "\n".join([f"The meeting has started in <#{meeting.voice_channel_id}>.", *warnings]),
            ephemeral=True,
        )

    @session.command(name="end")
    async def session_end(self, interaction: discord.Interaction) -> None:
        """Close the meeting: silences lifted, the room released, a summary for you (leaders)."""
        assert interaction.guild is not None
        group = await group_led_by_caller(self.bot.session_factory, interaction, "end the meeting")
        await interaction.response.defer(ephemeral=True, thinking=True)
        summary = await self.end_meeting(interaction.guild, group)
        await interaction.followup.send(embed=render_summary(summary), ephemeral=True)
        await self.debrief(interaction.guild, group, summary)

    async def end_meeting(self, guild: discord.Guild, group: Group) -> MeetingSummary:
        summary = await self.bot.sessions.end(guild, group)
        await self._finish_panel(group, summary)
        return replace(
            summary, missed_in_a_row=await self.bot.attendance.missed_streaks(group)
        )

    async def debrief(self, guild: discord.Guild, group: Group, summary: MeetingSummary) -> None:
        """The summary in the leaders' debrief space, after the leader has their answer."""
        try:
            await self.bot.frame.post_debrief(
                guild, group, summary.meeting.id, [render_summary(summary)]
            )
        except (UserFacingError, discord.HTTPException) as error:
            log.warning("could not post the leaders' debrief: %s", type(error).__name__)

    async def panel_embed(self, state: PanelState) -> discord.Embed:
        """The panel, with the cases that have new follow-ups during the follow-ups phase."""
        digests: Sequence[FollowUpDigest] = ()
        if state.position.phase is Phase.FOLLOW_UPS:
            digests = await self.bot.followups.new_since_previous_meeting(
                state.group.id, state.meeting.id
            )
        return add_frame_fields(
            render_panel(state, self.bot.clock.now(), digests),
            state.frame or await self.bot.frame.status(state.group.id),
            None if state.has_round is False else await self.bot.rounds.view(state.group),
        )

    async def _post_panel(self, guild: discord.Guild, group: Group) -> bool:
        """Post the panel; False if Discord refused (the meeting runs without it)."""
        async with self._panel_locks[group.id]:
            state = await self.bot.sessions.panel_state(group)
            channel = guild.get_channel(group.text_channel_id or 0)
            if state is None or not isinstance(channel, discord.TextChannel):
                return False
            allowed = channel.permissions_for(guild.me)
            if not (allowed.send_messages and allowed.embed_links):
                return False  # Discord would drop the embed and post bare buttons.
            try:
                message = await channel.send(
                    embed=await self.panel_embed(state), view=panel_view(group.id)
                )
            except discord.HTTPException as error:
                log.warning("could not post the session panel: HTTP %s", error.status)
                return False
            await self.bot.sessions.set_panel(state.meeting.id, message.id)
            self._panel_shown[group.id] = state.version
            return True

    async def refresh_panel(self, group: Group, state: PanelState | None = None) -> None:
        """Edit the panel in place (a handful of times per phase, never every second);
        `state` is the panel as the caller already knows it, saving a read."""
        channel = self.bot.get_channel(group.text_channel_id or 0)
        if not isinstance(channel, discord.TextChannel):
            return

        async def edit(shown: PanelState, embed: discord.Embed) -> None:
            assert shown.meeting.panel_message_id is not None
            await channel.get_partial_message(shown.meeting.panel_message_id).edit(
                embed=embed, view=panel_view(group.id)
            )

        try:
            await self.show_panel(group, state, edit)
        except discord.HTTPException as error:
            log.info("could not refresh the session panel: HTTP %s", error.status)

    async def show_panel(
        self,
        group: Group,
        state: PanelState | None,
        edit: Callable[[PanelState, discord.Embed], Awaitable[None]],
    ) -> None:
        """Render the panel and send it through `edit`, one edit at a time per group. A
        `state` no newer than the one shown is read again: the meeting may have moved on
        between the caller's read and this edit, and the older picture must not win."""
        async with self._panel_locks[group.id]:
            shown = self._panel_shown.get(group.id)
            if state is None or (shown is not None and state.version <= shown):
                state = await self.bot.sessions.panel_state(group)
            if state is None or state.meeting.panel_message_id is None:
                return
            await edit(state, await self.panel_embed(state))
            self._panel_shown[group.id] = state.version

    async def _finish_panel(self, group: Group, summary: MeetingSummary) -> None:
        channel = self.bot.get_channel(group.text_channel_id or 0)
        message_id = summary.meeting.panel_message_id
        if not isinstance(channel, discord.TextChannel) or message_id is None:
            return
        embed = discord.Embed(
            title=f"{group.name}: meeting ended",
            description=f"Ended {timestamp(self.bot.clock.now())}.",
        )
        async with self._panel_locks[group.id]:
            # Newer than any state of this meeting: a late edit reads again and finds
            # no meeting running.
            self._panel_shown[group.id] = (summary.meeting.id, sys.maxsize, sys.maxsize)
            try:
                await channel.get_partial_message(message_id).edit(embed=embed, view=None)
            except discord.HTTPException as error:
                log.info("could not close the session panel: HTTP %s", error.status)

    # /phase ----------------------------------------------------------------------------

    async def _move(self, interaction: discord.Interaction, choose: PositionChooser) -> None:
        assert interaction.guild is not None
        # Acknowledged before anything is written (interaction callbacks are outside the
        # global rate limit): under load, the change may take longer than the 3 s deadline.
        # The acknowledgement is the claim (bot/app.py: `acknowledged_first`); the change
        # is read while it is in flight.
        ref = GroupRef(interaction.guild.id, channel_ids=tuple(channel_ids_of(interaction.channel)))
        change = self.bot.sessions.move(
            interaction.guild,
            ref,
            interaction.user.id,
            choose,
            "move the meeting on",
            acknowledge=defer_first(interaction, ephemeral=True, thinking=True),
        )

        async def tell(note: str) -> None:
            await interaction.edit_original_response(content=note)

        try:
            state = await tell_if_slow(
                self.bot.pace, change, tell, "the room's change for this phase"
            )
        except HandledElsewhere:
            return
        except NoSuchGroup:
            # Only to say which groups the caller could mean (it raises when none is here).
            await resolve_group(
                self.bot.session_factory,
                interaction.guild.id,
                interaction.channel,
                None,
                interaction.user,
            )
            raise
        if state is None:
            raise UserFacingError("That was the last phase: end the meeting with `/session end`.")
        await interaction.edit_original_response(
            content=f"Now: **{describe_position(state.template, state.position)}**."
        )
        await self.refresh_panel(state.group, state)

    @phase.command(name="next")
    async def phase_next(self, interaction: discord.Interaction) -> None:
        """Move to the next phase (leaders)."""
        await self._move(interaction, next_position)

    @phase.command(name="back")
    async def phase_back(self, interaction: discord.Interaction) -> None:
        """Go back one phase (leaders)."""
        await self._move(interaction, previous_position)

    @phase.command(name="set")
    @app_commands.describe(phase="The phase to go to", case="Which case (1, 2, …) for case phases")
    async def phase_set(
        self,
        interaction: discord.Interaction,
        phase: str,
        case: app_commands.Range[int, 1, 4] | None = None,
    ) -> None:
        """Jump to a phase (leaders)."""

        def choose(template: PhaseTemplate, current: Position) -> Position:
            wanted = phase_named(template, phase)
            number = (
                case
                if case is not None
                else (current.case_number or 1 if wanted.is_per_case else None)
            )
            return position_for(template, wanted, number if wanted.is_per_case else None)

        await self._move(interaction, choose)

    @phase_set.autocomplete("phase")
    async def phase_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        template = PhaseTemplate()
        if interaction.guild is not None:
            try:
                group = await resolve_group(
                    self.bot.session_factory, interaction.guild.id, interaction.channel, None
                )
                template = template_of(group)
            except UserFacingError:
                pass
        return [
            app_commands.Choice(name=template.title(p), value=p.value)
            for p in Phase
            if template.is_enabled(p) and current.lower() in template.title(p).lower()
        ]

    @phase.command(name="extend")
    @app_commands.describe(minutes="How many minutes to add to this phase")
    async def phase_extend(
        self, interaction: discord.Interaction, minutes: app_commands.Range[int, 1, 30]
    ) -> None:
        """Give the current phase more time (leaders)."""
        group = await group_run_by_caller(self.bot.session_factory, interaction, "extend a phase")
        # Deferred first: it waits for the group's lock, which a phase change or a retry
        # may hold for longer than Discord's 3 s while Discord is slow (found by the
        # random fault sequences).
        await interaction.response.defer(ephemeral=True, thinking=True)
        state = await self.bot.sessions.extend(group, minutes)
        await interaction.followup.send(
            f"Added {minutes} min to **{describe_position(state.template, state.position)}**.",
            ephemeral=True,
        )
        await self.refresh_panel(group)

    # /case -----------------------------------------------------------------------------

    @case.command(name="offer")
    @app_commands.describe(label="A short, de-identified label, e.g. 'the silent farmer'")
    async def case_offer(
        self, interaction: discord.Interaction, label: app_commands.Range[str, 1, 100]
    ) -> None:
        """Volunteer a case for the next meeting; only the leaders see it until presented."""
        group = await group_of_caller(self.bot.session_factory, interaction, "offer a case")
        await self.bot.cases.offer(group, interaction.user.id, label)
        await interaction.response.send_message(
            f"Thank you: your case is offered for the next meeting of **{group.name}**. "
            "Only the leaders can see its label until you present it.",
            ephemeral=True,
        )

    @case.command(name="withdraw")
    async def case_withdraw(self, interaction: discord.Interaction) -> None:
        """Withdraw the case you offered."""
        group = await group_of_caller(self.bot.session_factory, interaction, "withdraw a case")
        await self.bot.cases.withdraw(group, interaction.user.id)
        await interaction.response.send_message("Your offer is withdrawn.", ephemeral=True)

    @case.command(name="pass")
    async def case_pass(self, interaction: discord.Interaction) -> None:
        """Let your turn to present go by at this meeting."""
        group = await group_of_caller(self.bot.session_factory, interaction, "pass a turn")
        meeting = await self.bot.sessions.live_meeting(group)
        await self.bot.cases.pass_turn(group, meeting, interaction.user.id)
        await interaction.response.send_message(
            "Noted: you pass this time. Your turn comes round again.", ephemeral=True
        )

    @case.command(name="suggest-presenters")
    async def case_suggest_presenters(self, interaction: discord.Interaction) -> None:
        """Who could present now: volunteers first, then who has waited longest (leaders)."""
        await self._suggest_presenters(interaction)

    @case.command(name="propose")
    async def case_propose(self, interaction: discord.Interaction) -> None:
        """Old name of /case suggest-presenters, kept for this release only."""
        await self._suggest_presenters(interaction)

    async def _suggest_presenters(self, interaction: discord.Interaction) -> None:
        assert interaction.guild is not None
        group = await group_led_by_caller(
            self.bot.session_factory, interaction, "see who could present"
        )
        present = await self.bot.sessions.present_members(interaction.guild, group)
        lines = await self.bot.cases.proposals(group, present)
        text = (
            "\n".join(
                f"{n}. <@{line.proposal.member_id}>: {REASON_TEXT[line.proposal.reason]}"
                + (f" ({line.offered_label})" if line.offered_label else "")
                for n, line in enumerate(lines, 1)
            )
            or "No member is in the room yet."
        )
        await interaction.response.send_message(f"**Who has a case?**\n{text}", ephemeral=True)

    @case.command(name="present")
    @app_commands.describe(
        member="The member who presents the current case",
        label="A short de-identified label, if they did not offer the case beforehand",
    )
    async def case_present(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        label: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        """Choose the presenter of the current case (leaders)."""
        assert interaction.guild is not None
        group = await group_led_by_caller(
            self.bot.session_factory, interaction, "choose the presenter"
        )
        # Deferred first: choosing the presenter may silence them on Discord (see extend).
        await interaction.response.defer(ephemeral=True, thinking=True)
        case, number = await self.bot.sessions.set_presenter(
            interaction.guild, group, member.id, label
        )
        await interaction.followup.send(
            f"{member.mention} presents case {number}: {case.label}.", ephemeral=True
        )
        await self.refresh_panel(group)

    @case.command(name="list")
    async def case_list(self, interaction: discord.Interaction) -> None:
        """The cases offered for the next meeting (leaders)."""
        group = await group_led_by_caller(
            self.bot.session_factory, interaction, "see offered cases"
        )
        offers = await self.bot.cases.offers(group)
        text = (
            "\n".join(
                f"• <@{c.presenter_id}>: {c.label} (offered {timestamp(c.offered_at, 'R')})"
                for c in offers
            )
            or "No case has been offered yet."
        )
        await interaction.response.send_message(text, ephemeral=True)

    # Events ------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_phase_cue(self, group_id: int, text: str, advance: bool) -> None:
        async with self.bot.session_factory() as session:
            group = await session.get(Group, group_id)
        if group is None:
            return
        channel = self.bot.get_channel(group.text_channel_id or 0)
        if isinstance(channel, discord.TextChannel):
            try:
                await channel.send(text, silent=True)
            except discord.HTTPException as error:
                log.info("could not post a phase cue: HTTP %s", error.status)
        guild = self.bot.get_guild(group.server_id)
        state: PanelState | None = None
        # A meeting that waits for its leader (or a presenter) never moves on by itself.
        if (
            advance
            and guild is not None
            and (await self.bot.frame.status(group.id)).paused_since is None
        ):
            with contextlib.suppress(UserFacingError):
                state = await self.bot.sessions.move(
                    guild, GroupRef(guild.id, group_id=group.id), None, next_position
                )
        await self.refresh_panel(group, state)

    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        with contextlib.suppress(UserFacingError):
            await self.bot.sessions.on_voice_change(member, before, after)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Reconcile after every (re)connection: Discord may have changed meanwhile."""
        try:
            problems = await self.bot.sessions.recover()
        finally:
            self.bot.reconciled.set()
        if problems:
            log.warning("recovery left %d problems; retrying in a minute", len(problems))
            self.bot.sessions.retry_reconcile(FIRST_RETRY)

    @commands.Cog.listener()
    async def on_server_back(self, guild: discord.Guild) -> None:
        """A server back from an outage, or sent after `ready`: the reconciliation that
        followed `ready` had to skip its meetings, so it gets its own."""
        if await self.bot.sessions.recover(guild.id):
            log.warning("recovery of a server back from an outage left problems; retrying")
            self.bot.sessions.retry_reconcile(FIRST_RETRY, guild.id)

    @commands.Cog.listener("on_frame_changed")
    @commands.Cog.listener("on_round_changed")
    async def on_frame_changed(self, group_id: int) -> None:
        """The frame (deputy, pause) or the check-in round changed: the panel shows it."""
        async with self.bot.session_factory() as session:
            group = await session.get(Group, group_id)
        if group is not None:
            await self.refresh_panel(group)

    @commands.Cog.listener()
    async def on_meeting_recovered(self, meeting_id: int) -> None:
        async with self.bot.session_factory() as session:
            meeting = await session.get(Meeting, meeting_id)
            group = await session.get(Group, meeting.group_id) if meeting else None
        if group is not None:
            await self.refresh_panel(group)


class RoomCommands(commands.GroupCog, group_name="room"):
    """The server's shared voice rooms and lobby (server admins)."""

    def __init__(self, bot: BalintBot) -> None:
        self.bot = bot

    @app_commands.command(name="pool-add")
    @app_commands.describe(channel="A voice channel groups may borrow for their meetings")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def pool_add(
        self, interaction: discord.Interaction, channel: discord.VoiceChannel
    ) -> None:
        """Add a voice channel to the rooms groups can meet in."""
        assert interaction.guild is not None
        await self.bot.rooms.add_to_pool(interaction.guild, channel)
        await interaction.response.send_message(
            f"{channel.mention} is now in the room pool.", ephemeral=True
        )

    @app_commands.command(name="pool-remove")
    @app_commands.describe(channel="A voice channel now in the pool")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def pool_remove(
        self, interaction: discord.Interaction, channel: discord.VoiceChannel
    ) -> None:
        """Take a voice channel out of the room pool."""
        assert interaction.guild is not None
        await self.bot.rooms.remove_from_pool(interaction.guild.id, channel.id)
        await interaction.response.send_message(f"{channel.mention} left the pool.", ephemeral=True)

    @app_commands.command(name="list")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def pool_list(self, interaction: discord.Interaction) -> None:
        """The lobby and the pooled rooms, and which are in use now."""
        assert interaction.guild is not None
        rooms = await self.bot.rooms.pool(interaction.guild.id)
        lobby = await self.bot.rooms.lobby_id(interaction.guild.id)
        lines = [f"Lobby: <#{lobby}>" if lobby else "Lobby: none (`/room lobby`)"]
        lines += [
            f"• <#{room.channel_id}>: " + ("in use" if room.held_by_meeting_id else "free")
            for room in rooms
        ] or ["No pooled rooms: groups meet in their own rooms (`/room pool-add`)."]
        await interaction.response.send_message("\n".join(lines), ephemeral=True)

    @app_commands.command(name="lobby")
    @app_commands.describe(channel="The waiting room's voice channel (leave out to clear it)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def lobby(
        self, interaction: discord.Interaction, channel: discord.VoiceChannel | None = None
    ) -> None:
        """Set (or clear) the voice channel where members wait before a meeting."""
        assert interaction.guild is not None
        await self.bot.rooms.set_lobby(interaction.guild, channel)
        text = (
            f"Members waiting in {channel.mention} will be moved into their meeting."
            if channel
            else "The lobby is cleared."
        )
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, BalintBot)
    await bot.add_cog(SessionCommands(bot))
    await bot.add_cog(RoomCommands(bot))
