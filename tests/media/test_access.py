"""Who can reach media where: the frozen legacy endpoints, the federation endpoints,
quarantine, and avatars that must name media this server has."""

from __future__ import annotations

import orjson
from aiohttp import MultipartReader

from tests.conftest import StartServer
from tests.helpers import TestServer, User
from tests.media.helpers import (
    download,
    image_bytes,
    image_size,
    raw,
    thumbnail,
    upload_ok,
)

FEDERATION = "/_matrix/federation/v1/media"
X_MATRIX = 'X-Matrix origin="other.example",destination="test.local",key="ed25519:a",sig="c2ln"'


async def test_legacy_endpoints_are_frozen_by_default(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, image_bytes(200, 200), "image/png")
    resp = await download(None, server, media_id, legacy=True)
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    resp = await thumbnail(None, server, media_id, 32, 32, "crop", legacy=True)
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    # A token does not unfreeze the deprecated endpoints: the new ones are the way.
    resp = await download(alice, server, media_id, legacy=True)
    assert resp.status == 404
    assert (await download(alice, server, media_id)).status == 200


async def test_legacy_endpoints_serve_media_from_before_the_freeze(start_server: StartServer) -> None:
    before = await start_server({"media": {"freeze_unauthenticated_media": False}})
    alice = await before.register("alice")
    old = await upload_ok(alice, image_bytes(200, 200), "image/png", "old.png")
    resp = await download(None, before, old, legacy=True)
    assert (resp.status, resp.headers["Content-Disposition"]) == (200, 'inline; filename="old.png"')
    assert resp.headers["Cache-Control"].startswith("public")
    assert resp.headers["Content-Security-Policy"].startswith("sandbox;")
    resp = await thumbnail(None, before, old, 32, 32, "crop", legacy=True)
    assert (resp.status, image_size(resp.body)) == (200, (32, 32))
    resp = await raw(before, "GET", f"/_matrix/media/r0/download/test.local/{old}")
    assert resp.status == 200, "the r0 prefix old clients use"

    # The same database, now frozen: the old media stays reachable, new media does not.
    after = await start_server()
    bob = await after.register("bob")
    new = await upload_ok(bob, image_bytes(200, 200), "image/png")
    assert (await download(None, after, old, legacy=True)).status == 200
    assert (await download(None, after, new, legacy=True)).status == 404
    assert (await download(bob, after, new)).status == 200


async def _parts(server: TestServer, path: str) -> list[tuple[dict[str, str], bytes]]:
    async with server.session.get(server.url + path, headers={"Authorization": X_MATRIX}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("multipart/mixed; boundary=")
        reader = MultipartReader.from_response(resp)
        parts = []
        while (part := await reader.next()) is not None:
            parts.append((dict(part.headers), await part.read()))  # type: ignore[union-attr]
        return parts


async def test_federation_serves_local_media_as_multipart(server: TestServer) -> None:
    alice = await server.register("alice")
    png = image_bytes(300, 200)
    media_id = await upload_ok(alice, png, "image/png", "pic.png")
    (meta_headers, meta), (headers, body) = await _parts(server, f"{FEDERATION}/download/{media_id}")
    assert meta_headers["Content-Type"] == "application/json" and orjson.loads(meta) == {}
    assert (headers["Content-Type"], body) == ("image/png", png)
    assert headers["Content-Disposition"] == 'inline; filename="pic.png"'

    (_, meta), (headers, body) = await _parts(
        server, f"{FEDERATION}/thumbnail/{media_id}?width=96&height=96&method=crop")
    assert orjson.loads(meta) == {}
    assert headers["Content-Type"] == "image/png" and image_size(body) == (96, 96)


async def test_federation_needs_a_server_signature(server: TestServer) -> None:
    alice = await server.register("alice")
    media_id = await upload_ok(alice, b"x")
    resp = await raw(server, "GET", f"{FEDERATION}/download/{media_id}")
    assert (resp.status, resp.errcode) == (401, "M_UNAUTHORIZED")
    resp = await raw(server, "GET", f"{FEDERATION}/download/{media_id}", token=alice.access_token)
    assert (resp.status, resp.errcode) == (401, "M_UNAUTHORIZED"), "a user's token is not a server's signature"
    resp = await raw(server, "GET", f"{FEDERATION}/download/unknownMedia", headers={"Authorization": X_MATRIX})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    resp = await raw(server, "GET", f"{FEDERATION}/download/bad.id", headers={"Authorization": X_MATRIX})
    assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM")
    resp = await raw(server, "GET", f"{FEDERATION}/thumbnail/{media_id}?width=0&height=5",
                     headers={"Authorization": X_MATRIX})
    assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM")


async def _admin(start_server: StartServer) -> tuple[TestServer, User]:
    server = await start_server({"server": {"admins": ["@admin:test.local"]},
                                 "media": {"freeze_unauthenticated_media": False}})
    return server, await server.register("admin")


async def test_quarantined_media_is_404_everywhere(start_server: StartServer) -> None:
    server, admin = await _admin(start_server)
    alice = await server.register("alice")
    media_id = await upload_ok(alice, image_bytes(200, 200), "image/png")
    quarantine = f"/_synapse/admin/v1/media/quarantine/test.local/{media_id}"
    resp = await raw(server, "POST", quarantine, token=alice.access_token)
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
    resp = await raw(server, "POST", quarantine, token=admin.access_token)
    assert resp.status == 200

    responses = [
        await download(alice, server, media_id),
        await download(None, server, media_id, legacy=True),
        await thumbnail(alice, server, media_id, 32, 32, "crop"),
        await thumbnail(None, server, media_id, 32, 32, "crop", legacy=True),
        await raw(server, "GET", f"{FEDERATION}/download/{media_id}", headers={"Authorization": X_MATRIX}),
    ]
    assert [(r.status, r.errcode) for r in responses] == [(404, "M_NOT_FOUND")] * 5
    resp = await alice.put(f"profile/{alice.user_id}/avatar_url", {"avatar_url": f"mxc://test.local/{media_id}"})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")

    resp = await raw(server, "POST", f"/_synapse/admin/v1/media/unquarantine/test.local/{media_id}",
                     token=admin.access_token)
    assert resp.status == 200
    assert (await download(alice, server, media_id)).status == 200
    resp = await raw(server, "POST", "/_synapse/admin/v1/media/quarantine/test.local/unknown",
                     token=admin.access_token)
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")


async def test_avatar_must_name_existing_local_media(server: TestServer) -> None:
    alice = await server.register("alice")
    path = f"profile/{alice.user_id}/avatar_url"
    resp = await alice.put(path, {"avatar_url": "mxc://test.local/missingMedia"})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    media_id = await upload_ok(alice, image_bytes(64, 64), "image/png")
    assert (await alice.put(path, {"avatar_url": f"mxc://test.local/{media_id}"})).status == 200
    assert (await alice.get(path)).body == {"avatar_url": f"mxc://test.local/{media_id}"}
    # Another server's media cannot be checked yet: accepted.
    assert (await alice.put(path, {"avatar_url": "mxc://matrix.org/someMedia"})).status == 200


async def test_room_avatar_must_name_existing_local_media(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = (await alice.post("createRoom", {})).body["room_id"]
    path = f"rooms/{room_id}/state/m.room.avatar"
    resp = await alice.put(path, {"url": "mxc://test.local/missingMedia"})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    media_id = await upload_ok(alice, image_bytes(64, 64), "image/png")
    resp = await alice.put(path, {"url": f"mxc://test.local/{media_id}", "info": {"mimetype": "image/png"}})
    assert resp.status == 200
    assert (await alice.put(path, {})).status == 200, "no url: the avatar is removed"
