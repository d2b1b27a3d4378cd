"""Unread counts and /notifications over real HTTP (spec: client-server-api "Receiving
notifications", "Listing Notifications"), and the cost of the send hook."""

from __future__ import annotations

from typing import Any

from homeserver.storage.push import Counts, unread_counts
from tests.helpers import TestServer
from tests.push.helpers import counts, create_room, dm, group, join, receipt, say, say_in_thread, unread


async def test_counts_rise_with_messages_and_mentions_and_reset_with_a_receipt(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    assert await counts(bob, room_id) == (0, 0), "joining and the room's set-up events do not count"
    for i in range(3):
        await say(alice, room_id, f"message {i}")
    assert await counts(bob, room_id) == (3, 0)
    assert await counts(alice, room_id) == (0, 0), "a user's own events never count"
    last = await say(alice, room_id, "look", **{"m.mentions": {"user_ids": [bob.user_id]}})
    assert await counts(bob, room_id) == (4, 1)

    await receipt(bob, room_id, last)
    assert await counts(bob, room_id) == (0, 0)
    await say(alice, room_id, "one more")
    assert await counts(bob, room_id) == (1, 0)


async def test_a_receipt_clears_only_up_to_its_event(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    first = await say(alice, room_id, "one")
    await say(alice, room_id, "two", **{"m.mentions": {"user_ids": [bob.user_id]}})
    await receipt(bob, room_id, first)
    assert await counts(bob, room_id) == (1, 1)


async def test_sending_a_message_marks_the_room_read(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    await say(alice, room_id, "are you there?")
    await say(alice, room_id, "hello?")
    assert await counts(bob, room_id) == (2, 0)
    await say(bob, room_id, "yes, sorry")
    assert await counts(bob, room_id) == (0, 0), "replying counts as having read"
    assert await counts(alice, room_id) == (1, 0)


async def test_private_receipt_clears_and_a_public_one_behind_it_does_not_rewind(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    a = await say(alice, room_id, "a")
    await say(alice, room_id, "b")
    c = await say(alice, room_id, "c")
    await receipt(bob, room_id, c, "m.read.private")
    assert await counts(bob, room_id) == (0, 0)
    await receipt(bob, room_id, a, "m.read")
    assert await counts(bob, room_id) == (0, 0)
    await say(alice, room_id, "d")
    assert await counts(bob, room_id) == (1, 0)


async def test_group_mentions_by_m_mentions_display_name_and_room(server: TestServer) -> None:
    alice, bob, carol, room_id = await group(server)
    resp = await bob.put(f"profile/{bob.user_id}/displayname", {"displayname": "Robert Tables"})
    assert resp.status == 200
    await say(alice, room_id, "hello all")
    assert await counts(bob, room_id) == (1, 0), "plain group messages notify (.m.rule.message)"
    await say(alice, room_id, "robert tables, are you there?")
    assert await counts(bob, room_id) == (2, 1), "a legacy client mentions by display name"
    assert await counts(carol, room_id) == (2, 0)
    await say(alice, room_id, "carol: lunch?")
    assert await counts(carol, room_id) == (3, 1), "and by user name"
    await say(alice, room_id, "robert tables again", **{"m.mentions": {}})
    assert await counts(bob, room_id) == (4, 1), "m.mentions turns body mentions off"
    await say(alice, room_id, "everyone!", **{"m.mentions": {"room": True}})
    assert await counts(bob, room_id) == (5, 2) and await counts(carol, room_id) == (5, 2)
    await say(bob, room_id, "@room me too", **{"m.mentions": {"room": True}})
    assert await counts(carol, room_id) == (6, 2), "bob lacks the power level to notify the room"


async def test_threads_count_apart_and_threaded_receipts_clear_their_thread(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    root = await say(alice, room_id, "thread root")
    await say_in_thread(alice, room_id, root, "in thread 1")
    last_in_thread = await say_in_thread(alice, room_id, root, "in thread 2")
    main = await say(alice, room_id, "main again")
    counted = await unread(bob, room_id)
    assert counted.main == Counts(2, 0)
    assert counted.threads == {root: Counts(2, 0)}
    assert counted.room == Counts(4, 0)
    assert counted.to_sync_json(threaded=True) == {
        "unread_notifications": {"notification_count": 2, "highlight_count": 0},
        "unread_thread_notifications": {root: {"notification_count": 2, "highlight_count": 0}},
    }
    assert counted.to_sync_json(threaded=False) == {
        "unread_notifications": {"notification_count": 4, "highlight_count": 0}
    }

    await receipt(bob, room_id, last_in_thread, thread_id=root)
    counted = await unread(bob, room_id)
    assert (counted.main, counted.threads) == (Counts(2, 0), {})
    await receipt(bob, room_id, root, thread_id="main")
    assert (await unread(bob, room_id)).main == Counts(1, 0)
    await say_in_thread(alice, room_id, root, "in thread 3")
    await receipt(bob, room_id, main)  # unthreaded: everything up to it, in every thread
    assert (await unread(bob, room_id)).room == Counts(1, 0)


async def test_relations_to_thread_messages_belong_to_the_thread(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    root = await say(bob, room_id, "root")
    in_thread = await say_in_thread(bob, room_id, root, "reply")
    resp = await alice.put(f"rooms/{room_id}/send/m.room.message/edit1", {
        "msgtype": "m.text", "body": "* x", "m.new_content": {"msgtype": "m.text", "body": "x"},
        "m.mentions": {"user_ids": [bob.user_id]},
        "m.relates_to": {"rel_type": "m.reference", "event_id": in_thread},
    })
    assert resp.status == 200
    assert (await unread(bob, room_id)).threads == {root: Counts(1, 1)}


async def test_unread_counts_for_many_rooms_in_one_call(server: TestServer) -> None:
    alice, bob, first = await dm(server)
    second = await create_room(alice, invite=[bob.user_id])
    await join(bob, second)
    await say(alice, first, "1")
    for _ in range(2):
        await say(alice, second, "2", **{"m.mentions": {"user_ids": [bob.user_id]}})
    result = await unread_counts(server.hs.db.pool, bob.user_id, [first, second, "!unknown:test.local"])
    assert result[first].room == Counts(1, 0)
    assert result[second].room == Counts(2, 2)
    assert result["!unknown:test.local"].room == Counts(0, 0)


async def test_redacted_messages_stop_counting(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    event_id = await say(alice, room_id, "oops", **{"m.mentions": {"user_ids": [bob.user_id]}})
    assert await counts(bob, room_id) == (1, 1)
    resp = await alice.put(f"rooms/{room_id}/redact/{event_id}/r1", {})
    assert resp.status == 200
    assert await counts(bob, room_id) == (0, 0)


async def test_invites_notify_the_invitee(server: TestServer) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    room_id = await create_room(alice, invite=[bob.user_id])
    assert await counts(bob, room_id) == (1, 0)


# --- /notifications -----------------------------------------------------------------------------


async def test_notifications_list_read_flags_highlight_filter_and_pages(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    first = await say(alice, room_id, "first")
    mention = await say(alice, room_id, "hey bob", **{"m.mentions": {"user_ids": [bob.user_id]}})
    await receipt(bob, room_id, mention)
    third = await say(alice, room_id, "third")

    page = await bob.get("notifications")
    assert page.status == 200
    listed = page.body["notifications"]
    assert [n["event"]["event_id"] for n in listed[:3]] == [third, mention, first]
    invite = listed[3]["event"]
    assert (invite["type"], invite["state_key"], len(listed)) == ("m.room.member", bob.user_id, 4)
    assert [n["read"] for n in listed] == [False, True, True, True]
    assert listed[0]["room_id"] == room_id and listed[0]["event"]["content"]["body"] == "third"
    assert listed[0]["actions"] == ["notify", {"set_tweak": "sound", "value": "default"}]
    assert isinstance(listed[0]["ts"], int) and "next_token" not in page.body

    highlights = await bob.get("notifications", params={"only": "highlight"})
    assert [n["event"]["event_id"] for n in highlights.body["notifications"]] == [mention]

    one = await bob.get("notifications", params={"limit": "1"})
    assert [n["event"]["event_id"] for n in one.body["notifications"]] == [third]
    more = await bob.get("notifications", params={"limit": "2", "from": one.body["next_token"]})
    assert [n["event"]["event_id"] for n in more.body["notifications"]] == [mention, first]
    assert (await alice.get("notifications")).body == {"notifications": []}

    for params in ({"from": "abc"}, {"limit": "-1"}, {"limit": "x"}, {"only": "everything"}):
        resp = await bob.get("notifications", params=params)
        assert (resp.status, resp.errcode) == (400, "M_INVALID_PARAM"), params


async def test_notifications_honour_visibility(server: TestServer) -> None:
    alice, bob, room_id = await dm(server)
    await say(alice, room_id, "you will not see this")
    assert await counts(bob, room_id) == (1, 0)
    resp = await bob.put(f"user/{bob.user_id}/account_data/m.ignored_user_list",
                         {"ignored_users": {alice.user_id: {}}})
    assert resp.status == 200
    listed = (await bob.get("notifications")).body["notifications"]
    assert [n["event"]["type"] for n in listed] == ["m.room.member"], "only the invite is left"
    assert await counts(bob, room_id) == (0, 0), "nor counted"
    await say(alice, room_id, "nor this", **{"m.mentions": {"user_ids": [bob.user_id]}})
    assert await counts(bob, room_id) == (0, 0), "an ignored user's messages do not notify"
    resp = await bob.put(f"user/{bob.user_id}/account_data/m.ignored_user_list", {"ignored_users": {}})
    assert await counts(bob, room_id) == (1, 0), "unignored, what came before counts again"


class CountingConnection:
    """A connection that counts the round trips made through it."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.round_trips = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._conn, name)
        if name in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
            self.round_trips += 1
        return attr


async def test_send_hook_cost(server: TestServer) -> None:
    """The push hook in persist_local stays cheap: two round trips for a message in a DM,
    whatever the rules. Its time is printed with ``-s`` (medians of interleaved sends)."""
    import time

    from homeserver.events.room_versions import get_room_version
    from homeserver.timeline import push as evaluate
    from homeserver.rooms.send import Draft, persist_local
    from homeserver.storage.events import send_context
    from homeserver.streams import Stream

    alice, bob, room_id = await dm(server)
    hs = server.hs
    original = evaluate.on_event
    trips: list[int] = []
    hook_times: list[float] = []

    async def counted(hs_: Any, conn: Any, *args: Any) -> Any:
        counting = CountingConnection(conn)
        started = time.perf_counter()
        result = await original(hs_, counting, *args)
        hook_times.append(time.perf_counter() - started)
        trips.append(counting.round_trips)
        return result

    async def nothing(*args: Any) -> Any:
        return "main", evaluate.Outcome([], [])

    async def send(i: int) -> float:
        async with hs.room_locks.hold(room_id), hs.feed.writing(Stream.EVENTS) as writer, \
                hs.db.transaction() as conn:
            context = await send_context(conn, room_id, alice.user_id, None, None, None)
            assert context is not None
            version = get_room_version(context.room_version)
            started = time.perf_counter()
            await persist_local(hs, conn, writer, version, room_id, alice.user_id,
                                Draft("m.room.message", {"msgtype": "m.text", "body": f"m{i}"}),
                                context.extremities)
            return time.perf_counter() - started

    with_hook: list[float] = []
    without_hook: list[float] = []
    try:
        for i in range(400):
            evaluate.on_event = counted if i % 2 else nothing  # type: ignore[assignment]
            (with_hook if i % 2 else without_hook).append(await send(i))
    finally:
        evaluate.on_event = original  # type: ignore[assignment]

    def median_ms(samples: list[float]) -> float:
        return sorted(samples)[len(samples) // 2] * 1000

    print(f"\npersist_local median: {median_ms(with_hook):.3f} ms with the push hook, "
          f"{median_ms(without_hook):.3f} ms without; the hook alone: {median_ms(hook_times):.3f} ms")
    assert set(trips) == {2}, "one query for the recipients, one insert of their push actions"
    assert await counts(bob, room_id) == (200, 0)
