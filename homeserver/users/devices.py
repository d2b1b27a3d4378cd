"""Device management: a user lists, renames and deletes their own devices
(spec: client-server-api "Device Management")."""

from __future__ import annotations

from homeserver.errors import invalid_param, not_found
from homeserver.server import HomeServer
from homeserver.storage import devices as store
from homeserver.storage import e2e_keys as key_store
from homeserver.storage.devices import Device
from homeserver.streams import Stream
from homeserver.streams.device_lists import announce
from homeserver.users import sessions

# As accepted for initial_device_display_name at login and registration.
MAX_DISPLAY_NAME_LENGTH = 255


def check_device_id(device_id: str) -> None:
    if not _can_exist(device_id):
        raise invalid_param("Not a valid device ID")


async def list_devices(hs: HomeServer, user_id: str) -> list[Device]:
    return await store.list_devices(hs.db.pool, user_id)


async def get_device(hs: HomeServer, user_id: str, device_id: str) -> Device:
    device = await store.get_device(hs.db.pool, user_id, device_id)
    if device is None:
        raise not_found("Unknown device")
    return device


async def rename_device(hs: HomeServer, user_id: str, device_id: str, display_name: str | None) -> None:
    """Set the display name ('' clears it); None leaves it as it is. Other users read it
    in /keys/query, so renaming a device with keys is a device-list change."""
    if display_name is None:
        await get_device(hs, user_id, device_id)
        return
    async with hs.feed.writing(Stream.DEVICE_LISTS) as writer, hs.db.transaction() as conn:
        if not await store.set_display_name(conn, user_id, device_id, display_name or None):
            raise not_found("Unknown device")
        if await key_store.get_device_keys(conn, user_id, device_id) is not None:
            await announce(writer, conn, user_id)


async def delete_devices(hs: HomeServer, user_id: str, device_ids: list[str]) -> None:
    """Delete the devices and with them their tokens and keys; IDs of no device are ignored."""
    await sessions.end_devices(hs, user_id, [d for d in device_ids if _can_exist(d)])


def _can_exist(device_id: str) -> bool:
    # PostgreSQL text cannot hold NUL, so no device has an ID containing one.
    return "\x00" not in device_id
