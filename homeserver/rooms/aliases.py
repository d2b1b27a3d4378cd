"""Room aliases (spec: client-server-api "Room aliases", appendices "Room Aliases").

Aliases live on the server named in them: this server creates and deletes only its own,
and resolves other servers' aliases over federation (``query_remote_alias``).

Who may change a room's directory entries (delete someone else's alias, publish or
unpublish the room) follows Synapse: a server admin, or a joined member whose power level
would let them send ``m.room.canonical_alias`` (``can_edit_directory``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from homeserver.errors import MatrixError
from homeserver.events.constants import CREATE_KEY, POWER_LEVELS_KEY
from homeserver.events.ids import is_valid_server_name
from homeserver.events.power_levels import required_power_level, user_power_level
from homeserver.events.room_versions import get_room_version
from homeserver.rooms.send import Draft, send_event
from homeserver.server import HomeServer
from homeserver.storage import events as event_store
from homeserver.storage import rooms as room_store
from homeserver.storage import state as state_store
from homeserver.requester import Requester

log = logging.getLogger(__name__)

MAX_ALIAS_BYTES = 255
CANONICAL_ALIAS = "m.room.canonical_alias"
HISTORY_VISIBILITY_KEY = ("m.room.history_visibility", "")


def make_alias(hs: HomeServer, localpart: str) -> str:
    if not localpart or any(c in localpart for c in ":# \t\n") or localpart != localpart.strip():
        raise MatrixError(400, "M_INVALID_PARAM", "Invalid alias name")
    alias = f"#{localpart}:{hs.server_name}"
    if len(alias.encode()) > MAX_ALIAS_BYTES:
        raise MatrixError(400, "M_INVALID_PARAM", "Alias is too long")
    return alias


def parse_alias(alias: str) -> tuple[str, str]:
    localpart, sep, server = alias[1:].partition(":")
    if (
        not alias.startswith("#") or not sep or not localpart or "\x00" in alias
        or not is_valid_server_name(server) or len(alias.encode("utf-8", "surrogatepass")) > MAX_ALIAS_BYTES
    ):
        raise MatrixError(400, "M_INVALID_PARAM", f"Not a room alias: {alias!r}")
    return localpart, server


async def create_alias(conn: Any, alias: str, room_id: str, creator: str) -> None:
    if not await room_store.insert_alias(conn, alias, room_id, creator):
        raise MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken")


@dataclass(frozen=True, slots=True)
class ResolvedAlias:
    room_id: str
    # Servers that can help a client join the room, this one first.
    servers: tuple[str, ...]


async def resolve(hs: HomeServer, alias: str) -> str:
    _, server = parse_alias(alias)
    if server != hs.server_name:
        return (await query_remote_alias(hs, alias)).room_id
    found = await room_store.get_alias(hs.db.pool, alias)
    if found is None:
        raise MatrixError(404, "M_NOT_FOUND", f"Room alias {alias} not found")
    return found[0]


async def lookup(hs: HomeServer, alias: str) -> ResolvedAlias:
    """GET /directory/room/{roomAlias}: the room and the servers joined to it."""
    _, server = parse_alias(alias)
    if server != hs.server_name:
        return await query_remote_alias(hs, alias)
    room_id = await resolve(hs, alias)
    servers = await room_store.joined_servers(hs.db.pool, room_id)
    if hs.server_name in servers:
        servers.remove(hs.server_name)
        servers.insert(0, hs.server_name)
    return ResolvedAlias(room_id, tuple(servers))


async def query_remote_alias(hs: HomeServer, alias: str) -> ResolvedAlias:
    """Resolve another server's alias.

    TODO(federation): GET /_matrix/federation/v1/query/directory on the alias's server.
    Until then no remote alias can be found.
    """
    raise MatrixError(404, "M_NOT_FOUND", f"Room alias {alias} not found")


def _require_local(hs: HomeServer, alias: str) -> None:
    _, server = parse_alias(alias)
    if server != hs.server_name:
        raise MatrixError(400, "M_INVALID_PARAM", f"Only aliases on {hs.server_name} can be changed here")


async def set_alias(hs: HomeServer, requester: Requester, alias: str, room_id: str) -> None:
    """PUT /directory/room/{roomAlias}: members of the room (or server admins) may point a
    new local alias at it. An existing alias is never overwritten (409)."""
    _require_local(hs, alias)
    async with hs.db.pool.acquire() as conn:
        if not requester.is_admin:
            membership = await room_store.get_membership(conn, room_id, requester.user_id)
            if membership is None or membership.membership != "join":
                raise MatrixError(403, "M_FORBIDDEN", "You must be in the room to create an alias for it")
        elif await room_store.get_room_version(conn, room_id) is None:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown room")
        if not await room_store.insert_alias(conn, alias, room_id, requester.user_id):
            raise MatrixError(409, "M_UNKNOWN", f"Room alias {alias} already exists")


async def delete_alias(hs: HomeServer, requester: Requester, alias: str) -> None:
    """DELETE /directory/room/{roomAlias}: by the alias's creator, a server admin, or a
    member who may edit the room's directory entries. The alias is then also taken out
    of the room's m.room.canonical_alias, if the requester is allowed to send that."""
    _require_local(hs, alias)
    async with hs.db.pool.acquire() as conn:
        found = await room_store.get_alias(conn, alias)
        if found is None:
            raise MatrixError(404, "M_NOT_FOUND", f"Room alias {alias} not found")
        room_id, creator = found
        if not (creator == requester.user_id or requester.is_admin
                or await can_edit_directory(conn, requester.user_id, room_id)):
            raise MatrixError(403, "M_FORBIDDEN", "You may not delete this alias")
        await room_store.delete_alias(conn, alias)
    await _remove_from_canonical_alias(hs, requester.user_id, room_id, alias)


async def _remove_from_canonical_alias(hs: HomeServer, user_id: str, room_id: str, alias: str) -> None:
    # The spec recommends deleting the alias even when the event cannot be updated.
    ids = await state_store.get_current_state_entries(hs.db.pool, room_id, [(CANONICAL_ALIAS, "")])
    event = await event_store.get_event(hs.db.pool, ids[(CANONICAL_ALIAS, "")]) if ids else None
    if event is None or event.redacted_by is not None:
        return
    content = dict(event.pdu["content"])
    alt = content.get("alt_aliases")
    changed = False
    if content.get("alias") == alias:
        del content["alias"]
        changed = True
    if isinstance(alt, list) and alias in alt:
        content["alt_aliases"] = [a for a in alt if a != alias]
        changed = True
    if not changed:
        return
    try:
        await send_event(hs, room_id, user_id, Draft(CANONICAL_ALIAS, content, ""))
    except MatrixError as e:  # typically 403: not allowed to send it
        log.info("alias %s deleted; %s could not update %s in %s: %s", alias, user_id, CANONICAL_ALIAS, room_id, e)


async def local_aliases(hs: HomeServer, requester: Requester, room_id: str) -> list[str]:
    """GET /rooms/{roomId}/aliases: for joined members, anyone when the room is
    world-readable, and server admins."""
    async with hs.db.pool.acquire() as conn:
        if requester.is_admin:
            if await room_store.get_room_version(conn, room_id) is None:
                raise MatrixError(404, "M_NOT_FOUND", "Unknown room")
        elif not await _joined_or_world_readable(conn, requester.user_id, room_id):
            raise MatrixError(403, "M_FORBIDDEN", "You are not a member of the room")
        return await room_store.aliases_for_room(conn, room_id)


async def _joined_or_world_readable(conn: Any, user_id: str, room_id: str) -> bool:
    membership = await room_store.get_membership(conn, room_id, user_id)
    if membership is not None and membership.membership == "join":
        return True
    ids = await state_store.get_current_state_entries(conn, room_id, [HISTORY_VISIBILITY_KEY])
    event = await event_store.get_event(conn, ids[HISTORY_VISIBILITY_KEY]) if ids else None
    return event is not None and event.pdu["content"].get("history_visibility") == "world_readable"


async def can_edit_directory(conn: Any, user_id: str, room_id: str) -> bool:
    """Joined, with the power level to send m.room.canonical_alias (Synapse's rule for
    changing a room's published-directory entries)."""
    membership = await room_store.get_membership(conn, room_id, user_id)
    version_id = await room_store.get_room_version(conn, room_id)
    if membership is None or membership.membership != "join" or version_id is None:
        return False
    room_version = get_room_version(version_id)
    ids = await state_store.get_current_state_entries(conn, room_id, [CREATE_KEY, POWER_LEVELS_KEY])
    found = await event_store.get_events(conn, ids.values())
    auth_state = {key: found[event_id].pdu for key, event_id in ids.items() if event_id in found}
    needed = required_power_level(room_version, CANONICAL_ALIAS, True, auth_state)
    return user_power_level(room_version, user_id, auth_state) >= needed


async def check_canonical_alias(hs: HomeServer, room_id: str, content: dict[str, Any]) -> None:
    """Refuse an m.room.canonical_alias whose aliases are malformed (M_INVALID_PARAM) or,
    for this server's aliases, do not point to the room (M_BAD_ALIAS); room_state.yaml."""
    alias = content.get("alias")
    alt_aliases = content.get("alt_aliases", [])
    if alias is not None and not isinstance(alias, str):
        raise MatrixError(400, "M_INVALID_PARAM", "'alias' must be a room alias")
    if not isinstance(alt_aliases, list) or not all(isinstance(a, str) for a in alt_aliases):
        raise MatrixError(400, "M_INVALID_PARAM", "'alt_aliases' must be a list of room aliases")
    for candidate in ([alias] if alias else []) + alt_aliases:
        _, server = parse_alias(candidate)
        if server != hs.server_name:
            continue  # another server's alias: it answers for it (federation)
        found = await room_store.get_alias(hs.db.pool, candidate)
        if found is None or found[0] != room_id:
            raise MatrixError(400, "M_BAD_ALIAS", f"The alias {candidate} does not point to this room")
