"""JSON responses, encoded with orjson (canonicaljson is kept for signing and hashing)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def empty() -> web.Response:
    return json_response({})
