"""Shared-secret registration, wire-compatible with Synapse's ``/_synapse/admin/v1/register``
so existing tools (``register_new_matrix_user``, test harnesses) can create users.

A one-time nonce, then ``mac`` = hex HMAC-SHA1 keyed with the shared secret over
``nonce NUL username NUL password NUL ("admin"|"notadmin") [NUL user_type]``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from homeserver.errors import MatrixError
from homeserver.server import HomeServer
from homeserver.storage import users as user_store
from homeserver.users import accounts, identifiers, passwords
from homeserver.users.sessions import Session

NONCE_LIFETIME_MS = 60_000


def registration_mac(secret: str, nonce: str, username: str, password: str, admin: bool, user_type: str | None) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    parts = [nonce, username, password, "admin" if admin else "notadmin"]
    if user_type is not None:
        parts.append(user_type)
    mac.update(b"\x00".join(p.encode() for p in parts))
    return mac.hexdigest()


def _secret(hs: HomeServer) -> str:
    secret = hs.config.registration.shared_secret
    if secret is None:
        raise MatrixError(400, "M_UNKNOWN", "Shared secret registration is not enabled")
    return secret


async def new_nonce(hs: HomeServer) -> str:
    _secret(hs)
    nonce = secrets.token_hex(32)
    now = hs.clock.now_ms()
    await user_store.insert_nonce(hs.db.pool, nonce, now, now - NONCE_LIFETIME_MS)
    return nonce


async def register(
    hs: HomeServer, *, nonce: str, username: str, password: str, admin: bool, user_type: str | None,
    displayname: str | None, mac: str,
) -> Session:
    secret = _secret(hs)
    if not await user_store.take_nonce(hs.db.pool, nonce, hs.clock.now_ms() - NONCE_LIFETIME_MS):
        raise MatrixError(400, "M_UNKNOWN", "Unrecognised nonce")
    if not hmac.compare_digest(mac, registration_mac(secret, nonce, username, password, admin, user_type)):
        raise MatrixError(403, "M_FORBIDDEN", "HMAC incorrect")
    localpart = identifiers.validate_localpart(hs, username)
    passwords.check_policy(hs.config.registration.password_policy, password)
    result = await accounts.register(hs, accounts.NewAccount(
        localpart=localpart, password=password, displayname=displayname, is_admin=admin,
    ))
    assert result.session is not None
    return result.session
