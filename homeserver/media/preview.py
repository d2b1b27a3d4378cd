"""URL previews (spec: authed-content-repo.yaml, GET /_matrix/client/v1/media/preview_url):
the server fetches a web page for a client and answers its OpenGraph data.

Off unless ``media.url_preview.enabled``. A server that fetches URLs for its users can be
turned against its own network (SSRF), so every address it connects to must be public:
private, loopback, link-local, multicast and other reserved addresses are refused unless
``allowed_ip_ranges`` lists them. The check is made on the addresses the connection
actually uses (a resolver that drops refused ones, so a DNS answer cannot change between
check and connect), on IP literals in the URL, and again on every redirect, which is
followed by hand. No proxy from the environment is used. At most 1 MiB of the page is
read, for at most 10 seconds. Images are not fetched: answers carry no ``og:image``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from homeserver.cache import LruCache
from homeserver.config import UrlPreviewConfig
from homeserver.errors import MatrixError, forbidden, invalid_param, missing_param

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_PAGE_BYTES = 1 << 20
MAX_REDIRECTS = 5
MAX_KEYS, MAX_VALUE_LENGTH = 50, 2000
CACHE_MS = 3600 * 1000
_TIMEOUT = aiohttp.ClientTimeout(total=10)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CHARSET = re.compile(r"charset=\"?([A-Za-z0-9_.:-]+)", re.IGNORECASE)


class _Refused(OSError):
    """An address URL previews may not connect to (raised inside the resolver)."""


@dataclass(frozen=True)
class AddressPolicy:
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_config(cls, config: UrlPreviewConfig) -> AddressPolicy:
        return cls(tuple(ipaddress.ip_network(r, strict=False) for r in config.allowed_ip_ranges))

    def permits(self, address: IPAddress) -> bool:
        if any(address in network for network in self.allowed):
            return True
        # An IPv6 address that carries an IPv4 one (mapped, 6to4) is judged by that one too.
        if isinstance(address, ipaddress.IPv6Address):
            inner = address.ipv4_mapped or address.sixtofour
            if inner is not None and not self.permits(inner):
                return False
        return address.is_global and not address.is_multicast


class _CheckedResolver(AbstractResolver):
    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._resolver = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        permitted = [r for r in found if self._policy.permits(ipaddress.ip_address(r["host"].split("%")[0]))]
        if not permitted:
            raise _Refused(f"{host} has no address URL previews may fetch")
        return permitted

    async def close(self) -> None:
        await self._resolver.close()


@dataclass
class UrlPreviewer:
    config: UrlPreviewConfig
    policy: AddressPolicy
    _cache: LruCache[str, tuple[int, dict[str, Any]]] = field(default_factory=lambda: LruCache(1000))

    @classmethod
    def build(cls, config: UrlPreviewConfig) -> UrlPreviewer:
        return cls(config, AddressPolicy.from_config(config))

    async def preview(self, url: str | None, now_ms: int) -> dict[str, Any]:
        """The page's OpenGraph data (``og:*``, with ``<title>`` and the description meta
        as fallbacks); ``{}`` for anything that is not HTML. Pages are cached an hour."""
        if not self.config.enabled:
            raise MatrixError(404, "M_UNRECOGNIZED", "URL previews are not enabled on this server")
        if url is None:
            raise missing_param("url")
        target = _parse(url)
        cached = self._cache.get(str(target))
        if cached is not None and now_ms - cached[0] < CACHE_MS:
            return cached[1]
        result = _open_graph(*await self._fetch(target))
        self._cache.put(str(target), (now_ms, result))
        return result

    async def _fetch(self, url: URL) -> tuple[str, bytes]:
        connector = aiohttp.TCPConnector(resolver=_CheckedResolver(self.policy), use_dns_cache=False)
        async with aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT, trust_env=False,
                                         headers={"User-Agent": "Matrix homeserver URL preview"}) as session:
            for _ in range(MAX_REDIRECTS + 1):
                self._check_literal(url)
                try:
                    async with session.get(url, allow_redirects=False) as resp:
                        if resp.status in _REDIRECTS and "Location" in resp.headers:
                            url = _parse(str(url.join(URL(resp.headers["Location"]))))
                            continue
                        if resp.status != 200:
                            raise MatrixError(502, "M_UNKNOWN", f"The page answered HTTP {resp.status}")
                        content_type = resp.headers.get("Content-Type", "")
                        if not content_type.lower().startswith(_HTML_TYPES):
                            return content_type, b""
                        return content_type, await _read_at_most(resp.content, MAX_PAGE_BYTES)
                except aiohttp.ClientConnectorError as e:
                    if isinstance(e.os_error, _Refused):
                        raise forbidden("URL previews may not fetch that address") from None
                    raise MatrixError(502, "M_UNKNOWN", "Could not reach the page") from None
                except (aiohttp.ClientError, TimeoutError):
                    raise MatrixError(502, "M_UNKNOWN", "Could not fetch the page") from None
        raise MatrixError(502, "M_UNKNOWN", "Too many redirects")

    def _check_literal(self, url: URL) -> None:
        """An IP address written in the URL never goes through the resolver."""
        try:
            address = ipaddress.ip_address((url.host or "").split("%")[0])
        except ValueError:
            return
        if not self.policy.permits(address):
            raise forbidden("URL previews may not fetch that address")


def _parse(url: str) -> URL:
    try:
        parsed = URL(url)
    except ValueError:
        raise invalid_param("'url' is not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise invalid_param("'url' must be an http or https URL")
    return parsed.with_fragment(None)


async def _read_at_most(content: aiohttp.StreamReader, limit: int) -> bytes:
    parts, size = [], 0
    async for chunk in content.iter_any():
        parts.append(chunk[: limit - size])
        size += len(parts[-1])
        if size >= limit:
            break
    return b"".join(parts)


class _MetaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and self.title is None:
            self._in_title = True
        elif tag == "meta":
            values = dict(attrs)
            key, content = values.get("property") or values.get("name"), values.get("content")
            if key and content is not None and len(self.meta) < MAX_KEYS:
                self.meta.setdefault(key.strip().lower(), content.strip()[:MAX_VALUE_LENGTH])

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False


def _open_graph(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    match = _CHARSET.search(content_type)
    charset = match[1] if match else "utf-8"
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    parser = _MetaParser()
    parser.feed(text)
    result: dict[str, Any] = {
        k: v for k, v in parser.meta.items() if k.startswith("og:") and not k.startswith("og:image")
    }
    if "og:title" not in result and parser.title and parser.title.strip():
        result["og:title"] = parser.title.strip()[:MAX_VALUE_LENGTH]
    if "og:description" not in result and "description" in parser.meta:
        result["og:description"] = parser.meta["description"]
    return result

