"""Server-side key backups (spec: client-server-api "Server-side key backups",
key_backup.yaml): versions with their ``auth_data``, and encrypted room keys that only
ever go into the latest version.

Clients read 404 ``M_NOT_FOUND`` from ``GET /room_keys/version`` as "no backup". Version
numbers are never reused, so a client still writing to a deleted or replaced version is
told ``M_WRONG_ROOM_KEYS_VERSION`` with the current one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.e2ee import checks
from homeserver.errors import MatrixError, bad_json, invalid_param, not_found
from homeserver.server import HomeServer
from homeserver.storage import room_keys as store
from homeserver.storage.room_keys import BackupVersion, RoomKey

MAX_ALGORITHM_LENGTH = 255
MAX_AUTH_DATA_BYTES = 16_384
MAX_SESSION_DATA_BYTES = 16_384
MAX_ID_BYTES = 255


def parse_version(raw: str) -> int | None:
    """A version from a path or query; None for one this server never handed out."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 18 else None


def check_version_body(body: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    algorithm, auth_data = body.get("algorithm"), body.get("auth_data")
    if algorithm is None or auth_data is None:
        raise MatrixError(400, "M_MISSING_PARAM", "'algorithm' and 'auth_data' are required")
    if not isinstance(algorithm, str) or not 0 < len(algorithm) <= MAX_ALGORITHM_LENGTH:
        raise bad_json("'algorithm' must be a backup algorithm name")
    if not isinstance(auth_data, dict):
        raise bad_json("'auth_data' must be an object")
    checks.check_size(auth_data, MAX_AUTH_DATA_BYTES, "'auth_data'")
    return algorithm, auth_data


def version_json(version: BackupVersion) -> dict[str, Any]:
    return {"algorithm": version.algorithm, "auth_data": version.auth_data, "count": version.count,
            "etag": str(version.etag), "version": str(version.version)}


def update_json(version: BackupVersion) -> dict[str, Any]:
    return {"etag": str(version.etag), "count": version.count}


async def create_version(hs: HomeServer, user_id: str, algorithm: str, auth_data: dict[str, Any]) -> str:
    async with hs.db.transaction() as conn:
        await store.lock_user(conn, user_id)
        return str(await store.create_version(conn, user_id, algorithm, auth_data))


async def get_version(hs: HomeServer, user_id: str, raw_version: str | None) -> BackupVersion:
    """The named version, or the latest one (None)."""
    if raw_version is None:
        found = await store.latest_version(hs.db.pool, user_id)
        if found is None:
            raise not_found("No current backup version")
        return found
    return await _existing(hs.db.pool, user_id, raw_version)


async def _existing(conn: Any, user_id: str, raw_version: str) -> BackupVersion:
    version = parse_version(raw_version)
    found = await store.get_version(conn, user_id, version) if version is not None else None
    if found is None:
        raise not_found("Unknown backup version")
    return found


async def update_version(
    hs: HomeServer, user_id: str, raw_version: str, algorithm: str, auth_data: dict[str, Any], body_version: Any
) -> None:
    """Only ``auth_data`` can change (spec: PUT /room_keys/version/{version})."""
    if body_version is not None and body_version != raw_version:
        raise invalid_param("'version' in the body must be the version in the path")
    async with hs.db.transaction() as conn:
        await store.lock_user(conn, user_id)
        current = await _existing(conn, user_id, raw_version)
        if algorithm != current.algorithm:
            raise invalid_param("The algorithm of a backup cannot change")
        await store.set_auth_data(conn, user_id, current.version, auth_data)


async def delete_version(hs: HomeServer, user_id: str, raw_version: str) -> None:
    """Delete the version and its keys; deleting it again succeeds."""
    version = parse_version(raw_version)
    async with hs.db.transaction() as conn:
        await store.lock_user(conn, user_id)
        if version is None or not await store.delete_version(conn, user_id, version):
            raise not_found("Unknown backup version")


# -- keys -----------------------------------------------------------------------------


def check_room_keys(rooms: Any) -> list[RoomKey]:
    """``{room_id: {"sessions": {session_id: KeyBackupData}}}`` into keys, each checked."""
    if not isinstance(rooms, dict):
        raise bad_json("'rooms' must map room IDs to objects")
    keys = []
    for room_id, room in rooms.items():
        if not isinstance(room, dict) or not isinstance(room.get("sessions"), dict):
            raise bad_json("Each room must be an object with 'sessions'")
        keys += check_sessions(room_id, room["sessions"])
    return keys


def check_sessions(room_id: str, sessions: Any) -> list[RoomKey]:
    _check_id(room_id, "room ID")
    if not isinstance(sessions, dict):
        raise bad_json("'sessions' must map session IDs to key data")
    return [check_key_data(room_id, session_id, data) for session_id, data in sessions.items()]


def check_key_data(room_id: str, session_id: str, data: Any) -> RoomKey:
    """One KeyBackupData (key_backup_data.yaml)."""
    _check_id(session_id, "session ID")
    if not isinstance(data, dict):
        raise bad_json("Key data must be an object")
    for name in ("first_message_index", "forwarded_count"):
        value = data.get(name)
        if value is None:
            raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameter: {name}")
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53:
            raise bad_json(f"'{name}' must be a non-negative integer")
    if not isinstance(data.get("is_verified"), bool):
        raise bad_json("'is_verified' must be a boolean")
    if not isinstance(data.get("session_data"), dict):
        raise bad_json("'session_data' must be an object")
    checks.check_size(data["session_data"], MAX_SESSION_DATA_BYTES, "'session_data'")
    return RoomKey(room_id, session_id, data["first_message_index"], data["forwarded_count"], data["is_verified"],
                   data["session_data"])


def _check_id(value: str, what: str) -> None:
    if not value or len(value.encode()) > MAX_ID_BYTES:
        raise invalid_param(f"Not a valid {what}")


async def put_keys(hs: HomeServer, user_id: str, raw_version: str, keys: list[RoomKey]) -> BackupVersion:
    """Store keys into the latest version, keeping the better key of each session."""
    async with hs.db.transaction() as conn:
        await store.lock_user(conn, user_id)
        current = await store.latest_version(conn, user_id)
        if current is None:
            raise not_found("Unknown backup version")
        if parse_version(raw_version) != current.version:
            raise MatrixError(403, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version",
                              current_version=str(current.version))
        return await store.put_keys(conn, user_id, current.version, keys) if keys else current


async def get_keys(
    hs: HomeServer, user_id: str, raw_version: str, room_id: str | None = None, session_id: str | None = None
) -> list[RoomKey]:
    version = await _existing(hs.db.pool, user_id, raw_version)
    return await store.get_keys(hs.db.pool, user_id, version.version, room_id, session_id)


async def delete_keys(
    hs: HomeServer, user_id: str, raw_version: str, room_id: str | None = None, session_id: str | None = None
) -> BackupVersion:
    async with hs.db.transaction() as conn:
        await store.lock_user(conn, user_id)
        version = await _existing(conn, user_id, raw_version)
        return await store.delete_keys(conn, user_id, version.version, room_id, session_id)


def key_json(key: RoomKey) -> dict[str, Any]:
    return {"first_message_index": key.first_message_index, "forwarded_count": key.forwarded_count,
            "is_verified": key.is_verified, "session_data": key.session_data}


def rooms_json(keys: list[RoomKey]) -> dict[str, Any]:
    rooms: dict[str, Any] = {}
    for key in keys:
        rooms.setdefault(key.room_id, {"sessions": {}})["sessions"][key.session_id] = key_json(key)
    return rooms
