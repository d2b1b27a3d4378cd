"""Events as clients see them (spec: client-server-api "Room Event Format"), with their
bundled aggregations (rooms/aggregations.py) when served to a reader."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from homeserver.events.redaction import redact_event
from homeserver.events.room_versions import get_room_version
from homeserver.timeline import aggregations
from homeserver.storage import events as event_store
from homeserver.storage.events import StoredEvent

_CLIENT_KEYS = ("content", "event_id", "origin_server_ts", "room_id", "sender", "state_key", "type")


def client_event(event: StoredEvent, room_version: str, redacted_because: dict[str, Any] | None = None) -> dict[str, Any]:
    pdu = event.pdu
    if redacted_because is not None:
        pdu = redact_event(get_room_version(room_version), pdu)
    out = {key: pdu[key] for key in _CLIENT_KEYS if key in pdu}
    out["event_id"] = event.event_id
    out["room_id"] = event.room_id
    out.setdefault("content", {})
    if pdu.get("type") == "m.room.redaction":
        # rooms/v11.md: servers serve ``redacts`` both at the top level and in content,
        # whichever of the two the room version signs.
        redacts = pdu.get("redacts") or out["content"].get("redacts")
        if isinstance(redacts, str):
            out["redacts"] = redacts
            out["content"] = {**out["content"], "redacts": redacts}
    if redacted_because is not None:
        out["unsigned"] = {"redacted_because": redacted_because}
    return out


async def client_events(
    conn: Any, events: Sequence[StoredEvent], room_version: str, *, user_id: str | None = None
) -> list[dict[str, Any]]:
    """Serve a batch, fetching the redaction events of those that were redacted.

    With the reader's ``user_id``, each event carries the aggregations of the child
    events that reader may see; every read path that serves room events passes it.
    """
    redaction_ids = {e.redacted_by for e in events if e.redacted_by}
    redactions = await event_store.get_events(conn, redaction_ids) if redaction_ids else {}
    bundles = await aggregations.bundles(conn, user_id, events) if user_id is not None else {}
    relations = await _relations_json(conn, bundles, room_version, user_id) if bundles else {}
    out = []
    for e in events:
        event = client_event(
            e, room_version,
            client_event(redactions[e.redacted_by], room_version) if e.redacted_by in redactions else None,
        )
        if e.event_id in relations:
            event.setdefault("unsigned", {})["m.relations"] = relations[e.event_id]
        out.append(event)
    return out


async def _relations_json(
    conn: Any, bundles: Mapping[str, aggregations.Bundle], room_version: str, user_id: str | None
) -> dict[str, dict[str, Any]]:
    # A thread's latest event is served like any event, with its own aggregations (its
    # edits). It is a thread child, so it has no thread of its own: this recursion ends.
    latest = [b.thread.latest_event for b in bundles.values() if b.thread is not None]
    served = await client_events(conn, latest, room_version, user_id=user_id)
    latest_json = {e.event_id: json for e, json in zip(latest, served)}
    out: dict[str, dict[str, Any]] = {}
    for event_id, bundle in bundles.items():
        relations: dict[str, Any] = {}
        if bundle.replace is not None:
            relations[aggregations.REPLACE] = client_event(bundle.replace, room_version)
        if bundle.thread is not None:
            relations[aggregations.THREAD] = {
                "latest_event": latest_json[bundle.thread.latest_event.event_id],
                "count": bundle.thread.count,
                "current_user_participated": bundle.thread.current_user_participated,
            }
        if bundle.references:
            relations[aggregations.REFERENCE] = {"chunk": [{"event_id": i} for i in bundle.references]}
        if relations:
            out[event_id] = relations
    return out
