"""Reporting content (spec: client-server-api "Reporting content", report_content.yaml)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.client.rooms import room_id_param
from homeserver.api.context import get_hs
from homeserver.api.params import client_path, get_int, get_str, json_body
from homeserver.api.responses import empty
from homeserver.errors import invalid_param
from homeserver.events.ids import is_valid_user_id
from homeserver.rooms import reports

routes = web.RouteTableDef()


def _reason(body: dict[str, Any], required: bool) -> Any:
    if required:
        return get_str(body, "reason", max_length=reports.MAX_REASON_LENGTH)
    return get_str(body, "reason", None, max_length=reports.MAX_REASON_LENGTH)


@routes.post(client_path("/rooms/{roomId}/report/{eventId}"))
async def post_report_event(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}"""
    requester = await require_user(request)
    room_id = room_id_param(request)
    event_id = request.match_info["eventId"]
    if not event_id.startswith("$") or len(event_id.encode()) > 255:
        raise invalid_param("Invalid event ID")
    body = await json_body(request, allow_empty=True)
    reason = _reason(body, required=False)
    score = get_int(body, "score", None)
    if score is not None and not reports.MIN_SCORE <= score <= reports.MAX_SCORE:
        raise invalid_param(f"'score' must be between {reports.MIN_SCORE} and {reports.MAX_SCORE}")
    await reports.report_event(get_hs(request), requester.user_id, room_id, event_id, reason, score)
    return empty()


@routes.post(client_path("/rooms/{roomId}/report", "v3"))
async def post_report_room(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/rooms/{roomId}/report"""
    requester = await require_user(request)
    room_id = room_id_param(request)
    body = await json_body(request)
    await reports.report_room(get_hs(request), requester.user_id, room_id, _reason(body, required=True))
    return empty()


@routes.post(client_path("/users/{userId}/report", "v3"))
async def post_report_user(request: web.Request) -> web.Response:
    """POST /_matrix/client/v3/users/{userId}/report"""
    requester = await require_user(request)
    user_id = request.match_info["userId"]
    if not is_valid_user_id(user_id):
        raise invalid_param("Invalid user ID")
    body = await json_body(request)
    await reports.report_user(get_hs(request), requester.user_id, user_id, _reason(body, required=True))
    return empty()
