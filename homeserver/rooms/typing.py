"""Typing notifications (spec: client-server-api "Typing Notifications"): ephemeral, kept
in memory by the process that serves the room's members.

Each room maps its typers to the time (``hs.clock``) their notice runs out. Every change of
a room's set of typers takes the next typing serial, which /sync tokens carry: the rooms
whose set changed after a token's serial are the ones a /sync reports. A notice runs out
on its own: a timer drops it and wakes the room's /syncs, and any read after the expiry
drops it too (so a moved clock, or a late timer, never shows a stale typer).

The serial never goes below the wall clock in milliseconds, so a token from before a
restart is behind the new process's changes (unless, until just before the restart,
changes came faster than one per millisecond for longer than the restart took).
Typing state lives in the process that received it: with several processes, typing
requests and the /syncs that read them must reach the same one (DESIGN.md "Scale").
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeserver.clock import Clock
from homeserver.errors import forbidden
from homeserver.storage import rooms as room_store
from homeserver.sync.notifier import Notifier

if TYPE_CHECKING:
    from homeserver.server import HomeServer

DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 30_000


@dataclass
class TypingService:
    clock: Clock
    notifier: Notifier
    # room_id -> user_id -> expiry (ms, hs.clock)
    _typers: dict[str, dict[str, int]] = field(default_factory=dict)
    # room_id -> the serial of its last change
    _changed: dict[str, int] = field(default_factory=dict)
    _serial: int = 0
    _timers: dict[tuple[str, str], asyncio.TimerHandle] = field(default_factory=dict)

    def set_typing(self, room_id: str, user_id: str, typing: bool, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        """Start (for ``timeout_ms``, capped) or stop a user's typing notice in a room."""
        typers = self._typers.setdefault(room_id, {})
        self._cancel_timer(room_id, user_id)
        if typing:
            timeout_ms = max(0, min(timeout_ms, MAX_TIMEOUT_MS))
            started = user_id not in typers
            typers[user_id] = self.clock.now_ms() + timeout_ms
            self._schedule(room_id, user_id, timeout_ms)
            if started:
                self._changed_room(room_id)
        elif typers.pop(user_id, None) is not None:
            self._changed_room(room_id)
        if not typers:
            del self._typers[room_id]

    def typing_serial(self) -> int:
        """The serial of the latest change, expiries up to now included."""
        self._expire(list(self._typers))
        return self._serial

    def typing_since(self, room_ids: Iterable[str], since_serial: int) -> dict[str, list[str]]:
        """The current typers of each given room whose set changed after ``since_serial``
        (an empty list: everyone stopped); from 0, every given room with typers."""
        room_ids = list(room_ids)
        self._expire(room_ids)
        out = {}
        for room_id in room_ids:
            typers = sorted(self._typers.get(room_id, ()))
            if (typers if since_serial == 0 else self._changed.get(room_id, 0) > since_serial):
                out[room_id] = typers
        return out

    def stop(self) -> None:
        """Cancel the expiry timers (at shutdown)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _changed_room(self, room_id: str) -> None:
        self._serial = max(self._serial + 1, self.clock.now_ms())
        self._changed[room_id] = self._serial
        self.notifier.on_room(room_id)

    def _expire(self, room_ids: Iterable[str]) -> None:
        now = self.clock.now_ms()
        for room_id in room_ids:
            typers = self._typers.get(room_id)
            if not typers:
                continue
            expired = [u for u, expiry in typers.items() if expiry <= now]
            for user_id in expired:
                del typers[user_id]
                self._cancel_timer(room_id, user_id)
            if not typers:
                del self._typers[room_id]
            if expired:
                self._changed_room(room_id)

    def _schedule(self, room_id: str, user_id: str, delay_ms: int) -> None:
        loop = asyncio.get_running_loop()
        self._timers[(room_id, user_id)] = loop.call_later(delay_ms / 1000, self._on_timer, room_id, user_id)

    def _on_timer(self, room_id: str, user_id: str) -> None:
        self._timers.pop((room_id, user_id), None)
        expiry = self._typers.get(room_id, {}).get(user_id)
        if expiry is None:
            return
        remaining = expiry - self.clock.now_ms()
        if remaining > 0:  # the timer ran ahead of hs.clock
            self._schedule(room_id, user_id, remaining)
        else:
            self._expire([room_id])

    def _cancel_timer(self, room_id: str, user_id: str) -> None:
        timer = self._timers.pop((room_id, user_id), None)
        if timer is not None:
            timer.cancel()


def typing_event(user_ids: list[str]) -> dict[str, Any]:
    """The m.typing ephemeral event /sync serves for a room."""
    return {"type": "m.typing", "content": {"user_ids": user_ids}}


async def set_typing(
    hs: HomeServer, requester_id: str, room_id: str, user_id: str, typing: bool, timeout_ms: int
) -> None:
    """PUT /rooms/{roomId}/typing/{userId}: only for oneself, only in a joined room."""
    if requester_id != user_id:
        raise forbidden("You may only set your own typing state")
    membership = await room_store.get_membership(hs.db.pool, room_id, user_id)
    if membership is None or membership.membership != "join":
        raise forbidden("You are not in this room")
    hs.typing.set_typing(room_id, user_id, typing, timeout_ms)
