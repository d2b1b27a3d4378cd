"""User-interactive authentication (spec: client-server-api "User-Interactive
Authentication API").

An endpoint names its flows; ``authenticate`` either returns the completed session (the
request may proceed) or raises ``AuthRequired``, the spec's 401 body with ``flows``,
``params``, ``session``, ``completed`` and, after a failed stage, ``errcode``/``error``.
A session belongs to one method and path, and to the user it was started for.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.errors import MatrixError
from homeserver.server import HomeServer
from homeserver.storage import uia as store
from homeserver.users import identifiers, login

DUMMY = "m.login.dummy"
PASSWORD = "m.login.password"
REGISTRATION_TOKEN = "m.login.registration_token"
TERMS = "m.login.terms"

SESSION_LIFETIME_MS = 30 * 60 * 1000

Flow = Sequence[str]


class AuthRequired(MatrixError):
    def __init__(self, body: dict[str, Any], errcode: str | None = None, message: str = "") -> None:
        super().__init__(401, errcode or "", message)
        self.body = body

    def to_json(self) -> dict[str, Any]:
        if not self.errcode:
            return self.body
        return {"errcode": self.errcode, "error": self.message, **self.body}


@dataclass(frozen=True, slots=True)
class Request:
    """What a UIA-protected request is: where it was made and for whom."""

    method: str
    path: str
    # The account being re-authenticated; None while registering.
    user_id: str | None


async def authenticate(
    hs: HomeServer, request: Request, auth: Any, flows: Sequence[Flow], params: dict[str, Any] | None = None
) -> str:
    """Run one step of UIA; return the session ID once some flow is complete."""
    params = params or {}
    if auth is not None and not isinstance(auth, dict):
        raise MatrixError(400, "M_BAD_JSON", "'auth' must be an object")
    session_id = auth.get("session") if auth else None
    if session_id is None:
        session_id = await _new_session(hs, request)
        if not auth:
            raise AuthRequired(_body(flows, params, session_id, {}))
    elif not isinstance(session_id, str):
        raise MatrixError(400, "M_BAD_JSON", "'auth.session' must be a string")
    session = await store.get_session(hs.db.pool, session_id)
    if session is None or hs.clock.now_ms() - session.created_ts > SESSION_LIFETIME_MS:
        raise MatrixError(400, "M_UNKNOWN", "Unknown or expired session")
    if (session.method, session.path, session.user_id) != (request.method, request.path, request.user_id):
        raise MatrixError(400, "M_UNKNOWN", "Session was started for a different request")
    completed = dict(session.completed)
    stage = auth.get("type") if auth else None
    if stage is not None and stage not in completed:
        try:
            result = await _check_stage(hs, request, stage, auth, flows, completed)
        except MatrixError as e:
            raise AuthRequired(_body(flows, params, session_id, completed), e.errcode, e.message) from None
        await store.mark_completed(hs.db.pool, session_id, stage, result)
        completed[stage] = result
    if any(all(s in completed for s in flow) for flow in flows):
        return session_id
    raise AuthRequired(_body(flows, params, session_id, completed))


async def finish(hs: HomeServer, session_id: str) -> None:
    """The protected request succeeded: the session cannot authorise another one."""
    await store.delete_session(hs.db.pool, session_id)


async def _new_session(hs: HomeServer, request: Request) -> str:
    now = hs.clock.now_ms()
    await store.delete_expired(hs.db.pool, now - SESSION_LIFETIME_MS)
    session_id = secrets.token_urlsafe(24)
    await store.create_session(hs.db.pool, session_id, now, request.method, request.path, request.user_id)
    return session_id


def _body(flows: Sequence[Flow], params: dict[str, Any], session_id: str, completed: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "flows": [{"stages": list(flow)} for flow in flows],
        "params": params,
        "session": session_id,
    }
    if completed:
        body["completed"] = list(completed)
    return body


async def _check_stage(
    hs: HomeServer, request: Request, stage: Any, auth: dict[str, Any], flows: Sequence[Flow],
    completed: dict[str, Any],
) -> Any:
    # Stages must be done in flow order: the next stage of some flow consistent with those done.
    expected = {
        flow[len(completed)] for flow in flows
        if len(flow) > len(completed) and all(s in completed for s in flow[: len(completed)])
    }
    if stage not in expected:
        raise MatrixError(400, "M_UNRECOGNIZED", f"Auth stage {stage!r} is not expected here")
    if stage == DUMMY or stage == TERMS:
        return True
    if stage == REGISTRATION_TOKEN:
        token = auth.get("token")
        if not isinstance(token, str) or token not in hs.config.registration.tokens:
            raise MatrixError(401, "M_FORBIDDEN", "Invalid registration token")
        return token
    if stage == PASSWORD:
        user_id = identifiers.user_id_from_auth(hs, auth)
        if request.user_id is None or user_id != request.user_id:
            raise MatrixError(401, "M_FORBIDDEN", "Invalid username or password")
        password = auth.get("password")
        if not isinstance(password, str):
            raise MatrixError(400, "M_BAD_JSON", "'password' must be a string")
        await login.verify_password(hs, user_id, password, ip="")
        return user_id
    raise MatrixError(400, "M_UNRECOGNIZED", f"Unknown auth stage {stage!r}")
