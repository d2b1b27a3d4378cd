"""Sync filters (spec: client-server-api "Filtering"; definitions/sync_filter.yaml),
parsed once into frozen values: the parts /sync honours."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from homeserver.errors import MatrixError
from homeserver.timeline.filters import RoomEventFilter, glob_match, parse_room_event_filter, string_list
from homeserver.server import HomeServer
from homeserver.storage import sync as sync_store

DEFAULT_TIMELINE_LIMIT = 10
MAX_TIMELINE_LIMIT = 100


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The basic filter (definitions/event_filter.yaml) for presence and account data."""

    types: tuple[str, ...] | None = None
    not_types: tuple[str, ...] = ()
    senders: tuple[str, ...] | None = None
    not_senders: tuple[str, ...] = ()
    limit: int | None = None

    def allows(self, event_type: str, sender: str | None = None) -> bool:
        if any(glob_match(p, event_type) for p in self.not_types):
            return False
        if self.types is not None and not any(glob_match(p, event_type) for p in self.types):
            return False
        if sender is not None:
            if sender in self.not_senders or (self.senders is not None and sender not in self.senders):
                return False
        return True


@dataclass(frozen=True, slots=True)
class SyncFilter:
    rooms: tuple[str, ...] | None = None
    not_rooms: tuple[str, ...] = ()
    include_leave: bool = False
    timeline: RoomEventFilter = RoomEventFilter()
    state: RoomEventFilter = RoomEventFilter()
    ephemeral: EventFilter = EventFilter()
    room_account_data: EventFilter = EventFilter()
    presence: EventFilter = EventFilter()
    account_data: EventFilter = EventFilter()
    event_fields: tuple[str, ...] | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def timeline_limit(self) -> int:
        return min(self.timeline.limit or DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT)

    def room_allowed(self, room_id: str) -> bool:
        return room_id not in self.not_rooms and (self.rooms is None or room_id in self.rooms)

    def rooms_allowed(self, room_ids: Iterable[str]) -> list[str]:
        return [r for r in room_ids if self.room_allowed(r)]


def _object(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise MatrixError(400, "M_BAD_JSON", f"filter '{key}' must be an object")
    return value


def _event_filter(raw: dict[str, Any]) -> EventFilter:
    limit = raw.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise MatrixError(400, "M_BAD_JSON", "filter 'limit' must be a non-negative integer")
    return EventFilter(
        types=string_list(raw, "types"), not_types=string_list(raw, "not_types") or (),
        senders=string_list(raw, "senders"), not_senders=string_list(raw, "not_senders") or (), limit=limit,
    )


def parse_sync_filter(raw: Any) -> SyncFilter:
    if not isinstance(raw, dict):
        raise MatrixError(400, "M_BAD_JSON", "A filter must be a JSON object")
    room = _object(raw, "room")
    include_leave = room.get("include_leave", False)
    if not isinstance(include_leave, bool):
        raise MatrixError(400, "M_BAD_JSON", "filter 'include_leave' must be a boolean")
    event_format = raw.get("event_format", "client")
    if event_format not in ("client", "federation"):
        raise MatrixError(400, "M_BAD_JSON", "filter 'event_format' must be client or federation")
    return SyncFilter(
        rooms=string_list(room, "rooms"),
        not_rooms=string_list(room, "not_rooms") or (),
        include_leave=include_leave,
        timeline=parse_room_event_filter(_object(room, "timeline")),
        state=parse_room_event_filter(_object(room, "state")),
        ephemeral=_event_filter(_object(room, "ephemeral")),
        room_account_data=_event_filter(_object(room, "account_data")),
        presence=_event_filter(_object(raw, "presence")),
        account_data=_event_filter(_object(raw, "account_data")),
        event_fields=string_list(raw, "event_fields"),
        raw=raw,
    )


def apply_event_fields(event: dict[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
    """Keep only the listed dotted fields (spec: ``event_fields``; ``\\.`` escapes a dot)."""
    if fields is None:
        return event
    out: dict[str, Any] = {}
    for path in fields:
        parts = [p.replace("\x00", ".") for p in path.replace("\\.", "\x00").split(".")]
        source: Any = event
        for part in parts:
            if not isinstance(source, dict) or part not in source:
                break
            source = source[part]
        else:
            target = out
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = source
    return out


async def create_filter(hs: HomeServer, user_id: str, definition: dict[str, Any]) -> str:
    parse_sync_filter(definition)  # refuse what /sync could not use
    return str(await sync_store.insert_filter(hs.db.pool, user_id, definition))


async def load_filter(hs: HomeServer, user_id: str, filter_id: str) -> dict[str, Any]:
    stored = None
    if filter_id.isdigit() and len(filter_id) < 19:
        stored = await sync_store.get_filter(hs.db.pool, user_id, int(filter_id))
    if stored is None:
        raise MatrixError(404, "M_NOT_FOUND", "Unknown filter")
    return stored


async def filter_for_sync(hs: HomeServer, user_id: str, raw: str | None) -> SyncFilter:
    """The ``filter`` query parameter of /sync: a filter ID or inline JSON."""
    if raw is None:
        return parse_sync_filter({})
    if raw.lstrip().startswith("{"):
        try:
            return parse_sync_filter(orjson.loads(raw))
        except orjson.JSONDecodeError:
            raise MatrixError(400, "M_NOT_JSON", "'filter' is not JSON") from None
    return parse_sync_filter(await load_filter(hs, user_id, raw))
