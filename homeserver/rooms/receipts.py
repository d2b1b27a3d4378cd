"""Receipts and read markers (spec: client-server-api "Receipts", "Read and unread
markers"), and what /sync reads of them.

A request names markers (a receipt of a type and thread, or the fully read marker); all
are checked before any is written, then written in one transaction at a stream position.
Receipts and the fully read marker only move forward: one for an earlier event than the
user's current one of the same kind is accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.errors import MatrixError, forbidden, invalid_param, not_found
from homeserver.timeline.push import thread_of
from homeserver.timeline import visibility
from homeserver.server import HomeServer
from homeserver.storage import account_data as account_data_store
from homeserver.storage import events as event_store
from homeserver.storage import receipts as store
from homeserver.storage import rooms as room_store
from homeserver.storage.events import StoredEvent
from homeserver.storage.push import MAIN
from homeserver.streams import Stream

READ = store.READ
READ_PRIVATE = store.READ_PRIVATE
FULLY_READ = "m.fully_read"
RECEIPT_TYPES = (READ, READ_PRIVATE)

# For /sync: the m.receipt EDU content per room (storage/receipts.py).
receipts_since = store.receipts_since


@dataclass(frozen=True, slots=True)
class Marker:
    """``m.read``, ``m.read.private`` (with ``thread_id``: None for unthreaded) or
    ``m.fully_read`` at an event."""

    type: str
    event_id: str
    thread_id: str | None = None


def check_marker(marker: Marker) -> None:
    """The checks that need no database (receipts.yaml 400s)."""
    if marker.type not in (*RECEIPT_TYPES, FULLY_READ):
        raise invalid_param(f"Unknown receipt type {marker.type!r}; expected m.read, m.read.private or m.fully_read")
    if not marker.event_id.startswith("$") or "\x00" in marker.event_id or len(marker.event_id.encode()) > 255:
        raise invalid_param(f"Not a valid event ID: {marker.event_id!r}")
    if marker.thread_id is not None:
        if marker.type == FULLY_READ:
            raise invalid_param("thread_id cannot be given for m.fully_read")
        if not marker.thread_id or (marker.thread_id != MAIN and not marker.thread_id.startswith("$")):
            raise invalid_param("thread_id must be 'main' or a thread root's event ID")


async def set_markers(hs: HomeServer, user_id: str, room_id: str, markers: Sequence[Marker]) -> None:
    """POST /receipt and /read_markers: check every marker, then write them together."""
    for marker in markers:
        check_marker(marker)
    async with hs.db.pool.acquire() as conn:
        await _check_joined(conn, user_id, room_id)
        if not markers:
            return
        events = await _visible_events(conn, user_id, room_id, {m.event_id for m in markers})
        for marker in markers:
            if marker.thread_id is not None:
                await _check_thread(conn, events[marker.event_id], marker.thread_id)
    now_ms = hs.clock.now_ms()
    async with hs.feed.writing(Stream.RECEIPTS, Stream.ACCOUNT_DATA) as writer, hs.db.transaction() as conn:
        for marker in markers:
            event = events[marker.event_id]
            if marker.type == FULLY_READ:
                [position] = await writer.next(conn, Stream.ACCOUNT_DATA)
                if await _move_fully_read(conn, user_id, room_id, event, position):
                    writer.touch(users=[user_id])
                continue
            [position] = await writer.next(conn, Stream.RECEIPTS)
            thread_id = marker.thread_id if marker.thread_id is not None else store.UNTHREADED
            if await store.upsert_receipt(conn, store.Receipt(
                room_id, user_id, marker.type, thread_id, event.event_id, event.stream_ordering, now_ms,
            ), position):
                # Everyone in the room sees an m.read; the reader's own counts change.
                writer.touch(rooms=[room_id], users=[user_id])
                writer.readers.add(user_id)


async def _check_joined(conn: Any, user_id: str, room_id: str) -> None:
    membership = await room_store.get_membership(conn, room_id, user_id)
    if membership is not None and membership.membership == "join":
        return
    if await room_store.get_room_version(conn, room_id) is None:
        raise not_found("Unknown room")
    raise forbidden("You are not in this room")


async def _visible_events(conn: Any, user_id: str, room_id: str, event_ids: set[str]) -> dict[str, StoredEvent]:
    """The events, each in the room and visible to the user; 404 otherwise."""
    found = await event_store.get_events(conn, event_ids)
    candidates = [e for e in found.values() if e.room_id == room_id and not e.rejected]
    visible = {e.event_id: e for e in await visibility.filter_events(conn, user_id, candidates)}
    for event_id in event_ids:
        if event_id not in visible:
            raise not_found(f"Event {event_id} not found")
    return visible


async def _check_thread(conn: Any, event: StoredEvent, thread_id: str) -> None:
    """A threaded receipt must be for an event of that thread (or its root)."""
    if thread_id == event.event_id:
        return
    if await thread_of(conn, event.pdu.get("content") or {}) != thread_id:
        raise MatrixError(400, "M_INVALID_PARAM", f"Event {event.event_id} is not in thread {thread_id}")


async def _move_fully_read(conn: Any, user_id: str, room_id: str, event: StoredEvent, position: int) -> bool:
    current = await account_data_store.get_account_data(conn, user_id, room_id, FULLY_READ)
    current_id = current.get("event_id") if isinstance(current, dict) else None
    if isinstance(current_id, str):
        if current_id == event.event_id:
            return False
        existing = await event_store.get_event(conn, current_id)
        if existing is not None and existing.stream_ordering > event.stream_ordering:
            return False
    await account_data_store.put_account_data(
        conn, user_id, room_id, FULLY_READ, {"event_id": event.event_id}, position
    )
    return True
