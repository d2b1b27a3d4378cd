"""Exceptions raised by the pure event-graph algorithms.

They carry only a human-readable reason; the HTTP and federation layers decide how to map
them (for example ``AuthError`` to 403 ``M_FORBIDDEN``, ``EventFormatError`` to 400
``M_BAD_JSON`` or to silently dropping a PDU received over federation).
"""

from __future__ import annotations


class EventError(Exception):
    """Base class of every error raised by ``homeserver.events``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedRoomVersion(EventError):
    """The room version is unknown, or the requested algorithm is not implemented for it."""


class EventFormatError(EventError):
    """The event does not comply with the event format of its room version (it is dropped)."""


class AuthError(EventError):
    """The event is not allowed by the authorisation rules (it is rejected or soft-failed)."""


class SignatureError(EventError):
    """A JSON object or event is missing a required signature, or a signature is invalid."""
