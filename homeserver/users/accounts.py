"""Creating, changing and closing accounts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from homeserver.errors import MatrixError
from homeserver.server import HomeServer
from homeserver.storage import users as user_store
from homeserver.streams import Stream
from homeserver.users import directory, identifiers, passwords
from homeserver.users.sessions import Session, create_session, delete_devices, forget_sessions


@dataclass(frozen=True, slots=True)
class NewAccount:
    localpart: str | None
    password: str | None
    device_id: str | None = None
    device_display_name: str | None = None
    inhibit_login: bool = False
    refreshable: bool = False
    displayname: str | None = None
    is_admin: bool = False
    consent_version: str | None = None


@dataclass(frozen=True, slots=True)
class Registered:
    user_id: str
    session: Session | None


async def ensure_available(hs: HomeServer, localpart: str) -> None:
    if await user_store.localpart_taken(hs.db.pool, localpart):
        raise MatrixError(400, "M_USER_IN_USE", "User ID already taken")


async def register(hs: HomeServer, account: NewAccount) -> Registered:
    """Create the account, its profile and directory entry, and (unless inhibited) a session."""
    localpart = account.localpart or await _generate_localpart(hs)
    user_id = identifiers.make_user_id(hs, localpart)
    password_hash = await hs.passwords.hash(account.password) if account.password is not None else None
    displayname = account.displayname or localpart
    is_admin = account.is_admin or user_id in hs.config.server.admins
    async with hs.db.transaction() as conn:
        created = await user_store.insert_user(
            conn, user_id, localpart, password_hash, hs.clock.now_ms(),
            is_admin=is_admin, consent_version=account.consent_version,
        )
        if not created:
            raise MatrixError(400, "M_USER_IN_USE", "User ID already taken")
        await user_store.insert_profile(conn, user_id, displayname)
        await directory.on_user_registered(conn, user_id, localpart, displayname)
        session = None
        if not account.inhibit_login:
            session = await create_session(
                hs, conn, user_id, account.device_id, account.device_display_name, account.refreshable
            )
    return Registered(user_id, session)


async def _generate_localpart(hs: HomeServer) -> str:
    while True:
        localpart = secrets.token_hex(6)
        if not await user_store.localpart_taken(hs.db.pool, localpart):
            return localpart


async def change_password(
    hs: HomeServer, user_id: str, new_password: str, keep_device_id: str | None, logout_devices: bool
) -> None:
    passwords.check_policy(hs.config.registration.password_policy, new_password)
    password_hash = await hs.passwords.hash(new_password)
    async with hs.feed.writing(Stream.DEVICE_LISTS) as writer, hs.db.transaction() as conn:
        await user_store.set_password_hash(conn, user_id, password_hash)
        if logout_devices:
            await delete_devices(conn, writer, user_id, None, keep=keep_device_id)
    await forget_sessions(hs, user_id)


async def deactivate(hs: HomeServer, user_id: str, erase: bool) -> None:
    """Close the account for good: no login, no devices, never in the directory; the
    localpart stays reserved. ``erase`` also removes the profile (spec: "Account
    deactivation")."""
    async with hs.feed.writing(Stream.DEVICE_LISTS) as writer, hs.db.transaction() as conn:
        await user_store.mark_deactivated(conn, user_id)
        await delete_devices(conn, writer, user_id, None)
        await directory.on_user_deactivated(conn, user_id)
        if erase:
            await user_store.delete_profile(conn, user_id)
    await forget_sessions(hs, user_id)
