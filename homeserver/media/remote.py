"""Fetching media that another server holds (spec: server-server-api "Content Repository").

A client asks this server for ``mxc://other.server/id``; this server downloads it once
from ``GET https://other.server/_matrix/federation/v1/media/download/{mediaId}`` (an
X-Matrix signed request; a multipart/mixed answer of a JSON part and the bytes, or a
Location redirect), caches it, and serves it. Thumbnails of remote media are then made
here from the cached original, like local ones.

Until this server speaks federation, the fetcher answers 404 for every remote media ID.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from homeserver.errors import not_found


@dataclass(frozen=True, slots=True)
class RemoteContent:
    """What the origin server answered: the type and file name from its second part's
    headers, and the bytes as they arrive (the repository bounds and stores them)."""

    content_type: str | None
    upload_name: str | None
    chunks: AsyncIterator[bytes]


class RemoteMediaFetcher(Protocol):
    async def download(self, server_name: str, media_id: str, *, timeout_ms: int) -> RemoteContent:
        """The remote media, or a MatrixError: 404 M_NOT_FOUND when the origin does not
        have it, 502 when it cannot be reached or answers nonsense, 504 M_NOT_YET_UPLOADED
        when the origin says so."""
        ...


class NoFederation:
    """The fetcher while federation does not exist here: remote media is never found."""

    async def download(self, server_name: str, media_id: str, *, timeout_ms: int) -> RemoteContent:
        # TODO(federation): GET /_matrix/federation/v1/media/download/{mediaId} from
        # server_name (falling back to /_matrix/media/v3/download with allow_remote=false
        # on 404 M_UNRECOGNIZED), parse the multipart/mixed body, follow a Location part.
        raise not_found("Media from other servers is not available: this server does not federate yet")
