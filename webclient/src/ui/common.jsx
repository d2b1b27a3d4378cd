// Small pieces every screen uses: the store context, media as blob URLs, avatars, form
// fields with their errors, modal dialogs, and time formats.

import { createContext } from "preact";
import { useContext, useEffect, useId, useReducer, useRef, useState } from "preact/hooks";
import { NetworkError } from "../api.js";
import { Icon } from "./icons.jsx";

export const StoreContext = createContext(null);

export function useStore() {
  const store = useContext(StoreContext);
  const [, rerender] = useReducer((n) => n + 1, 0);
  useEffect(() => store.subscribe(rerender), [store]);
  return store;
}

// mxc:// -> blob: URL through authenticated media, cached for the session.
export class MediaCache {
  constructor(api) {
    this.api = api;
    this.urls = new Map();
  }

  get(mxc, size) {
    const key = size ? `${mxc}#${size.width}x${size.height}${size.method || ""}` : mxc;
    if (!this.urls.has(key)) {
      const promise = this.api.media(mxc, size);
      promise.catch(() => this.urls.delete(key));
      this.urls.set(key, promise);
    }
    return this.urls.get(key);
  }

  revokeAll() {
    for (const promise of this.urls.values()) promise.then((url) => URL.revokeObjectURL(url), () => {});
    this.urls.clear();
  }
}

export function useMedia(mxc, size) {
  const store = useContext(StoreContext);
  const [state, setState] = useState({ url: null, error: false });
  const sizeKey = size ? `${size.width}x${size.height}` : "";
  useEffect(() => {
    if (!mxc) return undefined;
    let live = true;
    setState({ url: null, error: false });
    store.media.get(mxc, size).then(
      (url) => live && setState({ url, error: false }),
      () => live && setState({ url: null, error: true }),
    );
    return () => { live = false; };
  }, [mxc, sizeKey]);
  return state;
}

// Initials on a colour picked from the name; every colour keeps white text above 4.5:1.
const COLOURS = ["#1a5fb4", "#26734d", "#8f3a99", "#a8470b", "#0f6b74", "#9c2a42", "#5a4f96", "#46632a"];

function colourOf(id) {
  let hash = 0;
  for (const ch of id || "") hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return COLOURS[hash % COLOURS.length];
}

export function Avatar({ mxc, name, id, size = 36, presence }) {
  const { url } = useMedia(mxc, mxc ? { width: 96, height: 96, method: "crop" } : null);
  const initial = [...(name || "?").replace(/^[@#!]/, "")][0]?.toUpperCase() || "?";
  return (
    <span class="avatar" style={{ width: `${size}px`, height: `${size}px`, fontSize: `${size / 2.2}px`, backgroundColor: url ? "transparent" : colourOf(id || name) }} aria-hidden="true">
      {url ? <img src={url} alt="" /> : initial}
      {presence && <span class={`presence presence-${presence}`} />}
    </span>
  );
}

export function presenceLabel(presence) {
  return { online: "online", unavailable: "away", offline: "offline" }[presence] || "offline";
}

// A labelled input with its error announced and tied to it (aria-describedby).
export function Field({ label, error, hint, type = "text", value, onInput, inputRef, ...rest }) {
  const id = useId();
  const described = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ") || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} type={type} value={value} ref={inputRef} onInput={(e) => onInput(e.currentTarget.value)}
        aria-invalid={error ? "true" : undefined} aria-describedby={described} {...rest} />
      {hint && <p class="hint" id={`${id}-hint`}>{hint}</p>}
      {error && <p class="error" id={`${id}-error`} role="alert">{error}</p>}
    </div>
  );
}

// A modal <dialog>: the browser traps focus inside it and closes it on Escape.
export function Dialog({ title, onClose, children, wide }) {
  const ref = useRef(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog.open) dialog.showModal();
    const cancel = (e) => {
      e.preventDefault();
      onClose();
    };
    dialog.addEventListener("cancel", cancel);
    return () => dialog.removeEventListener("cancel", cancel);
  }, [onClose]);
  return (
    <dialog ref={ref} class={wide ? "wide" : ""} aria-labelledby={titleId}>
      <header class="dialog-header">
        <h2 id={titleId}>{title}</h2>
        <button type="button" class="icon" onClick={onClose} aria-label="Close"><Icon name="close" /></button>
      </header>
      {children}
    </dialog>
  );
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
const shortDate = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });

export function formatTime(ts) {
  return timeFormat.format(new Date(ts));
}

export function dayKey(ts) {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function formatDay(ts) {
  const today = new Date();
  const yesterday = new Date(Date.now() - 86400000);
  if (dayKey(ts) === dayKey(today)) return "Today";
  if (dayKey(ts) === dayKey(yesterday)) return "Yesterday";
  return dayFormat.format(new Date(ts));
}

// The room list's time: the time today, else a short date.
export function formatListTime(ts) {
  return dayKey(ts) === dayKey(Date.now()) ? formatTime(ts) : shortDate.format(new Date(ts));
}

export function errorText(e) {
  if (!e) return "";
  if (e.errcode === "M_LIMIT_EXCEEDED") {
    const s = Math.ceil((e.body?.retry_after_ms || 1000) / 1000);
    return `Too many attempts. Try again in ${s} s.`;
  }
  if (e instanceof NetworkError) return "Cannot reach the server. Check your connection.";
  return e.message || "Something went wrong.";
}

export function openRoom(roomId) {
  location.hash = roomId ? `#/room/${encodeURIComponent(roomId)}` : "#/";
}

export function Spinner({ label = "Loading" }) {
  return <span class="spinner" role="status" aria-label={label} />;
}
