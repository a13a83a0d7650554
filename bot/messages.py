"""Replies shared by every cog, kept together so their tone stays consistent."""

from __future__ import annotations

NOT_IN_SERVER = "Balint groups live in servers: please use this command in your group's server."
SOMETHING_WENT_WRONG = (
    "Something went wrong on my side and nothing was changed. Please try again in a minute; "
    "if it keeps happening, tell your server's admins."
)
