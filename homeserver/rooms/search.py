"""Server-side search (spec: client-server-api "Server Side Search"), category
``room_events``: full-text search over the rooms a user is or was in, served through the
history-visibility filter.

The search term's words are matched as whole words, case-folded by PostgreSQL's 'simple'
configuration (no stemming, so every language is found by its words; accents are kept),
and the last word also as a prefix, so "meet tomor" finds "meeting tomorrow"'s second
word. Ranking is PostgreSQL's cover density rank.

Only rooms the user is joined to, has left or was banned from (not forgotten ones) are
searched, and every candidate passes ``visibility.filter_events``: a room joined late
with ``joined`` visibility shows nothing from before the join, a room left shows nothing
from after the leave. Redacted events are never found.

Pagination is keyset: ``next_batch`` names the last candidate examined (its rank and
stream ordering) and, for a group's token, the group it continues. ``count`` is the
number of matching events in the searched rooms less those this page found hidden: exact
when one page holds every match, an estimate otherwise (the spec allows one).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from homeserver.errors import MatrixError, invalid_param
from homeserver.rooms import read
from homeserver.timeline import visibility
from homeserver.timeline.tokens import stream_token
from homeserver.timeline.filters import RoomEventFilter
from homeserver.timeline.format import client_events
from homeserver.server import HomeServer
from homeserver.storage import events as event_store
from homeserver.storage import rooms as room_store
from homeserver.storage import search as search_store
from homeserver.storage import state as state_store
from homeserver.storage.events import StoredEvent
from homeserver.storage.search import KEYS, Hit, SearchQuery

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
MAX_CONTEXT = 50
GROUP_KEYS = ("room_id", "sender")
# Candidates examined per request at most: a page of results hidden from the searcher
# ends early (with a next_batch) rather than scanning a whole room's history.
_MAX_BATCHES = 5
_MAX_BATCH = 500
_SEARCHED_MEMBERSHIPS = ("join", "leave", "ban")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class EventContext:
    before_limit: int = 5
    after_limit: int = 5
    include_profile: bool = False


@dataclass(frozen=True, slots=True)
class RoomEventsCriteria:
    search_term: str
    keys: tuple[str, ...] = KEYS
    event_filter: RoomEventFilter = field(default_factory=RoomEventFilter)
    # The filter's room constraints (RoomEventFilter carries only what /messages needs).
    rooms: tuple[str, ...] | None = None
    not_rooms: tuple[str, ...] = ()
    contains_url: bool | None = None
    order_by: str = "rank"
    event_context: EventContext | None = None
    include_state: bool = False
    group_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Batch:
    """A ``next_batch`` token: continue after this candidate, within this group if any."""

    order_by: str
    rank: float
    stream_ordering: int
    group: tuple[str, str] | None = None

    def encode(self) -> str:
        raw = orjson.dumps([1, self.order_by, self.rank, self.stream_ordering, *(self.group or (None, None))])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_next_batch(raw: str) -> Batch:
    try:
        if len(raw) > 2000:
            raise ValueError
        value = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        version, order_by, rank, position, group_key, group_value = value
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise invalid_param("Invalid 'next_batch' token") from None
    well_formed = (
        version == 1 and order_by in ("rank", "recent")
        and isinstance(rank, (int, float)) and not isinstance(rank, bool) and abs(rank) < 1e30
        and isinstance(position, int) and not isinstance(position, bool) and 0 <= position < 2**63
        and ((group_key is None and group_value is None) or (group_key in GROUP_KEYS and isinstance(group_value, str)))
    )
    if not well_formed:
        raise invalid_param("Invalid 'next_batch' token")
    return Batch(order_by, float(rank), position, (group_key, group_value) if group_key else None)


@dataclass
class _Page:
    hits: list[tuple[Hit, StoredEvent]]
    hidden: int
    cursor: tuple[float, int] | None
    more: bool


async def search_room_events(
    hs: HomeServer, user_id: str, criteria: RoomEventsCriteria, next_batch: Batch | None = None
) -> dict[str, Any]:
    """POST /search, category room_events: the category's response object."""
    if next_batch is not None and next_batch.order_by != criteria.order_by:
        raise invalid_param("'next_batch' belongs to a search with another order_by")
    limit = min(criteria.event_filter.limit or DEFAULT_LIMIT, MAX_LIMIT)
    async with hs.db.pool.acquire() as conn:
        words = await search_store.query_words(conn, criteria.search_term)
        query = await _query(conn, user_id, criteria, words, next_batch)
        if query is None:
            return {"count": 0, "highlights": [], "results": []}
        cursor = (next_batch.rank, next_batch.stream_ordering) if next_batch is not None else None
        page = await _visible_page(conn, user_id, query, cursor, limit, criteria.contains_url)
        total = await search_store.count(conn, query)
        events = [event for _, event in page.hits]
        served = await _serve(conn, user_id, events)
        results = []
        for hit, event in page.hits:
            result: dict[str, Any] = {"rank": hit.rank, "result": served[event.event_id]}
            if criteria.event_context is not None:
                result["context"] = await _context(conn, user_id, event, criteria)
            results.append(result)
    body: dict[str, Any] = {
        "count": max(total - page.hidden, len(results)),
        "highlights": _highlights(words, events),
        "results": results,
    }
    group = next_batch.group if next_batch is not None else None
    if page.more and page.cursor is not None:
        body["next_batch"] = Batch(criteria.order_by, *page.cursor, group).encode()
    if criteria.group_by:
        body["groups"] = _groups(criteria, events, page)
    if criteria.include_state:
        body["state"] = {
            room_id: await read.room_state(hs, user_id, room_id) for room_id in dict.fromkeys(e.room_id for e in events)
        }
    return body


def _tsquery(words: list[str]) -> str:
    """Every word, the last one also as a prefix. Lexemes are quoted per tsquery syntax."""
    quoted = ["'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in words]
    quoted[-1] += ":*"
    return " & ".join(quoted)


async def _query(
    conn: Any, user_id: str, criteria: RoomEventsCriteria, words: list[str], next_batch: Batch | None
) -> SearchQuery | None:
    """The index query, or None when nothing can match."""
    if not words:
        return None
    memberships = await room_store.rooms_for_user(conn, user_id, _SEARCHED_MEMBERSHIPS)
    room_ids = [m.room_id for m in memberships]
    if criteria.rooms is not None:
        room_ids = [r for r in room_ids if r in set(criteria.rooms)]
    room_ids = [r for r in room_ids if r not in set(criteria.not_rooms)]
    event_filter = criteria.event_filter
    senders = list(event_filter.senders) if event_filter.senders is not None else None
    # A group's token only ever narrows the search.
    if next_batch is not None and next_batch.group is not None:
        group_key, group_value = next_batch.group
        if group_key == "room_id":
            room_ids = [r for r in room_ids if r == group_value]
        else:
            senders = [s for s in (senders if senders is not None else [group_value]) if s == group_value]
    if not room_ids or senders == []:
        return None
    types, not_types = event_filter.type_patterns()
    return SearchQuery(
        tsquery=_tsquery(words), room_ids=room_ids, keys=criteria.keys, order_by_rank=criteria.order_by == "rank",
        types=types, not_types=not_types, senders=senders, not_senders=list(event_filter.not_senders) or None,
    )


async def _visible_page(
    conn: Any, user_id: str, query: SearchQuery, cursor: tuple[float, int] | None, limit: int,
    contains_url: bool | None,
) -> _Page:
    """Up to ``limit`` hits the user may see, examining candidates in batches."""
    page = _Page([], 0, cursor, more=False)
    size = limit + 1
    for _ in range(_MAX_BATCHES):
        hits = await search_store.search(conn, query, after=page.cursor, limit=size)
        stored = await event_store.get_events(conn, [h.event_id for h in hits])
        candidates = [stored[h.event_id] for h in hits if h.event_id in stored]
        candidates = [e for e in candidates if contains_url is None or _has_url(e) == contains_url]
        visible = {e.event_id for e in await visibility.filter_events(conn, user_id, candidates)}
        for hit in hits:
            if len(page.hits) == limit:
                page.more = True
                return page
            page.cursor = (hit.rank, hit.stream_ordering)
            if hit.event_id in visible:
                page.hits.append((hit, stored[hit.event_id]))
            else:
                page.hidden += 1
        if len(hits) < size:
            return page
        size = min(size * 4, _MAX_BATCH)
    page.more = True
    return page


def _has_url(event: StoredEvent) -> bool:
    return isinstance(event.pdu.get("content", {}).get("url"), str)


async def _serve(conn: Any, user_id: str, events: list[StoredEvent]) -> dict[str, dict[str, Any]]:
    """Client format, by event ID; each room's events in one batch with its room version."""
    served: dict[str, dict[str, Any]] = {}
    for room_id in dict.fromkeys(e.room_id for e in events):
        in_room = [e for e in events if e.room_id == room_id]
        version = await room_store.get_room_version(conn, room_id)
        if version is None:
            raise MatrixError(500, "M_UNKNOWN", "An event's room has no version")
        for event, json in zip(in_room, await client_events(conn, in_room, version, user_id=user_id)):
            served[event.event_id] = json
    return served


async def _context(conn: Any, user_id: str, event: StoredEvent, criteria: RoomEventsCriteria) -> dict[str, Any]:
    """The events around a result, as /context serves them (the filter applies)."""
    assert criteria.event_context is not None
    before_limit, after_limit = criteria.event_context.before_limit, criteria.event_context.after_limit
    event_filter = criteria.event_filter
    types, not_types = event_filter.type_patterns()
    narrow: dict[str, Any] = dict(
        types=types, not_types=not_types,
        senders=list(event_filter.senders) if event_filter.senders is not None else None,
        not_senders=list(event_filter.not_senders) or None,
    )
    before = await event_store.room_events(
        conn, event.room_id, after=None, before=event.stream_ordering, backwards=True, limit=before_limit, **narrow
    ) if before_limit else []
    after = await event_store.room_events(
        conn, event.room_id, after=event.stream_ordering, before=None, backwards=False, limit=after_limit, **narrow
    ) if after_limit else []
    before = await visibility.filter_events(conn, user_id, before)
    after = await visibility.filter_events(conn, user_id, after)
    served = await _serve(conn, user_id, [*before, *after])
    context: dict[str, Any] = {
        "start": stream_token((before[-1].stream_ordering if before else event.stream_ordering) - 1),
        "end": stream_token(after[-1].stream_ordering if after else event.stream_ordering),
        "events_before": [served[e.event_id] for e in before],
        "events_after": [served[e.event_id] for e in after],
    }
    if criteria.event_context.include_profile:
        context["profile_info"] = await _profiles(conn, [*before, event, *after], (after or [event])[-1])
    return context


async def _profiles(conn: Any, events: list[StoredEvent], last: StoredEvent) -> dict[str, dict[str, str]]:
    """The senders' display names and avatars as the room knew them at ``last``."""
    senders = {e.sender for e in events}
    ids = await state_store.get_state_entries(conn, last.state_group, [("m.room.member", s) for s in senders])
    members = await event_store.get_events(conn, ids.values())
    out: dict[str, dict[str, str]] = {}
    for (_, sender), event_id in ids.items():
        member = members.get(event_id)
        content = member.pdu.get("content", {}) if member is not None and member.redacted_by is None else {}
        out[sender] = {k: content[k] for k in ("displayname", "avatar_url") if isinstance(content.get(k), str)}
    return out


def _groups(criteria: RoomEventsCriteria, events: list[StoredEvent], page: _Page) -> dict[str, Any]:
    groups: dict[str, Any] = {}
    for key in criteria.group_by:
        by_value: dict[str, dict[str, Any]] = {}
        for event in events:
            value = event.room_id if key == "room_id" else event.sender
            group = by_value.setdefault(value, {"order": len(by_value) + 1, "results": []})
            group["results"].append(event.event_id)
        if page.more and page.cursor is not None:
            for value, group in by_value.items():
                group["next_batch"] = Batch(criteria.order_by, *page.cursor, (key, value)).encode()
        groups[key] = by_value
    return groups


def _highlights(words: list[str], events: list[StoredEvent]) -> list[str]:
    """The words to highlight: the search's own, and the result words its last word
    matched as a prefix."""
    if not words:
        return []
    highlights = set(words)
    prefix = words[-1]
    for event in events:
        found = search_store.searchable_text(event.pdu)
        if found is not None:
            highlights.update(w for w in _WORD.findall(found[1].lower()) if w.startswith(prefix))
    return sorted(highlights)
