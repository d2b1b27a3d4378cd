"""Rooms: creation, sending, state, redaction and reading (spec: client-server-api
"Rooms", "Events", "Redactions")."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import (
    client_path, get_bool, get_dict, get_list, get_str, get_str_list, json_body, query_int,
)
from homeserver.api.responses import json_response
from homeserver.errors import MatrixError
from homeserver.rooms import aliases, read
from homeserver.rooms.create import RoomRequest, create_room
from homeserver.timeline.filters import parse_room_event_filter
from homeserver.rooms.send import Draft, Txn, send_event
from homeserver.identifiers import split_user_id

routes = web.RouteTableDef()


def room_id_param(request: web.Request) -> str:
    room_id = request.match_info["roomId"]
    if not room_id.startswith("!") or len(room_id.encode()) > 255:
        raise MatrixError(400, "M_INVALID_PARAM", "Invalid room ID")
    return room_id


def _initial_state(raw: list[Any]) -> tuple[Draft, ...]:
    drafts = []
    for item in raw:
        if not isinstance(item, dict):
            raise MatrixError(400, "M_BAD_JSON", "'initial_state' entries must be objects")
        drafts.append(Draft(get_str(item, "type"), get_dict(item, "content"), get_str(item, "state_key", "")))
    return tuple(drafts)


@routes.post(client_path("/createRoom"))
async def post_create_room(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/createRoom"""
    requester = await require_user(request)
    body = await json_body(request)
    preset = get_str(body, "preset", None)
    if preset not in (None, "private_chat", "public_chat", "trusted_private_chat"):
        raise MatrixError(400, "M_BAD_JSON", "Unknown preset")
    visibility = get_str(body, "visibility", "private")
    if visibility not in ("public", "private"):
        raise MatrixError(400, "M_BAD_JSON", "'visibility' must be public or private")
    invite = tuple(get_str_list(body, "invite", []))
    for user_id in invite:
        split_user_id(user_id)
    room_id = await create_room(get_hs(request), requester.user_id, RoomRequest(
        preset=preset,
        visibility=visibility,
        room_version=get_str(body, "room_version", None),
        name=get_str(body, "name", None),
        topic=get_str(body, "topic", None),
        room_alias_name=get_str(body, "room_alias_name", None),
        is_direct=get_bool(body, "is_direct", False),
        invite=invite,
        creation_content=get_dict(body, "creation_content", {}),
        initial_state=_initial_state(get_list(body, "initial_state", [])),
        power_level_content_override=get_dict(body, "power_level_content_override", None),
    ))
    return json_response({"room_id": room_id})


@routes.put(client_path("/rooms/{roomId}/send/{eventType}/{txnId}"))
async def put_send(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"""
    requester = await require_user(request)
    _limit_sends(request, requester.user_id)
    room_id = room_id_param(request)
    content = await json_body(request)
    draft = Draft(request.match_info["eventType"], content)
    sent = await send_event(get_hs(request), room_id, requester.user_id, draft,
                            Txn(requester.device_id, f"send/{draft.type}", request.match_info["txnId"]))
    return json_response({"event_id": sent.event_id})


def _limit_sends(request: web.Request, user_id: str) -> None:
    hs = get_hs(request)
    hs.ratelimiter.check_here("send", user_id, hs.config.rate_limits.messages)


def _state_key(request: web.Request) -> str:
    return request.match_info.get("stateKey", "")


@routes.put(client_path("/rooms/{roomId}/state/{eventType}"))
@routes.put(client_path("/rooms/{roomId}/state/{eventType}/{stateKey:.*}"))
async def put_state(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"""
    requester = await require_user(request)
    _limit_sends(request, requester.user_id)
    room_id = room_id_param(request)
    content = await json_body(request)
    draft = Draft(request.match_info["eventType"], content, _state_key(request))
    if draft.type == "m.room.canonical_alias":
        await aliases.check_canonical_alias(get_hs(request), room_id, content)
    if draft.type == "m.room.avatar" and isinstance(content.get("url"), str):
        await get_hs(request).media.check_exists(content["url"])  # ours must exist: 404 M_NOT_FOUND
    sent = await send_event(get_hs(request), room_id, requester.user_id, draft)
    return json_response({"event_id": sent.event_id})


@routes.get(client_path("/rooms/{roomId}/state/{eventType}"))
@routes.get(client_path("/rooms/{roomId}/state/{eventType}/{stateKey:.*}"))
async def get_state_event(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"""
    requester = await require_user(request)
    event = await read.state_event(get_hs(request), requester.user_id, room_id_param(request),
                                   request.match_info["eventType"], _state_key(request))
    return json_response(event if request.query.get("format") == "event" else event["content"])


@routes.get(client_path("/rooms/{roomId}/state"))
async def get_state(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/state"""
    requester = await require_user(request)
    return json_response(await read.room_state(get_hs(request), requester.user_id, room_id_param(request)))


@routes.put(client_path("/rooms/{roomId}/redact/{eventId}/{txnId}"))
async def put_redact(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}"""
    requester = await require_user(request)
    _limit_sends(request, requester.user_id)
    room_id = room_id_param(request)
    body = await json_body(request, allow_empty=True)
    reason = get_str(body, "reason", None)
    draft = Draft("m.room.redaction", {"reason": reason} if reason is not None else {},
                  redacts=request.match_info["eventId"])
    sent = await send_event(get_hs(request), room_id, requester.user_id, draft,
                            Txn(requester.device_id, f"redact/{draft.redacts}", request.match_info["txnId"]))
    return json_response({"event_id": sent.event_id})


@routes.get(client_path("/rooms/{roomId}/event/{eventId}"))
async def get_event(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}"""
    requester = await require_user(request)
    return json_response(await read.get_event(get_hs(request), requester.user_id, room_id_param(request),
                                              request.match_info["eventId"]))


def _filter(request: web.Request) -> Any:
    raw = request.query.get("filter")
    if raw is None:
        return parse_room_event_filter(None)
    try:
        return parse_room_event_filter(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise MatrixError(400, "M_NOT_JSON", "'filter' is not JSON") from None


@routes.get(client_path("/rooms/{roomId}/messages"))
async def get_messages(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/messages"""
    requester = await require_user(request)
    direction = request.query.get("dir", "b")
    if direction not in ("b", "f"):
        raise MatrixError(400, "M_INVALID_PARAM", "'dir' must be b or f")
    page = await read.messages(
        get_hs(request), requester.user_id, room_id_param(request),
        from_token=request.query.get("from"), to_token=request.query.get("to"), backwards=direction == "b",
        limit=query_int(request, "limit", 10, minimum=0, maximum=read.MAX_PAGE), event_filter=_filter(request),
    )
    body: dict[str, Any] = {"chunk": page.chunk, "start": page.start}
    if page.end is not None:
        body["end"] = page.end
    if page.state:
        body["state"] = page.state
    return json_response(body)


@routes.get(client_path("/rooms/{roomId}/context/{eventId}"))
async def get_context(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}"""
    requester = await require_user(request)
    return json_response(await read.context(
        get_hs(request), requester.user_id, room_id_param(request), request.match_info["eventId"],
        query_int(request, "limit", 10, minimum=0, maximum=100), _filter(request),
    ))


@routes.get(client_path("/rooms/{roomId}/timestamp_to_event", "v1"))
async def get_timestamp_to_event(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event"""
    requester = await require_user(request)
    if "ts" not in request.query or "dir" not in request.query:
        raise MatrixError(400, "M_MISSING_PARAM", "'ts' and 'dir' are required")
    ts = query_int(request, "ts", 0, maximum=2**62)
    direction = request.query["dir"]
    if direction not in ("f", "b"):
        raise MatrixError(400, "M_INVALID_PARAM", "'dir' must be f or b")
    event = await read.event_at_time(get_hs(request), requester.user_id, room_id_param(request), ts, direction == "f")
    return json_response({"event_id": event.event_id, "origin_server_ts": event.origin_server_ts})


@routes.get(client_path("/rooms/{roomId}/members"))
async def get_members(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/members"""
    requester = await require_user(request)
    memberships = ("join", "invite", "knock", "leave", "ban")
    membership, not_membership = request.query.get("membership"), request.query.get("not_membership")
    for value in (membership, not_membership):
        if value is not None and value not in memberships:
            raise MatrixError(400, "M_INVALID_PARAM", "Unknown membership")
    chunk = await read.members(get_hs(request), requester.user_id, room_id_param(request),
                               request.query.get("at"), membership, not_membership)
    return json_response({"chunk": chunk})


@routes.get(client_path("/rooms/{roomId}/joined_members"))
async def get_joined_members(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/joined_members"""
    requester = await require_user(request)
    joined = await read.joined_members(get_hs(request), requester.user_id, room_id_param(request))
    return json_response({"joined": joined})


@routes.get(client_path("/joined_rooms"))
async def get_joined_rooms(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/joined_rooms"""
    requester = await require_user(request)
    return json_response({"joined_rooms": await read.joined_rooms(get_hs(request), requester.user_id)})
