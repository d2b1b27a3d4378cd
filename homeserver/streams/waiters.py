"""Waiters: parked /sync long-polls, found by the user they sync for and the rooms they
are in, woken by the changes the feed dispatches (``ChangeFeed``).

A waiter is woken only by a change that concerns it (its user, or one of its rooms) and
lies past the token it computed its last response at; each such change is kept on the
waiter, so the woken /sync knows exactly what is new for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from homeserver.streams.changes import Change


@dataclass(eq=False)
class Waiter:
    user_id: str
    rooms: frozenset[str]
    # The readable positions (by stream) its last response covered.
    after: tuple[int, ...]
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    # Every change concerning it dispatched after ``after``, in dispatch order; None once
    # it missed some (woken for a catch-up, or by changes no longer remembered).
    changes: list[Change] | None = field(default_factory=list)

    def offer(self, change: Change) -> None:
        if change.concerns(self.user_id, self.rooms) and change.after(self.after):
            if self.changes is not None:
                self.changes.append(change)
            self.woken.set()

    def wake_unknown(self) -> None:
        """Something may be new that it cannot be told about: it must look for itself."""
        self.changes = None
        self.woken.set()


@dataclass
class Waiters:
    _by_user: dict[str, set[Waiter]] = field(default_factory=dict)
    _by_room: dict[str, set[Waiter]] = field(default_factory=dict)

    def add(self, waiter: Waiter) -> None:
        self._by_user.setdefault(waiter.user_id, set()).add(waiter)
        for room_id in waiter.rooms:
            self._by_room.setdefault(room_id, set()).add(waiter)

    def remove(self, waiter: Waiter) -> None:
        _discard(self._by_user, waiter.user_id, waiter)
        for room_id in waiter.rooms:
            _discard(self._by_room, room_id, waiter)

    def dispatch(self, change: Change) -> None:
        for waiter in self._candidates(change):
            waiter.offer(change)

    def wake_all(self) -> None:
        for waiters in list(self._by_user.values()):
            for waiter in waiters:
                waiter.wake_unknown()

    def _candidates(self, change: Change) -> set[Waiter]:
        found: set[Waiter] = set()
        for user_id in change.users:
            found |= self._by_user.get(user_id, set())
        for room_id in change.rooms:
            found |= self._by_room.get(room_id, set())
        return found

    def __len__(self) -> int:
        return sum(len(w) for w in self._by_user.values())

    def users(self) -> Iterable[str]:
        return self._by_user.keys()


def _discard(index: dict[str, set[Waiter]], key: str, waiter: Waiter) -> None:
    waiters = index.get(key)
    if waiters is not None:
        waiters.discard(waiter)
        if not waiters:
            del index[key]
