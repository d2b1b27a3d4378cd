"""Choosing, making and storing thumbnails (spec: client-server-api "Thumbnails").

The spec's recommended sizes are made once, at upload, from one decode of the image
(``pregenerate``). A request is answered from a stored thumbnail when one fits it
(images.choose_thumbnail: same method, at least as large, crop in the same aspect);
otherwise the exact size is made on demand, stored, and served (``dynamic_thumbnails``).
Decoding runs in a thread, at most two at a time, and never for images over
``max_image_pixels``: a thumbnail request for those is 413 M_TOO_LARGE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from homeserver.clock import Clock
from homeserver.config import MediaConfig
from homeserver.errors import MatrixError
from homeserver.media.images import (
    ImageError,
    Thumbnail,
    ThumbnailSize,
    choose_thumbnail,
    make_thumbnail,
    make_thumbnails,
    pregenerated_sizes,
)
from homeserver.media.store import MediaStore, put_bytes
from homeserver.locks import KeyedLock
from homeserver.storage import media as media_store
from homeserver.storage.db import Database
from homeserver.storage.media import Content, Media, StoredThumbnail

log = logging.getLogger(__name__)
T = TypeVar("T")

# Types that may hold several frames; for the others "animated" changes nothing (spec:
# "When true and the media cannot be animated ... behave as though animated is false").
ANIMATABLE = frozenset({"image/gif", "image/png", "image/webp"})
# Sizes made on demand are stored up to this many per media (beyond: made, served, not
# kept), so a client walking through every width cannot fill the disk.
MAX_STORED_THUMBNAILS = 32
_CONCURRENT_DECODES = 2


@dataclass(frozen=True, slots=True)
class ServedThumbnail:
    """A thumbnail to send: stored (``sha256``) or, past the per-media cap, in memory."""

    content_type: str
    size: int
    sha256: str | None = None
    data: bytes | None = None


def cannot_thumbnail() -> MatrixError:
    return MatrixError(400, "M_UNKNOWN", "Cannot generate thumbnails for the requested content")


@dataclass
class Thumbnailer:
    config: MediaConfig
    db: Database
    clock: Clock
    store: MediaStore
    _locks: KeyedLock = field(default_factory=KeyedLock)
    _decodes: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(_CONCURRENT_DECODES))

    async def pregenerate(self, origin: str, media_id: str, content: Content) -> None:
        """Make and store the recommended sizes worth having for a new image. A corrupt
        image just gets no thumbnails: the upload itself succeeded."""
        if not self.config.pregenerate_thumbnails or not self._can_decode(content):
            return
        assert content.width is not None and content.height is not None
        sizes = pregenerated_sizes(content.width, content.height)
        if not sizes:
            return
        try:
            source = await self._source(content.sha256)
            made = await self._in_thread(
                partial(make_thumbnails, source, sizes, max_pixels=self.config.max_image_pixels)
            )
        except ImageError as e:
            log.info("no thumbnails for %s/%s: %s", origin, media_id, e)
            return
        for size, thumbnail in zip(sizes, made, strict=True):
            await self._keep(origin, media_id, size, False, thumbnail)

    async def thumbnail(self, media: Media, wanted: ThumbnailSize, animated: bool) -> ServedThumbnail:
        if media.image_type is None or media.sha256 is None:
            raise cannot_thumbnail()
        if not self._can_decode(media):
            raise MatrixError(413, "M_TOO_LARGE", "Content is too large to thumbnail")
        animated = animated and media.image_type in ANIMATABLE
        stored = await media_store.get_thumbnails(self.db.pool, media.origin, media.media_id)
        found = _pick(stored, wanted, animated, exact_only=False)
        if found is None and not self.config.dynamic_thumbnails:
            found = _closest(stored, wanted, animated)
        if found is not None:
            return ServedThumbnail(found.content_type, found.size, sha256=found.sha256)
        key = f"{media.origin}/{media.media_id}/{wanted.width}x{wanted.height}/{wanted.method}/{animated}"
        async with self._locks.hold(key):  # one request makes it; the others wait and reuse it
            stored = await media_store.get_thumbnails(self.db.pool, media.origin, media.media_id)
            found = _pick(stored, wanted, animated, exact_only=True)
            if found is not None:
                return ServedThumbnail(found.content_type, found.size, sha256=found.sha256)
            try:
                source = await self._source(media.sha256)
                made = await self._in_thread(partial(
                    make_thumbnail, source, wanted, animated=animated, max_pixels=self.config.max_image_pixels
                ))
            except ImageError:
                raise cannot_thumbnail() from None
            if len(stored) >= MAX_STORED_THUMBNAILS:
                return ServedThumbnail(made.content_type, len(made.data), data=made.data)
            kept = await self._keep(media.origin, media.media_id, wanted, animated, made)
            return ServedThumbnail(kept.content_type, kept.size, sha256=kept.sha256)

    def _can_decode(self, image: Media | Content) -> bool:
        """A sniffed image whose header says it is within ``max_image_pixels``."""
        if image.image_type is None or image.width is None or image.height is None:
            return False
        return image.width * image.height <= self.config.max_image_pixels

    async def _source(self, sha256: str) -> Path | bytes:
        path = self.store.local_path(sha256)
        if path is not None:
            return path
        return b"".join([chunk async for chunk in self.store.read(sha256)])

    async def _in_thread(self, call: Callable[[], T]) -> T:
        async with self._decodes:
            return await asyncio.to_thread(call)

    async def _keep(self, origin: str, media_id: str, size: ThumbnailSize, animated: bool, made: Thumbnail
                    ) -> StoredThumbnail:
        blob = await put_bytes(self.store, made.data)
        row = StoredThumbnail(
            width=size.width, height=size.height, method=size.method, animated=animated,
            content_type=made.content_type, sha256=blob.sha256, size=blob.size,
            actual_width=made.width, actual_height=made.height,
        )
        await media_store.insert_thumbnail(self.db.pool, origin, media_id, row, self.clock.now_ms())
        return row


def _pick(stored: list[StoredThumbnail], wanted: ThumbnailSize, animated: bool, *, exact_only: bool
          ) -> StoredThumbnail | None:
    by_size = {ThumbnailSize(t.width, t.height, t.method): t for t in stored if t.animated == animated}
    if exact_only:
        return by_size.get(wanted)
    chosen = choose_thumbnail(list(by_size), wanted)
    return by_size[chosen] if chosen is not None else None


def _closest(stored: list[StoredThumbnail], wanted: ThumbnailSize, animated: bool) -> StoredThumbnail | None:
    """With on-demand thumbnails off: the largest stored one, the requested method first."""
    same = [t for t in stored if t.animated == animated] or [t for t in stored if not t.animated]
    if not same:
        return None
    return max(same, key=lambda t: (t.method == wanted.method, t.actual_width * t.actual_height))
