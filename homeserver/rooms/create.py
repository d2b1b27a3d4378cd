"""createRoom (spec: client-server-api "Creation", create_room.yaml): the initial events,
in the order the spec lists them, all in one transaction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from homeserver.errors import MatrixError
from homeserver.events.room_versions import RoomVersion, get_room_version
from homeserver.rooms import aliases
from homeserver.rooms.membership import member_content
from homeserver.rooms.send import Draft, check_size, prepare_local, store_prepared
from homeserver.server import HomeServer
from homeserver.storage import rooms as room_store
from homeserver.streams import Stream

SUPPORTED_VERSIONS = ("10", "11", "12")

PRESETS = {
    "private_chat": ("invite", "shared", "can_join"),
    "trusted_private_chat": ("invite", "shared", "can_join"),
    "public_chat": ("public", "shared", "forbidden"),
}


@dataclass(frozen=True, slots=True)
class RoomRequest:
    preset: str | None = None
    visibility: str = "private"
    room_version: str | None = None
    name: str | None = None
    topic: str | None = None
    room_alias_name: str | None = None
    is_direct: bool = False
    invite: tuple[str, ...] = ()
    creation_content: dict[str, Any] = field(default_factory=dict)
    initial_state: tuple[Draft, ...] = ()
    power_level_content_override: dict[str, Any] | None = None


async def create_room(hs: HomeServer, creator: str, request: RoomRequest) -> str:
    version_id = request.room_version or hs.config.rooms.default_room_version
    if version_id not in SUPPORTED_VERSIONS:
        raise MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", f"Room version {version_id!r} is not supported")
    room_version = get_room_version(version_id)
    preset = request.preset or ("public_chat" if request.visibility == "public" else "private_chat")
    alias = aliases.make_alias(hs, request.room_alias_name) if request.room_alias_name is not None else None
    join_content = await member_content(hs, creator, "join")
    drafts = _initial_events(room_version, creator, preset, request, alias, join_content)
    return await persist_room(hs, creator, room_version, drafts, alias=alias, public=request.visibility == "public")


async def persist_room(
    hs: HomeServer, creator: str, room_version: RoomVersion, drafts: list[Draft], *, alias: str | None = None,
    public: bool = False,
) -> str:
    """A new room of these initial events (the first its m.room.create), in one transaction."""
    for draft in drafts:
        check_size(draft)
    async with hs.feed.writing(Stream.EVENTS) as writer, hs.db.transaction() as conn:
        # Everything that takes no stream position first, so that the transaction holds
        # back other rooms' /syncs only while it stores the events.
        room_id = None if room_version.room_id_is_create_event_id else f"!{secrets.token_urlsafe(18)}:{hs.server_name}"
        prepared = [await prepare_local(hs, conn, room_version, room_id, creator, drafts[0], [])]
        room_id = prepared[0].room_id
        if alias is not None:
            await aliases.create_alias(conn, alias, room_id, creator)
        if public:
            await room_store.set_public(conn, room_id, True)
        for draft in drafts[1:]:
            prepared.append(await prepare_local(hs, conn, room_version, room_id, creator, draft, [prepared[-1].extremity]))
        for i, event in enumerate(prepared):
            # Only the creator is joined: an event notifies no one but the user an invite
            # is for, and the last one marks everything read for the creator.
            invite = event.pdu["type"] == "m.room.member" and event.pdu["state_key"] != creator
            await store_prepared(hs, conn, writer, event, evaluate_push=invite or i == len(prepared) - 1)
    return room_id


def _initial_events(
    room_version: RoomVersion, creator: str, preset: str, request: RoomRequest, alias: str | None,
    join_content: dict[str, Any],
) -> list[Draft]:
    trusted = preset == "trusted_private_chat"
    create_content = {**request.creation_content, "room_version": room_version.identifier}
    if not room_version.implicit_room_creator:
        create_content["creator"] = creator
    if room_version.creators_have_infinite_power and trusted and request.invite:
        extra = create_content.get("additional_creators", [])
        if not isinstance(extra, list):
            raise MatrixError(400, "M_BAD_JSON", "'additional_creators' must be an array")
        create_content["additional_creators"] = list(dict.fromkeys([*extra, *request.invite]))
    join_rule, history_visibility, guest_access = PRESETS[preset]
    drafts = [
        Draft("m.room.create", create_content, ""),
        Draft("m.room.member", join_content, creator),
        Draft("m.room.power_levels", _power_levels(room_version, creator, preset, request), ""),
    ]
    if alias is not None:
        drafts.append(Draft("m.room.canonical_alias", {"alias": alias}, ""))
    drafts += [
        Draft("m.room.join_rules", {"join_rule": join_rule}, ""),
        Draft("m.room.history_visibility", {"history_visibility": history_visibility}, ""),
        Draft("m.room.guest_access", {"guest_access": guest_access}, ""),
        *request.initial_state,
    ]
    if request.name is not None:
        drafts.append(Draft("m.room.name", {"name": request.name}, ""))
    if request.topic is not None:
        drafts.append(Draft("m.room.topic", {"topic": request.topic}, ""))
    for user_id in request.invite:
        content: dict[str, Any] = {"membership": "invite"}
        if request.is_direct:
            content["is_direct"] = True
        drafts.append(Draft("m.room.member", content, user_id))
    return drafts


def _power_levels(room_version: RoomVersion, creator: str, preset: str, request: RoomRequest) -> dict[str, Any]:
    infinite = room_version.creators_have_infinite_power
    users: dict[str, int] = {} if infinite else {creator: 100}
    if preset == "trusted_private_chat" and not infinite:
        users.update({user_id: 100 for user_id in request.invite})
    content: dict[str, Any] = {
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": 150 if infinite else 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 0 if preset != "public_chat" else 50,
        "notifications": {"room": 50},
    }
    if request.power_level_content_override:
        content.update(request.power_level_content_override)
    return content
