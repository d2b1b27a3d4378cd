"""Request builders: /sync and filters (spec: client-server API "Syncing")."""

from __future__ import annotations

import json
from typing import Any

from clientapi.api.request import CLIENT_V3, Request, path, query

# Added to a long-poll's timeout: the server answers at ``timeout`` at the latest, so a
# request still open this long after it is dead (a server restarted mid-poll).
LONG_POLL_GRACE_SECONDS = 30.0


def sync(
    *, since: str | None = None, timeout_ms: int = 30_000, full_state: bool = False,
    filter: str | dict[str, Any] | None = None, set_presence: str | None = None,
) -> Request:
    """GET /_matrix/client/v3/sync"""
    filter_param = json.dumps(filter, separators=(",", ":")) if isinstance(filter, dict) else filter
    return Request("GET", CLIENT_V3 + "/sync", query=query(
        since=since, timeout=timeout_ms, full_state=full_state or None, filter=filter_param,
        set_presence=set_presence,
    ), timeout=timeout_ms / 1000 + LONG_POLL_GRACE_SECONDS)


def upload_filter(user_id: str, definition: dict[str, Any]) -> Request:
    """POST /_matrix/client/v3/user/{userId}/filter (storing one filter twice is harmless)."""
    return Request("POST", path(CLIENT_V3 + "/user/{}/filter", user_id), json=definition)
