"""Serving what people upload without letting it attack another person's browser.

Spec: client-server-api "Content repository": the recommended Content-Security-Policy,
Cross-Origin-Resource-Policy (v1.4), and "Serving inline content": only the listed types
are served ``inline``, everything else (HTML, SVG, XML, PDF, scripts, unknown) as an
``attachment``. The declared type decides (the spec explains why that is safe once the
disposition follows it), and ``nosniff`` stops a browser second-guessing it.
"""

from __future__ import annotations

import re
from urllib.parse import quote

# Spec: "Serving inline content".
INLINE_CONTENT_TYPES: frozenset[str] = frozenset({
    "text/css", "text/plain", "text/csv", "application/json", "application/ld+json",
    "image/jpeg", "image/gif", "image/png", "image/apng", "image/webp", "image/avif",
    "video/mp4", "video/webm", "video/ogg", "video/quicktime",
    "audio/mp4", "audio/webm", "audio/aac", "audio/mpeg", "audio/ogg", "audio/wave", "audio/wav",
    "audio/x-wav", "audio/x-pn-wav", "audio/flac", "audio/x-flac",
})

# The spec's recommended policy, plus media-src 'self' so inline audio and video still play.
CONTENT_SECURITY_POLICY = (
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
    "style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",
}

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_CONTENT_TYPE_LENGTH = 255

# type/subtype with optional parameters, printable ASCII only (RFC 9110 media-type, loosely).
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+/[A-Za-z0-9!#$%&'*+.^_`|~-]+([ \t]*;[\x20-\x7e]*)?")
# Filename characters that may go in a quoted-string as they are (RFC 6266 section 4.1).
_PLAIN_FILENAME = re.compile(r"[\x20-\x7e]+")


def normalise_content_type(declared: str | None) -> str | None:
    """The uploader's Content-Type, kept as given when well-formed; the default when absent.
    None when malformed (the caller refuses the upload)."""
    if declared is None or not declared.strip():
        return DEFAULT_CONTENT_TYPE
    declared = declared.strip()
    if len(declared) > MAX_CONTENT_TYPE_LENGTH or not _CONTENT_TYPE.fullmatch(declared):
        return None
    return declared


def essence(content_type: str) -> str:
    """``Text/HTML; charset=utf-8`` -> ``text/html``."""
    return content_type.split(";", 1)[0].strip().lower()


def is_inline_safe(content_type: str) -> bool:
    return essence(content_type) in INLINE_CONTENT_TYPES


def content_disposition(content_type: str, filename: str | None) -> str:
    """``inline`` for the spec's safe types, ``attachment`` otherwise, with the file name.

    RFC 6266: a printable-ASCII name goes in ``filename="..."`` (quotes and backslashes
    escaped); any other name goes in RFC 5987's ``filename*=utf-8''...`` percent-encoding,
    so no upload name can break the header or smuggle another one in.
    """
    disposition = "inline" if is_inline_safe(content_type) else "attachment"
    if not filename:
        return disposition
    if _PLAIN_FILENAME.fullmatch(filename):
        escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
        return f'{disposition}; filename="{escaped}"'
    return f"{disposition}; filename*=utf-8''{quote(filename, safe='')}"
