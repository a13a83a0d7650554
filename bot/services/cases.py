"""Cases: offering one, passing a turn, proposing presenters, choosing the presenter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import queries
from bot.db.models import Case, CaseStatus, Group, Meeting, MemberRole, PresenterPass
from bot.domain.identifiers import human_summary, scan
from bot.domain.rotation import Member, Proposal, Turn, TurnKind, propose_presenters
from bot.errors import UserFacingError

MIN_LABEL, MAX_LABEL = 3, 80


def validate_label(label: str) -> str:
    """A short label that does not look like it identifies a patient."""
    cleaned = " ".join(label.split())
    if not MIN_LABEL <= len(cleaned) <= MAX_LABEL:
        raise UserFacingError(
            f"A case label needs {MIN_LABEL} to {MAX_LABEL} characters, e.g. "
            "'the man who kept apologising'."
        )
    findings = scan(cleaned)
    if findings:
        raise UserFacingError(
            f"Case labels must not identify the patient, and this one seems to contain "
            f"{human_summary(findings)}. Please describe the case without it."
        )
    return cleaned


@dataclass(frozen=True)
class ProposalLine:
    proposal: Proposal
    offered_label: str | None


class CaseService:
    """Offers, passes and presenter proposals, recorded in the database."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock

    async def offer(self, group: Group, user_id: int, label: str) -> Case:
        """Volunteer a case for the next meeting; a second offer replaces the label."""
        label = validate_label(label)
        async with self._session_factory() as session:
            case = await _open_offer(session, group.id, user_id)
            if case is None:
                case = Case(
                    group_id=group.id,
                    presenter_id=user_id,
                    label=label,
                    status=CaseStatus.OFFERED,
                    offered_at=self._clock.now(),
                )
                session.add(case)
            case.label = label
            await session.commit()
            return case

    async def withdraw(self, group: Group, user_id: int) -> None:
        async with self._session_factory() as session:
            case = await _open_offer(session, group.id, user_id)
            if case is None:
                raise UserFacingError("You haven't offered a case in this group.")
            case.status = CaseStatus.WITHDRAWN
            await session.commit()

    async def offers(self, group: Group) -> Sequence[Case]:
        async with self._session_factory() as session:
            result = await session.execute(
                select(Case)
                .where(Case.group_id == group.id, Case.status == CaseStatus.OFFERED)
                .order_by(Case.offered_at)
            )
            return result.scalars().all()

    async def pass_turn(self, group: Group, meeting: Meeting, user_id: int) -> None:
        async with self._session_factory() as session:
            existing = await session.execute(
                select(PresenterPass.id).where(
                    PresenterPass.meeting_id == meeting.id, PresenterPass.user_id == user_id
                )
            )
            if existing.first() is None:
                session.add(
                    PresenterPass(
                        group_id=group.id,
                        meeting_id=meeting.id,
                        user_id=user_id,
                        passed_at=self._clock.now(),
                    )
                )
                await session.commit()

    async def proposals(self, group: Group, present_ids: Sequence[int]) -> list[ProposalLine]:
        """Who to ask, in order: volunteers first, then who has waited longest."""
        async with self._session_factory() as session:
            memberships = await queries.active_memberships(session, group.id)
            presented = (
                await session.execute(
                    select(Case.presenter_id, Case.presented_at).where(
                        Case.group_id == group.id, Case.presented_at.is_not(None)
                    )
                )
            ).all()
            passes = (
                await session.execute(
                    select(PresenterPass.user_id, PresenterPass.passed_at).where(
                        PresenterPass.group_id == group.id
                    )
                )
            ).all()
        offers = await self.offers(group)
        history = [Turn(user, TurnKind.PRESENTED, at) for user, at in presented if at is not None]
        history += [Turn(user, TurnKind.PASSED, at) for user, at in passes]
        # Leaders are proposed only when they volunteer: the rotation is the members'.
        volunteers = [case.presenter_id for case in offers]
        members = [
            Member(m.user_id, m.joined_at or m.invited_at)
            for m in memberships
            if m.role == MemberRole.MEMBER or m.user_id in volunteers
        ]
        labels = {case.presenter_id: case.label for case in offers}
        proposals = propose_presenters(members, present_ids, volunteers, history)
        return [ProposalLine(p, labels.get(p.member_id)) for p in proposals]


async def _open_offer(session: AsyncSession, group_id: int, user_id: int) -> Case | None:
    result = await session.execute(
        select(Case).where(
            Case.group_id == group_id,
            Case.presenter_id == user_id,
            Case.status == CaseStatus.OFFERED,
        )
    )
    return result.scalars().first()
