"""The media repository: uploads, asynchronous uploads, lookups for download, quarantine.

Spec: client-server-api "Content repository" (content-repo.yaml, authed-content-repo.yaml).
Uploads stream into the store, counted as they come: past ``max_upload_bytes`` the upload
stops with 413 M_TOO_LARGE and nothing is kept, neither file nor row. The bytes are
stored before the row that points at them is written, so a row never names missing content.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from homeserver.clock import Clock
from homeserver.config import SERVER_NAME, MediaConfig
from homeserver.errors import MatrixError, forbidden, limit_exceeded, not_found
from homeserver.media.images import ThumbnailSize
from homeserver.media.preview import UrlPreviewer
from homeserver.media.probe import probe_image
from homeserver.media.remote import RemoteMediaFetcher
from homeserver.media.safety import DEFAULT_CONTENT_TYPE
from homeserver.media.store import MediaStore, StoredBlob
from homeserver.media.thumbnails import ServedThumbnail, Thumbnailer
from homeserver.storage import media as media_store
from homeserver.storage.db import Database
from homeserver.storage.media import Content, Media

log = logging.getLogger(__name__)

# Spec: "Matrix Content (mxc://) URIs": only A-Za-z0-9, _ and - in a media ID.
MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_MXC_URI = re.compile(r"mxc://(?P<server_name>[^/]+)/(?P<media_id>[A-Za-z0-9_-]{1,255})")
# last_access_ts is rewritten at most this often per media: a download stays one read.
_ACCESS_RESOLUTION_MS = 10 * 60 * 1000
_POLL_START_S, _POLL_MAX_S = 0.05, 1.0


def new_media_id() -> str:
    """Random, URL-safe, unguessable: 144 bits in 24 characters."""
    return secrets.token_urlsafe(18)


def parse_mxc(uri: str) -> tuple[str, str] | None:
    """``mxc://server/id`` -> (server name, media ID), or None when malformed (spec: the
    server name must be a valid server name, the media ID only A-Za-z0-9_-)."""
    match = _MXC_URI.fullmatch(uri)
    if match is None or not SERVER_NAME.fullmatch(match["server_name"]):
        return None
    return match["server_name"], match["media_id"]


def too_large(limit: int, status: int = 413) -> MatrixError:
    return MatrixError(status, "M_TOO_LARGE", f"Content is larger than the limit of {limit} bytes")


@dataclass(frozen=True, slots=True)
class Upload:
    """An upload's body and what the request said about it (validated by the route)."""

    chunks: AsyncIterable[bytes]
    content_type: str
    upload_name: str | None
    declared_length: int | None = None


@dataclass
class MediaRepository:
    config: MediaConfig
    server_name: str
    db: Database
    clock: Clock
    store: MediaStore
    remote: RemoteMediaFetcher
    thumbnailer: Thumbnailer
    previews: UrlPreviewer

    @classmethod
    def build(
        cls, config: MediaConfig, server_name: str, db: Database, clock: Clock, store: MediaStore,
        remote: RemoteMediaFetcher,
    ) -> MediaRepository:
        return cls(config, server_name, db, clock, store, remote, Thumbnailer(config, db, clock, store),
                   UrlPreviewer.build(config.url_preview))

    def mxc(self, media_id: str) -> str:
        return f"mxc://{self.server_name}/{media_id}"

    async def expire_forever(self, interval_s: float = 600.0) -> None:
        """Drop reservations that expired unused, for uploaders who never came back (the
        ``media-expiry`` lease: one process at a time)."""
        while True:
            await self.expire_unused()
            await asyncio.sleep(interval_s)

    async def expire_unused(self) -> int:
        gone = await media_store.delete_all_expired_reservations(self.db.pool, self.clock.now_ms())
        if gone:
            log.info("deleted %d media reservations that expired unused", gone)
        return gone

    # --- uploading ----------------------------------------------------------------------

    async def upload(self, uploader: str, upload: Upload) -> str:
        """POST /_matrix/media/v3/upload: store the content under a new media ID."""
        content = await self._receive(upload)
        media_id = new_media_id()
        await media_store.insert_media(
            self.db.pool, self.server_name, media_id, uploader, content, self.clock.now_ms(), self._frozen,
        )
        await self.thumbnailer.pregenerate(self.server_name, media_id, content)
        return self.mxc(media_id)

    async def create(self, uploader: str) -> tuple[str, int]:
        """POST /_matrix/media/v1/create: reserve a media ID; (mxc URI, unused_expires_at).

        Spec: at most ``max_pending_uploads`` reserved, unexpired, not yet uploaded IDs per
        user, else 429 M_LIMIT_EXCEEDED (retry when the oldest expires).
        """
        now = self.clock.now_ms()
        await media_store.delete_expired_reservations(self.db.pool, uploader, now)
        pending = await media_store.pending_uploads(self.db.pool, uploader, now)
        if len(pending) >= self.config.max_pending_uploads:
            raise limit_exceeded(pending[0] - now)
        media_id = new_media_id()
        expires = now + self.config.unused_expires_after_ms
        await media_store.reserve_media(self.db.pool, self.server_name, media_id, uploader, now, expires, self._frozen)
        return self.mxc(media_id), expires

    async def upload_to(self, uploader: str, server_name: str, media_id: str, upload: Upload) -> None:
        """PUT /_matrix/media/v3/upload/{serverName}/{mediaId}: the content of a reserved ID.

        Checked before a byte is read: 404 unknown or expired, 403 someone else's, 409
        M_CANNOT_OVERWRITE_MEDIA already uploaded; and again when the row is written, in
        case it expired or another upload won meanwhile.
        """
        await self._check_reserved(uploader, server_name, media_id)
        content = await self._receive(upload)
        filled = await media_store.fill_reserved(
            self.db.pool, self.server_name, media_id, uploader, content, self.clock.now_ms(), self._frozen,
        )
        if not filled:
            await self._check_reserved(uploader, server_name, media_id)
            raise not_found("Unknown media ID")  # unreachable unless the row vanished
        await self.thumbnailer.pregenerate(self.server_name, media_id, content)

    async def _check_reserved(self, uploader: str, server_name: str, media_id: str) -> None:
        media = await media_store.get_media(self.db.pool, server_name, media_id)
        if media is None or media.origin != self.server_name or self._expired(media):
            raise not_found("Unknown media ID")
        if media.uploader != uploader:
            raise forbidden("Only the user who created this media ID may upload to it")
        if media.uploaded:
            raise MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded")

    async def _receive(self, upload: Upload) -> Content:
        limit = self.config.max_upload_bytes
        if upload.declared_length is not None and upload.declared_length > limit:
            raise too_large(limit)
        blob = await self.store.put(_bounded(upload.chunks, limit, too_large(limit)))
        return await self._describe(blob, upload.content_type, upload.upload_name)

    async def _describe(self, blob: StoredBlob, content_type: str, upload_name: str | None) -> Content:
        """The content's row: the declared type is kept for serving; the sniffed image type
        and size (read from the bytes) only decide thumbnailing."""
        path = self.store.local_path(blob.sha256)
        image = await asyncio.to_thread(probe_image, path) if path is not None else None
        return Content(
            blob.sha256, blob.size, content_type, upload_name,
            image.content_type if image else None, image.width if image else None, image.height if image else None,
        )

    @property
    def _frozen(self) -> bool:
        """Spec v1.11 "freeze": media arriving now is for the authenticated endpoints only."""
        return self.config.freeze_unauthenticated_media

    # --- finding media to serve ---------------------------------------------------------

    async def media(
        self, server_name: str, media_id: str, *, authenticated: bool, allow_remote: bool = True,
        timeout_ms: int = 20_000,
    ) -> Media:
        """The uploaded media to download or thumbnail; 404 M_NOT_FOUND if it is unknown,
        quarantined, or (on the unauthenticated endpoints) uploaded after the freeze.

        A reserved ID not uploaded yet is waited for, up to ``timeout_ms`` (capped by
        ``max_download_wait_ms``), then 504 M_NOT_YET_UPLOADED.
        """
        if server_name == self.server_name:
            media = await self._wait_uploaded(media_id, timeout_ms, authenticated)
        else:
            media = await self._remote(server_name, media_id, allow_remote, timeout_ms)
            if not _visible(media, authenticated):
                raise not_found("Unknown media ID")
        now = self.clock.now_ms()
        if media.last_access_ts is None or now - media.last_access_ts > _ACCESS_RESOLUTION_MS:
            await media_store.touch(self.db.pool, media.origin, media.media_id, now)
        return media

    async def thumbnail(self, media: Media, wanted: ThumbnailSize, animated: bool) -> ServedThumbnail:
        return await self.thumbnailer.thumbnail(media, wanted, animated)

    async def _wait_uploaded(self, media_id: str, timeout_ms: int, authenticated: bool) -> Media:
        deadline = time.monotonic() + min(timeout_ms, self.config.max_download_wait_ms) / 1000
        delay = _POLL_START_S
        while True:
            media = await media_store.get_media(self.db.pool, self.server_name, media_id)
            if media is None or not _visible(media, authenticated) or self._expired(media):
                raise not_found("Unknown media ID")
            if media.uploaded:
                return media
            left = deadline - time.monotonic()
            if left <= 0:
                raise MatrixError(504, "M_NOT_YET_UPLOADED", "Content has not yet been uploaded")
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, _POLL_MAX_S)

    def _expired(self, media: Media) -> bool:
        return not media.uploaded and (media.unused_expires_ts or 0) <= self.clock.now_ms()

    async def _remote(self, server_name: str, media_id: str, allow_remote: bool, timeout_ms: int) -> Media:
        """Remote media from the cache, else fetched from its server (remote.py) and cached."""
        media = await media_store.get_media(self.db.pool, server_name, media_id)
        if media is not None:
            return media
        if not allow_remote:
            raise not_found("Remote media not cached and allow_remote is false")
        fetched = await self.remote.download(server_name, media_id, timeout_ms=timeout_ms)
        limit = self.config.max_upload_bytes
        blob = await self.store.put(_bounded(fetched.chunks, limit, too_large(limit, status=502)))
        content = await self._describe(blob, fetched.content_type or DEFAULT_CONTENT_TYPE, fetched.upload_name)
        # Spec, the freeze: remote media counts as new from the time it is cached.
        await media_store.insert_media(
            self.db.pool, server_name, media_id, None, content, self.clock.now_ms(), self._frozen,
        )
        await self.thumbnailer.pregenerate(server_name, media_id, content)
        media = await media_store.get_media(self.db.pool, server_name, media_id)
        if media is None:
            raise not_found("Unknown media ID")
        return media

    # --- other handlers -----------------------------------------------------------------

    async def check_exists(self, uri: str) -> None:
        """For avatars: an mxc URI of this server must name media that exists (uploaded or
        reserved and unexpired) and is not quarantined; 404 M_NOT_FOUND otherwise. Other
        servers' media cannot be checked without federation and is accepted."""
        parsed = parse_mxc(uri)
        if parsed is None or parsed[0] != self.server_name:
            return
        media = await media_store.get_media(self.db.pool, self.server_name, parsed[1])
        if media is None or media.quarantined or self._expired(media):
            raise not_found(f"Unknown media: {uri}")

    async def set_quarantined(self, admin: str, server_name: str, media_id: str, quarantined: bool) -> None:
        """Quarantined media answers 404 everywhere until released; the file is kept."""
        if not await media_store.set_quarantined(self.db.pool, server_name, media_id, admin if quarantined else None):
            raise not_found("Unknown media ID")


def _visible(media: Media, authenticated: bool) -> bool:
    """Not quarantined, and not asked for on the unauthenticated endpoints after the freeze."""
    return not media.quarantined and (authenticated or not media.authenticated)


async def _bounded(chunks: AsyncIterable[bytes], limit: int, error: MatrixError) -> AsyncIterator[bytes]:
    """The stream, raising ``error`` as soon as it passes ``limit`` bytes."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise error
        yield chunk
