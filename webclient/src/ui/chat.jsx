// The signed-in screen: the room list beside the open room when there is room (one at a
// time on a phone), people search, the connection banner and the live region.

import { useCallback, useEffect, useState } from "preact/hooks";
import { localpart } from "../store.js";
import { Avatar, errorText, formatListTime, openRoom, presenceLabel, Spinner, useStore } from "./common.jsx";
import { NewGroupDialog, ProfileDialog, SearchDialog } from "./dialogs.jsx";
import { RoomView } from "./room.jsx";
import { Icon } from "./icons.jsx";

function roomFromHash() {
  const match = /^#\/room\/(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

export function Chat({ onLogout }) {
  const store = useStore();
  const [roomId, setRoomId] = useState(roomFromHash());
  const [dialog, setDialog] = useState(null);
  const [announcement, setAnnouncement] = useState("");
  const closeDialog = useCallback(() => setDialog(null), []);

  useEffect(() => {
    const onHash = () => setRoomId(roomFromHash());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  // New messages from others are read out (politely) by screen readers.
  useEffect(() => store.onMessage((room, event) => {
    const who = store.displayName(event.sender, room);
    const text = event.content?.body || "a message";
    const where = room.roomId === roomId ? "" : ` in ${store.roomName(room)}`;
    setAnnouncement(`New message from ${who}${where}: ${text}`);
  }), [store, roomId]);

  const room = roomId ? store.rooms.get(roomId) : null;
  // On a phone the chat list is the page's main content until a room is opened.
  const narrow = useMediaQuery("(max-width: 767px)");
  const Sidebar = narrow && !room ? "main" : "aside";
  useEffect(() => {
    document.title = room ? `${store.roomName(room)} · Chat` : "Chat";
  });

  return (
    <div class={`chat ${room ? "has-room" : ""}`}>
      {room && <a class="skip" href="#composer-input">Skip to message box</a>}
      <ConnectionBanner />
      <Sidebar class="sidebar" aria-label="Chats">
        <h1 class="visually-hidden">Chats</h1>
        <SidebarHeader onProfile={() => setDialog("profile")} onGroup={() => setDialog("group")} onSearch={() => setDialog("search")} />
        <PeopleSearch>
          {!store.synced ? <div class="loading"><Spinner label="Loading your chats" /></div> : <RoomList selected={roomId} />}
        </PeopleSearch>
      </Sidebar>
      {Sidebar === "aside" && (
        <main class="main" id="main">
          {room ? <RoomView key={room.roomId} room={room} onSearch={() => setDialog("search")} />
            : roomId && store.synced ? <Empty text="This chat is not in your list. You may have left it." />
              : <Empty text={store.synced ? "Choose a chat, or find someone to talk to." : "Loading…"} />}
        </main>
      )}
      <div class="visually-hidden" aria-live="polite" aria-atomic="true" id="announcer">{announcement}</div>
      {dialog === "profile" && <ProfileDialog onClose={closeDialog} onLogout={onLogout} />}
      {dialog === "group" && <NewGroupDialog onClose={closeDialog} />}
      {dialog === "search" && <SearchDialog onClose={closeDialog} roomId={roomId} />}
    </div>
  );
}

function useMediaQuery(query) {
  const [matches, setMatches] = useState(() => matchMedia(query).matches);
  useEffect(() => {
    const list = matchMedia(query);
    const change = () => setMatches(list.matches);
    list.addEventListener("change", change);
    return () => list.removeEventListener("change", change);
  }, [query]);
  return matches;
}

function Empty({ text }) {
  return <div class="empty"><p>{text}</p></div>;
}

function ConnectionBanner() {
  const store = useStore();
  if (store.status === "online" || (store.status === "connecting" && !store.synced)) return null;
  const text = store.status === "offline" ? "You are offline. Messages will send when you reconnect."
    : store.status === "connecting" ? "Connecting…" : `Reconnecting… ${store.lastError || ""}`;
  return <div class={`banner banner-${store.status}`} role="status">{text}</div>;
}

function SidebarHeader({ onProfile, onGroup, onSearch }) {
  const store = useStore();
  const me = store.profiles.get(store.userId) || {};
  const presence = store.presence.get(store.userId);
  useEffect(() => { store.profile(store.userId); }, []);
  const dot = store.status === "online" ? "online" : "offline";
  return (
    <header class="sidebar-header">
      <button type="button" class="me" onClick={onProfile}>
        <Avatar mxc={me.avatar_url} name={me.displayname || localpart(store.userId)} id={store.userId} presence={dot} />
        <span class="me-name">
          <span>{me.displayname || localpart(store.userId)}</span>
          {presence?.status_msg && <span class="status-msg">{presence.status_msg}</span>}
        </span>
        <span class="visually-hidden">: your profile and settings</span>
      </button>
      <button type="button" class="icon" onClick={onSearch} aria-label="Search messages" title="Search messages"><Icon name="search" /></button>
      <button type="button" class="icon" onClick={onGroup} aria-label="New group chat" title="New group chat"><Icon name="plus" /></button>
    </header>
  );
}

// Typing in the box searches the user directory (debounced); the results replace the
// room list until the box is emptied. Choosing a person opens or starts a direct chat.
function PeopleSearch({ children }) {
  const store = useStore();
  const [term, setTerm] = useState("");
  const [results, setResults] = useState(null);
  const [error, setError] = useState(null);
  const [starting, setStarting] = useState(null);

  useEffect(() => {
    const query = term.trim();
    if (!query) {
      setResults(null);
      return undefined;
    }
    let live = true;
    const timer = setTimeout(() => {
      store.searchUsers(query).then(
        (found) => live && (setResults(found.filter((u) => u.user_id !== store.userId)), setError(null)),
        (e) => live && setError(errorText(e)),
      );
    }, 250);
    return () => { live = false; clearTimeout(timer); };
  }, [term]);

  async function start(user) {
    setStarting(user.user_id);
    try {
      const roomId = await store.openDirect(user.user_id);
      setTerm("");
      openRoom(roomId);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setStarting(null);
    }
  }

  return (
    <>
      <div class="people-search" role="search">
        <label for="people-search" class="visually-hidden">Find people</label>
        <input id="people-search" type="search" placeholder="Find people by name" value={term}
          onInput={(e) => setTerm(e.currentTarget.value)} autocomplete="off"
          onKeyDown={(e) => e.key === "Escape" && setTerm("")} />
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {results === null ? children : (
        <section aria-label="People" class="people">
          <p class="visually-hidden" role="status">{results.length ? `${results.length} people found` : "Nobody found"}</p>
          {results.length === 0 && <p class="muted">Nobody matches “{term}”.</p>}
          <ul class="list">
            {results.map((user) => (
              <li key={user.user_id}>
                <button type="button" class="row" onClick={() => start(user)} disabled={starting === user.user_id}>
                  <Avatar mxc={user.avatar_url} name={user.display_name || localpart(user.user_id)} id={user.user_id} />
                  <span class="row-text">
                    <span class="row-title">{user.display_name || localpart(user.user_id)}</span>
                    <span class="row-sub">{user.user_id}</span>
                  </span>
                  <span class="visually-hidden">, start a chat</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
    </>
  );
}

function preview(store, room) {
  const last = room.lastMessage();
  if (!last) return "";
  if (room.isRedacted(last)) return "Message deleted";
  const { content } = room.shownContent(last);
  const who = last.sender === store.userId ? "You" : store.displayName(last.sender, room);
  const body = content.msgtype === "m.image" ? "sent an image" : content.msgtype === "m.file" ? "sent a file" : content.body;
  return `${who}: ${body || ""}`;
}

function RoomList({ selected }) {
  const store = useStore();
  const rooms = store.sortedRooms();
  if (!rooms.length) return <p class="muted pad">No chats yet. Find someone above to start one.</p>;
  return (
    <nav aria-label="Chat list">
      <ul class="list rooms">
        {rooms.map((room) => <RoomRow key={room.roomId} room={room} selected={room.roomId === selected} />)}
      </ul>
    </nav>
  );
}

function RoomRow({ room, selected }) {
  const store = useStore();
  const name = store.roomName(room);
  const partner = store.dmPartner(room);
  const presence = partner ? presenceLabel(store.presence.get(partner)?.presence) : null;
  const { notification_count: count, highlight_count: highlights } = room.unread;
  if (room.membership === "invite") return <InviteRow room={room} name={name} />;
  const last = room.lastMessage();
  const unreadText = count ? `, ${count} unread${highlights ? `, ${highlights} mentioning you` : ""}` : "";
  return (
    <li>
      <a href={`#/room/${encodeURIComponent(room.roomId)}`} class={`row ${selected ? "selected" : ""}`} aria-current={selected ? "page" : undefined}>
        <Avatar mxc={store.roomAvatar(room)} name={name} id={room.roomId} presence={presence === "offline" ? null : presence} />
        <span class="row-text">
          <span class="row-title">{name}<span class="visually-hidden">{presence && presence !== "offline" ? `, ${presence}` : ""}{unreadText}</span></span>
          <span class="row-sub">{preview(store, room)}</span>
        </span>
        <span class="row-meta" aria-hidden="true">
          {last && <span class="time">{formatListTime(last.origin_server_ts)}</span>}
          {count > 0 && <span class={`badge ${highlights ? "highlight" : ""}`} data-testid="unread">{count}</span>}
        </span>
      </a>
    </li>
  );
}

function InviteRow({ room, name }) {
  const store = useStore();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const inviter = room.stateEvent("m.room.member", store.userId)?.sender;
  const act = (fn) => async () => {
    setBusy(true);
    try {
      await fn();
    } catch (e) {
      setError(errorText(e));
    }
    setBusy(false);
  };
  return (
    <li class="invite">
      <div class="row">
        <Avatar mxc={store.roomAvatar(room)} name={name} id={room.roomId} />
        <span class="row-text">
          <span class="row-title">{name}</span>
          <span class="row-sub">{inviter ? `${store.displayName(inviter, room)} invited you` : "Invitation"}</span>
        </span>
      </div>
      <div class="invite-actions">
        <button type="button" class="primary small" disabled={busy} onClick={act(async () => { await store.join(room); openRoom(room.roomId); })}
          aria-label={`Accept invitation to ${name}`}>Accept</button>
        <button type="button" class="small" disabled={busy} onClick={act(() => store.leave(room.roomId))}
          aria-label={`Decline invitation to ${name}`}>Decline</button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
    </li>
  );
}
