"""Content hashes, reference hashes, event IDs (v1-2, v3, v4+) and v12 room IDs."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import pytest

from homeserver.events.builder import build_event
from homeserver.events.errors import EventFormatError
from homeserver.events.hashing import (
    compute_content_hash,
    compute_event_id,
    compute_reference_hash,
    content_hash_matches,
    room_id_for_create_event,
)
from homeserver.events.room_versions import get_room_version

from ._support import appendix_signing_key, load_fixture

KEY = appendix_signing_key()


def _appendix_canonical_json(value: Any) -> bytes:
    # The reference implementation printed in appendices.md "Canonical JSON".
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(
        "UTF-8"
    )


def test_content_hash_of_appendix_event() -> None:
    vector = load_fixture("appendix_vectors.json")["event_signing"][0]
    digest = compute_content_hash(vector["input"])
    assert base64.b64encode(digest).decode().rstrip("=") == vector["signed"]["hashes"]["sha256"]
    assert content_hash_matches(vector["signed"])
    assert not content_hash_matches({**vector["signed"], "depth": 4})
    assert not content_hash_matches({**vector["signed"], "hashes": {}})


def _message(room_id: str = "!r:a", **extra: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "room_id": room_id,
        "sender": "@u:a",
        "content": {"body": "hi"},
        "prev_events": ["$p"],
        "auth_events": ["$q"],
        "depth": 7,
        "origin_server_ts": 1234,
        "hashes": {"sha256": "abc"},
        "signatures": {"a": {"ed25519:1": "sig"}},
        "unsigned": {"age": 3},
        **extra,
    }


def test_event_id_is_urlsafe_reference_hash_recomputed_independently() -> None:
    event = _message()
    redacted = {k: v for k, v in event.items() if k not in ("signatures", "unsigned")}
    redacted["content"] = {}
    expected = hashlib.sha256(_appendix_canonical_json(redacted)).digest()
    assert compute_reference_hash(get_room_version("11"), event) == expected
    assert compute_event_id(get_room_version("11"), event) == "$" + base64.urlsafe_b64encode(
        expected
    ).decode().rstrip("=")


def test_event_id_ignores_signatures_unsigned_and_content_but_not_hashes() -> None:
    v10 = get_room_version("10")
    event_id = compute_event_id(v10, _message())
    assert compute_event_id(v10, _message(signatures={}, unsigned={"x": 1})) == event_id
    assert compute_event_id(v10, _message(content={"body": "other"})) == event_id
    assert compute_event_id(v10, _message(hashes={"sha256": "other"})) != event_id


def test_v3_event_ids_use_standard_base64_and_v4_urlsafe() -> None:
    for depth in range(200):  # find an event whose hash encodes to + or /
        event = _message(depth=depth)
        v3_id = compute_event_id(get_room_version("3"), event)
        if re.search(r"[+/]", v3_id):
            break
    else:
        pytest.fail("no hash with + or / in 200 tries")
    v4_id = compute_event_id(get_room_version("4"), event)
    assert v4_id == v3_id.replace("+", "-").replace("/", "_")
    assert re.fullmatch(r"\$[A-Za-z0-9_-]{43}", v4_id)


def test_v1_event_ids_come_from_the_event() -> None:
    v1 = get_room_version("1")
    assert compute_event_id(v1, _message(event_id="$abc:a")) == "$abc:a"
    with pytest.raises(EventFormatError):
        compute_event_id(v1, _message())


def test_v12_room_id_is_the_create_event_reference_hash() -> None:
    v12 = get_room_version("12")
    create_id, create = build_event(
        v12,
        room_id=None,
        sender="@alice:a",
        event_type="m.room.create",
        state_key="",
        content={"room_version": "12", "additional_creators": ["@bob:b"]},
        prev_events=[],
        auth_events=[],
        depth=1,
        origin_server_ts=1_700_000_000_000,
        server_name="a",
        signing_key=KEY,
    )
    assert "room_id" not in create
    stripped = {k: v for k, v in create.items() if k not in ("signatures", "unsigned")}
    digest = hashlib.sha256(
        _appendix_canonical_json(stripped)
    ).digest()  # v11+ keeps create content
    room_id = room_id_for_create_event(v12, create)
    assert room_id == "!" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert room_id == "!" + create_id[1:]
    assert re.fullmatch(r"![A-Za-z0-9_-]{43}", room_id)
    with pytest.raises(ValueError):
        room_id_for_create_event(get_room_version("11"), create)
    with pytest.raises(ValueError):
        room_id_for_create_event(v12, _message())
