"""Announcing a device-list change (storage/device_lists.py says who hears of it).

Every write that adds, changes or deletes a device's identity keys, or a user's
cross-signing keys or the signatures on them, calls ``announce`` inside its transaction
(the writer brackets ``Stream.DEVICE_LISTS``): the change takes a position, and the
/syncs of everyone sharing an encrypted room with the user wake for it.
"""

from __future__ import annotations

from typing import Any

from homeserver.storage import device_lists as store
from homeserver.streams.feed import Writer
from homeserver.streams.positions import Stream


async def announce(writer: Writer, conn: Any, user_id: str, *, observer: str | None = None) -> None:
    """``user_id``'s keys changed; with ``observer``, a change only that user may see."""
    [position] = await writer.next(conn, Stream.DEVICE_LISTS)
    rooms = await store.record_change(conn, [user_id], position, observer)
    writer.touch(rooms=rooms, users=[observer or user_id])
