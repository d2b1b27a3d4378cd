"""Password login with lockout (spec: client-server-api "Login").

Attempts are counted per account and per client address, in PostgreSQL so that every
server process shares them, and each is counted before its password is checked (a
reservation), so guesses sent at once count as much as guesses sent one after another:
past ``auth.lockout_after_failures`` attempts in ``auth.failure_window_ms`` the account
or address is locked out for ``auth.lockout_ms`` with 429 ``M_LIMIT_EXCEEDED``. A
successful login refunds its own attempt and clears the account's count. Each attempt
also waits a little longer than the one before. Unknown users cost a full hash too, so
timing does not tell which usernames exist.
"""

from __future__ import annotations

import asyncio

from homeserver.errors import MatrixError, limit_exceeded
from homeserver.server import HomeServer
from homeserver.storage import login_attempts
from homeserver.storage import users as user_store


def _limits(hs: HomeServer) -> login_attempts.Limits:
    auth = hs.config.auth
    return login_attempts.Limits(auth.lockout_after_failures, auth.failure_window_ms, auth.lockout_ms)


def delay_seconds(earlier_attempts: int) -> float:
    """How long an attempt waits, given the attempts its keys had before it."""
    return min(0.1 * 2**earlier_attempts, 2.0) if earlier_attempts else 0.0


async def verify_password(hs: HomeServer, user_id: str, password: str, ip: str) -> None:
    """Raise 403 ``M_FORBIDDEN`` (or 429 when locked out) unless the password is right."""
    account, address = f"user:{user_id}", [f"ip:{ip}"] if ip else []
    async with hs.db.transaction() as conn:
        reservation = await login_attempts.reserve(conn, [account, *address], hs.clock.now_ms(), _limits(hs))
    if reservation.retry_after_ms:
        raise limit_exceeded(reservation.retry_after_ms)
    await asyncio.sleep(delay_seconds(reservation.earlier))
    user = await user_store.get_user(hs.db.pool, user_id)
    password_hash = user.password_hash if user and not user.deactivated else None
    if not await hs.passwords.verify(password_hash, password):
        if user is not None and user.deactivated:
            raise MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated")
        raise MatrixError(403, "M_FORBIDDEN", "Invalid username or password")
    await login_attempts.refund(hs.db.pool, account, address, _limits(hs))
