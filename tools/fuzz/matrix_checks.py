"""Schemathesis checks for a Matrix homeserver, loaded with SCHEMATHESIS_HOOKS.

Besides schemathesis's own ``not_a_server_error`` (no 5xx), every error answer must be a
Matrix error (client-server-api "Standard error response"): a JSON object whose
``errcode`` is a string in the ``M_`` namespace. A user-interactive auth 401 may instead
carry ``flows`` (client-server-api "User-interactive authentication API").
"""

from __future__ import annotations

from typing import Any

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
