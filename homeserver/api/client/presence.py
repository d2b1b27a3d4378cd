"""Presence (spec: client-server-api "Presence")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_str, json_body
from homeserver.api.responses import empty, json_response
from homeserver.errors import bad_json, invalid_param
from homeserver.users import identifiers, presence

routes = web.RouteTableDef()


@routes.put(client_path("/presence/{userId}/status"))
async def put_status(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/presence/{userId}/status"""
    requester = await require_user(request)
    user_id = _user_id(request)
    body = await json_body(request)
    state = get_str(body, "presence")
    if state not in presence.STATES:
        raise bad_json(f"'presence' must be one of {', '.join(presence.STATES)}")
    status_msg = get_str(body, "status_msg", None, max_length=presence.MAX_STATUS_MSG_LENGTH)
    if status_msg is not None and "\x00" in status_msg:
        raise bad_json("'status_msg' must not contain NUL")
    await presence.set_presence(get_hs(request), requester.user_id, user_id, state, status_msg)
    return empty()


@routes.get(client_path("/presence/{userId}/status"))
async def get_status(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/presence/{userId}/status"""
    requester = await require_user(request)
    return json_response(await presence.get_presence(get_hs(request), requester.user_id, _user_id(request)))


def _user_id(request: web.Request) -> str:
    user_id = request.match_info["userId"]
    identifiers.split_user_id(user_id)
    if "\x00" in user_id:
        raise invalid_param("Not a valid user ID")
    return user_id
