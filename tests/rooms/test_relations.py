"""Event relations over real HTTP: edits, threads, reactions and references, as clients
list them (/relations, /threads) and see them bundled on events (unsigned.m.relations)."""

from __future__ import annotations

import itertools
from typing import Any

from tests.helpers import Response, TestServer, User
from tests.rooms.test_rooms import create_room, send_text

V1 = "/_matrix/client/v1"
_txns = itertools.count()


async def send(user: User, room_id: str, content: dict[str, Any], event_type: str = "m.room.message") -> str:
    resp = await user.put(f"rooms/{room_id}/send/{event_type}/rel{next(_txns)}", content)
    assert resp.status == 200, resp
    return resp.body["event_id"]


async def edit(user: User, room_id: str, original: str, body: str) -> str:
    return await send(user, room_id, {
        "msgtype": "m.text", "body": f"* {body}", "m.new_content": {"msgtype": "m.text", "body": body},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    })


async def reply_in_thread(user: User, room_id: str, root: str, body: str) -> str:
    return await send(user, room_id, {
        "msgtype": "m.text", "body": body, "m.relates_to": {"rel_type": "m.thread", "event_id": root},
    })


async def react(user: User, room_id: str, target: str, key: str) -> str:
    return await send(user, room_id, {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}},
                      "m.reaction")


async def relations(user: User, room_id: str, event_id: str, *path: str, **params: str) -> Response:
    suffix = "".join(f"/{p}" for p in path)
    return await user.get(f"{V1}/rooms/{room_id}/relations/{event_id}{suffix}", params=params)


async def relation_ids(user: User, room_id: str, event_id: str, *path: str, **params: str) -> list[str]:
    resp = await relations(user, room_id, event_id, *path, **params)
    assert resp.status == 200, resp
    return [e["event_id"] for e in resp.body["chunk"]]


async def event(user: User, room_id: str, event_id: str) -> dict[str, Any]:
    resp = await user.get(f"rooms/{room_id}/event/{event_id}")
    assert resp.status == 200, resp
    return resp.body


def bundled(served: dict[str, Any]) -> dict[str, Any]:
    return served.get("unsigned", {}).get("m.relations", {})


async def in_messages(user: User, room_id: str, event_id: str) -> dict[str, Any]:
    page = await user.get(f"rooms/{room_id}/messages", params={"limit": "100"})
    assert page.status == 200, page
    return next(e for e in page.body["chunk"] if e["event_id"] == event_id)


async def public_room(alice: User, *others: User, visibility: str = "shared") -> str:
    room_id = await create_room(alice, preset="public_chat")
    resp = await alice.put(f"rooms/{room_id}/state/m.room.history_visibility", {"history_visibility": visibility})
    assert resp.status == 200
    for user in others:
        assert (await user.post(f"join/{room_id}")).status == 200
    return room_id


async def test_the_latest_valid_edit_is_bundled_and_the_original_content_is_kept(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await public_room(alice, bob)
    original = await send_text(alice, room_id, "I like cake")
    first = await edit(alice, room_id, original, "I like pie")
    server.hs.clock.advance(1000)
    latest = await edit(alice, room_id, original, "I like chocolate cake")
    server.hs.clock.advance(1000)
    # Sent later but none valid: another sender, another type, no m.new_content.
    await edit(bob, room_id, original, "alice likes nothing")
    await send(alice, room_id, {"body": "*", "m.new_content": {"body": "x"},
                                "m.relates_to": {"rel_type": "m.replace", "event_id": original}}, "org.example.other")
    await send(alice, room_id, {"msgtype": "m.text", "body": "* no new content",
                                "m.relates_to": {"rel_type": "m.replace", "event_id": original}})
    # An edit of an edit does not make the edit editable.
    await edit(alice, room_id, first, "edit of an edit")

    for served in [await event(bob, room_id, original), await in_messages(bob, room_id, original),
                   (await bob.get(f"rooms/{room_id}/context/{original}")).body["event"]]:
        assert served["content"]["body"] == "I like cake", "servers since v1.7 leave the content alone"
        replacement = bundled(served)["m.replace"]
        assert replacement["event_id"] == latest
        assert replacement["sender"] == alice.user_id
        assert replacement["content"]["m.new_content"]["body"] == "I like chocolate cake"
    assert "m.replace" not in bundled(await event(alice, room_id, first))

    # Redacting the latest edit reverts to the one before it.
    assert (await alice.put(f"rooms/{room_id}/redact/{latest}/r1", {})).status == 200
    assert bundled(await event(bob, room_id, original))["m.replace"]["event_id"] == first
    # Redacting the original drops the edits from its bundle.
    assert (await alice.put(f"rooms/{room_id}/redact/{original}/r2", {})).status == 200
    redacted = await event(bob, room_id, original)
    assert redacted["content"] == {} and "m.replace" not in bundled(redacted)


async def test_the_most_recent_edit_is_by_timestamp_then_event_id(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    original = await send_text(alice, room_id, "v0")
    server.hs.clock.advance(10_000)
    newest = await edit(alice, room_id, original, "stamped latest")
    server.hs.clock.advance(-5_000)
    await edit(alice, room_id, original, "sent later, stamped earlier")
    assert bundled(await event(alice, room_id, original))["m.replace"]["event_id"] == newest

    other = await send_text(alice, room_id, "w0")
    frozen = server.hs.clock.now_ms() + 60_000
    server.hs.clock.now_ms = lambda: frozen  # type: ignore[method-assign]
    same_time = [await edit(alice, room_id, other, f"tie {i}") for i in range(3)]
    assert bundled(await event(alice, room_id, other))["m.replace"]["event_id"] == max(same_time)


async def test_threads_are_listed_by_latest_activity_and_bundled(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await public_room(alice, bob)
    first = await send_text(alice, room_id, "first topic")
    second = await send_text(alice, room_id, "second topic")
    plain = await send_text(alice, room_id, "no thread here")
    await reply_in_thread(bob, room_id, first, "bob on first")
    await reply_in_thread(alice, room_id, second, "alice on second")
    latest_on_first = await reply_in_thread(bob, room_id, first, "bob again on first")

    threads = await bob.get(f"{V1}/rooms/{room_id}/threads")
    assert threads.status == 200, threads
    assert [e["event_id"] for e in threads.body["chunk"]] == [first, second]
    summary = bundled(threads.body["chunk"][0])["m.thread"]
    assert summary["count"] == 2
    assert summary["latest_event"]["event_id"] == latest_on_first
    assert summary["latest_event"]["content"]["body"] == "bob again on first"
    assert summary["current_user_participated"] is True
    assert bundled(threads.body["chunk"][1])["m.thread"]["current_user_participated"] is False
    assert bundled(await event(alice, room_id, first))["m.thread"]["current_user_participated"] is True, \
        "the root's sender takes part in its thread without replying"

    # New activity moves a thread to the top.
    await reply_in_thread(alice, room_id, second, "alice again")
    threads = await bob.get(f"{V1}/rooms/{room_id}/threads")
    assert [e["event_id"] for e in threads.body["chunk"]] == [second, first]
    participated = await bob.get(f"{V1}/rooms/{room_id}/threads", params={"include": "participated"})
    assert [e["event_id"] for e in participated.body["chunk"]] == [first]

    # One thread per page.
    page = await bob.get(f"{V1}/rooms/{room_id}/threads", params={"limit": "1"})
    assert [e["event_id"] for e in page.body["chunk"]] == [second]
    page = await bob.get(f"{V1}/rooms/{room_id}/threads", params={"limit": "1", "from": page.body["next_batch"]})
    assert [e["event_id"] for e in page.body["chunk"]] == [first]
    assert "next_batch" not in page.body

    # The latest thread event carries its own edit; the thread is unchanged by it.
    fixed = await edit(bob, room_id, latest_on_first, "bob, corrected")
    summary = bundled(await in_messages(alice, room_id, first))["m.thread"]
    assert summary["latest_event"]["event_id"] == latest_on_first
    assert bundled(summary["latest_event"])["m.replace"]["event_id"] == fixed
    assert summary["count"] == 2, "an edit of a thread event is not a thread event"
    assert bundled(await in_messages(alice, room_id, plain)) == {}
    thread = await relation_ids(alice, room_id, first, "m.thread")
    assert len(thread) == 2 and thread[0] == latest_on_first


async def test_reactions_are_listed_not_bundled_and_references_are_bundled(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await public_room(alice, bob)
    message = await send_text(alice, room_id, "lunch?")
    thumbs = await react(bob, room_id, message, "👍")
    party = await react(alice, room_id, message, "🎉")
    reference = await send(alice, room_id, {"body": "see above",
                                            "m.relates_to": {"rel_type": "m.reference", "event_id": message}})

    resp = await relations(bob, room_id, message, "m.annotation")
    assert resp.status == 200, resp
    assert [(e["event_id"], e["content"]["m.relates_to"]["key"]) for e in resp.body["chunk"]] == \
        [(party, "🎉"), (thumbs, "👍")], "most recent first"
    assert await relation_ids(bob, room_id, message, "m.annotation", "m.reaction") == [party, thumbs]
    assert await relation_ids(bob, room_id, message, "m.annotation", "m.room.message") == []
    assert await relation_ids(bob, room_id, message) == [reference, party, thumbs]
    assert await relation_ids(bob, room_id, message, "m.reference") == [reference]

    relations_of_message = bundled(await event(bob, room_id, message))
    assert relations_of_message == {"m.reference": {"chunk": [{"event_id": reference}]}}, \
        "annotations are not aggregated by servers (spec v1.7+)"

    # A redacted reaction is gone from the list.
    assert (await bob.put(f"rooms/{room_id}/redact/{thumbs}/r", {})).status == 200
    assert await relation_ids(bob, room_id, message, "m.annotation") == [party]


async def test_relations_page_both_ways_and_recurse(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    root = await send_text(alice, room_id, "root")
    replies = [await reply_in_thread(alice, room_id, root, f"reply {i}") for i in range(5)]

    pages, params = [], {"limit": "2"}
    while True:
        resp = await relations(alice, room_id, root, "m.thread", **params)
        assert resp.status == 200, resp
        pages.append([e["event_id"] for e in resp.body["chunk"]])
        assert ("prev_batch" in resp.body) == ("from" in params)
        if "next_batch" not in resp.body:
            break
        params = {"limit": "2", "from": resp.body["next_batch"]}
    assert pages == [replies[4:2:-1], replies[2:0:-1], replies[:1]]

    pages, params = [], {"limit": "2", "dir": "f"}
    while True:
        resp = await relations(alice, room_id, root, **params)
        pages.append([e["event_id"] for e in resp.body["chunk"]])
        if "next_batch" not in resp.body:
            break
        params = {"limit": "2", "dir": "f", "from": resp.body["next_batch"]}
    assert pages == [replies[0:2], replies[2:4], replies[4:]]

    first_page = await relations(alice, room_id, root, limit="2")
    up_to = await relation_ids(alice, room_id, root, to=first_page.body["next_batch"])
    assert up_to == [replies[4], replies[3]], "'to' stops where the first page stopped"

    # Children of children: a reaction on a thread reply, an edit of another.
    reaction = await react(alice, room_id, replies[0], "👀")
    fix = await edit(alice, room_id, replies[1], "reply 1, fixed")
    direct = await relations(alice, room_id, root)
    assert [e["event_id"] for e in direct.body["chunk"]] == replies[::-1]
    assert "recursion_depth" not in direct.body
    not_recursive = await relations(alice, room_id, root, recurse="false")
    assert not_recursive.body["recursion_depth"] == 1 and len(not_recursive.body["chunk"]) == 5
    deep = await relations(alice, room_id, root, recurse="true")
    assert deep.body["recursion_depth"] >= 3
    assert [e["event_id"] for e in deep.body["chunk"]] == [fix, reaction, *replies[::-1]]
    assert await relation_ids(alice, room_id, root, "m.annotation", recurse="true") == [reaction]
    assert await relation_ids(alice, room_id, root, "m.annotation") == []


async def test_relations_respect_history_visibility(server: TestServer) -> None:
    alice, bob, carol, dave = [await server.register(n) for n in ("alice", "bob", "carol", "dave")]
    room_id = await public_room(alice, bob, visibility="joined")
    root = await send_text(alice, room_id, "while bob is here")
    assert (await bob.post(f"rooms/{room_id}/leave")).status == 200
    hidden_reply = await reply_in_thread(alice, room_id, root, "said while bob was away")
    hidden_reaction = await react(alice, room_id, root, "🤫")
    assert (await bob.post(f"join/{room_id}")).status == 200
    seen_reply = await reply_in_thread(alice, room_id, root, "said after bob came back")

    assert await relation_ids(bob, room_id, root) == [seen_reply]
    assert set(await relation_ids(alice, room_id, root)) == {seen_reply, hidden_reply, hidden_reaction}
    summary = bundled(await event(bob, room_id, root))["m.thread"]
    assert (summary["count"], summary["latest_event"]["event_id"]) == (1, seen_reply)
    assert bundled(await event(alice, room_id, root))["m.thread"]["count"] == 2
    assert "said while bob was away" not in str(await bob.get(f"{V1}/rooms/{room_id}/threads"))

    # Carol joined after the root: she may not see it, so it has no relations for her.
    assert (await carol.post(f"join/{room_id}")).status == 200
    for user in (carol, dave):
        resp = await relations(user, room_id, root)
        assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND"), user.user_id
        assert "said" not in str(resp.body)
    assert (await carol.get(f"{V1}/rooms/{room_id}/threads")).body["chunk"] == []

    private = await create_room(alice, preset="private_chat")
    secret = await send_text(alice, private, "secret root")
    await reply_in_thread(alice, private, secret, "secret reply")
    resp = await dave.get(f"{V1}/rooms/{private}/threads")
    assert (resp.status, resp.errcode) == (403, "M_FORBIDDEN")
    assert (await relations(dave, private, secret)).status == 404


async def test_bad_input_and_malformed_relations(server: TestServer) -> None:
    alice = await server.register("alice")
    room_id = await create_room(alice)
    message = await send_text(alice, room_id, "target")

    for params in ({"dir": "x"}, {"limit": "abc"}, {"limit": "0"}, {"limit": "-1"}, {"from": "nonsense"},
                   {"to": "s"}, {"recurse": "maybe"}):
        resp = await relations(alice, room_id, message, **params)
        assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM"), params
    for params in ({"include": "mine"}, {"limit": "0"}, {"from": "x1"}):
        resp = await alice.get(f"{V1}/rooms/{room_id}/threads", params=params)
        assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM"), params

    other_room = await create_room(alice)
    for room, event_id in ((room_id, "$nope"), ("!nope:test.local", message), (other_room, message)):
        resp = await relations(alice, room, event_id)
        assert (resp.status, resp.errcode) == (404, "M_NOT_FOUND"), (room, event_id)

    # Relations of the wrong shape are simply not relations, never an error.
    malformed = [
        {"body": "a", "m.relates_to": "not an object"},
        {"body": "b", "m.relates_to": {"rel_type": "m.thread", "event_id": 5}},
        {"body": "c", "m.relates_to": {"rel_type": ["m.thread"], "event_id": message}},
        {"body": "d", "m.relates_to": {"event_id": message}},
        {"body": "e", "m.relates_to": {"rel_type": "m.replace", "event_id": message, "m.new_content": []}},
    ]
    sent = [await send(alice, room_id, content) for content in malformed]
    await send(alice, other_room, {"body": "elsewhere", "m.relates_to": {"rel_type": "m.thread", "event_id": message}})
    assert await relation_ids(alice, room_id, message) == [sent[-1]]
    assert bundled(await event(alice, room_id, message)) == {}, "an edit without m.new_content is no edit"
    for event_id in sent:
        assert bundled(await event(alice, room_id, event_id)) == {}
    page = await alice.get(f"rooms/{room_id}/messages", params={"limit": "50"})
    assert page.status == 200
    assert (await alice.get(f"{V1}/rooms/{room_id}/threads")).body == {"chunk": []}


async def test_a_duplicate_annotation_is_refused_until_the_first_is_redacted(server: TestServer) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    room_id = await public_room(alice, bob)
    message = await send_text(alice, room_id, "lunch?")
    content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": message, "key": "👍"}}
    first = await bob.put(f"rooms/{room_id}/send/m.reaction/t1", content)
    assert first.status == 200
    # A retry of the same transaction is answered with its event, not refused.
    assert (await bob.put(f"rooms/{room_id}/send/m.reaction/t1", content)).body == first.body
    again = await bob.put(f"rooms/{room_id}/send/m.reaction/t2", content)
    assert (again.status, again.errcode) == (400, "M_DUPLICATE_ANNOTATION")
    # Another key, another type or another sender is no duplicate.
    assert await react(bob, room_id, message, "🎉")
    assert await react(alice, room_id, message, "👍")
    assert (await bob.put(f"rooms/{room_id}/send/m.other/t3", content)).status == 200
    assert (await bob.put(f"rooms/{room_id}/redact/{first.body['event_id']}/r", {})).status == 200
    assert (await bob.put(f"rooms/{room_id}/send/m.reaction/t4", content)).status == 200
