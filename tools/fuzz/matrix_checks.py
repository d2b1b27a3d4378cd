"""Schemathesis checks for a Matrix homeserver, loaded with SCHEMATHESIS_HOOKS.

Besides schemathesis's own ``not_a_server_error`` (no 5xx), every error answer must be a
Matrix error (client-server-api "Standard error response"): a JSON object whose
``errcode`` is a string in the ``M_`` namespace. A user-interactive auth 401 may instead
carry ``flows`` (client-server-api "User-interactive authentication API").

Path parameters are sometimes the fuzzer's own room, user and event, so that requests
get past the first "unknown room" check into the handlers behind it.
"""

from __future__ import annotations

import os
import zlib
from typing import Any
from urllib.parse import quote

import schemathesis


@schemathesis.check
def matrix_error_body(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - any parse failure is the finding
        raise AssertionError(f"{response.status_code} answer is not JSON: {response.text[:200]!r}") from None
    if not isinstance(body, dict):
        raise AssertionError(f"{response.status_code} answer is not a JSON object: {body!r:.200}")
    if response.status_code == 401 and isinstance(body.get("flows"), list):
        return None
    errcode = body.get("errcode")
    if not isinstance(errcode, str) or not errcode.startswith("M_"):
        raise AssertionError(f"{response.status_code} answer has no M_ errcode: {body!r:.200}")
    return None


# Real identifiers from the running server (set by fuzz_client_server.py): half of the
# generated path parameters name them, so that requests reach past "unknown room". Path
# parameters arrive percent-encoded.
_KNOWN = {
    name: quote(os.environ[variable], safe="")
    for name, variable in (("roomId", "FUZZ_ROOM_ID"), ("userId", "FUZZ_USER_ID"), ("eventId", "FUZZ_EVENT_ID"))
    if os.environ.get(variable)
}


@schemathesis.hook
def map_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    if not path_parameters or not _KNOWN.keys() & path_parameters.keys():
        return path_parameters
    if zlib.crc32(repr(sorted(path_parameters.items())).encode()) % 2:  # half, reproducibly
        return path_parameters
    return {**path_parameters, **{k: v for k, v in _KNOWN.items() if k in path_parameters}}
