"""Stream positions: which positions of each stream a reader may be handed.

Every change a client can see through /sync takes a position from one PostgreSQL
sequence (``stream_seq``) and belongs to one or more streams (``Stream``). Writers take
positions inside their transactions and commit in any order, so a reader must never be
handed a position past a write that has not committed yet: a later /sync from that
position would skip the write for ever. The readable position of a stream is therefore
the highest position below every write of that stream still in flight.

This module tracks the writes of this process, exactly and without I/O. A write holds
nothing back until it says it is about to draw positions (``expect``); from then until
it ends, while its position is not known yet (its ``nextval`` is on the wire), it pins
its streams at the highest position allocated before that moment: its own will be
higher. So a long transaction that draws its positions at the end holds readers back
only at the end. Writes of other processes are the business of ``streams.peers``, which
caps what this returns.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field


class Stream(enum.IntEnum):
    """The kinds of change /sync serves, each with its own position in a sync token.

    The values are stable: they order the parts of a token and name each stream's
    advisory lock (``streams.peers``)."""

    EVENTS = 0
    RECEIPTS = 1
    TYPING = 2
    ACCOUNT_DATA = 3
    TO_DEVICE = 4
    PRESENCE = 5
    DEVICE_LISTS = 6


ALL_STREAMS: tuple[Stream, ...] = tuple(Stream)


@dataclass
class _InFlight:
    streams: frozenset[Stream]
    # Highest position a reader of these streams may be handed while this write runs;
    # None until it expects to draw positions.
    safe: int | None = None
    lowest: int | None = None


@dataclass
class Positions:
    # The highest position known to be allocated, by this process or (once committed)
    # by another.
    last_allocated: int = 0
    _in_flight: dict[int, _InFlight] = field(default_factory=dict)
    _tokens: itertools.count = field(default_factory=itertools.count)

    def begin(self, streams: Iterable[Stream]) -> int:
        """A write of these streams is starting; the token to report on it with."""
        token = next(self._tokens)
        self._in_flight[token] = _InFlight(frozenset(streams))
        return token

    def expect(self, token: int) -> None:
        """The write is about to draw positions (call it before the statement is sent)."""
        write = self._in_flight[token]
        if write.safe is None:
            write.safe = self.last_allocated

    def allocated(self, token: int, positions: Iterable[int]) -> None:
        """The write drew these positions from the sequence."""
        positions = list(positions)
        if not positions:
            return
        write = self._in_flight[token]
        if write.safe is None:
            raise RuntimeError("positions drawn without expect(): readers may already have passed them")
        lowest = min(positions) if write.lowest is None else min(write.lowest, *positions)
        write.lowest = lowest
        write.safe = lowest - 1
        self.last_allocated = max(self.last_allocated, *positions)

    def end(self, token: int) -> None:
        """The write committed or failed: it no longer holds anything back."""
        del self._in_flight[token]

    def observe(self, position: int) -> None:
        """A position committed elsewhere (another process), or found in the database."""
        self.last_allocated = max(self.last_allocated, position)

    def readable(self, stream: Stream) -> int:
        return min((w.safe for w in self._in_flight.values() if stream in w.streams and w.safe is not None),
                   default=self.last_allocated)

    def in_flight(self, stream: Stream) -> int:
        """How many writes of this stream hold readers back (for metrics and tests)."""
        return sum(1 for w in self._in_flight.values() if stream in w.streams and w.safe is not None)
