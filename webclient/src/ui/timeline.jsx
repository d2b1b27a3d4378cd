// The timeline: day separators, grouped messages with names, avatars and times, edits,
// deletions, replies, reactions, images and files, read receipts; scrolling up loads
// older history.

import { Fragment } from "preact";
import { useContext, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { relation } from "../room.js";
import { sanitizeHtml } from "../sanitize.js";
import { Avatar, dayKey, Dialog, errorText, formatDay, formatTime, Spinner, StoreContext, useMedia, useStore } from "./common.jsx";
import { QUICK_REACTIONS } from "./emoji.js";
import { Icon } from "./icons.jsx";

const GROUP_MS = 5 * 60 * 1000;

export function Timeline({ room, onReply, onEdit, onReport }) {
  const store = useStore();
  const scroller = useRef(null);
  const stick = useRef(true);
  const before = useRef({ height: 0, first: null });
  const events = room.visibleEvents().filter((e) => !store.ignoredUsers().includes(e.sender));
  const first = events[0]?.event_id;

  // Keep the newest message in view while at the bottom; keep the reader's place when
  // older history is added above.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (before.current.first && first !== before.current.first && !stick.current) {
      el.scrollTop += el.scrollHeight - before.current.height;
    } else if (stick.current) {
      el.scrollTop = el.scrollHeight;
    }
    before.current = { height: el.scrollHeight, first };
    if (el.scrollHeight <= el.clientHeight + 50 && !room.atStart) store.loadHistory(room).catch(() => {});
  });

  function onScroll() {
    const el = scroller.current;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 300 && !room.atStart) store.loadHistory(room).catch(() => {});
    if (stick.current) store.markRead(room).catch(() => {});
  }

  const readers = receiptsByEvent(store, room, events);
  let previous = null;
  return (
    <div class="timeline" ref={scroller} onScroll={onScroll} tabIndex={0} role="region" aria-label="Messages">
      <div class="history-edge">
        {room.loadingHistory ? <Spinner label="Loading older messages" />
          : room.atStart ? <p class="muted">This is the beginning of the conversation.</p>
            : (
              <>
                {room.historyError && <p class="error" role="alert">{room.historyError}</p>}
                <button type="button" class="small" onClick={() => store.loadHistory(room, true).catch(() => {})}>Load older messages</button>
              </>
            )}
      </div>
      <ol class="events">
        {events.map((event) => {
          const newDay = !previous || dayKey(previous.origin_server_ts) !== dayKey(event.origin_server_ts);
          const grouped = !newDay && previous.sender === event.sender && previous.type === "m.room.message"
            && event.type === "m.room.message" && event.origin_server_ts - previous.origin_server_ts < GROUP_MS;
          previous = event;
          return (
            <Fragment key={event.event_id}>
              {newDay && <li class="day"><span>{formatDay(event.origin_server_ts)}</span></li>}
              {event.type === "m.room.message" || event.type === "m.sticker"
                ? <Message room={room} event={event} grouped={grouped} readers={readers.get(event.event_id)}
                  onReply={onReply} onEdit={onEdit} onReport={onReport} />
                : <Notice room={room} event={event} readers={readers.get(event.event_id)} />}
            </Fragment>
          );
        })}
      </ol>
    </div>
  );
}

// Everyone else's read receipt, placed on the newest shown event at or before it that
// they did not send themselves (a receipt covers everything before it).
function receiptsByEvent(store, room, events) {
  const position = new Map(room.events.map((e, i) => [e.event_id, i]));
  const shown = events.map((e) => position.get(e.event_id));
  const out = new Map();
  for (const [userId, { eventId }] of room.receipts) {
    if (userId === store.userId || !position.has(eventId)) continue;
    const at = position.get(eventId);
    let target = null;
    for (let i = shown.length - 1; i >= 0; i--) {
      if (shown[i] <= at && events[i].sender !== userId) {
        target = events[i];
        break;
      }
    }
    if (!target) continue;
    if (!out.has(target.event_id)) out.set(target.event_id, []);
    out.get(target.event_id).push(userId);
  }
  return out;
}

function Readers({ room, users }) {
  const store = useStore();
  if (!users?.length) return null;
  const names = users.map((u) => store.displayName(u, room));
  return (
    <p class="readers" data-testid="receipt">
      <span>Seen by {names.join(", ")}</span>
      <span class="reader-avatars" aria-hidden="true">
        {users.slice(0, 5).map((u) => <Avatar key={u} mxc={store.avatarUrl(u, room)} name={store.displayName(u, room)} id={u} size={16} />)}
      </span>
    </p>
  );
}

function Notice({ room, event, readers }) {
  const store = useStore();
  const who = store.displayName(event.sender, room);
  const c = event.content || {};
  let text = null;
  if (event.type === "m.room.create") text = `${who} created the chat`;
  if (event.type === "m.room.name") text = c.name ? `${who} named the chat “${c.name}”` : `${who} removed the chat’s name`;
  if (event.type === "m.room.topic") text = `${who} set the topic: ${c.topic || ""}`;
  if (event.type === "m.room.avatar") text = `${who} changed the chat’s picture`;
  if (event.type === "m.room.member") text = memberChange(store, room, event);
  if (!text) return null;
  return (
    <li class="notice-event">
      <span>{text}</span> <time dateTime={new Date(event.origin_server_ts).toISOString()}>{formatTime(event.origin_server_ts)}</time>
      <Readers room={room} users={readers} />
    </li>
  );
}

function memberChange(store, room, event) {
  const who = store.displayName(event.sender, room);
  const target = event.content?.displayname || store.displayName(event.state_key, room);
  const previous = event.unsigned?.prev_content || {};
  const now = event.content?.membership;
  if (now === "join" && previous.membership === "join") {
    if (previous.displayname !== event.content.displayname) return `${previous.displayname || event.state_key} is now ${event.content.displayname || event.state_key}`;
    return null;
  }
  if (now === "join") return `${target} joined`;
  if (now === "invite") return `${who} invited ${target}`;
  if (now === "leave") return event.sender === event.state_key ? `${target} left` : `${who} removed ${target}`;
  if (now === "ban") return `${who} banned ${target}`;
  if (now === "knock") return `${target} asked to join`;
  return null;
}

function Message({ room, event, grouped, readers, onReply, onEdit, onReport }) {
  const store = useStore();
  const [actions, setActions] = useState(false);
  const redacted = room.isRedacted(event);
  const { content, edited } = room.shownContent(event);
  const mine = event.sender === store.userId;
  const name = store.displayName(event.sender, room);
  const time = new Date(event.origin_server_ts);
  const canEdit = mine && !redacted && !event.pending && ["m.text", "m.emote", "m.notice"].includes(content.msgtype);

  return (
    <li class={`message ${grouped ? "grouped" : ""} ${mine ? "mine" : ""}`} data-event-id={event.event_id} id={`event-${event.event_id}`}>
      <div class="message-avatar">{!grouped && <Avatar mxc={store.avatarUrl(event.sender, room)} name={name} id={event.sender} />}</div>
      <div class="message-main">
        <div class={`message-head ${grouped ? "visually-hidden" : ""}`}>
          <span class="sender">{name}</span>{" "}
          <time dateTime={time.toISOString()} title={time.toLocaleString()}>{formatTime(event.origin_server_ts)}</time>
        </div>
        {redacted ? <p class="body deleted">Message deleted</p> : (
          <>
            <ReplyQuote room={room} event={event} />
            <Body content={content} />
            {edited && <span class="edited">(edited)</span>}
          </>
        )}
        {event.pending && <PendingState room={room} event={event} />}
        {!redacted && <Reactions room={room} event={event} />}
        <Readers room={room} users={readers} />
      </div>
      {!redacted && !event.pending && (
        <div class="message-actions">
          <button type="button" class="icon small" aria-expanded={actions ? "true" : "false"}
            aria-label={`Actions for message from ${name} at ${formatTime(event.origin_server_ts)}`} onClick={() => setActions(!actions)}><Icon name="more" /></button>
          {actions && (
            <div class="action-panel" role="group" aria-label="Message actions" onKeyDown={(e) => e.key === "Escape" && setActions(false)}>
              {QUICK_REACTIONS.map((key) => (
                <button type="button" class="icon small" key={key} aria-label={`React with ${key}`}
                  onClick={() => { store.toggleReaction(room.roomId, event, key); setActions(false); }}>{key}</button>
              ))}
              <button type="button" class="small" onClick={() => { onReply(event); setActions(false); }}>Reply</button>
              {canEdit && <button type="button" class="small" onClick={() => { onEdit(event); setActions(false); }}>Edit</button>}
              {mine && <DeleteButton room={room} event={event} />}
              {!mine && <button type="button" class="small" onClick={() => { onReport(event); setActions(false); }}>Report</button>}
            </div>
          )}
        </div>
      )}
    </li>
  );
}

function DeleteButton({ room, event }) {
  const store = useStore();
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState(null);
  if (!confirm) return <button type="button" class="small danger" onClick={() => setConfirm(true)}>Delete</button>;
  return (
    <span class="confirm">
      <button type="button" class="small danger" autoFocus
        onClick={() => store.redact(room.roomId, event.event_id).catch((e) => setError(errorText(e)))}>Delete for everyone</button>
      <button type="button" class="small" onClick={() => setConfirm(false)}>Keep</button>
      {error && <span class="error" role="alert">{error}</span>}
    </span>
  );
}

function PendingState({ room, event }) {
  const store = useStore();
  if (event.status === "failed") {
    return (
      <p class="pending failed" role="alert">
        Not sent{event.error ? `: ${event.error}` : ""}.{" "}
        <button type="button" class="link" onClick={() => store.retry(room.roomId, event)}>Retry</button>
      </p>
    );
  }
  return <p class="pending">{event.status === "sent" ? "Sent" : "Sending…"}</p>;
}

function ReplyQuote({ room, event }) {
  const store = useStore();
  const target = relation(event)?.["m.in_reply_to"]?.event_id;
  if (!target) return null;
  const original = room.byId.get(target);
  const text = !original ? "a message" : room.isRedacted(original) ? "a deleted message" : room.shownContent(original).content.body;
  return (
    <blockquote class="reply-quote">
      <span class="sender">{original ? store.displayName(original.sender, room) : "In reply to"}</span>{" "}
      <span>{text}</span>
    </blockquote>
  );
}

// Replies used to quote the original in the body ("> <@user> text" lines, then a blank
// line); spec v1.13 asks clients to strip that fallback.
function stripReplyFallback(body, content) {
  if (!relation(content)?.["m.in_reply_to"] || !body.startsWith("> ")) return body;
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && lines[i].startsWith(">")) i++;
  return lines.slice(i).join("\n").replace(/^\n/, "");
}

function Body({ content }) {
  const type = content.msgtype;
  if (type === "m.image" || (!type && content.url && content.info?.w)) return <ImageBody content={content} />;
  if (["m.file", "m.video", "m.audio"].includes(type)) return <FileBody content={content} />;
  const body = typeof content.body === "string" ? content.body : "";
  const html = content.format === "org.matrix.custom.html" && typeof content.formatted_body === "string" ? content.formatted_body : null;
  const cls = `body ${type === "m.emote" ? "emote" : ""} ${type === "m.notice" ? "notice" : ""}`;
  if (html) return <SafeHtml class={cls} html={html} />;
  return <p class={cls}><Linkified text={stripReplyFallback(body, content)} /></p>;
}

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]}'’”]/g;

function Linkified({ text }) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    parts.push(text.slice(last, match.index));
    parts.push(<a href={match[0]} target="_blank" rel="noopener noreferrer nofollow">{match[0]}</a>);
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return <>{parts}</>;
}

// formatted_body through the allow-list sanitiser, inserted as nodes (never as a string).
function SafeHtml({ html, class: cls }) {
  const ref = useRef(null);
  const store = useContext(StoreContext);
  useEffect(() => {
    ref.current.replaceChildren(sanitizeHtml(html, store.sanitized));
    for (const img of ref.current.querySelectorAll("img[data-mxc]")) {
      store.media.get(img.dataset.mxc, { width: 800, height: 600 }).then((url) => { img.src = url; }, () => {});
    }
  }, [html]);
  return <div class={`${cls} html`} ref={ref} />;
}

function ImageBody({ content }) {
  const [open, setOpen] = useState(false);
  const info = content.info || {};
  const w = info.w || 320;
  const h = info.h || 240;
  const scale = Math.min(1, 320 / w, 240 / h);
  const size = { width: Math.round(w * scale), height: Math.round(h * scale) };
  const { url, error } = useMedia(content.url, { width: 320, height: 240, method: "scale" });
  const label = content.body || "image";
  return (
    <>
      <button type="button" class="image-thumb" onClick={() => setOpen(true)} aria-label={`Open image ${label} full size`}
        style={{ width: `${size.width}px`, aspectRatio: `${size.width} / ${size.height}` }}>
        {url ? <img src={url} alt={label} data-testid="thumbnail" /> : error ? <span class="muted">Image unavailable</span> : <Spinner label="Loading image" />}
      </button>
      {open && <ImageViewer content={content} onClose={() => setOpen(false)} />}
    </>
  );
}

function ImageViewer({ content, onClose }) {
  const { url, error } = useMedia(content.url, null);
  return (
    <Dialog title={content.body || "Image"} onClose={onClose} wide>
      <div class="viewer">
        {url ? <img src={url} alt={`Full size: ${content.body || "image"}`} /> : error ? <p class="error">The image could not be loaded.</p> : <Spinner />}
      </div>
    </Dialog>
  );
}

export function formatSize(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

// Downloads through authenticated media, then hands the browser a blob: URL to save.
function FileBody({ content }) {
  const store = useStore();
  const [state, setState] = useState(null);
  async function download() {
    setState("loading");
    try {
      const url = await store.media.get(content.url, null);
      const a = document.createElement("a");
      a.href = url;
      a.download = content.filename || content.body || "download";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setState(null);
    } catch (e) {
      setState(errorText(e));
    }
  }
  const name = content.filename || content.body || "file";
  return (
    <p class="file">
      <button type="button" class="small" onClick={download} disabled={state === "loading"}>
        <Icon name="file" size={18} /> Download {name}{content.info?.size ? ` (${formatSize(content.info.size)})` : ""}
      </button>
      {state && state !== "loading" && <span class="error" role="alert">{state}</span>}
    </p>
  );
}

function Reactions({ room, event }) {
  const store = useStore();
  const keys = room.reactions.get(event.event_id);
  const shown = keys ? [...keys].filter(([, senders]) => senders.size > 0) : [];
  if (!shown.length) return null;
  return (
    <ul class="reactions" aria-label="Reactions">
      {shown.map(([key, senders]) => {
        const mine = senders.has(store.userId);
        const names = [...senders.keys()].map((u) => (u === store.userId ? "you" : store.displayName(u, room)));
        return (
          <li key={key}>
            <button type="button" class={`reaction ${mine ? "mine" : ""}`} aria-pressed={mine ? "true" : "false"}
              title={`${names.join(", ")} reacted with ${key}`} aria-label={`${key} ${senders.size}, reacted by ${names.join(", ")}`}
              onClick={() => store.toggleReaction(room.roomId, event, key)}>
              {key} {senders.size}
            </button>
          </li>
        );
      })}
    </ul>
  );
}
