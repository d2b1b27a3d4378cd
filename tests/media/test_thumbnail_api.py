"""Thumbnails over HTTP (spec: client-server-api "Thumbnails"): sizes and methods, the
pre-generated set stored once, on-demand sizes, animation, bombs and bad parameters.
(The image code itself is tested in test_images.py.)"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import StartServer
from tests.helpers import TestServer
from tests.media.helpers import (
    download,
    image_bytes,
    image_size,
    raw,
    thumbnail,
    upload_ok,
)


async def thumbnail_rows(server: TestServer, media_id: str) -> list[tuple[int, int, str, bool]]:
    rows = await server.hs.db.pool.fetch(
        "SELECT width, height, method, animated FROM media_thumbnails WHERE media_id = $1"
        " ORDER BY width, height, method", media_id)
    return [(r["width"], r["height"], r["method"], r["animated"]) for r in rows]


def content_files(server: TestServer) -> int:
    root = Path(server.hs.config.data_dir) / "media" / "content"
    return sum(1 for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("width, height, method, expected", [
    (32, 32, "crop", (32, 32)),
    (96, 96, "crop", (96, 96)),
    (320, 240, "scale", (320, 160)),
    (800, 600, "scale", (800, 400)),
    (50, 50, "scale", (320, 160)),      # the smallest stored one at least as large
    (150, 150, "crop", (150, 150)),     # made on demand: crop keeps the requested aspect
    (300, 100, "crop", (300, 100)),
    (500, 500, "scale", (800, 400)),    # the stored 800x600 box holds it
    (700, 700, "scale", (700, 350)),    # none does: made on demand
    (4000, 3000, "scale", (1000, 500)),  # never upscaled
    (2000, 2000, "crop", (500, 500)),    # the largest centred square, not upscaled
])
async def test_sizes_and_methods(server: TestServer, width: int, height: int, method: str,
                                 expected: tuple[int, int]) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, image_bytes(1000, 500, "JPEG"), "image/jpeg")
    resp = await thumbnail(alice, server, media_id, width, height, method)
    assert resp.status == 200, resp.body
    assert image_size(resp.body) == expected
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["Content-Disposition"] == 'inline; filename="thumbnail.jpg"'
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"].startswith("sandbox;")


async def test_recommended_sizes_are_made_once_at_upload(server: TestServer) -> None:
    alice = await server.register("alice")
    png = image_bytes(1000, 500, "PNG")
    media_id = await upload_ok(alice, png, "image/png")
    recommended = [(32, 32, "crop", False), (96, 96, "crop", False), (320, 240, "scale", False),
                   (640, 480, "scale", False), (800, 600, "scale", False)]
    assert await thumbnail_rows(server, media_id) == recommended
    files = content_files(server)
    assert files == 6, "the original and five thumbnails"
    for _ in range(2):
        resp = await thumbnail(alice, server, media_id, 96, 96, "crop")
        assert (resp.status, resp.headers["Content-Type"]) == (200, "image/png")
    assert await thumbnail_rows(server, media_id) == recommended, "served from the stored ones"
    # The same image uploaded again: its thumbnails are the same bytes, stored once.
    again = await upload_ok(alice, png, "image/png")
    assert len(await thumbnail_rows(server, again)) == 5
    assert content_files(server) == files
    # An on-demand size is stored once too.
    for _ in range(2):
        assert image_size((await thumbnail(alice, server, media_id, 200, 200, "crop")).body) == (200, 200)
    assert (200, 200, "crop", False) in await thumbnail_rows(server, media_id)
    assert len(await thumbnail_rows(server, media_id)) == 6


async def test_small_image_gets_only_the_sizes_that_shrink_it(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, image_bytes(100, 100), "image/png")
    assert await thumbnail_rows(server, media_id) == [(32, 32, "crop", False), (96, 96, "crop", False)]
    resp = await thumbnail(alice, server, media_id, 640, 480, "scale")
    assert image_size(resp.body) == (100, 100)


def animated_gif(frames: int = 3, size: tuple[int, int] = (200, 120)) -> bytes:
    images = [Image.new("RGB", size, (60 * i, 255 - 60 * i, 0)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def frame_count(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as im:
        return getattr(im, "n_frames", 1)


async def test_animated_thumbnails_only_when_asked(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, animated_gif(), "image/gif")
    resp = await thumbnail(alice, server, media_id, 96, 96, "crop", animated="true")
    assert resp.status == 200
    assert resp.headers["Content-Type"] in ("image/webp", "image/gif")
    assert frame_count(resp.body) == 3 and image_size(resp.body) == (96, 96)
    for extra in ({"animated": "false"}, {}):
        resp = await thumbnail(alice, server, media_id, 96, 96, "crop", **extra)
        assert resp.headers["Content-Type"] == "image/png"
        assert frame_count(resp.body) == 1
    assert (96, 96, "crop", True) in await thumbnail_rows(server, media_id)
    # A JPEG cannot animate: animated=true behaves as false and reuses the static thumbnail.
    jpeg = await upload_ok(alice, image_bytes(400, 400, "JPEG"), "image/jpeg")
    resp = await thumbnail(alice, server, jpeg, 96, 96, "crop", animated="true")
    assert (resp.status, resp.headers["Content-Type"]) == (200, "image/jpeg")
    assert all(not animated for *_, animated in await thumbnail_rows(server, jpeg))


@pytest.mark.parametrize("data, content_type", [
    (b"just some text", "text/plain"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "image/svg+xml"),
    (b"<html><script>alert(1)</script></html>", "image/png"),  # the claim is not trusted
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image/png"),          # a PNG signature, then garbage
])
async def test_content_that_is_not_an_image_gets_400(server: TestServer, data: bytes, content_type: str) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, data, content_type)
    resp = await thumbnail(alice, server, media_id, 32, 32, "crop")
    assert (resp.status, resp.errcode) == (400, "M_UNKNOWN")
    assert await thumbnail_rows(server, media_id) == []


async def test_a_real_image_labelled_otherwise_is_thumbnailed(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, image_bytes(300, 300, "PNG"), "application/octet-stream")
    resp = await thumbnail(alice, server, media_id, 96, 96, "crop")
    assert (resp.status, resp.headers["Content-Type"]) == (200, "image/png")
    # The download itself stays what was uploaded: an attachment of the declared type.
    got = await download(alice, server, media_id)
    assert got.headers["Content-Disposition"] == "attachment"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
async def test_decompression_bomb_is_refused(server: TestServer) -> None:
    alice = await server.register("alice")
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, "PNG")  # 144 megapixels in a few kilobytes
    assert len(bomb.getvalue()) < 100_000
    media_id = await upload_ok(alice, bomb.getvalue(), "image/png")
    assert await thumbnail_rows(server, media_id) == [], "never decoded at upload"
    resp = await thumbnail(alice, server, media_id, 32, 32, "crop")
    assert (resp.status, resp.errcode) == (413, "M_TOO_LARGE")


async def test_pixel_limit_is_configurable(start_server: StartServer) -> None:
    server = await start_server({"media": {"max_image_pixels": 10_000}})
    alice = await server.register("alice")
    media_id = await upload_ok(alice, image_bytes(200, 200), "image/png")
    resp = await thumbnail(alice, server, media_id, 32, 32, "crop")
    assert (resp.status, resp.errcode) == (413, "M_TOO_LARGE")
    small = await upload_ok(alice, image_bytes(100, 100), "image/png")
    assert (await thumbnail(alice, server, small, 32, 32, "crop")).status == 200


async def test_without_dynamic_thumbnails_the_closest_stored_one_is_served(start_server: StartServer) -> None:
    server = await start_server({"media": {"dynamic_thumbnails": False}})
    alice = await server.register("alice")
    media_id = await upload_ok(alice, image_bytes(1000, 500), "image/png")
    assert image_size((await thumbnail(alice, server, media_id, 200, 200, "crop")).body) == (96, 96)
    assert image_size((await thumbnail(alice, server, media_id, 900, 900, "scale")).body) == (800, 400)
    assert len(await thumbnail_rows(server, media_id)) == 5


async def test_without_pregeneration_sizes_are_made_on_demand(start_server: StartServer) -> None:
    server = await start_server({"media": {"pregenerate_thumbnails": False}})
    alice = await server.register("alice")
    media_id = await upload_ok(alice, image_bytes(1000, 500), "image/png")
    assert await thumbnail_rows(server, media_id) == []
    assert image_size((await thumbnail(alice, server, media_id, 96, 96, "crop")).body) == (96, 96)
    assert await thumbnail_rows(server, media_id) == [(96, 96, "crop", False)]


@pytest.mark.parametrize("query, errcode", [
    ("height=32&method=crop", "M_MISSING_PARAM"),
    ("width=32", "M_MISSING_PARAM"),
    ("width=abc&height=32", "M_INVALID_PARAM"),
    ("width=32.5&height=32", "M_INVALID_PARAM"),
    ("width=0&height=32", "M_INVALID_PARAM"),
    ("width=-5&height=32", "M_INVALID_PARAM"),
    ("width=32&height=99999999999999999999", "M_INVALID_PARAM"),
    ("width=32&height=32&method=stretch", "M_INVALID_PARAM"),
    ("width=32&height=32&animated=yes", "M_INVALID_PARAM"),
    ("width=32&height=32&timeout_ms=-1", "M_INVALID_PARAM"),
])
async def test_bad_thumbnail_parameters_are_400(server: TestServer, query: str, errcode: str) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, image_bytes(100, 100), "image/png")
    for prefix in ("/_matrix/client/v1/media", "/_matrix/media/v3"):
        resp = await raw(server, "GET", f"{prefix}/thumbnail/test.local/{media_id}?{query}", token=alice.access_token)
        assert (resp.status, resp.errcode) == (400, errcode)


async def test_thumbnail_of_unknown_media_is_404(server: TestServer) -> None:
    alice = await server.register("alice")
    resp = await thumbnail(alice, server, "nothingHere", 32, 32)
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
