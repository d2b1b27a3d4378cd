// The message box: Enter sends, Shift+Enter starts a new line, Up edits your last
// message, Escape cancels a reply or an edit; emoji; files and images (attached,
// pasted or dropped) with upload progress; typing notifications.

import { useEffect, useRef, useState } from "preact/hooks";
import { enc } from "../api.js";
import { errorText, useStore } from "./common.jsx";
import { EMOJI } from "./emoji.js";
import { Icon } from "./icons.jsx";

const TYPING_TIMEOUT_MS = 20000;
const TYPING_REPEAT_MS = 15000;

export function Composer({ room, reply, editing, onDone, onEditLast }) {
  const store = useStore();
  const [text, setText] = useState("");
  const [uploads, setUploads] = useState([]);
  const [picker, setPicker] = useState(false);
  const input = useRef(null);
  const typingSent = useRef(0);
  const name = store.roomName(room);

  // The text to edit is put in the box at once by the Up key (so nothing typed right
  // after is overwritten); an edit chosen from a message's actions fills it here.
  const preset = useRef(null);
  useEffect(() => {
    if (editing && preset.current !== editing.event_id) setText(room.shownContent(editing).content.body || "");
    preset.current = null;
    if (editing || reply) input.current.focus();
  }, [editing, reply]);

  useEffect(() => () => setTyping(false), []);

  function setTyping(typing) {
    const now = Date.now();
    if (typing && now - typingSent.current < TYPING_REPEAT_MS) return;
    if (!typing && !typingSent.current) return;
    typingSent.current = typing ? now : 0;
    store.api.put(`rooms/${enc(room.roomId)}/typing/${enc(store.userId)}`, typing ? { typing, timeout: TYPING_TIMEOUT_MS } : { typing })
      .catch(() => {});
  }

  function submit() {
    const body = text.trim();
    if (!body) return;
    if (editing) store.edit(room.roomId, editing, body);
    else store.sendText(room.roomId, body, reply);
    setText("");
    setTyping(false);
    onDone();
  }

  function onKeyDown(e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === "ArrowUp" && !text && !editing) {
      const last = lastOwnText(store, room);
      if (last) {
        e.preventDefault();
        preset.current = last.event_id;
        setText(room.shownContent(last).content.body || "");
        onEditLast(last);
      }
    } else if (e.key === "Escape" && (editing || reply)) {
      e.preventDefault();
      setText("");
      onDone();
    }
  }

  function onInput(e) {
    setText(e.currentTarget.value);
    setTyping(Boolean(e.currentTarget.value));
  }

  function insertEmoji(emoji) {
    const el = input.current;
    const start = el.selectionStart ?? text.length;
    const end = el.selectionEnd ?? text.length;
    setText(text.slice(0, start) + emoji + text.slice(end));
    setPicker(false);
    requestAnimationFrame(() => {
      el.focus();
      el.selectionStart = el.selectionEnd = start + emoji.length;
    });
  }

  async function attach(files) {
    for (const file of files) {
      const upload = { id: `${Date.now()}-${file.name}`, name: file.name, progress: 0, error: null };
      setUploads((u) => [...u, upload]);
      const update = (changes) => setUploads((u) => u.map((x) => (x.id === upload.id ? { ...x, ...changes } : x)));
      try {
        const url = await store.api.upload(file, (progress) => update({ progress }));
        store.send(room.roomId, await mediaContent(file, url));
        setUploads((u) => u.filter((x) => x.id !== upload.id));
      } catch (e) {
        update({ error: errorText(e) });
      }
    }
  }

  // Images pasted or files dropped on the composer are sent like attached ones.
  function takeFiles(e, list) {
    const files = [...(list || [])];
    if (!files.length) return;
    e.preventDefault();
    attach(files);
  }

  return (
    <div class="composer" onDragOver={(e) => e.preventDefault()} onDrop={(e) => takeFiles(e, e.dataTransfer?.files)}>
      {(reply || editing) && (
        <div class="composer-context">
          <span>{editing ? "Editing your message" : `Replying to ${store.displayName(reply.sender, room)}: ${room.shownContent(reply).content.body || ""}`}</span>
          <button type="button" class="small" onClick={() => { setText(""); onDone(); }}>Cancel</button>
        </div>
      )}
      {uploads.map((u) => (
        <div class="upload" key={u.id}>
          <label for={`upload-${u.id}`}>{u.error ? `Could not send ${u.name}: ${u.error}` : `Uploading ${u.name}`}</label>
          {!u.error && <progress id={`upload-${u.id}`} max="1" value={u.progress}>{Math.round(u.progress * 100)}%</progress>}
          {u.error && <button type="button" class="small" onClick={() => setUploads((x) => x.filter((y) => y.id !== u.id))}>Dismiss</button>}
        </div>
      ))}
      <form class="composer-row" onSubmit={(e) => { e.preventDefault(); submit(); }}>
        <label class="icon attach" title="Attach a file or image">
          <Icon name="attach" />
          <span class="visually-hidden">Attach a file or image</span>
          <input type="file" class="visually-hidden" multiple onChange={(e) => { attach([...e.currentTarget.files]); e.currentTarget.value = ""; }} />
        </label>
        <label for="composer-input" class="visually-hidden">{editing ? "Edit message" : `Message ${name}`}</label>
        <textarea id="composer-input" ref={input} rows={1} value={text} onInput={onInput} onKeyDown={onKeyDown}
          onPaste={(e) => takeFiles(e, e.clipboardData?.files)}
          placeholder={`Message ${name}`} aria-describedby="composer-help" />
        <span id="composer-help" class="visually-hidden">Enter sends, Shift+Enter adds a new line, Up edits your last message.</span>
        <div class="emoji-wrap">
          <button type="button" class="icon" aria-label="Insert emoji" aria-expanded={picker ? "true" : "false"} onClick={() => setPicker(!picker)}><Icon name="smile" /></button>
          {picker && (
            <div class="emoji-picker" role="group" aria-label="Emoji" onKeyDown={(e) => e.key === "Escape" && setPicker(false)}>
              {EMOJI.map((emoji) => <button type="button" class="icon small" key={emoji} onClick={() => insertEmoji(emoji)}>{emoji}</button>)}
            </div>
          )}
        </div>
        <button type="submit" class="primary" disabled={!text.trim()}>{editing ? "Save" : "Send"}</button>
      </form>
    </div>
  );
}

// The newest message you sent, to edit with the Up key: one still on its way counts
// once the server has given it an event ID (until then, nothing is edited).
function lastOwnText(store, room) {
  const events = room.visibleEvents();
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.sender !== store.userId || e.type !== "m.room.message") continue;
    if (e.pending && !e.sentId) return null;
    const ok = !room.isRedacted(e) && ["m.text", "m.emote"].includes(room.shownContent(e).content.msgtype);
    return ok ? e : null;
  }
  return null;
}

// m.image with its size (read by the browser) or m.file, per the spec's msgtypes.
async function mediaContent(file, url) {
  const info = { mimetype: file.type || "application/octet-stream", size: file.size };
  if (file.type.startsWith("image/")) {
    try {
      const bitmap = await createImageBitmap(file);
      Object.assign(info, { w: bitmap.width, h: bitmap.height });
      bitmap.close();
      return { msgtype: "m.image", body: file.name, filename: file.name, url, info };
    } catch {
      // Not an image the browser can decode: send it as a file.
    }
  }
  return { msgtype: "m.file", body: file.name, filename: file.name, url, info };
}
