"""Client methods: the content repository (uploads, authenticated downloads, thumbnails)."""

from __future__ import annotations

from clientapi.api import media
from clientapi.core import ClientCore
from clientapi.responses import Media, parse_content_uri


class MediaAPI(ClientCore):
    async def upload(self, data: bytes, content_type: str = "application/octet-stream",
                     filename: str | None = None) -> str:
        """Store ``data`` on the server; returns its ``mxc://`` URI."""
        request = media.upload(data, content_type, filename)
        return parse_content_uri(await self.request(request), request.describe())

    async def download(self, mxc: str) -> Media:
        """The bytes behind an ``mxc://`` URI (``/_matrix/client/v1/media``, spec v1.11)."""
        result: Media = await self.request(media.download(mxc))
        return result

    async def thumbnail(self, mxc: str, width: int, height: int, method: str = "scale") -> Media:
        result: Media = await self.request(media.thumbnail(mxc, width, height, method))
        return result
