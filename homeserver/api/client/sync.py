"""/sync, filters and send-to-device (spec: client-server-api "Syncing", "Filtering",
"Send-to-Device messaging")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_dict, json_body, query_bool, query_int
from homeserver.api.responses import json_response
from homeserver.errors import MatrixError
from homeserver.sync.filter import create_filter, filter_for_sync, load_filter
from homeserver.sync.handler import SyncRequest, sync
from homeserver.sync.to_device import send_to_device
from homeserver.sync.tokens import SyncToken
from homeserver.identifiers import split_user_id

routes = web.RouteTableDef()


@routes.get(client_path("/sync"))
async def get_sync(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/sync"""
    hs = get_hs(request)
    requester = await require_user(request)
    since = request.query.get("since")
    set_presence = request.query.get("set_presence", "online")
    if set_presence not in ("online", "offline", "unavailable"):
        raise MatrixError(400, "M_INVALID_PARAM", "'set_presence' must be online, offline or unavailable")
    body = await sync(hs, SyncRequest(
        user_id=requester.user_id,
        device_id=requester.device_id,
        since=SyncToken.parse(since) if since else None,
        timeout_ms=query_int(request, "timeout", 0),
        full_state=query_bool(request, "full_state", False),
        filter=await filter_for_sync(hs, requester.user_id, request.query.get("filter")),
        set_presence=set_presence,
    ))
    return json_response(body)


def _own_user(request: web.Request, requester_id: str) -> str:
    user_id = request.match_info["userId"]
    split_user_id(user_id)
    if user_id != requester_id:
        raise MatrixError(403, "M_FORBIDDEN", "Filters belong to their user")
    return user_id


@routes.post(client_path("/user/{userId}/filter"))
async def post_filter(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/user/{userId}/filter"""
    requester = await require_user(request)
    user_id = _own_user(request, requester.user_id)
    filter_id = await create_filter(get_hs(request), user_id, await json_body(request))
    return json_response({"filter_id": filter_id})


@routes.get(client_path("/user/{userId}/filter/{filterId}"))
async def get_filter(request: web.Request) -> web.Response:
    """GET /_matrix/client/v3/user/{userId}/filter/{filterId}"""
    requester = await require_user(request)
    user_id = _own_user(request, requester.user_id)
    return json_response(await load_filter(get_hs(request), user_id, request.match_info["filterId"]))


@routes.put(client_path("/sendToDevice/{eventType}/{txnId}"))
async def put_send_to_device(request: web.Request) -> web.Response:
    """PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}"""
    requester = await require_user(request)
    body = await json_body(request)
    await send_to_device(get_hs(request), requester.user_id, requester.device_id,
                         request.match_info["eventType"], request.match_info["txnId"], get_dict(body, "messages"))
    return json_response({})
