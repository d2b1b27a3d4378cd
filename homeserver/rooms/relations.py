"""Reading relations: the children of an event (GET /relations) and a room's threads
(GET /threads), through the history-visibility filter like every read path.

Both page by stream ordering with the same ``s<N>`` tokens as /messages
(rooms/read.py), so a client may start /relations from a /messages token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.errors import MatrixError, forbidden, not_found
from homeserver.timeline import visibility
from homeserver.timeline.format import client_events
from homeserver.timeline.tokens import parse_stream_token, stream_token
from homeserver.server import HomeServer
from homeserver.storage import events as event_store
from homeserver.storage import relations as relation_store
from homeserver.storage import rooms as room_store
from homeserver.storage.events import StoredEvent

MAX_PAGE = 100
# Spec (v1.10, "recurse"): servers SHOULD traverse at least 3 levels of relationships.
RECURSION_DEPTH = 3


@dataclass(frozen=True, slots=True)
class RelationsQuery:
    rel_type: str | None = None
    event_type: str | None = None
    from_token: str | None = None
    to_token: str | None = None
    backwards: bool = True
    limit: int = 20
    recurse: bool = False


@dataclass(frozen=True, slots=True)
class RelationsPage:
    chunk: list[dict[str, Any]]
    next_batch: str | None
    prev_batch: str | None
    recursion_depth: int


async def _room_version(conn: Any, room_id: str, missing: MatrixError) -> str:
    version = await room_store.get_room_version(conn, room_id)
    if version is None:
        raise missing
    return version


async def _visible_parent(conn: Any, user_id: str, room_id: str, event_id: str) -> StoredEvent:
    """The parent event, or 404: the spec answers 404 both for an unknown parent and for
    one the user may not see, so that neither leaks whether it exists."""
    try:
        await visibility.check_room_readable(conn, user_id, room_id)
    except MatrixError as e:
        if e.status == 403:
            raise not_found("Event not found") from None
        raise
    parent = await event_store.get_event(conn, event_id)
    if parent is None or parent.room_id != room_id or parent.rejected or not await visibility.filter_events(
        conn, user_id, [parent]
    ):
        raise not_found("Event not found")
    return parent


async def relations(hs: HomeServer, user_id: str, room_id: str, event_id: str, query: RelationsQuery) -> RelationsPage:
    """GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]."""
    limit = min(query.limit, MAX_PAGE)
    async with hs.db.pool.acquire() as conn:
        room_version = await _room_version(conn, room_id, not_found("Unknown room"))
        await _visible_parent(conn, user_id, room_id, event_id)
        if query.from_token is None:
            start = await event_store.max_stream_ordering(conn) if query.backwards else 0
        else:
            start = parse_stream_token(query.from_token)
        bound = parse_stream_token(query.to_token) if query.to_token is not None else None
        window = (
            dict(after=bound, before=start + 1) if query.backwards
            else dict(after=start, before=bound + 1 if bound is not None else None)
        )
        # One more than asked says whether there is a next page.
        ids = await relation_store.relation_page(
            conn, room_id, event_id, rel_type=query.rel_type, event_type=query.event_type, **window,
            backwards=query.backwards, limit=limit + 1, depth=RECURSION_DEPTH if query.recurse else 1,
        )
        found = await event_store.get_events(conn, ids[:limit])
        events = [found[i] for i in ids[:limit] if i in found]
        next_batch = None
        if len(ids) > limit and events:
            last = events[-1].stream_ordering
            next_batch = stream_token(last - 1 if query.backwards else last)
        visible = await visibility.filter_events(conn, user_id, events)
        return RelationsPage(
            chunk=await client_events(conn, visible, room_version, user_id=user_id),
            next_batch=next_batch,
            prev_batch=query.from_token,
            recursion_depth=RECURSION_DEPTH if query.recurse else 1,
        )


@dataclass(frozen=True, slots=True)
class ThreadsPage:
    chunk: list[dict[str, Any]]
    next_batch: str | None


async def threads(
    hs: HomeServer, user_id: str, room_id: str, *, participated: bool, from_token: str | None, limit: int
) -> ThreadsPage:
    """GET /rooms/{roomId}/threads: thread roots, the most recently active first."""
    limit = min(limit, MAX_PAGE)
    async with hs.db.pool.acquire() as conn:
        # The spec's 403 covers a room that does not exist too.
        room_version = await _room_version(conn, room_id, forbidden("You are not allowed to view this room"))
        await visibility.check_room_readable(conn, user_id, room_id)
        before = parse_stream_token(from_token) + 1 if from_token is not None else None
        roots = await relation_store.thread_roots(
            conn, room_id, before=before, participant=user_id if participated else None, limit=limit + 1
        )
        next_batch = stream_token(roots[limit - 1].latest - 1) if len(roots) > limit else None
        roots = roots[:limit]
        found = await event_store.get_events(conn, [r.event_id for r in roots])
        events = [found[r.event_id] for r in roots if r.event_id in found]
        visible = await visibility.filter_events(conn, user_id, events)
        chunk = await client_events(conn, visible, room_version, user_id=user_id)
        # A root whose every thread event is hidden from this reader is no thread to them.
        chunk = [e for e in chunk if "m.thread" in e.get("unsigned", {}).get("m.relations", {})]
        return ThreadsPage(chunk, next_batch)
