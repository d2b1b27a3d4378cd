"""Parsing at the edge: every endpoint rejects bad input the same way.

Malformed JSON is ``M_NOT_JSON``; a body that is not an object, or a field of the wrong
type, is ``M_BAD_JSON``; a missing required field is ``M_MISSING_PARAM``; a bad query
parameter is ``M_INVALID_PARAM``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any, TypeVar

import orjson
from aiohttp import web

from homeserver.api.context import get_hs
from homeserver.errors import MatrixError, bad_json, invalid_param, missing_param

T = TypeVar("T")
_MISSING: Any = object()


def body_timeout_s(request: web.Request) -> float:
    return get_hs(request).config.server.body_timeout_ms / 1000


def body_timed_out() -> MatrixError:
    # 408 closes the connection (api/middleware.py): the rest of the body is never read.
    return MatrixError(408, "M_UNKNOWN", "The request body did not arrive in time")


async def json_body(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    try:
        async with asyncio.timeout(body_timeout_s(request)):
            raw = await request.read()
    except TimeoutError:
        raise body_timed_out() from None
    if not raw.strip():
        if allow_empty:
            return {}
        raise MatrixError(400, "M_NOT_JSON", "Request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MatrixError(400, "M_NOT_JSON", "Content not JSON") from None
    if not isinstance(body, dict):
        raise bad_json("Content must be a JSON object")
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _too_deep(body):
        raise bad_json(f"Content may not nest objects and arrays more than {MAX_JSON_DEPTH} deep")
    # PostgreSQL cannot store U+0000 in text or jsonb; no Matrix field needs it.
    if b"u0000" in raw and _contains_nul(body):
        raise bad_json("Content may not contain the NUL character")
    return body


# Deeper JSON is refused at the edge: what is stored must still encode when served inside
# a response's own nesting (orjson stops at 255 levels: a message of 500 nested arrays was
# a 500 on every /sync that carried it), and every walk over a body stays shallow.
MAX_JSON_DEPTH = 100


def _too_deep(value: Any) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def _field(body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str, default: Any) -> Any:
    value = body.get(key, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise missing_param(key)
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise bad_json(f"'{key}' must be {what}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def get_str(body: dict[str, Any], key: str, default: Any = _MISSING, *, max_length: int | None = None) -> Any:
    value = _field(body, key, str, "a string", default)
    if isinstance(value, str) and max_length is not None and len(value) > max_length:
        raise bad_json(f"'{key}' is too long (at most {max_length} characters)")
    return value


def get_bool(body: dict[str, Any], key: str, default: Any = _MISSING) -> Any:
    return _field(body, key, bool, "a boolean", default)


def get_int(body: dict[str, Any], key: str, default: Any = _MISSING) -> Any:
    return _field(body, key, int, "an integer", default)


def get_dict(body: dict[str, Any], key: str, default: Any = _MISSING) -> Any:
    return _field(body, key, dict, "an object", default)


def get_list(body: dict[str, Any], key: str, default: Any = _MISSING) -> Any:
    return _field(body, key, list, "an array", default)


def get_str_list(body: dict[str, Any], key: str, default: Any = _MISSING) -> Any:
    value = get_list(body, key, default)
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise bad_json(f"'{key}' must be an array of strings")
    return value


def query_int(request: web.Request, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_param(f"'{name}' must be an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise invalid_param(f"'{name}' is out of range")
    return value


def query_bool(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise invalid_param(f"'{name}' must be true or false")
    return raw == "true"


def client_path(path: str, versions: str = "r0|v3") -> str:
    """A client-server API route under each spec version prefix that names it."""
    return "/_matrix/client/{_version:(?:" + versions + ")}" + path


_VERSION_GROUP = re.compile(r"\{_version:\(\?:([^)]*)\)\}")


def static_version_routes(routes: Iterable[web.AbstractRouteDef]) -> list[web.AbstractRouteDef]:
    """Each ``client_path`` route once per version, with the version written out.

    aiohttp finds a request's candidate routes by the static part of their path before
    the first variable; with the version a variable, that is ``/_matrix/client`` for
    every client route, and each request was matched against all of them in turn.
    """
    out: list[web.AbstractRouteDef] = []
    for route in routes:
        match = _VERSION_GROUP.search(route.path) if isinstance(route, web.RouteDef) else None
        if match is None:
            out.append(route)
            continue
        for version in match[1].split("|"):
            path = route.path[:match.start()] + version + route.path[match.end():]
            out.append(web.RouteDef(route.method, path, route.handler, route.kwargs))
    return out
