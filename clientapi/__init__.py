"""An async Python SDK for the Matrix client-server API, for any spec-compliant server.

It never imports the ``homeserver`` package: it is a client like any other.
"""

from clientapi.client import Client
from clientapi.errors import (BadJson, ClientError, Forbidden, InvalidParam, LimitExceeded, MalformedResponse,
                              MatrixRequestError, MissingParam, MissingToken, NotFound, NotJson, NotLoggedIn,
                              ServerError, TooLarge, TransportError, UnknownToken, Unrecognized,
                              UserInteractiveAuthRequired, UserInUse, WeakPassword)
from clientapi.events import (AccountDataEvent, EphemeralEvent, Event, InviteEvent, MemberEvent, MessageEvent,
                              PresenceEvent, ReactionEvent, RedactionEvent, StateEvent)
from clientapi.responses import Media, Messages, Profile, Session, SyncResponse, UserSearchResult, WhoAmI
from clientapi.rooms import Room
from clientapi.store import FileStore, MemoryStore, SyncStore
from clientapi.transport import NO_RETRY, RetryPolicy

__all__ = [
    "AccountDataEvent", "BadJson", "Client", "ClientError", "EphemeralEvent", "Event", "FileStore", "Forbidden",
    "InvalidParam", "InviteEvent", "LimitExceeded", "MalformedResponse", "MatrixRequestError", "Media",
    "MemberEvent", "MemoryStore", "MessageEvent", "Messages", "MissingParam", "MissingToken", "NO_RETRY",
    "NotFound", "NotJson", "NotLoggedIn", "PresenceEvent", "Profile", "ReactionEvent", "RedactionEvent",
    "RetryPolicy", "Room", "ServerError", "Session", "StateEvent", "SyncResponse", "SyncStore", "TooLarge",
    "TransportError", "UnknownToken", "Unrecognized", "UserInUse", "UserInteractiveAuthRequired",
    "UserSearchResult", "WeakPassword", "WhoAmI",
]
