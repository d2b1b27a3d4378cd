"""Pagination tokens of a room's timeline (spec: client-server-api "Pagination")."""

from __future__ import annotations

from homeserver.errors import MatrixError


def stream_token(stream_ordering: int) -> str:
    """A position between events: ``s<N>`` is just after the event with stream ordering N."""
    return f"s{stream_ordering}"


def parse_stream_token(token: str) -> int:
    """``s<N>``, or a /sync token ``s<N>_...`` whose first part is the same position."""
    position = token[1:].split("_", 1)[0]
    if not token.startswith("s") or not position.isdigit() or len(position) > 18:
        raise MatrixError(400, "M_INVALID_PARAM", f"Invalid pagination token {token!r}")
    return int(position)
