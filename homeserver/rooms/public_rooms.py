"""The published room directory (spec: client-server-api "Published room directory",
list_public_rooms.yaml).

Which published rooms are listed, and in what order, follows Synapse: rooms anyone could
join (join rule public, knock or knock_restricted) or read (world_readable), with at least
one joined member, largest first, ties by room ID. Pages are keyset-paginated on
(joined members, room ID), so a room gaining members between two requests cannot shift
other rooms across a page boundary twice.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from homeserver.errors import MatrixError
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.rooms.aliases import can_edit_directory
from homeserver.server import HomeServer
from homeserver.storage import rooms as room_store
from homeserver.storage.rooms import PublishedRoom, PublishedRoomsQuery
from homeserver.requester import Requester

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
_PRE_V11_VERSIONS = [v.identifier for v in KNOWN_ROOM_VERSIONS.values() if not v.updated_redaction_rules]


@dataclass(frozen=True, slots=True)
class DirectoryRequest:
    limit: int | None = None
    since: str | None = None
    search_term: str | None = None
    # None: any type; a None entry stands for rooms without a type (spec: room_types).
    room_types: tuple[str | None, ...] | None = None
    server: str | None = None
    include_all_networks: bool = False
    third_party_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class DirectoryPage:
    chunk: list[dict[str, Any]]
    next_batch: str | None
    prev_batch: str | None
    total_room_count_estimate: int


async def public_rooms(hs: HomeServer, request: DirectoryRequest) -> DirectoryPage:
    """GET and POST /publicRooms."""
    if request.server is not None and request.server != hs.server_name:
        return await query_remote_directory(hs, request.server, request)
    if request.include_all_networks and request.third_party_instance_id is not None:
        raise MatrixError(400, "M_INVALID_PARAM", "Use either include_all_networks or third_party_instance_id")
    if request.third_party_instance_id is not None:
        # No application service bridges networks into this server's directory.
        return DirectoryPage([], None, None, 0)
    limit = min(request.limit if request.limit is not None else DEFAULT_LIMIT, MAX_LIMIT)
    backwards, after = decode_token(request.since) if request.since is not None else (False, None)
    room_types = request.room_types or None  # an empty list filters nothing, as in Synapse
    term = request.search_term.strip() if request.search_term else None
    query = PublishedRoomsQuery(
        limit=limit + 1, after=after, backwards=backwards, search_term=term or None,
        room_types=tuple(t for t in room_types if t is not None) if room_types is not None else None,
        include_untyped=room_types is None or None in room_types,
    )
    rooms, total = await room_store.published_rooms(hs.db.pool, query, _PRE_V11_VERSIONS)
    more = len(rooms) > limit
    rooms = rooms[:limit]
    if backwards:
        rooms.reverse()
    next_batch = prev_batch = None
    if rooms and backwards:  # there are rooms after these: the page the token came from
        next_batch = encode_token(False, rooms[-1])
        prev_batch = encode_token(True, rooms[0]) if more else None
    elif rooms:
        next_batch = encode_token(False, rooms[-1]) if more else None
        prev_batch = encode_token(True, rooms[0]) if after is not None else None
    return DirectoryPage([directory_entry(r) for r in rooms], next_batch, prev_batch, total)


async def query_remote_directory(hs: HomeServer, server: str, request: DirectoryRequest) -> DirectoryPage:
    """Another server's directory.

    TODO(federation): GET/POST /_matrix/federation/v1/publicRooms on that server. Until
    then other servers' directories cannot be fetched.
    """
    raise MatrixError(404, "M_NOT_FOUND", f"Cannot fetch the room directory of {server}")


def encode_token(backwards: bool, room: PublishedRoom) -> str:
    raw = orjson.dumps(["b" if backwards else "f", room.num_joined_members, room.room_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[bool, tuple[int, str]]:
    try:
        direction, count, room_id = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise MatrixError(400, "M_INVALID_PARAM", "Invalid pagination token") from None
    if (
        direction not in ("f", "b") or type(count) is not int or not 0 <= count < 2**63
        or not isinstance(room_id, str) or "\x00" in room_id
    ):
        raise MatrixError(400, "M_INVALID_PARAM", "Invalid pagination token")
    return direction == "b", (count, room_id)


def directory_entry(room: PublishedRoom) -> dict[str, Any]:
    """A PublishedRoomsChunk (spec: public_rooms_chunk.yaml)."""
    def content(event_type: str) -> dict[str, Any]:
        value = room.state.get(event_type)
        return value if isinstance(value, dict) else {}

    entry: dict[str, Any] = {
        "room_id": room.room_id,
        "num_joined_members": room.num_joined_members,
        "world_readable": content("m.room.history_visibility").get("history_visibility") == "world_readable",
        "guest_can_join": content("m.room.guest_access").get("guest_access") == "can_join",
    }
    optional = {
        "name": content("m.room.name").get("name"),
        "topic": plain_topic(content("m.room.topic")),
        "canonical_alias": content("m.room.canonical_alias").get("alias"),
        "avatar_url": content("m.room.avatar").get("url"),
        "join_rule": content("m.room.join_rules").get("join_rule"),
        "room_type": content("m.room.create").get("type"),
    }
    entry.update({key: value for key, value in optional.items() if isinstance(value, str) and value})
    if not entry.get("canonical_alias", "#").startswith("#"):
        del entry["canonical_alias"]
    if not entry.get("avatar_url", "mxc://").startswith("mxc://"):
        del entry["avatar_url"]
    return entry


def plain_topic(content: dict[str, Any]) -> str | None:
    """The text/plain representation of an m.room.topic (spec: m.topic since v1.15)."""
    block = content.get("m.topic")
    texts = block.get("m.text") if isinstance(block, dict) else None
    for text in texts if isinstance(texts, list) else ():
        if isinstance(text, dict) and text.get("mimetype", "text/plain") == "text/plain":
            body = text.get("body")
            if isinstance(body, str) and body:
                return body
    topic = content.get("topic")
    return topic if isinstance(topic, str) and topic else None


async def get_visibility(hs: HomeServer, room_id: str) -> str:
    """GET /directory/list/room/{roomId}."""
    published = await room_store.is_public(hs.db.pool, room_id)
    if published is None:
        raise MatrixError(404, "M_NOT_FOUND", "Room not found")
    return "public" if published else "private"


async def set_visibility(hs: HomeServer, requester: Requester, room_id: str, visibility: str) -> None:
    """PUT /directory/list/room/{roomId}: server admins, or members who could send
    m.room.canonical_alias (aliases.can_edit_directory)."""
    async with hs.db.pool.acquire() as conn:
        if await room_store.is_public(conn, room_id) is None:
            raise MatrixError(404, "M_NOT_FOUND", "Room not found")
        if not requester.is_admin and not await can_edit_directory(conn, requester.user_id, room_id):
            raise MatrixError(403, "M_FORBIDDEN", "You may not change this room's visibility in the directory")
        await room_store.set_public(conn, room_id, visibility == "public")
