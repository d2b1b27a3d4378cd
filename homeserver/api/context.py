"""What a route reaches through the request: the HomeServer and the authenticated user."""

from __future__ import annotations

from aiohttp import web

from homeserver.server import HomeServer

HOMESERVER = web.AppKey("homeserver", HomeServer)


def get_hs(request: web.Request) -> HomeServer:
    return request.app[HOMESERVER]


def client_ip(request: web.Request) -> str:
    return request.remote or ""
