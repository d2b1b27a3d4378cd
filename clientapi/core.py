"""The client's core: its session, the token refresh, and ``request`` (perform one
``Request`` as this user). Every API method of ``Client`` is a builder plus a parser
around ``request``."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from clientapi.api import account
from clientapi.api.request import Request
from clientapi.errors import NotLoggedIn, UnknownToken
from clientapi.responses import Session, parse_refresh
from clientapi.rooms import RoomStore
from clientapi.transport import RetryPolicy, Transport

log = logging.getLogger("clientapi")

SessionCallback = Callable[[Session | None], Awaitable[None] | None]

# Refresh an access token this long before it expires, so no request meets it expired.
REFRESH_MARGIN_MS = 30_000


class ClientCore:
    def __init__(
        self, homeserver: str, *, session: Session | None = None, retry: RetryPolicy = RetryPolicy(),
        timeout: float = 60.0, on_session: SessionCallback | None = None, transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``homeserver``: the base URL (``https://matrix.example.org``). ``session``: resume
        a saved one. ``on_session``: called with the new session whenever it changes
        (login, token refresh, logout), so the caller can save the rotated tokens."""
        self.homeserver = homeserver.rstrip("/")
        self.transport = transport or Transport(self.homeserver, retry=retry, timeout=timeout)
        self._session = session
        self._on_session = on_session
        self._clock = clock
        self._refresh_lock = asyncio.Lock()
        self.store = RoomStore()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()

    @property
    def session(self) -> Session | None:
        return self._session

    @property
    def user_id(self) -> str:
        if self._session is None:
            raise NotLoggedIn("not logged in")
        return self._session.user_id

    @property
    def device_id(self) -> str:
        if self._session is None:
            raise NotLoggedIn("not logged in")
        return self._session.device_id

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    @staticmethod
    def new_txn_id() -> str:
        """A transaction ID unique to this device: pass your own to a send to make it
        idempotent across restarts of your program too."""
        return uuid.uuid4().hex

    async def _set_session(self, session: Session | None) -> None:
        self._session = session
        if self._on_session is not None:
            result = self._on_session(session)
            if inspect.isawaitable(result):
                await result

    async def request(self, request: Request) -> Any:
        """Perform ``request`` as this user: the decoded answer, or an exception from
        ``clientapi.errors``. An expired access token is refreshed and the request sent
        again, once."""
        if not request.auth:
            return await self.transport.perform(request)
        session = self._session
        if session is None:
            raise NotLoggedIn(f"{request.describe()} needs a logged-in client")
        if session.expires_at_ms is not None and session.refresh_token is not None \
                and session.expires_at_ms - self.now_ms() < REFRESH_MARGIN_MS:
            session = await self.refresh(session.access_token)
        try:
            return await self.transport.perform(request, session.access_token)
        except UnknownToken:
            if session.refresh_token is None:
                raise
            session = await self.refresh(session.access_token)
            return await self.transport.perform(request, session.access_token)

    async def refresh(self, stale_access_token: str | None = None) -> Session:
        """Exchange the refresh token for new tokens (spec: "Refreshing access tokens").

        Concurrent callers that found the same token stale share one refresh. The new
        refresh token replaces the old one, and ``on_session`` hears of it.
        """
        async with self._refresh_lock:
            session = self._session
            if session is None or session.refresh_token is None:
                raise NotLoggedIn("no refresh token to refresh with")
            if stale_access_token is not None and session.access_token != stale_access_token:
                return session  # another request refreshed it while we waited
            request = account.refresh(session.refresh_token)
            body = await self.transport.perform(request)
            new = parse_refresh(body, request.describe(), session, self.now_ms())
            await self._set_session(new)
            log.debug("refreshed the access token of %s", new.user_id)
            return new
