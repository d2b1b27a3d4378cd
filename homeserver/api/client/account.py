"""Account management (spec: client-server-api "Account management", "Current account
information")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_bool, get_str, json_body
from homeserver.api.responses import empty, json_response
from homeserver.identifiers import split_user_id
from homeserver.users import accounts, openid, uia

routes = web.RouteTableDef()

PASSWORD_FLOWS = [[uia.PASSWORD]]


@routes.get(client_path("/account/whoami"))
async def whoami(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/account/whoami"""
    requester = await require_user(request)
    return json_response({"user_id": requester.user_id, "device_id": requester.device_id, "is_guest": False})


@routes.get(client_path("/account/3pid"))
async def get_threepids(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/account/3pid

    No third-party identifiers can be added yet, so every user has none.
    """
    await require_user(request)
    return json_response({"threepids": []})


@routes.post(client_path("/user/{userId}/openid/request_token"))
async def request_openid_token(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/user/{userId}/openid/request_token"""
    requester = await require_user(request)
    await json_body(request, allow_empty=True)
    user_id = request.match_info["userId"]
    split_user_id(user_id)
    return json_response(await openid.request_token(get_hs(request), requester.user_id, user_id))


@routes.post(client_path("/account/password"))
async def change_password(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/account/password"""
    hs = get_hs(request)
    requester = await require_user(request)
    body = await json_body(request)
    new_password = get_str(body, "new_password")
    logout_devices = get_bool(body, "logout_devices", True)
    session_id = await uia.authenticate(
        hs, uia.Request("POST", "/account/password", requester.user_id), body.get("auth"), PASSWORD_FLOWS
    )
    await accounts.change_password(hs, requester.user_id, new_password, requester.device_id, logout_devices)
    await uia.finish(hs, session_id)
    return empty()


@routes.post(client_path("/account/deactivate"))
async def deactivate(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/account/deactivate"""
    hs = get_hs(request)
    requester = await require_user(request)
    body = await json_body(request)
    erase = get_bool(body, "erase", False)
    get_str(body, "id_server", None)
    session_id = await uia.authenticate(
        hs, uia.Request("POST", "/account/deactivate", requester.user_id), body.get("auth"), PASSWORD_FLOWS
    )
    await accounts.deactivate(hs, requester.user_id, erase)
    await uia.finish(hs, session_id)
    return json_response({"id_server_unbind_result": "no-support"})
