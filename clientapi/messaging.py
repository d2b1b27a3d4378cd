"""Client methods: rooms, membership, direct chats, sending, history, receipts, typing,
reports."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from clientapi import content as build
from clientapi.api import rooms
from clientapi.account import AccountAPI
from clientapi.media_api import MediaAPI
from clientapi.errors import Forbidden, NotFound
from clientapi.events import Event, MemberEvent, MessageEvent, parse_event
from clientapi.responses import Messages, get, obj, parse_event_id, parse_events, parse_messages, parse_room_id, \
    parse_string_list
from clientapi.rooms import parse_direct


class MessagingAPI(AccountAPI, MediaAPI):
    # Rooms and membership.

    async def create_room(
        self, *, name: str | None = None, topic: str | None = None, invite: Sequence[str] = (),
        is_direct: bool = False, preset: str | None = None, visibility: str = "private",
        alias: str | None = None, room_version: str | None = None, initial_state: Sequence[Mapping[str, Any]] = (),
        power_level_content_override: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a room and return its ID. ``extra``: any other createRoom field."""
        body: dict[str, Any] = {"visibility": visibility, **({"is_direct": True} if is_direct else {})}
        for key, value in (("name", name), ("topic", topic), ("preset", preset), ("room_alias_name", alias),
                           ("room_version", room_version), ("power_level_content_override",
                                                             power_level_content_override)):
            if value is not None:
                body[key] = value
        if invite:
            body["invite"] = list(invite)
        if initial_state:
            body["initial_state"] = [dict(e) for e in initial_state]
        body.update(extra or {})
        request = rooms.create_room(body)
        return parse_room_id(await self.request(request), request.describe())

    async def join(self, room_id_or_alias: str, *, via: Sequence[str] = (), reason: str | None = None) -> str:
        request = rooms.join(room_id_or_alias, via, reason)
        return parse_room_id(await self.request(request), request.describe())

    async def leave(self, room_id: str, reason: str | None = None) -> None:
        await self.request(rooms.leave(room_id, reason))

    async def forget(self, room_id: str) -> None:
        await self.request(rooms.forget(room_id))

    async def invite(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        await self.request(rooms.membership("invite", room_id, user_id, reason))

    async def kick(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        await self.request(rooms.membership("kick", room_id, user_id, reason))

    async def ban(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        await self.request(rooms.membership("ban", room_id, user_id, reason))

    async def unban(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        await self.request(rooms.membership("unban", room_id, user_id, reason))

    async def joined_rooms(self) -> list[str]:
        request = rooms.joined_rooms()
        return parse_string_list(await self.request(request), "joined_rooms", request.describe())

    # Direct chats (spec: "Direct Messaging").

    async def start_dm(self, user_id: str) -> str:
        """The direct chat with ``user_id``: one recorded in ``m.direct`` that we are still
        in and they are in or invited to, or else a new one, created with ``is_direct``
        (their invite says it is a DM) and recorded in ``m.direct``."""
        for room_id in (await self.direct_rooms()).get(user_id, []):
            if await self._is_live_dm(room_id, user_id):
                return room_id
        room_id = await self.create_room(invite=[user_id], is_direct=True, preset="trusted_private_chat")
        await self.mark_direct(room_id, user_id)
        return room_id

    async def direct_rooms(self) -> dict[str, list[str]]:
        """``m.direct``, read from the server (the sync's copy may not have arrived yet)."""
        return parse_direct(await self.get_account_data("m.direct"))

    async def mark_direct(self, room_id: str, user_id: str) -> None:
        """Record ``room_id`` as a direct chat with ``user_id`` in ``m.direct``."""
        direct = parse_direct(await self.get_account_data("m.direct"))
        if room_id in direct.get(user_id, []):
            return
        direct.setdefault(user_id, []).append(room_id)
        await self.set_account_data("m.direct", direct)
        self.store.account_data["m.direct"] = direct

    async def _is_live_dm(self, room_id: str, user_id: str) -> bool:
        try:
            members = await self.members(room_id)
        except (Forbidden, NotFound):
            return False  # we left it, or it is gone
        membership = {m.user_id: m.membership for m in members}
        return membership.get(self.user_id) == "join" and membership.get(user_id) in ("join", "invite")

    # Sending.

    async def send_event(self, room_id: str, event_type: str, content: Mapping[str, Any],
                         txn_id: str | None = None) -> str:
        """Send any event; returns its ID. Retried sends reuse ``txn_id``, so the server
        makes the event once however often the request is repeated."""
        request = rooms.send_event(room_id, event_type, dict(content), txn_id or self.new_txn_id())
        return parse_event_id(await self.request(request), request.describe())

    async def send_text(
        self, room_id: str, body: str, *, markdown: bool = False, reply_to: Event | None = None,
        mentions: Iterable[str] = (), txn_id: str | None = None, msgtype: str = "m.text",
    ) -> str:
        """A text message; ``markdown`` renders it into a sanitised ``formatted_body``.
        ``reply_to``: a rich reply to that event (in its thread, if it is in one)."""
        mentioned = set(mentions) | ({reply_to.sender} if reply_to is not None else set())
        message = build.text(body, msgtype=msgtype, markdown=markdown, mentions=mentioned - {self.user_id})
        if reply_to is not None:
            thread = reply_to.thread_root if isinstance(reply_to, MessageEvent) else None
            message = build.reply(message, reply_to.event_id, thread_root=thread)
        return await self.send_event(room_id, "m.room.message", message, txn_id)

    async def send_notice(self, room_id: str, body: str, **kwargs: Any) -> str:
        """An ``m.notice``: what bots send (clients and bots do not answer notices)."""
        return await self.send_text(room_id, body, msgtype="m.notice", **kwargs)

    async def send_emote(self, room_id: str, body: str, **kwargs: Any) -> str:
        """An ``m.emote`` ("/me waves")."""
        return await self.send_text(room_id, body, msgtype="m.emote", **kwargs)

    async def send_file(
        self, room_id: str, data: bytes | str | os.PathLike[str], *, filename: str | None = None,
        content_type: str | None = None, body: str | None = None, info: dict[str, Any] | None = None,
    ) -> str:
        """Upload a file (bytes, or a path to read) and send it as ``m.image``, ``m.audio``,
        ``m.video`` or ``m.file`` by its type; returns the event ID."""
        if not isinstance(data, bytes):
            path = Path(data)
            filename = filename or path.name
            data = path.read_bytes()
        content_type = content_type or (mimetypes.guess_type(filename or "")[0] or "application/octet-stream")
        url = await self.upload(data, content_type, filename)
        details = {"mimetype": content_type, "size": len(data), **(info or {})}
        message = build.media_message(build.msgtype_for(content_type), body or filename or "file", url, details,
                                      filename)
        return await self.send_event(room_id, "m.room.message", message)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        return await self.send_event(room_id, "m.reaction", build.reaction(event_id, key))

    async def edit(self, room_id: str, event_id: str, body: str, *, markdown: bool = False,
                   msgtype: str = "m.text") -> str:
        """Replace the text of our message ``event_id``."""
        new = build.text(body, msgtype=msgtype, markdown=markdown)
        return await self.send_event(room_id, "m.room.message", build.edit(event_id, new))

    async def redact(self, room_id: str, event_id: str, reason: str | None = None,
                     txn_id: str | None = None) -> str:
        request = rooms.redact(room_id, event_id, txn_id or self.new_txn_id(), reason)
        return parse_event_id(await self.request(request), request.describe())

    async def send_state(self, room_id: str, event_type: str, content: Mapping[str, Any],
                         state_key: str = "") -> str:
        request = rooms.send_state(room_id, event_type, dict(content), state_key)
        return parse_event_id(await self.request(request), request.describe())

    # Reading.

    async def get_state(self, room_id: str) -> tuple[Event, ...]:
        request = rooms.get_state(room_id)
        return parse_events(await self.request(request), room_id, request.describe())

    async def get_state_event(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any] | None:
        """The content of one state event; None if the room has none of that type and key."""
        request = rooms.get_state_event(room_id, event_type, state_key)
        try:
            return obj(await self.request(request), request.describe())
        except NotFound:
            return None

    async def get_event(self, room_id: str, event_id: str) -> Event:
        request = rooms.get_event(room_id, event_id)
        return parse_event(await self.request(request), room_id, request.describe())

    async def members(self, room_id: str, membership: str | None = None) -> list[MemberEvent]:
        request = rooms.members(room_id, membership)
        where = request.describe()
        events = parse_events(get(obj(await self.request(request), where), "chunk", list, where), room_id, where)
        return [e for e in events if isinstance(e, MemberEvent)]

    async def messages(self, room_id: str, *, from_token: str | None = None, direction: str = "b",
                       limit: int = 50, filter: dict[str, Any] | None = None) -> Messages:
        """One page of history; pass ``end`` back as ``from_token`` for the next."""
        request = rooms.messages(room_id, from_token=from_token, direction=direction, limit=limit, filter=filter)
        return parse_messages(await self.request(request), room_id, request.describe())

    async def history(self, room_id: str, *, limit: int | None = None, page_size: int = 50,
                      from_token: str | None = None) -> AsyncIterator[Event]:
        """Events from the newest back to the room's creation (or ``limit`` of them)."""
        seen = 0
        while True:
            page = await self.messages(room_id, from_token=from_token, limit=page_size)
            for event in page.chunk:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield event
            if page.end is None or not page.chunk or page.end == from_token:
                return
            from_token = page.end

    # Receipts, typing, reports.

    async def send_receipt(self, room_id: str, event_id: str, receipt_type: str = "m.read",
                           thread_id: str | None = None) -> None:
        await self.request(rooms.receipt(room_id, event_id, receipt_type, thread_id))

    async def set_read_markers(self, room_id: str, fully_read: str, read: str | None = None) -> None:
        await self.request(rooms.read_markers(room_id, fully_read, read))

    async def set_typing(self, room_id: str, typing: bool = True, timeout_ms: int = 30_000) -> None:
        await self.request(rooms.typing(room_id, self.user_id, typing, timeout_ms))

    async def report_event(self, room_id: str, event_id: str, reason: str | None = None,
                           score: int | None = None) -> None:
        """Report an event to the server's admins (spec: "Reporting content")."""
        await self.request(rooms.report_event(room_id, event_id, reason, score))
