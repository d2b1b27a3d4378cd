"""Exceptions raised by the SDK: one class per failure a caller may want to catch.

Every call returns its value or raises; there is no Response-or-Error union to inspect.
Errors the server answers with are ``MatrixRequestError`` subclasses chosen by errcode
(spec: client-server API, "Standard error response"), so ``except NotFound`` reads as
what it means. A server that answers something that is not the spec's shape raises
``MalformedResponse`` naming the request and the field, never an ``AttributeError``
from deep inside the SDK.
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """The root of every exception the SDK raises."""


class NotLoggedIn(ClientError):
    """A call that needs an access token was made before login (or after logout)."""


class TransportError(ClientError):
    """The server could not be reached (or kept failing) after every allowed retry."""

    def __init__(self, method: str, path: str, cause: BaseException | str) -> None:
        super().__init__(f"{method} {path}: {cause}")
        self.method = method
        self.path = path
        self.cause = cause


class MalformedResponse(ClientError):
    """The server answered, but not in the shape the spec gives for this endpoint."""

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(f"{what}: {problem}")
        self.what = what
        self.problem = problem


class MatrixRequestError(ClientError):
    """The server refused the request: an HTTP status and the spec's error body."""

    errcode_default: str | None = None

    def __init__(self, status: int, body: Any, method: str = "", path: str = "") -> None:
        self.status = status
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}
        errcode = self.body.get("errcode")
        self.errcode: str | None = errcode if isinstance(errcode, str) else self.errcode_default
        message = self.body.get("error")
        self.message: str = message if isinstance(message, str) else (str(body)[:200] if body else "")
        self.method = method
        self.path = path
        super().__init__(f"{method} {path}: {status} {self.errcode or ''} {self.message}".strip())


class Unauthorized(MatrixRequestError):
    """401 without a more precise errcode."""


class UnknownToken(MatrixRequestError):
    """M_UNKNOWN_TOKEN: the access (or refresh) token is not, or no longer, valid."""

    @property
    def soft_logout(self) -> bool:
        return self.body.get("soft_logout") is True


class MissingToken(MatrixRequestError):
    """M_MISSING_TOKEN"""


class UserInteractiveAuthRequired(MatrixRequestError):
    """401 with ``flows``: the endpoint needs user-interactive authentication."""

    @property
    def session(self) -> str | None:
        session = self.body.get("session")
        return session if isinstance(session, str) else None

    @property
    def flows(self) -> list[list[str]]:
        flows = self.body.get("flows")
        if not isinstance(flows, list):
            return []
        return [[s for s in f["stages"] if isinstance(s, str)] for f in flows
                if isinstance(f, dict) and isinstance(f.get("stages"), list)]

    @property
    def completed(self) -> list[str]:
        done = self.body.get("completed")
        return [s for s in done if isinstance(s, str)] if isinstance(done, list) else []


class Forbidden(MatrixRequestError):
    """M_FORBIDDEN"""


class UserDeactivated(Forbidden):
    """M_USER_DEACTIVATED"""


class NotFound(MatrixRequestError):
    """M_NOT_FOUND"""


class Unrecognized(MatrixRequestError):
    """M_UNRECOGNIZED: the server does not know this endpoint (or method)."""


class LimitExceeded(MatrixRequestError):
    """M_LIMIT_EXCEEDED (429) after the retry budget ran out."""

    # From the ``Retry-After`` header, which servers send besides or instead of the body's.
    retry_after_header_ms: int | None = None

    @property
    def retry_after_ms(self) -> int | None:
        value = self.body.get("retry_after_ms")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        return self.retry_after_header_ms


class BadRequest(MatrixRequestError):
    """400 without a more precise errcode."""


class BadJson(BadRequest):
    """M_BAD_JSON"""


class NotJson(BadRequest):
    """M_NOT_JSON"""


class InvalidParam(BadRequest):
    """M_INVALID_PARAM"""


class MissingParam(BadRequest):
    """M_MISSING_PARAM"""


class TooLarge(MatrixRequestError):
    """M_TOO_LARGE"""


class UserInUse(BadRequest):
    """M_USER_IN_USE"""


class InvalidUsername(BadRequest):
    """M_INVALID_USERNAME"""


class WeakPassword(BadRequest):
    """M_WEAK_PASSWORD"""


class RoomInUse(BadRequest):
    """M_ROOM_IN_USE"""


class Exclusive(BadRequest):
    """M_EXCLUSIVE"""


class ServerError(MatrixRequestError):
    """A 5xx answer that kept coming after every allowed retry."""


_BY_ERRCODE: dict[str, type[MatrixRequestError]] = {
    "M_FORBIDDEN": Forbidden,
    "M_USER_DEACTIVATED": UserDeactivated,
    "M_UNKNOWN_TOKEN": UnknownToken,
    "M_MISSING_TOKEN": MissingToken,
    "M_NOT_FOUND": NotFound,
    "M_UNRECOGNIZED": Unrecognized,
    "M_LIMIT_EXCEEDED": LimitExceeded,
    "M_BAD_JSON": BadJson,
    "M_NOT_JSON": NotJson,
    "M_INVALID_PARAM": InvalidParam,
    "M_MISSING_PARAM": MissingParam,
    "M_TOO_LARGE": TooLarge,
    "M_USER_IN_USE": UserInUse,
    "M_INVALID_USERNAME": InvalidUsername,
    "M_WEAK_PASSWORD": WeakPassword,
    "M_ROOM_IN_USE": RoomInUse,
    "M_EXCLUSIVE": Exclusive,
}

_BY_STATUS: dict[int, type[MatrixRequestError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 413: TooLarge, 429: LimitExceeded,
}


def error_for(status: int, body: Any, method: str = "", path: str = "") -> MatrixRequestError:
    """The exception for an error answer: by errcode, else by status."""
    errcode = body.get("errcode") if isinstance(body, dict) else None
    if status == 401 and isinstance(body, dict) and "flows" in body:
        cls: type[MatrixRequestError] = UserInteractiveAuthRequired
    elif isinstance(errcode, str) and errcode in _BY_ERRCODE:
        cls = _BY_ERRCODE[errcode]
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, MatrixRequestError)
    return cls(status, body, method, path)
