"""Voice over IP and third-party networks (spec: client-server-api "Voice over IP",
"Third-party Networks")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path
from homeserver.api.responses import json_response
from homeserver.users.turn import turn_server

routes = web.RouteTableDef()


@routes.get(client_path("/voip/turnServer"))
async def get_turn_server(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/voip/turnServer"""
    hs = get_hs(request)
    requester = await require_user(request)
    return json_response(turn_server(hs.config.voip, requester.user_id, hs.clock.now_ms()))


@routes.get(client_path("/thirdparty/protocols"))
async def get_protocols(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/thirdparty/protocols

    No application services bridge to other networks here: no protocols.
    """
    await require_user(request)
    return json_response({})
