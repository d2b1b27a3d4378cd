"""Shared-secret registration (homeserver/users/shared_secret.py), at Synapse's path."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.context import client_ip, get_hs
from homeserver.api.params import get_bool, get_str, json_body
from homeserver.api.responses import json_response
from homeserver.users import shared_secret

routes = web.RouteTableDef()

PATH = "/_synapse/admin/v1/register"


@routes.get(PATH)
async def get_nonce(request: web.Request) -> web.Response:
    """GET /_synapse/admin/v1/register"""
    return json_response({"nonce": await shared_secret.new_nonce(get_hs(request))})


@routes.post(PATH)
async def register(request: web.Request) -> web.Response:
    """POST /_synapse/admin/v1/register"""
    hs = get_hs(request)
    await hs.ratelimiter.check("register", client_ip(request), hs.config.rate_limits.registration)
    body = await json_body(request)
    session = await shared_secret.register(
        hs,
        nonce=get_str(body, "nonce"),
        username=get_str(body, "username"),
        password=get_str(body, "password"),
        admin=get_bool(body, "admin", False),
        user_type=get_str(body, "user_type", None),
        displayname=get_str(body, "displayname", None, max_length=256),
        mac=get_str(body, "mac"),
    )
    return json_response(session.to_json(hs))
