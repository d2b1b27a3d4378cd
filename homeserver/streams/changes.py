"""What a writer announces once its transaction has committed: a ``Change``.

A change names the positions it took per stream, the rooms and users whose /syncs it may
concern, and the cache entries it made stale. Local changes also carry what was just
written (``events``), so a woken long-poll can answer from memory; that part never
crosses processes. ``encode`` and ``decode`` turn the rest into NOTIFY payloads, which
PostgreSQL limits to 8000 bytes: a large change is split into several, each naming a
part of its rooms and users with the same positions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from homeserver.streams.positions import Stream

# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; leave room for the framing.
MAX_PAYLOAD_BYTES = 7000


@dataclass(frozen=True, slots=True)
class Invalidation:
    """A stale cache entry: ``key`` None means the whole cache. ``here`` False: stale in
    the other processes only (the writer updated its own copy)."""

    cache: str
    key: str | None = None
    here: bool = True


@dataclass(frozen=True, slots=True)
class Notify:
    """A push action a new event recorded for a local user."""

    user_id: str
    notify: bool
    highlight: bool


@dataclass(frozen=True, slots=True)
class CommittedEvent:
    """A room event this process just persisted, as /sync would read it back."""

    event_id: str
    room_id: str
    stream_ordering: int
    pdu: Mapping[str, Any] = field(repr=False)
    # The sending device's client transaction, for ``unsigned.transaction_id``.
    txn: tuple[str, str] | None = None
    thread_id: str = "main"
    notifies: tuple[Notify, ...] = ()

    @property
    def sender(self) -> str:
        return self.pdu["sender"]

    @property
    def type(self) -> str:
        return self.pdu["type"]

    @property
    def is_state(self) -> bool:
        return "state_key" in self.pdu


@dataclass(frozen=True, slots=True)
class Change:
    # The highest position taken in each stream; empty for a change without positions
    # (a cache invalidation, or a wake-up for something kept outside the streams).
    positions: Mapping[Stream, int] = field(default_factory=dict)
    rooms: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    invalidations: tuple[Invalidation, ...] = ()
    # Local users with pushers whom new events notify (for the pusher pool).
    push_users: frozenset[str] = frozenset()
    # Local users who read something (their pushers' badges change).
    readers: frozenset[str] = frozenset()
    # Local users who acted (presence: sending keeps a user online).
    actors: frozenset[str] = frozenset()
    # What was written, when this process wrote it; empty for another process's change.
    events: tuple[CommittedEvent, ...] = field(default=(), compare=False)
    # The process that wrote it ("" for this one).
    origin: str = ""

    def concerns(self, user_id: str, rooms: frozenset[str]) -> bool:
        return user_id in self.users or not self.rooms.isdisjoint(rooms)

    def after(self, token: Mapping[Stream, int] | tuple[int, ...]) -> bool:
        """Whether any of its positions lies past ``token`` (a change without positions
        is news to everyone)."""
        return not self.positions or any(p > token[s] for s, p in self.positions.items())


def encode(change: Change, origin: str) -> list[str]:
    """NOTIFY payloads for another process: the change without its local payload."""
    head: dict[str, Any] = {"o": origin, "p": {str(int(s)): p for s, p in change.positions.items()}}
    if change.invalidations:
        head["i"] = [[i.cache, i.key] for i in change.invalidations]
    lists = {"r": change.rooms, "u": change.users, "pu": change.push_users, "rd": change.readers}
    payloads: list[str] = []
    current = dict(head)
    size = len(orjson.dumps(current))
    for key, values in lists.items():
        for value in sorted(values):
            item = len(orjson.dumps(value)) + 1
            if size + item + len(key) + 4 > MAX_PAYLOAD_BYTES and any(k in current for k in lists):
                payloads.append(orjson.dumps(current).decode())
                current = {"o": origin, "p": head["p"]}
                size = len(orjson.dumps(current))
            current.setdefault(key, []).append(value)
            size += item + len(key) + 4
    payloads.append(orjson.dumps(current).decode())
    return payloads


def decode(raw: Any) -> Change:
    """A change announced by another process (``encode``, parsed); ValueError if malformed."""
    try:
        return Change(
            positions={Stream(int(s)): int(p) for s, p in raw.get("p", {}).items()},
            rooms=frozenset(_strings(raw.get("r"))),
            users=frozenset(_strings(raw.get("u"))),
            invalidations=tuple(Invalidation(str(c), None if k is None else str(k)) for c, k in raw.get("i", ())),
            push_users=frozenset(_strings(raw.get("pu"))),
            readers=frozenset(_strings(raw.get("rd"))),
            origin=str(raw["o"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"not a change: {str(raw)[:100]!r}") from e


def _strings(values: Iterable[Any] | None) -> Iterator[str]:
    for value in values or ():
        if not isinstance(value, str):
            raise ValueError("expected strings")
        yield value
