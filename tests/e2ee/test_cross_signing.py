"""Cross-signing over real HTTP: uploading keys (user-interactive auth only to replace
them), signatures checked one by one, and who may see which signature."""

from __future__ import annotations

from typing import Any

from tests.e2ee.keys import CrossSigning, DeviceKeys
from tests.e2ee.test_device_lists import Syncer, room
from tests.helpers import TestServer, User


def password(user: User, session: str | None = None) -> dict[str, Any]:
    auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user.user_id},
            "password": user.password}
    return {**auth, "session": session} if session else auth


async def query(reader: User, *users: User) -> dict[str, Any]:
    resp = await reader.post("keys/query", {"device_keys": {u.user_id: [] for u in users}})
    assert resp.status == 200, resp
    return resp.body


async def test_first_upload_needs_no_auth_and_replacing_does(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    keys = CrossSigning(alice.user_id)
    resp = await alice.post("keys/device_signing/upload", keys.upload_body())
    assert resp.status == 200, resp
    # A retry of the same keys (a lost response) is no challenge either.
    assert (await alice.post("keys/device_signing/upload", keys.upload_body())).status == 200

    seen_by_bob = await query(bob, alice)
    assert seen_by_bob["master_keys"][alice.user_id] == keys.key("master")
    assert seen_by_bob["self_signing_keys"][alice.user_id] == keys.key("self_signing")
    assert seen_by_bob["user_signing_keys"] == {}, "only alice sees her user-signing key"
    assert (await query(alice, alice))["user_signing_keys"][alice.user_id] == keys.key("user_signing")

    new = CrossSigning(alice.user_id)
    challenge = await alice.post("keys/device_signing/upload", new.upload_body())
    assert challenge.status == 401 and challenge.body["flows"] == [{"stages": ["m.login.password"]}]
    assert (await query(bob, alice))["master_keys"][alice.user_id] == keys.key("master"), "nothing replaced yet"
    wrong = await alice.post("keys/device_signing/upload", {**new.upload_body(), "auth": {
        **password(alice, challenge.body["session"]), "password": "wrong"}})
    assert wrong.status == 401 and wrong.errcode == "M_FORBIDDEN"
    done = await alice.post("keys/device_signing/upload",
                            {**new.upload_body(), "auth": password(alice, challenge.body["session"])})
    assert done.status == 200, done
    assert (await query(bob, alice))["master_keys"][alice.user_id] == new.key("master")


async def test_bad_cross_signing_keys_are_refused(server: TestServer) -> None:
    alice = await server.register("alice")
    keys, other = CrossSigning(alice.user_id), CrossSigning(alice.user_id)
    signed_by_other = {**keys.upload_body(), "self_signing_key": other.key("self_signing")}
    collision = CrossSigning(alice.user_id)
    cases = [
        ({"self_signing_key": keys.key("self_signing")}, 400, "M_MISSING_PARAM"),  # no master key anywhere
        (signed_by_other, 400, "M_INVALID_SIGNATURE"),
        ({"master_key": {**keys.key("master"), "user_id": "@bob:test.local"}}, 400, "M_INVALID_PARAM"),
        ({"master_key": {**keys.key("master"), "usage": ["self_signing"]}}, 400, "M_BAD_JSON"),
        ({"master_key": {**keys.key("master"), "keys": {"ed25519:abc": "def"}}}, 400, "M_BAD_JSON"),
        ({"master_key": "key"}, 400, "M_BAD_JSON"),
    ]
    for body, status, errcode in cases:
        resp = await alice.post("keys/device_signing/upload", body)
        assert (resp.status, resp.errcode) == (status, errcode), (body, resp)
    assert (await query(alice, alice))["master_keys"] == {}

    # A cross-signing public key may not be the ID of one of the user's devices.
    device_id = collision.master.public_key_base64
    assert (await server.login("alice", alice.password, device_id=device_id)).status == 200
    resp = await alice.post("keys/device_signing/upload", collision.upload_body())
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
    # Nor may a new device take the ID of a cross-signing key.
    assert (await alice.post("keys/device_signing/upload", keys.upload_body())).status == 200
    taken = await server.login("alice", alice.password, device_id=keys.master.public_key_base64)
    assert (taken.status, taken.errcode) == (400, "M_INVALID_PARAM")


async def test_signatures_are_checked_per_key_and_shown_to_whom_the_spec_allows(server: TestServer) -> None:
    alice, bob, carol = [await server.register(n) for n in ("alice", "bob", "carol")]
    await room(alice, bob, encrypted=True)
    await room(alice, carol, encrypted=True)
    device = DeviceKeys.of(alice)
    await device.upload(alice)
    alice_keys, bob_keys = CrossSigning(alice.user_id), CrossSigning(bob.user_id)
    assert (await alice.post("keys/device_signing/upload", alice_keys.upload_body())).status == 200
    assert (await bob.post("keys/device_signing/upload", bob_keys.upload_body())).status == 200
    syncs = {u.user_id: await Syncer(u).start() for u in (alice, bob, carol)}

    served_device = (await query(alice, alice))["device_keys"][alice.user_id][alice.device_id]
    signed_device = alice_keys.sign("self_signing", served_device)
    signed_master = device.sign(alice_keys.key("master"))
    bobs_master = (await query(alice, bob))["master_keys"][bob.user_id]
    signed_bob = alice_keys.sign("user_signing", bobs_master)
    forged = alice_keys.sign("self_signing", served_device)
    forged["signatures"][alice.user_id][alice_keys.self_signing.key_id] = signed_bob["signatures"][alice.user_id][
        alice_keys.user_signing.key_id]
    resp = await alice.post("keys/signatures/upload", {
        alice.user_id: {alice.device_id: signed_device, alice_keys.master.public_key_base64: signed_master,
                        "NOSUCHDEVICE": signed_device},
        bob.user_id: {bob_keys.master.public_key_base64: signed_bob, "BOBDEVICE": signed_bob},
    })
    assert resp.status == 200, resp
    assert {u: {k: f["errcode"] for k, f in fails.items()} for u, fails in resp.body["failures"].items()} == {
        alice.user_id: {"NOSUCHDEVICE": "M_NOT_FOUND"}, bob.user_id: {"BOBDEVICE": "M_NOT_FOUND"}}
    bad = await alice.post("keys/signatures/upload", {alice.user_id: {alice.device_id: forged}})
    assert bad.body["failures"][alice.user_id][alice.device_id]["errcode"] == "M_INVALID_SIGNATURE"

    ssk_signature = signed_device["signatures"][alice.user_id][alice_keys.self_signing.key_id]
    usk_signature = signed_bob["signatures"][alice.user_id][alice_keys.user_signing.key_id]
    for reader in (alice, bob, carol):
        body = await query(reader, alice, bob)
        signatures = body["device_keys"][alice.user_id][alice.device_id]["signatures"][alice.user_id]
        assert signatures[alice_keys.self_signing.key_id] == ssk_signature, "everyone sees the self-signing"
        master_signatures = body["master_keys"][alice.user_id]["signatures"][alice.user_id]
        assert f"ed25519:{alice.device_id}" in master_signatures
        on_bob = body["master_keys"][bob.user_id].get("signatures", {}).get(alice.user_id, {})
        # Only alice sees what her user-signing key signed (spec: "Key and signature security").
        assert on_bob == ({alice_keys.user_signing.key_id: usk_signature} if reader is alice else {})

    # Alice's own signatures are device-list changes of hers; her signature on bob's
    # master key is news to her alone.
    assert await syncs[alice.user_id].next() == {"changed": [alice.user_id, bob.user_id], "left": []}
    assert await syncs[bob.user_id].next() == {"changed": [alice.user_id], "left": []}
    assert await syncs[carol.user_id].next() == {"changed": [alice.user_id], "left": []}


async def test_malformed_signature_uploads(server: TestServer) -> None:
    alice = await server.register("alice")
    for body in ({"alice": {}}, {alice.user_id: []}, {alice.user_id: {"DEV": "x"}},
                 {alice.user_id: {"DEV": {"signatures": "x"}}}):
        resp = await alice.post("keys/signatures/upload", body)
        assert resp.status == 400 and resp.errcode in ("M_INVALID_PARAM", "M_BAD_JSON"), (body, resp)
