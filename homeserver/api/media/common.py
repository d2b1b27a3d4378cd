"""What every media route shares: path and query parsing, and the download responses.

Every response carrying uploaded bytes gets the spec's Content-Security-Policy,
``X-Content-Type-Options: nosniff``, ``Cross-Origin-Resource-Policy: cross-origin`` and a
Content-Disposition computed from the type (homeserver/media/safety.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from homeserver.api.auth import require_user
from homeserver.api.context import get_hs
from homeserver.api.params import body_timed_out, body_timeout_s, query_bool, query_int
from homeserver.api.responses import json_response
from homeserver.config import SERVER_NAME
from homeserver.errors import MatrixError, invalid_param, missing_param
from homeserver.media.images import ThumbnailSize
from homeserver.media.repository import MEDIA_ID, Upload
from homeserver.media.safety import (
    SECURITY_HEADERS,
    content_disposition,
    normalise_content_type,
)
from homeserver.media.store import MediaStore
from homeserver.media.thumbnails import ServedThumbnail
from homeserver.storage.media import Media

# Media never changes under its ID. Authenticated answers must not sit in shared caches.
CACHE_PRIVATE = "private, max-age=86400, immutable"
CACHE_PUBLIC = "public, max-age=86400, s-maxage=86400, immutable"
MAX_FILENAME_LENGTH = 1024
MAX_THUMBNAIL_DIMENSION = 65_535
_DEFAULT_TIMEOUT_MS = 20_000
_THUMBNAIL_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}


def media_ref(request: web.Request) -> tuple[str, str]:
    """(serverName, mediaId) from the path; 400 M_INVALID_PARAM unless both are well-formed
    (spec: "Security considerations": a valid server name, a media ID of A-Za-z0-9_-)."""
    server_name = request.match_info["server_name"]
    if not SERVER_NAME.fullmatch(server_name):
        raise invalid_param("Not a valid server name")
    return server_name, media_id_param(request)


def media_id_param(request: web.Request) -> str:
    media_id = request.match_info["media_id"]
    if not MEDIA_ID.fullmatch(media_id):
        raise invalid_param("A media ID may only contain A-Z, a-z, 0-9, _ and -")
    return media_id


def timeout_ms(request: web.Request) -> int:
    return query_int(request, "timeout_ms", _DEFAULT_TIMEOUT_MS)


def upload_from(request: web.Request) -> Upload:
    """The upload streamed from the request body: the app's 1 MiB body limit applies only
    to request.read(), never to this stream, which the repository bounds itself."""
    content_type = normalise_content_type(request.headers.get("Content-Type"))
    if content_type is None:
        raise invalid_param("Malformed Content-Type header")
    filename = request.query.get("filename") or None
    if filename is not None and (len(filename) > MAX_FILENAME_LENGTH or "\x00" in filename):
        raise invalid_param(f"'filename' must be at most {MAX_FILENAME_LENGTH} characters, without NUL")
    return Upload(_body(request), content_type, filename, request.content_length)


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    """The request body as it arrives (decompressed, if sent with Content-Encoding)."""
    chunks = request.content.iter_any().__aiter__()
    try:
        while True:
            try:
                async with asyncio.timeout(body_timeout_s(request)):  # a pause, not the whole upload
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise body_timed_out() from None
            yield chunk
    except (ConnectionError, HttpProcessingError):
        # The client went away or broke the framing; the store has discarded what came.
        raise MatrixError(400, "M_UNKNOWN", "The upload was interrupted") from None


def thumbnail_request(request: web.Request) -> tuple[ThumbnailSize, bool]:
    """width, height (required, positive), method (crop or scale; default scale), animated."""
    dimensions = []
    for name in ("width", "height"):
        if name not in request.query:
            raise missing_param(name)
        dimensions.append(query_int(request, name, 0, minimum=1, maximum=MAX_THUMBNAIL_DIMENSION))
    method = request.query.get("method", "scale")
    if method not in ("crop", "scale"):
        raise invalid_param("'method' must be crop or scale")
    return ThumbnailSize(dimensions[0], dimensions[1], method), query_bool(request, "animated", False)


def file_name_param(request: web.Request) -> str | None:
    """The optional trailing {fileName}; an empty one (a trailing slash) means none."""
    return request.match_info.get("file_name") or None


async def download(request: web.Request, *, authenticated: bool) -> web.StreamResponse:
    """A download on either path: the v1 client one (``authenticated``, privately
    cacheable) or the legacy one (subject to the freeze, publicly cacheable)."""
    hs = get_hs(request)
    media = await _requested_media(request, authenticated)
    cache = CACHE_PRIVATE if authenticated else CACHE_PUBLIC
    return download_response(hs.media.store, media, file_name_param(request), cache)


async def thumbnail(request: web.Request, *, authenticated: bool) -> web.StreamResponse:
    """A thumbnail on either path (see ``download``)."""
    hs = get_hs(request)
    wanted, animated = thumbnail_request(request)
    media = await _requested_media(request, authenticated)
    served = await hs.media.thumbnail(media, wanted, animated)
    return thumbnail_response(hs.media.store, served, CACHE_PRIVATE if authenticated else CACHE_PUBLIC)


async def _requested_media(request: web.Request, authenticated: bool) -> Media:
    server_name, media_id = media_ref(request)
    return await get_hs(request).media.media(
        server_name, media_id, authenticated=authenticated, timeout_ms=timeout_ms(request),
        allow_remote=query_bool(request, "allow_remote", True),
    )


def download_response(store: MediaStore, media: Media, filename: str | None, cache: str) -> web.StreamResponse:
    """The uploaded bytes, as uploaded, with the file name from the URL or the upload."""
    assert media.sha256 is not None and media.content_type is not None and media.size is not None
    name = filename if filename is not None else media.upload_name
    headers = {
        "Content-Type": media.content_type,
        "Content-Disposition": content_disposition(media.content_type, name),
        "Cache-Control": cache,
        **SECURITY_HEADERS,
    }
    return _stored(store, media.sha256, media.size, headers)


def thumbnail_response(store: MediaStore, thumbnail: ServedThumbnail, cache: str) -> web.StreamResponse:
    """Spec v1.12: a thumbnail is always ``inline`` and SHOULD carry a file name."""
    extension = _THUMBNAIL_EXTENSIONS.get(thumbnail.content_type, "bin")
    headers = {
        "Content-Type": thumbnail.content_type,
        "Content-Disposition": f'inline; filename="thumbnail.{extension}"',
        "Cache-Control": cache,
        **SECURITY_HEADERS,
    }
    if thumbnail.data is not None:
        return web.Response(body=thumbnail.data, headers=headers)
    assert thumbnail.sha256 is not None
    return _stored(store, thumbnail.sha256, thumbnail.size, headers)


def _stored(store: MediaStore, sha256: str, size: int, headers: dict[str, str]) -> web.StreamResponse:
    path = store.local_path(sha256)
    if path is not None:
        return web.FileResponse(path, headers=headers)  # sendfile, Range and conditional requests
    return _Streamed(store, sha256, size, headers)


class _Streamed(web.StreamResponse):
    """Content from a store without local files, sent in chunks as it is read."""

    def __init__(self, store: MediaStore, sha256: str, size: int, headers: dict[str, str]) -> None:
        super().__init__(headers=headers)
        self.content_length = size
        self._store = store
        self._sha256 = sha256

    async def prepare(self, request: web.BaseRequest):  # type: ignore[no-untyped-def]
        writer = await super().prepare(request)
        if request.method != "HEAD":
            async for chunk in self._store.read(self._sha256):
                await self.write(chunk)
            await self.write_eof()
        return writer


async def preview_url(request: web.Request) -> web.Response:
    """GET .../preview_url: off unless configured (404 M_UNRECOGNIZED, as if absent)."""
    requester = await require_user(request)
    hs = get_hs(request)
    query_int(request, "ts", 0)  # validated; the page is always fetched as it is now
    if hs.config.media.url_preview.enabled:
        await hs.ratelimiter.check("url_preview", requester.user_id, hs.config.rate_limits.media_upload)
    return json_response(await hs.media.previews.preview(request.query.get("url"), hs.clock.now_ms()))
