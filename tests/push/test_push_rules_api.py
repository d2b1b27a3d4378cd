"""The push rules API over real HTTP (spec: pushrules.yaml): what a change does to
what notifies, ordering, account data and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import TestServer
from tests.push.helpers import counts, group, say


async def test_push_rules_api_changes_what_counts(server: TestServer) -> None:
    alice, bob, carol, room_id = await group(server)
    rules = await bob.get("pushrules/")
    assert rules.status == 200
    assert [r["rule_id"] for r in rules.body["global"]["underride"]][-2:] == [".m.rule.message", ".m.rule.encrypted"]
    scoped = await bob.get("pushrules/global/")
    assert scoped.body == rules.body["global"]

    # Mute the room: a room rule without actions.
    assert (await bob.put(f"pushrules/global/room/{room_id}", {"actions": []})).status == 200
    await say(alice, room_id, "muted")
    assert await counts(bob, room_id) == (0, 0)
    assert (await bob.delete(f"pushrules/global/room/{room_id}")).status == 200
    await say(alice, room_id, "heard")
    assert await counts(bob, room_id) == (1, 0)

    # A keyword highlights.
    resp = await bob.put("pushrules/global/content/cake", {"pattern": "cake", "actions": ["notify", {"set_tweak": "highlight"}]})
    assert resp.status == 200
    await say(alice, room_id, "Cake in the kitchen!")
    assert await counts(bob, room_id) == (2, 1)
    assert await counts(carol, room_id) == (3, 0), "rules are per user"

    # Disable a server-default rule; change another's actions.
    assert (await bob.put("pushrules/global/underride/.m.rule.message/enabled", {"enabled": False})).status == 200
    assert (await bob.get("pushrules/global/underride/.m.rule.message/enabled")).body == {"enabled": False}
    await say(alice, room_id, "quiet")
    assert await counts(bob, room_id) == (2, 1)
    resp = await bob.put("pushrules/global/override/.m.rule.suppress_notices/actions", {"actions": ["notify"]})
    assert resp.status == 200
    assert (await bob.get("pushrules/global/override/.m.rule.suppress_notices/actions")).body == {"actions": ["notify"]}
    await say(alice, room_id, "a bot speaks", msgtype="m.notice")
    assert await counts(bob, room_id) == (3, 1)
    rule = await bob.get("pushrules/global/override/.m.rule.suppress_notices")
    assert rule.body["default"] is True and rule.body["actions"] == ["notify"]


async def test_push_rule_ordering_over_http(server: TestServer) -> None:
    bob = await server.register("bob")
    for rule_id, query in (("a", {}), ("b", {}), ("c", {"after": "a"}), ("d", {"before": "a"})):
        resp = await bob.put(f"pushrules/global/content/{rule_id}", {"pattern": rule_id, "actions": ["notify"]},
                             params=query)
        assert resp.status == 200, resp
    content = (await bob.get("pushrules/global/")).body["content"]
    assert [r["rule_id"] for r in content] == ["b", "d", "a", "c", ".m.rule.contains_user_name"]
    assert content[0] == {"rule_id": "b", "pattern": "b", "actions": ["notify"], "enabled": True, "default": False}
    resp = await bob.put("pushrules/global/content/e", {"pattern": "e", "actions": []}, params={"before": "zzz"})
    assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM")
    resp = await bob.put("pushrules/global/content/e", {"pattern": "e", "actions": []},
                         params={"after": ".m.rule.contains_user_name"})
    assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM")
    assert "e" not in [r["rule_id"] for r in (await bob.get("pushrules/global/")).body["content"]]


@pytest.mark.parametrize(("method", "path", "body", "status", "errcode"), [
    ("GET", "pushrules/global/override/nope", None, 404, "M_NOT_FOUND"),
    ("GET", "pushrules/global/weird/nope", None, 400, "M_INVALID_PARAM"),
    ("GET", "pushrules/device/override/nope", None, 400, "M_INVALID_PARAM"),
    ("DELETE", "pushrules/global/override/nope", None, 404, "M_NOT_FOUND"),
    ("DELETE", "pushrules/global/underride/.m.rule.message", None, 400, "M_INVALID_PARAM"),
    ("PUT", "pushrules/global/override/.mine", {"actions": []}, 400, "M_INVALID_PARAM"),
    ("PUT", "pushrules/global/override/.m.rule.master", {"actions": []}, 400, "M_INVALID_PARAM"),
    ("PUT", "pushrules/global/override/x%5Cy", {"actions": []}, 400, "M_INVALID_PARAM"),
    ("PUT", "pushrules/global/room/not-a-room", {"actions": []}, 400, "M_INVALID_PARAM"),
    ("PUT", "pushrules/global/sender/not-a-user", {"actions": []}, 400, "M_INVALID_PARAM"),
    ("PUT", "pushrules/global/override/mine", {}, 400, "M_MISSING_PARAM"),
    ("PUT", "pushrules/global/override/mine", {"actions": ["explode"]}, 400, "M_BAD_JSON"),
    ("PUT", "pushrules/global/override/mine", {"actions": [], "conditions": [{"kind": 1}]}, 400, "M_BAD_JSON"),
    ("PUT", "pushrules/global/content/mine", {"actions": []}, 400, "M_MISSING_PARAM"),
    ("PUT", "pushrules/global/override/mine", [1], 400, "M_BAD_JSON"),
    ("PUT", "pushrules/global/override/nope/enabled", {"enabled": True}, 404, "M_NOT_FOUND"),
    ("PUT", "pushrules/global/override/.m.rule.master/enabled", {"enabled": "yes"}, 400, "M_BAD_JSON"),
    ("PUT", "pushrules/global/override/.m.rule.master/enabled", {}, 400, "M_MISSING_PARAM"),
    ("PUT", "pushrules/global/override/.m.rule.master/actions", {"actions": "notify"}, 400, "M_BAD_JSON"),
    ("PUT", "pushrules/global/override/nope/actions", {"actions": []}, 404, "M_NOT_FOUND"),
    ("GET", "pushrules/global/override/nope/actions", None, 404, "M_NOT_FOUND"),
])
async def test_push_rules_bad_input(
    server: TestServer, method: str, path: str, body: Any, status: int, errcode: str
) -> None:
    bob = await server.register("bob")
    resp = await bob.request(method, path, body)
    assert (resp.status, resp.errcode) == (status, errcode), resp
    # Nothing was written: bob's rules are still the defaults.
    rules = (await bob.get("pushrules/global/")).body
    assert all(r["default"] for kind in rules.values() for r in kind)
    master = (await bob.get("pushrules/global/override/.m.rule.master")).body
    assert master["enabled"] is False and master["actions"] == []


async def test_push_rules_reach_account_data(server: TestServer) -> None:
    bob = await server.register("bob")
    token = (await bob.get("sync")).body["next_batch"]
    resp = await bob.get("sync", params={"since": token, "timeout": "0"})
    assert not [e for e in resp.body["account_data"]["events"] if e["type"] == "m.push_rules"]
    await bob.put("pushrules/global/override/.m.rule.master/enabled", {"enabled": True})
    resp = await bob.get("sync", params={"since": resp.body["next_batch"], "timeout": "10000"})
    [content] = [e["content"] for e in resp.body["account_data"]["events"] if e["type"] == "m.push_rules"]
    assert content["global"]["override"][0] == {
        "rule_id": ".m.rule.master", "default": True, "enabled": True, "conditions": [], "actions": []
    }
    assert content == (await bob.get("pushrules/")).body
    resp = await bob.get("sync", params={"since": resp.body["next_batch"], "timeout": "0"})
    assert not resp.body["account_data"]["events"], "sent once"



