"""The value every request builder returns: an HTTP request described, not performed.

Builders are pure functions (no I/O, no clock, no randomness: transaction IDs come in as
arguments), so each is tested by comparing values, without a server. The transport
(``clientapi.transport``) performs a ``Request``; retrying performs the same value again,
so a retried send carries the same transaction ID and the server deduplicates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

CLIENT_V3 = "/_matrix/client/v3"
CLIENT_V1 = "/_matrix/client/v1"
MEDIA_V3 = "/_matrix/media/v3"

Query = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    # Percent-encoded path: every identifier in it went through ``path()``.
    path: str
    query: Query = ()
    json: Any = None
    # A raw body (media uploads); ``json`` and ``data`` are never both set.
    data: bytes | None = None
    content_type: str | None = None
    # False: sent without the access token (login, register, versions).
    auth: bool = True
    # True: performing it twice has the effect of performing it once, so a network error
    # or 5xx after the request may have reached the server is safe to retry.
    idempotent: bool = True
    # Seconds for the whole request; None: the transport's default.
    timeout: float | None = None
    # True: the answer is bytes (media), not JSON.
    binary: bool = False
    # Requests servers rate-limit together share a key ("send" for every message and
    # redaction); a 429 on one holds back the others. None: this endpoint alone.
    limit_key: str | None = None

    def describe(self) -> str:
        return f"{self.method} {self.path}"


def path(template: str, *segments: str) -> str:
    """``template`` with each ``{}`` replaced by a percent-encoded segment.

    Room IDs, event IDs, user IDs and aliases contain ``!$@#:`` and may contain ``/``;
    every one is encoded whole, so no ID can change which endpoint is called.
    """
    return template.format(*(quote(s, safe="") for s in segments))


def query(**params: str | int | bool | None) -> Query:
    """Query parameters without the unset ones; booleans as the spec's ``true``/``false``."""
    out: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        out.append((name, ("true" if value else "false") if isinstance(value, bool) else str(value)))
    return tuple(out)


def compact(**fields: Any) -> dict[str, Any]:
    """A JSON object without the fields left as None."""
    return {name: value for name, value in fields.items() if value is not None}
