"""Answering a woken long-poll from what the change feed carries (delivery from memory).

The feed wakes a parked /sync with exactly the changes past its last response that
concern its user. When the room events among them are messages this process just wrote
(it holds them as committed, with their push actions) in rooms the user is joined to,
the timelines are built from them without reading the database; the other streams that
changed (a receipt, typing) are read by their providers as usual. Anything else (an
event from another process, a state event, a redaction, a membership change of the
user, more events than the timeline limit, an edit of an event in the same batch) makes
``plan`` answer None, and the /sync reads everything from the database as always.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeserver.events.constants import REDACTION
from homeserver.storage.events import StoredEvent
from homeserver.storage.rooms import Membership
from homeserver.streams import Change, CommittedEvent, Stream
from homeserver.sync.filter import apply_event_fields
from homeserver.sync.rooms import RoomContext
from homeserver.timeline.format import client_event
from homeserver.timeline.tokens import stream_token


@dataclass
class Plan:
    # New events per joined room, in stream order.
    events: dict[str, list[CommittedEvent]] = field(default_factory=dict)
    # The other streams that changed: their providers read the database.
    streams: set[Stream] = field(default_factory=set)

    @property
    def rooms(self) -> list[str]:
        return list(self.events)


def plan(memberships: Mapping[str, Membership], changes: list[Change]) -> Plan | None:
    out = Plan()
    for change in changes:
        for stream in change.positions:
            if stream != Stream.EVENTS:
                out.streams.add(stream)
        if Stream.EVENTS not in change.positions:
            continue
        if change.origin or not change.events:
            return None  # another process wrote it: only the database has it
        for event in change.events:
            if event.room_id not in memberships or memberships[event.room_id].membership != "join":
                return None  # e.g. an invite for the user
            if event.is_state or event.type == REDACTION:
                return None
            out.events.setdefault(event.room_id, []).append(event)
    ids = {e.event_id for events in out.events.values() for e in events}
    for events in out.events.values():
        events.sort(key=lambda e: e.stream_ordering)
        for event in events:
            relates = event.pdu.get("content", {}).get("m.relates_to")
            if isinstance(relates, dict) and relates.get("event_id") in ids:
                return None  # its target's bundled aggregations changed too
    return out


async def timelines(ctx: RoomContext, plan: Plan, joined_sections: dict[str, Any]) -> None:
    """The joined rooms' sections for the plan's events."""
    f = ctx.filter
    limit = f.timeline_limit
    for room_id, events in plan.events.items():
        if not f.room_allowed(room_id):
            continue
        shown = [e for e in events if f.timeline.allows(e.type, e.sender) and e.sender not in ctx.ignored]
        if len(shown) > limit:
            raise TooMany
        if not shown:
            continue
        version = await ctx.room_version(room_id)
        served = [apply_event_fields(_serve(ctx, e, version), f.event_fields) for e in shown]
        joined_sections[room_id] = {
            "timeline": {"events": served, "limited": False, "prev_batch": stream_token(shown[0].stream_ordering - 1)},
            "state": {"events": []},
        }


class TooMany(Exception):
    """More new events than the timeline holds: the database answers (with the gap's state)."""


def _serve(ctx: RoomContext, event: CommittedEvent, room_version: str) -> dict[str, Any]:
    stored = StoredEvent(
        event.event_id, event.room_id, event.stream_ordering, event.pdu["depth"], event.type, None, event.sender,
        event.pdu["origin_server_ts"], dict(event.pdu), 0, None, False,
    )
    out = client_event(stored, room_version)
    if event.txn is not None and event.sender == ctx.user_id and event.txn[0] == ctx.device_id:
        out.setdefault("unsigned", {})["transaction_id"] = event.txn[1]
    return out
