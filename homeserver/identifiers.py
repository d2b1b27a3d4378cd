"""User ID grammar (spec: appendices "User Identifiers")."""

from __future__ import annotations

from homeserver.errors import MatrixError

MAX_USER_ID_BYTES = 255


def split_user_id(user_id: str) -> tuple[str, str]:
    """``@localpart:server`` -> (localpart, server); M_INVALID_PARAM when not a user ID."""
    if not user_id.startswith("@") or ":" not in user_id or len(user_id.encode()) > MAX_USER_ID_BYTES:
        raise MatrixError(400, "M_INVALID_PARAM", f"Not a valid user ID: {user_id!r}")
    localpart, _, server = user_id[1:].partition(":")
    if not server:
        raise MatrixError(400, "M_INVALID_PARAM", f"Not a valid user ID: {user_id!r}")
    return localpart, server
