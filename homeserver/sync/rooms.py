"""The per-room sections of a /sync response: join, invite, leave and knock
(spec: client-server-api "Syncing", sync.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from homeserver.cache import LruCache
from homeserver.rooms import visibility
from homeserver.rooms.format import client_events
from homeserver.rooms.read import stream_token
from homeserver.storage import events as event_store
from homeserver.storage import rooms as room_store
from homeserver.storage import state as state_store
from homeserver.storage import sync as sync_store
from homeserver.storage.events import StoredEvent
from homeserver.sync.filter import SyncFilter, apply_event_fields

# Shown to invitees and knockers before they join (spec: "Stripped state").
STRIPPED_STATE_TYPES = (
    "m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias",
    "m.room.encryption", "m.room.topic",
)


@dataclass
class RoomContext:
    """What every room section of one /sync needs: who asks, how, up to where."""

    conn: asyncpg.Connection
    user_id: str
    device_id: str
    filter: SyncFilter
    upto: int
    ignored: frozenset[str] = frozenset()
    memberships: dict[str, room_store.Membership] = field(default_factory=dict)
    # Room versions never change: the HomeServer's cache of them (hs.room_versions).
    versions: LruCache[str, str] = field(default_factory=lambda: LruCache(1000))

    async def room_version(self, room_id: str) -> str:
        version = self.versions.get(room_id)
        if version is None:
            version = await room_store.get_room_version(self.conn, room_id)
            if version is None:
                return "12"
            self.versions.put(room_id, version)
        return version

    async def serve(self, room_id: str, events: list[StoredEvent], *, timeline: bool = False) -> list[dict[str, Any]]:
        served = await client_events(self.conn, events, await self.room_version(room_id),
                                     user_id=self.user_id if timeline else None)
        if timeline:
            mine = [e["event_id"] for e in served if e["sender"] == self.user_id]
            txns = await sync_store.txn_ids(self.conn, self.user_id, self.device_id, mine) if mine else {}
            for event in served:
                txn = txns.get(event["event_id"])
                if txn is not None:
                    event.setdefault("unsigned", {})["transaction_id"] = txn
        return [apply_event_fields(e, self.filter.event_fields) for e in served]


async def _timeline(ctx: RoomContext, room_id: str, after: int | None, before: int) -> tuple[list[StoredEvent], bool]:
    """The last events of a room in (after, before], visible to the user; and whether
    more came before them (``limited``)."""
    limit = ctx.filter.timeline_limit
    f = ctx.filter.timeline
    types, not_types = f.type_patterns()
    events = await event_store.room_events(
        ctx.conn, room_id, after=after, before=before + 1, backwards=True, limit=limit + 1,
        types=types, not_types=not_types,
        senders=list(f.senders) if f.senders is not None else None, not_senders=list(f.not_senders) or None,
    )
    limited = len(events) > limit
    events = list(reversed(events[:limit]))
    memberships = ctx.memberships if room_id in ctx.memberships else None
    return await visibility.filter_events(
        ctx.conn, ctx.user_id, events, ignored=ctx.ignored, memberships=memberships), limited


async def _full_state(ctx: RoomContext, room_id: str, timeline: list[StoredEvent], before: int) -> list[StoredEvent]:
    """The state at the start of the timeline (lazily loaded members when asked)."""
    start = timeline[0].stream_ordering if timeline else before + 1
    group = await sync_store.state_group_before(ctx.conn, room_id, start)
    if group is None:
        return []
    if ctx.filter.state.lazy_load_members:
        wanted = {e.sender for e in timeline} | {ctx.user_id}
        ids = await state_store.get_state(ctx.conn, group)
        ids = {k: v for k, v in ids.items() if k[0] != "m.room.member" or k[1] in wanted}
    else:
        ids = await state_store.get_state(ctx.conn, group)
    found = await event_store.get_events(ctx.conn, ids.values())
    return [found[i] for i in ids.values() if i in found]


async def joined_room(ctx: RoomContext, room_id: str, since: int | None) -> dict[str, Any]:
    """A joined room's section: everything (``since`` None: initial sync, full state, or a
    newly joined room) or what changed after ``since``."""
    timeline, limited = await _timeline(ctx, room_id, since, ctx.upto)
    if since is None:
        state = await _full_state(ctx, room_id, timeline, ctx.upto)
    elif limited and timeline:
        ids = await sync_store.state_events_between(ctx.conn, room_id, since, timeline[0].stream_ordering)
        state = list((await event_store.get_events(ctx.conn, ids)).values())
    else:
        state = []
    prev_batch = stream_token((timeline[0].stream_ordering if timeline else ctx.upto + 1) - 1)
    return {
        "timeline": {
            "events": await ctx.serve(room_id, timeline, timeline=True),
            "limited": limited,
            "prev_batch": prev_batch,
        },
        "state": {"events": await ctx.serve(room_id, state)},
    }


async def left_room(ctx: RoomContext, room_id: str, since: int | None, leave_stream: int) -> dict[str, Any]:
    """A room the user left: its timeline up to and including the leave."""
    timeline, limited = await _timeline(ctx, room_id, since, leave_stream)
    state = await _full_state(ctx, room_id, timeline, leave_stream) if since is None else []
    return {
        "timeline": {
            "events": await ctx.serve(room_id, timeline, timeline=True),
            "limited": limited,
            "prev_batch": stream_token((timeline[0].stream_ordering if timeline else leave_stream) - 1),
        },
        "state": {"events": await ctx.serve(room_id, state)},
    }


async def stripped_state(ctx: RoomContext, room_id: str, membership_event_id: str) -> list[dict[str, Any]]:
    """What an invitee or knocker sees of a room: a few state events, stripped, and their
    own membership event (spec: "Stripped state")."""
    keys = [(t, "") for t in STRIPPED_STATE_TYPES]
    ids = await state_store.get_current_state_entries(ctx.conn, room_id, keys)
    found = await event_store.get_events(ctx.conn, [*ids.values(), membership_event_id])
    stripped = [
        {"type": e.type, "state_key": e.state_key, "content": e.pdu["content"], "sender": e.sender}
        for e in found.values() if e.event_id != membership_event_id
    ]
    own = found.get(membership_event_id)
    if own is not None:
        inviter = await state_store.get_current_state_entries(ctx.conn, room_id, [("m.room.member", own.sender)])
        inviter_event = await event_store.get_events(ctx.conn, inviter.values())
        stripped += [{"type": e.type, "state_key": e.state_key, "content": e.pdu["content"], "sender": e.sender}
                     for e in inviter_event.values() if e.state_key != ctx.user_id]
        stripped += await ctx.serve(room_id, [own])
    return stripped


async def summaries(ctx: RoomContext, room_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``summary`` for each room: heroes and member counts, in two queries for all rooms."""
    if not room_ids:
        return {}
    counts = await sync_store.member_counts(ctx.conn, room_ids)
    heroes = await sync_store.heroes(ctx.conn, room_ids, ctx.user_id)
    return {
        room_id: {
            "m.heroes": heroes.get(room_id, []),
            "m.joined_member_count": counts.get(room_id, {}).get("join", 0),
            "m.invited_member_count": counts.get(room_id, {}).get("invite", 0),
        }
        for room_id in room_ids
    }
