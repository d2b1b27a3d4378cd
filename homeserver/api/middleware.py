"""Turns every failure into the spec's error JSON, and adds CORS to every response.

Spec: client-server-api "Standard error response" and "Web Browser Clients" (CORS).
An unexpected exception is logged with its traceback and answered 500 ``M_UNKNOWN``:
that is a bug to fix, never a way to answer bad input. A database that cannot be
reached is no bug of ours: 503 ``M_UNKNOWN`` with ``Retry-After``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from homeserver.api.context import get_hs
from homeserver.api.responses import json_response
from homeserver.errors import MatrixError
from homeserver.storage.db import unavailable

log = logging.getLogger(__name__)

# Seconds a client is asked to wait while the database is unreachable (503).
RETRY_AFTER_S = 5

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "OPTIONS":
        return web.Response(status=204, headers=CORS_HEADERS)
    response = await handler(request)
    response.headers.update(CORS_HEADERS)
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if "%00" in request.raw_path or "\x00" in request.path:
        return _error(400, "M_INVALID_PARAM", "The request path may not contain NUL")
    try:
        return await handler(request)
    except MatrixError as e:
        response = json_response(e.to_json(), status=e.status)
        if e.status == 408:  # a body left half-read: the connection cannot carry another request
            response.force_close()
        return response
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "M_TOO_LARGE", "Request body too large")
    except web.HTTPNotFound:
        return _error(404, "M_UNRECOGNIZED", "Unrecognized request")
    except web.HTTPMethodNotAllowed:
        return _error(405, "M_UNRECOGNIZED", "Method not allowed for this endpoint")
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return _error(e.status, "M_UNKNOWN", e.reason)
    except Exception as e:
        if unavailable(e):
            get_hs(request).db.lost(e)
            response = _error(503, "M_UNKNOWN", "The database is unavailable; try again shortly")
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "M_UNKNOWN", "Internal server error")


def _error(status: int, errcode: str, message: str) -> web.Response:
    return json_response({"errcode": errcode, "error": message}, status=status)


@web.middleware
async def metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    # The route's pattern, not the path, so user IDs never become label values.
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    m = get_hs(request).metrics
    m.requests.labels(request.method, route, str(response.status)).inc()
    m.latency.labels(request.method, route).observe(time.perf_counter() - started)
    return response
