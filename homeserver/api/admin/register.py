"""Shared-secret registration, wire-compatible with Synapse's ``/_synapse/admin/v1/register``
so existing tools (``register_new_matrix_user``, test harnesses) can create users.

GET returns a one-time nonce; POST carries ``mac`` = hex HMAC-SHA1 keyed with the shared
secret over ``nonce NUL username NUL password NUL ("admin"|"notadmin") [NUL user_type]``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

from homeserver.api.context import client_ip, get_hs
from homeserver.api.params import get_bool, get_str, json_body
from homeserver.api.responses import json_response
from homeserver.errors import MatrixError
from homeserver.storage import users as user_store
from homeserver.users import accounts, identifiers, passwords

routes = web.RouteTableDef()

PATH = "/_synapse/admin/v1/register"
NONCE_LIFETIME_MS = 60_000


def registration_mac(secret: str, nonce: str, username: str, password: str, admin: bool, user_type: str | None) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    parts = [nonce, username, password, "admin" if admin else "notadmin"]
    if user_type is not None:
        parts.append(user_type)
    mac.update(b"\x00".join(p.encode() for p in parts))
    return mac.hexdigest()


def _secret(request: web.Request) -> str:
    secret = get_hs(request).config.registration.shared_secret
    if secret is None:
        raise MatrixError(400, "M_UNKNOWN", "Shared secret registration is not enabled")
    return secret


@routes.get(PATH)
async def get_nonce(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/register"""
    hs = get_hs(request)
    _secret(request)
    nonce = secrets.token_hex(32)
    now = hs.clock.now_ms()
    await user_store.insert_nonce(hs.db.pool, nonce, now, now - NONCE_LIFETIME_MS)
    return json_response({"nonce": nonce})


@routes.post(PATH)
async def register(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/register"""
    hs = get_hs(request)
    secret = _secret(request)
    hs.ratelimiter.check("register", client_ip(request), hs.config.rate_limits.registration)
    body = await json_body(request)
    nonce = get_str(body, "nonce")
    username = get_str(body, "username")
    password = get_str(body, "password")
    admin = get_bool(body, "admin", False)
    user_type = get_str(body, "user_type", None)
    displayname = get_str(body, "displayname", None, max_length=256)
    mac = get_str(body, "mac")
    if not await user_store.take_nonce(hs.db.pool, nonce, hs.clock.now_ms() - NONCE_LIFETIME_MS):
        raise MatrixError(400, "M_UNKNOWN", "Unrecognised nonce")
    expected = registration_mac(secret, nonce, username, password, admin, user_type)
    if not hmac.compare_digest(mac, expected):
        raise MatrixError(403, "M_FORBIDDEN", "HMAC incorrect")
    localpart = identifiers.validate_localpart(get_hs(request), username)
    passwords.check_policy(hs.config.registration.password_policy, password)
    result = await accounts.register(hs, accounts.NewAccount(
        localpart=localpart, password=password, displayname=displayname, is_admin=admin,
    ))
    assert result.session is not None
    return json_response(result.session.to_json(hs))
