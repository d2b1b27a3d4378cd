"""matrix-js-sdk, a second client we did not write, runs a whole direct chat through its
own sync loops: invite, join, messages both ways, an edit and a redaction
(tests/js/dm_conversation.mjs; skipped where Node.js is not installed)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import TestServer

JS_DIR = Path(__file__).resolve().parents[1] / "js"
SCRIPT = JS_DIR / "dm_conversation.mjs"
NODE_MAJOR = 20  # matrix-js-sdk 37.5.0's engines.node


async def _run(*argv: str, cwd: Path, timeout: float) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"{' '.join(argv)} did not finish in {timeout} s")
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.fixture
async def node() -> str:
    """Node.js with matrix-js-sdk installed from tests/js/package-lock.json."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js (node and npm) is not installed; the matrix-js-sdk test needs it")
    _, version, _ = await _run(node, "--version", cwd=JS_DIR, timeout=30)
    match = re.match(r"v(\d+)\.", version.strip())
    if not match or int(match.group(1)) < NODE_MAJOR:
        pytest.skip(f"matrix-js-sdk needs Node.js >= {NODE_MAJOR}, found {version.strip()!r}")
    # npm writes node_modules/.package-lock.json on every install: stale or missing, reinstall.
    installed = JS_DIR / "node_modules" / ".package-lock.json"
    lockfile = JS_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lockfile.stat().st_mtime:
        code, out, err = await _run(npm, "ci", "--no-audit", "--no-fund", cwd=JS_DIR, timeout=300)
        if code != 0:
            pytest.fail(f"npm ci in {JS_DIR} failed ({code}):\n{out}\n{err}")
    return node


async def test_js_sdk_direct_chat(node: str, server: TestServer) -> None:
    code, out, err = await _run(node, str(SCRIPT), server.url, cwd=JS_DIR, timeout=60)
    assert code == 0, f"dm_conversation.mjs exited {code}:\n{err}\n{out}"
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    alice, bob = summary["alice"], summary["bob"]
    assert alice.startswith("@alice-") and bob.startswith("@bob-") and alice.endswith(":test.local")

    # Each side received the other's messages, in order, through its own sync.
    assert summary["received"]["bob"] == ["hello Bob!", "how are you?", "great, thanks"]
    assert summary["received"]["alice"] == ["hi alice", "fine, and you?", "good to hear", "bye!"]

    # Bob's sync delivered the edit (aggregated onto the original) and the redaction.
    edit, redaction = summary["edit"], summary["redaction"]
    assert edit["seen_by_bob"] and edit["body"] == "hello Bob!"
    assert redaction["seen_by_bob"]
    timelines = summary["timelines"]
    assert timelines["alice"] == timelines["bob"], "both clients read the same conversation"
    by_id = {m["event_id"]: m for m in timelines["bob"]}
    assert by_id[edit["original"]] | {"event_id": None} == {
        "event_id": None, "sender": alice, "body": "hello Bob!", "edited": True, "redacted": False, "status": None}
    assert by_id[redaction["redacts"]]["redacted"] and by_id[redaction["redacts"]]["body"] is None
    assert edit["event_id"] not in by_id, "the edit shows as the original, not as a message of its own"

    # The room is named after the other person (summary heroes), as a DM should be.
    assert summary["room_names"]["bob"] == alice.removeprefix("@").split(":")[0]
    assert summary["room_names"]["alice"] == bob.removeprefix("@").split(":")[0]

    # The SDK met no error from the server on the way.
    assert summary["http_failures"] == [], summary["http_failures"]
