"""matrix-nio uploads an image, sends it, and downloads it and a thumbnail back with the
default config (nio uploads through /_matrix/media/v3/upload and downloads through the
authenticated /_matrix/client/v1/media endpoints)."""

from __future__ import annotations

import io

from nio import (
    AsyncClient,
    AsyncClientConfig,
    MemoryDownloadResponse,
    RegisterResponse,
    ResizingMethod,
    RoomCreateResponse,
    RoomSendResponse,
    ThumbnailResponse,
    UploadResponse,
)
from PIL import Image

from tests.helpers import TestServer


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 220)).save(out, "PNG")
    return out.getvalue()


async def test_nio_uploads_and_downloads_an_image(server: TestServer) -> None:
    client = AsyncClient(server.url, "alice", config=AsyncClientConfig(store_sync_tokens=False,
                                                                       encryption_enabled=False))
    try:
        assert isinstance(await client.register("alice", "correct horse battery"), RegisterResponse)
        png = _png(640, 480)
        uploaded, _ = await client.upload(io.BytesIO(png), content_type="image/png", filename="sky.png",
                                          filesize=len(png))
        assert isinstance(uploaded, UploadResponse), uploaded
        assert uploaded.content_uri.startswith("mxc://test.local/")

        created = await client.room_create(name="photos")
        assert isinstance(created, RoomCreateResponse)
        sent = await client.room_send(created.room_id, "m.room.message", {
            "msgtype": "m.image", "body": "sky.png", "url": uploaded.content_uri,
            "info": {"mimetype": "image/png", "w": 640, "h": 480, "size": len(png)},
        })
        assert isinstance(sent, RoomSendResponse)

        got = await client.download(mxc=uploaded.content_uri)
        assert isinstance(got, MemoryDownloadResponse), got
        assert got.body == png
        assert got.content_type == "image/png"
        assert got.filename == "sky.png"

        media_id = uploaded.content_uri.rsplit("/", 1)[1]
        thumb = await client.thumbnail("test.local", media_id, 96, 96, ResizingMethod.crop)
        assert isinstance(thumb, ThumbnailResponse), thumb
        with Image.open(io.BytesIO(thumb.body)) as im:
            assert im.size == (96, 96)
    finally:
        await client.close()
