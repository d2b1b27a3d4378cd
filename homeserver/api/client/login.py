"""Login, refresh and logout (spec: client-server-api "Login", "Refreshing access tokens")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import client_ip, get_hs
from homeserver.api.params import client_path, get_bool, get_str, json_body
from homeserver.api.responses import empty, json_response
from homeserver.errors import MatrixError
from homeserver.users import identifiers, login, sessions

routes = web.RouteTableDef()


@routes.get(client_path("/login"))
async def get_login(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/login"""
    return json_response({"flows": [{"type": "m.login.password"}]})


@routes.post(client_path("/login"))
async def post_login(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/login"""
    hs = get_hs(request)
    ip = client_ip(request)
    await hs.ratelimiter.check("login", ip, hs.config.rate_limits.login)
    body = await json_body(request)
    login_type = get_str(body, "type")
    if login_type != "m.login.password":
        raise MatrixError(400, "M_UNKNOWN", f"Unknown login type {login_type!r}")
    password = get_str(body, "password")
    device_id = get_str(body, "device_id", None, max_length=255)
    display_name = get_str(body, "initial_device_display_name", None, max_length=255)
    refreshable = get_bool(body, "refresh_token", False)
    user_id = identifiers.user_id_from_auth(hs, body)
    await login.verify_password(hs, user_id, password, ip)
    async with hs.db.transaction() as conn:
        session = await sessions.create_session(hs, conn, user_id, device_id, display_name, refreshable)
    return json_response(session.to_json(hs))


@routes.post(client_path("/refresh", "v1|v3"))
async def refresh(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/refresh"""
    hs = get_hs(request)
    body = await json_body(request)
    session = await sessions.refresh(hs, get_str(body, "refresh_token"))
    return json_response({
        "access_token": session.access_token,
        "refresh_token": session.refresh_token,
        "expires_in_ms": session.expires_in_ms,
    })


@routes.post(client_path("/logout"))
async def logout(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/logout"""
    requester = await require_user(request)
    await sessions.logout(get_hs(request), requester)
    return empty()


@routes.post(client_path("/logout/all"))
async def logout_all(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/logout/all"""
    requester = await require_user(request)
    await sessions.logout_all(get_hs(request), requester.user_id)
    return empty()
