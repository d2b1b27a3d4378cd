// Everything the screens show, kept up to date by a /sync long-poll loop that reconnects
// with backoff; and the actions that change it (send, edit, react, read, ...).

import { enc, MatrixError, NetworkError } from "./api.js";
import { relation, Room } from "./room.js";

const FILTER = {
  room: {
    state: { lazy_load_members: true },
    timeline: { limit: 20, lazy_load_members: true },
  },
};
const POLL_TIMEOUT_MS = 30000;
const MAX_BACKOFF_MS = 30000;

export function localpart(userId) {
  return (userId || "").replace(/^@/, "").split(":")[0];
}

export class Store {
  constructor(api) {
    this.api = api;
    this.userId = api.session.user_id;
    this.rooms = new Map();
    this.accountData = new Map();
    this.presence = new Map(); // user_id -> presence content
    this.profiles = new Map(); // user_id -> {displayname, avatar_url}, from search and /profile
    this.sanitized = new Map(); // formatted_body -> its sanitised DocumentFragment
    this.status = "connecting"; // connecting | online | reconnecting | offline
    this.synced = false;
    this.since = null;
    this.listeners = new Set();
    this.messageListeners = new Set();
    this.txnCounter = 0;
    this.running = false;
    this.wake = null;
    this.pendingEmit = false;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // New messages from others, after the first sync: for the live region.
  onMessage(fn) {
    this.messageListeners.add(fn);
    return () => this.messageListeners.delete(fn);
  }

  emit() {
    if (this.pendingEmit) return;
    this.pendingEmit = true;
    queueMicrotask(() => {
      this.pendingEmit = false;
      for (const fn of this.listeners) fn();
    });
  }

  setStatus(status) {
    if (this.status !== status) {
      this.status = status;
      this.emit();
    }
  }

  // ---- the sync loop -------------------------------------------------------------

  start() {
    this.running = true;
    // Back online: a long-poll begun before the network went away may hang until its
    // timeout, so it is dropped and a new one starts at once (as does a backoff wait).
    this.onOnline = () => {
      this.poll?.abort();
      if (this.wake) this.wake();
    };
    this.onOffline = () => this.setStatus("offline");
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.loop();
  }

  stop() {
    this.running = false;
    this.poll?.abort();
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
  }

  async loop() {
    let backoff = 1000;
    // After a failure the first sync returns at once (timeout 0), so the connection
    // banner goes as soon as the server answers, not when a long-poll ends.
    let catchUp = true;
    while (this.running) {
      this.poll = new AbortController();
      try {
        const response = await this.api.get("sync", {
          filter: FILTER, since: this.since || undefined, timeout: catchUp ? 0 : POLL_TIMEOUT_MS,
        }, { signal: this.poll.signal });
        this.applySync(response);
        backoff = 1000;
        catchUp = false;
        this.setStatus("online");
      } catch (e) {
        if (!this.running) return;
        catchUp = true;
        if (e.name === "AbortError") continue;
        if (e instanceof MatrixError && e.status === 401) return; // the session ended
        this.setStatus(navigator.onLine === false ? "offline" : "reconnecting");
        this.lastError = e instanceof NetworkError ? "Cannot reach the server" : e.message;
        await new Promise((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, backoff);
        });
        this.wake = null;
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  room(roomId) {
    if (!this.rooms.has(roomId)) this.rooms.set(roomId, new Room(roomId));
    return this.rooms.get(roomId);
  }

  applySync(response) {
    const first = !this.synced;
    for (const event of response.account_data?.events || []) this.accountData.set(event.type, event.content);
    for (const event of response.presence?.events || []) {
      if (event.type === "m.presence") this.presence.set(event.sender, event.content);
    }
    const joined = response.rooms?.join || {};
    const fresh = [];
    for (const [roomId, data] of Object.entries(joined)) fresh.push(...this.applyJoined(roomId, data));
    for (const [roomId, data] of Object.entries(response.rooms?.invite || {})) {
      const room = this.room(roomId);
      room.membership = "invite";
      for (const event of data.invite_state?.events || []) if (event.state_key !== undefined) room.setState(event);
    }
    for (const roomId of Object.keys(response.rooms?.leave || {})) {
      const room = this.rooms.get(roomId);
      if (room) room.membership = "leave";
    }
    this.since = response.next_batch;
    this.synced = true;
    this.emit();
    if (!first) for (const [room, event] of fresh) for (const fn of this.messageListeners) fn(room, event);
  }

  applyJoined(roomId, data) {
    const room = this.room(roomId);
    room.membership = "join";
    for (const event of data.state?.events || []) room.setState(event);
    const added = room.addSyncTimeline(data.timeline || {});
    if (data.summary) room.summary = { ...room.summary, ...data.summary };
    if (data.unread_notifications) room.unread = { notification_count: 0, highlight_count: 0, ...data.unread_notifications };
    for (const event of data.ephemeral?.events || []) {
      if (event.type === "m.typing") room.typing = event.content.user_ids || [];
      if (event.type === "m.receipt") room.setReceipts(event.content);
    }
    return added
      .filter((e) => e.type === "m.room.message" && e.sender !== this.userId && relation(e)?.rel_type !== "m.replace")
      .map((e) => [room, e]);
  }

  // ---- names, avatars, lists -----------------------------------------------------

  // A member event without a name (an invite often has none) falls back to the
  // global profile, fetched once per user.
  displayName(userId, room) {
    const member = room?.member(userId);
    if (member?.displayname) return member.displayname;
    if (!this.profiles.has(userId)) this.profile(userId);
    return this.profiles.get(userId)?.displayname || localpart(userId);
  }

  avatarUrl(userId, room) {
    const member = room?.member(userId);
    if (member?.avatar_url) return member.avatar_url;
    if (!this.profiles.has(userId)) this.profile(userId);
    return this.profiles.get(userId)?.avatar_url || null;
  }

  directRooms() {
    const direct = this.accountData.get("m.direct") || {};
    const ids = new Map();
    for (const [userId, roomIds] of Object.entries(direct)) {
      for (const roomId of Array.isArray(roomIds) ? roomIds : []) ids.set(roomId, userId);
    }
    return ids;
  }

  // The other person in a direct chat, or null for a group.
  dmPartner(room) {
    const fromAccountData = this.directRooms().get(room.roomId);
    if (fromAccountData) return fromAccountData;
    const mine = room.member(this.userId);
    if (mine?.is_direct) return room.stateEvent("m.room.member", this.userId)?.sender || null;
    return null;
  }

  // Spec: client-server-api "Calculating the display name for a room".
  roomName(room) {
    const name = room.stateEvent("m.room.name")?.content?.name;
    if (name) return name;
    const alias = room.stateEvent("m.room.canonical_alias")?.content?.alias;
    if (alias) return alias;
    const partner = this.dmPartner(room);
    if (partner && partner !== this.userId) return this.displayName(partner, room);
    let heroes = (room.summary["m.heroes"] || []).filter((u) => u !== this.userId);
    if (!heroes.length) {
      heroes = [...room.members("join"), ...room.members("invite")].filter((u) => u !== this.userId);
    }
    if (!heroes.length) return "Empty room";
    return heroes.slice(0, 3).map((u) => this.displayName(u, room)).join(", ");
  }

  roomAvatar(room) {
    const url = room.stateEvent("m.room.avatar")?.content?.url;
    if (url) return url;
    const partner = this.dmPartner(room);
    return partner ? this.avatarUrl(partner, room) : null;
  }

  ignoredUsers() {
    return Object.keys(this.accountData.get("m.ignored_user_list")?.ignored_users || {});
  }

  sortedRooms() {
    const rooms = [...this.rooms.values()].filter((r) => r.membership === "join" || r.membership === "invite");
    return rooms.sort((a, b) => {
      if ((a.membership === "invite") !== (b.membership === "invite")) return a.membership === "invite" ? -1 : 1;
      return b.lastActivity() - a.lastActivity();
    });
  }

  // ---- actions -------------------------------------------------------------------

  txnId() {
    this.txnCounter += 1;
    return `web.${Date.now()}.${this.txnCounter}`;
  }

  // Local echo at once; the real event replaces it when /sync brings it back.
  send(roomId, content, type = "m.room.message") {
    const room = this.room(roomId);
    const txnId = this.txnId();
    const echo = {
      event_id: `~${txnId}`, txnId, pending: true, status: "sending", type, content,
      sender: this.userId, origin_server_ts: Date.now(), unsigned: { transaction_id: txnId },
    };
    room.addEcho(echo);
    this.emit();
    this.putEvent(roomId, type, txnId, content, echo);
    return echo;
  }

  putEvent(roomId, type, txnId, content, echo) {
    echo.status = "sending";
    this.api.put(`rooms/${enc(roomId)}/send/${enc(type)}/${enc(txnId)}`, content).then(
      ({ event_id: eventId }) => {
        echo.sentId = eventId;
        echo.status = "sent";
        this.emit();
      },
      (e) => {
        echo.status = "failed";
        echo.error = e.message;
        this.emit();
      },
    );
  }

  retry(roomId, echo) {
    this.putEvent(roomId, echo.type, echo.txnId, echo.content, echo);
    this.emit();
  }

  sendText(roomId, text, replyTo) {
    const content = { msgtype: "m.text", body: text };
    if (replyTo) content["m.relates_to"] = { "m.in_reply_to": { event_id: replyTo.event_id } };
    return this.send(roomId, content);
  }

  edit(roomId, event, text) {
    return this.send(roomId, {
      msgtype: "m.text", body: `* ${text}`,
      "m.new_content": { msgtype: "m.text", body: text },
      "m.relates_to": { rel_type: "m.replace", event_id: event.sentId || event.event_id },
    });
  }

  redact(roomId, eventId, reason) {
    return this.api.put(`rooms/${enc(roomId)}/redact/${enc(eventId)}/${enc(this.txnId())}`, reason ? { reason } : {});
  }

  toggleReaction(roomId, event, key) {
    const mine = this.room(roomId).reactions.get(event.event_id)?.get(key)?.get(this.userId);
    if (mine) return this.redact(roomId, mine);
    return this.send(roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: event.event_id, key } }, "m.reaction");
  }

  // Moves both the read receipt and the fully-read marker to the room's newest event.
  async markRead(room) {
    const last = [...room.events].reverse().find((e) => !e.pending);
    if (!last || (room.receipts.get(this.userId)?.eventId === last.event_id && !room.unread.notification_count)) return;
    room.receipts.set(this.userId, { eventId: last.event_id, ts: Date.now() });
    room.unread = { notification_count: 0, highlight_count: 0 };
    this.emit();
    await this.api.post(`rooms/${enc(room.roomId)}/read_markers`, { "m.fully_read": last.event_id, "m.read": last.event_id });
  }

  // Older events, 30 at a time. After a failure only an explicit request (the "Load
  // older messages" button) tries again, so a broken /messages is not hammered.
  async loadHistory(room, explicit = false) {
    if (room.atStart || room.loadingHistory || !room.prevBatch || (room.historyError && !explicit)) {
      if (!room.prevBatch) room.atStart = true;
      return;
    }
    room.loadingHistory = true;
    room.historyError = null;
    this.emit();
    try {
      const response = await this.api.get(`rooms/${enc(room.roomId)}/messages`, {
        dir: "b", from: room.prevBatch, limit: 30, filter: { lazy_load_members: true },
      });
      for (const event of response.state || []) if (!room.member(event.state_key)) room.setState(event);
      room.addHistory(response.chunk || [], response.end);
    } catch (e) {
      room.historyError = e.message || "Could not load older messages";
      throw e;
    } finally {
      room.loadingHistory = false;
      this.emit();
    }
  }

  async searchUsers(term) {
    const { results } = await this.api.post("user_directory/search", { search_term: term, limit: 20 });
    for (const user of results) this.profiles.set(user.user_id, { displayname: user.display_name, avatar_url: user.avatar_url });
    return results;
  }

  // Reopens a direct chat with userId if one is joined, else creates one (and records it
  // in m.direct, as the spec's "Direct Messaging" module asks).
  async openDirect(userId) {
    for (const [roomId, partner] of this.directRooms()) {
      const room = this.rooms.get(roomId);
      if (partner === userId && room && room.membership === "join") return roomId;
    }
    const { room_id: roomId } = await this.api.post("createRoom", {
      preset: "trusted_private_chat", is_direct: true, invite: [userId],
    });
    await this.addDirect(userId, roomId);
    return roomId;
  }

  async addDirect(userId, roomId) {
    const direct = { ...(this.accountData.get("m.direct") || {}) };
    direct[userId] = [...new Set([...(direct[userId] || []), roomId])];
    this.accountData.set("m.direct", direct);
    await this.api.put(`user/${enc(this.userId)}/account_data/m.direct`, direct);
  }

  async join(room) {
    const inviter = room.stateEvent("m.room.member", this.userId);
    await this.api.post(`join/${enc(room.roomId)}`, {});
    if (inviter?.content?.is_direct) await this.addDirect(inviter.sender, room.roomId);
  }

  async leave(roomId) {
    await this.api.post(`rooms/${enc(roomId)}/leave`, {});
    const room = this.rooms.get(roomId);
    if (room) room.membership = "leave";
    this.emit();
  }

  async setIgnored(userId, ignored) {
    const users = { ...(this.accountData.get("m.ignored_user_list")?.ignored_users || {}) };
    if (ignored) users[userId] = {};
    else delete users[userId];
    const content = { ignored_users: users };
    await this.api.put(`user/${enc(this.userId)}/account_data/m.ignored_user_list`, content);
    this.accountData.set("m.ignored_user_list", content);
    this.emit();
  }

  // Presence reaches /sync only when it changes, and only once a room is shared: a
  // direct chat's header asks when it opens and when the other person joins.
  async fetchPresence(userId) {
    try {
      const presence = await this.api.get(`presence/${enc(userId)}/status`);
      this.presence.set(userId, { ...this.presence.get(userId), ...presence });
      this.emit();
    } catch {
      // Presence is off on this server, or not shared with us (yet).
    }
  }

  async profile(userId) {
    if (!this.profiles.has(userId)) {
      this.profiles.set(userId, {});
      try {
        this.profiles.set(userId, await this.api.get(`profile/${enc(userId)}`));
      } catch {
        // No profile (or not visible): the user ID's localpart stands in.
      }
      this.emit();
    }
    return this.profiles.get(userId);
  }
}
