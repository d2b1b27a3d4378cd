// One open room: its header (presence and status for a direct chat), the timeline, who
// is typing, and the composer. Reading it moves the read receipt.

import { useCallback, useEffect, useState } from "preact/hooks";
import { Avatar, presenceLabel, useStore } from "./common.jsx";
import { Composer } from "./composer.jsx";
import { ReportDialog, RoomSettingsDialog } from "./dialogs.jsx";
import { Timeline } from "./timeline.jsx";
import { Icon } from "./icons.jsx";

export function RoomView({ room, onSearch }) {
  const store = useStore();
  const [reply, setReply] = useState(null);
  const [editing, setEditing] = useState(null);
  const [dialog, setDialog] = useState(null);
  const done = useCallback(() => { setReply(null); setEditing(null); }, []);
  const closeDialog = useCallback(() => setDialog(null), []);

  // Read while shown: the receipt follows the newest event whenever the tab is visible.
  const newest = room.events[room.events.length - 1]?.event_id;
  useEffect(() => {
    const read = () => document.visibilityState === "visible" && room.membership === "join" && store.markRead(room).catch(() => {});
    read();
    document.addEventListener("visibilitychange", read);
    return () => document.removeEventListener("visibilitychange", read);
  }, [newest, room.membership]);

  if (room.membership === "invite") {
    return <section class="room" aria-label={store.roomName(room)}><RoomHeader room={room} /><div class="empty"><p>Accept the invitation in the chat list to read this chat.</p></div></section>;
  }
  return (
    <section class="room" aria-labelledby="room-title">
      <RoomHeader room={room} onSettings={() => setDialog({ kind: "settings" })} onSearch={onSearch} />
      <Timeline room={room} onReply={(e) => { setEditing(null); setReply(e); }} onEdit={(e) => { setReply(null); setEditing(e); }}
        onReport={(e) => setDialog({ kind: "report", event: e })} />
      <Typing room={room} />
      <Composer room={room} reply={reply} editing={editing} onDone={done} onEditLast={setEditing} />
      {dialog?.kind === "settings" && <RoomSettingsDialog room={room} onClose={closeDialog} />}
      {dialog?.kind === "report" && <ReportDialog room={room} event={dialog.event} onClose={closeDialog} />}
    </section>
  );
}

function RoomHeader({ room, onSettings, onSearch }) {
  const store = useStore();
  const name = store.roomName(room);
  const partner = store.dmPartner(room);
  const presence = partner ? store.presence.get(partner) : null;
  const members = room.summary["m.joined_member_count"] || room.members("join").length;
  const subtitle = partner
    ? [presenceLabel(presence?.presence), presence?.status_msg].filter(Boolean).join(" · ")
    : `${members} ${members === 1 ? "member" : "members"}`;
  const topic = room.stateEvent("m.room.topic")?.content?.topic;
  const partnerMembership = partner ? room.member(partner)?.membership : null;
  useEffect(() => { if (partner) store.fetchPresence(partner); }, [partner, partnerMembership]);
  return (
    <header class="room-header">
      <a href="#/" class="icon back" aria-label="Back to chats"><Icon name="back" /></a>
      <Avatar mxc={store.roomAvatar(room)} name={name} id={room.roomId} presence={partner ? presenceLabel(presence?.presence) : null} />
      <div class="room-title">
        <h1 id="room-title">{name}</h1>
        <p class="muted">{subtitle}{topic ? ` · ${topic}` : ""}</p>
      </div>
      {onSearch && <button type="button" class="icon" onClick={onSearch} aria-label="Search messages in this chat" title="Search messages"><Icon name="search" /></button>}
      {onSettings && <button type="button" class="icon" onClick={onSettings} aria-label="Chat settings and members" title="Chat settings"><Icon name="settings" /></button>}
    </header>
  );
}

function Typing({ room }) {
  const store = useStore();
  const names = room.typing.filter((u) => u !== store.userId).map((u) => store.displayName(u, room));
  const text = names.length === 0 ? ""
    : names.length === 1 ? `${names[0]} is typing…`
      : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : "Several people are typing…";
  return <p class="typing" data-testid="typing">{text}</p>;
}
