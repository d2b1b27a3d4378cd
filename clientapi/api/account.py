"""Request builders: discovery, registration, login, sessions, profiles, the user
directory, account data and presence (spec: client-server API sections of those names)."""

from __future__ import annotations

from typing import Any

from clientapi.api.request import CLIENT_V1, CLIENT_V3, Request, compact, path, query


def versions() -> Request:
    """GET /_matrix/client/versions"""
    return Request("GET", "/_matrix/client/versions", auth=False)


def register(
    username: str | None, password: str, *, auth: dict[str, Any] | None = None,
    device_id: str | None = None, device_name: str | None = None, refresh_token: bool = False,
) -> Request:
    """POST /_matrix/client/v3/register: without ``auth`` it answers 401 with the UIA flows."""
    body = compact(username=username, password=password, auth=auth, device_id=device_id,
                   initial_device_display_name=device_name)
    if refresh_token:
        body["refresh_token"] = True
    return Request("POST", CLIENT_V3 + "/register", json=body, auth=False, idempotent=False, limit_key="register")


def login_password(
    user: str, password: str, *, device_id: str | None = None, device_name: str | None = None,
    refresh_token: bool = False,
) -> Request:
    """POST /_matrix/client/v3/login with ``m.login.password``: ``user`` a localpart or user ID."""
    return _login({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                   "password": password}, device_id, device_name, refresh_token)


def login_token(
    token: str, *, device_id: str | None = None, device_name: str | None = None, refresh_token: bool = False,
) -> Request:
    """POST /_matrix/client/v3/login with ``m.login.token``."""
    return _login({"type": "m.login.token", "token": token}, device_id, device_name, refresh_token)


def _login(body: dict[str, Any], device_id: str | None, device_name: str | None, refresh_token: bool) -> Request:
    body.update(compact(device_id=device_id, initial_device_display_name=device_name))
    if refresh_token:
        body["refresh_token"] = True
    # Not idempotent: a second login after a lost answer would make a second device.
    return Request("POST", CLIENT_V3 + "/login", json=body, auth=False, idempotent=False, limit_key="login")


def refresh(refresh_token: str) -> Request:
    """POST /_matrix/client/v3/refresh.

    Safe to retry: the old refresh token stays valid until the new tokens are used
    (spec: "Refreshing access tokens").
    """
    return Request("POST", CLIENT_V3 + "/refresh", json={"refresh_token": refresh_token}, auth=False)


def logout() -> Request:
    """POST /_matrix/client/v3/logout"""
    return Request("POST", CLIENT_V3 + "/logout", json={})


def logout_all() -> Request:
    """POST /_matrix/client/v3/logout/all"""
    return Request("POST", CLIENT_V3 + "/logout/all", json={})


def whoami() -> Request:
    """GET /_matrix/client/v3/account/whoami"""
    return Request("GET", CLIENT_V3 + "/account/whoami")


def get_profile(user_id: str) -> Request:
    """GET /_matrix/client/v3/profile/{userId}"""
    return Request("GET", path(CLIENT_V3 + "/profile/{}", user_id))


def set_displayname(user_id: str, displayname: str) -> Request:
    """PUT /_matrix/client/v3/profile/{userId}/displayname"""
    return Request("PUT", path(CLIENT_V3 + "/profile/{}/displayname", user_id), json={"displayname": displayname})


def set_avatar_url(user_id: str, avatar_url: str) -> Request:
    """PUT /_matrix/client/v3/profile/{userId}/avatar_url"""
    return Request("PUT", path(CLIENT_V3 + "/profile/{}/avatar_url", user_id), json={"avatar_url": avatar_url})


def search_users(term: str, limit: int = 10) -> Request:
    """POST /_matrix/client/v3/user_directory/search (a read: safe to retry)."""
    return Request("POST", CLIENT_V3 + "/user_directory/search", json={"search_term": term, "limit": limit})


def get_account_data(user_id: str, event_type: str, room_id: str | None = None) -> Request:
    """GET /_matrix/client/v3/user/{userId}[/rooms/{roomId}]/account_data/{type}"""
    return Request("GET", _account_data_path(user_id, event_type, room_id))


def set_account_data(user_id: str, event_type: str, content: dict[str, Any], room_id: str | None = None) -> Request:
    """PUT /_matrix/client/v3/user/{userId}[/rooms/{roomId}]/account_data/{type}"""
    return Request("PUT", _account_data_path(user_id, event_type, room_id), json=content)


def _account_data_path(user_id: str, event_type: str, room_id: str | None) -> str:
    if room_id is None:
        return path(CLIENT_V3 + "/user/{}/account_data/{}", user_id, event_type)
    return path(CLIENT_V3 + "/user/{}/rooms/{}/account_data/{}", user_id, room_id, event_type)


def get_presence(user_id: str) -> Request:
    """GET /_matrix/client/v3/presence/{userId}/status"""
    return Request("GET", path(CLIENT_V3 + "/presence/{}/status", user_id))


def set_presence(user_id: str, presence: str, status_msg: str | None = None) -> Request:
    """PUT /_matrix/client/v3/presence/{userId}/status"""
    return Request("PUT", path(CLIENT_V3 + "/presence/{}/status", user_id),
                   json=compact(presence=presence, status_msg=status_msg))


def mutual_rooms(user_id: str) -> Request:
    """GET /_matrix/client/v1/mutual_rooms?user_id=..."""
    return Request("GET", CLIENT_V1 + "/mutual_rooms", query=query(user_id=user_id))


def admin_list_users(
    *, order_by: str = "creation_ts", direction: str = "f", from_token: str | None = None, limit: int = 100,
    guests: bool = False, deactivated: bool = False,
) -> Request:
    """GET /_synapse/admin/v2/users: the local users, for server admins (Synapse's admin API,
    which other servers implement too; not part of the Matrix spec)."""
    return Request("GET", "/_synapse/admin/v2/users", query=query(
        order_by=order_by, dir=direction, limit=limit, guests=guests, deactivated=deactivated,
        **{"from": from_token},
    ))
