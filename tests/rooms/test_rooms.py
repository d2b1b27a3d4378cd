"""Rooms over real HTTP: a DM and a group chat from creation to history."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import TestServer, User


async def create_room(user: User, **body: object) -> str:
    resp = await user.post("createRoom", body)
    assert resp.status == 200, resp
    return resp.body["room_id"]


async def send_text(user: User, room_id: str, body: str, txn: str | None = None) -> str:
    txn = txn or f"t{hash((room_id, body)) & 0xffffff}"
    resp = await user.put(f"rooms/{room_id}/send/m.room.message/{txn}", {"msgtype": "m.text", "body": body})
    assert resp.status == 200, resp
    return resp.body["event_id"]


@pytest.mark.parametrize("version", ["10", "11", "12"])
async def test_direct_chat_from_creation_to_history(server: TestServer, version: str) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    room_id = await create_room(alice, preset="trusted_private_chat", is_direct=True, invite=[bob.user_id],
                                room_version=version, name="Alice and Bob")
    assert room_id.startswith("!")

    early = await send_text(alice, room_id, "hello before you joined")
    assert (await bob.post(f"join/{room_id}")).body == {"room_id": room_id}
    hi = await send_text(bob, room_id, "hi alice")

    for user in (alice, bob):
        joined = await user.get("joined_rooms")
        assert joined.body["joined_rooms"] == [room_id]

    page = await bob.get(f"rooms/{room_id}/messages", params={"dir": "b", "limit": "50"})
    assert page.status == 200
    bodies = [e["content"].get("body") for e in page.body["chunk"] if e["type"] == "m.room.message"]
    assert bodies == ["hi alice", "hello before you joined"], "shared history shows what came before the join"
    types = [e["type"] for e in reversed(page.body["chunk"])]
    assert types[0] == "m.room.create"

    event = await bob.get(f"rooms/{room_id}/event/{early}")
    assert event.body["content"]["body"] == "hello before you joined" and event.body["sender"] == alice.user_id
    name = await bob.get(f"rooms/{room_id}/state/m.room.name")
    assert name.body == {"name": "Alice and Bob"}
    members = await alice.get(f"rooms/{room_id}/joined_members")
    assert set(members.body["joined"]) == {alice.user_id, bob.user_id}
    assert hi


async def test_txn_id_is_idempotent_per_device(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    first = await send_text(alice, room_id, "once", txn="same")
    again = await send_text(alice, room_id, "once", txn="same")
    assert first == again
    other_device = await server.login("alice", alice.password)
    token = other_device.body["access_token"]
    resp = await server.request("PUT", f"rooms/{room_id}/send/m.room.message/same",
                                {"msgtype": "m.text", "body": "once"}, token=token)
    assert resp.body["event_id"] != first
    page = await alice.get(f"rooms/{room_id}/messages", params={"limit": "100"})
    assert [e["content"].get("body") for e in page.body["chunk"]].count("once") == 2


async def test_txn_id_is_scoped_to_the_endpoint(server: TestServer) -> None:
    """A txnId reused on another path (another room, event type or redacted event) is a
    new request (spec: "Transaction identifiers"); only the same path is a retransmission."""
    alice = await server.register("alice")
    room_a, room_b = await create_room(alice), await create_room(alice)
    in_a = await send_text(alice, room_a, "in A", txn="t1")
    in_b = await send_text(alice, room_b, "in B", txn="t1")
    assert in_b != in_a
    reaction = await alice.put(f"rooms/{room_b}/send/m.reaction/t1",
                               {"m.relates_to": {"rel_type": "m.annotation", "event_id": in_b, "key": "+1"}})
    assert reaction.status == 200 and reaction.body["event_id"] not in (in_a, in_b)
    assert await send_text(alice, room_b, "in B", txn="t1") == in_b, "the same path is a retransmission"
    redactions = [await alice.put(f"rooms/{room}/redact/{event}/t1", {}) for room, event in ((room_a, in_a), (room_b, in_b))]
    assert [r.status for r in redactions] == [200, 200] and redactions[0].body != redactions[1].body
    again = await alice.put(f"rooms/{room_a}/redact/{in_a}/t1", {})
    assert again.body == redactions[0].body
    page = await alice.get(f"rooms/{room_b}/messages", params={"dir": "b", "limit": "50"})
    assert [e["type"] for e in page.body["chunk"]].count("m.room.message") == 1
    synced = await alice.get("sync")
    timeline = synced.body["rooms"]["join"][room_b]["timeline"]["events"]
    assert {e["unsigned"].get("transaction_id") for e in timeline if e["sender"] == alice.user_id
            and e["type"] in ("m.room.message", "m.reaction", "m.room.redaction")} == {"t1"}


async def test_outsiders_cannot_send_or_read(server: TestServer) -> None:
    alice = await server.register("alice")
    eve = await server.register("eve")
    room_id = await create_room(alice, preset="private_chat")
    secret = await send_text(alice, room_id, "secret")
    resp = await eve.put(f"rooms/{room_id}/send/m.room.message/x", {"msgtype": "m.text", "body": "let me in"})
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
    for path in [f"rooms/{room_id}/messages", f"rooms/{room_id}/event/{secret}", f"rooms/{room_id}/state",
                 f"rooms/{room_id}/members", f"rooms/{room_id}/context/{secret}"]:
        resp = await eve.get(path)
        assert resp.status in (403, 404), path
        assert "secret" not in str(resp.body), path
    resp = await eve.post(f"join/{room_id}")
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")


async def test_edit_redact_and_bad_input(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    original = await send_text(alice, room_id, "typo")
    resp = await alice.put(f"rooms/{room_id}/redact/{original}/r1", {"reason": "oops"})
    assert resp.status == 200
    redacted = await alice.get(f"rooms/{room_id}/event/{original}")
    assert redacted.body["content"] == {}
    assert redacted.body["unsigned"]["redacted_because"]["content"]["reason"] == "oops"

    resp = await alice.put(f"rooms/{room_id}/state/m.room.member/{alice.user_id}", {"displayname": "no membership"})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")
    resp = await alice.put(f"rooms/{room_id}/state/m.room.power_levels", {"users_default": "10"})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")
    resp = await alice.put(f"rooms/{room_id}/send/m.room.message/big", {"body": "x" * 70_000})
    assert (resp.status, resp.errcode) == (413, "M_TOO_LARGE")
    resp = await alice.put("rooms/!nope:test.local/send/m.room.message/x", {"body": "hi"})
    assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND")
    resp = await alice.put(f"rooms/{room_id}/send/m.room.message/x", data=b"[1]",
                           headers={"Content-Type": "application/json"})
    assert (resp.status, resp.errcode) == (400, "M_BAD_JSON")


async def test_invite_kick_ban_unban_knock_and_forget(server: TestServer) -> None:
    alice, bob, carol = await server.register("alice"), await server.register("bob"), await server.register("carol")
    room_id = await create_room(alice, preset="private_chat")
    assert (await bob.post(f"join/{room_id}")).errcode == "M_FORBIDDEN", "invite-only"
    assert (await alice.post(f"rooms/{room_id}/invite", {"user_id": bob.user_id})).status == 200
    assert (await alice.post(f"rooms/{room_id}/invite", {"user_id": "@ghost:test.local"})).status == 404
    assert (await bob.post(f"rooms/{room_id}/join")).status == 200
    assert (await bob.post(f"rooms/{room_id}/kick", {"user_id": alice.user_id})).errcode == "M_FORBIDDEN"
    assert (await alice.post(f"rooms/{room_id}/kick", {"user_id": bob.user_id, "reason": "bye"})).status == 200
    assert (await bob.get("joined_rooms")).body["joined_rooms"] == []
    assert (await alice.post(f"rooms/{room_id}/ban", {"user_id": bob.user_id})).status == 200
    assert (await alice.post(f"rooms/{room_id}/invite", {"user_id": bob.user_id})).status == 403
    assert (await alice.post(f"rooms/{room_id}/unban", {"user_id": bob.user_id})).status == 200

    await alice.put(f"rooms/{room_id}/state/m.room.join_rules", {"join_rule": "knock"})
    assert (await carol.post(f"knock/{room_id}", {"reason": "let me in"})).status == 200
    members = await alice.get(f"rooms/{room_id}/members", params={"membership": "knock"})
    assert [e["state_key"] for e in members.body["chunk"]] == [carol.user_id]

    assert (await alice.post(f"rooms/{room_id}/forget")).status == 400, "leave before forgetting"
    assert (await alice.post(f"rooms/{room_id}/leave")).status == 200
    assert (await alice.post(f"rooms/{room_id}/forget")).status == 200
    for body in ({}, {"user_id": 5}, {"user_id": "not-a-user"}):
        resp = await alice.post(f"rooms/{room_id}/kick", body)
        assert resp.status == 400, body


async def test_profile_changes_reach_the_rooms(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    assert (await alice.put(f"profile/{alice.user_id}/displayname", {"displayname": "Alice A."})).status == 200
    member = await alice.get(f"rooms/{room_id}/state/m.room.member/{alice.user_id}")
    assert member.body == {"membership": "join", "displayname": "Alice A."}
    members = await alice.get(f"rooms/{room_id}/joined_members")
    assert members.body["joined"][alice.user_id] == {"display_name": "Alice A."}


async def test_sends_are_rate_limited_per_user(start_server: Any) -> None:
    server = await start_server({"rate_limits": {"enabled": True, "messages": {"per_second": 0.5, "burst": 2}}})
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await create_room(alice, preset="public_chat")
    await send_text(alice, room_id, "one", "t1")
    await send_text(alice, room_id, "two", "t2")
    resp = await alice.put(f"rooms/{room_id}/send/m.room.message/t3", {"msgtype": "m.text", "body": "three"})
    assert (resp.status, resp.errcode) == (429, "M_LIMIT_EXCEEDED")
    assert 0 < resp.body["retry_after_ms"] <= 2000
    assert (await bob.post(f"join/{room_id}")).status == 200, "joins are not sends"
    await send_text(bob, room_id, "bob has his own bucket", "b1")
    messages = (await alice.get(f"rooms/{room_id}/messages", params={"dir": "b"})).body["chunk"]
    assert [e["content"]["body"] for e in messages if e["type"] == "m.room.message"] == [
        "bob has his own bucket", "two", "one"]
