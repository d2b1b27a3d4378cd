"""Room membership (spec: client-server-api "Room membership")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.client.rooms import room_id_param
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_str, json_body
from homeserver.api.responses import empty, json_response
from homeserver.rooms import membership

routes = web.RouteTableDef()


async def _enter(request: web.Request, operation: membership.Entry, target: str) -> web.Response:
    requester = await require_user(request)
    body = await json_body(request, allow_empty=True)
    room_id = await operation(get_hs(request), requester.user_id, target, get_str(body, "reason", None))
    return json_response({"room_id": room_id})


@routes.post(client_path("/join/{roomIdOrAlias}"))
async def post_join(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/join/{roomIdOrAlias}"""
    return await _enter(request, membership.join, request.match_info["roomIdOrAlias"])


@routes.post(client_path("/rooms/{roomId}/join"))
async def post_room_join(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/join"""
    return await _enter(request, membership.join, room_id_param(request))


@routes.post(client_path("/knock/{roomIdOrAlias}"))
async def post_knock(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/knock/{roomIdOrAlias}"""
    return await _enter(request, membership.knock, request.match_info["roomIdOrAlias"])


@routes.post(client_path("/rooms/{roomId}/invite"))
async def post_invite(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/invite"""
    requester = await require_user(request)
    body = await json_body(request)
    await membership.invite(get_hs(request), requester.user_id, room_id_param(request),
                            get_str(body, "user_id"), get_str(body, "reason", None))
    return empty()


@routes.post(client_path("/rooms/{roomId}/leave"))
async def post_leave(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/leave"""
    requester = await require_user(request)
    body = await json_body(request, allow_empty=True)
    await membership.leave(get_hs(request), requester.user_id, room_id_param(request), get_str(body, "reason", None))
    return empty()


@routes.post(client_path("/rooms/{roomId}/forget"))
async def post_forget(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/forget"""
    requester = await require_user(request)
    await json_body(request, allow_empty=True)
    await membership.forget(get_hs(request), requester.user_id, room_id_param(request))
    return empty()


def _moderation(action: str, operation: membership.Moderation) -> None:
    async def handler(request: web.Request) -> web.Response:
        requester = await require_user(request)
        body = await json_body(request)
        await operation(get_hs(request), requester.user_id, room_id_param(request),
                        get_str(body, "user_id"), get_str(body, "reason", None))
        return empty()

    handler.__doc__ = f"POST /_matrix/client/v3/rooms/{{roomId}}/{action}"
    routes.post(client_path(f"/rooms/{{roomId}}/{action}"))(handler)


_moderation("kick", membership.kick)
_moderation("ban", membership.ban)
_moderation("unban", membership.unban)
