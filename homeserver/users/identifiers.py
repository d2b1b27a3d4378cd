"""User ID grammar (spec: appendices "User Identifiers") and login identifiers
(spec: client-server-api "Identifier types")."""

from __future__ import annotations

import re
from typing import Any

from homeserver.errors import MatrixError
from homeserver.identifiers import MAX_USER_ID_BYTES, split_user_id
from homeserver.server import HomeServer

_LOCALPART = re.compile(r"^[a-z0-9._=\-/+]+$")


def validate_localpart(hs: HomeServer, localpart: str) -> str:
    """Downcase (the spec requires it for new users) and check the grammar and length."""
    localpart = localpart.lower()
    if not _LOCALPART.match(localpart):
        raise MatrixError(
            400, "M_INVALID_USERNAME", "User ID may only contain the characters a-z, 0-9 and ._=-/+"
        )
    if len(make_user_id(hs, localpart).encode()) > MAX_USER_ID_BYTES:
        raise MatrixError(400, "M_INVALID_USERNAME", f"User ID may be at most {MAX_USER_ID_BYTES} bytes long")
    return localpart


def make_user_id(hs: HomeServer, localpart: str) -> str:
    return f"@{localpart}:{hs.server_name}"



def user_id_from_auth(hs: HomeServer, body: dict[str, Any]) -> str:
    """The user a login (or UIA password stage) names, as a full local user ID.

    Accepts ``identifier: {type: m.id.user, user}`` by localpart or full user ID, and the
    deprecated top-level ``user`` field. Case is folded, as users are created lowercase.
    """
    identifier = body.get("identifier")
    if identifier is None:
        user = body.get("user")
        if user is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: identifier")
    else:
        if not isinstance(identifier, dict):
            raise MatrixError(400, "M_BAD_JSON", "'identifier' must be an object")
        if identifier.get("type") != "m.id.user":
            raise MatrixError(400, "M_UNKNOWN", "Only the m.id.user identifier type is supported")
        user = identifier.get("user")
        if user is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: identifier.user")
    if not isinstance(user, str):
        raise MatrixError(400, "M_BAD_JSON", "'user' must be a string")
    if user.startswith("@"):
        localpart, server = split_user_id(user)
        if server != hs.server_name:
            raise MatrixError(403, "M_FORBIDDEN", "Invalid username or password")
    else:
        localpart = user
    return make_user_id(hs, localpart.lower())
