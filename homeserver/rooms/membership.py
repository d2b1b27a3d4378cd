"""Joining, inviting, leaving, kicking, banning and forgetting (spec: client-server-api
"Room membership"). Each is an m.room.member event the auth rules decide on."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from homeserver.errors import MatrixError
from homeserver.rooms import aliases
from homeserver.rooms.send import Draft, Sent, send_event
from homeserver.server import HomeServer
from homeserver.storage import rooms as room_store
from homeserver.storage import users as user_store
from homeserver.identifiers import split_user_id

log = logging.getLogger(__name__)


async def member_content(hs: HomeServer, user_id: str, membership: str, **extra: Any) -> dict[str, Any]:
    """Member event content; a join carries the user's profile (spec: m.room.member)."""
    content: dict[str, Any] = {"membership": membership}
    if membership == "join" and hs.is_mine(user_id):
        profile = await user_store.get_profile(hs.db.pool, user_id)
        if profile is not None:
            content.update({k: v for k, v in (("displayname", profile.displayname),
                                              ("avatar_url", profile.avatar_url)) if v is not None})
    content.update({k: v for k, v in extra.items() if v is not None})
    return content


async def announce_profile(hs: HomeServer, user_id: str) -> None:
    """A fresh join event in every joined room carries the user's new profile (spec:
    m.room.member, "displayname" and "avatar_url")."""
    for membership in await room_store.rooms_for_user(hs.db.pool, user_id):
        content = await member_content(hs, user_id, "join")
        try:
            await send_event(hs, membership.room_id, user_id, Draft("m.room.member", content, user_id))
        except MatrixError as e:  # e.g. the room's power levels forbid it; the profile still changed
            log.info("profile update not sent to %s: %s", membership.room_id, e.message)


async def resolve_room(hs: HomeServer, room_id_or_alias: str) -> str:
    if room_id_or_alias.startswith("#"):
        return await aliases.resolve(hs, room_id_or_alias)
    if not room_id_or_alias.startswith("!"):
        raise MatrixError(400, "M_INVALID_PARAM", "Expected a room ID or alias")
    return room_id_or_alias


async def join(hs: HomeServer, user_id: str, room_id_or_alias: str, reason: str | None = None) -> str:
    room_id = await resolve_room(hs, room_id_or_alias)
    content = await member_content(hs, user_id, "join", reason=reason)
    await send_event(hs, room_id, user_id, Draft("m.room.member", content, user_id))
    return room_id


async def knock(hs: HomeServer, user_id: str, room_id_or_alias: str, reason: str | None = None) -> str:
    """Ask to be let in (spec: "Knocking on rooms"); the join rule must allow knocking."""
    room_id = await resolve_room(hs, room_id_or_alias)
    content = await member_content(hs, user_id, "knock", reason=reason)
    await send_event(hs, room_id, user_id, Draft("m.room.member", content, user_id))
    return room_id


async def _ensure_target(hs: HomeServer, user_id: str) -> None:
    split_user_id(user_id)
    if hs.is_mine(user_id):
        user = await user_store.get_user(hs.db.pool, user_id)
        if user is None or user.deactivated:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown user")


async def invite(hs: HomeServer, sender: str, room_id: str, target: str, reason: str | None = None,
                 is_direct: bool = False) -> Sent:
    await _ensure_target(hs, target)
    current = await room_store.get_membership(hs.db.pool, room_id, target)
    if current is not None and current.membership in ("join", "ban"):
        raise MatrixError(403, "M_FORBIDDEN", f"User is already {'in the room' if current.membership == 'join' else 'banned'}")
    content = await member_content(hs, target, "invite", reason=reason, is_direct=is_direct or None)
    return await send_event(hs, room_id, sender, Draft("m.room.member", content, target))


async def leave(hs: HomeServer, user_id: str, room_id: str, reason: str | None = None) -> None:
    current = await room_store.get_membership(hs.db.pool, room_id, user_id)
    if current is None or current.membership in ("leave", "ban"):
        if await room_store.get_room_version(hs.db.pool, room_id) is None:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown room")
        if current is None:
            raise MatrixError(403, "M_FORBIDDEN", "You are not in this room")
        return  # leaving twice is not an error
    await send_event(hs, room_id, user_id, Draft("m.room.member", await member_content(hs, user_id, "leave", reason=reason), user_id))


# join and knock: (hs, user_id, room_id_or_alias, reason) -> room_id
Entry = Callable[[HomeServer, str, str, "str | None"], Awaitable[str]]
# kick, ban and unban: (hs, sender, room_id, target, reason)
Moderation = Callable[[HomeServer, str, str, str, "str | None"], Awaitable[None]]


async def kick(hs: HomeServer, sender: str, room_id: str, target: str, reason: str | None = None) -> None:
    split_user_id(target)
    current = await room_store.get_membership(hs.db.pool, room_id, target)
    if current is None or current.membership not in ("join", "invite", "knock"):
        raise MatrixError(403, "M_FORBIDDEN", "The user is not in the room")
    await send_event(hs, room_id, sender, Draft("m.room.member", await member_content(hs, target, "leave", reason=reason), target))


async def ban(hs: HomeServer, sender: str, room_id: str, target: str, reason: str | None = None) -> None:
    split_user_id(target)
    await send_event(hs, room_id, sender, Draft("m.room.member", await member_content(hs, target, "ban", reason=reason), target))


async def unban(hs: HomeServer, sender: str, room_id: str, target: str, reason: str | None = None) -> None:
    split_user_id(target)
    current = await room_store.get_membership(hs.db.pool, room_id, target)
    if current is None or current.membership != "ban":
        raise MatrixError(403, "M_FORBIDDEN", "The user is not banned")
    await send_event(hs, room_id, sender, Draft("m.room.member", await member_content(hs, target, "leave", reason=reason), target))


async def forget(hs: HomeServer, user_id: str, room_id: str) -> None:
    current = await room_store.get_membership(hs.db.pool, room_id, user_id)
    if current is None:
        raise MatrixError(404, "M_NOT_FOUND", "You have never been in this room")
    if current.membership in ("join", "invite", "knock"):
        raise MatrixError(400, "M_UNKNOWN", "Leave the room before forgetting it")
    await room_store.forget(hs.db.pool, room_id, user_id)
