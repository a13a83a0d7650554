"""/frame and /round: the deputy, drop-outs, the check-in round, the leaders' debrief."""

from __future__ import annotations

import contextlib
import logging
from typing import ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.app import BalintBot
from bot.db.models import Group
from bot.domain.frame import FrameStatus
from bot.domain.rounds import RoundOrder
from bot.embeds import add_lines
from bot.errors import MissingBotPermission, UserFacingError
from bot.replies import reply_ephemeral, timestamp
from bot.services.access import (
    group_led_by_caller,
    group_of_caller,
    group_run_by_caller,
    require_runner,
)
from bot.services.rounds import RoundView, describe_turn
from cogs._shared import PersistentButton, bot_of, load_group

log = logging.getLogger(__name__)


def add_frame_fields(
    embed: discord.Embed, status: FrameStatus, round_view: RoundView | None
) -> discord.Embed:
    """The panel's lines about the frame: who stands in, a pause, the check-in round."""
    if status.stand_in is not None:
        embed.add_field(
            name="Held by the deputy",
            value=f"<@{status.stand_in}> until the leader is back.",
            inline=False,
        )
    if status.paused_since is not None:
        embed.add_field(
            name="⏸ Paused",
            value=f"Waiting since {timestamp(status.paused_since, 't')}; the timer "
            "gets the time back when the meeting carries on.",
            inline=False,
        )
    if round_view is not None:
        embed.add_field(name="Check-in round", value=describe_turn(round_view), inline=False)
    return embed


def round_embed(group: Group, view: RoundView) -> discord.Embed:
    embed = discord.Embed(
        title=f"{group.name}: check-in round",
        description=describe_turn(view),
        colour=discord.Colour.dark_teal(),
    )
    add_lines(
        embed,
        "Order",
        [
            f"{'▶' if t.user_id == view.speaker else '•'} <@{t.user_id}>: {t.status.value}"
            for t in view.turns
        ],
        empty="—",
    )
    embed.set_footer(
        text=f"{view.seconds} s each"
        + (
            " · one voice at a time: only the speaker and the leaders can speak"
            if view.one_voice
            else ""
        )
    )
    return embed


def round_view_buttons(group_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ("next", "skip", "pass"):
        view.add_item(RoundButton(group_id, action))
    return view


class RoundButton(PersistentButton, template=r"round:(?P<group>\d+):(?P<action>next|skip|pass)"):
    """Next and skip for whoever runs the meeting; pass for a member's own turn."""

    LABELS: ClassVar[dict[str, str]] = {"next": "Next ▶", "skip": "Skip", "pass": "Pass"}

    def __init__(self, group_id: int, action: str) -> None:
        super().__init__(
            f"round:{group_id}:{action}",
            self.LABELS[action],
            discord.ButtonStyle.primary if action == "next" else discord.ButtonStyle.secondary,
        )
        self.group_id = group_id
        self.action = action

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        if interaction.guild is None:
            await reply_ephemeral(interaction, messages.NOT_IN_SERVER)
            return
        cog = bot.get_cog("FrameCommands")
        assert isinstance(cog, FrameCommands)
        try:
            group = await load_group(bot, self.group_id)
            await interaction.response.defer(ephemeral=True, thinking=True)
            view = await cog.round_action(
                interaction.guild, group, interaction.user.id, self.action
            )
            await interaction.followup.send(describe_turn(view), ephemeral=True)
        except UserFacingError as error:
            await reply_ephemeral(interaction, error.message)


class DeputyButton(PersistentButton, template=r"deputy:(?P<deputy>\d+):(?P<answer>yes|no)"):
    """The named member's answer to being asked to deputise."""

    def __init__(self, deputy_id: int, answer: str) -> None:
        yes = answer == "yes"
        super().__init__(
            f"deputy:{deputy_id}:{answer}",
            "I'll be the deputy" if yes else "Not this time",
            discord.ButtonStyle.success if yes else discord.ButtonStyle.secondary,
        )
        self.deputy_id = deputy_id
        self.answer = answer

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            group = await bot_of(interaction).frame.answer_deputy(
                self.deputy_id, interaction.user.id, self.answer == "yes"
            )
        except UserFacingError as error:
            await reply_ephemeral(interaction, error.message)
            return
        await interaction.response.send_message(
            f"Thank you: you're the deputy of **{group.name}**. If the leader's connection "
            "fails during a meeting, I'll give you the panel and tell you here."
            if self.answer == "yes"
            else f"Noted: you won't be the deputy of **{group.name}**.",
        )


class PauseButton(
    PersistentButton,
    template=r"frame:(?P<group>\d+):(?P<user>\d+):(?P<action>pause|resume)",
):
    """The leaders' choice when the presenter drops: pause the timer, or carry on."""

    def __init__(self, group_id: int, user_id: int, action: str) -> None:
        pause = action == "pause"
        super().__init__(
            f"frame:{group_id}:{user_id}:{action}",
            "Pause the timer" if pause else "Carry on",
            discord.ButtonStyle.primary if pause else discord.ButtonStyle.secondary,
        )
        self.group_id = group_id
        self.user_id = user_id
        self.action = action

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        try:
            group = await load_group(bot, self.group_id)
            await require_runner(bot.session_factory, group, interaction.user.id, "pause the timer")
            if self.action == "pause":
                done = await bot.frame.pause(group, self.user_id, interaction.user.id)
                text = (
                    "Paused: the panel shows the wait, and the phase gets the time back."
                    if done
                    else "The meeting is already waiting."
                )
            else:
                done = await bot.frame.resume(group)
                text = "Carrying on." + (" The phase got the paused time back." if done else "")
        except UserFacingError as error:
            await reply_ephemeral(interaction, error.message)
            return
        await interaction.response.send_message(text, ephemeral=True)


@app_commands.guild_only()
class FrameCommands(commands.Cog):
    """Keeping the frame online."""

    frame = app_commands.Group(
        name="frame",
        description="The deputy, drop-outs and the leaders' debrief space (leaders).",
        guild_only=True,
    )
    round = app_commands.Group(
        name="round",
        description="The check-in round: one person at a time, in the group's chat.",
        guild_only=True,
    )

    def __init__(self, bot: BalintBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(RoundButton, DeputyButton, PauseButton)

    # /frame ----------------------------------------------------------------------------

    @frame.command(name="deputy")
    @app_commands.describe(
        member="A co-leader, or a member who will be asked by DM to agree",
        this_meeting="Only for the meeting running now (or the next one), not for the group",
    )
    async def deputy(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        this_meeting: bool = False,
    ) -> None:
        """Name who holds the meeting if your connection fails (leaders)."""
        group = await group_led_by_caller(self.bot.session_factory, interaction, "name a deputy")
        deputy = await self.bot.frame.name_deputy(
            group, interaction.user.id, member.id, this_meeting
        )
        scope = "this meeting" if deputy.meeting_id else "the group's meetings"
        if deputy.accepted_at is not None:
            await interaction.response.send_message(
                f"{member.mention} is the deputy for {scope}.", ephemeral=True
            )
            return
        view = discord.ui.View(timeout=None)
        view.add_item(DeputyButton(deputy.id, "yes"))
        view.add_item(DeputyButton(deputy.id, "no"))
        try:
            await member.send(
                f"<@{interaction.user.id}> asks you to be the deputy of **{group.name}** for "
                f"{scope}: if the leader's connection fails for more than a minute, you hold "
                "the meeting (the panel and `/phase` commands) until they're back.",
                view=view,
            )
        except discord.HTTPException:
            await interaction.response.send_message(
                f"I couldn't DM {member.mention} to ask them (their DMs are closed). Ask them "
                "to open DMs from server members, then name them again.",
                ephemeral=True,
            )
            return
        await interaction.response.send_message(
            f"I've asked {member.mention} by DM; they're the deputy for {scope} once they agree.",
            ephemeral=True,
        )

    @frame.command(name="settings")
    @app_commands.describe(
        handover_seconds="Seconds the leader may be out of the room before the deputy takes over",
        dropout_wait_minutes="Minutes the group waits for someone who dropped out",
        round_order="How the check-in round orders the members present",
        round_seconds="Seconds each person has in the check-in round",
        one_voice="During the round, only the speaker and the leaders can speak",
        supervisor_role="A role that may also read the leaders' debrief space",
    )
    @app_commands.choices(
        round_order=[app_commands.Choice(name=o.value, value=o.value) for o in RoundOrder]
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        handover_seconds: app_commands.Range[int, 15, 600] | None = None,
        dropout_wait_minutes: app_commands.Range[int, 1, 15] | None = None,
        round_order: str | None = None,
        round_seconds: app_commands.Range[int, 15, 300] | None = None,
        one_voice: bool | None = None,
        supervisor_role: discord.Role | None = None,
    ) -> None:
        """See or change how the group keeps its frame online (leaders)."""
        group = await group_led_by_caller(
            self.bot.session_factory, interaction, "change the group's settings"
        )
        changes = {
            key: value
            for key, value in (
                ("handover_seconds", handover_seconds),
                ("dropout_wait_minutes", dropout_wait_minutes),
                ("round_order", round_order),
                ("round_seconds", round_seconds),
                ("one_voice", one_voice),
                ("supervisor_role_id", supervisor_role.id if supervisor_role else None),
            )
            if value is not None
        }

        updated = await self.bot.groups.update_settings(
            group, lambda current: current.with_changes(**changes)
        )
        space = ""
        if supervisor_role is not None and interaction.guild is not None:
            # The space's readers change now, not at the next meeting's end.
            await interaction.response.defer(ephemeral=True, thinking=True)
            channel = await self.bot.frame.leader_space(interaction.guild, group)
            space = f" in {channel.mention}"
        await reply_ephemeral(
            interaction,
            f"**{group.name}** frame:\n"
            f"• deputy takes over after {updated.handover_seconds} s away\n"
            f"• the group waits {updated.dropout_wait_minutes} min for someone who dropped\n"
            f"• check-in round: {updated.round_order}, {updated.round_seconds} s each, "
            f"one voice at a time: {'yes' if updated.one_voice else 'no'}\n"
            f"• debrief space{space} also open to: "
            + (
                f"<@&{updated.supervisor_role_id}>" if updated.supervisor_role_id else "nobody else"
            ),
        )

    @frame.command(name="resume")
    async def resume(self, interaction: discord.Interaction) -> None:
        """Carry on after a pause; the phase gets the waited time back (leaders or deputy)."""
        group = await group_run_by_caller(self.bot.session_factory, interaction, "end the pause")
        done = await self.bot.frame.resume(group)
        await interaction.response.send_message(
            "Carrying on; the phase got the paused time back." if done else "Nothing was paused.",
            ephemeral=True,
        )

    # /round ----------------------------------------------------------------------------

    @round.command(name="start")
    async def round_start(self, interaction: discord.Interaction) -> None:
        """Start the check-in round with the members in the room (leaders or deputy)."""
        assert interaction.guild is not None
        group = await group_run_by_caller(
            self.bot.session_factory, interaction, "start the check-in round"
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        view = await self.bot.rounds.start(interaction.guild, group)
        await self._post_round(group, view)
        await interaction.followup.send(describe_turn(view), ephemeral=True)

    @round.command(name="next")
    async def round_next(self, interaction: discord.Interaction) -> None:
        """The speaker has finished: the next person speaks (leaders or deputy)."""
        await self._round_command(interaction, "next")

    @round.command(name="skip")
    async def round_skip(self, interaction: discord.Interaction) -> None:
        """Move past the speaker (leaders or deputy)."""
        await self._round_command(interaction, "skip")

    @round.command(name="pass")
    async def round_pass(self, interaction: discord.Interaction) -> None:
        """Let your turn in the check-in round go by."""
        await self._round_command(interaction, "pass")

    async def _round_command(self, interaction: discord.Interaction, action: str) -> None:
        assert interaction.guild is not None
        group = await group_of_caller(
            self.bot.session_factory, interaction, "take part in the round"
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        view = await self.round_action(interaction.guild, group, interaction.user.id, action)
        await interaction.followup.send(describe_turn(view), ephemeral=True)

    async def round_action(
        self, guild: discord.Guild, group: Group, user_id: int, action: str
    ) -> RoundView:
        runs = True
        try:
            await require_runner(self.bot.session_factory, group, user_id, "move the round on")
        except UserFacingError:
            runs = False
        return await self.bot.rounds.act(guild, group, action, user_id, runs)

    async def _post_round(self, group: Group, view: RoundView) -> None:
        channel = self.bot.get_channel(group.text_channel_id or 0)
        if not isinstance(channel, discord.TextChannel):
            return
        try:
            message = await channel.send(
                embed=round_embed(group, view), view=round_view_buttons(group.id), silent=True
            )
        except discord.HTTPException as error:
            log.info("could not post the round: HTTP %s", error.status)
            return
        await self.bot.rounds.set_message(group, message.id)

    # Events ----------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        with contextlib.suppress(UserFacingError):
            await self.bot.frame.on_voice_change(member, before, after)
            if before.channel != after.channel:
                await self.bot.rounds.on_voice_change(member, after)

    @commands.Cog.listener()
    async def on_meeting_recovered(self, meeting_id: int) -> None:
        await self.bot.frame.recover(meeting_id)
        await self.bot.rounds.recover(meeting_id)

    @commands.Cog.listener()
    async def on_presenter_cue(self, member: discord.Member, group: Group, text: str) -> None:
        """Post the service's cue in the leaders' space, with the pause buttons."""
        view = discord.ui.View(timeout=None)
        for action in ("pause", "resume"):
            view.add_item(PauseButton(group.id, member.id, action))
        try:
            channel = await self.bot.frame.leader_space(member.guild, group)
            await channel.send(text, view=view, silent=True)
        except (discord.HTTPException, MissingBotPermission) as error:
            log.info("could not cue the leaders: %s", type(error).__name__)

    @commands.Cog.listener()
    async def on_round_changed(self, group_id: int) -> None:
        """Keep the round's message in step with the stored turns."""
        async with self.bot.session_factory() as session:
            group = await session.get(Group, group_id)
        if group is None:
            return
        view = await self.bot.rounds.view(group)
        message_id = await self.bot.rounds.message_id(group)
        channel = self.bot.get_channel(group.text_channel_id or 0)
        if view is None or message_id is None or not isinstance(channel, discord.TextChannel):
            return
        try:
            await channel.get_partial_message(message_id).edit(
                embed=round_embed(group, view),
                view=None if view.over else round_view_buttons(group.id),
            )
        except discord.HTTPException as error:
            log.info("could not update the round: HTTP %s", error.status)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, BalintBot)
    await bot.add_cog(FrameCommands(bot))
