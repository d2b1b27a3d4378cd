"""Reading rooms: single events, history pages, context, state and members, each through
the history-visibility filter (rooms/visibility.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.errors import MatrixError
from homeserver.timeline import visibility
from homeserver.timeline.filters import RoomEventFilter
from homeserver.timeline.format import client_events
from homeserver.timeline.tokens import parse_stream_token, stream_token
from homeserver.server import HomeServer
from homeserver.storage import events as event_store
from homeserver.storage import rooms as room_store
from homeserver.storage import state as state_store
from homeserver.storage.events import StoredEvent

MAX_PAGE = 1000


async def _room_version(conn: Any, room_id: str) -> str:
    version = await room_store.get_room_version(conn, room_id)
    if version is None:
        raise MatrixError(404, "M_NOT_FOUND", "Unknown room")
    return version


async def get_event(hs: HomeServer, user_id: str, room_id: str, event_id: str) -> dict[str, Any]:
    """GET /rooms/{roomId}/event/{eventId}: 404 also when the user may not see it."""
    async with hs.db.pool.acquire() as conn:
        event = await event_store.get_event(conn, event_id)
        if event is None or event.room_id != room_id or event.rejected:
            raise MatrixError(404, "M_NOT_FOUND", "Event not found")
        await visibility.check_room_readable(conn, user_id, room_id)
        if not await visibility.filter_events(conn, user_id, [event]):
            raise MatrixError(404, "M_NOT_FOUND", "Event not found")
        return (await client_events(conn, [event], await _room_version(conn, room_id), user_id=user_id))[0]


@dataclass(frozen=True, slots=True)
class Page:
    chunk: list[dict[str, Any]]
    start: str
    end: str | None
    state: list[dict[str, Any]]


async def messages(
    hs: HomeServer, user_id: str, room_id: str, *, from_token: str | None, to_token: str | None,
    backwards: bool, limit: int, event_filter: RoomEventFilter,
) -> Page:
    """GET /rooms/{roomId}/messages."""
    limit = min(event_filter.limit or limit, MAX_PAGE)
    async with hs.db.pool.acquire() as conn:
        room_version = await _room_version(conn, room_id)
        await visibility.check_room_readable(conn, user_id, room_id)
        if from_token is None:
            start = await event_store.max_stream_ordering(conn) if backwards else 0
        else:
            start = parse_stream_token(from_token)
        bound = parse_stream_token(to_token) if to_token is not None else None
        types, not_types = event_filter.type_patterns()
        window = dict(after=bound, before=start + 1) if backwards else dict(after=start, before=bound + 1 if bound is not None else None)
        events = await event_store.room_events(
            conn, room_id, **window, backwards=backwards, limit=limit, types=types, not_types=not_types,
            senders=list(event_filter.senders) if event_filter.senders is not None else None,
            not_senders=list(event_filter.not_senders) or None,
        )
        end = None
        if events and len(events) == limit:
            last = events[-1].stream_ordering
            end = stream_token(last - 1 if backwards else last)
        elif limit == 0:  # nothing asked for, nothing passed: the page ends where it starts
            end = stream_token(start)
        visible = await visibility.filter_events(conn, user_id, events)
        chunk = await client_events(conn, visible, room_version, user_id=user_id)
        state = await _lazy_members(conn, room_id, visible, room_version) if event_filter.lazy_load_members else []
        return Page(chunk, stream_token(start), end, state)


async def _lazy_members(conn: Any, room_id: str, events: list[StoredEvent], room_version: str) -> list[dict[str, Any]]:
    """The current member events of the page's senders (spec: "Lazy-loading room members")."""
    senders = {e.sender for e in events}
    ids = await state_store.get_current_state_entries(conn, room_id, [("m.room.member", s) for s in senders])
    found = await event_store.get_events(conn, ids.values())
    return await client_events(conn, list(found.values()), room_version)


async def context(
    hs: HomeServer, user_id: str, room_id: str, event_id: str, limit: int, event_filter: RoomEventFilter
) -> dict[str, Any]:
    """GET /rooms/{roomId}/context/{eventId}: the event, some before and after, and the
    state at the event."""
    async with hs.db.pool.acquire() as conn:
        room_version = await _room_version(conn, room_id)
        await visibility.check_room_readable(conn, user_id, room_id)
        event = await event_store.get_event(conn, event_id)
        if event is None or event.room_id != room_id or event.rejected or not await visibility.filter_events(
            conn, user_id, [event]
        ):
            raise MatrixError(404, "M_NOT_FOUND", "Event not found")
        types, not_types = event_filter.type_patterns()
        half = (limit + 1) // 2 if limit else 0
        kwargs: dict[str, Any] = dict(
            types=types, not_types=not_types,
            senders=list(event_filter.senders) if event_filter.senders is not None else None,
            not_senders=list(event_filter.not_senders) or None,
        )
        before = await event_store.room_events(
            conn, room_id, after=None, before=event.stream_ordering, backwards=True, limit=half, **kwargs)
        after = await event_store.room_events(
            conn, room_id, after=event.stream_ordering, before=None, backwards=False, limit=limit - half, **kwargs)
        before = await visibility.filter_events(conn, user_id, before)
        after = await visibility.filter_events(conn, user_id, after)
        state_ids = await state_store.get_state(conn, event.state_group)
        state_events = await event_store.get_events(conn, state_ids.values())
        # One batch, so the page's bundled aggregations cost the same few queries.
        served = await client_events(conn, [*before, event, *after], room_version, user_id=user_id)
        return {
            "event": served[len(before)],
            "events_before": served[:len(before)],
            "events_after": served[len(before) + 1:],
            "start": stream_token((before[-1].stream_ordering if before else event.stream_ordering) - 1),
            "end": stream_token(after[-1].stream_ordering if after else event.stream_ordering),
            "state": await client_events(conn, list(state_events.values()), room_version),
        }


async def _state_for_reader(conn: Any, user_id: str, room_id: str) -> dict[tuple[str, str], str]:
    """Current state for members; for those who left, the state when they left."""
    membership = await visibility.check_room_readable(conn, user_id, room_id)
    if membership is None or membership.membership in ("join", "invite"):
        if membership is not None and membership.membership == "invite":
            raise MatrixError(403, "M_FORBIDDEN", "Join the room to see its state")
        return await state_store.get_current_state(conn, room_id)
    left = await event_store.get_event(conn, membership.event_id)
    assert left is not None
    return await state_store.get_state(conn, left.state_group)


async def room_state(hs: HomeServer, user_id: str, room_id: str) -> list[dict[str, Any]]:
    """GET /rooms/{roomId}/state."""
    async with hs.db.pool.acquire() as conn:
        room_version = await _room_version(conn, room_id)
        ids = await _state_for_reader(conn, user_id, room_id)
        found = await event_store.get_events(conn, ids.values())
        return await client_events(conn, [found[i] for i in ids.values() if i in found], room_version)


async def state_event(hs: HomeServer, user_id: str, room_id: str, event_type: str, state_key: str) -> dict[str, Any]:
    """GET /rooms/{roomId}/state/{eventType}/{stateKey}: the event, in client format."""
    async with hs.db.pool.acquire() as conn:
        room_version = await _room_version(conn, room_id)
        ids = await _state_for_reader(conn, user_id, room_id)
        event_id = ids.get((event_type, state_key))
        event = await event_store.get_event(conn, event_id) if event_id else None
        if event is None:
            raise MatrixError(404, "M_NOT_FOUND", "No such state event")
        return (await client_events(conn, [event], room_version))[0]


async def members(
    hs: HomeServer, user_id: str, room_id: str, at: str | None, membership: str | None, not_membership: str | None
) -> list[dict[str, Any]]:
    """GET /rooms/{roomId}/members."""
    async with hs.db.pool.acquire() as conn:
        room_version = await _room_version(conn, room_id)
        ids = await _state_for_reader(conn, user_id, room_id)
        if at is not None:
            position = parse_stream_token(at)
            latest = await event_store.room_events(conn, room_id, after=None, before=position + 1, backwards=True, limit=1)
            if latest:
                ids = await state_store.get_state(conn, latest[0].state_group)
        member_ids = [eid for (t, _), eid in ids.items() if t == "m.room.member"]
        found = await event_store.get_events(conn, member_ids)
        chosen = [
            e for e in found.values()
            if (membership is None or e.pdu["content"].get("membership") == membership)
            and (not_membership is None or e.pdu["content"].get("membership") != not_membership)
        ]
        chosen.sort(key=lambda e: e.state_key or "")
        return await client_events(conn, chosen, room_version)


async def joined_members(hs: HomeServer, user_id: str, room_id: str) -> dict[str, dict[str, Any]]:
    """GET /rooms/{roomId}/joined_members: only for current members (spec)."""
    async with hs.db.pool.acquire() as conn:
        await _room_version(conn, room_id)
        membership = await room_store.get_membership(conn, room_id, user_id)
        if membership is None or membership.membership != "join":
            raise MatrixError(403, "M_FORBIDDEN", "You are not in this room")
        joined = await room_store.members(conn, room_id)
        found = await event_store.get_events(conn, [m.event_id for m in joined])
        return {
            m.user_id: {k: v for k, v in (("display_name", found[m.event_id].pdu["content"].get("displayname")),
                                          ("avatar_url", found[m.event_id].pdu["content"].get("avatar_url")))
                        if isinstance(v, str)}
            for m in joined if m.event_id in found
        }


async def joined_rooms(hs: HomeServer, user_id: str) -> list[str]:
    return [m.room_id for m in await room_store.rooms_for_user(hs.db.pool, user_id)]


# timestamp_to_event looks at most this many events for one the user may see.
TIMESTAMP_SCAN = 500


async def event_at_time(hs: HomeServer, user_id: str, room_id: str, ts: int, forwards: bool) -> StoredEvent:
    """GET /rooms/{roomId}/timestamp_to_event: the event the user may see closest to
    ``ts`` in the direction asked (spec: "Jumping to a date")."""
    async with hs.db.pool.acquire() as conn:
        await _room_version(conn, room_id)
        await visibility.check_room_readable(conn, user_id, room_id)
        after = None
        for _ in range(TIMESTAMP_SCAN // 50):
            batch = await event_store.events_near_time(conn, room_id, ts, forwards, after, 50)
            visible = await visibility.filter_events(conn, user_id, batch)
            if visible:
                return visible[0]
            if len(batch) < 50:
                break
            after = (batch[-1].origin_server_ts, batch[-1].stream_ordering)
    raise MatrixError(404, "M_NOT_FOUND", "No event found in that direction")
