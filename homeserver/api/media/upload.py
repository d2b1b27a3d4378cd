"""Uploading (spec: content-repo.yaml): POST /upload, and the asynchronous pair POST
/create then PUT /upload/{serverName}/{mediaId}. Both upload paths stay under
/_matrix/media: the spec has not moved them to /_matrix/client yet."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.media.common import media_ref, upload_from
from homeserver.api.responses import empty, json_response

routes = web.RouteTableDef()

_MEDIA = "/_matrix/media/{_version:(?:r0|v3)}"


@routes.post(_MEDIA + "/upload")
async def post_upload(request: web.Request) -> web.Response:
    """POST /_matrix/media/v3/upload"""
    requester = await require_user(request)
    hs = get_hs(request)
    await hs.ratelimiter.check("media_upload", requester.user_id, hs.config.rate_limits.media_upload)
    content_uri = await hs.media.upload(requester.user_id, upload_from(request))
    return json_response({"content_uri": content_uri})


@routes.post("/_matrix/media/v1/create")
async def post_create(request: web.Request) -> web.Response:
    """POST /_matrix/media/v1/create"""
    requester = await require_user(request)
    hs = get_hs(request)
    await hs.ratelimiter.check("media_upload", requester.user_id, hs.config.rate_limits.media_upload)
    content_uri, expires = await hs.media.create(requester.user_id)
    return json_response({"content_uri": content_uri, "unused_expires_at": expires})


@routes.put(_MEDIA + "/upload/{server_name}/{media_id}")
async def put_upload(request: web.Request) -> web.Response:
    """PUT /_matrix/media/v3/upload/{serverName}/{mediaId}"""
    requester = await require_user(request)
    server_name, media_id = media_ref(request)
    await get_hs(request).media.upload_to(requester.user_id, server_name, media_id, upload_from(request))
    return empty()
