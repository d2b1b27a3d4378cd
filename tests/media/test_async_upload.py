"""Asynchronous uploads (spec v1.7): POST /_matrix/media/v1/create reserves an mxc URI,
PUT /_matrix/media/v3/upload/{serverName}/{mediaId} fills it, and it expires unused."""

from __future__ import annotations

import asyncio

from tests.conftest import StartServer
from tests.helpers import TestServer, User
from tests.media.helpers import CREATE, download, raw

DAY_MS = 24 * 3600 * 1000


async def create(user: User) -> tuple[str, int]:
    resp = await raw(user.server, "POST", CREATE, token=user.access_token)
    assert resp.status == 200, resp.body
    body = resp.json()
    assert body["content_uri"].startswith("mxc://test.local/")
    return body["content_uri"].rsplit("/", 1)[1], body["unused_expires_at"]


async def put(user: User, media_id: str, data: bytes, server_name: str = "test.local",
              content_type: str = "text/plain", filename: str | None = None) -> tuple[int, str | None]:
    resp = await raw(user.server, "PUT", f"/_matrix/media/v3/upload/{server_name}/{media_id}",
                     token=user.access_token, data=data, headers={"Content-Type": content_type},
                     params={"filename": filename} if filename else None)
    if resp.status == 200:
        assert resp.json() == {}
    return resp.status, resp.errcode


async def test_create_then_upload_then_download(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    before = server.hs.clock.now_ms()
    media_id, expires = await create(alice)
    assert before + DAY_MS <= expires <= server.hs.clock.now_ms() + DAY_MS
    assert await put(alice, media_id, b"later", filename="later.txt") == (200, None)
    resp = await download(bob, server, media_id)
    assert (resp.status, resp.body) == (200, b"later")
    assert resp.headers["Content-Disposition"] == 'inline; filename="later.txt"'


async def test_download_waits_for_the_upload(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id, _ = await create(alice)
    resp = await download(alice, server, media_id, params={"timeout_ms": "100"})
    assert (resp.status, resp.errcode) == (504, "M_NOT_YET_UPLOADED")
    waiting = asyncio.create_task(download(alice, server, media_id, params={"timeout_ms": "10000"}))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    assert await put(alice, media_id, b"arrived") == (200, None)
    resp = await asyncio.wait_for(waiting, 5)
    assert (resp.status, resp.body) == (200, b"arrived")


async def test_only_the_creator_may_upload_and_only_once(server: TestServer) -> None:
    alice = await server.register("alice")
    mallory = await server.register("mallory")
    media_id, _ = await create(alice)
    assert await put(mallory, media_id, b"mine now") == (403, "M_FORBIDDEN")
    assert await put(alice, media_id, b"first") == (200, None)
    assert await put(alice, media_id, b"second") == (409, "M_CANNOT_OVERWRITE_MEDIA")
    assert await put(mallory, media_id, b"second") == (403, "M_FORBIDDEN")
    assert (await download(alice, server, media_id)).body == b"first"


async def test_unknown_or_foreign_media_ids_are_404(server: TestServer) -> None:
    alice = await server.register("alice")
    assert await put(alice, "neverCreated", b"x") == (404, "M_NOT_FOUND")
    media_id, _ = await create(alice)
    assert await put(alice, media_id, b"x", server_name="other.example") == (404, "M_NOT_FOUND")
    assert await put(alice, "bad.id", b"x") == (400, "M_INVALID_PARAM")
    # A plain upload's media ID cannot be uploaded to again either.
    resp = await raw(server, "POST", "/_matrix/media/v3/upload", token=alice.access_token, data=b"x")
    uploaded = resp.json()["content_uri"].rsplit("/", 1)[1]
    assert await put(alice, uploaded, b"y") == (409, "M_CANNOT_OVERWRITE_MEDIA")


async def test_unused_media_id_expires(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id, expires = await create(alice)
    server.hs.clock.advance(expires - server.hs.clock.now_ms() + 1)
    assert await put(alice, media_id, b"too late") == (404, "M_NOT_FOUND")
    resp = await download(alice, server, media_id, params={"timeout_ms": "0"})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    # Uploaded in time, it never expires.
    media_id, _ = await create(alice)
    assert await put(alice, media_id, b"in time") == (200, None)
    server.hs.clock.advance(2 * DAY_MS)
    assert (await download(alice, server, media_id)).body == b"in time"


async def test_short_configured_expiry(start_server: StartServer) -> None:
    server = await start_server({"media": {"unused_expires_after_ms": 1000}})
    alice = await server.register("alice")
    media_id, expires = await create(alice)
    assert expires - server.hs.clock.now_ms() <= 1000
    server.hs.clock.advance(1001)
    assert await put(alice, media_id, b"x") == (404, "M_NOT_FOUND")


async def test_pending_uploads_are_limited_per_user(start_server: StartServer) -> None:
    server = await start_server({"media": {"max_pending_uploads": 2}})
    alice = await server.register("alice")
    bob = await server.register("bob")
    first, _ = await create(alice)
    await create(alice)
    resp = await raw(server, "POST", CREATE, token=alice.access_token)
    assert (resp.status, resp.errcode) == (429, "M_LIMIT_EXCEEDED")
    assert 0 < resp.json()["retry_after_ms"] <= DAY_MS
    await create(bob)  # per user
    # Uploading to one frees a slot; so does expiry.
    assert await put(alice, first, b"done") == (200, None)
    await create(alice)
    server.hs.clock.advance(DAY_MS + 1)
    await create(alice)
    await create(alice)
    pending = await server.hs.db.pool.fetchval(
        "SELECT count(*) FROM media WHERE uploader = $1 AND sha256 IS NULL", alice.user_id)
    assert pending == 2, "expired reservations are swept"


async def test_too_large_upload_to_a_reserved_id_keeps_it_reserved(start_server: StartServer) -> None:
    server = await start_server({"media": {"max_upload_bytes": 10}})
    alice = await server.register("alice")
    media_id, _ = await create(alice)
    assert await put(alice, media_id, b"x" * 11) == (413, "M_TOO_LARGE")
    assert await put(alice, media_id, b"x" * 10) == (200, None)
    assert (await download(alice, server, media_id)).body == b"x" * 10


async def test_reservations_of_uploaders_who_never_return_are_deleted(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id, expires = await create(alice)
    kept, _ = await create(alice)
    assert await put(alice, kept, b"uploaded") == (200, None)
    server.hs.clock.advance(expires - server.hs.clock.now_ms() + 1)
    assert await server.hs.media.expire_unused() == 1, "the media-expiry job's pass"
    rows = await server.hs.db.pool.fetch("SELECT media_id FROM media WHERE uploader = $1", alice.user_id)
    assert [r["media_id"] for r in rows] == [kept]
    assert server.hs.leases.held("media-expiry")
