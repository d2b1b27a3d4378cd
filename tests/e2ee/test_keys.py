"""Device keys over real HTTP: upload, query and claim, with real ed25519 signatures, and
hostile uploads answered with the spec's errcode and nothing stored."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2ee.keys import DeviceKeys
from tests.helpers import TestServer, User


async def query(user: User, *users: str) -> dict[str, Any]:
    resp = await user.post("keys/query", {"device_keys": {u: [] for u in users}})
    assert resp.status == 200, resp
    return resp.body


async def test_uploaded_keys_are_served_with_the_device_name(server: TestServer) -> None:
    alice = await server.register("alice", initial_device_display_name="Alice's phone")
    bob = await server.register("bob")
    keys = DeviceKeys.of(alice)
    resp = await keys.upload(alice, one_time=5, fallback=True)
    assert resp.status == 200, resp
    assert resp.body == {"one_time_key_counts": {"signed_curve25519": 5}}

    found = (await query(bob, alice.user_id))["device_keys"][alice.user_id]
    assert list(found) == [alice.device_id]
    served = found[alice.device_id]
    assert served["unsigned"] == {"device_display_name": "Alice's phone"}
    assert {k: v for k, v in served.items() if k != "unsigned"} == keys.device_keys()

    # The same keys again change nothing; a user or device without keys is simply absent.
    assert (await keys.upload(alice)).body == {"one_time_key_counts": {"signed_curve25519": 5}}
    assert (await query(bob, bob.user_id, "@nobody:test.local"))["device_keys"] == {
        bob.user_id: {}, "@nobody:test.local": {}}


async def test_sync_counts_one_time_keys_and_unused_fallback_keys(server: TestServer) -> None:
    alice = await server.register("alice")
    sync = await alice.get("sync")
    assert sync.body["device_one_time_keys_count"] == {} and sync.body["device_unused_fallback_key_types"] == []
    await DeviceKeys.of(alice).upload(alice, one_time=3, fallback=True)
    for path in ("sync", f"sync?since={sync.body['next_batch']}&timeout=0"):
        body = (await alice.get(path)).body
        assert body["device_one_time_keys_count"] == {"signed_curve25519": 3}
        assert body["device_unused_fallback_key_types"] == ["signed_curve25519"]


async def test_claims_hand_out_each_one_time_key_once_then_the_fallback_key(server: TestServer) -> None:
    alice = await server.register("alice")
    keys = DeviceKeys.of(alice)
    uploaded = keys.one_time_keys(2)
    fallback = keys.one_time_keys(1, fallback=True)
    body = {"device_keys": keys.device_keys(), "one_time_keys": uploaded, "fallback_keys": fallback}
    assert (await alice.post("keys/upload", body)).status == 200
    bob = await server.register("bob")
    wanted = {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}}
    claimed = []
    for _ in range(4):
        resp = await bob.post("keys/claim", wanted)
        assert resp.status == 200, resp
        claimed.append(resp.body["one_time_keys"][alice.user_id][alice.device_id])
    # In upload order; then the fallback key, which is not used up.
    assert claimed == [dict([kv]) for kv in uploaded.items()] + [fallback, fallback]
    sync = (await alice.get("sync")).body
    assert sync["device_one_time_keys_count"] == {} and sync["device_unused_fallback_key_types"] == []
    # A new fallback key is unused again.
    assert (await alice.post("keys/upload", {"fallback_keys": keys.one_time_keys(1, fallback=True)})).status == 200
    assert (await alice.get("sync")).body["device_unused_fallback_key_types"] == ["signed_curve25519"]
    # Unknown devices and algorithms are left out, not errors.
    resp = await bob.post("keys/claim", {"one_time_keys": {alice.user_id: {"NOPE": "signed_curve25519"},
                                                           bob.user_id: {bob.device_id: "signed_curve25519"}}})
    assert resp.body == {"one_time_keys": {}, "failures": {}}


async def test_concurrent_claims_never_share_a_one_time_key(server: TestServer) -> None:
    alice = await server.register("alice")
    keys = DeviceKeys.of(alice)
    body = {"device_keys": keys.device_keys(), "one_time_keys": keys.one_time_keys(20),
            "fallback_keys": keys.one_time_keys(1, fallback=True)}
    assert (await alice.post("keys/upload", body)).status == 200
    claimers = [await server.register() for _ in range(8)]
    wanted = {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}}

    async def claim(user: User) -> list[str]:
        got = []
        for _ in range(4):
            resp = await user.post("keys/claim", wanted)
            assert resp.status == 200, resp
            got += list(resp.body["one_time_keys"][alice.user_id][alice.device_id])
        return got

    results = await asyncio.gather(*(claim(u) for u in claimers))
    handed_out = [key_id for got in results for key_id in got]
    fallback_id = next(iter(body["fallback_keys"]))
    one_time = [k for k in handed_out if k != fallback_id]
    assert sorted(one_time) == sorted(body["one_time_keys"]), "each one-time key exactly once"
    assert handed_out.count(fallback_id) == 32 - 20


async def test_hostile_uploads_are_refused_and_store_nothing(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    keys = DeviceKeys.of(alice)
    good = keys.device_keys()
    forged = keys.sign({**good, "keys": {**good["keys"], f"curve25519:{alice.device_id}": "AAAA"}})
    forged["keys"][f"curve25519:{alice.device_id}"] = "BBBB"  # changed after signing
    other_device = DeviceKeys(alice.user_id, "OTHERDEVICE")
    bad_otk = keys.one_time_keys(1)
    next(iter(bad_otk.values()))["key"] = "tampered"
    cases = [
        ({"device_keys": DeviceKeys.of(bob).device_keys()}, 400, "M_INVALID_PARAM"),  # bob's keys
        ({"device_keys": {**good, "user_id": bob.user_id}}, 400, "M_INVALID_PARAM"),
        ({"device_keys": other_device.device_keys()}, 400, "M_INVALID_PARAM"),  # another device
        ({"device_keys": forged}, 400, "M_INVALID_SIGNATURE"),
        ({"device_keys": {k: v for k, v in good.items() if k != "signatures"}}, 400, "M_INVALID_SIGNATURE"),
        ({"device_keys": keys.device_keys(algorithms="all")}, 400, "M_BAD_JSON"),
        ({"device_keys": keys.device_keys(padding="x" * 20_000)}, 413, "M_TOO_LARGE"),
        ({"device_keys": good, "one_time_keys": bad_otk}, 400, "M_INVALID_SIGNATURE"),
        ({"device_keys": good, "one_time_keys": other_device.one_time_keys(1)}, 400, "M_INVALID_SIGNATURE"),
        ({"device_keys": good, "one_time_keys": keys.one_time_keys(101)}, 413, "M_TOO_LARGE"),
        ({"device_keys": good, "one_time_keys": {"nocolon": "key"}}, 400, "M_BAD_JSON"),
        ({"device_keys": good, "one_time_keys": {"signed_curve25519:A": 5}}, 400, "M_BAD_JSON"),
        ({"device_keys": good, "one_time_keys": []}, 400, "M_BAD_JSON"),
        ({"device_keys": "keys"}, 400, "M_BAD_JSON"),
        ({"one_time_keys": keys.one_time_keys(1)}, 400, "M_INVALID_SIGNATURE"),  # no device key to check it
    ]
    for body, status, errcode in cases:
        resp = await alice.post("keys/upload", body)
        assert (resp.status, resp.errcode) == (status, errcode), (body, resp)
    assert (await query(bob, alice.user_id))["device_keys"] == {alice.user_id: {}}
    assert (await alice.get("sync")).body["device_one_time_keys_count"] == {}

    # A one-time key ID uploaded again must carry the same key.
    otks = keys.one_time_keys(2)
    assert (await alice.post("keys/upload", {"device_keys": good, "one_time_keys": otks})).status == 200
    name = next(iter(otks))
    changed = {name: keys.sign({"key": "other"})}
    resp = await alice.post("keys/upload", {"one_time_keys": changed})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")
    assert (await alice.post("keys/upload", {"one_time_keys": otks})).body["one_time_key_counts"] == {
        "signed_curve25519": 2}


async def test_query_and_claim_reject_malformed_requests(server: TestServer) -> None:
    alice = await server.register("alice")
    for path, body in [
        ("keys/query", {}), ("keys/query", {"device_keys": []}), ("keys/query", {"device_keys": {"alice": []}}),
        ("keys/query", {"device_keys": {alice.user_id: "all"}}), ("keys/claim", {}),
        ("keys/claim", {"one_time_keys": {alice.user_id: {"DEV": 1}}}),
    ]:
        resp = await alice.post(path, body)
        assert resp.status == 400 and resp.errcode in ("M_MISSING_PARAM", "M_BAD_JSON", "M_INVALID_PARAM"), (body, resp)
    # Users of other servers are reported as failures until federation can ask them.
    resp = await alice.post("keys/query", {"device_keys": {"@bob:elsewhere.example": []}})
    assert resp.status == 200 and set(resp.body["failures"]) == {"elsewhere.example"}
