"""/group and /room: create groups, manage members and the agreement, rooms and the lobby."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import BalintBot
from bot.db import queries
from bot.db.models import Group, MemberRole, Membership, MembershipStatus
from bot.domain.group_settings import GroupSettings
from bot.domain.phases import Phase, PhaseError, PhaseTemplate, phase_named
from bot.embeds import DESCRIPTION, add_lines, clip
from bot.errors import UserFacingError
from bot.replies import reply_ephemeral, timestamp, zone_choices
from bot.services.access import (
    is_server_admin,
    may_see,
    offers_group_option,
    require_leader,
    require_leader_or_admin,
    resolve_group,
)
from bot.services.groups import AdoptedChannels, GroupSummary
from cogs._shared import PersistentButton, bot_of

ROLE_NAMES = {
    MemberRole.LEADER: "leader",
    MemberRole.CO_LEADER: "co-leader",
    MemberRole.MEMBER: "member",
}
STATUS_NAMES = {
    MembershipStatus.ACTIVE: "agreement accepted",
    MembershipStatus.INVITED: "invited, agreement not yet accepted",
    MembershipStatus.DECLINED: "declined",
    MembershipStatus.REMOVED: "left",
}


class AgreementButton(
    PersistentButton, template=r"agreement:(?P<membership>\d+):(?P<answer>accept|decline)"
):
    """Accept / Decline on the agreement DM; works after restarts (state in custom_id)."""

    def __init__(self, membership_id: int, answer: str) -> None:
        accept = answer == "accept"
        super().__init__(
            f"agreement:{membership_id}:{answer}",
            "Accept" if accept else "Decline",
            discord.ButtonStyle.success if accept else discord.ButtonStyle.secondary,
        )
        self.membership_id = membership_id
        self.answer = answer

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        async with bot.session_factory() as session:
            membership = await session.get(Membership, self.membership_id)
            group = await session.get(Group, membership.group_id) if membership else None
        if membership is None or group is None or membership.user_id != interaction.user.id:
            await reply_ephemeral(interaction, "This invitation isn't yours to answer.")
            return
        guild = bot.get_guild(group.server_id)
        try:
            if self.answer == "decline":
                await bot.groups.decline_agreement(self.membership_id)
                text = f"You declined to join **{group.name}**. A leader can invite you again."
            else:
                if guild is None:
                    raise UserFacingError("I can't reach that group's server right now.")
                await bot.groups.accept_agreement(guild, self.membership_id)
                text = (
                    f"Welcome to **{group.name}**. You accepted the agreement "
                    f"{timestamp(bot.clock.now())}. The group's channels are open to you: "
                    f"<#{group.text_channel_id}>."
                )
        except UserFacingError as error:
            await reply_ephemeral(interaction, error.message)
            return
        await interaction.response.edit_message(content=text, view=None)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def agreement_view(membership_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(AgreementButton(membership_id, "accept"))
    view.add_item(AgreementButton(membership_id, "decline"))
    return view


def agreement_embed(group: Group, inviter: str | None) -> discord.Embed:
    intro = (
        f"{inviter} invited you to the Balint group **{group.name}**."
        if inviter
        else f"The agreement of the Balint group **{group.name}**."
    )
    embed = discord.Embed(
        title=f"{group.name}: group agreement",
        description=clip(f"{intro}\n\n{group.agreement_text}", DESCRIPTION),
    )
    embed.set_footer(text="Accept to see the group's channels and join its meetings.")
    return embed


def render_summary(summary: GroupSummary, guild: discord.Guild) -> discord.Embed:
    group = summary.group
    embed = discord.Embed(title=group.name, description=f"Time zone: `{group.timezone}`")
    leaders = [
        m
        for m in summary.memberships
        if m.role != MemberRole.MEMBER and m.status == MembershipStatus.ACTIVE
    ]
    add_lines(
        embed,
        "Leaders",
        [f"<@{m.user_id}> ({ROLE_NAMES[m.role]})" for m in leaders],
        empty="none",
        separator=", ",
    )
    members = [
        m
        for m in summary.memberships
        if m.role == MemberRole.MEMBER
        and m.status in (MembershipStatus.ACTIVE, MembershipStatus.INVITED)
    ]
    add_lines(
        embed,
        f"Members ({len(members)})",
        [
            f"<@{m.user_id}>: {STATUS_NAMES[m.status]}"
            + (f" {timestamp(m.agreement_accepted_at, 'd')}" if m.agreement_accepted_at else "")
            for m in members
        ],
        empty="nobody yet: add members with `/group add`",
        chunks=3,  # about 60 members; with the other fields still within 6,000 in all
    )
    live = summary.live_meeting
    if live is not None and live.started_at is not None:
        meeting_text = f"running now, since {timestamp(live.started_at, 'R')}"
    elif summary.next_meeting is not None:
        meeting_text = timestamp(summary.next_meeting.scheduled_start)
    else:
        meeting_text = "none scheduled (`/schedule set`)"
    embed.add_field(name="Next meeting", value=meeting_text, inline=False)
    room = (
        summary.live_meeting.voice_channel_id if summary.live_meeting else None
    ) or group.voice_channel_id
    embed.add_field(name="Room", value=f"<#{room}>" if room else "none", inline=True)
    embed.add_field(name="Chat", value=f"<#{group.text_channel_id}>", inline=True)
    embed.add_field(name="Follow-ups", value=f"<#{group.forum_channel_id}>", inline=True)
    if group.archived_at is not None:
        embed.set_footer(text="Archived")
    return embed


@app_commands.guild_only()
class GroupCommands(commands.GroupCog, group_name="group"):
    """Balint groups: their channels, members and agreement."""

    def __init__(self, bot: BalintBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(AgreementButton)

    async def _group(self, interaction: discord.Interaction, name: str | None) -> Group:
        assert interaction.guild is not None
        return await resolve_group(
            self.bot.session_factory,
            interaction.guild.id,
            interaction.channel,
            name,
            interaction.user,
            group_option=offers_group_option(interaction),
        )

    async def group_name_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild is None:
            return []
        async with self.bot.session_factory() as session:
            groups = [
                group
                for group in await queries.groups_of_server(session, interaction.guild.id)
                if current.lower() in group.name.lower()
                and await may_see(session, group, interaction.user)
            ]
        return [app_commands.Choice(name=g.name, value=g.name) for g in groups][:25]

    @app_commands.command(name="create")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(
        name="The group's name, e.g. 'Riverina Tuesday group'",
        leader="Who leads the group (co-leaders can be added with /group add)",
        timezone="The group's IANA time zone, e.g. Australia/Sydney",
        category="Use this existing category instead of creating one",
        text_channel="Use this existing text channel for the group's chat",
        voice_channel="Use this existing voice channel as the group's room",
        forum_channel="Use this existing forum for follow-ups",
    )
    async def create(
        self,
        interaction: discord.Interaction,
        name: str,
        leader: discord.Member,
        timezone: str,
        category: discord.CategoryChannel | None = None,
        text_channel: discord.TextChannel | None = None,
        voice_channel: discord.VoiceChannel | None = None,
        forum_channel: discord.ForumChannel | None = None,
    ) -> None:
        """Create a Balint group with its private role and channels."""
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        group = await self.bot.groups.create_group(
            interaction.guild,
            name=name,
            leader=leader,
            timezone=timezone,
            adopted=AdoptedChannels(category, text_channel, voice_channel, forum_channel),
        )
        await interaction.followup.send(
            f"Created **{group.name}** (time zone `{group.timezone}`), led by {leader.mention}. "
            f"Chat <#{group.text_channel_id}>, room <#{group.voice_channel_id}>, follow-ups "
            f"<#{group.forum_channel_id}>: only the group's members, its leaders and I can see "
            "them. Next: add members with `/group add` and set the schedule with "
            "`/schedule set`.",
            ephemeral=True,
        )

    @create.autocomplete("timezone")
    async def create_timezone_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return zone_choices(current)

    @app_commands.command(name="add")
    @app_commands.describe(
        member="The person to invite",
        role="Member (default) or co-leader",
        group="The group (default: the group of this channel)",
    )
    @app_commands.choices(
        role=[
            app_commands.Choice(name="member", value="member"),
            app_commands.Choice(name="co-leader", value="co_leader"),
        ]
    )
    async def add(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        role: str = "member",
        group: str | None = None,
    ) -> None:
        """Invite someone; they get access when they accept the group agreement."""
        found = await self._group(interaction, group)
        await require_leader_or_admin(
            self.bot.session_factory, found, interaction.user, "add members"
        )
        membership = await self.bot.groups.invite(found, member, MemberRole(role))
        await interaction.response.defer(ephemeral=True)
        try:
            await member.send(
                embed=agreement_embed(found, interaction.user.display_name),
                view=agreement_view(membership.id),
            )
            note = "I've sent them the group agreement; they'll get access once they accept it."
        except discord.HTTPException:
            note = (
                "I couldn't DM them (their DMs may be closed). Ask them to run "
                f"`/group agreement group:{found.name}` in this server to accept it."
            )
        await interaction.followup.send(
            f"Invited {member.mention} to **{found.name}** as {ROLE_NAMES[MemberRole(role)]}. "
            + note,
            ephemeral=True,
        )

    @app_commands.command(name="remove")
    @app_commands.describe(
        member="The person to remove", group="The group (default: the group of this channel)"
    )
    async def remove(
        self, interaction: discord.Interaction, member: discord.User, group: str | None = None
    ) -> None:
        """Remove someone from the group: their access ends at once."""
        assert interaction.guild is not None
        found = await self._group(interaction, group)
        await require_leader_or_admin(
            self.bot.session_factory, found, interaction.user, "remove members"
        )
        async with self.bot.session_factory() as session:
            caller = await queries.membership(session, found.id, interaction.user.id)
        # Co-leaders help run the group; only the leader or an admin may remove a leader.
        may_remove_leaders = is_server_admin(interaction.user) or (
            caller is not None and caller.role == MemberRole.LEADER
        )
        await interaction.response.defer(ephemeral=True)
        await self.bot.groups.remove_member(
            interaction.guild, found, member.id, may_remove_leaders=may_remove_leaders
        )
        await interaction.followup.send(
            f"{member.mention} is no longer in **{found.name}** and can't see its channels.",
            ephemeral=True,
        )

    @app_commands.command(name="agreement")
    @app_commands.describe(group="The group whose agreement to read (default: this channel's)")
    async def agreement(self, interaction: discord.Interaction, group: str | None = None) -> None:
        """Read the group's agreement, and accept it if you were invited."""
        found = await self._group(interaction, group)
        async with self.bot.session_factory() as session:
            membership = await queries.membership(session, found.id, interaction.user.id)
        if membership is not None and membership.status == MembershipStatus.INVITED:
            await interaction.response.send_message(
                embed=agreement_embed(found, None),
                view=agreement_view(membership.id),
                ephemeral=True,
            )
            return
        await interaction.response.send_message(embed=agreement_embed(found, None), ephemeral=True)

    @app_commands.command(name="agreement-edit")
    @app_commands.describe(group="The group whose agreement to change (default: this channel's)")
    async def agreement_edit(
        self, interaction: discord.Interaction, group: str | None = None
    ) -> None:
        """Change the group's agreement (leaders)."""
        found = await self._group(interaction, group)
        await require_leader(
            self.bot.session_factory, found, interaction.user.id, "change the agreement"
        )
        await interaction.response.send_modal(AgreementModal(self.bot, found))

    @app_commands.command(name="info")
    @app_commands.describe(group="The group (default: the group of this channel)")
    async def info(self, interaction: discord.Interaction, group: str | None = None) -> None:
        """Members, leaders, agreement status, the next meeting and the room."""
        assert interaction.guild is not None
        found = await self._group(interaction, group)
        # The caller's membership is among the summary's: one read serves both.
        summary = await self.bot.groups.summary(found)
        membership = next(
            (m for m in summary.memberships if m.user_id == interaction.user.id), None
        )
        is_admin = (
            isinstance(interaction.user, discord.Member)
            and interaction.user.guild_permissions.manage_guild
        )
        if not is_admin and (membership is None or membership.status != MembershipStatus.ACTIVE):
            raise UserFacingError(f"Only members of **{found.name}** can see who is in it.")
        await interaction.response.send_message(
            embed=render_summary(summary, interaction.guild), ephemeral=True
        )

    @app_commands.command(name="archive")
    @app_commands.describe(group="The group to archive", confirm="Type the group's name to confirm")
    async def archive(
        self, interaction: discord.Interaction, confirm: str, group: str | None = None
    ) -> None:
        """End a group: channels locked, its record kept for the retention period."""
        assert interaction.guild is not None
        found = await self._group(interaction, group)
        await require_leader_or_admin(
            self.bot.session_factory, found, interaction.user, "archive the group"
        )
        if confirm.strip() != found.name:
            raise UserFacingError(f"To archive, type the group's name exactly: `{found.name}`.")
        await interaction.response.defer(ephemeral=True)
        await self.bot.groups.archive_group(interaction.guild, found)
        self.bot.dispatch("group_archived", found.id)
        await interaction.followup.send(
            f"**{found.name}** is archived: its channels are read-only and nothing more will "
            "be scheduled.",
            ephemeral=True,
        )

    @app_commands.command(name="phases")
    @app_commands.describe(
        phase="The phase to change",
        enabled="Whether the meeting has this phase",
        title="The name the panel shows for it",
        minutes="Its planned length in minutes",
        cases="How many cases a meeting has (1 to 4)",
        group="The group (default: the group of this channel)",
    )
    async def phases(
        self,
        interaction: discord.Interaction,
        phase: str | None = None,
        enabled: bool | None = None,
        title: app_commands.Range[str, 1, 40] | None = None,
        minutes: app_commands.Range[int, 1, 120] | None = None,
        cases: app_commands.Range[int, 1, 4] | None = None,
        group: str | None = None,
    ) -> None:
        """See or change the meeting's phases: skip, rename, time them (leaders)."""
        found = await self._group(interaction, group)
        await require_leader(
            self.bot.session_factory, found, interaction.user.id, "change the meeting's phases"
        )
        async with self.bot.session_factory() as session:
            if await queries.live_meeting(session, found.id) is not None:
                raise UserFacingError("Change the phases between meetings, not during one.")

        def change(current: GroupSettings) -> GroupSettings:
            template = PhaseTemplate.from_dict(current.phase_template)
            if phase is not None:
                template = template.with_phase(
                    phase_named(template, phase),
                    enabled=enabled,
                    title=title,
                    planned=None if minutes is None else timedelta(minutes=minutes),
                )
            elif (enabled, title, minutes) != (None, None, None):
                raise UserFacingError("Choose the phase to change with the `phase` option.")
            if cases is not None:
                template = replace(template, cases=cases)
            return current.with_changes(phase_template=template.to_dict())

        try:
            updated = await self.bot.groups.update_settings(found, change)
        except PhaseError as error:
            raise UserFacingError(str(error)) from None
        template = PhaseTemplate.from_dict(updated.phase_template)
        lines = [
            f"{'•' if template.is_enabled(p) else '✗'} {template.title(p)}: "
            f"{int(template.planned(p).total_seconds() // 60)} min"
            + ("" if template.is_enabled(p) else " (skipped)")
            for p in Phase
        ]
        await interaction.response.send_message(
            f"**{found.name}** meetings: {template.cases} case(s), "
            f"{int(template.meeting_length().total_seconds() // 60)} minutes planned.\n"
            + "\n".join(lines),
            ephemeral=True,
        )

    @phases.autocomplete("phase")
    async def phases_phase_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=p.value.replace("_", " "), value=p.value)
            for p in Phase
            if current.lower() in p.value.replace("_", " ")
        ]

    @app_commands.command(name="settings")
    @app_commands.describe(
        use_room_pool="Meet in a free room from the server's pool instead of the group's room",
        return_to_lobby="Move members back to the lobby when the meeting ends",
        listening_mode="Only the presenter and leaders may speak during the presentation",
        auto_advance="Move to the next phase by itself when a phase's time is up",
        group="The group (default: the group of this channel)",
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        use_room_pool: bool | None = None,
        return_to_lobby: bool | None = None,
        listening_mode: bool | None = None,
        auto_advance: bool | None = None,
        group: str | None = None,
    ) -> None:
        """See or change how the group's meetings run (leaders)."""
        found = await self._group(interaction, group)
        await require_leader(
            self.bot.session_factory, found, interaction.user.id, "change the group's settings"
        )
        room_changes = {
            key: value
            for key, value in (
                ("use_room_pool", use_room_pool),
                ("return_to_lobby", return_to_lobby),
            )
            if value is not None
        }

        def change(current: GroupSettings) -> GroupSettings:
            template = PhaseTemplate.from_dict(current.phase_template)
            template = replace(
                template,
                listening_mode=template.listening_mode
                if listening_mode is None
                else listening_mode,
                auto_advance=template.auto_advance if auto_advance is None else auto_advance,
            )
            return current.with_changes(**room_changes, phase_template=template.to_dict())

        updated = await self.bot.groups.update_settings(found, change)
        template = PhaseTemplate.from_dict(updated.phase_template)
        await interaction.response.send_message(
            f"**{found.name}** settings:\n"
            f"• room: {'a free room from the pool' if updated.use_room_pool else 'its own room'}\n"
            f"• back to the lobby after meetings: {_yes(updated.return_to_lobby)}\n"
            f"• listening mode during presentations: {_yes(template.listening_mode)}\n"
            f"• phases move on by themselves: {_yes(template.auto_advance)}\n"
            f"• meeting length: {int(template.meeting_length().total_seconds() // 60)} min, "
            f"{template.cases} cases",
            ephemeral=True,
        )

    for _command in (add, remove, agreement, agreement_edit, info, archive, settings, phases):
        _command.autocomplete("group")(group_name_autocomplete)


class AgreementModal(discord.ui.Modal, title="Group agreement"):
    text: discord.ui.TextInput[AgreementModal] = discord.ui.TextInput(
        label="Agreement", style=discord.TextStyle.paragraph, max_length=4000, min_length=20
    )

    def __init__(self, bot: BalintBot, group: Group) -> None:
        super().__init__()
        self.bot = bot
        self.group = group
        self.text.default = group.agreement_text

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.bot.groups.set_agreement(self.group, self.text.value)
        await interaction.response.send_message(
            f"Saved the agreement of **{self.group.name}**. New members will receive it.",
            ephemeral=True,
        )

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        message = (
            error.message
            if isinstance(error, UserFacingError)
            else "Something went wrong and the agreement was not saved."
        )
        await reply_ephemeral(interaction, message)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, BalintBot)
    await bot.add_cog(GroupCommands(bot))
