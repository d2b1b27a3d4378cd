"""Typing notifications (spec: client-server-api "Typing Notifications")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.client.rooms import room_id_param
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_bool, get_int, json_body
from homeserver.api.responses import empty
from homeserver.errors import bad_json, invalid_param
from homeserver.rooms import typing
from homeserver.users import identifiers

routes = web.RouteTableDef()


@routes.put(client_path("/rooms/{roomId}/typing/{userId}"))
async def put_typing(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}"""
    requester = await require_user(request)
    room_id = room_id_param(request)
    user_id = request.match_info["userId"]
    identifiers.split_user_id(user_id)
    if "\x00" in user_id or "\x00" in room_id:
        raise invalid_param("Invalid room or user ID")
    body = await json_body(request)
    is_typing = get_bool(body, "typing")
    timeout = get_int(body, "timeout", typing.DEFAULT_TIMEOUT_MS)
    if timeout < 0:
        raise bad_json("'timeout' must not be negative")
    await typing.set_typing(get_hs(request), requester.user_id, room_id, user_id, is_typing, timeout)
    return empty()
