"""Account registration (spec: client-server-api "Account registration")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.context import client_ip, get_hs
from homeserver.api.params import client_path, get_bool, get_str, json_body
from homeserver.api.responses import json_response
from homeserver.errors import MatrixError
from homeserver.server import HomeServer
from homeserver.users import accounts, identifiers, passwords, uia

routes = web.RouteTableDef()


def registration_flows(hs: HomeServer) -> tuple[list[list[str]], dict[str, Any]]:
    config = hs.config.registration
    stages: list[str] = []
    params: dict[str, Any] = {}
    if config.require_token:
        stages.append(uia.REGISTRATION_TOKEN)
    if config.terms is not None:
        stages.append(uia.TERMS)
        params[uia.TERMS] = {"policies": {
            name: {"version": config.terms.version, "en": {"name": name.replace("_", " ").title(), "url": url}}
            for name, url in config.terms.policies.items()
        }}
    return [stages or [uia.DUMMY]], params


@routes.post(client_path("/register"))
async def register(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/register"""
    hs = get_hs(request)
    if request.query.get("kind", "user") != "user":
        raise MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is disabled")
    if not hs.config.registration.enabled:
        raise MatrixError(403, "M_FORBIDDEN", "Registration has been disabled")
    await hs.ratelimiter.check("register", client_ip(request), hs.config.rate_limits.registration)
    body = await json_body(request)
    username = get_str(body, "username", None)
    password = get_str(body, "password", None)
    device_id = get_str(body, "device_id", None, max_length=255)
    display_name = get_str(body, "initial_device_display_name", None, max_length=255)
    inhibit_login = get_bool(body, "inhibit_login", False)
    refreshable = get_bool(body, "refresh_token", False)
    # Refuse a bad or taken username or a weak password before any auth stage,
    # so the user is not asked to agree to terms for a request that cannot succeed.
    localpart = identifiers.validate_localpart(hs, username) if username is not None else None
    if localpart is not None:
        await accounts.ensure_available(hs, localpart)
    if password is not None:
        passwords.check_policy(hs.config.registration.password_policy, password)
    flows, params = registration_flows(hs)
    session_id = await uia.authenticate(hs, uia.Request("POST", "/register", None), body.get("auth"), flows, params)
    if password is None:
        raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: password")
    terms = hs.config.registration.terms
    result = await accounts.register(hs, accounts.NewAccount(
        localpart=localpart, password=password, device_id=device_id, device_display_name=display_name,
        inhibit_login=inhibit_login, refreshable=refreshable,
        consent_version=terms.version if terms is not None else None,
    ))
    await uia.finish(hs, session_id)
    if result.session is None:
        return json_response({"user_id": result.user_id, "home_server": hs.server_name})
    return json_response(result.session.to_json(hs))


@routes.get(client_path("/register/available"))
async def register_available(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/register/available"""
    hs = get_hs(request)
    await hs.ratelimiter.check("register", client_ip(request), hs.config.rate_limits.registration)
    username = request.query.get("username")
    if username is None:
        raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: username")
    await accounts.ensure_available(hs, identifiers.validate_localpart(hs, username))
    return json_response({"available": True})


@routes.get(client_path("/register/m.login.registration_token/validity", "v1"))
async def registration_token_validity(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/register/m.login.registration_token/validity"""
    hs = get_hs(request)
    await hs.ratelimiter.check("register", client_ip(request), hs.config.rate_limits.registration)
    token = request.query.get("token")
    if token is None:
        raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: token")
    if not hs.config.registration.require_token:
        raise MatrixError(403, "M_FORBIDDEN", "Registration tokens are not in use on this server")
    return json_response({"valid": token in hs.config.registration.tokens})
