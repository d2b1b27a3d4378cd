"""Stream positions: one sequence (``stream_seq``) orders every change a client can see
through /sync (room events, account data, receipts, to-device messages, presence).

Writers take positions inside their transactions and commit in any order. A reader must
never be handed a position past a write that has not committed yet, or a later /sync
from that position would skip the write forever. ``current()`` is therefore the highest
position below every write still in flight. A writer whose position is not known yet
(its nextval is on the wire) pins ``current()`` at the highest position allocated before
it started: its own will be higher.

Positions are per process; several processes on one database will exchange them with
LISTEN/NOTIFY (DESIGN.md "Scale").
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Writer:
    _tracker: StreamTracker
    _token: int
    positions: list[int] = field(default_factory=list)

    async def next(self, conn: Any, count: int = 1) -> list[int]:
        """Allocate ``count`` positions, in order, inside the writer's transaction."""
        rows = await conn.fetch("SELECT nextval('stream_seq') AS p FROM generate_series(1, $1)", count)
        allocated = [r["p"] for r in rows]
        self.record(allocated)
        return allocated

    def record(self, allocated: list[int]) -> None:
        """Positions this writer drew from stream_seq itself (e.g. in an INSERT)."""
        self.positions += allocated
        self._tracker._allocated(self._token, min(self.positions), max(allocated))


@dataclass
class StreamTracker:
    _last_allocated: int = 0
    # writer token -> highest position that is safe to read while it is in flight
    _in_flight: dict[int, int] = field(default_factory=dict)
    _tokens: itertools.count = field(default_factory=itertools.count)

    @classmethod
    async def load(cls, conn: Any) -> StreamTracker:
        last = await conn.fetchval("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM stream_seq")
        return cls(_last_allocated=last)

    def current(self) -> int:
        return min(self._in_flight.values(), default=self._last_allocated)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[Writer]:
        """Wrap a write transaction: enter before it begins, leave after it commits or fails."""
        token = next(self._tokens)
        self._in_flight[token] = self._last_allocated
        try:
            yield Writer(self, token)
        finally:
            del self._in_flight[token]

    def _allocated(self, token: int, lowest: int, highest: int) -> None:
        self._in_flight[token] = lowest - 1
        self._last_allocated = max(self._last_allocated, highest)
