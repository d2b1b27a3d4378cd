"""The user directory (spec: client-server-api "User Directory")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_int, get_str, json_body
from homeserver.api.responses import json_response
from homeserver.errors import invalid_param
from homeserver.storage.directory import Match
from homeserver.users import directory

routes = web.RouteTableDef()

# Longer than any user ID (255 bytes) or display name (256 characters) could need.
MAX_SEARCH_TERM_LENGTH = 512


@routes.post(client_path("/user_directory/search"))
async def search(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/user_directory/search"""
    requester = await require_user(request)
    body = await json_body(request)
    term = get_str(body, "search_term", max_length=MAX_SEARCH_TERM_LENGTH)
    limit = get_int(body, "limit", directory.DEFAULT_LIMIT)
    if limit < 0:
        raise invalid_param("'limit' must not be negative")
    result = await directory.search(get_hs(request), requester.user_id, term, limit)
    return json_response({"results": [_user_json(m) for m in result.results], "limited": result.limited})


def _user_json(match: Match) -> dict[str, Any]:
    user: dict[str, Any] = {"user_id": match.user_id}
    if match.displayname is not None:
        user["display_name"] = match.displayname
    if match.avatar_url is not None:
        user["avatar_url"] = match.avatar_url
    return user
