"""A small least-recently-used cache for things read on hot paths: immutable ones (event
JSON by event ID, state entries by state group), and ones the change feed invalidates
(access tokens, rooms' send contexts). Owned by the HomeServer, so it is a cache of the
database and never global state.

An entry may carry tags (a room ID, a user ID, ...): ``invalidate(tag)`` drops every
entry with that tag, or with that key, so a change makes stale exactly what it touched.

A reader that loads a value from the database caches it with ``put_unless_invalidated``,
passing the ``generation`` it read before loading: the value is cached only if neither
its key nor any of its tags was invalidated meanwhile (else it could cache what a
concurrent writer just changed). Invalidations of other keys do not stand in its way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


# How many recent invalidations are remembered by key or tag; a load that began before
# the oldest remembered one is not cached.
_REMEMBERED = 10_000


class LruCache(Generic[K, V]):
    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._tags_of: dict[K, tuple[str, ...]] = {}
        self._keys_by_tag: dict[str, set[K]] = {}
        # Counts invalidations. pop() leaves it alone: who pops one key must keep loaders
        # of that key out themselves (the room heads' pops and loads share the room lock).
        self.generation = 0
        # Key or tag -> the generation of its latest invalidation, the oldest first.
        self._invalidated: OrderedDict[Any, int] = OrderedDict()
        # Loads that began before this generation are not cached (a clear, or forgotten
        # invalidations).
        self._floor = 0

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V, tags: Iterable[str] = ()) -> None:
        self._untag(key)
        self._entries[key] = value
        self._entries.move_to_end(key)
        tags = tuple(tags)
        if tags:
            self._tags_of[key] = tags
            for tag in tags:
                self._keys_by_tag.setdefault(tag, set()).add(key)
        if len(self._entries) > self._max_size:
            oldest, _ = self._entries.popitem(last=False)
            self._untag(oldest)

    def put_unless_invalidated(self, generation: int, key: K, value: V, tags: Iterable[str] = ()) -> None:
        tags = tuple(tags)
        if generation < self._floor:
            return
        if any(self._invalidated.get(name, -1) > generation for name in (key, *tags)):
            return
        self.put(key, value, tags)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)
        self._untag(key)

    def invalidate(self, tag: Any) -> None:
        """Drop every entry tagged ``tag`` (or keyed by it); None drops everything."""
        self.generation += 1
        if tag is None:
            self._entries.clear()
            self._tags_of.clear()
            self._keys_by_tag.clear()
            self._invalidated.clear()
            self._floor = self.generation
            return
        self._invalidated[tag] = self.generation
        self._invalidated.move_to_end(tag)
        while len(self._invalidated) > _REMEMBERED:
            _, forgotten = self._invalidated.popitem(last=False)
            self._floor = max(self._floor, forgotten)
        for key in list(self._keys_by_tag.get(tag, ())):
            self.pop(key)
        if tag in self._entries:
            self.pop(tag)

    def clear(self) -> None:
        self.invalidate(None)

    def _untag(self, key: K) -> None:
        for tag in self._tags_of.pop(key, ()):
            keys = self._keys_by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_by_tag[tag]

    def __len__(self) -> int:
        return len(self._entries)
