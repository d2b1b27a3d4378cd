"""Mutual rooms (spec: client-server-api "Mutual Rooms", mutual_rooms.yaml)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path
from homeserver.api.responses import json_response
from homeserver.errors import invalid_param, missing_param
from homeserver.events.ids import is_valid_user_id
from homeserver.rooms.mutual_rooms import mutual_rooms

routes = web.RouteTableDef()

# MSC2666's unstable path, still what some clients call.
UNSTABLE_PATH = "/_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms"


@routes.get(client_path("/mutual_rooms", "v1"))
@routes.get(UNSTABLE_PATH)
async def get_mutual_rooms(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/mutual_rooms"""
    requester = await require_user(request)
    user_id = request.query.get("user_id")
    if user_id is None:
        raise missing_param("user_id")
    if not is_valid_user_id(user_id):
        raise invalid_param("'user_id' is not a valid user ID")
    found = await mutual_rooms(get_hs(request), requester.user_id, user_id, request.query.get("from"))
    body: dict[str, Any] = {"joined": found.joined, "count": found.count}
    if found.next_batch is not None:
        body["next_batch"] = found.next_batch
    return json_response(body)
