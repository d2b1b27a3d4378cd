"""This server's media for other servers (spec: server-server-api "Content Repository",
content_repository.yaml): the bytes as multipart/mixed, a JSON part then the content.

Only media that originates here is served: a server fetches media from its origin.
"""

from __future__ import annotations

from aiohttp import MultipartWriter, payload, web

from homeserver.api.context import get_hs
from homeserver.api.media.common import media_id_param, thumbnail_request, timeout_ms
from homeserver.errors import MatrixError
from homeserver.media.safety import content_disposition
from homeserver.media.store import MediaStore
from homeserver.media.thumbnails import ServedThumbnail

routes = web.RouteTableDef()

_MEDIA = "/_matrix/federation/v1/media"


def _require_server(request: web.Request) -> None:
    """Spec: these endpoints need an X-Matrix signed request."""
    scheme, _, params = request.headers.get("Authorization", "").partition(" ")
    if scheme != "X-Matrix" or "origin=" not in params or "sig=" not in params:
        raise MatrixError(401, "M_UNAUTHORIZED", "Missing X-Matrix authorization")
    # TODO(federation): verify the X-Matrix signature against the origin's published keys
    # (server-server-api "Request Authentication"). Until then the header is only required
    # to be present, which keeps browsers (and hotlinks) from reading frozen media here.


@routes.get(_MEDIA + "/download/{media_id}")
async def get_download(request: web.Request) -> web.Response:
    """GET /_matrix/federation/v1/media/download/{mediaId}"""
    _require_server(request)
    hs = get_hs(request)
    media = await hs.media.media(
        hs.server_name, media_id_param(request), authenticated=True, allow_remote=False,
        timeout_ms=timeout_ms(request),
    )
    assert media.sha256 is not None and media.content_type is not None
    return _multipart(hs.media.store, media.sha256, media.content_type,
                      content_disposition(media.content_type, media.upload_name))


@routes.get(_MEDIA + "/thumbnail/{media_id}")
async def get_thumbnail(request: web.Request) -> web.Response:
    """GET /_matrix/federation/v1/media/thumbnail/{mediaId}"""
    _require_server(request)
    hs = get_hs(request)
    media_id = media_id_param(request)
    wanted, animated = thumbnail_request(request)
    media = await hs.media.media(
        hs.server_name, media_id, authenticated=True, allow_remote=False, timeout_ms=timeout_ms(request),
    )
    thumbnail: ServedThumbnail = await hs.media.thumbnail(media, wanted, animated)
    if thumbnail.data is not None:
        return _multipart_bytes(thumbnail.data, thumbnail.content_type)
    assert thumbnail.sha256 is not None
    return _multipart(hs.media.store, thumbnail.sha256, thumbnail.content_type, "inline")


def _multipart(store: MediaStore, sha256: str, content_type: str, disposition: str) -> web.Response:
    path = store.local_path(sha256)
    if path is None:  # a store without local files: TODO(federation) a Location part instead
        raise MatrixError(502, "M_UNKNOWN", "This media store cannot serve federation downloads")
    part = payload.BufferedReaderPayload(
        path.open("rb"), content_type=content_type, headers={"Content-Disposition": disposition}
    )
    return _response(part)


def _multipart_bytes(data: bytes, content_type: str) -> web.Response:
    return _response(payload.BytesPayload(data, content_type=content_type,
                                          headers={"Content-Disposition": "inline"}))


def _response(content: payload.Payload) -> web.Response:
    writer = MultipartWriter("mixed")
    writer.append_payload(payload.JsonPayload({}))
    writer.append_payload(content)
    return web.Response(body=writer)

