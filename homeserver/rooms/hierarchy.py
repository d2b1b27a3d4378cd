"""The space hierarchy (spec: client-server-api "Spaces", GET /v1/rooms/{roomId}/hierarchy):
the rooms under a space, depth first, children in the spec's order.

A room is shown (and its children walked) only if the requester may see it: they are
joined or invited, or anyone may join, knock or read it, or it is restricted to a room
they are joined to. Pagination tokens are stateless: they hold how many rooms were shown
and the filters, and the next page walks the tree again past those (the walk is bounded
by MAX_ROOMS, so a page costs at most that many rooms' state).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from homeserver.errors import MatrixError, forbidden, invalid_param
from homeserver.events.redaction import redact_event
from homeserver.events.room_versions import get_room_version
from homeserver.rooms.public_rooms import directory_entry
from homeserver.server import HomeServer
from homeserver.storage import rooms as room_store
from homeserver.storage import spaces as store
from homeserver.storage.rooms import PublishedRoom

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
DEFAULT_MAX_DEPTH = 10
MAX_ROOMS = 500
OPEN_JOIN_RULES = ("public", "knock", "knock_restricted")


@dataclass(frozen=True, slots=True)
class Request:
    room_id: str
    suggested_only: bool = False
    max_depth: int | None = None
    limit: int | None = None
    from_token: str | None = None


@dataclass(frozen=True, slots=True)
class _Room:
    state: store.RoomState
    contents: dict[str, dict[str, Any]]
    # (state_key, content, sender, origin_server_ts) of the valid m.space.child events.
    children: list[tuple[str, dict[str, Any], str, int]]


async def hierarchy(hs: HomeServer, user_id: str, request: Request) -> dict[str, Any]:
    max_depth = min(request.max_depth if request.max_depth is not None else DEFAULT_MAX_DEPTH, DEFAULT_MAX_DEPTH)
    limit = min(request.limit or DEFAULT_LIMIT, MAX_LIMIT)
    skip = _skip(request, max_depth) if request.from_token is not None else 0
    async with hs.db.pool.acquire() as conn:
        root = await _load(conn, request.room_id)
        if root is None or not await _may_see(conn, user_id, root):
            raise forbidden("You may not view this room")
        shown: list[dict[str, Any]] = []
        seen = 0
        stack: list[tuple[str, int]] = [(request.room_id, 0)]
        visited: set[str] = set()
        while stack and len(shown) <= limit and len(visited) < MAX_ROOMS:
            room_id, depth = stack.pop()
            if room_id in visited:
                continue
            visited.add(room_id)
            room = root if room_id == request.room_id else await _load(conn, room_id)
            if room is None or not await _may_see(conn, user_id, room):
                continue  # TODO(federation): ask the servers in the child's via for rooms we do not know
            if seen >= skip:
                shown.append(_entry(room))
            seen += 1
            if depth < max_depth:
                children = [c for c in room.children if not request.suggested_only or c[1].get("suggested") is True]
                stack += [(c[0], depth + 1) for c in reversed(children)]
    body: dict[str, Any] = {"rooms": shown[:limit]}
    if len(shown) > limit:
        body["next_batch"] = _token(skip + limit, request.suggested_only, max_depth)
    return body


async def _load(conn: Any, room_id: str) -> _Room | None:
    state = await store.room_state(conn, room_id)
    if state is None:
        return None
    version = get_room_version(state.room_version)
    contents: dict[str, dict[str, Any]] = {}
    children = []
    for event in state.events:
        pdu = redact_event(version, event.pdu) if event.redacted_by else event.pdu
        content = pdu.get("content") if isinstance(pdu.get("content"), dict) else {}
        if event.type != store.SPACE_CHILD:
            contents[event.type] = content
        elif _valid_child(event.state_key, content):
            children.append((event.state_key, content, event.sender, event.origin_server_ts))
    children.sort(key=_child_order)
    return _Room(state, contents, children)


def _valid_child(state_key: str, content: dict[str, Any]) -> bool:
    via = content.get("via")
    return state_key.startswith("!") and isinstance(via, list) and bool(via) and all(isinstance(v, str) for v in via)


def _child_order(child: tuple[str, dict[str, Any], str, int]) -> tuple[int, str, int, str]:
    """Spec "Ordering of children within a space": a valid ``order`` first (by code
    points), then by the child event's timestamp, then by room ID."""
    order = child[1].get("order")
    valid = isinstance(order, str) and len(order) <= 50 and all("\x20" <= ch <= "\x7e" for ch in order)
    return (0, order, child[3], child[0]) if valid else (1, "", child[3], child[0])  # type: ignore[return-value]


async def _may_see(conn: Any, user_id: str, room: _Room) -> bool:
    membership = await room_store.get_membership(conn, room.state.room_id, user_id)
    if membership is not None and membership.membership in ("join", "invite"):
        return True
    join_rules = room.contents.get("m.room.join_rules", {})
    join_rule = join_rules.get("join_rule")
    if join_rule in OPEN_JOIN_RULES:
        return True
    if room.contents.get("m.room.history_visibility", {}).get("history_visibility") == "world_readable":
        return True
    if join_rule in ("restricted", "knock_restricted"):
        allowed = _allowed_room_ids(join_rules)
        mine = await room_store.memberships_in(conn, user_id, allowed)
        return any(m.membership == "join" for m in mine.values())
    return False


def _allowed_room_ids(join_rules: dict[str, Any]) -> list[str]:
    allow = join_rules.get("allow")
    return [a["room_id"] for a in allow if isinstance(a, dict) and a.get("type") == "m.room_membership"
            and isinstance(a.get("room_id"), str)] if isinstance(allow, list) else []


def _entry(room: _Room) -> dict[str, Any]:
    """A SpaceHierarchyRoomsChunk: the room's summary and its m.space.child events."""
    state = room.state
    entry = directory_entry(PublishedRoom(state.room_id, state.num_joined_members, dict(room.contents)))
    entry["room_version"] = state.room_version
    encryption = room.contents.get("m.room.encryption", {}).get("algorithm")
    if isinstance(encryption, str):
        entry["encryption"] = encryption
    allowed = _allowed_room_ids(room.contents.get("m.room.join_rules", {}))
    if allowed:
        entry["allowed_room_ids"] = allowed
    entry["children_state"] = [
        {"type": store.SPACE_CHILD, "state_key": key, "content": content, "sender": sender, "origin_server_ts": ts}
        for key, content, sender, ts in room.children
    ]
    return entry


def _token(skip: int, suggested_only: bool, max_depth: int) -> str:
    raw = orjson.dumps({"skip": skip, "suggested_only": suggested_only, "max_depth": max_depth})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _skip(request: Request, max_depth: int) -> int:
    """How many rooms the token's earlier pages showed; the filters must not change."""
    assert request.from_token is not None
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(request.from_token + "=" * (-len(request.from_token) % 4)))
        skip, suggested_only, depth = raw["skip"], raw["suggested_only"], raw["max_depth"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise invalid_param("Unknown 'from' token") from None
    if not isinstance(skip, int) or not 0 < skip < MAX_ROOMS:
        raise invalid_param("Unknown 'from' token")
    if suggested_only != request.suggested_only or depth != max_depth:
        raise MatrixError(400, "M_INVALID_PARAM", "suggested_only and max_depth cannot change on paginated requests")
    return skip
