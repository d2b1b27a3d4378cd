"""No single request stalls the server: events of the worst shapes at the spec's size
limit are sent while another client's requests keep being answered.

The bound (1 s for each /versions) is generous on purpose: the point is liveness, not
speed. Before the search tokenizer was linear, one 64,000-letter word held the event
loop for 85 s.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from tests.helpers import TestServer, User
from tests.rooms.test_rooms import create_room

# Content this large leaves room for the PDU's envelope within the spec's 64 KiB.
SIZE = 64_000
MAX_DEPTH = 100  # the deepest a request body may nest, the body object included


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


WORST_CONTENTS: dict[str, dict[str, Any]] = {
    "one long word": {"msgtype": "m.text", "body": "y" * SIZE},
    "many short words": {"msgtype": "m.text", "body": "a " * (SIZE // 2)},
    "one long compound token": {"msgtype": "m.text", "body": "y." * (SIZE // 2)},
    "joiners only": {"msgtype": "m.text", "body": ".-" * (SIZE // 2)},
    "deep nesting": {"msgtype": "m.text", "body": "deep", "x": _nested(MAX_DEPTH - 1)},
    "many keys": {"msgtype": "m.text", "body": "keys", **{f"k{i}": i for i in range(SIZE // 16)}},
}


# Another client asking /versions over and over until its stdin closes, then printing
# its slowest answer: a process of its own, as the server's event loop (and the GIL of
# this process) are what a stall would hold.
_WATCHER = """
import select, sys, time, urllib.request
slowest = 0.0
while not select.select([sys.stdin], [], [], 0.02)[0]:
    started = time.perf_counter()
    with urllib.request.urlopen(sys.argv[1] + "/_matrix/client/versions", timeout=300) as resp:
        assert resp.status == 200
    slowest = max(slowest, time.perf_counter() - started)
print(slowest)
"""


async def _with_watcher(server: TestServer, work: Any) -> float:
    watcher = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WATCHER, server.url, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        await work
    finally:
        out, _ = await watcher.communicate(b"stop\n")
    assert watcher.returncode == 0
    return float(out)


async def _push_rules_of_the_worst_shape(user: User) -> None:
    """A recipient whose keyword rules are the costliest globs the API accepts."""
    for i, pattern in enumerate(("y*" * 127 + "z", "*" + "y?" * 126 + "z", "?*" * 127 + "z")):
        resp = await user.put(f"pushrules/global/content/worst{i}", {"pattern": pattern, "actions": ["notify"]})
        assert resp.status == 200, resp
    resp = await user.put("profile/" + user.user_id + "/displayname", {"displayname": "y" * 255 + "z"})
    assert resp.status == 200, resp


async def test_worst_shaped_events_never_stall_other_clients(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    room_id = await create_room(alice, preset="public_chat")
    assert (await bob.post(f"join/{room_id}")).status == 200
    await _push_rules_of_the_worst_shape(bob)

    async def send_all() -> None:
        for i, (shape, content) in enumerate(WORST_CONTENTS.items()):
            resp = await alice.put(f"rooms/{room_id}/send/m.room.message/w{i}", content)
            assert resp.status == 200, (shape, resp)
        for kind, key in (("m.room.name", "name"), ("m.room.topic", "topic")):
            resp = await alice.put(f"rooms/{room_id}/state/{kind}", {key: "y" * SIZE})
            assert resp.status == 200, (kind, resp)
        resp = await bob.post("search", {"search_categories": {"room_events": {"search_term": "y" * 1000}}})
        assert resp.status == 200, resp
        resp = await bob.get("sync")
        assert resp.status == 200, resp

    slowest = await _with_watcher(server, send_all())
    assert slowest < 1.0, f"/versions waited {slowest:.2f} s behind a send"


async def test_bodies_nested_too_deep_are_refused_not_stored(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    for depth in (MAX_DEPTH + 1, 500, 1100):
        lists = depth - 1
        raw = ('{"msgtype": "m.text", "body": "deep", "x": ' + "[" * lists + '"leaf"' + "]" * lists + "}").encode()
        resp = await alice.put(f"rooms/{room_id}/send/m.room.message/deep{depth}", data=raw)
        assert resp.status == 400 and resp.errcode in ("M_BAD_JSON", "M_NOT_JSON"), (depth, resp)
        resp = await alice.put(f"user/{alice.user_id}/account_data/deep", data=raw)
        assert resp.status == 400, (depth, resp)
    page = await alice.get(f"rooms/{room_id}/messages", params={"dir": "b", "limit": "5"})
    assert all(e["content"].get("body") != "deep" for e in page.body["chunk"])
    assert (await alice.get("sync")).status == 200
