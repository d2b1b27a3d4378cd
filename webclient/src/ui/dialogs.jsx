// Dialogs: your profile and status, a new group, chat settings (name, picture, members,
// invite, leave, block, report), history search, and reporting a message.

import { useEffect, useState } from "preact/hooks";
import { enc } from "../api.js";
import { localpart } from "../store.js";
import { Avatar, Dialog, errorText, Field, formatDay, formatTime, openRoom, presenceLabel, useStore } from "./common.jsx";
import { Icon } from "./icons.jsx";

function useAction() {
  const [state, setState] = useState({ busy: false, error: null, done: null });
  const run = (fn, done) => async (e) => {
    e?.preventDefault?.();
    setState({ busy: true, error: null, done: null });
    try {
      await fn();
      setState({ busy: false, error: null, done: done || null });
    } catch (err) {
      setState({ busy: false, error: errorText(err), done: null });
    }
  };
  return [state, run];
}

function Outcome({ state }) {
  if (state.error) return <p class="error" role="alert">{state.error}</p>;
  if (state.done) return <p class="success" role="status">{state.done}</p>;
  return null;
}

function AvatarUpload({ label, onUploaded }) {
  const store = useStore();
  const [state, run] = useAction();
  const [progress, setProgress] = useState(null);
  return (
    <div class="field">
      <label class="button small">
        {label}
        <input type="file" accept="image/*" class="visually-hidden" onChange={(e) => {
          const file = e.currentTarget.files[0];
          if (file) run(async () => { onUploaded(await store.api.upload(file, setProgress)); setProgress(null); }, "Picture updated.")();
        }} />
      </label>
      {progress !== null && state.busy && <progress max="1" value={progress} aria-label="Upload progress" />}
      <Outcome state={state} />
    </div>
  );
}

export function ProfileDialog({ onClose, onLogout }) {
  const store = useStore();
  const me = store.profiles.get(store.userId) || {};
  const presence = store.presence.get(store.userId) || {};
  const [name, setName] = useState(me.displayname || "");
  const [status, setStatus] = useState(presence.status_msg || "");
  const [state, run] = useAction();
  const base = `profile/${enc(store.userId)}`;

  const save = run(async () => {
    if (name.trim() !== (me.displayname || "")) await store.api.put(`${base}/displayname`, { displayname: name.trim() });
    await store.api.put(`presence/${enc(store.userId)}/status`, { presence: "online", status_msg: status.trim() });
    store.presence.set(store.userId, { ...presence, presence: "online", status_msg: status.trim() });
    store.profiles.delete(store.userId);
    await store.profile(store.userId);
  }, "Saved.");

  return (
    <Dialog title="Your profile" onClose={onClose}>
      <div class="profile-top">
        <Avatar mxc={me.avatar_url} name={me.displayname || localpart(store.userId)} id={store.userId} size={64} />
        <div>
          <p class="strong">{store.userId}</p>
          <AvatarUpload label="Change picture" onUploaded={async (url) => {
            await store.api.put(`${base}/avatar_url`, { avatar_url: url });
            store.profiles.delete(store.userId);
            await store.profile(store.userId);
          }} />
        </div>
      </div>
      <form onSubmit={save}>
        <Field label="Display name" value={name} onInput={setName} maxLength={256} />
        <Field label="Status message" value={status} onInput={setStatus} maxLength={256} hint="Shown to people you share a chat with." />
        <Outcome state={state} />
        <div class="dialog-actions">
          <button type="button" class="danger" onClick={onLogout}>Sign out</button>
          <button type="submit" class="primary" disabled={state.busy}>Save</button>
        </div>
      </form>
    </Dialog>
  );
}

// Finds people as you type, for adding to a group or inviting.
function UserPicker({ label, onPick, exclude = [] }) {
  const store = useStore();
  const [term, setTerm] = useState("");
  const [results, setResults] = useState([]);
  useEffect(() => {
    if (!term.trim()) {
      setResults([]);
      return undefined;
    }
    let live = true;
    const timer = setTimeout(() => store.searchUsers(term.trim()).then((r) => live && setResults(r), () => {}), 250);
    return () => { live = false; clearTimeout(timer); };
  }, [term]);
  const shown = results.filter((u) => u.user_id !== store.userId && !exclude.includes(u.user_id));
  return (
    <div class="picker">
      <Field label={label} type="search" value={term} onInput={setTerm} autocomplete="off" />
      <ul class="list">
        {shown.map((u) => (
          <li key={u.user_id}>
            <button type="button" class="row" onClick={() => { onPick(u); setTerm(""); }}>
              <Avatar mxc={u.avatar_url} name={u.display_name || localpart(u.user_id)} id={u.user_id} size={28} />
              <span class="row-text"><span class="row-title">{u.display_name || localpart(u.user_id)}</span><span class="row-sub">{u.user_id}</span></span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function NewGroupDialog({ onClose }) {
  const store = useStore();
  const [name, setName] = useState("");
  const [topic, setTopic] = useState("");
  const [people, setPeople] = useState([]);
  const [error, setError] = useState(null);
  const [state, run] = useAction();
  const create = (e) => {
    e.preventDefault();
    if (!name.trim()) {
      setError("Give the group a name.");
      return;
    }
    setError(null);
    run(async () => {
      const body = { preset: "private_chat", name: name.trim(), invite: people.map((p) => p.user_id) };
      if (topic.trim()) body.topic = topic.trim();
      const { room_id: roomId } = await store.api.post("createRoom", body);
      onClose();
      openRoom(roomId);
    })();
  };
  return (
    <Dialog title="New group chat" onClose={onClose}>
      <form onSubmit={create} noValidate>
        <Field label="Group name" value={name} onInput={setName} required error={error} autoFocus />
        <Field label="Topic (optional)" value={topic} onInput={setTopic} />
        <UserPicker label="Add people" exclude={people.map((p) => p.user_id)} onPick={(u) => setPeople([...people, u])} />
        {people.length > 0 && (
          <ul class="chips" aria-label="People to invite">
            {people.map((p) => (
              <li key={p.user_id}>{p.display_name || localpart(p.user_id)}{" "}
                <button type="button" class="icon small" aria-label={`Remove ${p.display_name || p.user_id}`}
                  onClick={() => setPeople(people.filter((x) => x !== p))}><Icon name="close" size={16} /></button>
              </li>
            ))}
          </ul>
        )}
        <Outcome state={state} />
        <div class="dialog-actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={state.busy}>Create group</button>
        </div>
      </form>
    </Dialog>
  );
}

export function RoomSettingsDialog({ room, onClose }) {
  const store = useStore();
  const [name, setName] = useState(room.stateEvent("m.room.name")?.content?.name || "");
  const [topic, setTopic] = useState(room.stateEvent("m.room.topic")?.content?.topic || "");
  const [state, run] = useAction();
  const [members, setMembers] = useState(null);
  const path = `rooms/${enc(room.roomId)}`;
  const isDirect = Boolean(store.dmPartner(room));

  useEffect(() => {
    store.api.get(`${path}/members`, { not_membership: "leave" }).then((r) => {
      for (const event of r.chunk || []) room.setState(event);
      setMembers(r.chunk || []);
    }, () => setMembers([]));
  }, [room.roomId]);

  const save = run(async () => {
    if (name.trim() !== (room.stateEvent("m.room.name")?.content?.name || "")) await store.api.put(`${path}/state/m.room.name/`, { name: name.trim() });
    if (topic.trim() !== (room.stateEvent("m.room.topic")?.content?.topic || "")) await store.api.put(`${path}/state/m.room.topic/`, { topic: topic.trim() });
  }, "Saved.");

  return (
    <Dialog title="Chat settings" onClose={onClose}>
      <form onSubmit={save}>
        <Field label="Chat name" value={name} onInput={setName} maxLength={255} />
        <Field label="Topic" value={topic} onInput={setTopic} />
        <AvatarUpload label="Change chat picture" onUploaded={(url) => store.api.put(`${path}/state/m.room.avatar/`, { url })} />
        <Outcome state={state} />
        <div class="dialog-actions"><button type="submit" class="primary" disabled={state.busy}>Save</button></div>
      </form>
      <Members room={room} members={members} />
      <Invite room={room} members={members} />
      <div class="dialog-actions">
        <button type="button" class="danger" onClick={run(async () => { await store.leave(room.roomId); onClose(); openRoom(null); })}>
          {isDirect ? "Leave this chat" : "Leave group"}
        </button>
      </div>
    </Dialog>
  );
}

function Members({ room, members }) {
  const store = useStore();
  if (members === null) return <p class="muted">Loading members…</p>;
  return (
    <section aria-labelledby="members-title">
      <h3 id="members-title">Members ({members.filter((m) => m.content.membership === "join").length})</h3>
      <ul class="list members">
        {members.map((m) => <Member key={m.state_key} room={room} member={m} />)}
      </ul>
    </section>
  );
}

function Member({ room, member }) {
  const store = useStore();
  const [reporting, setReporting] = useState(false);
  const [state, run] = useAction();
  const userId = member.state_key;
  const name = store.displayName(userId, room);
  const presence = store.presence.get(userId);
  const ignored = store.ignoredUsers().includes(userId);
  return (
    <li class="member">
      <Avatar mxc={member.content.avatar_url} name={name} id={userId} size={28} presence={presenceLabel(presence?.presence)} />
      <span class="row-text">
        <span class="row-title">{name}{member.content.membership === "invite" ? " (invited)" : ""}</span>
        <span class="row-sub">{presenceLabel(presence?.presence)}{presence?.status_msg ? ` · ${presence.status_msg}` : ""}</span>
      </span>
      {userId !== store.userId && (
        <span class="member-actions">
          <button type="button" class="small" onClick={run(() => store.setIgnored(userId, !ignored), ignored ? "Unblocked." : "Blocked.")}
            aria-label={`${ignored ? "Unblock" : "Block"} ${name}`}>{ignored ? "Unblock" : "Block"}</button>
          <button type="button" class="small" onClick={() => setReporting(true)} aria-label={`Report ${name}`}>Report</button>
        </span>
      )}
      <Outcome state={state} />
      {reporting && <ReportDialog room={room} userId={userId} onClose={() => setReporting(false)} />}
    </li>
  );
}

function Invite({ room, members }) {
  const store = useStore();
  const [state, run] = useAction();
  const present = (members || []).map((m) => m.state_key);
  return (
    <section>
      <UserPicker label="Invite someone" exclude={present} onPick={(u) => run(async () => {
        await store.api.post(`rooms/${enc(room.roomId)}/invite`, { user_id: u.user_id });
      }, `Invited ${u.display_name || u.user_id}.`)()} />
      <Outcome state={state} />
    </section>
  );
}

// Reports a message (POST /rooms/{roomId}/report/{eventId}) or a person
// (POST /users/{userId}/report).
export function ReportDialog({ room, event, userId, onClose }) {
  const store = useStore();
  const [reason, setReason] = useState("");
  const [state, run] = useAction();
  const target = event ? `rooms/${enc(room.roomId)}/report/${enc(event.event_id)}` : `users/${enc(userId)}/report`;
  const who = store.displayName(event ? event.sender : userId, room);
  return (
    <Dialog title={event ? `Report a message from ${who}` : `Report ${who}`} onClose={onClose}>
      <form onSubmit={run(() => store.api.post(target, { reason: reason.trim() }), "Thank you. The report was sent to the server’s administrators.")}>
        <Field label="What is wrong?" value={reason} onInput={setReason} maxLength={1000} autoFocus />
        <Outcome state={state} />
        <div class="dialog-actions">
          <button type="button" onClick={onClose}>{state.done ? "Close" : "Cancel"}</button>
          {!state.done && <button type="submit" class="primary" disabled={state.busy}>Send report</button>}
        </div>
      </form>
    </Dialog>
  );
}

// POST /search over room events, newest first; a room filter when opened from a room.
export function SearchDialog({ onClose, roomId }) {
  const store = useStore();
  const [term, setTerm] = useState("");
  const [onlyHere, setOnlyHere] = useState(Boolean(roomId));
  const [results, setResults] = useState(null);
  const [state, run] = useAction();
  const search = run(async () => {
    if (!term.trim()) return;
    const filter = onlyHere && roomId ? { rooms: [roomId] } : undefined;
    const response = await store.api.post("search", {
      search_categories: { room_events: { search_term: term.trim(), order_by: "recent", filter } },
    });
    setResults(response.search_categories?.room_events?.results || []);
  });
  return (
    <Dialog title="Search messages" onClose={onClose} wide>
      <form onSubmit={search} role="search">
        <Field label="Search for" type="search" value={term} onInput={setTerm} autoFocus />
        {roomId && (
          <div class="check">
            <input id="search-here" type="checkbox" checked={onlyHere} onChange={(e) => setOnlyHere(e.currentTarget.checked)} />
            <label for="search-here">Only in this chat</label>
          </div>
        )}
        <div class="dialog-actions"><button type="submit" class="primary" disabled={state.busy || !term.trim()}>Search</button></div>
      </form>
      <Outcome state={state} />
      {results && <p role="status" class="muted">{results.length ? `${results.length} found` : "No messages found."}</p>}
      {results && results.length > 0 && (
        <ul class="list search-results">
          {results.map(({ result }) => {
            const room = store.rooms.get(result.room_id);
            return (
              <li key={result.event_id}>
                <a class="row" href={`#/room/${encodeURIComponent(result.room_id)}`} onClick={onClose}>
                  <span class="row-text">
                    <span class="row-title">{store.displayName(result.sender, room)} in {room ? store.roomName(room) : result.room_id}</span>
                    <span class="row-sub result-body">{result.content?.body}</span>
                  </span>
                  <span class="row-meta time">{formatDay(result.origin_server_ts)}, {formatTime(result.origin_server_ts)}</span>
                </a>
              </li>
            );
          })}
        </ul>
      )}
    </Dialog>
  );
}
