"""Rooms two users are both joined to (spec: client-server-api "Mutual Rooms",
mutual_rooms.yaml), in pages of at most ``PAGE_SIZE`` room IDs.

A ``next_batch`` token is the last room ID of its page (rooms are ordered by ID), so
tokens never expire; a room joined after a page was served appears on a later page only
if its ID sorts after that page.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from homeserver.errors import MatrixError
from homeserver.server import HomeServer
from homeserver.storage import rooms as room_store

PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class MutualRooms:
    joined: list[str]
    count: int
    next_batch: str | None


async def mutual_rooms(
    hs: HomeServer, user_id: str, other_user_id: str, from_token: str | None, page_size: int = PAGE_SIZE
) -> MutualRooms:
    if other_user_id == user_id:
        raise MatrixError(400, "M_INVALID_PARAM", "Ask about another user, not yourself")
    after = _decode(from_token) if from_token is not None else None
    shared = await room_store.shared_rooms(hs.db.pool, user_id, other_user_id)
    remaining = [r for r in shared if after is None or r > after]
    page = remaining[:page_size]
    next_batch = _encode(page[-1]) if len(remaining) > page_size else None
    return MutualRooms(page, len(shared), next_batch)


def _encode(room_id: str) -> str:
    return base64.urlsafe_b64encode(room_id.encode()).decode().rstrip("=")


def _decode(token: str) -> str:
    try:
        room_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, binascii.Error):
        raise MatrixError(400, "M_INVALID_PARAM", "Invalid 'from' token") from None
    if not room_id.startswith("!") or "\x00" in room_id:
        raise MatrixError(400, "M_INVALID_PARAM", "Invalid 'from' token")
    return room_id
