"""The per-room sections of a /sync response: join, invite, leave and knock
(spec: client-server-api "Syncing", sync.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from homeserver.cache import LruCache
from homeserver.timeline import visibility
from homeserver.timeline.format import client_events
from homeserver.timeline.tokens import stream_token
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


    async def serve_timelines(self, timelines: dict[str, list[StoredEvent]]) -> dict[str, list[dict[str, Any]]]:
        """Timelines of several rooms, served with their aggregations and this device's
        transaction IDs, in as few queries as the rooms' versions allow."""
        by_version: dict[str, list[StoredEvent]] = {}
        for room_id, events in timelines.items():
            by_version.setdefault(await self.room_version(room_id), []).extend(events)
        served: dict[str, dict[str, Any]] = {}
        for version, events in by_version.items():
            for event, json in zip(events, await client_events(self.conn, events, version, user_id=self.user_id)):
                served[event.event_id] = json
        mine = [e["event_id"] for e in served.values() if e["sender"] == self.user_id]
        txns = await sync_store.txn_ids(self.conn, self.user_id, self.device_id, mine) if mine else {}
        for event_id, txn in txns.items():
            served[event_id].setdefault("unsigned", {})["transaction_id"] = txn
        return {room_id: [apply_event_fields(served[e.event_id], self.filter.event_fields) for e in events]
                for room_id, events in timelines.items()}


async def _timelines(
    ctx: RoomContext, after: dict[str, int | None], before: int
) -> dict[str, tuple[list[StoredEvent], bool]]:
    """The last events of each room in (after[room], before], visible to the user, and
    whether more came before them (``limited``)."""
    limit = ctx.filter.timeline_limit
    f = ctx.filter.timeline
    types, not_types = f.type_patterns()
    found = await event_store.room_timelines(
        ctx.conn, after, before=before + 1, limit=limit + 1, types=types, not_types=not_types,
        senders=list(f.senders) if f.senders is not None else None, not_senders=list(f.not_senders) or None,
    )
    candidates = [e for events in found.values() for e in reversed(events[:limit])]
    memberships = ctx.memberships if all(r in ctx.memberships for r in after) else None
    visible = {e.event_id for e in await visibility.filter_events(
        ctx.conn, ctx.user_id, candidates, ignored=ctx.ignored, memberships=memberships)}
    return {room_id: ([e for e in reversed(events[:limit]) if e.event_id in visible], len(events) > limit)
            for room_id, events in found.items()}


async def _timeline(ctx: RoomContext, room_id: str, after: int | None, before: int) -> tuple[list[StoredEvent], bool]:
    return (await _timelines(ctx, {room_id: after}, before))[room_id]


async def _full_state(ctx: RoomContext, room_id: str, timeline: list[StoredEvent], before: int) -> list[StoredEvent]:
    """The state at the start of the timeline (lazily loaded members when asked)."""
    start = timeline[0].stream_ordering if timeline else before + 1
    group = await sync_store.state_group_before(ctx.conn, room_id, start)
    if group is None:
        return []
    ids = await state_store.get_state(ctx.conn, group)
    if ctx.filter.state.lazy_load_members:
        wanted = {e.sender for e in timeline} | {ctx.user_id}
        ids = {k: v for k, v in ids.items() if k[0] != "m.room.member" or k[1] in wanted}
    found = await event_store.get_events(ctx.conn, ids.values())
    return [found[i] for i in ids.values() if i in found]


async def joined_rooms(
    ctx: RoomContext, since: dict[str, int | None], *, full_state: bool = False
) -> dict[str, dict[str, Any]]:
    """Joined rooms' sections: for a room whose ``since`` is None (an initial sync or a
    newly joined room) everything, for the others what changed after it, with the whole
    state at the timeline's start when ``full_state``."""
    timelines = await _timelines(ctx, since, ctx.upto)
    state: dict[str, list[StoredEvent]] = {}
    gaps = {}
    for room_id, (timeline, limited) in timelines.items():
        if since[room_id] is None or full_state:
            state[room_id] = await _full_state(ctx, room_id, timeline, ctx.upto)
        elif limited and timeline:
            gaps[room_id] = (since[room_id], timeline[0].stream_ordering)
    if gaps:
        ids = await sync_store.state_events_between_rooms(ctx.conn, gaps)
        found = await event_store.get_events(ctx.conn, [i for room_ids in ids.values() for i in room_ids])
        for room_id, event_ids in ids.items():
            state[room_id] = [found[i] for i in event_ids if i in found]
    served = await ctx.serve_timelines({room_id: timeline for room_id, (timeline, _) in timelines.items()})
    out = {}
    for room_id, (timeline, limited) in timelines.items():
        prev_batch = stream_token((timeline[0].stream_ordering if timeline else ctx.upto + 1) - 1)
        out[room_id] = {
            "timeline": {"events": served[room_id], "limited": limited, "prev_batch": prev_batch},
            "state": {"events": await ctx.serve(room_id, state.get(room_id, []))},
        }
    return out


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
    """What an invitee or knocker sees of a room: a few state events, their inviter's
    membership and their own, each stripped to ``type``, ``state_key``, ``content`` and
    ``sender`` (spec: "Stripped state")."""
    keys = [(t, "") for t in STRIPPED_STATE_TYPES]
    ids = await state_store.get_current_state_entries(ctx.conn, room_id, keys)
    found = await event_store.get_events(ctx.conn, [*ids.values(), membership_event_id])
    own = found.pop(membership_event_id, None)
    events = list(found.values())
    if own is not None:
        inviter = await state_store.get_current_state_entries(ctx.conn, room_id, [("m.room.member", own.sender)])
        events += [e for e in (await event_store.get_events(ctx.conn, inviter.values())).values()
                   if e.state_key != ctx.user_id]
        events.append(own)
    return [{"type": e.type, "state_key": e.state_key, "content": e.pdu["content"], "sender": e.sender}
            for e in events]


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
