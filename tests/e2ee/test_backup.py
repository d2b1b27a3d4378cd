"""Server-side key backups over real HTTP: versions, keys by the spec's replacement
rules, etag and count, and the errors clients read (M_NOT_FOUND means "no backup")."""

from __future__ import annotations

from typing import Any

from tests.helpers import TestServer

ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
AUTH_DATA = {"public_key": "abcdefg", "signatures": {"@alice:test.local": {"ed25519:DEV": "sig"}}}
ROOM = "!room:test.local"


def key(first_message_index: int = 0, forwarded_count: int = 0, is_verified: bool = False, tag: str = "") -> dict[str, Any]:
    return {"first_message_index": first_message_index, "forwarded_count": forwarded_count,
            "is_verified": is_verified, "session_data": {"ciphertext": f"c{tag}", "mac": "m", "ephemeral": "e"}}


async def test_versions(server: TestServer) -> None:
    alice = await server.register("alice")
    none = await alice.get("room_keys/version")
    assert (none.status, none.errcode) == (404, "M_NOT_FOUND")
    created = await alice.post("room_keys/version", {"algorithm": ALGORITHM, "auth_data": AUTH_DATA})
    assert created.status == 200 and created.body == {"version": "1"}
    latest = await alice.get("room_keys/version")
    assert latest.body == {"algorithm": ALGORITHM, "auth_data": AUTH_DATA, "count": 0, "etag": "0", "version": "1"}
    assert (await alice.get("room_keys/version/1")).body == latest.body

    new_auth = {**AUTH_DATA, "public_key": "other"}
    assert (await alice.put("room_keys/version/1", {"algorithm": ALGORITHM, "auth_data": new_auth})).status == 200
    assert (await alice.get("room_keys/version/1")).body["auth_data"] == new_auth
    for body, errcode in [({"algorithm": "other", "auth_data": {}}, "M_INVALID_PARAM"),
                          ({"algorithm": ALGORITHM, "auth_data": {}, "version": "2"}, "M_INVALID_PARAM"),
                          ({"algorithm": ALGORITHM}, "M_MISSING_PARAM"),
                          ({"algorithm": ALGORITHM, "auth_data": []}, "M_BAD_JSON")]:
        resp = await alice.put("room_keys/version/1", body)
        assert (resp.status, resp.errcode) == (400, errcode), (body, resp)

    assert (await alice.delete("room_keys/version/1")).status == 200
    assert (await alice.delete("room_keys/version/1")).status == 200, "deleting twice is fine"
    assert (await alice.get("room_keys/version")).status == 404
    assert (await alice.get("room_keys/version/1")).errcode == "M_NOT_FOUND"
    for path in ("room_keys/version/7", "room_keys/version/nope"):
        assert (await alice.delete(path)).status == 404
        assert (await alice.get(path)).status == 404
    again = await alice.post("room_keys/version", {"algorithm": ALGORITHM, "auth_data": AUTH_DATA})
    assert again.body == {"version": "2"}, "version numbers are never reused"

    # Backups are per user.
    bob = await server.register("bob")
    assert (await bob.get("room_keys/version")).status == 404


async def test_keys_follow_the_replacement_rules(server: TestServer) -> None:
    alice = await server.register("alice")
    await alice.post("room_keys/version", {"algorithm": ALGORITHM, "auth_data": AUTH_DATA})
    put = await alice.put(f"room_keys/keys/{ROOM}/s1?version=1", key(first_message_index=5, tag="a"))
    assert put.status == 200 and put.body == {"etag": "1", "count": 1}

    def stored() -> Any:
        return alice.get(f"room_keys/keys/{ROOM}/s1?version=1")

    # Worse keys leave the stored one (and the etag) alone.
    for worse in (key(first_message_index=6, tag="b"), key(first_message_index=5, forwarded_count=1, tag="b"),
                  key(first_message_index=5, tag="b")):
        assert (await alice.put(f"room_keys/keys/{ROOM}/s1?version=1", worse)).body == {"etag": "1", "count": 1}
        assert (await stored()).body["session_data"]["ciphertext"] == "ca"
    # Better: a lower first_message_index, then a verified one even with a higher index.
    assert (await alice.put(f"room_keys/keys/{ROOM}/s1?version=1", key(first_message_index=2, tag="c"))).body == {
        "etag": "2", "count": 1}
    verified = key(first_message_index=9, is_verified=True, tag="d")
    await alice.put(f"room_keys/keys/{ROOM}/s1?version=1", verified)
    assert (await stored()).body == verified
    assert (await alice.put(f"room_keys/keys/{ROOM}/s1?version=1", key(first_message_index=0, tag="e"))).body[
        "etag"] == "3", "an unverified key never replaces a verified one"

    many = {"rooms": {ROOM: {"sessions": {"s2": key(), "s3": key()}}, "!other:test.local": {"sessions": {"s1": key()}}}}
    assert (await alice.put("room_keys/keys?version=1", many)).body == {"etag": "4", "count": 4}
    everything = (await alice.get("room_keys/keys?version=1")).body
    assert set(everything["rooms"][ROOM]["sessions"]) == {"s1", "s2", "s3"}
    assert (await alice.get(f"room_keys/keys/{ROOM}?version=1")).body["sessions"].keys() == {"s1", "s2", "s3"}
    assert (await alice.get("room_keys/keys/!empty:test.local?version=1")).body == {"sessions": {}}
    missing = await alice.get(f"room_keys/keys/{ROOM}/nope?version=1")
    assert (missing.status, missing.errcode) == (404, "M_NOT_FOUND")
    version = (await alice.get("room_keys/version")).body
    assert (version["count"], version["etag"]) == (4, "4")

    assert (await alice.delete(f"room_keys/keys/{ROOM}/s2?version=1")).body == {"etag": "5", "count": 3}
    assert (await alice.delete(f"room_keys/keys/{ROOM}?version=1")).body == {"etag": "6", "count": 1}
    assert (await alice.delete("room_keys/keys?version=1")).body == {"etag": "7", "count": 0}


async def test_keys_go_only_into_the_latest_version(server: TestServer) -> None:
    alice = await server.register("alice")
    resp = await alice.put(f"room_keys/keys/{ROOM}/s1?version=1", key())
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND"), "no backup at all"
    await alice.post("room_keys/version", {"algorithm": ALGORITHM, "auth_data": AUTH_DATA})
    await alice.put(f"room_keys/keys/{ROOM}/s1?version=1", key())
    await alice.post("room_keys/version", {"algorithm": ALGORITHM, "auth_data": AUTH_DATA})
    old = await alice.put(f"room_keys/keys/{ROOM}/s2?version=1", key())
    assert (old.status, old.errcode, old.body.get("current_version")) == (403, "M_WRONG_ROOM_KEYS_VERSION", "2")
    assert (await alice.get("room_keys/keys?version=1")).body["rooms"][ROOM]["sessions"].keys() == {"s1"}
    assert (await alice.get("room_keys/keys?version=2")).body == {"rooms": {}}
    assert (await alice.get("room_keys/keys")).errcode == "M_MISSING_PARAM"
    assert (await alice.get("room_keys/keys?version=9")).errcode == "M_NOT_FOUND"


async def test_malformed_keys_store_nothing(server: TestServer) -> None:
    alice = await server.register("alice")
    await alice.post("room_keys/version", {"algorithm": ALGORITHM, "auth_data": AUTH_DATA})
    for body in ({**key(), "first_message_index": -1}, {**key(), "is_verified": "yes"},
                 {**key(), "session_data": "x"}, {k: v for k, v in key().items() if k != "forwarded_count"},
                 {**key(), "forwarded_count": True}):
        resp = await alice.put(f"room_keys/keys/{ROOM}/s1?version=1", body)
        assert resp.status == 400 and resp.errcode in ("M_BAD_JSON", "M_MISSING_PARAM"), (body, resp)
    half_bad = {"rooms": {ROOM: {"sessions": {"s1": key(), "s2": {**key(), "session_data": None}}}}}
    assert (await alice.put("room_keys/keys?version=1", half_bad)).status == 400
    assert (await alice.put("room_keys/keys?version=1", {"rooms": {ROOM: "x"}})).errcode == "M_BAD_JSON"
    big = {**key(), "session_data": {"ciphertext": "x" * 20_000}}
    assert (await alice.put(f"room_keys/keys/{ROOM}/s1?version=1", big)).status == 413
    assert (await alice.get("room_keys/version")).body["count"] == 0
