"""Event filters (spec: client-server-api "Filtering"): the RoomEventFilter fields that
narrow /messages and /context, parsed once at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.errors import MatrixError


@dataclass(frozen=True, slots=True)
class RoomEventFilter:
    types: tuple[str, ...] | None = None
    not_types: tuple[str, ...] = ()
    senders: tuple[str, ...] | None = None
    not_senders: tuple[str, ...] = ()
    limit: int | None = None
    lazy_load_members: bool = False
    unread_thread_notifications: bool = False

    def allows(self, event_type: str, sender: str) -> bool:
        """The filter in Python, as ``type_patterns`` and the sender lists are in SQL."""
        if any(glob_match(p, event_type) for p in self.not_types) or sender in self.not_senders:
            return False
        if self.types is not None and not any(glob_match(p, event_type) for p in self.types):
            return False
        return self.senders is None or sender in self.senders

    def type_patterns(self) -> tuple[list[str] | None, list[str] | None]:
        """LIKE patterns for ``types`` and ``not_types`` (``*`` is the spec's wildcard)."""
        return (
            [_like(t) for t in self.types] if self.types is not None else None,
            [_like(t) for t in self.not_types] or None,
        )


def glob_match(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern``, where ``*`` matches any run of characters
    and nothing else is special (spec: "Filtering"). Linear in both: each piece between
    stars is found left to right, which is the leftmost-shortest match a star needs."""
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return value == pattern
    first, *middle, last = pieces
    if len(value) < len(first) + len(last) or not value.startswith(first) or not value.endswith(last):
        return False
    at, end = len(first), len(value) - len(last)
    for piece in middle:
        found = value.find(piece, at, end)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def string_list(raw: dict[str, Any], key: str) -> tuple[str, ...] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MatrixError(400, "M_BAD_JSON", f"filter '{key}' must be an array of strings")
    return tuple(value)


def parse_room_event_filter(raw: Any) -> RoomEventFilter:
    if raw is None:
        return RoomEventFilter()
    if not isinstance(raw, dict):
        raise MatrixError(400, "M_BAD_JSON", "A filter must be a JSON object")
    limit = raw.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise MatrixError(400, "M_BAD_JSON", "filter 'limit' must be a positive integer")
    lazy = raw.get("lazy_load_members", False)
    threaded = raw.get("unread_thread_notifications", False)
    if not isinstance(lazy, bool) or not isinstance(threaded, bool):
        raise MatrixError(400, "M_BAD_JSON", "filter 'lazy_load_members' and 'unread_thread_notifications' are booleans")
    return RoomEventFilter(
        types=string_list(raw, "types"),
        not_types=string_list(raw, "not_types") or (),
        senders=string_list(raw, "senders"),
        not_senders=string_list(raw, "not_senders") or (),
        limit=limit,
        lazy_load_members=lazy,
        unread_thread_notifications=threaded,
    )
