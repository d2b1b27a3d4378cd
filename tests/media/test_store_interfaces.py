"""The two seams left for later work, driven over HTTP: a RemoteMediaFetcher (federation
will provide the real one) and a MediaStore without local files (an S3-style store)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from homeserver.errors import not_found
from homeserver.media.remote import RemoteContent
from homeserver.media.store import FileMediaStore
from tests.conftest import StartServer
from tests.helpers import TestServer
from tests.media.helpers import (
    CLIENT_MEDIA,
    download,
    image_bytes,
    image_size,
    raw,
    upload_ok,
)


@dataclass
class OriginServer:
    """Stands in for another homeserver's /_matrix/federation/v1/media/download."""

    media: dict[str, tuple[bytes, str]]
    fetched: list[str] = field(default_factory=list)

    async def download(self, server_name: str, media_id: str, *, timeout_ms: int) -> RemoteContent:
        self.fetched.append(f"{server_name}/{media_id}")
        if media_id not in self.media:
            raise not_found("Unknown media")
        data, content_type = self.media[media_id]

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(data), 1000):
                yield data[i:i + 1000]

        return RemoteContent(content_type, f"{media_id}.bin", chunks())


async def test_remote_media_is_fetched_once_and_cached(start_server: StartServer) -> None:
    server = await start_server({"media": {"max_upload_bytes": 50_000}})
    png = image_bytes(400, 300)
    origin = OriginServer({"pic": (png, "image/png"), "big": (b"x" * 50_001, "application/zip")})
    server.hs.media.remote = origin
    alice = await server.register("alice")
    path = f"{CLIENT_MEDIA}/download/remote.example/pic"

    resp = await raw(server, "GET", path, params={"allow_remote": "false"}, token=alice.access_token)
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    assert origin.fetched == []
    for _ in range(2):
        resp = await raw(server, "GET", path, token=alice.access_token)
        assert (resp.status, resp.body) == (200, png)
        assert resp.headers["Content-Disposition"] == 'inline; filename="pic.bin"'
    assert origin.fetched == ["remote.example/pic"]
    resp = await raw(server, "GET", f"{CLIENT_MEDIA}/thumbnail/remote.example/pic?width=96&height=96&method=crop",
                     token=alice.access_token)
    assert image_size(resp.body) == (96, 96)
    # Cached now: allow_remote=false is served from the cache.
    resp = await raw(server, "GET", path, params={"allow_remote": "false"}, token=alice.access_token)
    assert resp.status == 200
    # Too large to proxy: 502 M_TOO_LARGE, nothing cached.
    resp = await raw(server, "GET", f"{CLIENT_MEDIA}/download/remote.example/big", token=alice.access_token)
    assert (resp.status, resp.errcode) == (502, "M_TOO_LARGE")
    cached = await server.hs.db.pool.fetch("SELECT media_id FROM media WHERE origin = 'remote.example'")
    assert [r["media_id"] for r in cached] == ["pic"]
    resp = await raw(server, "GET", f"{CLIENT_MEDIA}/download/remote.example/missing", token=alice.access_token)
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")


@dataclass(frozen=True)
class NoLocalFiles(FileMediaStore):
    """A store that, like an object store, can only stream its content."""

    def local_path(self, sha256: str) -> Path | None:
        return None


async def test_a_store_without_local_files_streams_downloads(server: TestServer) -> None:
    store = NoLocalFiles.open(Path(server.hs.config.data_dir) / "streamed")
    server.hs.media.store = server.hs.media.thumbnailer.store = store
    alice = await server.register("alice")
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
    media_id = await upload_ok(alice, data, "application/zip", "archive.zip")
    resp = await download(alice, server, media_id)
    assert (resp.status, resp.body) == (200, data)
    assert resp.headers["Content-Length"] == str(len(data))
    assert resp.headers["Content-Disposition"] == 'attachment; filename="archive.zip"'
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    resp = await raw(server, "HEAD", f"{CLIENT_MEDIA}/download/test.local/{media_id}", token=alice.access_token)
    assert (resp.status, resp.body) == (200, b"")
