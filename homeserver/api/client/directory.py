"""Room aliases and the published room directory (spec: client-server-api "Room
aliases", "Published room directory"; directory.yaml, list_public_rooms.yaml)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.auth import access_token, require_user
from homeserver.api.client.rooms import room_id_param
from homeserver.api.context import get_hs
from homeserver.api.params import (
    client_path, get_bool, get_dict, get_int, get_list, get_str, json_body, query_int,
)
from homeserver.api.responses import empty, json_response
from homeserver.errors import bad_json, invalid_param
from homeserver.events.ids import is_valid_server_name
from homeserver.rooms import aliases, public_rooms
from homeserver.rooms.public_rooms import DirectoryPage, DirectoryRequest

routes = web.RouteTableDef()


def _alias_param(request: web.Request) -> str:
    alias = request.match_info["roomAlias"]
    aliases.parse_alias(alias)
    return alias


@routes.get(client_path("/directory/room/{roomAlias}"))
async def get_room_alias(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/directory/room/{roomAlias}"""
    resolved = await aliases.lookup(get_hs(request), _alias_param(request))
    return json_response({"room_id": resolved.room_id, "servers": list(resolved.servers)})


@routes.put(client_path("/directory/room/{roomAlias}"))
async def put_room_alias(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/directory/room/{roomAlias}"""
    requester = await require_user(request)
    alias = _alias_param(request)
    body = await json_body(request)
    room_id = get_str(body, "room_id")
    if not room_id.startswith("!") or len(room_id.encode()) > 255:
        raise invalid_param("'room_id' is not a room ID")
    await aliases.set_alias(get_hs(request), requester, alias, room_id)
    return empty()


@routes.delete(client_path("/directory/room/{roomAlias}"))
async def delete_room_alias(request: web.Request) -> web.Response:
    """DELETE /_matrix/client/v3/directory/room/{roomAlias}"""
    requester = await require_user(request)
    await aliases.delete_alias(get_hs(request), requester, _alias_param(request))
    return empty()


@routes.get(client_path("/rooms/{roomId}/aliases"))
async def get_local_aliases(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/rooms/{roomId}/aliases"""
    requester = await require_user(request)
    found = await aliases.local_aliases(get_hs(request), requester, room_id_param(request))
    return json_response({"aliases": found})


@routes.get(client_path("/directory/list/room/{roomId}"))
async def get_room_visibility(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/directory/list/room/{roomId}"""
    visibility = await public_rooms.get_visibility(get_hs(request), room_id_param(request))
    return json_response({"visibility": visibility})


@routes.put(client_path("/directory/list/room/{roomId}"))
async def put_room_visibility(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/directory/list/room/{roomId}"""
    requester = await require_user(request)
    room_id = room_id_param(request)
    body = await json_body(request, allow_empty=True)
    visibility = get_str(body, "visibility", "public")
    if visibility not in ("public", "private"):
        raise bad_json("'visibility' must be public or private")
    await public_rooms.set_visibility(get_hs(request), requester, room_id, visibility)
    return empty()


def _server_param(request: web.Request) -> str | None:
    server = request.query.get("server")
    if server is not None and not is_valid_server_name(server):
        raise invalid_param("'server' is not a server name")
    return server


def _page_json(page: DirectoryPage) -> dict[str, Any]:
    body: dict[str, Any] = {"chunk": page.chunk, "total_room_count_estimate": page.total_room_count_estimate}
    if page.next_batch is not None:
        body["next_batch"] = page.next_batch
    if page.prev_batch is not None:
        body["prev_batch"] = page.prev_batch
    return body


@routes.get(client_path("/publicRooms"))
async def get_public_rooms(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/publicRooms (no access token needed; one given must be valid)"""
    if access_token(request) is not None:
        await require_user(request)
    page = await public_rooms.public_rooms(get_hs(request), DirectoryRequest(
        limit=query_int(request, "limit", public_rooms.DEFAULT_LIMIT, minimum=0),
        since=request.query.get("since"),
        server=_server_param(request),
    ))
    return json_response(_page_json(page))


def _room_types(search_filter: dict[str, Any]) -> tuple[str | None, ...] | None:
    room_types = get_list(search_filter, "room_types", None)
    if room_types is not None and not all(t is None or isinstance(t, str) for t in room_types):
        raise bad_json("'filter.room_types' must be an array of strings and nulls")
    return tuple(room_types) if room_types is not None else None


@routes.post(client_path("/publicRooms"))
async def post_public_rooms(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/publicRooms"""
    await require_user(request)
    body = await json_body(request, allow_empty=True)
    limit = get_int(body, "limit", None)
    if limit is not None and limit < 0:
        raise invalid_param("'limit' must not be negative")
    search_filter = get_dict(body, "filter", {})
    page = await public_rooms.public_rooms(get_hs(request), DirectoryRequest(
        limit=limit,
        since=get_str(body, "since", None),
        search_term=get_str(search_filter, "generic_search_term", None, max_length=1000),
        room_types=_room_types(search_filter),
        server=_server_param(request),
        include_all_networks=get_bool(body, "include_all_networks", False),
        third_party_instance_id=get_str(body, "third_party_instance_id", None),
    ))
    return json_response(_page_json(page))

