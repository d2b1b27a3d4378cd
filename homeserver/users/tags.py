"""Room tags (spec: client-server-api "Room Tagging"): kept as the room's ``m.tag``
account data, ``{"tags": {tag: {"order": n}}}``, which /sync carries to every device."""

from __future__ import annotations

from typing import Any

from homeserver.errors import bad_json, forbidden, invalid_param
from homeserver.server import HomeServer
from homeserver.storage import account_data as store
from homeserver.storage import rooms as room_store
from homeserver.streams import Stream

TAG = "m.tag"
MAX_TAG_BYTES = 255
MAX_TAGS = 100


def check_tag(tag: str, content: Any = None) -> None:
    if not tag or len(tag.encode()) > MAX_TAG_BYTES or "\x00" in tag:
        raise invalid_param(f"A tag is 1 to {MAX_TAG_BYTES} bytes")
    if content is not None:
        order = content.get("order")
        if order is not None and (isinstance(order, bool) or not isinstance(order, (int, float))):
            raise bad_json("'order' must be a number")


async def get_tags(hs: HomeServer, requester_id: str, user_id: str, room_id: str) -> dict[str, Any]:
    _check_owner(requester_id, user_id)
    return _tags(await store.get_account_data(hs.db.pool, user_id, room_id, TAG))


async def set_tag(
    hs: HomeServer, requester_id: str, user_id: str, room_id: str, tag: str, content: dict[str, Any] | None
) -> None:
    """Add or replace the tag (``content`` None: remove it, which is fine if absent)."""
    _check_owner(requester_id, user_id)
    if await room_store.get_membership(hs.db.pool, room_id, user_id) is None:
        raise forbidden("You have never been in this room")
    async with hs.feed.writing(Stream.ACCOUNT_DATA) as writer, hs.db.transaction() as conn:
        await store.lock_user(conn, user_id)
        tags = _tags(await store.get_account_data(conn, user_id, room_id, TAG))
        if content is None and tag not in tags:
            return
        if content is None:
            del tags[tag]
        else:
            tags[tag] = content
        if len(tags) > MAX_TAGS:
            raise invalid_param(f"A room has at most {MAX_TAGS} tags")
        [stream_id] = await writer.next(conn, Stream.ACCOUNT_DATA)
        await store.put_account_data(conn, user_id, room_id, TAG, {"tags": tags}, stream_id)
        writer.touch(users=[user_id])


def _tags(content: Any) -> dict[str, Any]:
    tags = content.get("tags") if isinstance(content, dict) else None
    return dict(tags) if isinstance(tags, dict) else {}


def _check_owner(requester_id: str, user_id: str) -> None:
    if requester_id != user_id:
        raise forbidden("You may only read and change your own tags")
