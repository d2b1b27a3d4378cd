// matrix-js-sdk with its Rust crypto (initRustCrypto) runs an encrypted direct chat, as
// Element does: alice bootstraps cross-signing, secret storage and a key backup; she and
// bob talk in an encrypted DM and each decrypts the other; then alice logs in on a second
// device, which verifies itself from secret storage, restores the old room keys from the
// backup, reads the old messages, and reads bob's next message (bob's client learnt of
// the new device through /sync device_lists).
//
//   node tests/js/e2ee_conversation.mjs HOMESERVER_URL
//
// Prints one line of JSON (the summary) and exits 0; on any failure or timeout, prints
// what went wrong to stderr and exits 1.

import { randomBytes } from "node:crypto";

import { ClientEvent, EventType, MatrixEventEvent, MsgType, RoomEvent, RoomMemberEvent, createClient } from "matrix-js-sdk";

import { Harness, describe } from "./harness.mjs";

const PASSWORD = "correct horse battery";
const POLL_TIMEOUT_MS = 2_000;
const h = new Harness("e2ee_conversation", 90_000, 20_000);

const [baseUrlArg] = process.argv.slice(2);
if (!baseUrlArg) {
    process.stderr.write("usage: node e2ee_conversation.mjs HOMESERVER_URL\n");
    process.exit(2);
}
const baseUrl = baseUrlArg.replace(/\/+$/, "");

// The secret storage key alice creates; her second device is given it, as a user types it.
const recovery = { privateKey: null };
const cryptoCallbacks = {
    getSecretStorageKey: async ({ keys }) => {
        h.check(recovery.privateKey, "secret storage key asked for before it exists");
        return [Object.keys(keys)[0], recovery.privateKey];
    },
};

async function register(name) {
    const anon = createClient({ baseUrl, fetchFn: h.fetch });
    const username = `${name}-${randomBytes(3).toString("hex")}`;
    const body = await anon.registerRequest({
        username, password: PASSWORD, auth: { type: "m.login.dummy" }, initial_device_display_name: `${name}'s laptop`,
    });
    return { user_id: body.user_id, access_token: body.access_token, device_id: body.device_id, username };
}

async function login(username, deviceName) {
    const anon = createClient({ baseUrl, fetchFn: h.fetch });
    const body = await anon.loginRequest({
        type: "m.login.password", identifier: { type: "m.id.user", user: username }, password: PASSWORD,
        initial_device_display_name: deviceName,
    });
    return { user_id: body.user_id, access_token: body.access_token, device_id: body.device_id, username };
}

async function start(credentials) {
    const client = createClient({
        baseUrl, userId: credentials.user_id, accessToken: credentials.access_token, deviceId: credentials.device_id,
        fetchFn: h.fetch, timelineSupport: true, cryptoCallbacks,
    });
    h.clients.push(client);
    await client.initRustCrypto({ useIndexedDB: false });
    const ready = h.waitFor(client, ClientEvent.Sync, (state, _prev, data) => {
        if (state === "ERROR") h.fail(`${credentials.user_id}'s sync failed: ${describe(data?.error)}`);
        return state === "PREPARED";
    }, `${credentials.user_id}'s first sync`);
    await client.startClient({ initialSyncLimit: 20, pollTimeout: POLL_TIMEOUT_MS });
    await ready;
    return client;
}

/** Password UIA as Element asks for it: first without auth, then with the password. */
function passwordAuth(credentials) {
    return async (makeRequest) => {
        try {
            await makeRequest(null);
        } catch (err) {
            if (err.httpStatus !== 401) throw err;
            await makeRequest({
                type: "m.login.password", identifier: { type: "m.id.user", user: credentials.username },
                password: PASSWORD, session: err.data?.session,
            });
        }
    };
}

/** The decrypted body of an event once this client has decrypted it. */
async function decrypted(client, event, what) {
    if (event.isBeingDecrypted() || event.isDecryptionFailure() || event.getType() === EventType.RoomMessageEncrypted) {
        await h.waitFor(event, MatrixEventEvent.Decrypted,
            (ev) => !ev.isDecryptionFailure(), `${client.getUserId()} to decrypt ${what}`);
    }
    h.check(event.getWireType() === EventType.RoomMessageEncrypted, `${what} went over the wire as ${event.getWireType()}`);
    h.check(event.isEncrypted() && !event.isDecryptionFailure(), `${what} did not decrypt`);
    return event.getContent().body;
}

/** Send `body` from one client and read it, decrypted, on another's sync. */
async function say(from, to, roomId, body) {
    const arrived = h.waitFor(to, RoomEvent.Timeline,
        (event, room, toStart) => room?.roomId === roomId && !toStart && event.getSender() === from.getUserId()
            && event.getWireType() === EventType.RoomMessageEncrypted,
        `${from.getUserId()}'s encrypted message "${body}" on ${to.getUserId()}'s sync`);
    const { event_id: eventId } = await from.sendMessage(roomId, { msgtype: MsgType.Text, body });
    const [event] = await arrived;
    h.check(event.getId() === eventId, `got ${event.getId()}, sent ${eventId}`);
    return decrypted(to, event, `"${body}"`);
}

async function backupCount(client) {
    const info = await client.http.authedRequest("GET", "/room_keys/version");
    return info.count;
}

async function main() {
    h.step("register and start alice and bob with Rust crypto");
    const creds = { alice: await register("alice"), bob: await register("bob") };
    const [alice, bob] = await Promise.all([start(creds.alice), start(creds.bob)]);
    const aliceId = alice.getUserId();
    const bobId = bob.getUserId();

    h.step("alice bootstraps cross-signing, secret storage and a key backup");
    const aliceCrypto = alice.getCrypto();
    await aliceCrypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordAuth(creds.alice) });
    await aliceCrypto.bootstrapSecretStorage({
        setupNewSecretStorage: true,
        setupNewKeyBackup: true,
        createSecretStorageKey: async () => {
            const generated = await aliceCrypto.createRecoveryKeyFromPassphrase();
            recovery.privateKey = generated.privateKey;
            return generated;
        },
    });
    const status = await aliceCrypto.getCrossSigningStatus();
    h.check(status.publicKeysOnDevice && status.privateKeysInSecretStorage, `cross-signing: ${JSON.stringify(status)}`);
    const backupVersion = await h.until(() => aliceCrypto.getActiveSessionBackupVersion(), "alice's key backup to be active");
    const own = await aliceCrypto.getDeviceVerificationStatus(aliceId, alice.getDeviceId());
    h.check(own?.crossSigningVerified, "alice's first device is not cross-signed");

    h.step("alice creates an encrypted DM; bob joins");
    const invited = h.waitFor(bob, RoomEvent.MyMembership, (room, m) => m === "invite", "the invite");
    const { room_id: roomId } = await alice.createRoom({
        preset: "trusted_private_chat", is_direct: true, invite: [bobId],
        initial_state: [{ type: EventType.RoomEncryption, state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await invited;
    const aliceSeesJoin = h.waitFor(alice, RoomMemberEvent.Membership,
        (event, member) => event.getRoomId() === roomId && member.userId === bobId && member.membership === "join",
        "bob's join on alice's sync");
    await bob.joinRoom(roomId);
    await aliceSeesJoin;
    // The crypto layer takes in the room's m.room.encryption state from the join's sync.
    await h.until(() => bob.getCrypto().isEncryptionEnabledInRoom(roomId), "bob's client to see the room as encrypted");

    h.step("they talk; each decrypts the other");
    const received = { alice: [], bob: [] };
    received.bob.push(await say(alice, bob, roomId, "hello bob, this is secret"));
    received.alice.push(await say(bob, alice, roomId, "hi alice, secret too"));
    received.bob.push(await say(alice, bob, roomId, "see you on my phone"));

    h.step("alice's room keys reach the backup");
    const backedUp = await h.until(async () => ((await backupCount(alice)) >= 2 ? backupCount(alice) : 0),
        "two room keys in alice's backup");

    h.step("alice logs in on a second device, verifies it from secret storage and restores the backup");
    const creds2 = await login(creds.alice.username, "alice's phone");
    const bobSeesPhone = h.until(async () => {
        const devices = await bob.getCrypto().getUserDeviceInfo([aliceId]);
        return devices.get(aliceId)?.has(creds2.device_id);
    }, "alice's new device in bob's device list (device_lists.changed on bob's sync)");
    const phone = await start(creds2);
    const phoneCrypto = phone.getCrypto();
    // As Element does before offering "verify with your recovery key": fetch the own identity.
    h.check(await phoneCrypto.userHasCrossSigningKeys(aliceId, true), "the phone finds no cross-signing keys for alice");
    await phoneCrypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordAuth(creds2) });
    // Its signature comes back through /sync device_lists.changed and a /keys/query.
    await h.until(async () => (await phoneCrypto.getDeviceVerificationStatus(aliceId, creds2.device_id))
        ?.crossSigningVerified, "alice's phone to be verified by her self-signing key");
    await phoneCrypto.loadSessionBackupPrivateKeyFromSecretStorage();
    const restored = await phoneCrypto.restoreKeyBackup();
    h.check(restored.imported >= 2, `restored ${JSON.stringify(restored)} keys from the backup`);

    h.step("the phone reads the old messages with the restored keys");
    const oldOnPhone = await h.until(() => {
        const events = phone.getRoom(roomId)?.getLiveTimeline().getEvents()
            .filter((e) => e.getWireType() === EventType.RoomMessageEncrypted) ?? [];
        const bodies = events.map((e) => (e.isDecryptionFailure() ? null : e.getContent().body));
        return bodies.length >= 3 && bodies.every((b) => typeof b === "string") ? bodies : null;
    }, "the phone to decrypt the history");

    h.step("bob's client learns of the phone, and the phone decrypts bob's next message");
    await bobSeesPhone;
    const onPhone = await say(bob, phone, roomId, "welcome, phone");

    // The other side trusts what the server says about alice: the phone is signed by her self-signing key.
    const bobView = await bob.getCrypto().getDeviceVerificationStatus(aliceId, creds2.device_id);
    h.finish({
        room_id: roomId, alice: aliceId, bob: bobId, phone: creds2.device_id,
        received, old_on_phone: oldOnPhone, new_on_phone: onPhone,
        backup: { version: backupVersion, keys_backed_up: backedUp, restored },
        bob_sees_phone_signed: Boolean(bobView?.signedByOwner),
    });
}

main().catch((err) => h.fail(describe(err)));
