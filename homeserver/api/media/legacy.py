"""The deprecated /_matrix/media/v3 endpoints (spec: content-repo.yaml).

Download and thumbnail need no access token. Spec v1.11 "freeze": with
``media.freeze_unauthenticated_media`` on, media uploaded (or remote media cached) since
is 404 M_NOT_FOUND here and only served by /_matrix/client/v1/media; media from before
the freeze stays reachable. Config and URL previews need a token, as they always did.
"""

from __future__ import annotations

from aiohttp import web

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.media.common import download, preview_url, thumbnail
from homeserver.api.responses import json_response

routes = web.RouteTableDef()

_MEDIA = "/_matrix/media/{_version:(?:r0|v3)}"


@routes.get(_MEDIA + "/download/{server_name}/{media_id}")
@routes.get(_MEDIA + "/download/{server_name}/{media_id}/{file_name:.*}")
async def get_download(request: web.Request) -> web.StreamResponse:
    """GET /_matrix/media/v3/download/{serverName}/{mediaId}[/{fileName}]"""
    return await download(request, authenticated=False)


@routes.get(_MEDIA + "/thumbnail/{server_name}/{media_id}")
async def get_thumbnail(request: web.Request) -> web.StreamResponse:
    """GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}"""
    return await thumbnail(request, authenticated=False)


@routes.get(_MEDIA + "/config")
async def get_config(request: web.Request) -> web.Response:
    """GET /_matrix/media/v3/config"""
    await require_user(request)
    return json_response({"m.upload.size": get_hs(request).config.media.max_upload_bytes})


@routes.get(_MEDIA + "/preview_url")
async def get_preview_url(request: web.Request) -> web.Response:
    """GET /_matrix/media/v3/preview_url"""
    return await preview_url(request)
