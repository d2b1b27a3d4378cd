"""Profiles: display names and avatars (spec: client-server-api "Profiles").

A change is written together with the user directory's copy, in one transaction.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from homeserver.config import SERVER_NAME
from homeserver.errors import bad_json, forbidden, not_found
from homeserver.server import HomeServer
from homeserver.storage import users as user_store
from homeserver.storage.users import Profile
from homeserver.users import directory
from homeserver.requester import Requester

ProfileField = Literal["displayname", "avatar_url"]

MAX_DISPLAYNAME_LENGTH = 256
MAX_AVATAR_URL_LENGTH = 1000

# Bidi embeddings, overrides and isolates reorder the text around them: used to spoof names.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Spec: content repository, "Matrix Content (mxc://) URIs" and its security considerations.
_MXC_URI = re.compile(r"mxc://(?P<server_name>[^/]+)/[A-Za-z0-9_-]+")


def check_display_name(key: str, value: str | None) -> None:
    """A name other people will see: no control characters, no bidi overrides."""
    if value is not None and any(c in _BIDI_CONTROLS or unicodedata.category(c) == "Cc" for c in value):
        raise bad_json(f"'{key}' must not contain control characters")


def check_avatar_url(value: str | None) -> None:
    """An mxc://server-name/media-id URI, or nothing (None or '' clear the avatar)."""
    if not value:
        return
    match = _MXC_URI.fullmatch(value)
    if match is None or not SERVER_NAME.fullmatch(match["server_name"]):
        raise bad_json("'avatar_url' must be an mxc://server-name/media-id URI")


async def get_profile(hs: HomeServer, user_id: str) -> Profile:
    if not hs.is_mine(user_id):
        return await remote_profile(hs, user_id)
    # An erased account has no profile row; an unknown user has none either.
    profile = await user_store.get_profile(hs.db.pool, user_id)
    if profile is None:
        raise not_found("Profile not found")
    return profile


async def get_field(hs: HomeServer, user_id: str, field: ProfileField) -> str:
    value = getattr(await get_profile(hs, user_id), field)
    if value is None:
        raise not_found(f"This user has no {field}")
    return value


async def remote_profile(hs: HomeServer, user_id: str) -> Profile:
    """Another server's user."""
    # TODO(federation): ask the user's server (GET /_matrix/federation/v1/query/profile).
    raise not_found("Profile not found")


async def set_field(
    hs: HomeServer, requester: Requester, user_id: str, field: ProfileField, value: str | None
) -> None:
    """Change one field of a local profile ('' clears it like None). Owners and admins
    only. The rooms hear of it from ``rooms.membership.announce_profile``."""
    if requester.user_id != user_id and not (requester.is_admin and hs.is_mine(user_id)):
        raise forbidden("You may only change your own profile")
    if field == "avatar_url" and value:
        await hs.media.check_exists(value)  # this server's media must exist: 404 M_NOT_FOUND
    async with hs.db.transaction() as conn:
        profile = await user_store.update_profile_field(conn, user_id, field, value or None)
        if profile is None:
            raise not_found("Profile not found")
        await directory.on_profile_changed(conn, user_id, profile.displayname, profile.avatar_url)

