"""Connection limits: how long a client may take to send a request, how long an idle
keep-alive connection stays open, and how many connections are served at once.

aiohttp has the keep-alive timeout (which also bounds a new connection that sends
nothing), but nothing for a request head that trickles in a byte at a time, nor a cap on
connections: 200 connections sending one header line every 2 s, or 5,000 idle ones, were
all held open. The header timeout is kept here by a small subclass of aiohttp's request
handler; body timeouts are applied where bodies are read (api/params.py, api/media).
A request being handled (a parked /sync long-poll) is bound by none of these. Requests
aiohttp cannot parse are answered with a Matrix error too.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from homeserver.config import ServerConfig

log = logging.getLogger(__name__)


class _Server(web.Server):
    """aiohttp's connection manager, handing out guarded handlers and refusing
    connections past the limit (set on it by ``Runner``)."""

    header_timeout_s: float
    max_connections: int
    _warned_at: float = 0.0

    def __call__(self) -> RequestHandler:
        return _GuardedHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if len(self._connections) > self.max_connections:
            handler.force_close()
            now = self._loop.time()
            if now - self._warned_at >= 60:  # once a minute at most, however many are refused
                self._warned_at = now
                log.warning("server.max_connections (%d) reached: new connections are closed", self.max_connections)


class _GuardedHandler(RequestHandler):
    """Closes a connection whose request head has started but is not complete within the
    server's header timeout."""

    _header_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._messages or self._request_in_progress or self._force_close:
            self._stop_header_timer()
        elif data and self._header_timer is None and isinstance(self._manager, _Server):
            self._header_timer = self._loop.call_later(self._manager.header_timeout_s, self._header_timed_out)

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse (a NUL in a header, a line too long) or that
        failed outside the app: a Matrix error like every other answer, and no traceback
        in the log for a client's malformed bytes."""
        if status >= 500:
            log.error("error handling a request from %s", request.remote, exc_info=exc)
        else:
            log.debug("malformed request from %s: %s", request.remote, exc)
        if request.writer.output_size > 0:  # an answer is under way: only closing is left
            raise ConnectionError("cannot answer a request whose response has started")
        errcode = "M_TOO_LARGE" if status in (413, 431) else "M_UNKNOWN"
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        response = web.json_response({"errcode": errcode, "error": reason}, status=status)
        response.force_close()
        return response

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if not self._messages and not self._request_in_progress:
            self.force_close()


class Runner(web.AppRunner):
    """An AppRunner whose connections keep ``server``'s limits."""

    def __init__(self, app: web.Application, server: ServerConfig) -> None:
        # After an answer sent before its request's body was read (a 413, a 408), aiohttp
        # reads and drops the rest for lingering_time so the client sees the answer: 2 s,
        # not its default 10, bounds what a slow client keeps open that way.
        super().__init__(app, access_log=None, keepalive_timeout=server.idle_timeout_ms / 1000, lingering_time=2.0)
        self._limits = server

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        made.__class__ = _Server  # the same object, handing out guarded handlers
        assert isinstance(made, _Server)
        made.header_timeout_s = self._limits.header_timeout_ms / 1000
        made.max_connections = self._limits.max_connections
        return made
