"""Pure request builders, one module per spec area. Each function returns a ``Request``."""

from clientapi.api import account, media, rooms, sync
from clientapi.api.request import Request

__all__ = ["Request", "account", "media", "rooms", "sync"]
