"""Spaces and room upgrades (spec: client-server-api "Spaces", "Room Upgrades")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.client.rooms import room_id_param
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_str, get_str_list, json_body, query_bool, query_int
from homeserver.api.responses import json_response
from homeserver.identifiers import split_user_id
from homeserver.rooms import hierarchy, upgrade

routes = web.RouteTableDef()


@routes.get(client_path("/rooms/{roomId}/hierarchy", "v1"))
async def get_hierarchy(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/rooms/{roomId}/hierarchy"""
    requester = await require_user(request)
    body = await hierarchy.hierarchy(get_hs(request), requester.user_id, hierarchy.Request(
        room_id=room_id_param(request),
        suggested_only=query_bool(request, "suggested_only", False),
        max_depth=query_int(request, "max_depth", hierarchy.DEFAULT_MAX_DEPTH, minimum=0) if "max_depth" in request.query else None,
        limit=query_int(request, "limit", hierarchy.DEFAULT_LIMIT, minimum=1) if "limit" in request.query else None,
        from_token=request.query.get("from"),
    ))
    return json_response(body)


@routes.post(client_path("/rooms/{roomId}/upgrade"))
async def post_upgrade(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/upgrade"""
    requester = await require_user(request)
    body = await json_body(request)
    new_version = get_str(body, "new_version")
    additional_creators = get_str_list(body, "additional_creators", [])
    for user_id in additional_creators:
        split_user_id(user_id)
    replacement = await upgrade.upgrade_room(
        get_hs(request), requester.user_id, room_id_param(request), new_version, tuple(additional_creators))
    return json_response({"replacement_room": replacement})
