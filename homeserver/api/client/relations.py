"""Event relationships and threads (spec: client-server-api "Forming relationships
between events", "Threading"; OpenAPI relations.yaml and threads_list.yaml)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.client.rooms import room_id_param
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, query_bool, query_int
from homeserver.api.responses import json_response
from homeserver.errors import invalid_param
from homeserver.rooms import relations
from homeserver.rooms.relations import RelationsQuery

routes = web.RouteTableDef()

DEFAULT_LIMIT = 20


def _direction_backwards(request: web.Request) -> bool:
    direction = request.query.get("dir", "b")
    if direction not in ("b", "f"):
        raise invalid_param("'dir' must be b or f")
    return direction == "b"


async def _relations(request: web.Request, rel_type: str | None, event_type: str | None) -> web.Response:
    requester = await require_user(request)
    recurse = request.query.get("recurse")
    query = RelationsQuery(
        rel_type=rel_type,
        event_type=event_type,
        from_token=request.query.get("from"),
        to_token=request.query.get("to"),
        backwards=_direction_backwards(request),
        limit=query_int(request, "limit", DEFAULT_LIMIT, minimum=1),
        recurse=query_bool(request, "recurse", False),
    )
    page = await relations.relations(
        get_hs(request), requester.user_id, room_id_param(request), request.match_info["eventId"], query
    )
    body: dict[str, Any] = {"chunk": page.chunk}
    if page.next_batch is not None:
        body["next_batch"] = page.next_batch
    if page.prev_batch is not None:
        body["prev_batch"] = page.prev_batch
    if recurse is not None:  # spec: present exactly when the client sent recurse
        body["recursion_depth"] = page.recursion_depth
    return json_response(body)


@routes.get(client_path("/rooms/{roomId}/relations/{eventId}", "v1"))
async def get_relations(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}"""
    return await _relations(request, None, None)


@routes.get(client_path("/rooms/{roomId}/relations/{eventId}/{relType}", "v1"))
async def get_relations_with_rel_type(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}"""
    return await _relations(request, request.match_info["relType"], None)


@routes.get(client_path("/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", "v1"))
async def get_relations_with_rel_type_and_event_type(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}"""
    return await _relations(request, request.match_info["relType"], request.match_info["eventType"])


@routes.get(client_path("/rooms/{roomId}/threads", "v1"))
async def get_threads(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/rooms/{roomId}/threads"""
    requester = await require_user(request)
    include = request.query.get("include", "all")
    if include not in ("all", "participated"):
        raise invalid_param("'include' must be all or participated")
    page = await relations.threads(
        get_hs(request), requester.user_id, room_id_param(request),
        participated=include == "participated",
        from_token=request.query.get("from"),
        limit=query_int(request, "limit", DEFAULT_LIMIT, minimum=1),
    )
    body: dict[str, Any] = {"chunk": page.chunk}
    if page.next_batch is not None:
        body["next_batch"] = page.next_batch
    return json_response(body)
