"""Replies shared by every cog, kept together so their tone stays consistent."""

from __future__ import annotations

NOT_IN_SERVER = "Balint groups live in servers: please use this command in your group's server."
SOMETHING_WENT_WRONG = (
    "Something went wrong on my side and nothing was changed. Please try again in a minute; "
    "if it keeps happening, tell your server's admins."
)
DATABASE_UNAVAILABLE = (
    "I can't reach my records right now, so nothing was changed. "
    "Please try again in a moment."
)

DEFAULT_AGREEMENT = """\
**Our group agreement**
• What is said in the group stays in the group.
• Nobody records the meetings, by any means.
• Patients are disguised: no names, dates of birth, addresses or other details \
that could identify them, in voice, in the chat or in follow-ups.
• We come regularly and on time, and tell the leaders when we can't.
• When it is your case, you listen in silence while the group discusses it."""
