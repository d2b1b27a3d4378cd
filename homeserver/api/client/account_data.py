"""Account data (spec: client-server-api "Client Config")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, json_body
from homeserver.api.responses import empty, json_response
from homeserver.users import account_data, identifiers

routes = web.RouteTableDef()

GLOBAL_PATH = "/user/{user_id}/account_data/{type}"
ROOM_PATH = "/user/{user_id}/rooms/{room_id}/account_data/{type}"


@routes.get(client_path(GLOBAL_PATH))
async def get_global(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/user/{userId}/account_data/{type}"""
    return await _get(request)


@routes.put(client_path(GLOBAL_PATH))
async def put_global(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/user/{userId}/account_data/{type}"""
    return await _put(request)


@routes.get(client_path(ROOM_PATH))
async def get_room(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}"""
    return await _get(request)


@routes.put(client_path(ROOM_PATH))
async def put_room(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}"""
    return await _put(request)


async def _get(request: web.Request) -> web.Response:
    requester = await require_user(request)
    user_id, room_id, data_type = _path_params(request)
    content = await account_data.get_account_data(get_hs(request), requester.user_id, user_id, room_id, data_type)
    return json_response(content)


async def _put(request: web.Request) -> web.Response:
    requester = await require_user(request)
    user_id, room_id, data_type = _path_params(request)
    content = await json_body(request)
    await account_data.set_account_data(get_hs(request), requester.user_id, user_id, room_id, data_type, content)
    return empty()


def _path_params(request: web.Request) -> tuple[str, str, str]:
    """The user ID, room ID (GLOBAL for global data) and type, each checked."""
    user_id = request.match_info["user_id"]
    identifiers.split_user_id(user_id)
    room_id = request.match_info.get("room_id", account_data.GLOBAL)
    if room_id != account_data.GLOBAL:
        account_data.check_room_id(room_id)
    data_type = request.match_info["type"]
    account_data.check_type(data_type)
    return user_id, room_id, data_type
