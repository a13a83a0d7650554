"""The guide inside Discord: what `/help` and the first-run message tell each person.

Each reader gets what fits their place: a server admin the set-up checklist with a
live check of the bot's permissions, a leader their own group's meeting as it is
configured, a member how to take part. Nothing here changes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import discord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import queries
from bot.db.models import Group, Server
from bot.domain.phases import CASE_PHASES, MEETING_PHASES, Phase, PhaseTemplate
from bot.permissions import lacking
from bot.services.access import channel_ids_of, is_server_admin
from bot.services.sessions import template_of

# What a leader does, or what the bot does by itself, in each phase.
PHASE_STEPS: dict[Phase, str] = {
    Phase.CHECK_IN: "each member says briefly how they arrive.",
    Phase.FOLLOW_UPS: "news on earlier cases; the panel lists cases with new follow-ups.",
    Phase.CASE_SELECTION: "`/case suggest-presenters` lists who could present (volunteers "
    "first, then who has waited longest); choose one with `/case present member:`.",
    Phase.PRESENTATION: "the presenter tells the case from memory.",
    Phase.QUESTIONS: "brief clarifying questions only.",
    Phase.DISCUSSION: "the presenter pushes back their chair: **the bot silences them** in "
    "the room and the chat; they still hear and read.",
    Phase.PRESENTER_RETURNS: "the silence is lifted and the presenter is invited back.",
    Phase.CLOSING: "the leader closes the case.",
}


@dataclass(frozen=True)
class GuideSection:
    """One part of the guide, shown as one embed."""

    title: str
    body: str


def missing_permissions(granted: discord.Permissions) -> list[str]:
    """The required permissions the bot lacks, each with why it needs it."""
    return [f"❌ **{p.label}**: {p.reason}" for p in lacking(granted)]


def admin_section(granted: discord.Permissions, lobby_id: int | None, groups: int) -> GuideSection:
    """The set-up checklist, with what is already done ticked off."""
    missing = missing_permissions(granted)
    permissions = (
        "✅ The bot has every permission it needs."
        if not missing
        else "The bot is missing permissions. In **Server Settings → Roles**, give the bot's "
        "role:\n" + "\n".join(missing)
    )
    lobby = (
        f"✅ Lobby: <#{lobby_id}>."
        if lobby_id
        else "☐ Choose a voice channel where members wait before a meeting: `/room lobby`."
    )
    created = (
        f"✅ {groups} group{'s' if groups != 1 else ''} so far."
        if groups
        else "☐ Create a group: `/group create name: leader: timezone:` makes its role and a "
        "private category with a chat, a voice room and a follow-up forum."
    )
    return GuideSection(
        "Setting up (server admins)",
        "\n".join(
            [
                "1. " + permissions,
                "2. " + lobby,
                "3. " + created,
                "4. The leader invites members with `/group add` (each accepts the group "
                "agreement in a DM) and sets the schedule with `/schedule set`.",
                "Optional: `/room pool-add` shares voice rooms between groups; "
                "`/group archive` ends a group.",
            ]
        ),
    )


def run_through(template: PhaseTemplate) -> str:
    """The meeting as this group has configured it, phase by phase, with timings."""

    def line(phase: Phase) -> str:
        minutes = template.planned(phase).total_seconds() // 60
        return f"• **{template.title(phase)}** ({minutes:.0f} min): {PHASE_STEPS[phase]}"

    before = [line(p) for p in MEETING_PHASES if template.is_enabled(p)]
    per_case = [line(p) for p in CASE_PHASES if template.is_enabled(p)]
    cases = template.cases
    total = template.meeting_length().total_seconds() // 60
    parts = [
        f"About {total:.0f} minutes in all.",
        *before,
        f"Then, for {'the case' if cases == 1 else f'each of the {cases} cases'}:",
        *per_case,
    ]
    modes = []
    if template.listening_mode:
        modes.append(
            "listening mode is on: during the presentation only the presenter and the "
            "leaders can speak"
        )
    if template.auto_advance:
        modes.append("auto-advance is on: when a phase's time is up the bot moves on by itself")
    else:
        modes.append("auto-advance is off: the bot cues at the planned time; you move on")
    parts.append("Settings: " + "; ".join(modes) + " (`/group settings`).")
    return "\n".join(parts)


def leader_section(group: Group, template: PhaseTemplate) -> GuideSection:
    chat = f"<#{group.text_channel_id}>" if group.text_channel_id else "the group's chat"
    return GuideSection(
        f"Running a meeting of {group.name} (leaders)",
        "\n".join(
            [
                f"Run `/session`, `/phase` and `/case` in {chat}.",
                "**Start:** `/session start` opens the room, brings members in from the lobby "
                "and posts the panel.",
                run_through(template),
                "**Move on** with the panel's buttons or `/phase next | back | set | extend`.",
                "**End:** `/session end` lifts every silence, frees the room and gives you a "
                "private summary; it is also posted in the leaders' debrief space (a channel "
                "only the leaders, and a supervisor role if set, can see), with a thread for "
                "your notes.",
                "**Keeping the frame:** `/frame deputy member:` names who holds the meeting if "
                "your connection fails (a member agrees by DM); after a minute away they get "
                "the panel and `/phase`, and it comes back to you when you return. With no "
                "deputy the meeting waits. A member who drops gets a quiet line and a DM; if "
                "the presenter drops, your space gets a cue to pause the timer "
                "(`/frame resume` carries on). `/round start` runs the check-in as a round "
                "(`/round next | skip`); `/frame settings` sets the round's order, time each "
                "and one voice at a time.",
                "**Attendance:** the bot records who is in the room from start to end. "
                "`/attendance meeting` shows who came and for how long, `/attendance group` "
                "a chart and CSV of a period, `/attendance correct` fixes a record (joined by "
                "phone) with a reason; `/attendance scheme` sets how sessions count for CPD "
                "credit and from what share of a meeting a member counts as present.",
                "Change the phases and timings with `/group phases`; members and the agreement "
                "with `/group add | remove | info | agreement-edit`; the schedule with "
                "`/schedule set | change | skip | move | cancel`.",
            ]
        ),
    )


def member_section(groups: Sequence[Group]) -> GuideSection:
    names = ", ".join(f"**{g.name}**" for g in groups) if groups else "your group"
    return GuideSection(
        "Taking part (members)",
        "\n".join(
            [
                f"You are in {names}.",
                "• **Offer a case:** `/case offer label:` with a short label that names no "
                "one; only the leaders see it. `/case withdraw` takes it back, `/case pass` "
                "lets this meeting's turn go by.",
                "• **Coming or not:** press the buttons on the meeting reminder in the group's "
                "chat. `/schedule show` lists the next meetings, `/schedule ics` gives a "
                "calendar file, `/reminders` turns reminder DMs on or off.",
                "• **Follow-ups:** `/followup write` tells the group what happened since you "
                "presented (the DM before a meeting has a button too); `/followup edit | "
                "delete` change it.",
                "• **Check-in round:** when it is your turn the panel says so; `/round pass` "
                "lets your turn go by. If you drop out, rejoin the room (or the lobby).",
                "• **Attendance and CPD:** `/attendance me` shows your record; "
                "`/attendance statement name:` DMs you a PDF for your college, with a code "
                "anyone can check with `/attendance verify`.",
                "• **Your data:** `/privacy export` sends you everything the bot keeps about "
                "you; `/privacy delete` erases it.",
                "What is said in the group stays in the group: the bot never records voice.",
            ]
        ),
    )


def stranger_section() -> GuideSection:
    return GuideSection(
        "balint-bot",
        "balint-bot runs online Balint groups: it schedules meetings, opens the voice room, "
        "keeps the presenter silent while the group discusses their case, and collects "
        "follow-ups. You are not in a group on this server: ask a group's leader to invite "
        "you with `/group add`, or a server admin to create a group.",
    )


async def guide_for(
    session_factory: async_sessionmaker[AsyncSession],
    guild: discord.Guild | None,
    user: discord.Member | discord.User,
    channel: object,
) -> list[GuideSection]:
    """The sections that fit this person here: admin, leader, member, or none of these."""
    if guild is None:
        return [member_section([]), stranger_section()]
    sections: list[GuideSection] = []
    async with session_factory() as session:
        led = await queries.user_groups(session, guild.id, user.id, leaders_only=True)
        belongs = await queries.user_groups(session, guild.id, user.id)
        here = await queries.group_by_channel(session, guild.id, channel_ids_of(channel))
        server = await session.get(Server, guild.id)
        group_count = len(await queries.groups_of_server(session, guild.id))
    if is_server_admin(user):
        lobby_id = server.lobby_channel_id if server else None
        sections.append(admin_section(guild.me.guild_permissions, lobby_id, group_count))
    if led:
        # The group of this channel if the caller leads it, otherwise their first.
        shown = next((g for g in led if here is not None and g.id == here.id), led[0])
        sections.append(leader_section(shown, template_of(shown)))
    if belongs:
        sections.append(member_section(belongs))
    if not sections:
        sections.append(stranger_section())
    return sections
