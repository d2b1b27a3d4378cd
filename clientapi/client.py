"""``Client``: an async Matrix client for any spec-compliant homeserver.

    async with Client("https://matrix.example.org") as client:
        await client.login("alice", "password")
        room_id = await client.start_dm("@bob:example.org")
        await client.send_text(room_id, "Hello **Bob**", markdown=True)

The methods are grouped by spec area in ``account``, ``media_api``, ``messaging`` and
``sync``; each is a pure builder from ``clientapi.api`` performed by the transport and
parsed into a typed value, or an exception from ``clientapi.errors``.
"""

from __future__ import annotations

from clientapi.sync import SyncAPI


class Client(SyncAPI):
    """See the module docstring; the constructor is ``ClientCore.__init__``."""
