"""Room upgrades (spec: client-server-api "Room Upgrades", "Server behaviour"): a new
room of the new version with the old room's transferable state, a tombstone in the old
room pointing at it, the local aliases moved over, and the old room's power levels
raised so nobody keeps talking or inviting there.

Membership events are not transferred (the spec: servers cannot impersonate users of
other servers); bans are the exception, sent by the upgrading user, so a banned user
cannot walk into the new room.
"""

from __future__ import annotations

import logging
from typing import Any

from homeserver.errors import MatrixError, forbidden, not_found
from homeserver.events.constants import CREATE_KEY
from homeserver.events.power_levels import named_level, required_power_level, user_power_level
from homeserver.events.redaction import redact_event
from homeserver.events.room_versions import RoomVersion, get_room_version
from homeserver.rooms.create import SUPPORTED_VERSIONS, persist_room
from homeserver.rooms.membership import member_content
from homeserver.rooms.send import Draft, send_event
from homeserver.server import HomeServer
from homeserver.storage import events as event_store
from homeserver.storage import rooms as room_store
from homeserver.storage import state as state_store

log = logging.getLogger(__name__)

# The spec's recommended transferable state, in the order it is sent.
TRANSFERABLE = (
    "m.room.power_levels", "m.room.join_rules", "m.room.history_visibility", "m.room.guest_access",
    "m.room.server_acl", "m.room.encryption", "m.room.name", "m.room.avatar", "m.room.topic",
)
TOMBSTONE = "m.room.tombstone"
POWER_LEVELS = "m.room.power_levels"


async def upgrade_room(
    hs: HomeServer, user_id: str, room_id: str, new_version_id: str, additional_creators: tuple[str, ...] = ()
) -> str:
    if new_version_id not in SUPPORTED_VERSIONS:
        raise MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", f"Room version {new_version_id!r} is not supported")
    new_version = get_room_version(new_version_id)
    async with hs.db.pool.acquire() as conn:
        old_version_id = await room_store.get_room_version(conn, room_id)
        if old_version_id is None:
            raise not_found("Unknown room")
        old_version = get_room_version(old_version_id)
        state = await _current_state(conn, old_version, room_id)
        latest = await event_store.room_events(conn, room_id, after=None, before=None, backwards=True, limit=1)
        public = bool(await room_store.is_public(conn, room_id))
        membership = await room_store.get_membership(conn, room_id, user_id)
    if membership is None or membership.membership != "join":
        raise forbidden("You are not in this room")
    _check_may_upgrade(old_version, user_id, state)
    drafts = await _initial_events(hs, old_version, new_version, user_id, room_id, state, additional_creators,
                                   latest[0].event_id if latest else None)
    new_room_id = await persist_room(hs, user_id, new_version, drafts, public=public)
    await send_event(hs, room_id, user_id, Draft(
        TOMBSTONE, {"body": "This room has been replaced", "replacement_room": new_room_id}, ""))
    await _finish(hs, user_id, room_id, new_room_id, state, public)
    return new_room_id


async def _current_state(conn: Any, version: RoomVersion, room_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The old room's current state events that an upgrade reads, as clients see them."""
    ids = await state_store.get_current_state(conn, room_id)
    wanted = {k: v for k, v in ids.items()
              if k[1] == "" and k[0] in (*TRANSFERABLE, "m.room.create", "m.room.canonical_alias")
              or k[0] == "m.room.member"}
    events = await event_store.get_events(conn, wanted.values())
    out = {}
    for key, event_id in wanted.items():
        event = events[event_id]
        if key[0] == "m.room.member" and event.pdu.get("content", {}).get("membership") != "ban":
            continue
        out[key] = redact_event(version, event.pdu) if event.redacted_by else event.pdu
    return out


def _check_may_upgrade(version: RoomVersion, user_id: str, state: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Step 1: the user may send m.room.tombstone in the room."""
    level = user_power_level(version, user_id, state)
    if level < required_power_level(version, TOMBSTONE, True, state):
        raise forbidden("You may not upgrade this room (m.room.tombstone needs a higher power level)")


async def _initial_events(
    hs: HomeServer, old_version: RoomVersion, new_version: RoomVersion, user_id: str, room_id: str,
    state: dict[tuple[str, str], dict[str, Any]], additional_creators: tuple[str, ...], last_event_id: str | None,
) -> list[Draft]:
    old_create = state[CREATE_KEY]["content"]
    create: dict[str, Any] = {"room_version": new_version.identifier, "predecessor": {"room_id": room_id}}
    if not new_version.room_id_is_create_event_id and last_event_id is not None:
        create["predecessor"]["event_id"] = last_event_id  # optional from v12 (spec v1.16)
    if isinstance(old_create.get("type"), str):
        create["type"] = old_create["type"]
    if not new_version.implicit_room_creator:
        create["creator"] = user_id
    if new_version.creators_have_infinite_power and additional_creators:
        create["additional_creators"] = list(dict.fromkeys(additional_creators))
    copied = {t: state[(t, "")]["content"] for t in TRANSFERABLE if (t, "") in state}
    levels = _power_levels(old_version, new_version, user_id, state, copied, create)
    drafts = [Draft("m.room.create", create, ""), Draft("m.room.member", await member_content(hs, user_id, "join"), user_id)]
    drafts.append(Draft(POWER_LEVELS, levels[0], ""))
    drafts += [Draft(t, content, "") for t, content in copied.items() if t != POWER_LEVELS]
    drafts += [Draft("m.room.member", {"membership": "ban", **_reason(e)}, k[1])
               for k, e in state.items() if k[0] == "m.room.member" and k[1] != user_id]
    if levels[1] is not None:
        drafts.append(Draft(POWER_LEVELS, levels[1], ""))
    return drafts


def _reason(event: dict[str, Any]) -> dict[str, Any]:
    reason = event.get("content", {}).get("reason")
    return {"reason": reason} if isinstance(reason, str) else {}


def _power_levels(
    old_version: RoomVersion, new_version: RoomVersion, user_id: str, state: dict[tuple[str, str], dict[str, Any]],
    copied: dict[str, Any], create: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The new room's power levels: the old ones, and first (when the upgrader's own
    level would not let them send the copied state) a version raising the upgrader."""
    content = dict(copied.get(POWER_LEVELS, {}))
    users = dict(content.get("users", {})) if isinstance(content.get("users"), dict) else {}
    if new_version.creators_have_infinite_power:
        creators = {user_id, *create.get("additional_creators", [])}
        content["users"] = {u: v for u, v in users.items() if u not in creators}
        return content, None
    old_level = user_power_level(old_version, user_id, state)
    if old_level == float("inf"):  # a v12 creator: the highest level a v10/v11 room has
        old_level = max([100, *(v for v in users.values() if isinstance(v, int))])
    users[user_id] = max(int(old_level), users.get(user_id, 0) if isinstance(users.get(user_id), int) else 0)
    content["users"] = users
    needed = max([named_level(old_version, state, "state_default"),
                  *(required_power_level(old_version, t, True, state) for t in copied),
                  named_level(old_version, state, "ban")])
    if users[user_id] >= needed:
        return content, None
    return {**content, "users": {**users, user_id: needed}}, content


async def _finish(
    hs: HomeServer, user_id: str, room_id: str, new_room_id: str, state: dict[tuple[str, str], dict[str, Any]],
    public: bool,
) -> None:
    """Steps 4 and 6: move the aliases, and quiet the old room (where the user may)."""
    async with hs.db.transaction() as conn:
        moved = await room_store.move_aliases(conn, room_id, new_room_id)
        if public:
            await room_store.set_public(conn, room_id, False)
    canonical = state.get(("m.room.canonical_alias", ""), {}).get("content")
    old_levels = dict(state.get((POWER_LEVELS, ""), {}).get("content", {}))
    users_default = old_levels.get("users_default", 0)
    restricted = max(50, (users_default if isinstance(users_default, int) else 0) + 1)
    followups = [(new_room_id, Draft("m.room.canonical_alias", canonical, ""))] if canonical and moved else []
    if canonical:
        followups.append((room_id, Draft("m.room.canonical_alias", {}, "")))
    followups.append((room_id, Draft(POWER_LEVELS, {**old_levels, "events_default": restricted, "invite": restricted}, "")))
    for target, draft in followups:
        try:
            await send_event(hs, target, user_id, draft)
        except MatrixError as e:  # "if possible" (spec): the upgrade itself is done
            log.info("room upgrade of %s: %s not sent: %s", room_id, draft.type, e.message)
