"""/sync: what changed for a user since a token, waiting for it when nothing has
(spec: client-server-api "Syncing"; DESIGN.md "The event graph and streams").

A response covers every change with a position in (since, upto], where ``upto`` is the
stream tracker's current position: never past a write that has not committed, so a
change that commits late still lands in a later response.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from homeserver.push.rulesets import push_rules_content
from homeserver.rooms.typing import typing_event
from homeserver.rooms.visibility import ignored_from, ignored_users
from homeserver.server import HomeServer
from homeserver.storage import account_data as account_data_store
from homeserver.storage import rooms as room_store
from homeserver.storage import sync as sync_store
from homeserver.storage.push import UnreadCounts, unread_counts
from homeserver.storage.receipts import receipts_since
from homeserver.sync import rooms as sections
from homeserver.sync.filter import SyncFilter
from homeserver.sync.tokens import SyncToken
from homeserver.users import presence

TO_DEVICE_LIMIT = 100
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


async def sync(hs: HomeServer, request: SyncRequest) -> dict[str, Any]:
    await presence.set_presence_from_sync(hs, request.user_id, request.set_presence)
    deadline = asyncio.get_running_loop().time() + min(request.timeout_ms, MAX_TIMEOUT_MS) / 1000
    woken_rooms: frozenset[str] = frozenset()
    while True:
        upto = hs.streams.current()
        body, joined, has_changes = await _compute(hs, request, upto, woken_rooms)
        remaining = deadline - asyncio.get_running_loop().time()
        if has_changes or request.since is None or request.full_state or remaining <= 0 or hs.notifier.closing:
            return body
        with hs.notifier.waiter(request.user_id, joined) as waiter:
            if hs.streams.current() != upto or hs.typing.typing_serial() != body_typing(body):
                continue  # something committed while we computed: look again at once
            try:
                await asyncio.wait_for(waiter.woken.wait(), remaining)
            except TimeoutError:
                return body
            woken_rooms = frozenset(waiter.woken_rooms)


async def _compute(
    hs: HomeServer, request: SyncRequest, upto: int, woken_rooms: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], list[str], bool]:
    since = request.since
    position = None if since is None or request.full_state else since.position
    # A long-poll woken by new events in some rooms: their unread counts are read on a
    # second connection while this one finds out what else changed.
    hinted = request.filter.rooms_allowed(sorted(woken_rooms))
    early = asyncio.ensure_future(_unread_counts(hs, request.user_id, hinted)) if hinted else None
    try:
        return await _compute_with(hs, request, upto, since, position, hinted, early)
    finally:
        _drop(early)


async def _compute_with(
    hs: HomeServer, request: SyncRequest, upto: int, since: SyncToken | None, position: int | None,
    hinted: list[str], early: asyncio.Future[dict[str, UnreadCounts] | None] | None,
) -> tuple[dict[str, Any], list[str], bool]:
    async with hs.db.pool.acquire() as conn:
        probe = None
        if position is not None:
            joined_rooms, probe = await sync_store.joined_and_changes_since(
                conn, request.user_id, request.device_id, position, upto, since.to_device if since else 0
            )
            ignored = ignored_from(probe.ignored_user_list)
        else:
            joined_rooms = await room_store.rooms_for_user(conn, request.user_id)
            ignored = await ignored_users(conn, request.user_id)
        memberships = {m.room_id: m for m in joined_rooms}
        joined = list(memberships)
        # The unread counts of the rooms sure to be in the response are read on a second
        # connection while this one builds their sections.
        expected = _rooms_with_news(request.filter, joined, probe)
        if early is not None and set(expected) <= set(hinted):
            prefetch, expected = early, hinted
        else:
            prefetch = asyncio.ensure_future(_unread_counts(hs, request.user_id, expected)) if expected else None
        try:
            ctx = sections.RoomContext(conn, request.user_id, request.device_id, request.filter, upto,
                                       ignored=ignored, memberships=memberships, versions=hs.room_versions)
            changes = await sync_store.membership_changes(conn, request.user_id, position, upto) if (
                probe is not None and probe.memberships) else []
            rooms = await _room_sections(hs, ctx, joined, changes, position, probe)
            account_data = await _account_data(ctx, position, rooms["join"], probe)
            to_device, to_device_position = await _to_device(ctx, since, probe)
            presence_events = []
            if request.filter.presence.types != () and (probe is None or probe.presence):
                presence_events = await _presence(hs, ctx, position)
            typing = hs.typing.typing_serial()
            await _ephemeral(hs, ctx, rooms["join"], joined, since.typing if since else 0, position,
                             receipts=probe is None or probe.receipts)
            prefetched = await prefetch if prefetch else None
            await _unread(ctx, rooms["join"], set(expected) if prefetched is not None else set(), prefetched or {})
        finally:
            _drop(prefetch)
    next_token = SyncToken(upto, typing, to_device_position)
    body: dict[str, Any] = {
        "next_batch": str(next_token),
        "rooms": rooms,
        "account_data": {"events": account_data},
        "to_device": {"events": to_device},
        "presence": {"events": presence_events},
        "device_lists": {"changed": [], "left": []},
        "device_one_time_keys_count": {},
        "device_unused_fallback_key_types": [],
    }
    has_changes = bool(any(rooms.values()) or account_data or to_device or presence_events)
    return body, joined, has_changes


_SECOND_CONNECTION_WAIT_S = 0.01


def _drop(future: asyncio.Future[Any] | None) -> None:
    """Cancel a prefetch nobody awaited, or retrieve its failure so it is not logged."""
    if future is None:
        return
    if not future.done():
        future.cancel()
    elif not future.cancelled():
        future.exception()


def _rooms_with_news(f: SyncFilter, joined: list[str], probe: sync_store.Changes | None) -> list[str]:
    """Joined rooms whose sections the response will have for sure: all of them for an
    initial sync, those with new events for an incremental one."""
    allowed = f.rooms_allowed(joined)
    return allowed if probe is None else sorted(set(probe.rooms_with_events) & set(allowed))


async def _unread_counts(hs: HomeServer, user_id: str, room_ids: list[str]) -> dict[str, UnreadCounts] | None:
    """None when no connection is free at once: every sync in progress may hold one and
    wait for this, so waiting here could deadlock; the counts are then read afterwards on
    the sync's own connection."""
    try:
        async with hs.db.pool.acquire(timeout=_SECOND_CONNECTION_WAIT_S) as conn:
            return await unread_counts(conn, user_id, room_ids)
    except TimeoutError:
        return None


def body_typing(body: dict[str, Any]) -> int:
    return SyncToken.parse(body["next_batch"]).typing


async def _presence(hs: HomeServer, ctx: sections.RoomContext, position: int | None) -> list[dict[str, Any]]:
    events = await presence.presence_since(hs, ctx.conn, ctx.user_id, position or 0, ctx.upto)
    return [e for e in events if ctx.filter.presence.allows(e["type"], e.get("sender"))]


async def _ephemeral(
    hs: HomeServer, ctx: sections.RoomContext, joined_sections: dict[str, Any], joined: list[str],
    since_typing: int, position: int | None, receipts: bool,
) -> None:
    """Typing notices (this process's memory) and read receipts, for rooms where they changed."""
    rooms = ctx.filter.rooms_allowed(joined)
    found: list[tuple[str, dict[str, Any]]] = []
    if ctx.filter.ephemeral.allows("m.typing"):
        found += [(r, typing_event(u)) for r, u in hs.typing.typing_since(rooms, since_typing).items()]
    if receipts and ctx.filter.ephemeral.allows("m.receipt") and rooms:
        receipts = await receipts_since(ctx.conn, ctx.user_id, rooms, position or 0, ctx.upto)
        found += [(r, {"type": "m.receipt", "content": c}) for r, c in receipts.items()]
    for room_id, event in found:
        section = joined_sections.setdefault(room_id, _empty_joined(room_id))
        section.setdefault("ephemeral", {"events": []})["events"].append(event)


async def _unread(
    ctx: sections.RoomContext, joined_sections: dict[str, Any], known: set[str], counts: dict[str, UnreadCounts]
) -> None:
    """Unread notification and highlight counts of every room in the response; ``counts``
    holds those of the ``known`` rooms already (a room without counts has none unread)."""
    missing = [room_id for room_id in joined_sections if room_id not in known]
    if missing:
        counts = {**counts, **await unread_counts(ctx.conn, ctx.user_id, missing)}
    threaded = ctx.filter.timeline.unread_thread_notifications
    for room_id, section in joined_sections.items():
        section.update(counts[room_id].to_sync_json(threaded) if room_id in counts
                       else {"unread_notifications": {"notification_count": 0, "highlight_count": 0}})


def _empty_joined(room_id: str) -> dict[str, Any]:
    return {"timeline": {"events": [], "limited": False}, "state": {"events": []}}


async def _room_sections(
    hs: HomeServer, ctx: sections.RoomContext, joined: list[str], changes: list[Any], position: int | None,
    probe: sync_store.Changes | None,
) -> dict[str, dict[str, Any]]:
    f = ctx.filter
    out: dict[str, dict[str, Any]] = {"join": {}, "invite": {}, "leave": {}, "knock": {}}
    newly_joined = {c["room_id"] for c in changes if c["membership"] == "join"}
    if position is None:
        active = f.rooms_allowed(joined)
    else:
        assert probe is not None
        allowed = set(f.rooms_allowed(joined))
        active = sorted((set(probe.rooms_with_events) & allowed) | (newly_joined & allowed))
    for room_id in active:
        out["join"][room_id] = await sections.joined_room(ctx, room_id, None if room_id in newly_joined else position)
    # A summary only where members may have changed (the spec lets unchanged ones go).
    changed = [r for r, section in out["join"].items() if position is None or r in newly_joined or any(
        e["type"] == "m.room.member" for part in ("timeline", "state") for e in section[part]["events"])]
    for room_id, summary in (await sections.summaries(ctx, changed)).items():
        out["join"][room_id]["summary"] = summary
    pending = changes if position is not None else await _current_non_joins(ctx, f.include_leave)
    for change in pending:
        room_id, membership = change["room_id"], change["membership"]
        if not f.room_allowed(room_id) or room_id in out["join"]:
            continue
        if membership == "invite":
            invite = await sections.stripped_state(ctx, room_id, change["event_id"])
            if not any(e.get("sender") in ctx.ignored for e in invite if e.get("state_key") == ctx.user_id):
                out["invite"][room_id] = {"invite_state": {"events": invite}}
        elif membership == "knock":
            out["knock"][room_id] = {"knock_state": {"events": await sections.stripped_state(ctx, room_id, change["event_id"])}}
        elif membership in ("leave", "ban") and (position is not None or f.include_leave):
            out["leave"][room_id] = await sections.left_room(ctx, room_id, position, change["stream_ordering"])
    return out


async def _current_non_joins(ctx: sections.RoomContext, include_leave: bool) -> list[Any]:
    memberships = ("invite", "knock", "leave", "ban") if include_leave else ("invite", "knock")
    found = await room_store.rooms_for_user(ctx.conn, ctx.user_id, memberships)
    return [{"room_id": m.room_id, "membership": m.membership, "event_id": m.event_id,
             "stream_ordering": m.stream_ordering} for m in found]


async def _account_data(
    ctx: sections.RoomContext, position: int | None, joined_sections: dict[str, Any], probe: sync_store.Changes | None
) -> list[dict[str, Any]]:
    """Global account data in the response; per-room account data goes into its room."""
    changed = []
    if probe is None or probe.account_data:
        changed = await account_data_store.account_data_since(ctx.conn, ctx.user_id, position or 0, ctx.upto)
    global_events = []
    if ctx.filter.account_data.allows("m.push_rules") and (
        probe is None or position is None or position < probe.push_rules_stream <= ctx.upto
    ):
        global_events.append({"type": "m.push_rules", "content": await push_rules_content(ctx.conn, ctx.user_id)})
    for room_id, data_type, content in changed:
        if room_id == account_data_store.GLOBAL:
            if ctx.filter.account_data.allows(data_type):
                global_events.append({"type": data_type, "content": content})
        elif room_id in joined_sections and ctx.filter.room_account_data.allows(data_type):
            joined_sections[room_id].setdefault("account_data", {"events": []})["events"].append(
                {"type": data_type, "content": content})
    return global_events


async def _to_device(
    ctx: sections.RoomContext, since: SyncToken | None, probe: sync_store.Changes | None
) -> tuple[list[dict[str, Any]], int]:
    """Deliver this device's messages in order; delete those a previous response carried
    (this request's ``since`` proves the client stored it)."""
    acked = since.to_device if since is not None else 0
    if acked and (probe is None or probe.to_device_acknowledged):
        await sync_store.delete_to_device_upto(ctx.conn, ctx.user_id, ctx.device_id, acked)
    if probe is not None and not probe.to_device:
        return [], acked
    messages = await sync_store.to_device_since(ctx.conn, ctx.user_id, ctx.device_id, acked, ctx.upto, TO_DEVICE_LIMIT)
    events = [{"sender": m.sender, "type": m.type, "content": m.content} for m in messages]
    return events, messages[-1].stream_id if messages else acked
