"""The parts of a /sync response, one small provider per stream (Dendrite's
``syncapi/streams`` is the model): each reads what changed in its stream between two
tokens, for all the user's rooms at once, and writes it into the response.

``since`` None means an initial sync: everything current. ``probe`` (when given) is the
one-query answer to "which streams changed" (storage/sync.py ``Changes``), so a
provider whose stream did not change is not run at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from homeserver.server import HomeServer
from homeserver.storage import account_data as account_data_store
from homeserver.storage import device_lists as device_list_store
from homeserver.storage import push as push_store
from homeserver.storage import rooms as room_store
from homeserver.storage import sync as sync_store
from homeserver.storage.receipts import receipts_since
from homeserver.streams import ALL_STREAMS, Stream
from homeserver.sync import rooms as sections
from homeserver.sync.filter import SyncFilter
from homeserver.sync.rooms import RoomContext
from homeserver.sync.tokens import SyncToken
from homeserver.timeline.push import push_rules_content

TO_DEVICE_LIMIT = 100


@dataclass
class Body:
    """A response being built: its JSON, and how far the device's to-device messages go."""

    json: dict[str, Any] = field(default_factory=lambda: {
        "rooms": {"join": {}, "invite": {}, "leave": {}, "knock": {}},
        "account_data": {"events": []},
        "to_device": {"events": []},
        "presence": {"events": []},
        "device_lists": {"changed": [], "left": []},
        "device_one_time_keys_count": {},
        "device_unused_fallback_key_types": [],
    })
    to_device: int | None = None

    @property
    def rooms(self) -> dict[str, dict[str, Any]]:
        return self.json["rooms"]

    @property
    def joined(self) -> dict[str, Any]:
        return self.json["rooms"]["join"]

    def has_changes(self) -> bool:
        j = self.json
        return bool(any(j["rooms"].values()) or j["account_data"]["events"] or j["to_device"]["events"]
                    or j["presence"]["events"] or j["device_lists"]["changed"] or j["device_lists"]["left"])

    def next_token(self, since: SyncToken | None, upto: SyncToken) -> SyncToken:
        acked = since.to_device if since is not None else 0
        return upto.replace(Stream.TO_DEVICE, self.to_device if self.to_device is not None else acked)


def changed_streams(probe: sync_store.Changes) -> set[Stream]:
    streams = {Stream.EVENTS}
    for stream, changed in (
        (Stream.RECEIPTS, probe.receipts), (Stream.TYPING, probe.typing), (Stream.ACCOUNT_DATA, probe.account_data),
        (Stream.TO_DEVICE, probe.to_device or probe.to_device_acknowledged), (Stream.PRESENCE, probe.presence),
        (Stream.DEVICE_LISTS, probe.device_lists or probe.encrypted_memberships or probe.memberships),
    ):
        if changed:
            streams.add(stream)
    return streams


def rooms_with_news(f: SyncFilter, room_ids: Iterable[str]) -> list[str]:
    return sorted(f.rooms_allowed(room_ids))


# -- room events ---------------------------------------------------------------------------


async def rooms(
    hs: HomeServer, ctx: RoomContext, since: SyncToken | None, probe: sync_store.Changes | None, body: Body,
    full_state: bool = False,
) -> None:
    """Joined, invited, left and knocked rooms, from the EVENTS stream. With
    ``full_state`` every joined room comes with its whole state, while the timelines
    still start after ``since`` (spec: GET /sync ``full_state``)."""
    f = ctx.filter
    position = since[Stream.EVENTS] if since is not None else None
    joined = list(ctx.memberships)
    changes = await sync_store.membership_changes(ctx.conn, ctx.user_id, position, ctx.upto) if (
        probe is not None and probe.memberships) else []
    newly_joined = {c["room_id"] for c in changes if c["membership"] == "join"}
    allowed = set(f.rooms_allowed(joined))
    if position is None or full_state:
        active = sorted(allowed)
    else:
        assert probe is not None
        active = sorted((set(probe.rooms_with_events) & allowed) | (newly_joined & allowed))
    out = body.rooms
    if active:
        out["join"].update(await sections.joined_rooms(
            ctx, {r: None if position is None or r in newly_joined else position for r in active},
            full_state=full_state,
        ))
    # A summary only where members may have changed (the spec lets unchanged ones go).
    changed = [r for r, section in out["join"].items() if position is None or full_state or r in newly_joined or any(
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


async def _current_non_joins(ctx: RoomContext, include_leave: bool) -> list[Any]:
    memberships = ("invite", "knock", "leave", "ban") if include_leave else ("invite", "knock")
    found = await room_store.rooms_for_user(ctx.conn, ctx.user_id, memberships)
    return [{"room_id": m.room_id, "membership": m.membership, "event_id": m.event_id,
             "stream_ordering": m.stream_ordering} for m in found]


async def unread(ctx: RoomContext, joined_sections: dict[str, Any], room_ids: list[str]) -> None:
    """Unread notification and highlight counts of every joined room in the response."""
    counts = await push_store.unread_counts(ctx.conn, ctx.user_id, room_ids) if room_ids else {}
    threaded = ctx.filter.timeline.unread_thread_notifications
    for room_id, section in joined_sections.items():
        section.update(counts[room_id].to_sync_json(threaded) if room_id in counts
                       else {"unread_notifications": {"notification_count": 0, "highlight_count": 0}})


# -- the other streams -------------------------------------------------------------------


async def run(
    hs: HomeServer, ctx: RoomContext, since: SyncToken | None, upto: SyncToken, streams: set[Stream], body: Body,
    probe: sync_store.Changes | None,
) -> None:
    """The providers of ``streams`` other than room events, and the device's key counts."""
    for stream in ALL_STREAMS:
        provider = _PROVIDERS.get(stream)
        if provider is not None and stream in streams:
            await provider(hs, ctx, since[stream] if since is not None else 0, upto[stream], body, probe)
    if Stream.DEVICE_LISTS in streams and since is not None:
        await _device_lists(ctx, since, upto, body, probe)
    keys = probe.keys if probe is not None else await sync_store.key_counts(ctx.conn, ctx.user_id, ctx.device_id)
    body.json["device_one_time_keys_count"] = keys.one_time_keys
    body.json["device_unused_fallback_key_types"] = keys.unused_fallback_key_types


def _joined_allowed(ctx: RoomContext) -> list[str]:
    return ctx.filter.rooms_allowed(ctx.memberships)


def _ephemeral(body: Body, room_id: str, event: dict[str, Any]) -> None:
    section = body.joined.setdefault(room_id, _empty_joined())
    section.setdefault("ephemeral", {"events": []})["events"].append(event)


def _empty_joined() -> dict[str, Any]:
    return {"timeline": {"events": [], "limited": False}, "state": {"events": []}}


async def _receipts(hs: HomeServer, ctx: RoomContext, since: int, upto: int, body: Body, probe: Any) -> None:
    rooms = _joined_allowed(ctx)
    if rooms and ctx.filter.ephemeral.allows("m.receipt"):
        for room_id, content in (await receipts_since(ctx.conn, ctx.user_id, rooms, since, upto)).items():
            _ephemeral(body, room_id, {"type": "m.receipt", "content": content})


async def _typing(hs: HomeServer, ctx: RoomContext, since: int, upto: int, body: Body, probe: Any) -> None:
    rooms = _joined_allowed(ctx)
    if rooms and ctx.filter.ephemeral.allows("m.typing"):
        for room_id, user_ids in (await hs.typing.typers(ctx.conn, rooms, since, upto)).items():
            _ephemeral(body, room_id, {"type": "m.typing", "content": {"user_ids": user_ids}})


async def _account_data(
    hs: HomeServer, ctx: RoomContext, since: int, upto: int, body: Body, probe: sync_store.Changes | None
) -> None:
    """Global account data at the top; a joined room's own goes into its section, which
    is there even when nothing else in the room changed."""
    f = ctx.filter
    events = body.json["account_data"]["events"]
    push_rules_stream = (probe.push_rules_stream if probe is not None
                         else await push_store.push_rules_stream_id(ctx.conn, ctx.user_id))
    if f.account_data.allows("m.push_rules") and (since == 0 or since < push_rules_stream <= upto):
        events.append({"type": "m.push_rules", "content": await push_rules_content(ctx.conn, ctx.user_id)})
    for room_id, data_type, content in await account_data_store.account_data_since(ctx.conn, ctx.user_id, since, upto):
        if room_id == account_data_store.GLOBAL:
            if f.account_data.allows(data_type):
                events.append({"type": data_type, "content": content})
        elif room_id in ctx.memberships and f.room_allowed(room_id) and f.room_account_data.allows(data_type):
            section = body.joined.setdefault(room_id, _empty_joined())
            section.setdefault("account_data", {"events": []})["events"].append({"type": data_type, "content": content})


async def _to_device(hs: HomeServer, ctx: RoomContext, since: int, upto: int, body: Body, probe: Any) -> None:
    """Deliver this device's messages in order; delete those a previous response carried
    (this request's ``since`` proves the client stored it)."""
    if since:
        await sync_store.delete_to_device_upto(ctx.conn, ctx.user_id, ctx.device_id, since)
    messages = await sync_store.to_device_since(ctx.conn, ctx.user_id, ctx.device_id, since, upto, TO_DEVICE_LIMIT)
    body.json["to_device"]["events"] = [{"sender": m.sender, "type": m.type, "content": m.content} for m in messages]
    if messages:
        body.to_device = messages[-1].stream_id


async def _presence(hs: HomeServer, ctx: RoomContext, since: int, upto: int, body: Body, probe: Any) -> None:
    if ctx.filter.presence.types == ():
        return
    events = await hs.presence.events_since(ctx.conn, ctx.user_id, since, upto)
    body.json["presence"]["events"] = [e for e in events if ctx.filter.presence.allows(e["type"], e.get("sender"))]


async def _device_lists(
    ctx: RoomContext, since: SyncToken, upto: SyncToken, body: Body, probe: sync_store.Changes | None
) -> None:
    """Only in an incremental sync (spec: "Extensions to /sync"). Memberships are looked
    at when the probe saw them change (a response from memory carries no state events)."""
    memberships = probe is not None and (probe.memberships or probe.encrypted_memberships)
    found = await device_list_store.changes(
        ctx.conn, ctx.user_id, (since[Stream.DEVICE_LISTS], upto[Stream.DEVICE_LISTS]),
        (since[Stream.EVENTS], upto[Stream.EVENTS]) if memberships else None,
    )
    body.json["device_lists"] = {"changed": found.changed, "left": found.left}


_PROVIDERS = {
    Stream.RECEIPTS: _receipts,
    Stream.TYPING: _typing,
    Stream.ACCOUNT_DATA: _account_data,
    Stream.TO_DEVICE: _to_device,
    Stream.PRESENCE: _presence,
}
