"""Client methods: registration, login, logout, whoami, profiles, the user directory,
account data and presence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clientapi.api import account
from clientapi.core import ClientCore
from clientapi.errors import NotFound, UserInteractiveAuthRequired
from clientapi.events import PresenceEvent
from clientapi.responses import AdminUserPage, Profile, Session, UserSearchResult, WhoAmI, get, obj, \
    parse_admin_users, parse_login, parse_profile, parse_string_list, parse_user_search, parse_whoami


class AccountAPI(ClientCore):
    async def register(
        self, username: str, password: str, *, registration_token: str | None = None,
        device_name: str | None = None, refresh_token: bool = False, accept_terms: bool = False,
    ) -> Session:
        """Create an account and log in as it, completing the user-interactive auth stages
        this SDK can complete by itself (``m.login.dummy``, ``m.login.registration_token``
        with ``registration_token``, ``m.login.terms`` with ``accept_terms``)."""
        auth: dict[str, Any] | None = None
        for _ in range(5):
            request = account.register(username, password, auth=auth, device_name=device_name,
                                       refresh_token=refresh_token)
            try:
                body = await self.request(request)
            except UserInteractiveAuthRequired as e:
                auth = _next_stage(e, registration_token, accept_terms)
                continue
            session = parse_login(body, request.describe(), self.now_ms())
            await self._set_session(session)
            return session
        raise RuntimeError("registration did not complete after five stages")

    async def login(
        self, user: str, password: str, *, device_id: str | None = None, device_name: str | None = None,
        refresh_token: bool = False,
    ) -> Session:
        """Log in with a password; ``user`` is a localpart or a full user ID.

        ``refresh_token``: ask for a refreshable access token; the client then refreshes
        it before it expires, and reports each rotated pair to ``on_session``.
        ``device_id``: log in again as a device you had (keeps its transaction IDs).
        """
        request = account.login_password(user, password, device_id=device_id, device_name=device_name,
                                         refresh_token=refresh_token)
        return await self._login(request)

    async def login_with_token(self, token: str, *, device_name: str | None = None,
                               refresh_token: bool = False) -> Session:
        """Log in with an ``m.login.token`` (from SSO, or an admin's log-in-as)."""
        return await self._login(account.login_token(token, device_name=device_name, refresh_token=refresh_token))

    async def _login(self, request: Any) -> Session:
        session = parse_login(await self.request(request), request.describe(), self.now_ms())
        await self._set_session(session)
        return session

    async def logout(self, *, all_devices: bool = False) -> None:
        """End this session (or every session of the user)."""
        await self.request(account.logout_all() if all_devices else account.logout())
        await self._set_session(None)

    async def whoami(self) -> WhoAmI:
        request = account.whoami()
        return parse_whoami(await self.request(request), request.describe())

    async def versions(self) -> list[str]:
        """The spec versions the server supports (no login needed)."""
        request = account.versions()
        return parse_string_list(await self.request(request), "versions", request.describe())

    async def get_profile(self, user_id: str | None = None) -> Profile:
        request = account.get_profile(user_id or self.user_id)
        return parse_profile(await self.request(request), request.describe())

    async def set_displayname(self, displayname: str) -> None:
        await self.request(account.set_displayname(self.user_id, displayname))

    async def set_avatar_url(self, avatar_url: str) -> None:
        await self.request(account.set_avatar_url(self.user_id, avatar_url))

    async def search_users(self, term: str, limit: int = 10) -> list[UserSearchResult]:
        """People whose username or display name matches ``term`` (the user directory)."""
        request = account.search_users(term, limit)
        return parse_user_search(await self.request(request), request.describe())

    async def get_account_data(self, event_type: str, room_id: str | None = None) -> dict[str, Any] | None:
        """Account data of ``event_type`` (global, or of ``room_id``); None if never set."""
        request = account.get_account_data(self.user_id, event_type, room_id)
        try:
            return obj(await self.request(request), request.describe())
        except NotFound:
            return None

    async def set_account_data(self, event_type: str, content: Mapping[str, Any], room_id: str | None = None) -> None:
        await self.request(account.set_account_data(self.user_id, event_type, dict(content), room_id))

    async def set_presence(self, presence: str, status_msg: str | None = None) -> None:
        """``online``, ``unavailable`` or ``offline``, with an optional status message."""
        await self.request(account.set_presence(self.user_id, presence, status_msg))

    async def get_presence(self, user_id: str) -> PresenceEvent:
        request = account.get_presence(user_id)
        body = obj(await self.request(request), request.describe())
        where = request.describe()
        return PresenceEvent(user_id, get(body, "presence", str, where), get(body, "status_msg", str, where, None),
                             get(body, "last_active_ago", int, where, None),
                             get(body, "currently_active", bool, where, False))

    async def mutual_rooms(self, user_id: str) -> list[str]:
        request = account.mutual_rooms(user_id)
        return parse_string_list(await self.request(request), "joined", request.describe())

    async def admin_list_users(self, *, from_token: str | None = None, limit: int = 100,
                               direction: str = "f", order_by: str = "creation_ts") -> AdminUserPage:
        """A page of the server's local users, for server admins: Synapse's admin API
        (``GET /_synapse/admin/v2/users``), which other servers implement too."""
        request = account.admin_list_users(order_by=order_by, direction=direction, from_token=from_token,
                                           limit=limit)
        return parse_admin_users(await self.request(request), request.describe())


def _next_stage(e: UserInteractiveAuthRequired, token: str | None, accept_terms: bool) -> dict[str, Any]:
    """The auth dict for the next stage of a flow we can finish; re-raise if none."""
    can = {"m.login.dummy"} | ({"m.login.registration_token"} if token else set()) \
        | ({"m.login.terms"} if accept_terms else set())
    for flow in e.flows:
        remaining = [stage for stage in flow if stage not in e.completed]
        if remaining and all(stage in can for stage in remaining):
            stage = remaining[0]
            auth: dict[str, Any] = {"type": stage}
            if e.session:
                auth["session"] = e.session
            if stage == "m.login.registration_token":
                auth["token"] = token
            return auth
    raise e

