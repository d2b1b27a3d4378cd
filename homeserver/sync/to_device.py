"""Send-to-device messages (spec: client-server-api "Send-to-Device messaging"): stored
per target device at one stream position, delivered by /sync in order, deleted once a
later /sync acknowledges them."""

from __future__ import annotations

from typing import Any

from homeserver.errors import MatrixError
from homeserver.server import HomeServer
from homeserver.storage import devices as device_store
from homeserver.storage import sync as sync_store
from homeserver.streams import Stream
from homeserver.identifiers import split_user_id

MAX_MESSAGES = 10_000


async def send_to_device(
    hs: HomeServer, sender: str, sender_device: str, event_type: str, txn_id: str,
    messages: dict[str, Any],
) -> None:
    rows: list[tuple[str, str, str, str, dict[str, Any]]] = []
    for user_id, by_device in messages.items():
        split_user_id(user_id)
        if not isinstance(by_device, dict):
            raise MatrixError(400, "M_BAD_JSON", "'messages' maps user IDs to objects of device IDs")
        if not hs.is_mine(user_id):
            continue  # TODO(federation): queue an m.direct_to_device EDU for the user's server
        devices = None
        for device_id, content in by_device.items():
            if not isinstance(content, dict):
                raise MatrixError(400, "M_BAD_JSON", "Each message must be an object")
            if device_id == "*":
                devices = devices or [d.device_id for d in await device_store.list_devices(hs.db.pool, user_id)]
                rows += [(user_id, d, sender, event_type, content) for d in devices]
            else:
                rows.append((user_id, device_id, sender, event_type, content))
    if len(rows) > MAX_MESSAGES:
        raise MatrixError(413, "M_TOO_LARGE", "Too many messages in one request")
    async with hs.feed.writing(Stream.TO_DEVICE) as writer, hs.db.transaction() as conn:
        if not await sync_store.take_to_device_txn(conn, sender, sender_device, txn_id, hs.clock.now_ms()):
            return  # a retry: already delivered
        if rows:
            [position] = await writer.next(conn, Stream.TO_DEVICE)
            await sync_store.insert_to_device(conn, rows, position)
            writer.touch(users={r[0] for r in rows})
