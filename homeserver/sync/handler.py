"""/sync: what changed for a user since a token, waiting for it when nothing has
(spec: client-server-api "Syncing"; DESIGN.md "The event graph and streams").

A response covers, for each stream, the changes with a position in (since, upto], where
``upto`` is the feed's readable position of that stream: never past a write that has
not committed, so a change that commits late still lands in a later response. Each
stream has a small provider (sync/providers.py); an incremental sync asks the database
once which streams changed for the user, and runs only those providers.

Parked, a long-poll waits on the change feed. The feed wakes it with exactly the changes
that concern it; when those are new messages this process wrote in rooms the user is
joined to (the common case), the response is built from them in memory
(sync/memory.py), and only the streams that changed besides are read from the database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from homeserver.server import HomeServer
from homeserver.storage import rooms as room_store
from homeserver.storage import sync as sync_store
from homeserver.storage.rooms import Membership
from homeserver.streams import ALL_STREAMS, Change, Stream
from homeserver.sync import memory, providers
from homeserver.sync.filter import SyncFilter
from homeserver.sync.rooms import RoomContext
from homeserver.sync.tokens import SyncToken
from homeserver.timeline.visibility import ignored_from, ignored_users

MAX_TIMEOUT_MS = 60_000


@dataclass(frozen=True, slots=True)
class SyncRequest:
    user_id: str
    device_id: str
    since: SyncToken | None
    timeout_ms: int
    full_state: bool
    filter: SyncFilter
    set_presence: str = "online"


@dataclass(frozen=True, slots=True)
class Computed:
    body: dict[str, Any]
    token: SyncToken
    has_changes: bool
    memberships: dict[str, Membership]
    ignored: frozenset[str]
    # The feed's readable positions the response covers, and their dispatch sequence.
    upto: tuple[int, ...]
    seq: int


async def sync(hs: HomeServer, request: SyncRequest) -> dict[str, Any]:
    await hs.presence.seen(request.user_id, request.set_presence)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(request.timeout_ms, MAX_TIMEOUT_MS) / 1000
    computed = await compute(hs, request, request.since, *hs.feed.current())
    while True:
        remaining = deadline - loop.time()
        if (computed.has_changes or request.since is None or request.full_state or remaining <= 0
                or hs.feed.closing):
            return computed.body
        with hs.feed.waiter(request.user_id, computed.memberships, computed.upto, computed.seq) as waiter:
            try:
                await asyncio.wait_for(waiter.woken.wait(), remaining)
            except TimeoutError:
                return computed.body
            # Alone on the database, every change up to the positions readable now has
            # been dispatched, so the waiter holds each of them that concerns it: take
            # both at once. With other processes, a position can settle before the news
            # of what was written there arrives: only the database knows all of it.
            changes, (readable, seq) = waiter.changes, hs.feed.current()
            if hs.peers.active:
                changes = None
        answered = await _answer_from(hs, request, computed, changes, readable, seq) if changes is not None else None
        hs.metrics.sync_wakeups.labels("memory" if answered is not None else "database").inc()
        # Nothing new up to the last response's positions: what comes next is new after them.
        computed = answered or await compute(hs, request, computed.token, readable, seq)


async def _answer_from(
    hs: HomeServer, request: SyncRequest, computed: Computed, changes: list[Change], readable: tuple[int, ...],
    seq: int,
) -> Computed | None:
    """The response for exactly these changes past ``computed``, when the feed's memory
    holds what they wrote; None to compute it from the database instead."""
    plan = memory.plan(computed.memberships, changes)
    if plan is None:
        return None
    since = computed.token
    upto = SyncToken(readable)
    body = providers.Body()
    try:
        async with hs.db.pool.acquire() as conn:
            ctx = _context(hs, conn, request, readable, computed.memberships, computed.ignored)
            await memory.timelines(ctx, plan, body.joined)
            await providers.run(hs, ctx, since, upto, plan.streams, body, probe=None)
            await providers.unread(ctx, body.joined, providers.rooms_with_news(request.filter, body.joined))
    except memory.TooMany:
        return None
    token = body.next_token(since, upto)
    body.json["next_batch"] = str(token)
    return Computed(body.json, token, body.has_changes(), computed.memberships, computed.ignored, readable, seq)


def _context(
    hs: HomeServer, conn: Any, request: SyncRequest, upto: tuple[int, ...], memberships: dict[str, Membership],
    ignored: frozenset[str],
) -> RoomContext:
    return RoomContext(conn, request.user_id, request.device_id, request.filter, upto[Stream.EVENTS],
                       ignored=ignored, memberships=memberships, versions=hs.room_versions)


async def compute(
    hs: HomeServer, request: SyncRequest, since: SyncToken | None, upto: tuple[int, ...], seq: int
) -> Computed:
    """The response for (since, upto], from the database."""
    async with hs.db.pool.acquire() as conn:
        probe = None
        if since is not None:
            joined, probe = await sync_store.joined_and_changes_since(
                conn, request.user_id, request.device_id, since.positions, upto
            )
            ignored = ignored_from(probe.ignored_user_list)
        else:
            joined = await room_store.rooms_for_user(conn, request.user_id)
            ignored = await ignored_users(conn, request.user_id)
        memberships = {m.room_id: m for m in joined}
        ctx = _context(hs, conn, request, upto, memberships, ignored)
        body = providers.Body()
        streams = set(ALL_STREAMS) if probe is None else providers.changed_streams(probe)
        await providers.rooms(hs, ctx, since, probe, body, full_state=request.full_state)
        await providers.run(hs, ctx, since, SyncToken(upto), streams, body, probe=probe)
        await providers.unread(ctx, body.joined, providers.rooms_with_news(request.filter, body.joined))
    token = body.next_token(since, SyncToken(upto))
    body.json["next_batch"] = str(token)
    return Computed(body.json, token, body.has_changes(), memberships, ignored, upto, seq)
