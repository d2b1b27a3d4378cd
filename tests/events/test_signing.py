"""Signing keys, signed JSON and signed events: the appendix test vectors byte for byte."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from homeserver.events.errors import SignatureError
from homeserver.events.hashing import compute_event_id
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, get_room_version
from homeserver.events.signing import (
    add_hashes_and_signatures,
    add_hashes_signatures_and_id,
    check_signatures_and_hashes,
    generate_signing_key,
    read_signing_keys,
    required_signature_servers,
    sign_json,
    verify_event_signatures,
    verify_signed_json,
    write_signing_keys,
)

from ._support import appendix_signing_key, load_fixture

VECTORS = load_fixture("appendix_vectors.json")
KEY = appendix_signing_key()
V1_TO_V10 = [v for v in KNOWN_ROOM_VERSIONS if int(v) <= 10]


def test_appendix_signing_key() -> None:
    assert KEY.key_id == VECTORS["key_id"] == "ed25519:1"
    # The verify key signs nothing itself; check it by verifying a vector with it.
    verify_signed_json(
        VECTORS["json_signing"][1]["signed"], "domain", {"ed25519:1": KEY.public_key}
    )


@pytest.mark.parametrize("vector", VECTORS["json_signing"], ids=["empty", "data"])
def test_appendix_json_signing(vector: dict[str, Any]) -> None:
    original = copy.deepcopy(vector["input"])
    assert sign_json(vector["input"], VECTORS["server_name"], KEY) == vector["signed"]
    assert vector["input"] == original  # not mutated
    verify_signed_json(vector["signed"], "domain", {"ed25519:1": KEY.public_key})


@pytest.mark.parametrize("version", V1_TO_V10)
@pytest.mark.parametrize("vector", VECTORS["event_signing"], ids=["minimal", "redactable"])
def test_appendix_event_signing(vector: dict[str, Any], version: str) -> None:
    # The vectors keep the top-level "origin" in the signed (redacted) form, which is the
    # redaction algorithm of room versions 1-10.
    signed = add_hashes_and_signatures(get_room_version(version), vector["input"], "domain", KEY)
    assert signed == vector["signed"]


def test_event_signing_differs_under_v11_redaction() -> None:
    vector = VECTORS["event_signing"][0]
    signed = add_hashes_and_signatures(get_room_version("11"), vector["input"], "domain", KEY)
    assert signed["hashes"] == vector["signed"]["hashes"]  # the content hash is version-free
    assert signed["signatures"] != vector["signed"]["signatures"]  # "origin" is no longer signed


@pytest.mark.parametrize("version", ["3", "4", "10", "11", "12"])
def test_one_pass_signing_matches_signing_then_hashing(version: str) -> None:
    room_version = get_room_version(version)
    event = {
        "type": "m.room.message", "sender": "@a:domain", "room_id": "!r:domain", "depth": 3,
        "content": {"body": "hé", "msgtype": "m.text", "extra": {"n": [1, 2]}},
        "prev_events": ["$p"], "auth_events": ["$a1", "$a2"], "origin_server_ts": 1_700_000_000_000,
    }
    event_id, signed = add_hashes_signatures_and_id(room_version, event, "domain", KEY)
    expected = add_hashes_and_signatures(room_version, event, "domain", KEY)
    assert signed == expected
    assert event_id == compute_event_id(room_version, expected)


def test_sign_json_keeps_existing_signatures_and_unsigned() -> None:
    other = generate_signing_key("other")
    first = sign_json({"a": 1, "unsigned": {"age": 5}}, "domain", KEY)
    both = sign_json(first, "elsewhere", other)
    assert both["unsigned"] == {"age": 5}
    assert set(both["signatures"]) == {"domain", "elsewhere"}
    verify_signed_json(both, "domain", {KEY.key_id: KEY.public_key})
    verify_signed_json(both, "elsewhere", {other.key_id: other.public_key})


def test_verify_signed_json_failures() -> None:
    signed = sign_json({"a": 1}, "domain", KEY)
    keys = {KEY.key_id: KEY.public_key}
    with pytest.raises(SignatureError, match="no signatures"):
        verify_signed_json(signed, "nobody", keys)
    with pytest.raises(SignatureError, match="known key"):
        verify_signed_json(signed, "domain", {"ed25519:2": KEY.public_key})
    with pytest.raises(SignatureError, match="invalid"):
        verify_signed_json({**signed, "a": 2}, "domain", keys)
    with pytest.raises(SignatureError, match="invalid"):
        verify_signed_json(signed, "domain", {KEY.key_id: generate_signing_key("x").public_key})
    garbled = {**signed, "signatures": {"domain": {KEY.key_id: "not base64!"}}}
    with pytest.raises(SignatureError):
        verify_signed_json(garbled, "domain", keys)
    unknown_algorithm = {**signed, "signatures": {"domain": {"rsa:1": "AAAA"}}}
    with pytest.raises(SignatureError, match="known key"):
        verify_signed_json(unknown_algorithm, "domain", {"rsa:1": KEY.public_key})
    # Changing unsigned does not invalidate the signature.
    verify_signed_json({**signed, "unsigned": {"x": 1}}, "domain", keys)


def test_signing_key_file_format_round_trip() -> None:
    text = f"ed25519 1 {VECTORS['signing_key_seed']}\n"
    [key] = read_signing_keys(text)
    assert key.key_id == "ed25519:1"
    assert key.public_key == KEY.public_key
    # The appendix seed ends in non-zero padding bits ("...XA1"); written back canonically
    # it ends "...XA0" and decodes to the same 32 bytes.
    assert write_signing_keys([key]) == text.replace("XA1", "XA0")
    [reread] = read_signing_keys(write_signing_keys([key]))
    assert reread.public_key == KEY.public_key
    generated = generate_signing_key()
    assert generated.version.startswith("a_") and len(generated.version) == 6
    [reread] = read_signing_keys("\n" + write_signing_keys([generated]))
    assert reread.public_key == generated.public_key and reread.key_id == generated.key_id


@pytest.mark.parametrize("text", ["ed25519 1", "rsa 1 AAAA", "ed25519 1 Zm9v", "ed25519 1 !!!!"])
def test_signing_key_file_format_rejects_malformed_lines(text: str) -> None:
    with pytest.raises(ValueError):
        read_signing_keys(text)


def _lookup(keys: dict[tuple[str, str], tuple[bytes, int]]) -> Any:
    def lookup(server_name: str, key_id: str, minimum_valid_until_ts: int) -> bytes | None:
        entry = keys.get((server_name, key_id))
        if entry is None or entry[1] < minimum_valid_until_ts:
            return None
        return entry[0]

    return lookup


def _message(version: str, **extra: Any) -> dict[str, Any]:
    room_id = "!" + "A" * 43 if version == "12" else "!r:domain"
    event = {
        "type": "m.room.message",
        "room_id": room_id,
        "sender": "@u:domain",
        "content": {"body": "hi"},
        "prev_events": [],
        "auth_events": [],
        "depth": 1,
        "origin_server_ts": 5000,
        **extra,
    }
    return add_hashes_and_signatures(get_room_version(version), event, "domain", KEY)


@pytest.mark.parametrize("version", ["10", "11", "12"])
def test_event_signatures_survive_redaction_and_hash_mismatch_redacts(version: str) -> None:
    room_version = get_room_version(version)
    lookup = _lookup({("domain", KEY.key_id): (KEY.public_key, 10_000)})
    event = _message(version)
    assert check_signatures_and_hashes(room_version, event, lookup) == event
    tampered = {**event, "content": {"body": "changed"}}  # content is not signed, only hashed
    result = check_signatures_and_hashes(room_version, tampered, lookup)
    assert result["content"] == {} and "hashes" in result
    forged = {**event, "depth": 2}  # depth is signed
    with pytest.raises(SignatureError):
        check_signatures_and_hashes(room_version, forged, lookup)


def test_event_signature_key_validity_is_enforced_from_v5() -> None:
    expired = _lookup({("domain", KEY.key_id): (KEY.public_key, 4999)})
    verify_event_signatures(get_room_version("4"), _message("4"), expired)
    with pytest.raises(SignatureError, match="known key"):
        verify_event_signatures(get_room_version("5"), _message("5"), expired)


def test_event_signature_from_unknown_server_fails() -> None:
    lookup = _lookup({("domain", KEY.key_id): (KEY.public_key, 10_000)})
    event = _message("11", sender="@u:elsewhere")
    with pytest.raises(SignatureError, match="elsewhere"):
        verify_event_signatures(get_room_version("11"), event, lookup)


def test_required_signature_servers() -> None:
    v2, v3, v8 = get_room_version("2"), get_room_version("3"), get_room_version("8")
    message = {"type": "m.room.message", "sender": "@u:a", "event_id": "$e:b", "content": {}}
    assert required_signature_servers(v2, message) == {"a", "b"}
    assert required_signature_servers(v3, message) == {"a"}
    third_party = {
        "type": "m.room.member",
        "sender": "@u:a",
        "state_key": "@v:c",
        "content": {"membership": "invite", "third_party_invite": {}},
    }
    assert required_signature_servers(v3, third_party) == frozenset()
    restricted: dict[str, Any] = {
        "type": "m.room.member",
        "sender": "@u:a",
        "state_key": "@u:a",
        "content": {"membership": "join", "join_authorised_via_users_server": "@mod:r"},
    }
    assert required_signature_servers(v8, restricted) == {"a", "r"}
    assert required_signature_servers(get_room_version("7"), restricted) == {"a"}
    # Auth rule 4.2 applies to any membership carrying the key, not only joins.
    leave = {**restricted, "content": {**restricted["content"], "membership": "leave"}}
    assert required_signature_servers(v8, leave) == {"a", "r"}
    with pytest.raises(SignatureError):
        required_signature_servers(v3, {"type": "m.room.message", "sender": "nodomain"})
