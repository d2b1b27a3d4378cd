"""Media repository throughput and thumbnail cost, over HTTP against a real server process.

    python bench/bench_media.py [--database-url URL] [--runs 5] [--size-mb 10]

1. Upload: POST /_matrix/media/v3/upload of a --size-mb file (new random bytes each run,
   so every run writes, hashes and fsyncs); MB/s.
2. Download: GET /_matrix/client/v1/media/download of it, read in chunks; MB/s.
3. Thumbnails of a 4000x3000 JPEG: the upload with the five recommended sizes made at
   upload (pregeneration), against the same upload with pregeneration off; then one
   on-demand size (1280x960 scale, then 200x200 crop) on a fresh upload each run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw, ImageFilter

from bench._server import Server, running_server, server_rss_mb

CHEAP_HASH = {"auth": {"password_hash": {"time_cost": 1, "memory_cost_kib": 64, "parallelism": 1}}}
MB = 1_000_000
CHUNK = 256 * 1024


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i:i + CHUNK]


async def upload(server: Server, token: str, data: bytes, content_type: str) -> str:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    async with server.session.post(server.url + "/_matrix/media/v3/upload", data=_chunks(data),
                                   headers=headers) as resp:
        body = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"upload: {resp.status} {body}")
        return body["content_uri"].rsplit("/", 1)[1]


async def fetch(server: Server, token: str, path: str) -> int:
    size = 0
    async with server.session.get(server.url + path, headers={"Authorization": f"Bearer {token}"}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: {resp.status} {await resp.text()}")
        async for chunk in resp.content.iter_chunked(CHUNK):
            size += len(chunk)
    return size


def photo(width: int, height: int, seed: int) -> bytes:
    """A JPEG with the texture of a photo (smooth shapes, edges and grain), not a flat fill."""
    rng = random.Random(seed)
    im = Image.new("RGB", (width, height), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(im)
    for _ in range(120):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(50, 600)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    im = im.filter(ImageFilter.GaussianBlur(8))
    grain = Image.effect_noise((width, height), 24).convert("RGB")
    im = Image.blend(im, grain, 0.15)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def rate(label: str, size: int, seconds: list[float]) -> str:
    rates = [size / MB / s for s in seconds]
    return (f"{label}: {size / MB:.0f} MB x {len(seconds)}: median {statistics.median(rates):.0f} MB/s "
            f"(min {min(rates):.0f}, max {max(rates):.0f}); median {statistics.median(seconds) * 1000:.0f} ms")


def timing(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"{label}: n={len(ms)} median {statistics.median(ms):.0f} ms (min {ms[0]:.0f}, max {ms[-1]:.0f})"


async def throughput(server: Server, runs: int, size: int) -> None:
    token = await server.register("uploader")
    base = random.Random(1).randbytes(size)
    ups, downs = [], []
    media_ids = []
    for run in range(runs + 1):
        data = run.to_bytes(8, "big") + base[8:]
        started = time.perf_counter()
        media_ids.append(await upload(server, token, data, "application/octet-stream"))
        if run:  # the first run warms up
            ups.append(time.perf_counter() - started)
    for media_id in media_ids[1:]:
        started = time.perf_counter()
        assert await fetch(server, token, f"/_matrix/client/v1/media/download/bench.local/{media_id}") == size
        downs.append(time.perf_counter() - started)
    print(rate("upload", size, ups))
    print(rate("download", size, downs))
    print(f"server RSS after: {server_rss_mb(server):.0f} MB")


async def thumbnails(server: Server, runs: int, label: str) -> list[str]:
    token = await server.register("photographer")
    images = [photo(4000, 3000, seed) for seed in range(runs + 1)]
    print(f"{label}: 4000x3000 JPEG of {statistics.mean(len(i) for i in images) / MB:.1f} MB")
    took, media_ids = [], []
    for run, data in enumerate(images):
        started = time.perf_counter()
        media_ids.append(await upload(server, token, data, "image/jpeg"))
        if run:
            took.append(time.perf_counter() - started)
    print(timing(f"{label}: upload", took))
    for width, height, method in ((1280, 960, "scale"), (200, 200, "crop")):
        took = []
        for media_id in media_ids[1:]:
            started = time.perf_counter()
            await fetch(server, token, f"/_matrix/client/v1/media/thumbnail/bench.local/{media_id}"
                                       f"?width={width}&height={height}&method={method}")
            took.append(time.perf_counter() - started)
        print(timing(f"{label}: on-demand {width}x{height} {method}", took))
    return media_ids


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=10)
    args = parser.parse_args()
    media = {"max_upload_bytes": 200 * MB}
    async with running_server(args.database_url, {**CHEAP_HASH, "media": media}) as server:
        await throughput(server, args.runs, args.size_mb * MB)
        await thumbnails(server, args.runs, "pregenerated")
    async with running_server(args.database_url, {**CHEAP_HASH, "media": {**media,
                                                                           "pregenerate_thumbnails": False}}) as server:
        await thumbnails(server, args.runs, "no pregeneration")


if __name__ == "__main__":
    asyncio.run(main())
