"""matrix-js-sdk with its Rust crypto (the code Element runs) over an encrypted direct
chat: cross-signing, secret storage and key backup bootstrapped, messages decrypted both
ways, and a second device that verifies itself and restores old keys from the backup
(tests/js/e2ee_conversation.mjs)."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import TestServer
from tests.thirdparty.test_js_sdk import JS_DIR, _run, node  # noqa: F401 (the fixture)

SCRIPT = JS_DIR / "e2ee_conversation.mjs"

# What a client reads as "not there yet", not a failure: no secret storage or key backup
# before alice creates them, and the password challenge of replacing cross-signing keys.
EXPECTED_MISSES = {("GET", 404), ("POST", 401)}


async def test_js_sdk_encrypted_direct_chat(node: str, server: TestServer) -> None:  # noqa: F811
    code, out, err = await _run(node, str(SCRIPT), server.url, cwd=JS_DIR, timeout=120)
    assert code == 0, f"e2ee_conversation.mjs exited {code}:\n{err}\n{out}"
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    assert summary["received"] == {"bob": ["hello bob, this is secret", "see you on my phone"],
                                   "alice": ["hi alice, secret too"]}
    assert summary["old_on_phone"] == ["hello bob, this is secret", "hi alice, secret too", "see you on my phone"]
    assert summary["new_on_phone"] == "welcome, phone"
    assert summary["backup"]["keys_backed_up"] >= 2 and summary["backup"]["restored"]["imported"] >= 2
    assert summary["bob_sees_phone_signed"]

    # The server never saw plaintext: every message in the room is m.room.encrypted.
    async with server.hs.db.pool.acquire() as conn:
        types = [r["type"] for r in await conn.fetch(
            "SELECT type FROM events WHERE room_id = $1 AND state_key IS NULL", summary["room_id"])]
        plaintext = await conn.fetchval(
            "SELECT count(*) FROM events WHERE room_id = $1 AND json LIKE '%secret%'", summary["room_id"])
    assert types and set(types) == {"m.room.encrypted"} and plaintext == 0

    unexpected = [f for f in summary["http_failures"] if (f["method"], f["status"]) not in EXPECTED_MISSES]
    assert unexpected == [], unexpected
    for endpoint in ("POST /_matrix/client/v3/keys/upload", "POST /_matrix/client/v3/keys/query",
                     "POST /_matrix/client/v3/keys/claim", "POST /_matrix/client/v3/keys/signatures/upload",
                     "POST /_matrix/client/v3/keys/device_signing/upload",
                     "PUT /_matrix/client/v3/room_keys/keys"):
        assert any(e.startswith(endpoint) for e in summary["endpoints"]), (endpoint, summary["endpoints"])
