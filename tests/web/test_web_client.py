"""The built-in web client in Debian's Chromium. The whole story, two people in two
browser contexts against a real server (tests/web/story.mjs): sign-up, search, a DM, live
messages both ways, typing, receipts, an edit, a deletion, a reaction, a reply, an
image thumbnail, unread badges, hostile HTML, offline and back, history search, a
report, blocking, a new picture, a group; an axe-core scan of every screen;
screenshots at phone and desktop sizes. Then sign-up's errors (signup.mjs).

Access tokens live 3 s here, so both browsers refresh them several times on the way
("keep me signed in" through refresh tokens) without the people noticing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from tests.conftest import StartServer
from tests.web.node import chromium, node_with_packages, run

HERE = Path(__file__).resolve().parent
ARTEFACTS = Path(os.environ.get("HOMESERVER_TEST_ARTEFACTS", HERE / "artefacts"))
HOSTILE_STEP = "hostile HTML from bob is rendered harmless"


def _image(path: Path) -> Path:
    image = Image.new("RGB", (640, 480), (40, 120, 200))
    ImageDraw.Draw(image).ellipse((160, 80, 480, 400), fill=(250, 200, 40))
    image.save(path)
    return path


async def _script(name: str, *args: str) -> dict[str, Any]:
    """Runs tests/web/NAME in Chromium; its JSON summary, after it reported success."""
    browser = chromium()
    node = await node_with_packages(HERE)
    code, out, err = await run(node, str(HERE / name), *args, cwd=HERE, timeout=240, env={"CHROMIUM": browser})
    lines = out.strip().splitlines()
    assert lines, f"{name} printed nothing (exit {code}):\n{err}"
    summary: dict[str, Any] = json.loads(lines[-1])
    assert summary["ok"], f"failed at {summary.get('failed_step')!r}: {summary.get('error')}\n{err[-3000:]}"
    assert code == 0
    return summary


async def test_web_client_story(start_server: StartServer, tmp_path: Path) -> None:
    server = await start_server({"auth": {"refreshable_access_token_lifetime_ms": 3_000}})
    image = _image(tmp_path / "sunrise.png")
    summary = await _script("story.mjs", server.url, str(image), str(ARTEFACTS))

    # Every screen was scanned; none has a serious or critical accessibility violation.
    assert len(summary["axe"]) >= 15, summary["axe"]
    assert summary["violations"] == [], json.dumps(summary["violations"], indent=1)

    # The page ran without a script error, and broke its CSP nowhere but where hostile
    # HTML was parsed: the browser refused the inline handlers and styles even there.
    assert summary["console_errors"] == [], summary["console_errors"]
    for violation in summary["csp"]:
        assert violation["step"] == HOSTILE_STEP, violation
        assert violation["directive"] in ("script-src-attr", "style-src-attr", "style-src-elem"), violation

    # The hostile message kept its formatting and lost everything dangerous.
    hostile = summary["hostile"]
    assert hostile["pwned"] is None
    assert set(hostile["tags"]) <= {"a", "div", "em", "span", "strong"}, hostile["tags"]
    assert {"strong", "em", "a"} <= set(hostile["tags"])
    assert hostile["on_attributes"] == []
    assert hostile["hrefs"] == ["https://example.org/"], "the javascript: link must lose its href"
    assert hostile["rels"] == ["noopener noreferrer nofollow"]
    assert "fallback" not in hostile["text"], "mx-reply is stripped with its content"
    assert all("position" not in s for s in hostile["style_attributes"]), hostile["style_attributes"]

    # The image reached the other side as a thumbnail through authenticated media.
    assert summary["thumbnail"]["src"] == "blob:"
    assert 0 < summary["thumbnail"]["width"] <= 320
    assert summary["full_size"] == 640

    # Tokens never appear in a URL; media is only fetched through authenticated media;
    # both browsers refreshed their 3-second access tokens on the way.
    assert summary["tokens_in_urls"] == []
    assert summary["media_paths"], "the image and thumbnails were fetched"
    for path in summary["media_paths"]:
        assert path in ("/_matrix/client/v1/media/download", "/_matrix/client/v1/media/thumbnail",
                        "/_matrix/media/v3/upload"), path
    assert summary["refreshes"].get("alice", 0) >= 1 and summary["refreshes"].get("bob", 0) >= 1, summary["refreshes"]

    # Keyboard: Tab from the search reaches the chat list with a visible focus ring.
    keyboard = summary["keyboard"]
    assert keyboard["link"] and keyboard["outline"] != "none" and keyboard["outline_width"] != "0px", keyboard
    assert summary["phone_overflow"] == 0, "nothing scrolls sideways at 360 px"
    # The reloaded page had a window of the group's 46 messages; scrolling up loaded the rest.
    assert summary["history"]["loaded_at_first"] < 46 <= summary["history"]["loaded_at_the_end"], summary["history"]
    assert summary["blocked_hides_messages"], "a blocked person's messages leave the timeline"

    for name in ("room-desktop", "room-phone", "chat-list-phone", "signup-desktop"):
        assert (ARTEFACTS / f"{name}.png").stat().st_size > 5000, name


async def test_sign_up_errors_sit_beside_their_fields(start_server: StartServer) -> None:
    server = await start_server({"registration": {
        "require_token": True, "tokens": ["let-me-in"],
        "terms": {"version": "2.0", "policies": {"terms_of_service": "https://example.org/terms"}},
        "password_policy": {"require_digit": True},
    }})
    summary = await _script("signup.mjs", server.url, str(ARTEFACTS))
    assert summary["policy_link"] == "https://example.org/terms"
    errors = summary["errors"]
    assert errors["terms"] == "Accept the terms to create an account."
    assert errors["password"] and "(not beside)" not in errors["password"] and "digit" in errors["password"].lower()
    assert errors["token"] and "(not beside)" not in errors["token"]
    assert errors["login"] == "Wrong username or password."
    assert summary["violations"] == [], summary["violations"]
    assert summary["stored_after_sign_out"] == [0, 0], "signing out forgets the session"
    assert summary["storage"] == {"local": False, "session": True}, "not kept signed in: this tab only"
    # The account exists, with the terms accepted.
    assert (await server.login("carol", "now with 1 digit")).status == 200
