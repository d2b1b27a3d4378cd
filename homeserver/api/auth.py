"""Authenticating a client request by its access token (spec: "Using access tokens")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.context import client_ip, get_hs
from homeserver.errors import MatrixError
from homeserver.users.sessions import Requester, authenticate


def access_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise MatrixError(401, "M_MISSING_TOKEN", "Malformed Authorization header")
        return token.strip()
    # Deprecated in the spec but still sent by older clients.
    return request.query.get("access_token") or None


async def require_user(request: web.Request) -> Requester:
    token = access_token(request)
    if token is None:
        raise MatrixError(401, "M_MISSING_TOKEN", "Missing access token")
    return await authenticate(get_hs(request), token, client_ip(request), request.headers.get("User-Agent"))


async def require_admin(request: web.Request) -> Requester:
    requester = await require_user(request)
    if not requester.is_admin:
        raise MatrixError(403, "M_FORBIDDEN", "You are not a server admin")
    return requester
