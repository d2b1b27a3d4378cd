"""Sessions: devices, access tokens and refresh tokens.

Tokens are random secrets handed to the client once; the database only ever sees their
SHA-256 hash. An access token issued with a refresh token expires; an expired one is
answered with ``soft_logout: true`` so the client refreshes instead of logging out
(spec: client-server-api "Soft logout" and "Refreshing access tokens").
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, replace

import asyncpg

from homeserver.errors import MatrixError
from homeserver.requester import Requester
from homeserver.server import ACCESS_TOKENS, HomeServer
from homeserver.storage import cross_signing as cross_signing_store
from homeserver.storage import devices as store
from homeserver.storage import e2e_keys as key_store
from homeserver.streams import Change, Invalidation, Stream, Writer
from homeserver.streams.device_lists import announce

log = logging.getLogger(__name__)

# Device last-seen is written at most this often per device, keeping writes off the hot path.
_LAST_SEEN_RESOLUTION_MS = 60_000
_REFRESH_PREFIX = "mar_"


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    device_id: str
    access_token: str
    refresh_token: str | None = None
    expires_in_ms: int | None = None

    def to_json(self, hs: HomeServer) -> dict[str, object]:
        body: dict[str, object] = {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "access_token": self.access_token,
            "home_server": hs.server_name,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
            body["expires_in_ms"] = self.expires_in_ms
        return body


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_device_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(10))


async def create_session(
    hs: HomeServer, conn: asyncpg.Connection, user_id: str, device_id: str | None,
    display_name: str | None, refreshable: bool,
) -> Session:
    """Create (or reuse) the device and issue its tokens, inside the caller's transaction."""
    if device_id is not None and await cross_signing_store.is_cross_signing_key(conn, user_id, device_id):
        # Device IDs and cross-signing public keys share one namespace (spec: "Cross-signing").
        raise MatrixError(400, "M_INVALID_PARAM", "That device ID is one of your cross-signing keys")
    device_id = device_id or new_device_id()
    now = hs.clock.now_ms()
    await store.upsert_device(conn, user_id, device_id, display_name, now)
    if refreshable:
        session, _ = await _issue_refreshable(hs, conn, user_id, device_id)
        return session
    access_token = new_token("mat_")
    await store.insert_access_token(conn, token_hash(access_token), user_id, device_id, now)
    return Session(user_id, device_id, access_token)


async def _issue_refreshable(
    hs: HomeServer, conn: asyncpg.Connection, user_id: str, device_id: str, family: str | None = None
) -> tuple[Session, int]:
    """Issue an expiring access token with a refresh token of ``family`` (a new family
    for a new login); also return the refresh token's id."""
    now = hs.clock.now_ms()
    access_token = new_token("mat_")
    family = family or secrets.token_hex(16)
    refresh_token = f"{_REFRESH_PREFIX}{family}_{secrets.token_urlsafe(32)}"
    lifetime = hs.config.auth.refresh_token_lifetime_ms
    refresh_id = await store.insert_refresh_token(
        conn, token_hash(refresh_token), user_id, device_id, now, now + lifetime if lifetime else None, family
    )
    expires_in = hs.config.auth.refreshable_access_token_lifetime_ms
    await store.insert_access_token(
        conn, token_hash(access_token), user_id, device_id, now, now + expires_in, refresh_id
    )
    return Session(user_id, device_id, access_token, refresh_token, expires_in), refresh_id


async def authenticate(hs: HomeServer, access_token: str, ip: str, user_agent: str | None) -> Requester:
    """The requester an access token stands for. Valid tokens are cached by hash
    (``hs.access_tokens``), tagged with their user and device: every change that can
    end a session calls ``forget_sessions`` once it has committed."""
    hashed = token_hash(access_token)
    token = hs.access_tokens.get(hashed)
    if token is None:
        generation = hs.access_tokens.generation
        token = await store.lookup_access_token(hs.db.pool, hashed)
        if token is not None and not token.deactivated:
            hs.access_tokens.put_unless_invalidated(generation, hashed, token, _tags(token))
    if token is None or token.deactivated:
        raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown access token")
    now = hs.clock.now_ms()
    if token.expires_ts is not None and now >= token.expires_ts:
        raise MatrixError(401, "M_UNKNOWN_TOKEN", "Access token has expired", soft_logout=True)
    if not token.used and token.refresh_token_id is not None:
        # The first use of a refreshed token retires the refresh token before it; no
        # other access token depends on that one (refresh ended its own). Several
        # requests using it at once, or a refresh racing them, may deadlock in the
        # database: the token is valid either way, and a later use retires it.
        try:
            await store.mark_access_token_used(hs.db.pool, token.id, token.refresh_token_id)
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            log.info("first use of a refreshed access token of %s: retiring its predecessor later", token.user_id)
        else:
            token = replace(token, used=True)
            _update_cached(hs, hashed, token)
    if token.last_seen_ts is None or now - token.last_seen_ts >= _LAST_SEEN_RESOLUTION_MS:
        await store.touch_device(hs.db.pool, token.user_id, token.device_id, now, ip, user_agent)
        _update_cached(hs, hashed, replace(token, last_seen_ts=now))
    return Requester(token.user_id, token.device_id, token.is_admin, token.id)


def _tags(token: store.AccessToken) -> tuple[str, str]:
    return (token.user_id, device_key(token.user_id, token.device_id))


def _update_cached(hs: HomeServer, hashed: bytes, token: store.AccessToken) -> None:
    if hs.access_tokens.get(hashed) is not None:
        hs.access_tokens.put(hashed, token, _tags(token))


def device_key(user_id: str, device_id: str) -> str:
    """The invalidation key of one device's sessions."""
    return f"{user_id}|{device_id}"


def _family(refresh_token: str) -> str | None:
    """The family a refresh token names (tokens issued before families name none)."""
    family, sep, _ = refresh_token.removeprefix(_REFRESH_PREFIX).partition("_")
    return family if refresh_token.startswith(_REFRESH_PREFIX) and sep and len(family) == 32 else None


async def refresh(hs: HomeServer, refresh_token: str) -> Session:
    """Exchange a refresh token for a new access and refresh token (rotation).

    A token of a live family that is not (or no longer) valid has been rotated away, so
    it is a replay: someone else holds a copy of the session. The whole family goes, its
    access tokens with it, and the device must log in again (OAuth 2.0 Security Best
    Current Practice, "Refresh Token Protection": rotation with reuse detection)."""
    session = revoked = None
    async with hs.db.transaction() as conn:
        old = await store.lookup_refresh_token(conn, token_hash(refresh_token))
        if old is None:
            family = _family(refresh_token)
            revoked = await store.revoke_refresh_family(conn, family) if family else None
        elif old.expires_ts is not None and hs.clock.now_ms() >= old.expires_ts:
            await store.delete_refresh_token(conn, old.id)
        else:
            session = await _rotate(hs, conn, old)
    if session is not None:
        await forget_sessions(hs, session.user_id, session.device_id)
        return session
    if old is not None:
        raise MatrixError(401, "M_UNKNOWN_TOKEN", "Refresh token has expired", soft_logout=True)
    if revoked is not None:
        await forget_sessions(hs, *revoked)
        log.warning("a rotated refresh token of %s's device %s was used again: its session is revoked", *revoked)
    raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown refresh token")


async def _rotate(hs: HomeServer, conn: asyncpg.Connection, old: store.RefreshToken) -> Session:
    """Issue the tokens that replace ``old``, inside the caller's transaction."""
    if old.next_id is not None:
        # Refreshed before but the new tokens were never used: replace them.
        await store.delete_refresh_token(conn, old.next_id)
    await store.delete_superseded_refresh_token(conn, old.id)
    session, new_id = await _issue_refreshable(hs, conn, old.user_id, old.device_id, old.family)
    await store.set_next_refresh_token(conn, old.id, new_id)
    # The access token issued with the old refresh token ends here.
    await store.delete_access_tokens_of_refresh_token(conn, old.id)
    return session


async def logout(hs: HomeServer, requester: Requester) -> None:
    """Invalidate the access token and delete its device (spec: POST /logout)."""
    await end_devices(hs, requester.user_id, [requester.device_id])


async def logout_all(hs: HomeServer, user_id: str) -> None:
    await end_devices(hs, user_id, None)


async def end_devices(hs: HomeServer, user_id: str, device_ids: list[str] | None) -> None:
    """Delete these devices (None: all the user's) and end their sessions."""
    async with hs.feed.writing(Stream.DEVICE_LISTS) as writer, hs.db.transaction() as conn:
        await delete_devices(conn, writer, user_id, device_ids)
    if device_ids is None or device_ids:
        await forget_sessions(hs, user_id, *(device_ids or ()))


async def delete_devices(
    conn: asyncpg.Connection, writer: Writer, user_id: str, device_ids: list[str] | None, keep: str | None = None
) -> None:
    """Delete devices (None: all the user's but ``keep``) with their tokens and keys, in
    the caller's transaction, whose writer brackets DEVICE_LISTS: the end of a device
    that had keys is a device-list change (spec: GET /keys/changes). The caller then
    calls ``forget_sessions``."""
    if device_ids is None:
        device_ids = [d.device_id for d in await store.list_devices(conn, user_id) if d.device_id != keep]
    if await key_store.delete_device_keys(conn, user_id, device_ids):
        await announce(writer, conn, user_id)
    await store.delete_devices(conn, user_id, device_ids)


async def forget_sessions(hs: HomeServer, user_id: str, *device_ids: str) -> None:
    """Drop the cached sessions of these devices (none named: all of the user's) in every
    server process, and return once each has: call it after any commit that deletes
    tokens, devices or refresh tokens, deactivates a user or changes their admin flag,
    so the very next request with an ended session is refused wherever it lands."""
    keys = [device_key(user_id, d) for d in device_ids] if device_ids else [user_id]
    await hs.feed.publish(Change(invalidations=tuple(Invalidation(ACCESS_TOKENS, k) for k in keys)), confirm=True)
