"""The request builders and content builders are pure: tested by value, no server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from clientapi import content
from clientapi.api import account, media, rooms, sync
from clientapi.api.request import Request


def test_ids_in_paths_are_encoded_whole() -> None:
    request = rooms.send_event("!room/../x:example.org", "m.room.message", {"body": "x"}, "txn/1")
    assert request.path == "/_matrix/client/v3/rooms/%21room%2F..%2Fx%3Aexample.org/send/m.room.message/txn%2F1"
    assert request.method == "PUT" and request.idempotent
    assert rooms.get_state_event("!r:s", "m.room.member", "@a:s").path.endswith(
        "/state/m.room.member/%40a%3As")
    # An empty state key still names the state event, not the whole state.
    assert rooms.send_state("!r:s", "m.room.name", {"name": "x"}).path.endswith("/state/m.room.name/")


def test_a_send_is_the_same_request_every_time() -> None:
    a = rooms.send_event("!r:s", "m.room.message", {"body": "x"}, "t1")
    assert a == rooms.send_event("!r:s", "m.room.message", {"body": "x"}, "t1")
    assert a != rooms.send_event("!r:s", "m.room.message", {"body": "x"}, "t2")


def test_what_may_be_retried_after_it_may_have_reached_the_server() -> None:
    assert rooms.send_event("!r:s", "t", {}, "x").idempotent
    assert rooms.redact("!r:s", "$e", "x").idempotent
    assert rooms.join("!r:s").idempotent
    assert account.refresh("r").idempotent  # the old refresh token stays valid until used
    for request in (rooms.create_room({}), account.login_password("a", "b"), media.upload(b"x", "text/plain"),
                    rooms.membership("kick", "!r:s", "@u:s"), rooms.report_event("!r:s", "$e")):
        assert not request.idempotent, request


def test_login_and_register_are_sent_without_a_token() -> None:
    login = account.login_password("alice", "pw", device_id="DEV", refresh_token=True)
    assert not login.auth
    assert login.json == {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
                          "password": "pw", "device_id": "DEV", "refresh_token": True}
    assert account.login_token("tok").json == {"type": "m.login.token", "token": "tok"}
    register = account.register("bob", "pw", auth={"type": "m.login.dummy", "session": "s"})
    assert not register.auth and register.json["auth"] == {"type": "m.login.dummy", "session": "s"}
    assert not account.versions().auth


def test_sync_query_and_long_poll_timeout() -> None:
    request = sync.sync(since="s1", timeout_ms=30_000, full_state=True, filter={"room": {"timeline": {"limit": 5}}})
    assert dict(request.query) == {"since": "s1", "timeout": "30000", "full_state": "true",
                                   "filter": '{"room":{"timeline":{"limit":5}}}'}
    assert request.timeout is not None and request.timeout > 30
    assert dict(sync.sync().query) == {"timeout": "30000"}


def test_history_and_members_queries() -> None:
    request = rooms.messages("!r:s", from_token="t", limit=10, filter={"types": ["m.room.message"]})
    assert dict(request.query) == {"dir": "b", "limit": "10", "from": "t", "filter": '{"types": ["m.room.message"]}'}
    with pytest.raises(ValueError):
        rooms.messages("!r:s", direction="sideways")
    assert rooms.members("!r:s", "join").query == (("membership", "join"),)
    assert rooms.join("#a:s", via=["s1", "s2"]).query == (("via", "s1"), ("via", "s2"))
    assert rooms.typing("!r:s", "@u:s", False).json == {"typing": False}
    assert rooms.receipt("!r:s", "$e", thread_id="main").json == {"thread_id": "main"}


def test_admin_user_list_in_synapse_shape() -> None:
    request = account.admin_list_users(direction="b", from_token="100", limit=50)
    assert request.path == "/_synapse/admin/v2/users"
    assert dict(request.query) == {"order_by": "creation_ts", "dir": "b", "limit": "50", "guests": "false",
                                   "deactivated": "false", "from": "100"}


def test_media_uses_the_authenticated_endpoints() -> None:
    assert media.download("mxc://example.org/abc").path == "/_matrix/client/v1/media/download/example.org/abc"
    assert media.download("mxc://example.org/abc", "a b.png").path.endswith("/abc/a%20b.png")
    thumb = media.thumbnail("mxc://example.org/abc", 64, 32, "crop")
    assert thumb.binary and dict(thumb.query) == {"width": "64", "height": "32", "method": "crop"}
    upload = media.upload(b"\x89PNG", "image/png", "x.png")
    assert upload.data == b"\x89PNG" and upload.content_type == "image/png" and upload.json is None
    for bad in ("http://example.org/abc", "mxc://example.org", "mxc:///abc", "mxc://s/a/b"):
        with pytest.raises(ValueError):
            media.parse_mxc(bad)


def test_membership_actions_are_checked() -> None:
    assert rooms.membership("ban", "!r:s", "@u:s", "spam").json == {"user_id": "@u:s", "reason": "spam"}
    with pytest.raises(ValueError):
        rooms.membership("promote", "!r:s", "@u:s")


def test_requests_are_plain_values() -> None:
    request = rooms.create_room({"name": "x"})
    assert isinstance(request, Request)
    json.dumps(request.json)
    with pytest.raises(AttributeError):
        request.path = "/elsewhere"  # type: ignore[misc]


# Content.


def test_plain_text_has_no_html_and_empty_mentions() -> None:
    assert content.text("hello") == {"msgtype": "m.text", "body": "hello", "m.mentions": {}}
    assert content.text("hi <b>", markdown=True) == {"msgtype": "m.text", "body": "hi <b>", "m.mentions": {}}


def test_markdown_is_rendered_and_sanitised() -> None:
    message = content.text("**bold** and <script>alert(1)</script> [x](javascript:alert(1))", markdown=True)
    assert message["body"] == "**bold** and <script>alert(1)</script> [x](javascript:alert(1))"
    assert message["format"] == "org.matrix.custom.html"
    html = message["formatted_body"]
    assert html.startswith("<strong>bold</strong>")
    assert "<script" not in html and "javascript:" not in html.replace("[x](javascript:alert(1))", "")
    assert '<a href="javascript' not in html


def test_sanitiser_keeps_the_spec_set_only() -> None:
    dirty = ('<p onclick="x">a</p><a href="https://e.org" target="_blank">l</a><a href="/rel">r</a>'
             '<img src="https://evil/x.png"><img src="mxc://s/m" alt="m"><code class="language-py evil">c</code>'
             '<span data-mx-color="#00ff00" data-mx-bg-color="red">s</span><mx-reply>quoted</mx-reply>'
             '<iframe src="x"></iframe><style>p{}</style><font color="red">f</font>')
    clean = content.sanitise_html(dirty)
    assert "<p>a</p>" in clean
    assert '<a href="https://e.org" target="_blank" rel="noopener">l</a>' in clean
    assert '<a rel="noopener">r</a>' in clean  # relative link dropped
    assert "evil" not in clean and "<img>" in clean and '<img src="mxc://s/m" alt="m">' in clean
    assert '<code class="language-py">c</code>' in clean
    assert '<span data-mx-color="#00ff00">s</span>' in clean
    assert "quoted" not in clean and "iframe" not in clean and "p{}" not in clean and "font" not in clean


def test_reply_edit_reaction() -> None:
    reply = content.reply(content.text("yes", mentions=["@a:s"]), "$orig")
    assert reply["m.relates_to"] == {"m.in_reply_to": {"event_id": "$orig"}}
    assert reply["m.mentions"] == {"user_ids": ["@a:s"]}
    threaded = content.reply(content.text("yes"), "$orig", thread_root="$root")
    assert threaded["m.relates_to"] == {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": False,
                                        "m.in_reply_to": {"event_id": "$orig"}}
    edit = content.edit("$orig", content.text("*new*", markdown=True, mentions=["@b:s"]))
    assert edit["body"] == "* *new*" and edit["formatted_body"] == "* <em>new</em>"
    assert edit["m.new_content"]["body"] == "*new*" and edit["m.new_content"]["m.mentions"] == {"user_ids": ["@b:s"]}
    assert edit["m.mentions"] == {} and edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$orig"}
    assert content.reaction("$e", "👍") == {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$e",
                                                            "key": "👍"}}


def test_reply_fallback_is_stripped_when_reading() -> None:
    assert content.strip_reply_fallback("> <@a:s> hi\n> there\n\nmy answer") == "my answer"
    assert content.strip_reply_fallback("> quoting is fine") == ""
    assert content.strip_reply_fallback("no fallback\n> later quote") == "no fallback\n> later quote"


def test_media_message() -> None:
    assert content.msgtype_for("image/png") == "m.image" and content.msgtype_for("application/pdf") == "m.file"
    message = content.media_message("m.image", "cat", "mxc://s/m", {"mimetype": "image/png"}, "cat.png")
    assert message == {"msgtype": "m.image", "body": "cat", "url": "mxc://s/m", "info": {"mimetype": "image/png"},
                       "filename": "cat.png", "m.mentions": {}}


def test_the_sdk_never_imports_the_server() -> None:
    """clientapi is a client of any server: importing all of it loads nothing of ours."""
    code = ("import sys, pkgutil, importlib, clientapi\n"
            "for m in pkgutil.walk_packages(clientapi.__path__, 'clientapi.'): importlib.import_module(m.name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('homeserver', 'bots', 'cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
