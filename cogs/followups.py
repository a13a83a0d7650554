"""/followup: writing, editing and removing follow-ups, prompts' buttons, and the group's choices.

Buttons carry their state in the custom_id (DynamicItem), so a prompt DM or a
nudge answered after a restart still works. The nudge keeps the member's text
in its own ephemeral message, which only they can see, rather than anywhere
the bot stores or logs.
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar, Self

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import BalintBot
from bot.db import queries
from bot.db.engine import database_unavailable
from bot.db.models import CaseStatus
from bot.domain.identifiers import human_summary, scan
from bot.domain.input_checks import database_id
from bot.embeds import DESCRIPTION, clip
from bot.errors import UserFacingError
from bot.replies import reply_ephemeral
from bot.services.access import (
    channel_ids_of,
    group_led_by_caller,
)
from bot.services.followups import MAX_TEXT, Saved, SyncResult, meeting_date
from cogs._shared import PersistentButton, bot_of

log = logging.getLogger(__name__)

NEW, EDIT = "new", "edit"
MAX_QUOTED = 5


def _id_option(value: str, what: str) -> int:
    """Autocomplete values are ids; anything else was typed by hand."""
    found = database_id(value.strip())
    if found is None:
        raise UserFacingError(f"Please pick the {what} from the list.")
    return found


class FollowUpModal(discord.ui.Modal):
    """The follow-up's text; `kind` says whether it is new (target: case) or an edit."""

    text: discord.ui.TextInput[FollowUpModal] = discord.ui.TextInput(
        label="Follow-up",
        custom_id="text",
        style=discord.TextStyle.paragraph,
        max_length=MAX_TEXT,
        placeholder="How has the relationship with the patient gone since? No names or details "
        "that could identify them.",
    )

    def __init__(self, kind: str, target: int, label: str, default: str | None = None) -> None:
        super().__init__(title=f"Follow-up: {label}"[:45])
        self.kind = kind
        self.target = target
        self.text.default = default

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await submit(interaction, self.kind, self.target, self.text.value, str(interaction.id))

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await _report(interaction, error)


async def _report(interaction: discord.Interaction, error: Exception) -> None:
    if isinstance(error, UserFacingError):
        message = error.message
    else:
        log.error("follow-up interaction failed: %s", type(error).__name__, exc_info=error)
        message = "Something went wrong on my side. If you wrote a follow-up, it is saved."
    try:
        await reply_ephemeral(interaction, message)
    except discord.HTTPException:
        log.warning("could not tell a member that a follow-up action failed")


async def submit(
    interaction: discord.Interaction,
    kind: str,
    target: int,
    text: str,
    key: str,
    *,
    anyway: bool = False,
) -> None:
    """Nudge if the text looks identifying; otherwise save it first, then post it."""
    bot = bot_of(interaction)
    findings = [] if anyway else scan(text)
    if findings:
        quoted = ", ".join(f"“{text[f.start : f.end][:40]}”" for f in findings[:MAX_QUOTED])
        embed = discord.Embed(title="Your follow-up", description=clip(text, DESCRIPTION))
        await interaction.response.send_message(
            f"Before I post it: this seems to contain {human_summary(findings)} ({quoted}). "
            "Patients stay disguised in follow-ups too. **Edit** it, or **Post anyway** if "
            "it identifies nobody.",
            embed=embed,
            view=nudge_view(kind, target, key),
            ephemeral=True,
        )
        return
    try:
        if kind == NEW:
            followup, stored = await bot.followups.write(target, interaction.user.id, text, key)
            if not stored:
                if key != str(interaction.id):  # "Post anyway" pressed a second time.
                    await reply_ephemeral(interaction, "This follow-up is already saved.")
                return  # Otherwise the same submission arrived twice: its first delivery answers.
        else:
            await bot.followups.edit(target, interaction.user.id, text)
            followup, _ = await bot.followups.own_followup(target, interaction.user.id)
    except Exception as error:
        if not database_unavailable(error):
            raise
        log.warning("a follow-up could not be saved: the database is unavailable")
        await hand_back(interaction, text)
        return
    try:
        await interaction.response.defer(ephemeral=True, thinking=True)
    except discord.HTTPException as error:
        # Answered elsewhere (or too late): the follow-up is saved, so post it all the same.
        log.info("could not defer a follow-up submission: HTTP %s", error.status)
    saved = await bot.followups.publish(followup.id)
    if interaction.response.is_done():
        await interaction.followup.send(_saved_text(saved, edited=kind == EDIT), ephemeral=True)


async def hand_back(interaction: discord.Interaction, text: str) -> None:
    """Give the author their unsaved text back, word for word, seen by them alone: it was
    never stored, so this private answer is the only copy."""
    await interaction.response.send_message(
        "I can't reach my records right now, so your follow-up is **not saved**. Here it is, "
        "word for word: copy it and send it again in a moment.",
        embed=discord.Embed(title="Your follow-up (not saved)", description=text),
        ephemeral=True,
        allowed_mentions=discord.AllowedMentions.none(),
    )


def _saved_text(saved: Saved, *, edited: bool) -> str:
    what = "updated" if edited else "posted"
    if saved.outcome.result is SyncResult.DONE and saved.jump_url:
        return f"Thank you: your follow-up on **{saved.case.label}** is {what}: {saved.jump_url}"
    reason = f" ({saved.outcome.problem})" if saved.outcome.problem else ""
    return (
        f"Your follow-up on **{saved.case.label}** is saved, but I couldn't update its case "
        f"post just now{reason}. It's safe: I'll keep trying and tell you when it's there."
    )


class WriteButton(PersistentButton, template=r"followup:write:(?P<case>\d+)"):
    """ "Write follow-up" on a prompt DM: opens the modal, even after a restart."""

    def __init__(self, case_id: int) -> None:
        super().__init__(
            f"followup:write:{case_id}", "Write follow-up", discord.ButtonStyle.primary
        )
        self.case_id = case_id

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            case, _ = await bot_of(interaction).followups.writable_case(
                self.case_id, interaction.user.id
            )
        except UserFacingError as error:
            await reply_ephemeral(interaction, error.message)
            return
        await interaction.response.send_modal(FollowUpModal(NEW, case.id, case.label))


def write_view(case_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(WriteButton(case_id))
    return view


class NudgeButton(
    PersistentButton,
    template=r"followup:nudge:(?P<action>revise|post):(?P<kind>new|edit):(?P<target>\d+):(?P<key>\d+)",
):
    """The nudge's choice: edit the text again, or post it as it is."""

    LABELS: ClassVar[dict[str, str]] = {"revise": "Edit", "post": "Post anyway"}

    def __init__(self, action: str, kind: str, target: int, key: str) -> None:
        super().__init__(
            f"followup:nudge:{action}:{kind}:{target}:{key}",
            self.LABELS[action],
            discord.ButtonStyle.primary if action == "revise" else discord.ButtonStyle.secondary,
        )
        self.action, self.kind, self.target, self.key = action, kind, target, key

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[discord.ui.View],
        match: re.Match[str],
    ) -> Self:
        return cls(
            match["action"], match["kind"], database_id(match["target"]) or 0, match["key"]
        )

    async def callback(self, interaction: discord.Interaction) -> None:
        message = interaction.message
        text = message.embeds[0].description if message and message.embeds else None
        if not text:
            await reply_ephemeral(
                interaction, "I lost the text of this follow-up; please write it again."
            )
            return
        try:
            if self.action == "revise":
                label = await self._label(interaction)
                await interaction.response.send_modal(
                    FollowUpModal(self.kind, self.target, label, text)
                )
                return
            await submit(interaction, self.kind, self.target, text, self.key, anyway=True)
        except Exception as error:  # every failure gets a private answer
            await _report(interaction, error)

    async def _label(self, interaction: discord.Interaction) -> str:
        followups = bot_of(interaction).followups
        if self.kind == NEW:
            case, _ = await followups.writable_case(self.target, interaction.user.id)
        else:
            _, case = await followups.own_followup(self.target, interaction.user.id)
        return case.label


def nudge_view(kind: str, target: int, key: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(NudgeButton("revise", kind, target, key))
    view.add_item(NudgeButton("post", kind, target, key))
    return view


@app_commands.guild_only()
class FollowUpCommands(commands.GroupCog, group_name="followup"):
    """Follow-up reports on cases, between meetings."""

    def __init__(self, bot: BalintBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(WriteButton, NudgeButton)

    async def _channel_group_id(self, interaction: discord.Interaction) -> int | None:
        if interaction.guild is None:
            return None
        async with self.bot.session_factory() as session:
            group = await queries.group_by_channel(
                session, interaction.guild.id, channel_ids_of(interaction.channel)
            )
        return group.id if group else None

    # Autocomplete -------------------------------------------------------------------------

    async def case_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild is None:
            return []
        choices = await self.bot.followups.writable_cases(
            interaction.user.id, interaction.guild.id, await self._channel_group_id(interaction)
        )
        if interaction.command is not None and interaction.command.name == "close":
            choices = [c for c in choices if c.own and c.case.status == CaseStatus.PRESENTED]
        found = []
        for choice in choices:
            when = choice.case.presented_at or choice.case.offered_at
            name = f"{choice.case.label} · {meeting_date(when, choice.group.timezone)}"
            if not choice.own:
                name += " (discussed)"
            if current.lower() in name.lower():
                found.append(app_commands.Choice(name=name[:100], value=str(choice.case.id)))
        return found[:25]

    async def _followup_choices(
        self, interaction: discord.Interaction, current: str, *, as_leader: bool
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild is None:
            return []
        user_id = interaction.user.id
        rows = await self.bot.followups.followups_of(
            interaction.guild.id,
            author_id=None if as_leader else user_id,
            leader_id=user_id if as_leader else None,
        )
        choices = []
        for followup, case in rows:
            name = f"{case.label}: {' '.join(followup.text.split())}"
            if current.lower() in name.lower():
                choices.append(
                    app_commands.Choice(
                        name=name[:97] + "…" if len(name) > 100 else name, value=str(followup.id)
                    )
                )
        return choices[:25]

    async def own_followup_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._followup_choices(interaction, current, as_leader=False)

    async def group_followup_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._followup_choices(interaction, current, as_leader=True)

    # Commands -----------------------------------------------------------------------------

    @app_commands.command(name="write")
    @app_commands.describe(case="Your case, or one discussed at a meeting you were at")
    async def write(self, interaction: discord.Interaction, case: str) -> None:
        """Write a follow-up on a case; it is posted in the case's forum post."""
        found, _ = await self.bot.followups.writable_case(
            _id_option(case, "case"), interaction.user.id
        )
        await interaction.response.send_modal(FollowUpModal(NEW, found.id, found.label))

    @app_commands.command(name="edit")
    @app_commands.describe(followup="One of your follow-ups")
    async def edit(self, interaction: discord.Interaction, followup: str) -> None:
        """Change one of your follow-ups; its forum message follows."""
        stored, case = await self.bot.followups.editable_followup(
            _id_option(followup, "follow-up"), interaction.user.id
        )
        await interaction.response.send_modal(
            FollowUpModal(EDIT, stored.id, case.label, stored.text)
        )

    @app_commands.command(name="delete")
    @app_commands.describe(followup="One of your follow-ups")
    async def delete(self, interaction: discord.Interaction, followup: str) -> None:
        """Delete one of your follow-ups, here and in the forum."""
        followup_id = _id_option(followup, "follow-up")
        await self.bot.followups.own_followup(followup_id, interaction.user.id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        case = await self.bot.followups.delete(followup_id, interaction.user.id)
        await interaction.followup.send(
            f"Your follow-up on **{case.label}** is deleted.", ephemeral=True
        )

    @app_commands.command(name="remove")
    @app_commands.describe(followup="A follow-up in a group you lead")
    async def remove(self, interaction: discord.Interaction, followup: str) -> None:
        """Take down a follow-up from a case post (leaders); its author is told."""
        followup_id = _id_option(followup, "follow-up")
        await interaction.response.defer(ephemeral=True, thinking=True)
        _, case = await self.bot.followups.remove(followup_id, interaction.user.id)
        await interaction.followup.send(
            f"Removed the follow-up from the post of **{case.label}**; its author is told.",
            ephemeral=True,
        )

    @app_commands.command(name="close")
    @app_commands.describe(case="A case you presented")
    async def close(self, interaction: discord.Interaction, case: str) -> None:
        """Say your case needs no more follow-ups: the reminders stop."""
        closed = await self.bot.followups.close_case(_id_option(case, "case"), interaction.user.id)
        await interaction.response.send_message(
            f"**{closed.label}** is closed: no more follow-up reminders. You and the group can "
            "still write in its post.",
            ephemeral=True,
        )

    @app_commands.command(name="settings")
    @app_commands.describe(
        prompt_days="Ask presenters for a follow-up this many days before the next meeting",
        prompt_cycles="Keep asking for this many meetings after a case (0: never ask)",
        retention_months="Delete follow-ups this many months after the group is archived",
        clear_chat="Delete the group chat's messages after each meeting",
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        prompt_days: app_commands.Range[int, 1, 14] | None = None,
        prompt_cycles: app_commands.Range[int, 0, 12] | None = None,
        retention_months: app_commands.Range[int, 1, 120] | None = None,
        clear_chat: bool | None = None,
    ) -> None:
        """See or change the group's follow-up and confidentiality choices (leaders)."""
        group = await group_led_by_caller(
            self.bot.session_factory, interaction, "change these settings"
        )
        changes = {
            name: value
            for name, value in (
                ("followup_prompt_days", prompt_days),
                ("followup_prompt_cycles", prompt_cycles),
                ("retention_months", retention_months),
                ("clear_text_channel", clear_chat),
            )
            if value is not None
        }
        updated = await self.bot.groups.update_settings(
            group, lambda current: current.with_changes(**changes)
        )
        if changes:
            self.bot.followups.schedule_changed(group.id)
        await interaction.response.send_message(
            f"**{group.name}**{' now' if changes else ''}:\n"
            f"• follow-up reminders {updated.followup_prompt_days} days before a meeting, "
            f"for {updated.followup_prompt_cycles} meetings after each case\n"
            f"• follow-ups and case posts deleted {updated.retention_months} months after the "
            "group is archived\n"
            f"• the chat is {'cleared' if updated.clear_text_channel else 'kept'} after each "
            "meeting",
            ephemeral=True,
        )

    write.autocomplete("case")(case_autocomplete)
    close.autocomplete("case")(case_autocomplete)
    edit.autocomplete("followup")(own_followup_autocomplete)
    delete.autocomplete("followup")(own_followup_autocomplete)
    remove.autocomplete("followup")(group_followup_autocomplete)

    # Events -------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_case_presented(self, case_id: int) -> None:
        self.bot.followups.case_presented(case_id)

    @commands.Cog.listener()
    async def on_meeting_ended(self, meeting_id: int) -> None:
        await self.bot.followups.meeting_ended(meeting_id)

    @commands.Cog.listener()
    async def on_schedule_changed(self, group_id: int) -> None:
        self.bot.followups.schedule_changed(group_id)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        await self.bot.followups.resume()

    @commands.Cog.listener()
    async def on_followup_prompt(self, user_id: int, case_id: int, text: str) -> None:
        try:
            channel = await self.bot.create_dm(discord.Object(id=user_id))
            await channel.send(text, view=write_view(case_id))
        except discord.HTTPException as error:
            log.info("could not send a follow-up prompt: HTTP %s", error.status)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, BalintBot)
    await bot.add_cog(FollowUpCommands(bot))
