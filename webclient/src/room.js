// One room as this client knows it: state, the loaded stretch of timeline, and what the
// timeline's events add up to (edits, redactions, reactions, receipts, typing).

export const SHOWN_TYPES = new Set(["m.room.message", "m.room.member", "m.room.name", "m.room.topic", "m.room.avatar", "m.room.create", "m.sticker"]);

export function relation(event) {
  const rel = event.content && event.content["m.relates_to"];
  return rel && typeof rel === "object" ? rel : null;
}

export class Room {
  constructor(roomId) {
    this.roomId = roomId;
    this.membership = "join";
    this.state = new Map(); // type -> Map(state_key -> event)
    this.events = []; // the loaded timeline, oldest first, pending local echoes last
    this.byId = new Map();
    this.edits = new Map(); // event_id -> newest m.replace event
    this.redacted = new Map(); // event_id -> redaction event
    this.reactions = new Map(); // event_id -> Map(key -> Map(sender -> reaction event_id))
    this.receipts = new Map(); // user_id -> {eventId, ts}
    this.typing = [];
    this.unread = { notification_count: 0, highlight_count: 0 };
    this.summary = {};
    this.prevBatch = null;
    this.atStart = false;
  }

  stateEvent(type, stateKey = "") {
    return this.state.get(type)?.get(stateKey) || null;
  }

  setState(event) {
    if (!this.state.has(event.type)) this.state.set(event.type, new Map());
    this.state.get(event.type).set(event.state_key, event);
  }

  member(userId) {
    return this.stateEvent("m.room.member", userId)?.content || null;
  }

  members(membership = "join") {
    const all = [...(this.state.get("m.room.member")?.values() || [])];
    return all.filter((e) => e.content.membership === membership).map((e) => e.state_key);
  }

  // Timeline from /sync: a limited timeline starts a new stretch (a gap before it).
  addSyncTimeline(timeline) {
    if (timeline.limited) {
      this.events = this.events.filter((e) => e.pending);
      this.byId = new Map(this.events.map((e) => [e.event_id, e]));
      this.atStart = false;
    }
    if (timeline.limited || this.prevBatch === null) this.prevBatch = timeline.prev_batch || null;
    const added = [];
    for (const event of timeline.events || []) if (this.insert(event, "end")) added.push(event);
    return added;
  }

  // Older events from /messages?dir=b (newest first).
  addHistory(chunk, end) {
    for (const event of chunk) this.insert(event, "start");
    this.prevBatch = end || null;
    if (!end || chunk.length === 0) this.atStart = true;
  }

  insert(event, where) {
    if (this.byId.has(event.event_id)) return false;
    this.replaceEcho(event);
    if (event.state_key !== undefined && where === "end") this.setState(event);
    this.aggregate(event);
    if (where === "end") {
      const firstPending = this.events.findIndex((e) => e.pending);
      if (firstPending < 0) this.events.push(event);
      else this.events.splice(firstPending, 0, event);
    } else {
      this.events.unshift(event);
    }
    this.byId.set(event.event_id, event);
    return true;
  }

  replaceEcho(event) {
    const txn = event.unsigned?.transaction_id;
    const i = this.events.findIndex((e) => e.pending && (e.txnId === txn || e.sentId === event.event_id));
    if (i >= 0) {
      this.byId.delete(this.events[i].event_id);
      this.events.splice(i, 1);
    }
  }

  aggregate(event) {
    const rel = relation(event);
    if (event.type === "m.room.redaction") {
      const target = event.content?.redacts || event.redacts;
      if (target) this.redacted.set(target, event);
      for (const keys of this.reactions.values()) {
        for (const senders of keys.values()) {
          for (const [sender, id] of senders) if (id === target) senders.delete(sender);
        }
      }
    } else if (rel?.rel_type === "m.replace" && event.type === "m.room.message" && event.content["m.new_content"]) {
      const current = this.edits.get(rel.event_id);
      if (!current || current.origin_server_ts <= event.origin_server_ts) this.edits.set(rel.event_id, event);
    } else if (rel?.rel_type === "m.annotation" && event.type === "m.reaction" && typeof rel.key === "string") {
      if (this.redacted.has(event.event_id) || event.unsigned?.redacted_because) return;
      if (!this.reactions.has(rel.event_id)) this.reactions.set(rel.event_id, new Map());
      const keys = this.reactions.get(rel.event_id);
      if (!keys.has(rel.key)) keys.set(rel.key, new Map());
      keys.get(rel.key).set(event.sender, event.event_id);
    }
  }

  addEcho(echo) {
    this.events.push(echo);
    this.byId.set(echo.event_id, echo);
  }

  // What the timeline shows: messages and membership or room changes, not the edits,
  // reactions and redactions that only change other events.
  visibleEvents() {
    return this.events.filter((e) => {
      if (!SHOWN_TYPES.has(e.type)) return false;
      const rel = relation(e);
      return !(rel && rel.rel_type === "m.replace");
    });
  }

  isRedacted(event) {
    return Boolean(this.redacted.has(event.event_id) || event.unsigned?.redacted_because);
  }

  // The content to show: the newest edit's m.new_content, or a bundled one from the server.
  shownContent(event) {
    const edit = this.edits.get(event.event_id) || event.unsigned?.["m.relations"]?.["m.replace"];
    if (edit && edit.sender === event.sender && edit.content?.["m.new_content"]) {
      return { content: edit.content["m.new_content"], edited: true };
    }
    return { content: event.content, edited: false };
  }

  lastMessage() {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i];
      if (e.type === "m.room.message" && relation(e)?.rel_type !== "m.replace") return e;
    }
    return null;
  }

  lastActivity() {
    const last = this.events[this.events.length - 1];
    return last ? last.origin_server_ts : 0;
  }

  setReceipts(content) {
    for (const [eventId, types] of Object.entries(content || {})) {
      for (const type of ["m.read", "m.read.private"]) {
        for (const [userId, receipt] of Object.entries(types?.[type] || {})) {
          if (receipt.thread_id && receipt.thread_id !== "main") continue;
          const current = this.receipts.get(userId);
          if (!current || (receipt.ts || 0) >= current.ts) this.receipts.set(userId, { eventId, ts: receipt.ts || 0 });
        }
      }
    }
  }
}
