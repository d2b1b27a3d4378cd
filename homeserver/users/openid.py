"""OpenID tokens (spec: client-server-api "OpenID"): a short-lived token a user hands to
a third party (an integration manager, a widget), which checks it with
``GET /_matrix/federation/v1/openid/userinfo`` on this server (``userinfo``)."""

from __future__ import annotations

from typing import Any

from homeserver.errors import forbidden
from homeserver.server import HomeServer
from homeserver.storage import openid as store
from homeserver.users.sessions import new_token, token_hash

LIFETIME_MS = 3_600_000


async def request_token(hs: HomeServer, requester_id: str, user_id: str) -> dict[str, Any]:
    if requester_id != user_id:
        raise forbidden("You may only request OpenID tokens for yourself")
    token = new_token("oid_")
    now = hs.clock.now_ms()
    async with hs.db.transaction() as conn:
        await store.insert_token(conn, token_hash(token), user_id, now + LIFETIME_MS, now)
    return {"access_token": token, "token_type": "Bearer", "matrix_server_name": hs.server_name,
            "expires_in": LIFETIME_MS // 1000}


async def userinfo(hs: HomeServer, token: str) -> str | None:
    """The user an unexpired token was issued to (the federation userinfo endpoint
    answers ``{"sub": user_id}``, or 401 M_UNKNOWN_TOKEN for None)."""
    return await store.token_user(hs.db.pool, token_hash(token), hs.clock.now_ms())
