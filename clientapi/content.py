"""Event content builders: messages (plain and Markdown), replies, reactions, edits, files.

Pure functions returning the JSON content of an event. Markdown is rendered by
markdown-it-py (CommonMark, raw HTML in the source escaped, not passed through) and the
result is sanitised by nh3 (Ammonia) to the tags and attributes the spec suggests
(client-server API, ``m.room.message`` msgtypes, "HTML"), so a message built here never
carries markup that would run in a reader's client.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt

HTML_FORMAT = "org.matrix.custom.html"

# Spec: the strongly suggested set of tags, and the attributes permitted on them.
ALLOWED_TAGS = frozenset({
    "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup", "sub", "li",
    "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div", "table", "thead", "tbody", "tr",
    "th", "td", "caption", "pre", "span", "img", "details", "summary",
})
ALLOWED_ATTRIBUTES = {
    "span": {"data-mx-bg-color", "data-mx-color", "data-mx-spoiler", "data-mx-maths"},
    "a": {"target", "href"},
    "img": {"width", "height", "alt", "title", "src"},
    "ol": {"start"},
    "code": {"class"},
    "div": {"data-mx-maths"},
}
LINK_SCHEMES = frozenset({"https", "http", "ftp", "mailto", "magnet"})
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    # nh3 checks every URL against one scheme list; the spec allows mxc:// only in img
    # and web schemes only in links, and classes on code only for syntax highlighting.
    if tag == "img" and attribute == "src":
        return value if value.startswith("mxc://") else None
    if tag == "a" and attribute == "href":
        return None if value.startswith("mxc:") else value
    if tag == "code" and attribute == "class":
        kept = [c for c in value.split() if c.startswith("language-")]
        return " ".join(kept) or None
    if attribute in ("data-mx-color", "data-mx-bg-color"):
        return value if _COLOUR.fullmatch(value) else None
    return value


def sanitise_html(fragment: str) -> str:
    """``fragment`` reduced to the spec's permitted tags and attributes; links get
    ``rel="noopener"``; scripts, styles and unknown tags go (their text stays, except
    for script, style and the old reply fallback
    ``mx-reply``, whose content goes too)."""
    return nh3.clean(
        fragment, tags=set(ALLOWED_TAGS), attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_keep_attribute, url_schemes=set(LINK_SCHEMES | {"mxc"}), url_relative="deny",
        link_rel="noopener", clean_content_tags={"script", "style", "mx-reply"},
    )


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # breaks: a single newline is a line break, as in every chat client.
    return MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["strikethrough", "table"])


def render_markdown(source: str) -> str | None:
    """Sanitised HTML for Markdown ``source``, or None when it has no formatting at all
    (the spec asks clients not to send HTML that is not needed)."""
    rendered = _markdown().render(source).strip()
    # One paragraph and nothing else: drop the <p> (no "extra paragraph tags").
    inner = rendered[3:-4] if rendered.startswith("<p>") and rendered.endswith("</p>") else None
    if inner is not None and "<p>" not in inner:
        rendered = inner
    plain = source.strip().replace("\n", "<br />\n")
    if rendered in (html.escape(plain, quote=False).replace("&lt;br /&gt;", "<br />"),
                    html.escape(plain).replace("&lt;br /&gt;", "<br />")):
        return None
    return sanitise_html(rendered)


def text(
    body: str, *, msgtype: str = "m.text", markdown: bool = False, formatted_body: str | None = None,
    mentions: Iterable[str] = (), mention_room: bool = False,
) -> dict[str, Any]:
    """An ``m.room.message`` of ``msgtype`` (``m.text``, ``m.notice``, ``m.emote``).

    ``markdown``: render ``body`` as Markdown into a sanitised ``formatted_body`` (the
    Markdown source stays the plain ``body``). ``formatted_body``: HTML of your own, also
    sanitised. ``m.mentions`` is always present (spec: "User and room mentions"), so only
    the users named in ``mentions`` are notified, never someone whose name is in the text.
    """
    content: dict[str, Any] = {"msgtype": msgtype, "body": body}
    formatted = sanitise_html(formatted_body) if formatted_body is not None else (
        render_markdown(body) if markdown else None)
    if formatted is not None:
        content["format"] = HTML_FORMAT
        content["formatted_body"] = formatted
    content["m.mentions"] = _mentions(mentions, mention_room)
    return content


def _mentions(user_ids: Iterable[str], room: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    users = sorted(set(user_ids))
    if users:
        out["user_ids"] = users
    if room:
        out["room"] = True
    return out


def reply(content: dict[str, Any], in_reply_to: str, *, thread_root: str | None = None) -> dict[str, Any]:
    """``content`` as a rich reply to event ``in_reply_to`` (spec: "Rich replies"; no
    fallback, as of v1.13). With ``thread_root`` the reply stays in that thread."""
    relates: dict[str, Any] = {"m.in_reply_to": {"event_id": in_reply_to}}
    if thread_root is not None:
        relates.update({"rel_type": "m.thread", "event_id": thread_root, "is_falling_back": False})
    return {**content, "m.relates_to": relates}


def reaction(event_id: str, key: str) -> dict[str, Any]:
    """An ``m.reaction``: an ``m.annotation`` of ``event_id`` with ``key`` (an emoji)."""
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}


def edit(event_id: str, new_content: dict[str, Any]) -> dict[str, Any]:
    """A replacement of ``event_id`` by ``new_content`` (spec: "Event replacements").

    The outer body is the ``* `` fallback for clients without edits; ``m.new_content``
    holds the message as it now reads, with its mentions, and the outer content mentions
    nobody, so an edit never notifies again.
    """
    new = {k: v for k, v in new_content.items() if k != "m.relates_to"}
    outer: dict[str, Any] = {"msgtype": new.get("msgtype", "m.text"), "body": "* " + str(new.get("body", ""))}
    if "formatted_body" in new:
        outer["format"] = HTML_FORMAT
        outer["formatted_body"] = "* " + str(new["formatted_body"])
    outer["m.new_content"] = new
    outer["m.mentions"] = {}
    outer["m.relates_to"] = {"rel_type": "m.replace", "event_id": event_id}
    return outer


def media_message(msgtype: str, body: str, url: str, info: dict[str, Any] | None = None,
                  filename: str | None = None) -> dict[str, Any]:
    """An ``m.image`` / ``m.file`` / ``m.audio`` / ``m.video`` message for an ``mxc://`` URL."""
    content: dict[str, Any] = {"msgtype": msgtype, "body": body, "url": url, "info": dict(info or {})}
    if filename is not None and filename != body:
        content["filename"] = filename
    content["m.mentions"] = {}
    return content


def msgtype_for(content_type: str) -> str:
    """The media msgtype for a MIME type."""
    major = content_type.split("/", 1)[0]
    return {"image": "m.image", "audio": "m.audio", "video": "m.video"}.get(major, "m.file")


def strip_reply_fallback(body: str) -> str:
    """``body`` without a reply fallback (leading ``> `` lines and the blank line after),
    as the spec asks of clients reading replies from before v1.13."""
    lines = body.split("\n")
    i = 0
    while i < len(lines) and lines[i].startswith("> "):
        i += 1
    if i and i < len(lines) and lines[i] == "":
        i += 1
    return "\n".join(lines[i:]) if i else body


def mentions_in(content: dict[str, Any]) -> Sequence[str]:
    """The user IDs an event's ``m.mentions`` names (empty if absent or malformed)."""
    mentions = content.get("m.mentions")
    users = mentions.get("user_ids") if isinstance(mentions, dict) else None
    return [u for u in users if isinstance(u, str)] if isinstance(users, list) else []
