"""/sync over real HTTP: initial and incremental syncs, long-poll wake-ups, invites,
leaves, account data, to-device, filters."""

from __future__ import annotations

import asyncio
import json

from tests.helpers import TestServer, User
from tests.rooms.test_rooms import create_room, send_text


async def sync(user: User, since: str | None = None, timeout: int = 0, **params: str) -> dict:
    query = {"timeout": str(timeout), **params}
    if since:
        query["since"] = since
    resp = await user.get("sync", params=query)
    assert resp.status == 200, resp
    return resp.body


def bodies(response: dict, room_id: str) -> list[str]:
    room = response["rooms"]["join"].get(room_id, {})
    return [e["content"].get("body") for e in room.get("timeline", {}).get("events", []) if e["type"] == "m.room.message"]


async def test_initial_then_incremental(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="trusted_private_chat", is_direct=True, invite=[bob.user_id], name="DM")
    first = await sync(bob)
    invite = first["rooms"]["invite"][room_id]["invite_state"]["events"]
    assert {"m.room.create", "m.room.name"} <= {e["type"] for e in invite}
    own = [e for e in invite if e["type"] == "m.room.member" and e["state_key"] == bob.user_id]
    assert own and own[0]["content"]["membership"] == "invite" and own[0]["content"]["is_direct"] is True
    # Stripped state is type, state_key, content and sender only (spec: "Stripped state").
    assert all(set(e) == {"type", "state_key", "content", "sender"} for e in invite), invite
    assert {e["state_key"] for e in invite if e["type"] == "m.room.member"} == {alice.user_id, bob.user_id}

    await bob.post(f"join/{room_id}")
    second = await sync(bob, first["next_batch"])
    assert room_id in second["rooms"]["join"] and room_id not in second["rooms"]["invite"]
    state_types = {e["type"] for e in second["rooms"]["join"][room_id]["state"]["events"]}
    assert {"m.room.create", "m.room.power_levels", "m.room.name"} <= state_types | {
        e["type"] for e in second["rooms"]["join"][room_id]["timeline"]["events"]}
    assert second["rooms"]["join"][room_id]["summary"]["m.joined_member_count"] == 2

    await send_text(alice, room_id, "one")
    await send_text(alice, room_id, "two")
    third = await sync(bob, second["next_batch"])
    assert bodies(third, room_id) == ["one", "two"]
    assert third["rooms"]["join"][room_id]["timeline"]["limited"] is False
    fourth = await sync(bob, third["next_batch"])
    assert fourth["rooms"]["join"] == {}, "nothing new, nothing sent"


async def test_long_poll_wakes_on_a_message(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="public_chat")
    await bob.post(f"join/{room_id}")
    token = (await sync(bob))["next_batch"]
    waiting = asyncio.create_task(sync(bob, token, timeout=10_000))
    await asyncio.sleep(0.2)
    assert not waiting.done(), "parked until something happens"
    started = asyncio.get_running_loop().time()
    await send_text(alice, room_id, "wake up")
    woken = await asyncio.wait_for(waiting, 5)
    assert bodies(woken, room_id) == ["wake up"]
    assert asyncio.get_running_loop().time() - started < 2


async def test_long_poll_times_out_empty(server: TestServer) -> None:
    alice = await server.register("alice")
    token = (await sync(alice))["next_batch"]
    started = asyncio.get_running_loop().time()
    empty = await sync(alice, token, timeout=300)
    assert 0.25 < asyncio.get_running_loop().time() - started < 3
    assert empty["rooms"]["join"] == {} and empty["next_batch"]


async def test_limited_timeline_and_transaction_id(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    token = (await sync(alice))["next_batch"]
    for i in range(15):
        await send_text(alice, room_id, f"m{i}", txn=f"txn{i}")
    resp = await sync(alice, token, filter=json.dumps({"room": {"timeline": {"limit": 5}}}))
    timeline = resp["rooms"]["join"][room_id]["timeline"]
    assert timeline["limited"] is True
    assert [e["content"]["body"] for e in timeline["events"]] == [f"m{i}" for i in range(10, 15)]
    assert timeline["events"][-1]["unsigned"]["transaction_id"] == "txn14"
    older = await alice.get(f"rooms/{room_id}/messages", params={"from": timeline["prev_batch"], "limit": "5"})
    assert [e["content"]["body"] for e in older.body["chunk"]] == [f"m{i}" for i in range(9, 4, -1)]


async def test_leave_appears_once_and_invites_from_ignored_users_do_not(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="public_chat")
    await bob.post(f"join/{room_id}")
    token = (await sync(bob))["next_batch"]
    await alice.post(f"rooms/{room_id}/kick", {"user_id": bob.user_id, "reason": "bye"})
    resp = await sync(bob, token)
    leave = resp["rooms"]["leave"][room_id]["timeline"]["events"]
    assert leave[-1]["content"]["membership"] == "leave" and leave[-1]["state_key"] == bob.user_id
    assert room_id not in (await sync(bob, resp["next_batch"]))["rooms"]["leave"]

    await bob.put(f"user/{bob.user_id}/account_data/m.ignored_user_list", {"ignored_users": {alice.user_id: {}}})
    other = await create_room(alice, invite=[bob.user_id])
    assert other not in (await sync(bob))["rooms"]["invite"]


async def test_account_data_and_to_device(server: TestServer) -> None:
    alice = await server.register("alice")
    other = await server.login("alice", alice.password)
    token = (await sync(alice))["next_batch"]
    await alice.put(f"user/{alice.user_id}/account_data/m.direct", {"@bob:test.local": ["!r:test.local"]})
    resp = await server.request("PUT", "sendToDevice/m.test/t1",
                                {"messages": {alice.user_id: {alice.device_id: {"hello": 1}}}},
                                token=other.body["access_token"])
    assert resp.status == 200
    got = await sync(alice, token)
    assert {"type": "m.direct", "content": {"@bob:test.local": ["!r:test.local"]}} in got["account_data"]["events"]
    assert got["to_device"]["events"] == [{"sender": alice.user_id, "type": "m.test", "content": {"hello": 1}}]
    # Not acknowledged yet: the same token gets the message again; the next one does not.
    again = await sync(alice, token)
    assert again["to_device"]["events"] == got["to_device"]["events"]
    after = await sync(alice, got["next_batch"])
    assert after["to_device"]["events"] == []


async def test_filters_and_bad_input(server: TestServer) -> None:
    alice = await server.register("alice")
    created = await alice.post(f"user/{alice.user_id}/filter", {"room": {"timeline": {"limit": 2}}})
    assert created.status == 200
    filter_id = created.body["filter_id"]
    assert (await alice.get(f"user/{alice.user_id}/filter/{filter_id}")).body == {"room": {"timeline": {"limit": 2}}}
    room_id = await create_room(alice)
    for i in range(4):
        await send_text(alice, room_id, f"x{i}")
    resp = await sync(alice, filter=filter_id)
    assert len(resp["rooms"]["join"][room_id]["timeline"]["events"]) == 2
    for params in ({"since": "garbage"}, {"filter": "999"}, {"filter": "{bad"}, {"timeout": "soon"},
                   {"set_presence": "dancing"}):
        bad = await alice.get("sync", params=params)
        assert bad.status in (400, 404), params
    assert (await alice.post(f"user/{alice.user_id}/filter", {"room": {"timeline": {"limit": "2"}}})).status == 400
    assert (await alice.post("user/@bob:test.local/filter", {})).status == 403


async def test_redactions_carry_redacts_at_the_top_level(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice, room_version="12")
    target = await send_text(alice, room_id, "oops")
    token = (await sync(alice))["next_batch"]
    resp = await alice.put(f"rooms/{room_id}/redact/{target}/r1", {"reason": "typo"})
    timeline = (await sync(alice, token))["rooms"]["join"][room_id]["timeline"]["events"]
    redaction = [e for e in timeline if e["type"] == "m.room.redaction"][0]
    assert redaction["event_id"] == resp.body["event_id"]
    assert redaction["redacts"] == target and redaction["content"]["redacts"] == target


async def test_shutdown_releases_parked_long_polls(start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server()
    alice = await server.register("alice")
    token = (await sync(alice))["next_batch"]
    parked = asyncio.create_task(sync(alice, token, timeout=30_000))
    await asyncio.sleep(0.3)
    started = asyncio.get_running_loop().time()
    await server.runner.cleanup()
    assert asyncio.get_running_loop().time() - started < 5
    assert (await parked)["rooms"]["join"] == {}


async def test_typing_and_presence_reach_the_other_side(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="public_chat")
    await bob.post(f"join/{room_id}")
    token = (await sync(bob))["next_batch"]
    waiting = asyncio.create_task(sync(bob, token, timeout=10_000))
    await asyncio.sleep(0.2)
    assert (await alice.put(f"rooms/{room_id}/typing/{alice.user_id}", {"typing": True, "timeout": 10_000})).status == 200
    woken = await asyncio.wait_for(waiting, 5)
    ephemeral = woken["rooms"]["join"][room_id]["ephemeral"]["events"]
    assert {"type": "m.typing", "content": {"user_ids": [alice.user_id]}} in ephemeral

    await alice.put(f"presence/{alice.user_id}/status", {"presence": "online", "status_msg": "at lunch"})
    later = await sync(bob, woken["next_batch"])
    mine = [e for e in later["presence"]["events"] if e["sender"] == alice.user_id]
    assert mine and mine[-1]["content"]["status_msg"] == "at lunch"
    quiet = await sync(bob, filter=json.dumps({"presence": {"types": []}}))
    assert quiet["presence"]["events"] == []


async def test_unread_counts_mentions_and_receipts_through_sync(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="trusted_private_chat", invite=[bob.user_id])
    await bob.post(f"join/{room_id}")
    await send_text(alice, room_id, "hello")
    mention = await bob.put(f"rooms/{room_id}/send/m.room.message/m1", {})  # bob's own: never counts
    assert mention.status == 200
    await send_text(alice, room_id, "anyone there?")
    last = await alice.put(f"rooms/{room_id}/send/m.room.message/m2", {
        "msgtype": "m.text", "body": "bob: look", "m.mentions": {"user_ids": [bob.user_id]}})
    first = await sync(bob)
    counts = first["rooms"]["join"][room_id]["unread_notifications"]
    assert counts == {"notification_count": 2, "highlight_count": 1}
    assert first["account_data"]["events"][0]["type"] == "m.push_rules" or any(
        e["type"] == "m.push_rules" for e in first["account_data"]["events"])

    assert (await bob.post(f"rooms/{room_id}/receipt/m.read/{last.body['event_id']}", {})).status == 200
    after = await sync(bob, first["next_batch"])
    room = after["rooms"]["join"][room_id]
    assert room["unread_notifications"] == {"notification_count": 0, "highlight_count": 0}
    receipt = [e for e in room["ephemeral"]["events"] if e["type"] == "m.receipt"][0]
    assert bob.user_id in receipt["content"][last.body["event_id"]]["m.read"]
    seen_by_alice = await sync(alice)
    assert any(e["type"] == "m.receipt" for e in seen_by_alice["rooms"]["join"][room_id].get("ephemeral", {}).get("events", []))


async def test_full_state_sends_the_whole_state_and_the_timeline_since(server: TestServer) -> None:
    """GET /sync full_state: "all state events will be returned, even if since is
    non-empty. The timeline will still be limited by the since parameter." """
    alice = await server.register("alice")
    room_id = await create_room(alice, preset="private_chat", name="Plans")
    quiet_room = await create_room(alice, preset="private_chat", name="Quiet")
    await send_text(alice, room_id, "old")
    token = (await sync(alice))["next_batch"]
    await send_text(alice, room_id, "new")
    body = await sync(alice, token, full_state="true")
    assert bodies(body, room_id) == ["new"]
    for room in (room_id, quiet_room):
        state = {(e["type"], e["state_key"]) for e in body["rooms"]["join"][room]["state"]["events"]}
        assert {("m.room.create", ""), ("m.room.name", ""), ("m.room.member", alice.user_id)} <= state, room
    assert bodies(body, quiet_room) == []
