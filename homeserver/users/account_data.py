"""Account data: JSON objects a user's clients keep on the server, global or per room
(spec: client-server-api "Client Config")."""

from __future__ import annotations

from typing import Any

from homeserver.errors import MatrixError, forbidden, invalid_param, not_found
from homeserver.server import ROOM_HEADS, HomeServer
from homeserver.storage import account_data as store
from homeserver.storage import rooms as room_store
from homeserver.streams import Stream
from homeserver.timeline.push import push_rules_content
from homeserver.users import directory

GLOBAL = store.GLOBAL

# Types the server maintains itself: readable here, written through their own APIs.
SERVER_MANAGED = frozenset({"m.fully_read", "m.push_rules"})

MAX_TYPE_LENGTH = 255
MAX_ROOM_ID_BYTES = 255


def check_type(data_type: str) -> None:
    # PostgreSQL text cannot hold NUL.
    if len(data_type) > MAX_TYPE_LENGTH or "\x00" in data_type:
        raise invalid_param(f"Account data type must be at most {MAX_TYPE_LENGTH} characters, without NUL")


def check_room_id(room_id: str) -> None:
    """Spec: appendices "Room IDs": ``!opaque_id`` with an optional ``:domain``, at most 255 bytes."""
    well_formed = room_id.startswith("!") and len(room_id) > 1 and "\x00" not in room_id
    if not well_formed or len(room_id.encode()) > MAX_ROOM_ID_BYTES:
        raise invalid_param(f"Not a valid room ID: {room_id!r}")


async def get_account_data(
    hs: HomeServer, requester_id: str, user_id: str, room_id: str, data_type: str
) -> dict[str, Any]:
    _check_owner(requester_id, user_id)
    if data_type == "m.push_rules" and room_id == GLOBAL:
        return await push_rules_content(hs.db.pool, user_id)
    content = await store.get_account_data(hs.db.pool, user_id, room_id, data_type)
    if content is None:
        raise not_found("Account data not found")
    return content


async def set_account_data(
    hs: HomeServer, requester_id: str, user_id: str, room_id: str, data_type: str, content: dict[str, Any]
) -> None:
    _check_owner(requester_id, user_id)
    if data_type in SERVER_MANAGED:
        raise MatrixError(405, "M_BAD_JSON", f"Cannot set {data_type} through this API")
    if room_id != GLOBAL and await room_store.get_membership(hs.db.pool, room_id, user_id) is None:
        raise forbidden("You have never been in this room")
    async with hs.feed.writing(Stream.ACCOUNT_DATA) as writer, hs.db.transaction() as conn:
        [stream_id] = await writer.next(conn, Stream.ACCOUNT_DATA)
        await store.put_account_data(conn, user_id, room_id, data_type, content, stream_id)
        if room_id == GLOBAL:
            await directory.on_account_data(conn, user_id, data_type, content)
        writer.touch(users=[user_id])
        if data_type == "m.ignored_user_list" and room_id == GLOBAL:
            writer.invalidate(ROOM_HEADS, user_id)  # they hold each member's ignore list


def _check_owner(requester_id: str, user_id: str) -> None:
    if requester_id != user_id:
        raise forbidden("You may only access your own account data")

