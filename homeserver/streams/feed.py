"""The change feed: one way for every change a client can see to reach those who wait
for it (DESIGN.md "The event graph and streams").

A writer brackets its transaction with ``feed.writing(streams...)``, draws its positions
through the writer, and says which rooms and users the change touches and which cache
entries it makes stale. When the transaction has committed, the feed

1. drops the stale cache entries here at once, and in every other process (through
   ``streams.peers``; a write that must be seen everywhere before it is answered, such
   as a logout, waits for the others to confirm);
2. holds the change until every position it took is readable (no write of those
   streams with a lower position is still in flight, in any process), then
3. dispatches it: the waiters it concerns wake with it, and subscribers (the pusher
   pool, presence) hear of it.

A change is therefore never dispatched before a /sync could read it, and never lost
because an older write was still running when it committed: it simply waits for that
write. Changes are dispatched in position order; the latest ones are remembered, so a
/sync that parks after computing at a token is told of what was dispatched meanwhile.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from homeserver.storage.stream_locks import lock_sql
from homeserver.streams.changes import Change, CommittedEvent, Invalidation
from homeserver.streams.positions import ALL_STREAMS, Positions, Stream
from homeserver.streams.waiters import Waiter, Waiters

log = logging.getLogger(__name__)

# How many dispatched changes are remembered for /syncs that park late (those
# dispatched while they computed: a handful; one that missed more looks for itself).
RECENT_CHANGES = 2_000


class PeerLink(Protocol):
    """The other processes on the database (``streams.peers.Peers``)."""

    @property
    def active(self) -> bool: ...
    def settled(self, stream: Stream) -> int: ...
    async def publish(self, change: Change, confirm: bool) -> None: ...
    def settle(self) -> None: ...


@dataclass
class Writer:
    """One write's handle: draw positions, and describe the change."""

    _feed: ChangeFeed
    _token: int
    streams: frozenset[Stream]
    positions: dict[Stream, int] = field(default_factory=dict)
    rooms: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    invalidations: list[Invalidation] = field(default_factory=list)
    push_users: set[str] = field(default_factory=set)
    readers: set[str] = field(default_factory=set)
    actors: set[str] = field(default_factory=set)
    events: list[CommittedEvent] = field(default_factory=list)
    # Another process must have dropped the stale entries before this write is answered.
    confirm: bool = False

    def expect(self) -> None:
        """A statement that draws positions itself is about to be sent (it takes
        ``lock_sql`` first, and ``record`` reports what it drew): from now on this write
        holds readers back. Draw positions as late in a transaction as you can."""
        self._feed._positions.expect(self._token)

    async def next(self, conn: Any, stream: Stream, count: int = 1) -> list[int]:
        """Draw ``count`` positions of ``stream``, in order, inside the transaction."""
        self.expect()
        rows = await conn.fetch(
            f"SELECT nextval('stream_seq') AS p FROM (SELECT {lock_sql(stream)}) l, generate_series(1, $1)", count,
        )
        allocated = [r["p"] for r in rows]
        self.record(stream, allocated)
        return allocated

    def record(self, stream: Stream, allocated: Iterable[int]) -> None:
        """Positions of ``stream`` a statement drew itself (``expect`` came first, and the
        statement took ``lock_sql`` before drawing them)."""
        allocated = list(allocated)
        if not allocated:
            return
        if stream not in self.streams:
            raise ValueError(f"{stream.name} is not among this write's streams")
        self._feed._positions.allocated(self._token, allocated)
        self.positions[stream] = max(self.positions.get(stream, 0), *allocated)

    def touch(self, *, rooms: Iterable[str] = (), users: Iterable[str] = ()) -> None:
        self.rooms.update(rooms)
        self.users.update(users)

    def invalidate(self, cache: str, key: str | None = None, *, confirm: bool = False, here: bool = True) -> None:
        """``key`` of ``cache`` is stale once this commits (``here=False``: in the other
        processes only, as the writer updates its own copy itself)."""
        self.invalidations.append(Invalidation(cache, key, here))
        self.confirm |= confirm

    def change(self) -> Change:
        return Change(
            positions=dict(self.positions), rooms=frozenset(self.rooms), users=frozenset(self.users),
            invalidations=tuple(self.invalidations), push_users=frozenset(self.push_users),
            readers=frozenset(self.readers), actors=frozenset(self.actors), events=tuple(self.events),
        )


Subscriber = Callable[[Change], None]


@dataclass
class ChangeFeed:
    _positions: Positions
    _waiters: Waiters = field(default_factory=Waiters)
    _caches: dict[str, Callable[[str | None], None]] = field(default_factory=dict)
    _subscribers: list[Subscriber] = field(default_factory=list)
    # Committed changes waiting for their positions to be readable: a heap per stream,
    # by the change's position in its first stream, and those of several streams whose
    # first stream is readable but not yet another one.
    _pending: dict[Stream, list[tuple[int, int, Change]]] = field(default_factory=dict)
    _straddling: list[Change] = field(default_factory=list)
    _tiebreak: itertools.count = field(default_factory=itertools.count)
    _readable: list[int] = field(default_factory=list)
    # Dispatched changes by dispatch sequence number: (seq, change).
    _recent: deque[tuple[int, Change]] = field(default_factory=lambda: deque(maxlen=RECENT_CHANGES))
    _seq: int = 0
    peers: PeerLink | None = None
    # Set at shutdown: parked long-polls return at once and none park again.
    closing: bool = False

    @classmethod
    async def load(cls, conn: Any) -> ChangeFeed:
        """Nothing is readable until ``start_at`` (streams.peers, at start-up) says how far
        is settled."""
        last = await conn.fetchval("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM stream_seq")
        return cls(Positions(last_allocated=last), _readable=[0] * len(ALL_STREAMS))

    # -- writing ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def writing(self, *streams: Stream) -> AsyncIterator[Writer]:
        """Bracket a write: enter before its transaction begins, leave after it commits."""
        token = self._positions.begin(streams)
        writer = Writer(self, token, frozenset(streams))
        try:
            yield writer
        except BaseException:
            self._positions.end(token)
            self._advance()
            raise
        change = writer.change()
        self._positions.end(token)
        await self.publish(change, confirm=writer.confirm)

    async def publish(self, change: Change, *, confirm: bool = False) -> None:
        """Announce a committed change (``writing`` does this for its writer; call it
        directly for a change that took no positions, such as a cache invalidation).
        With ``confirm``, return once every other process has dropped its stale entries."""
        self._invalidate(change.invalidations, local=True)
        self._hold(change)
        self._advance()
        if self.peers is not None and self.peers.active:
            await self.peers.publish(change, confirm)

    def receive(self, change: Change) -> None:
        """A change another process committed (``streams.peers``)."""
        self._invalidate(change.invalidations)
        for position in change.positions.values():
            self._positions.observe(position)
        self._hold(change)
        self._advance()

    # -- caches and subscribers -------------------------------------------------------

    def register_cache(self, name: str, invalidate: Callable[[str | None], None]) -> None:
        """``invalidate(key)`` drops an entry (``None``: everything) of the cache ``name``."""
        self._caches[name] = invalidate

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber(change)`` for every change, as it is dispatched."""
        self._subscribers.append(subscriber)

    def forget_everything(self) -> None:
        """Drop every cache and wake every waiter to look for itself: after news may have
        been missed (a lost database connection, a peer that died mid-announcement)."""
        for invalidate in self._caches.values():
            invalidate(None)
        self._waiters.wake_all()

    def _invalidate(self, invalidations: Iterable[Invalidation], *, local: bool = False) -> None:
        for invalidation in invalidations:
            if local and not invalidation.here:
                continue
            invalidate = self._caches.get(invalidation.cache)
            if invalidate is not None:
                invalidate(invalidation.key)

    # -- reading ----------------------------------------------------------------------

    def current(self) -> tuple[tuple[int, ...], int]:
        """The readable position of every stream, and the dispatch sequence number they
        go with: every change up to these positions has been dispatched, and every one
        dispatched later lies past them."""
        return tuple(self._readable), self._seq

    def readable(self, stream: Stream) -> int:
        return self._readable[stream]

    @contextlib.contextmanager
    def waiter(self, user_id: str, rooms: Iterable[str], after: tuple[int, ...], seq: int) -> Iterator[Waiter]:
        """Park a /sync that computed its response at ``(after, seq)`` (from ``current``);
        it is woken by whatever was dispatched since that concerns it."""
        waiter = Waiter(user_id, frozenset(rooms), after)
        if self.closing:
            waiter.wake_unknown()
        elif self._recent and self._recent[0][0] > seq + 1 and self._seq > seq:
            waiter.wake_unknown()  # some changes since were forgotten
        else:
            for change_seq, change in reversed(self._recent):
                if change_seq <= seq:
                    break
                waiter.offer(change)
            if waiter.changes:
                waiter.changes.reverse()
        self._waiters.add(waiter)
        try:
            yield waiter
        finally:
            self._waiters.remove(waiter)

    def close(self) -> None:
        self.closing = True
        self._waiters.wake_all()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    # -- dispatch ---------------------------------------------------------------------

    def start_at(self, position: int) -> None:
        """Before serving: every position up to ``position`` is known to be settled."""
        self._positions.observe(position)
        self._readable = [max(r, position) for r in self._readable]

    def has_pending(self) -> bool:
        return bool(self._straddling) or any(self._pending.values())

    def _hold(self, change: Change) -> None:
        if not change.positions:
            self._straddling.append(change)  # nothing to wait for: dispatched at once
            return
        stream = min(change.positions)
        heapq.heappush(self._pending.setdefault(stream, []), (change.positions[stream], next(self._tiebreak), change))

    def advance(self) -> None:
        """Readable positions may have moved (another process's write settled)."""
        self._advance()

    def _advance(self) -> None:
        peers = self.peers if self.peers is not None and self.peers.active else None
        readable = [
            min(self._positions.readable(s), peers.settled(s)) if peers is not None else self._positions.readable(s)
            for s in ALL_STREAMS
        ]
        # Readable positions never go back, even when a peer's view lags this process's.
        self._readable = [max(old, new) for old, new in zip(self._readable, readable)]
        ready = []
        for stream, heap in self._pending.items():
            while heap and heap[0][0] <= self._readable[stream]:
                self._straddling.append(heapq.heappop(heap)[2])
        if self._straddling:
            waiting = []
            for change in self._straddling:
                (ready if self._is_readable(change) else waiting).append(change)
            self._straddling = waiting
        ready.sort(key=lambda c: min(c.positions.values(), default=0))
        for change in ready:
            self._dispatch(change)
        if peers is not None and self.has_pending():
            peers.settle()

    def _is_readable(self, change: Change) -> bool:
        return all(p <= self._readable[s] for s, p in change.positions.items())

    def _dispatch(self, change: Change) -> None:
        self._seq += 1
        self._recent.append((self._seq, change))
        self._waiters.dispatch(change)
        for subscriber in self._subscribers:
            try:
                subscriber(change)
            except Exception:  # one broken subscriber must not stop delivery to the rest
                log.exception("change feed subscriber %r failed", subscriber)


__all__ = ["ALL_STREAMS", "Change", "ChangeFeed", "CommittedEvent", "Stream", "Writer"]
