"""Presence (spec: client-server-api "Presence"): online, unavailable or offline, a status
message, and when the user was last active, shared with everyone who shares a room.

A user is ``online`` while their clients /sync (``set_presence=online``, the default) or
they act (send, set presence online); ``unavailable`` after ``presence.idle_after_ms``
without activity, or when a client says so; ``offline`` after
``presence.offline_after_ms`` without a /sync, or when set. The timeouts are applied on
every read (so a read is never stale) and persisted by a periodic sweep
(``sweep_forever``, run by the process holding its lease), which takes a stream position
per change so /sync serves it and wakes the rooms the user is in.

``currently_active`` is true exactly while the state is ``online``: last-active bumps of an
online user are written without a stream position (no /sync traffic), and going idle is
a change of state that /sync does serve, as the spec's "Last active ago" asks.

With ``presence.enabled: false`` nothing is stored or served: everyone reads as offline,
PUT is validated and ignored, /sync carries no presence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeserver.clock import Clock
from homeserver.config import PresenceConfig
from homeserver.errors import forbidden
from homeserver.locks import KeyedLock
from homeserver.storage import presence as store
from homeserver.storage.db import Database
from homeserver.storage.presence import OFFLINE, ONLINE, UNAVAILABLE, ObservedPresence, Presence
from homeserver.streams import Change, ChangeFeed, Stream, Writer

if TYPE_CHECKING:
    from homeserver.server import HomeServer

log = logging.getLogger(__name__)

STATES = (ONLINE, UNAVAILABLE, OFFLINE)
MAX_STATUS_MSG_LENGTH = 1024
# Users swept per transaction; a longer backlog takes several sweeps.
_SWEEP_BATCH = 1000


@dataclass(frozen=True, slots=True)
class _Seen:
    """What this process last wrote for a user: repeated syncs within the resolution
    then cost no database round trip."""

    state: str
    last_active_ts: int
    last_seen_ts: int


def effective_state(p: Presence | None, now_ms: int, config: PresenceConfig) -> str:
    """The state a reader sees now, timeouts applied even before the sweep writes them."""
    if p is None:
        return OFFLINE
    if p.state != OFFLINE and now_ms - p.last_seen_ts > config.offline_after_ms:
        return OFFLINE
    if p.state == ONLINE and now_ms - p.last_active_ts > config.idle_after_ms:
        return UNAVAILABLE
    return p.state


@dataclass
class PresenceService:
    # The feed cache name of what this process last wrote per user (``_seen``).
    CACHE = "presence_seen"

    config: PresenceConfig
    db: Database
    clock: Clock
    feed: ChangeFeed
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _users: KeyedLock = field(default_factory=KeyedLock)
    # Activity bumps in flight (``on_change``), referenced until they finish.
    _bumps: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    @property
    def resolution_ms(self) -> int:
        """How stale the stored activity times may be: a quarter of the shorter timeout."""
        return min(15_000, self.config.idle_after_ms // 4, self.config.offline_after_ms // 4)

    @property
    def sweep_interval_s(self) -> float:
        return max(0.25, min(5.0, self.config.idle_after_ms / 10_000, self.config.offline_after_ms / 10_000))

    # -- background -------------------------------------------------------------------

    async def sweep_forever(self) -> None:
        """The timeout sweep, in the process holding its lease."""
        if not self.enabled:
            return
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:  # a failed sweep is retried at the next interval
                log.exception("presence timeout sweep failed")

    def on_change(self, change: Change) -> None:
        """A local user acted (sent an event): they are online and active now."""
        if change.origin or not change.actors or not self.enabled:
            return
        for user_id in change.actors:
            task = asyncio.get_running_loop().create_task(self._bump(user_id))
            self._bumps.add(task)
            task.add_done_callback(self._bumps.discard)

    async def _bump(self, user_id: str) -> None:
        try:
            await self.seen(user_id, ONLINE)
        except Exception:  # presence is best effort; the next activity tries again
            log.exception("could not mark %s active", user_id)

    def forget(self, user_id: str | None) -> None:
        """Another process wrote this user's presence: look at the database next time."""
        if user_id is None:
            self._seen.clear()
        else:
            self._seen.pop(user_id, None)

    async def sweep(self) -> list[str]:
        """Persist idle and offline timeouts; return the users whose state changed."""
        if not self.enabled:
            return []
        now = self.clock.now_ms()
        idle_before, offline_before = now - self.config.idle_after_ms, now - self.config.offline_after_ms
        if not await store.any_timed_out(self.db.pool, idle_before, offline_before):
            return []
        async with self.feed.writing(Stream.PRESENCE) as writer, self.db.transaction() as conn:
            due = await store.lock_timed_out(conn, idle_before, offline_before, _SWEEP_BATCH)
            if not due:
                return []
            positions = await writer.next(conn, Stream.PRESENCE, len(due))
            changes = [(p.user_id, effective_state(p, now, self.config), pos) for p, pos in zip(due, positions)]
            await store.set_states(conn, changes)
            await self._announce(conn, writer, [p.user_id for p in due])
        for p, (_, state, _) in zip(due, changes):
            self._remember(p.user_id, state, p.last_active_ts, p.last_seen_ts)
        return [p.user_id for p in due]

    # -- changes --------------------------------------------------------------------

    async def set_status(self, user_id: str, state: str, status_msg: str | None) -> None:
        """PUT /presence/{userId}/status: the state and status message, as the user's
        activity (spec: "the activity time is updated")."""
        if not self.enabled:
            return
        async with self._users.hold(user_id):
            await self._set_status(user_id, state, status_msg)

    async def _set_status(self, user_id: str, state: str, status_msg: str | None) -> None:
        now = self.clock.now_ms()
        async with self.feed.writing(Stream.PRESENCE) as writer, self.db.transaction() as conn:
            old = await store.get_presence(conn, user_id, for_update=True)
            if self._unchanged(old, state, now) and old is not None and old.status_msg == status_msg:
                await store.touch(conn, user_id, now, now)
            else:
                [stream_id] = await writer.next(conn, Stream.PRESENCE)
                await store.put_presence(conn, Presence(user_id, state, status_msg, now, now, state == ONLINE, stream_id))
                await self._announce(conn, writer, [user_id])
        self._remember(user_id, state, now, now)

    async def seen(self, user_id: str, state: str) -> None:
        """A /sync with ``set_presence`` (online or unavailable) or, for ``online``, any
        activity: the user is connected, and with ``online`` active."""
        if not self.enabled or state not in (ONLINE, UNAVAILABLE):
            return
        # One change at a time per user: two first sightings at once would both find no
        # row and both take a position.
        async with self._users.hold(user_id):
            await self._seen_now(user_id, state)

    async def _seen_now(self, user_id: str, state: str) -> None:
        now = self.clock.now_ms()
        cached = self._seen.get(user_id)
        fresh = self.resolution_ms
        if (
            cached is not None and cached.state == state and now - cached.last_seen_ts < fresh
            and (state != ONLINE or now - cached.last_active_ts < fresh)
        ):
            return
        active_ts = now if state == ONLINE else None
        async with self.feed.writing(Stream.PRESENCE) as writer, self.db.transaction() as conn:
            old = await store.get_presence(conn, user_id, for_update=True)
            if self._unchanged(old, state, now) and old is not None:
                await store.touch(conn, user_id, active_ts, now)
                last_active = max(old.last_active_ts, active_ts or 0)
            else:
                [stream_id] = await writer.next(conn, Stream.PRESENCE)
                last_active = active_ts or (old.last_active_ts if old is not None else now)
                await store.put_presence(conn, Presence(
                    user_id, state, old.status_msg if old is not None else None, last_active, now, state == ONLINE,
                    stream_id,
                ))
                await self._announce(conn, writer, [user_id])
        self._remember(user_id, state, last_active, now)

    def _unchanged(self, old: Presence | None, state: str, now_ms: int) -> bool:
        """The stored state is ``state`` and no timeout has changed it yet."""
        return old is not None and old.state == state and effective_state(old, now_ms, self.config) == state

    def _remember(self, user_id: str, state: str, last_active_ts: int, last_seen_ts: int) -> None:
        if state == OFFLINE:
            self._seen.pop(user_id, None)
        else:
            self._seen[user_id] = _Seen(state, last_active_ts, last_seen_ts)

    async def _announce(self, conn: Any, writer: Writer, user_ids: list[str]) -> None:
        """The change concerns the users themselves and everyone in a room with them."""
        writer.touch(rooms=await store.joined_rooms_of(conn, user_ids), users=user_ids)
        for user_id in user_ids:
            writer.invalidate(self.CACHE, user_id, here=False)

    # -- reads ----------------------------------------------------------------------

    def content(self, observed: ObservedPresence | None, now_ms: int) -> dict[str, Any]:
        """The content of an m.presence event (and of GET /presence/{userId}/status)."""
        p = observed.presence if observed is not None else None
        state = effective_state(p, now_ms, self.config) if self.enabled else OFFLINE
        if p is None or not self.enabled:
            return {"presence": state}
        content: dict[str, Any] = {
            "presence": state,
            "last_active_ago": max(0, now_ms - p.last_active_ts),
            "currently_active": state == ONLINE,
        }
        if p.status_msg is not None:
            content["status_msg"] = p.status_msg
        assert observed is not None
        if observed.displayname is not None:
            content["displayname"] = observed.displayname
        if observed.avatar_url:
            content["avatar_url"] = observed.avatar_url
        return content


    async def events_since(self, conn: Any, user_id: str, since: int, upto: int) -> list[dict[str, Any]]:
        """m.presence events for /sync: the user's own presence and that of everyone
        sharing a joined room with them, changed in (since, upto]; from 0, the current
        presence of all of them. One indexed query."""
        if not self.enabled:
            return []
        now = self.clock.now_ms()
        return [_event(self, o, now) for o in await store.observed_since(conn, user_id, since, upto)]

    async def events_of(self, conn: Any, user_ids: Iterable[str]) -> list[dict[str, Any]]:
        """m.presence events of the given users as they are now."""
        if not self.enabled:
            return []
        now = self.clock.now_ms()
        return [_event(self, o, now) for o in await store.presence_of(conn, user_ids)]


def _event(service: PresenceService, observed: ObservedPresence, now_ms: int) -> dict[str, Any]:
    return {"type": "m.presence", "sender": observed.presence.user_id, "content": service.content(observed, now_ms)}


# -- the API the routes and /sync call ------------------------------------------------


async def set_presence(hs: HomeServer, requester_id: str, user_id: str, state: str, status_msg: str | None) -> None:
    """PUT /presence/{userId}/status: only for oneself."""
    if requester_id != user_id:
        raise forbidden("You may only set your own presence")
    await hs.presence.set_status(user_id, state, status_msg)


async def get_presence(hs: HomeServer, requester_id: str, user_id: str) -> dict[str, Any]:
    """GET /presence/{userId}/status: for oneself and for people sharing a room."""
    async with hs.db.pool.acquire() as conn:
        if requester_id != user_id and not await store.share_a_room(conn, requester_id, user_id):
            raise forbidden("You are not allowed to see their presence")
        found = await store.presence_of(conn, [user_id]) if hs.presence.enabled else []
    content = hs.presence.content(found[0] if found else None, hs.clock.now_ms())
    content.pop("displayname", None)
    content.pop("avatar_url", None)
    return content

