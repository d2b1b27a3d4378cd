"""The welcome bot: every new local user gets a direct message on how to find people and
start a chat.

It learns of new users through the admin API in Synapse's shape (``GET
/_synapse/admin/v2/users``, ordered by ``creation_ts``), so it works on any server that
has it (ours, Synapse) and needs no hook inside the server; its account must be a server
admin. It polls every ``poll_seconds``. What it has done is saved after each welcome
(the newest creation time handled, and who was welcomed at exactly that time), so a
restart welcomes nobody twice; its first start welcomes only users who sign up after it
(``welcome_existing: true`` to greet everyone already there).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from clientapi import ClientError, Forbidden
from clientapi import content as build
from clientapi.responses import AdminUser

from bots.bot import Bot
from bots.state import JsonState

log = logging.getLogger("bots.welcome")

DEFAULT_MESSAGE = """\
Welcome to {server_name}, {displayname}!

**To talk to someone:** start a new chat and type part of their username or their \
display name. Everyone on this server can be found that way. Pick them from the list \
and a direct chat opens; send a message and they see it at once.

**To find your way around:** the rooms you are in are listed on the left; rooms you \
are invited to show up there too.

This is an automated message; replies are not read."""


@dataclass(frozen=True, slots=True)
class WelcomeOptions:
    # Markdown; {user_id}, {displayname} and {server_name} are filled in.
    message: str = DEFAULT_MESSAGE
    poll_seconds: float = 30.0
    welcome_existing: bool = False
    page_size: int = 100


class WelcomeBot(Bot):
    Options = WelcomeOptions

    async def start(self) -> None:
        await super().start()
        self._state = JsonState(self.state_path("welcome.json"))
        self._polling = asyncio.Lock()  # one poll at a time, or a user could be welcomed twice
        self._poller = self.spawn(self._poll_forever())

    async def stop(self) -> None:
        self._poller.cancel()
        await super().stop()

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Forbidden:
                log.error("%s: %s is not a server admin, so it cannot list new users", self.name,
                          self.client.user_id)
            except ClientError as e:
                log.warning("%s: listing users failed: %s", self.name, e)
            await asyncio.sleep(self.options.poll_seconds)

    async def poll_once(self) -> list[str]:
        """Welcome every user who signed up since the last poll; returns their IDs."""
        async with self._polling:
            return await self._poll()

    async def _poll(self) -> list[str]:
        state = self._state.load()
        if "since_ts" not in state:
            state = await self._first_state()
            self._state.save(state)
        welcomed = []
        for user in await self._new_users(state["since_ts"], set(state["at_since"])):
            if self._should_welcome(user):
                await self.welcome(user)
                welcomed.append(user.name)
            if user.creation_ts > state["since_ts"]:
                state = {"since_ts": user.creation_ts, "at_since": []}
            state["at_since"].append(user.name)
            self._state.save(state)
        return welcomed

    async def _first_state(self) -> dict[str, Any]:
        if self.options.welcome_existing:
            return {"since_ts": 0, "at_since": []}
        page = await self.client.admin_list_users(direction="b", limit=self.options.page_size)
        if not page.users:
            return {"since_ts": 0, "at_since": []}
        newest = page.users[0].creation_ts
        return {"since_ts": newest, "at_since": [u.name for u in page.users if u.creation_ts == newest]}

    async def _new_users(self, since_ts: int, at_since: set[str]) -> list[AdminUser]:
        """Users created after ``since_ts`` (or at it, and not yet seen), oldest first.

        Pages go newest first, so a sign-up during the walk shifts the offsets towards
        users already seen (seen twice, kept once), never past one unseen.
        """
        found: dict[str, AdminUser] = {}
        token: str | None = None
        while True:
            page = await self.client.admin_list_users(direction="b", from_token=token, limit=self.options.page_size)
            for user in page.users:
                if user.creation_ts > since_ts or (user.creation_ts == since_ts and user.name not in at_since):
                    found.setdefault(user.name, user)
            if page.next_token is None or not page.users or page.users[-1].creation_ts < since_ts:
                break
            token = page.next_token
        return sorted(found.values(), key=lambda u: (u.creation_ts, u.name))

    def _should_welcome(self, user: AdminUser) -> bool:
        # People only: not ourselves, nor guests, bots or support accounts (user_type set).
        return not (user.name == self.client.user_id or user.deactivated or user.is_guest
                    or user.user_type is not None)

    async def welcome(self, user: AdminUser) -> None:
        room_id = await self.client.start_dm(user.name)
        text = self.options.message.format(user_id=user.name, displayname=user.displayname or user.name,
                                           server_name=user.name.split(":", 1)[-1])
        # One transaction ID per user: if we stop between sending and saving, the resend
        # after a restart (same device) is the same event, not a second welcome.
        txn_id = "welcome-" + hashlib.sha256(user.name.encode()).hexdigest()[:32]
        await self.client.send_event(room_id, "m.room.message", build.text(text, msgtype="m.notice", markdown=True),
                                     txn_id)
        log.info("%s: welcomed %s in %s", self.name, user.name, room_id)
