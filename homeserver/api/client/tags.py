"""Room tags (spec: client-server-api "Room Tagging", tags.yaml)."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, json_body
from homeserver.api.responses import empty, json_response
from homeserver.users import account_data, identifiers, tags

routes = web.RouteTableDef()

TAGS = "/user/{userId}/rooms/{roomId}/tags"


def _params(request: web.Request) -> tuple[str, str]:
    user_id, room_id = request.match_info["userId"], request.match_info["roomId"]
    identifiers.split_user_id(user_id)
    account_data.check_room_id(room_id)
    return user_id, room_id


@routes.get(client_path(TAGS))
async def get_tags(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags"""
    requester = await require_user(request)
    user_id, room_id = _params(request)
    return json_response({"tags": await tags.get_tags(get_hs(request), requester.user_id, user_id, room_id)})


@routes.put(client_path(TAGS + "/{tag}"))
async def put_tag(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}"""
    requester = await require_user(request)
    user_id, room_id = _params(request)
    tag = request.match_info["tag"]
    content = await json_body(request)
    tags.check_tag(tag, content)
    await tags.set_tag(get_hs(request), requester.user_id, user_id, room_id, tag, content)
    return empty()


@routes.delete(client_path(TAGS + "/{tag}"))
async def delete_tag(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}"""
    requester = await require_user(request)
    user_id, room_id = _params(request)
    tag = request.match_info["tag"]
    tags.check_tag(tag)
    await tags.set_tag(get_hs(request), requester.user_id, user_id, room_id, tag, None)
    return empty()
