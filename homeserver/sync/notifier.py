"""The notifier: parked /sync long-polls wait here and wake the moment something they
care about commits (DESIGN.md "The event graph and streams").

A waiter names its user and the rooms it is in. A room event wakes the waiters of its
room (and, for a membership event, of its target user, who may not be in the room yet);
a per-user change (account data, to-device, an invite) wakes that user's waiters. Waking
is cheap and may be spurious: the woken /sync recomputes and parks again if nothing is
new for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Waiter:
    user_id: str
    rooms: frozenset[str]
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    # The rooms whose events woke it: the woken /sync can start on them at once.
    woken_rooms: set[str] = field(default_factory=set)


@dataclass
class Notifier:
    _by_user: dict[str, set[Waiter]] = field(default_factory=dict)
    _by_room: dict[str, set[Waiter]] = field(default_factory=dict)
    # Set at shutdown: parked long-polls return at once and none park again, so a
    # stopping server does not wait out their timeouts.
    closing: bool = False

    def close(self) -> None:
        self.closing = True
        for waiters in list(self._by_user.values()):
            self._wake(waiters)

    @contextlib.contextmanager
    def waiter(self, user_id: str, rooms: Iterable[str]) -> Iterator[Waiter]:
        waiter = Waiter(user_id, frozenset(rooms))
        self._by_user.setdefault(user_id, set()).add(waiter)
        for room_id in waiter.rooms:
            self._by_room.setdefault(room_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            _discard(self._by_user, user_id, waiter)
            for room_id in waiter.rooms:
                _discard(self._by_room, room_id, waiter)

    async def on_events(self, events: Iterable[Any]) -> None:
        for event in events:
            self.on_room(event.room_id)
            if event.pdu.get("type") == "m.room.member":
                self.on_user(event.pdu.get("state_key", ""))

    def on_user(self, user_id: str) -> None:
        self._wake(self._by_user.get(user_id, ()))

    def on_room(self, room_id: str) -> None:
        for waiter in self._by_room.get(room_id, ()):
            waiter.woken_rooms.add(room_id)
            waiter.woken.set()

    @staticmethod
    def _wake(waiters: Iterable[Waiter]) -> None:
        for waiter in waiters:
            waiter.woken.set()

    @property
    def waiting(self) -> int:
        return sum(len(w) for w in self._by_user.values())


def _discard(index: dict[str, set[Waiter]], key: str, waiter: Waiter) -> None:
    waiters = index.get(key)
    if waiters is not None:
        waiters.discard(waiter)
        if not waiters:
            del index[key]
