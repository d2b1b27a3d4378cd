"""A small least-recently-used cache for things read on hot paths: immutable ones (event
JSON by event ID, state entries by state group), and ones their writers invalidate
(access tokens, rooms' send contexts). Owned by the HomeServer, so it is a cache of the
database and never global state."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._entries: OrderedDict[K, V] = OrderedDict()
        # Counts clear()s: a reader that loaded a value from the database caches it only
        # if the cache was not cleared meanwhile (else it could cache what a concurrent
        # writer just deleted). pop() leaves it alone: who pops one key must keep loaders
        # of that key out themselves (the room heads' pops and loads share the room lock),
        # and counting it would stop every other key's updates too.
        self.generation = 0

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self._max_size:
            self._entries.popitem(last=False)

    def put_unless_invalidated(self, generation: int, key: K, value: V) -> None:
        if generation == self.generation:
            self.put(key, value)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1

    def __len__(self) -> int:
        return len(self._entries)
