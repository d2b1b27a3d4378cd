"""Server discovery and capabilities (spec: client-server-api "Server Discovery",
"Capabilities negotiation"; server-server-api "Resolving server names")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path
from homeserver.api.responses import json_response

routes = web.RouteTableDef()

# Only the versions whose behaviour this server implements for what it serves.
SPEC_VERSIONS = ["v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11"]


@routes.get("/_matrix/client/versions")
async def versions(request: web.Request) -> web.Response:
    """GET /_matrix/client/versions"""
    return json_response({"versions": SPEC_VERSIONS, "unstable_features": {}})


@routes.get("/.well-known/matrix/client")
async def well_known_client(request: web.Request) -> web.Response:
    """GET /.well-known/matrix/client"""
    hs = get_hs(request)
    base_url = hs.config.server.public_baseurl or f"{request.scheme}://{request.host}"
    return json_response({"m.homeserver": {"base_url": base_url}})


@routes.get("/.well-known/matrix/server")
async def well_known_server(request: web.Request) -> web.Response:
    """GET /.well-known/matrix/server"""
    hs = get_hs(request)
    if hs.config.server.well_known_server is None:
        raise web.HTTPNotFound()
    return json_response({"m.server": hs.config.server.well_known_server})


@routes.get(client_path("/capabilities"))
async def capabilities(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/capabilities"""
    await require_user(request)
    return json_response({
        "capabilities": {
            "m.change_password": {"enabled": True},
            "m.room_versions": {"default": "12", "available": {"10": "stable", "11": "stable", "12": "stable"}},
            "m.set_displayname": {"enabled": True},
            "m.set_avatar_url": {"enabled": True},
            "m.3pid_changes": {"enabled": False},
            "m.get_login_token": {"enabled": False},
            "m.profile_fields": {"enabled": False},
        }
    })
