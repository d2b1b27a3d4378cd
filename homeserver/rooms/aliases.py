"""Room aliases (spec: client-server-api "Room aliases", appendices "Room Aliases")."""

from __future__ import annotations

from typing import Any

from homeserver.errors import MatrixError
from homeserver.server import HomeServer
from homeserver.storage import rooms as room_store

MAX_ALIAS_BYTES = 255


def make_alias(hs: HomeServer, localpart: str) -> str:
    if not localpart or any(c in localpart for c in ":# \t\n") or localpart != localpart.strip():
        raise MatrixError(400, "M_INVALID_PARAM", "Invalid alias name")
    alias = f"#{localpart}:{hs.server_name}"
    if len(alias.encode()) > MAX_ALIAS_BYTES:
        raise MatrixError(400, "M_INVALID_PARAM", "Alias is too long")
    return alias


def parse_alias(alias: str) -> tuple[str, str]:
    localpart, sep, server = alias[1:].partition(":")
    if not alias.startswith("#") or not sep or not localpart or not server or len(alias.encode()) > MAX_ALIAS_BYTES:
        raise MatrixError(400, "M_INVALID_PARAM", f"Not a room alias: {alias!r}")
    return localpart, server


async def create_alias(conn: Any, alias: str, room_id: str, creator: str) -> None:
    if not await room_store.insert_alias(conn, alias, room_id, creator):
        raise MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken")


async def resolve(hs: HomeServer, alias: str) -> str:
    parse_alias(alias)
    found = await room_store.get_alias(hs.db.pool, alias)
    if found is None:
        raise MatrixError(404, "M_NOT_FOUND", f"Room alias {alias} not found")
    return found[0]
