"""Authenticated media (spec v1.11, authed-content-repo.yaml): download, thumbnail, config
and URL previews under /_matrix/client/v1/media, all needing an access token."""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.media.common import download, preview_url, thumbnail
from homeserver.api.responses import json_response

routes = web.RouteTableDef()

_MEDIA = "/_matrix/client/v1/media"


@routes.get(_MEDIA + "/download/{server_name}/{media_id}")
@routes.get(_MEDIA + "/download/{server_name}/{media_id}/{file_name:.*}")
async def get_download(request: web.Request) -> web.StreamResponse:
    """GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]"""
    await require_user(request)
    return await download(request, authenticated=True)


@routes.get(_MEDIA + "/thumbnail/{server_name}/{media_id}")
async def get_thumbnail(request: web.Request) -> web.StreamResponse:
    """GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}"""
    await require_user(request)
    return await thumbnail(request, authenticated=True)


@routes.get(_MEDIA + "/config")
async def get_config(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/media/config"""
    await require_user(request)
    return json_response({"m.upload.size": get_hs(request).config.media.max_upload_bytes})


@routes.get(_MEDIA + "/preview_url")
async def get_preview_url(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/media/preview_url"""
    return await preview_url(request)
