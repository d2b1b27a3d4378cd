"""The moderation bot: watches its rooms for configured words and for links.

On an offending message (or an edit that makes one) it redacts it, warns the sender,
reports it to the server admins (``POST /rooms/{roomId}/report/{eventId}``), and after
repeated offences in a room kicks and then bans the sender. Every decision goes to an
audit log (JSON lines beside its state, and optionally a room). Offences are counted
per room and user, saved, and forgotten after ``forget_after_days``. Members at or above
``exempt_power_level`` (moderators) are never moderated. The bot needs the power to
redact, kick and ban in the room; where it lacks one, the audit log says so.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from clientapi import ClientError, MessageEvent, Room

from bots.bot import Bot, on_event
from bots.state import JsonState

log = logging.getLogger("bots.moderation")

_LINK = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"']+", re.IGNORECASE)
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ModerationOptions:
    # Matched as whole words, ignoring case.
    words: tuple[str, ...] = ()
    block_links: bool = False
    # Links to these domains (and their subdomains) are allowed when links are blocked.
    allowed_domains: tuple[str, ...] = ()
    redact: bool = True
    warn: bool = True
    report: bool = True
    # Offences in a room before a kick, and before a ban (0: never).
    kick_after: int = 3
    ban_after: int = 5
    forget_after_days: float = 30.0
    exempt_power_level: int = 50
    warning: str = "{user}: your message was removed ({reason}). Repeated offences lead to a kick, then a ban."
    audit_room: str | None = None


@dataclass(frozen=True, slots=True)
class Offence:
    reason: str


class ModerationBot(Bot):
    Options = ModerationOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        words = [w.casefold() for w in self.options.words if w.strip()]
        self._words = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, words)) + r")(?!\w)") if words else None

    async def start(self) -> None:
        await super().start()
        self._state = JsonState(self.state_path("moderation.json"))
        self._audit_path = self.state_path("audit.jsonl")

    def check(self, body: str, formatted_body: str | None = None) -> Offence | None:
        """Why a message breaks the rules, or None."""
        if self._words is not None:
            match = self._words.search(body.casefold())
            if match:
                return Offence(f"the word {match.group(1)!r}")
        if self.options.block_links:
            links = _LINK.findall(body) + (_HREF.findall(formatted_body) if formatted_body else [])
            for link in links:
                if not self._allowed(link):
                    return Offence("a link")
        return None

    def _allowed(self, link: str) -> bool:
        host = (urlsplit(link if "://" in link else "http://" + link).hostname or "").lower()
        return any(host == d or host.endswith("." + d) for d in (d.lower() for d in self.options.allowed_domains))

    @on_event(MessageEvent)
    async def watch(self, room: Room | None, event: MessageEvent) -> None:
        if room is None or event.sender == self.client.user_id:
            return
        if room.power_level(event.sender) >= self.options.exempt_power_level:
            return
        new = event.new_content
        body, formatted = (new.get("body"), new.get("formatted_body")) if new else (event.body, event.formatted_body)
        offence = self.check(body if isinstance(body, str) else "", formatted if isinstance(formatted, str) else None)
        if offence is not None:
            await self.punish(room, event, offence)

    async def punish(self, room: Room, event: MessageEvent, offence: Offence) -> None:
        count = self._count(room.room_id, event.sender, event.origin_server_ts)
        options = self.options
        done: dict[str, Any] = {}
        if options.redact:
            done["redact"] = await self._attempt(self.client.redact(room.room_id, event.event_id, offence.reason))
        action = "ban" if options.ban_after and count >= options.ban_after else \
            "kick" if options.kick_after and count >= options.kick_after else None
        if options.warn and action is None:
            text = options.warning.format(user=room.display_name(event.sender), reason=offence.reason)
            done["warn"] = await self._attempt(
                self.client.send_notice(room.room_id, text, mentions=[event.sender]))
        if options.report:
            # Reports are rate-limited by servers; waiting one out must not stall the watch.
            self.spawn(self._report(room.room_id, event.event_id, offence, count))
            done["report"] = "queued"
        if action is not None:
            reason = f"{count} offences ({offence.reason})"
            call = self.client.ban if action == "ban" else self.client.kick
            done[action] = await self._attempt(call(room.room_id, event.sender, reason))
        await self.audit(room.room_id, event, offence, count, done)

    async def _attempt(self, call: Any) -> str:
        try:
            await call
            return "done"
        except ClientError as e:
            return f"failed: {e}"

    async def _report(self, room_id: str, event_id: str, offence: Offence, count: int) -> None:
        try:
            await self.client.report_event(room_id, event_id, f"moderation bot: {offence.reason} "
                                                              f"(offence {count} in this room)")
        except ClientError as e:
            log.warning("%s: could not report %s: %s", self.name, event_id, e)

    def _count(self, room_id: str, user_id: str, ts: int) -> int:
        """Record an offence at ``ts`` and return how many count in this room now."""
        state = self._state.load()
        offences = state.setdefault("offences", {}).setdefault(room_id, {})
        window_ms = self.options.forget_after_days * 86_400_000
        recent = [t for t in offences.get(user_id, []) if not window_ms or t > ts - window_ms]
        recent = (recent + [ts])[-max(self.options.ban_after, self.options.kick_after, 1):]
        offences[user_id] = recent
        self._state.save(state)
        return len(recent)

    async def audit(self, room_id: str, event: MessageEvent, offence: Offence, count: int,
                    done: dict[str, Any]) -> None:
        entry = {"ts": int(time.time() * 1000), "room_id": room_id, "user_id": event.sender,
                 "event_id": event.event_id, "reason": offence.reason, "offences": count, "actions": done}
        with open(self._audit_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        log.info("%s: %s", self.name, entry)
        if self.options.audit_room:
            summary = ", ".join(f"{k} {v}" for k, v in done.items())
            text = f"{event.sender} in {room_id}: {offence.reason}, offence {count}: {summary}"
            await self._attempt(self.client.send_notice(self.options.audit_room, text))
