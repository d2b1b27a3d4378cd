"""Password login with lockout (spec: client-server-api "Login").

Failed attempts are counted per account and per client address; each failure slows
the next attempt, and past the configured count the account or address is locked out
for a while with 429 ``M_LIMIT_EXCEEDED``. Unknown users cost a full hash too, so timing
does not tell which usernames exist.
"""

from __future__ import annotations

import asyncio

from homeserver.errors import MatrixError
from homeserver.server import HomeServer
from homeserver.storage import users as user_store


async def verify_password(hs: HomeServer, user_id: str, password: str, ip: str) -> None:
    """Raise 403 ``M_FORBIDDEN`` (or 429 when locked out) unless the password is right."""
    keys = [f"user:{user_id}"] + ([f"ip:{ip}"] if ip else [])
    hs.lockout.check(*keys)
    delay = hs.lockout.delay_seconds(*keys)
    if delay:
        await asyncio.sleep(delay)
    user = await user_store.get_user(hs.db.pool, user_id)
    password_hash = user.password_hash if user and not user.deactivated else None
    if not await hs.passwords.verify(password_hash, password):
        hs.lockout.failed(*keys)
        if user is not None and user.deactivated:
            raise MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated")
        raise MatrixError(403, "M_FORBIDDEN", "Invalid username or password")
    hs.lockout.succeeded(keys[0])
