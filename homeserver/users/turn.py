"""TURN credentials for calls (spec: client-server-api "Voice over IP", GET
/voip/turnServer), from the ``voip`` config.

With a shared secret, the credentials are those of coturn's ``use-auth-secret`` (the
"TURN REST API"): the username is ``<expiry in Unix seconds>:<user ID>`` and the password
the base64 HMAC-SHA1 of the username under the secret, so coturn checks them without
asking us, and they stop working at the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from homeserver.config import VoipConfig


def turn_server(voip: VoipConfig, user_id: str, now_ms: int) -> dict[str, Any]:
    """The response body; {} when no TURN server is configured (as Synapse answers)."""
    if not voip.turn_uris:
        return {}
    ttl = voip.turn_user_lifetime_ms // 1000
    if voip.turn_shared_secret is not None:
        username = f"{now_ms // 1000 + ttl}:{user_id}"
        mac = hmac.new(voip.turn_shared_secret.encode(), username.encode(), hashlib.sha1)
        password = base64.b64encode(mac.digest()).decode("ascii")
    else:
        username, password = voip.turn_username or "", voip.turn_password or ""
    return {"username": username, "password": password, "uris": list(voip.turn_uris), "ttl": ttl}
