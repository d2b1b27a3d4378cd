"""Uploads and downloads over real HTTP: byte-exact round trips, streaming without holding
a file in memory, storage once per content, the size limit, and bad input."""

from __future__ import annotations

import asyncio
import hashlib
import random
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import StartServer
from tests.helpers import TestServer
from tests.media.helpers import (
    CLIENT_MEDIA,
    CREATE,
    UPLOAD,
    download,
    raw,
    upload,
    upload_ok,
)

MiB = 1024 * 1024


def media_root(server: TestServer) -> Path:
    return Path(server.hs.config.data_dir) / server.hs.config.media.store_path


def stored_files(server: TestServer) -> list[Path]:
    return sorted(p for p in (media_root(server) / "content").rglob("*") if p.is_file())


def temp_files(server: TestServer) -> list[Path]:
    return list((media_root(server) / "tmp").iterdir())


async def media_rows(server: TestServer) -> int:
    return await server.hs.db.pool.fetchval("SELECT count(*) FROM media")


@pytest.mark.parametrize("data, content_type", [
    (b"hello world", "text/plain"),
    (b"", "application/octet-stream"),
    (bytes(range(256)) * 1000, "application/x-binary; foo=bar"),
    ("¡Hola! 👋".encode(), "text/plain; charset=utf-8"),
])
async def test_round_trip_is_byte_exact(server: TestServer, data: bytes, content_type: str) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    media_id = await upload_ok(alice, data, content_type)
    assert len(media_id) >= 20 and media_id.isascii()
    resp = await download(bob, server, media_id)
    assert resp.status == 200
    assert resp.body == data
    assert resp.headers["Content-Type"] == content_type
    assert resp.headers["Content-Length"] == str(len(data))


async def test_missing_content_type_defaults_to_octet_stream(server: TestServer) -> None:
    alice = await server.register("alice")
    resp = await raw(server, "POST", UPLOAD, token=alice.access_token, data=b"\x00\x01",
                     headers={"Content-Type": ""})
    media_id = resp.json()["content_uri"].rsplit("/", 1)[1]
    got = await download(alice, server, media_id)
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["Content-Disposition"] == "attachment"


async def _chunks(total: int, chunk_size: int, hasher: hashlib._Hash) -> AsyncIterator[bytes]:
    rng = random.Random(5)
    for _ in range(total // chunk_size):
        chunk = rng.randbytes(chunk_size)
        hasher.update(chunk)
        yield chunk


async def test_20_mb_streams_up_and_down_without_being_held_in_memory(server: TestServer) -> None:
    alice = await server.register("alice")
    total = 20 * MiB
    sent = hashlib.sha256()
    tracemalloc.start()
    try:
        resp = await raw(server, "POST", UPLOAD, token=alice.access_token, data=_chunks(total, 64 * 1024, sent),
                         headers={"Content-Type": "video/mp4"})
        assert resp.status == 200, resp.body
        media_id = resp.json()["content_uri"].rsplit("/", 1)[1]
        received, size = hashlib.sha256(), 0
        async with server.session.get(f"{server.url}{CLIENT_MEDIA}/download/test.local/{media_id}",
                                      headers={"Authorization": f"Bearer {alice.access_token}"}) as got:
            assert got.status == 200
            assert got.headers["Content-Length"] == str(total)
            async for chunk in got.content.iter_chunked(256 * 1024):
                received.update(chunk)
                size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == total
    assert received.hexdigest() == sent.hexdigest()
    # Client and server share this process: neither side held the 20 MB at once.
    assert peak < 6 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"
    assert [p.name for p in stored_files(server)] == [sent.hexdigest()], "stored under its SHA-256"


async def test_same_bytes_are_stored_once(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    data = random.Random(1).randbytes(100_000)
    first = await upload_ok(alice, data, "application/pdf", "a.pdf")
    second = await upload_ok(bob, data, "application/pdf", "b.pdf")
    assert first != second
    assert len(stored_files(server)) == 1
    assert temp_files(server) == []
    for media_id, name in ((first, "a.pdf"), (second, "b.pdf")):
        resp = await download(alice, server, media_id)
        assert resp.body == data
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{name}"'


@pytest.mark.parametrize("content_type, body, disposition", [
    ("image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "attachment"),
    ("text/html", b"<html><script>alert(document.cookie)</script></html>", "attachment"),
    ("text/html; charset=utf-8", b"<script>alert(1)</script>", "attachment"),
    ("application/xhtml+xml", b"<html xmlns='http://www.w3.org/1999/xhtml'/>", "attachment"),
    ("application/javascript", b"alert(1)", "attachment"),
    ("application/pdf", b"%PDF-1.4", "attachment"),
    ("image/png", b"\x89PNG\r\n\x1a\nnot really", "inline"),
    ("IMAGE/PNG", b"\x89PNG\r\n\x1a\n", "inline"),
    # A page that claims to be a PNG stays a "PNG": browsers will not render it as HTML.
    ("image/png", b"<html><script>alert(1)</script></html>", "inline"),
    ("video/mp4", b"\x00\x00\x00\x18ftypmp42", "inline"),
    ("audio/ogg", b"OggS", "inline"),
    ("text/plain", b"just text", "inline"),
])
async def test_disposition_and_sandbox_headers(server: TestServer, content_type: str, body: bytes,
                                              disposition: str) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, body, content_type, "file.name")
    for resp in (await download(alice, server, media_id), await download(alice, server, media_id, "x.bin")):
        assert resp.status == 200
        assert resp.headers["Content-Type"] == content_type, "served as uploaded"
        assert resp.headers["Content-Disposition"].split(";")[0] == disposition
        csp = resp.headers["Content-Security-Policy"]
        assert csp.startswith("sandbox;") and "script-src 'none'" in csp and "default-src 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert resp.body == body


@pytest.mark.parametrize("name, header", [
    ("cat.png", 'inline; filename="cat.png"'),
    ('say "hi".png', 'inline; filename="say \\"hi\\".png"'),
    ("résumé 2024.png", "inline; filename*=utf-8''r%C3%A9sum%C3%A9%202024.png"),
    ("evil\r\nSet-Cookie: a=b.png", "inline; filename*=utf-8''evil%0D%0ASet-Cookie%3A%20a%3Db.png"),
    ("猫.png", "inline; filename*=utf-8''%E7%8C%AB.png"),
])
async def test_file_names_are_encoded_per_rfc_6266(server: TestServer, name: str, header: str) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, b"\x89PNG\r\n\x1a\n", "image/png", name)
    resp = await download(alice, server, media_id)
    assert resp.headers["Content-Disposition"] == header
    assert "Set-Cookie" not in resp.headers


async def test_file_name_in_the_path_overrides_the_upload_name(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, b"data", "text/plain", "original.txt")
    resp = await download(alice, server, media_id, "other%20name.txt")
    assert resp.headers["Content-Disposition"] == 'inline; filename="other name.txt"'
    # A trailing slash (matrix-nio's request with no file name) keeps the upload name.
    resp = await raw(server, "GET", f"{CLIENT_MEDIA}/download/test.local/{media_id}/", token=alice.access_token)
    assert resp.headers["Content-Disposition"] == 'inline; filename="original.txt"'
    media_id = await upload_ok(alice, b"data", "text/plain")
    assert (await download(alice, server, media_id)).headers["Content-Disposition"] == "inline"


async def test_range_and_head_requests(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, b"0123456789", "text/plain")
    path = f"{CLIENT_MEDIA}/download/test.local/{media_id}"
    resp = await raw(server, "GET", path, token=alice.access_token, headers={"Range": "bytes=2-5"})
    assert (resp.status, resp.body) == (206, b"2345")
    resp = await raw(server, "HEAD", path, token=alice.access_token)
    assert (resp.status, resp.body, resp.headers["Content-Length"]) == (200, b"", "10")


async def test_upload_past_the_limit_is_refused_and_leaves_nothing(start_server: StartServer) -> None:
    server = await start_server({"media": {"max_upload_bytes": MiB}})
    alice = await server.register("alice")
    # Declared up front in Content-Length: refused before a byte is read.
    resp = await upload(alice, b"x" * (MiB + 1))
    assert (resp.status, resp.errcode) == (413, "M_TOO_LARGE")
    # Chunked, no length given: refused as soon as the count passes the limit.
    resp = await upload(alice, _chunks(3 * MiB, 64 * 1024, hashlib.sha256()))
    assert (resp.status, resp.errcode) == (413, "M_TOO_LARGE")
    assert await media_rows(server) == 0
    assert stored_files(server) == [] and temp_files(server) == []
    # Exactly the limit is fine.
    media_id = await upload_ok(alice, b"y" * MiB)
    assert len((await download(alice, server, media_id)).body) == MiB
    resp = await raw(server, "GET", f"{CLIENT_MEDIA}/config", token=alice.access_token)
    assert resp.json() == {"m.upload.size": MiB}


async def test_config_advertises_the_limit(server: TestServer) -> None:
    alice = await server.register("alice")
    for path in (f"{CLIENT_MEDIA}/config", "/_matrix/media/v3/config"):
        resp = await raw(server, "GET", path, token=alice.access_token)
        assert (resp.status, resp.json()) == (200, {"m.upload.size": 52_428_800})


async def test_versions_advertise_authenticated_media(server: TestServer) -> None:
    resp = await server.request("GET", "/_matrix/client/versions")
    assert "v1.11" in resp.body["versions"]


@pytest.mark.parametrize("method, path", [
    ("GET", f"{CLIENT_MEDIA}/download/test.local/abc"),
    ("GET", f"{CLIENT_MEDIA}/download/test.local/abc/name.txt"),
    ("GET", f"{CLIENT_MEDIA}/thumbnail/test.local/abc?width=32&height=32"),
    ("GET", f"{CLIENT_MEDIA}/config"),
    ("GET", f"{CLIENT_MEDIA}/preview_url?url=https://matrix.org"),
    ("GET", "/_matrix/media/v3/config"),
    ("POST", UPLOAD),
    ("POST", CREATE),
    ("PUT", "/_matrix/media/v3/upload/test.local/abc"),
])
async def test_access_token_required(server: TestServer, method: str, path: str) -> None:
    resp = await raw(server, method, path, data=b"x")
    assert (resp.status, resp.errcode) == (401, "M_MISSING_TOKEN")
    resp = await raw(server, method, path, data=b"x", token="wrong")
    assert (resp.status, resp.errcode) == (401, "M_UNKNOWN_TOKEN")


async def test_access_token_in_query_string_still_works(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, b"abc", "text/plain")
    resp = await raw(server, "GET", f"{CLIENT_MEDIA}/download/test.local/{media_id}",
                     params={"access_token": alice.access_token})
    assert resp.body == b"abc"


async def test_unknown_media_is_404(server: TestServer) -> None:
    alice = await server.register("alice")
    for user in (alice, None):
        resp = await download(user, server, "doesNotExist_123", legacy=user is None)
        assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    # Remote media cannot be fetched until federation lands; allow_remote=false never tries.
    for params in (None, {"allow_remote": "false"}):
        resp = await raw(server, "GET", f"{CLIENT_MEDIA}/download/other.example/abc", token=alice.access_token,
                         params=params)
        assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")


@pytest.mark.parametrize("path, errcode", [
    (f"{CLIENT_MEDIA}/download/test.local/abc.def", "M_INVALID_PARAM"),
    (f"{CLIENT_MEDIA}/download/test.local/..%2F..%2Fetc%2Fpasswd", "M_INVALID_PARAM"),
    (f"{CLIENT_MEDIA}/download/test.local/%C3%A9t%C3%A9", "M_INVALID_PARAM"),
    (f"{CLIENT_MEDIA}/download/bad%20host/abc", "M_INVALID_PARAM"),
    (f"{CLIENT_MEDIA}/download/test.local/" + "a" * 256, "M_INVALID_PARAM"),
    (f"{CLIENT_MEDIA}/download/test.local/abc?timeout_ms=soon", "M_INVALID_PARAM"),
    (f"{CLIENT_MEDIA}/download/test.local/abc?allow_remote=maybe", "M_INVALID_PARAM"),
    ("/_matrix/media/v3/download/test.local/a%00b", "M_INVALID_PARAM"),
])
async def test_bad_media_references_are_400(server: TestServer, path: str, errcode: str) -> None:
    alice = await server.register("alice")
    resp = await raw(server, "GET", path, token=alice.access_token)
    assert (resp.status, resp.errcode) == (400, errcode)


@pytest.mark.parametrize("headers, params", [
    ({"Content-Type": "not a type"}, None),
    ({"Content-Type": "text/" + "x" * 300}, None),
    ({"Content-Type": "text/plain"}, {"filename": "n" * 1025}),
])
async def test_bad_upload_metadata_is_400(server: TestServer, headers: dict[str, str],
                                          params: dict[str, str] | None) -> None:
    alice = await server.register("alice")
    resp = await raw(server, "POST", UPLOAD, token=alice.access_token, data=b"x", headers=headers, params=params)
    assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM")
    assert await media_rows(server) == 0


async def test_preview_url_is_off_by_default(server: TestServer) -> None:
    alice = await server.register("alice")
    for prefix in (CLIENT_MEDIA, "/_matrix/media/v3"):
        resp = await raw(server, "GET", f"{prefix}/preview_url", token=alice.access_token,
                         params={"url": "http://127.0.0.1/"})
        assert (resp.status, resp.errcode) == (404, "M_UNRECOGNIZED")


async def test_upload_is_rate_limited_per_user(start_server: StartServer) -> None:
    server = await start_server({"rate_limits": {"enabled": True, "media_upload": {"per_second": 0.01, "burst": 2}}})
    alice = await server.register("alice")
    bob = await server.register("bob")
    for _ in range(2):
        await upload_ok(alice, b"x")
    resp = await upload(alice, b"x")
    assert (resp.status, resp.errcode) == (429, "M_LIMIT_EXCEEDED")
    assert resp.json()["retry_after_ms"] > 0
    resp = await raw(server, "POST", CREATE, token=alice.access_token)
    assert (resp.status, resp.errcode) == (429, "M_LIMIT_EXCEEDED")
    await upload_ok(bob, b"x")


async def test_last_access_is_recorded(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, b"x")
    sql = "SELECT last_access_ts FROM media WHERE media_id = $1"
    assert await server.hs.db.pool.fetchval(sql, media_id) is None
    await download(alice, server, media_id)
    first = await server.hs.db.pool.fetchval(sql, media_id)
    assert first is not None
    await download(alice, server, media_id)
    assert await server.hs.db.pool.fetchval(sql, media_id) == first, "not rewritten on every download"
    server.hs.clock.advance(11 * 60 * 1000)
    await download(alice, server, media_id)
    assert await server.hs.db.pool.fetchval(sql, media_id) > first



async def test_client_leaving_mid_upload_leaves_nothing(server: TestServer, caplog: pytest.LogCaptureFixture) -> None:
    alice = await server.register("alice")
    host, port = server.url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST {UPLOAD} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {alice.access_token}\r\n"
                 "Content-Type: text/plain\r\nContent-Length: 5000000\r\n\r\n".encode() + b"x" * 3_000_000)
    await writer.drain()
    writer.close()
    await asyncio.sleep(0.5)  # the server reads what came, then sees the connection close
    assert temp_files(server) == [] and stored_files(server) == []
    assert await media_rows(server) == 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "not a server error"
