"""Events as clients see them (spec: client-server-api "Room Event Format")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeserver.events.redaction import redact_event
from homeserver.events.room_versions import get_room_version
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
    if "redacts" in pdu:  # room versions before 11 carry it at the top level
        out["redacts"] = pdu["redacts"]
    if redacted_because is not None:
        out["unsigned"] = {"redacted_because": redacted_because}
    return out


async def client_events(conn: Any, events: Sequence[StoredEvent], room_version: str) -> list[dict[str, Any]]:
    """Serve a batch, fetching the redaction events of those that were redacted."""
    redaction_ids = {e.redacted_by for e in events if e.redacted_by}
    redactions = await event_store.get_events(conn, redaction_ids) if redaction_ids else {}
    return [
        client_event(
            e, room_version,
            client_event(redactions[e.redacted_by], room_version) if e.redacted_by in redactions else None,
        )
        for e in events
    ]
