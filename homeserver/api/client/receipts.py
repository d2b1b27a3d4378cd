"""Receipts and read markers (spec: client-server-api "Receipts", "Read and unread
markers")."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.client.rooms import room_id_param
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_str, json_body
from homeserver.api.responses import empty
from homeserver.errors import invalid_param
from homeserver.rooms import receipts
from homeserver.rooms.receipts import FULLY_READ, READ, READ_PRIVATE, Marker

routes = web.RouteTableDef()


@routes.post(client_path("/rooms/{roomId}/receipt/{receiptType}/{eventId}"))
async def post_receipt(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}"""
    requester = await require_user(request)
    room_id = room_id_param(request)
    # Older clients send no body at all.
    body = await json_body(request, allow_empty=True)
    thread_id = body.get("thread_id")
    if thread_id is not None and (not isinstance(thread_id, str) or not thread_id):
        raise invalid_param("thread_id field must be a non-empty string")
    marker = Marker(request.match_info["receiptType"], request.match_info["eventId"], thread_id)
    await receipts.set_markers(get_hs(request), requester.user_id, room_id, [marker])
    return empty()


@routes.post(client_path("/rooms/{roomId}/read_markers"))
async def post_read_markers(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/read_markers"""
    requester = await require_user(request)
    room_id = room_id_param(request)
    body = await json_body(request)
    markers = [
        Marker(marker_type, event_id)
        for marker_type in (FULLY_READ, READ, READ_PRIVATE)
        if (event_id := get_str(body, marker_type, None)) is not None
    ]
    await receipts.set_markers(get_hs(request), requester.user_id, room_id, markers)
    return empty()
