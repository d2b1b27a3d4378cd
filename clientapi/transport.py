"""The one piece of the SDK that does I/O: performs a ``Request`` over aiohttp.

Retries, bounded and with jitter:

* 429 ``M_LIMIT_EXCEEDED``: always (the server refused, nothing happened), after the
  ``retry_after_ms`` it asks for (or the ``Retry-After`` header), for at most
  ``rate_limit_wait`` seconds in total per request.
* Network errors and 5xx: with exponential backoff, at most ``max_retries`` times, for
  idempotent requests only. A send is idempotent because its transaction ID is in the
  path and a retry performs the same ``Request``: the server answers a repeated
  transaction ID with the event it already made. A request that is not idempotent
  (createRoom, login, upload) is retried only when the connection was never made.

After a 429, requests of the same ``limit_key`` (every send and redaction, say) go one at
a time, each after the wait the server asked for, until one gets through with nobody
queued behind it: a burst of sends drains at the server's pace instead of hammering it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import aiohttp

from clientapi.api.request import Request
from clientapi.errors import LimitExceeded, MalformedResponse, MatrixRequestError, TransportError, error_for
from clientapi.responses import Media

log = logging.getLogger("clientapi.transport")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 6  # network errors and 5xx, per request
    backoff_base: float = 0.5  # seconds; doubled on each retry
    backoff_max: float = 30.0
    rate_limit_wait: float = 600.0  # seconds spent waiting out 429s, per request
    jitter: float = 0.25  # each wait is stretched by up to this fraction, at random

    def backoff(self, retry: int, rng: random.Random) -> float:
        base: float = min(self.backoff_max, self.backoff_base * 2 ** min(retry, 32))
        return base * (1 + self.jitter * rng.random())


NO_RETRY = RetryPolicy(max_retries=0, rate_limit_wait=0.0)


@dataclass
class _Gate:
    not_before: float = 0.0
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class Transport:
    def __init__(
        self, base_url: str, *, retry: RetryPolicy = RetryPolicy(), timeout: float = 60.0,
        session: aiohttp.ClientSession | None = None, user_agent: str = "clientapi",
        sleep: Callable[[float], Any] = asyncio.sleep, rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.timeout = timeout
        self._session = session
        self._own_session = session is None
        self._headers = {"User-Agent": user_agent}
        self._sleep = sleep
        self._rng = rng or random.Random()
        # Limit keys the server has answered 429 for, while requests of them are queued.
        self._gates: dict[str, _Gate] = {}
        self.retries = 0  # performed so far, for tests and metrics

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers)
            self._own_session = True
        return self._session

    async def perform(self, request: Request, access_token: str | None = None) -> Any:
        """The decoded JSON answer (bytes and type for media), or an exception."""
        key = request.limit_key or request.describe()
        rate_limited = 0.0
        failures = 0
        while True:
            try:
                gate = self._gates.get(key)
                if gate is None:
                    return await self._once(request, access_token)
                return await self._through(gate, key, request, access_token)
            except LimitExceeded as e:
                wait = self._rate_limit_delay(e)
                if rate_limited + wait > self.retry.rate_limit_wait:
                    raise
                rate_limited += wait
                gate = self._gates.setdefault(key, _Gate())
                gate.not_before = max(gate.not_before, time.monotonic() + wait)
                log.debug("%s: 429, retrying in %.2f s", request.describe(), wait)
            except (aiohttp.ClientError, asyncio.TimeoutError, _ServerError) as e:
                if failures >= self.retry.max_retries or not _retryable(request, e):
                    raise _final(request, e) from None
                wait = self.retry.backoff(failures, self._rng)
                failures += 1
                log.info("%s: %s, retry %d in %.2f s", request.describe(), _describe(e), failures, wait)
                await self._sleep(wait)
            self.retries += 1

    async def _through(self, gate: _Gate, key: str, request: Request, access_token: str | None) -> Any:
        """One request of a rate-limited kind: in turn, after the wait the last 429 asked
        for. A burst then drains at the server's pace, about one 429 per refill, instead
        of every waiter retrying at once and all but one being refused again."""
        gate.waiting += 1
        try:
            async with gate.turn:
                wait = gate.not_before - time.monotonic()
                if wait > 0:
                    # Jitter: other processes of the same user are waiting out the same limit.
                    await self._sleep(wait * (1 + self.retry.jitter * self._rng.random()))
                result = await self._once(request, access_token)
        finally:
            gate.waiting -= 1
        if gate.waiting == 0 and self._gates.get(key) is gate:
            del self._gates[key]  # the server takes these again and nobody is queued
        return result

    def _rate_limit_delay(self, error: LimitExceeded) -> float:
        after_ms = error.retry_after_ms
        return max(after_ms if after_ms is not None else 1000, 1) / 1000

    async def _once(self, request: Request, access_token: str | None) -> Any:
        headers = {}
        if request.auth and access_token is not None:
            headers["Authorization"] = f"Bearer {access_token}"
        if request.content_type is not None:
            headers["Content-Type"] = request.content_type
        timeout = aiohttp.ClientTimeout(total=request.timeout or self.timeout)
        async with self._client().request(
            request.method, self.base_url + request.path, params=list(request.query) or None,
            json=request.json if request.data is None else None, data=request.data, headers=headers,
            timeout=timeout,
        ) as resp:
            raw = await resp.read()
            if resp.status >= 500:
                raise _ServerError(resp.status, raw)
            if resp.status >= 400:
                raise self._error(request, resp, raw)
            if request.binary:
                return Media(raw, resp.headers.get("Content-Type", "application/octet-stream"), _filename(resp))
            return _json(request, raw)

    def _error(self, request: Request, resp: aiohttp.ClientResponse, raw: bytes) -> MatrixRequestError:
        error = error_for(resp.status, _error_body(raw), request.method, request.path)
        header = resp.headers.get("Retry-After", "")
        if isinstance(error, LimitExceeded) and header.isdigit():
            error.retry_after_header_ms = int(header) * 1000  # spec v1.10: in seconds
        return error


class _ServerError(Exception):
    def __init__(self, status: int, raw: bytes) -> None:
        super().__init__(f"{status}")
        self.status = status
        self.raw = raw


def _retryable(request: Request, error: BaseException) -> bool:
    if request.idempotent:
        return True
    # The request never left: no connection was made.
    return isinstance(error, aiohttp.ClientConnectorError)


def _final(request: Request, error: BaseException) -> Exception:
    if isinstance(error, _ServerError):
        return error_for(error.status, _error_body(error.raw), request.method, request.path)
    return TransportError(request.method, request.path, _describe(error))


def _describe(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    if isinstance(error, _ServerError):
        return f"HTTP {error.status}"
    return f"{type(error).__name__}: {error}"


def _error_body(raw: bytes) -> Any:
    """An error answer's JSON, or its first words as the message (a proxy's HTML page)."""
    try:
        return _decode(raw)
    except ValueError:
        return {"error": raw[:200].decode("utf-8", "replace")}


def _decode(raw: bytes) -> Any:
    return json.loads(raw) if raw else None


def _json(request: Request, raw: bytes) -> Any:
    try:
        return _decode(raw)
    except ValueError:
        preview = raw[:80].decode("utf-8", "replace")
        raise MalformedResponse(request.describe(), f"the answer is not JSON: {preview!r}") from None


def _filename(resp: aiohttp.ClientResponse) -> str | None:
    disposition = resp.headers.get("Content-Disposition")
    if not disposition:
        return None
    message = Message()
    message["content-disposition"] = disposition
    return message.get_filename()
