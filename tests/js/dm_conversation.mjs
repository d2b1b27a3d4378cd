// matrix-js-sdk runs a whole direct chat against a homeserver through its own sync loops:
// alice creates a DM inviting bob, bob sees the invite come down his /sync and joins,
// they talk both ways (each side waiting for the other's messages on its own sync), alice
// edits one message and redacts another, bob sees both, and the two timelines must agree.
//
//   node tests/js/dm_conversation.mjs HOMESERVER_URL [CREDENTIALS_JSON]
//
// Without CREDENTIALS_JSON the script registers two fresh users itself (registerRequest with
// m.login.dummy). CREDENTIALS_JSON is {"alice": {"user_id", "access_token", "device_id"},
// "bob": {...}}. Prints one line of JSON (the summary) and exits 0; on any failure or
// timeout, prints what went wrong to stderr and exits 1.

import { randomBytes } from "node:crypto";

import {
    ClientEvent,
    EventType,
    MsgType,
    RelationType,
    RoomEvent,
    RoomMemberEvent,
    createClient,
} from "matrix-js-sdk";

import { Harness, SDK_VERSION, TRACE, describe } from "./harness.mjs";

const TOTAL_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 10_000;
const POLL_TIMEOUT_MS = 2_000;
const PASSWORD = "correct horse battery";

const h = new Harness("dm_conversation", TOTAL_TIMEOUT_MS, STEP_TIMEOUT_MS);
const { clients } = h;
const fail = (message) => h.fail(message);
const step = (name) => h.step(name);
const check = (condition, message) => h.check(condition, message);
const recordingFetch = h.fetch;
const waitFor = (client, eventName, predicate, what) => h.waitFor(client, eventName, predicate, what);

/** A timeline event with this ID arriving live in this room, on this client's sync. */
function waitForTimelineEvent(client, roomId, eventId, what) {
    return waitFor(client, RoomEvent.Timeline,
        (event, room, toStartOfTimeline) => room?.roomId === roomId && !toStartOfTimeline && event.getId() === eventId,
        what);
}

async function register(name) {
    const anon = createClient({ baseUrl, fetchFn: recordingFetch });
    const username = `${name}-${randomBytes(3).toString("hex")}`;
    const body = await anon.registerRequest({
        username,
        password: PASSWORD,
        auth: { type: "m.login.dummy" },
        initial_device_display_name: `matrix-js-sdk ${name}`,
    });
    check(body.user_id && body.access_token && body.device_id, `register ${username}: ${JSON.stringify(body)}`);
    return { user_id: body.user_id, access_token: body.access_token, device_id: body.device_id };
}

async function start(credentials) {
    const client = createClient({
        baseUrl,
        userId: credentials.user_id,
        accessToken: credentials.access_token,
        deviceId: credentials.device_id,
        fetchFn: recordingFetch,
        timelineSupport: true,
    });
    clients.push(client);
    if (TRACE) {
        client.on(RoomEvent.Timeline, (event, room, toStart) => process.stderr.write(
            `[${credentials.user_id} timeline${toStart ? " (back)" : ""}] ${event.getType()} ${event.getId()} ` +
            `${JSON.stringify(event.getWireContent())}\n`));
    }
    const ready = waitFor(client, ClientEvent.Sync, (state, _prev, data) => {
        if (state === "ERROR") fail(`${credentials.user_id}'s sync failed: ${describe(data?.error)}`);
        return state === "PREPARED";
    }, "the first sync (PREPARED)");
    // A short long-poll: a parked /sync outlives the client that gave up on it (the server does
    // not notice the disconnect), and the server's shutdown waits for it; 2 s bounds that wait.
    await client.startClient({ initialSyncLimit: 10, pollTimeout: POLL_TIMEOUT_MS });
    await ready;
    client.on(ClientEvent.Sync, (state, _prev, data) => {
        if (state === "ERROR") fail(`${credentials.user_id}'s sync loop failed: ${describe(data?.error)}`);
    });
    return client;
}

/** Until every event in the room's live timeline came down this client's sync: a local
 * echo keeps a status ("sending", "sent") until its remote echo replaces it. */
function settled(client, roomId) {
    return new Promise((resolve) => {
        const deadline = Date.now() + STEP_TIMEOUT_MS;
        const poll = () => {
            const pending = client.getRoom(roomId).getLiveTimeline().getEvents().filter((e) => e.status !== null);
            if (pending.length === 0) return resolve();
            if (Date.now() > deadline) {
                fail(`${client.getUserId()}'s sync never echoed its own events: ` +
                    JSON.stringify(pending.map((e) => [e.getId(), e.getType(), e.status])));
            }
            setTimeout(poll, 20);
        };
        poll();
    });
}

function text(body) {
    return { msgtype: MsgType.Text, body };
}

/** One side's view of the room's messages: what a user would read, in order. */
function transcript(client, roomId) {
    const room = client.getRoom(roomId);
    const events = room.getLiveTimeline().getEvents().filter((e) => e.getType() === EventType.RoomMessage);
    return events
        .filter((e) => e.getWireContent()["m.relates_to"]?.rel_type !== RelationType.Replace) // shown as their original
        .map((e) => ({
            event_id: e.getId(),
            sender: e.getSender(),
            body: e.getContent().body ?? null,
            edited: Boolean(e.replacingEvent()),
            redacted: e.isRedacted(),
            status: e.status,
        }));
}

const [baseUrlArg, credentialsArg] = process.argv.slice(2);
if (!baseUrlArg) {
    process.stderr.write("usage: node dm_conversation.mjs HOMESERVER_URL [CREDENTIALS_JSON]\n");
    process.exit(2);
}
const baseUrl = baseUrlArg.replace(/\/+$/, "");

async function main() {
    step("register");
    const creds = credentialsArg ? JSON.parse(credentialsArg) : { alice: await register("alice"), bob: await register("bob") };

    step("start both clients");
    const [alice, bob] = await Promise.all([start(creds.alice), start(creds.bob)]);
    const aliceId = alice.getUserId();
    const bobId = bob.getUserId();

    step("alice creates the DM and bob sees the invite on his sync");
    const invited = waitFor(bob, RoomEvent.MyMembership,
        (room, membership) => membership === "invite", "the invite to the DM");
    const { room_id: roomId } = await alice.createRoom({
        preset: "trusted_private_chat",
        is_direct: true,
        invite: [bobId],
    });
    const [inviteRoom] = await invited;
    check(inviteRoom.roomId === roomId, `invited to ${inviteRoom.roomId}, expected ${roomId}`);
    check(inviteRoom.getDMInviter() === aliceId,
        `the invite should be a DM from ${aliceId} (is_direct on bob's member event); got inviter ${inviteRoom.getDMInviter()}`);
    // What Element does next: record the DM in m.direct account data, which comes back on sync.
    const directSeen = waitFor(alice, ClientEvent.AccountData,
        (event) => event.getType() === EventType.Direct && event.getContent()[bobId]?.includes(roomId),
        "m.direct account data on alice's sync");
    await alice.setAccountData(EventType.Direct, { [bobId]: [roomId] });
    await directSeen;

    step("bob joins; both see it on their syncs");
    const bobJoined = waitFor(bob, RoomEvent.MyMembership,
        (room, membership) => room.roomId === roomId && membership === "join", "bob's own join");
    const aliceSeesJoin = waitFor(alice, RoomMemberEvent.Membership,
        (event, member) => event.getRoomId() === roomId && member.userId === bobId && member.membership === "join",
        "bob's join on alice's sync");
    await bob.joinRoom(roomId);
    await Promise.all([bobJoined, aliceSeesJoin]);

    step("they talk, each waiting for the other's message on its own sync");
    const conversation = [
        [alice, bob, "hello bob"],
        [bob, alice, "hi alice"],
        [alice, bob, "how are you?"],
        [bob, alice, "fine, and you?"],
        [alice, bob, "oops, wrong chat"],
        [alice, bob, "great, thanks"],
        [bob, alice, "good to hear"],
    ];
    const sent = {};
    for (const [from, to, body] of conversation) {
        // The event ID is only known once the send returns; collect candidates until then.
        const arrivals = [];
        const collect = (event, room, toStart) => {
            if (room?.roomId === roomId && !toStart && event.getContent().body === body) arrivals.push(event.getId());
        };
        to.on(RoomEvent.Timeline, collect);
        const { event_id: eventId } = await from.sendMessage(roomId, text(body));
        to.off(RoomEvent.Timeline, collect);
        if (!arrivals.includes(eventId)) {
            await waitForTimelineEvent(to, roomId, eventId, `"${body}" from ${from.getUserId()}`);
        }
        sent[body] = eventId;
    }

    step("alice edits a message; bob sees the edit on his sync");
    const editContent = {
        ...text("* hello Bob!"),
        "m.new_content": text("hello Bob!"),
        "m.relates_to": { rel_type: RelationType.Replace, event_id: sent["hello bob"] },
    };
    const editArrived = waitFor(bob, RoomEvent.Timeline,
        (event, room) => room?.roomId === roomId && event.getRelation()?.rel_type === RelationType.Replace,
        "alice's edit");
    const { event_id: editId } = await alice.sendEvent(roomId, EventType.RoomMessage, editContent);
    const [editEvent] = await editArrived;
    check(editEvent.getId() === editId, `bob got edit ${editEvent.getId()}, alice sent ${editId}`);
    const original = bob.getRoom(roomId).findEventById(sent["hello bob"]);
    check(original, "bob's timeline lost the edited message");
    check(original.replacingEventId() === editId,
        `bob's copy of "hello bob" should be replaced by ${editId}, is ${original.replacingEventId()}`);
    check(original.getContent().body === "hello Bob!", `bob reads "${original.getContent().body}" after the edit`);

    step("alice redacts a message; bob sees the redaction on his sync");
    const redactionArrived = waitFor(bob, RoomEvent.Redaction,
        (event, room) => room?.roomId === roomId && event.getAssociatedId() === sent["oops, wrong chat"],
        "alice's redaction");
    // The SDK applies a redaction by its top-level `redacts` (rooms v1-10), which servers should
    // also serve for v11+ rooms, where the event itself carries it in `content` (spec: rooms/v11,
    // "Moving the redacts property of m.room.redaction events to a content property").
    waitFor(bob, RoomEvent.Timeline, (event, room) => {
        if (room?.roomId !== roomId || !event.isRedaction()) return false;
        check(event.event.redacts, `bob's sync served redaction ${event.getId()} without a top-level "redacts" ` +
            `(content: ${JSON.stringify(event.getWireContent())}); a server should add it over the ` +
            `client-server API in every room version, and matrix-js-sdk ${SDK_VERSION} needs it to apply the redaction`);
        return true;
    }, "alice's redaction event");
    const { event_id: redactionId } = await alice.redactEvent(roomId, sent["oops, wrong chat"], undefined,
        { reason: "wrong chat" });
    const [redaction] = await redactionArrived;
    check(redaction.getId() === redactionId, `bob got redaction ${redaction.getId()}, alice sent ${redactionId}`);
    const redacted = bob.getRoom(roomId).findEventById(sent["oops, wrong chat"]);
    check(redacted?.isRedacted(), "bob's copy of the redacted message is not redacted");
    check(Object.keys(redacted.getContent()).length === 0,
        `the redacted message keeps content ${JSON.stringify(redacted.getContent())}`);

    step("bob says bye; alice's sync has then caught up with everything");
    const byeArrived = waitFor(alice, RoomEvent.Timeline,
        (event, room, toStart) => room?.roomId === roomId && !toStart && event.getContent().body === "bye!",
        `"bye!" from bob`);
    const { event_id: byeId } = await bob.sendMessage(roomId, text("bye!"));
    const [bye] = await byeArrived;
    check(bye.getId() === byeId, `alice got "bye!" as ${bye.getId()}, bob sent ${byeId}`);
    sent["bye!"] = byeId;

    step("each side's own sends come back on its own sync (remote echoes)");
    await Promise.all([settled(alice, roomId), settled(bob, roomId)]);

    step("both timelines agree");
    const expected = [
        [aliceId, "hello Bob!", true, false],
        [bobId, "hi alice", false, false],
        [aliceId, "how are you?", false, false],
        [bobId, "fine, and you?", false, false],
        [aliceId, null, false, true],
        [aliceId, "great, thanks", false, false],
        [bobId, "good to hear", false, false],
        [bobId, "bye!", false, false],
    ];
    const views = { alice: transcript(alice, roomId), bob: transcript(bob, roomId) };
    for (const [who, view] of Object.entries(views)) {
        const got = view.map((m) => [m.sender, m.body, m.edited, m.redacted]);
        check(JSON.stringify(got) === JSON.stringify(expected),
            `${who}'s timeline reads ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
        const ids = view.map((m) => m.event_id);
        check(new Set(ids).size === ids.length, `${who}'s timeline has duplicates: ${JSON.stringify(ids)}`);
        check(view.every((m) => m.event_id.startsWith("$") && m.status === null),
            `${who}'s timeline still has local echoes: ${JSON.stringify(view)}`);
    }
    const received = (client, from) => views[client].filter((m) => m.sender === from && !m.redacted).map((m) => m.body);
    h.finish({
        room_id: roomId,
        alice: aliceId,
        bob: bobId,
        received: { alice: received("alice", bobId), bob: received("bob", aliceId) },
        edit: { event_id: editId, original: sent["hello bob"], seen_by_bob: true, body: original.getContent().body },
        redaction: { event_id: redactionId, redacts: sent["oops, wrong chat"], seen_by_bob: true },
        room_names: { alice: alice.getRoom(roomId).name, bob: bob.getRoom(roomId).name },
        timelines: views,
    });
}

main().catch((err) => fail(describe(err)));
