"""Configuration: YAML into frozen dataclasses, one per section.

Every section is a frozen dataclass whose fields carry their defaults. ``parse_config``
walks the YAML against those fields with one generic, strict parser: an unknown key or a
value of the wrong type is refused with a ``ConfigError`` naming the full key path and
what was expected, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml


class ConfigError(Exception):
    """A config file that cannot be served: the message names the key and the expectation."""


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    bind: str = "127.0.0.1"
    port: int = 8008
    # PEM files; both set means the listener speaks TLS.
    tls_certificate_path: str | None = None
    tls_private_key_path: str | None = None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    server_name: str = "localhost"
    # The base URL clients reach us at; advertised in /.well-known/matrix/client.
    public_baseurl: str | None = None
    # Delegation target advertised in /.well-known/matrix/server ("host:port").
    well_known_server: str | None = None
    signing_key_path: str = "signing.key"
    listeners: tuple[ListenerConfig, ...] = (ListenerConfig(),)
    # Largest request body accepted outside the media repository.
    max_request_body_bytes: int = 1_048_576
    # Users who may call the admin API, by full user ID (more can be promoted by an admin).
    admins: tuple[str, ...] = ()
    # Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For header is believed
    # for the client's address (rate limits, login lockout, devices' last-seen address).
    trusted_proxies: tuple[str, ...] = ()
    # A request's head (request line and headers) must be complete this long after its
    # first byte arrives, or the connection is closed.
    header_timeout_ms: int = 20_000
    # A request body may pause this long between two reads (media uploads); a JSON body
    # (at most max_request_body_bytes) must arrive within it. 408 past it.
    body_timeout_ms: int = 60_000
    # A connection with no request in progress (keep-alive, or new and silent) is closed
    # after this long. A request being handled, such as a /sync long-poll, is not bound by it.
    idle_timeout_ms: int = 60_000
    # Connections open at once; past it a new connection is closed at once. Keep it
    # below the process's open-file limit (ulimit -n).
    max_connections: int = 20_000


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    # Empty: start the embedded PostgreSQL under the data directory.
    url: str | None = None
    embedded_dir: str = "postgres"
    pool_min_size: int = 2
    pool_max_size: int = 20
    # true: a write is acknowledged once its WAL is on disk, so an acknowledged message
    # survives power loss. false: commits return before the flush; an OS crash or power
    # loss can lose the last fraction of a second of acknowledged writes (never corrupt
    # the database). With group commit, false bought no measurable throughput.
    synchronous_commit: bool = True


@dataclass(frozen=True, slots=True)
class PasswordPolicyConfig:
    min_length: int = 8
    require_digit: bool = False
    require_symbol: bool = False
    require_lowercase: bool = False
    require_uppercase: bool = False


@dataclass(frozen=True, slots=True)
class TermsConfig:
    version: str = "1.0"
    # Policy name -> URL of the document, shown to users at sign-up.
    policies: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegistrationConfig:
    enabled: bool = True
    require_token: bool = False
    # Tokens accepted by m.login.registration_token (each usable any number of times).
    tokens: tuple[str, ...] = ()
    terms: TermsConfig | None = None
    # Secret for /_synapse/admin/v1/register (HMAC-SHA1 shared-secret registration).
    shared_secret: str | None = None
    password_policy: PasswordPolicyConfig = PasswordPolicyConfig()


@dataclass(frozen=True, slots=True)
class PasswordHashConfig:
    # argon2id; the defaults are RFC 9106's second recommended option (64 MiB, t=3, p=4).
    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4


@dataclass(frozen=True, slots=True)
class AuthConfig:
    password_hash: PasswordHashConfig = PasswordHashConfig()
    # Lifetime of an access token issued together with a refresh token.
    refreshable_access_token_lifetime_ms: int = 300_000
    # Lifetime of a refresh token; 0 means it never expires on its own.
    refresh_token_lifetime_ms: int = 0
    # Login attempts (each counted before its password is checked; a success gives its
    # own back) before an account, or an address, is locked out.
    lockout_after_failures: int = 5
    lockout_ms: int = 300_000
    # Window in which attempts are counted.
    failure_window_ms: int = 900_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_second: float = 0.17
    burst: int = 3


@dataclass(frozen=True, slots=True)
class RateLimitsConfig:
    enabled: bool = True
    login: RateLimit = RateLimit(per_second=0.5, burst=10)
    registration: RateLimit = RateLimit(per_second=0.17, burst=5)
    # Per reporting user: POST /rooms/{roomId}/report[/{eventId}] and /users/{userId}/report.
    reports: RateLimit = RateLimit(per_second=0.05, burst=10)
    # Per user: POST /_matrix/media/v3/upload, POST /_matrix/media/v1/create, URL previews.
    media_upload: RateLimit = RateLimit(per_second=1.0, burst=20)
    # Per user: events sent (PUT /send, /state, /redact), shared out over the processes.
    messages: RateLimit = RateLimit(per_second=5.0, burst=50)


@dataclass(frozen=True, slots=True)
class UserDirectoryConfig:
    # True: anyone on this server can find anyone (what a chat service needs).
    # False: the spec's rule: only people sharing a room or in a public room.
    search_all_users: bool = True
    max_limit: int = 50
    # GET /profile/{userId} needs no access token (spec); true requires one.
    require_auth_for_profiles: bool = False


@dataclass(frozen=True, slots=True)
class RoomsConfig:
    # The version of new rooms unless createRoom names one; 10, 11 or 12.
    default_room_version: str = "12"


@dataclass(frozen=True, slots=True)
class PresenceConfig:
    # false: nothing is tracked or shared; everyone reads as offline, PUT is accepted and ignored.
    enabled: bool = True
    # Online with no activity (a message sent, presence set online) for this long: unavailable.
    idle_after_ms: int = 300_000
    # No /sync (nor presence set) for this long: offline.
    offline_after_ms: int = 90_000


@dataclass(frozen=True, slots=True)
class UrlPreviewConfig:
    # GET /_matrix/client/v1/media/preview_url fetches pages for clients: off by default.
    enabled: bool = False
    # CIDR ranges that may be fetched although private, loopback or link-local.
    allowed_ip_ranges: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MediaConfig:
    # Directory of the content-addressed files, relative to the data directory.
    store_path: str = "media"
    # Largest upload (413 M_TOO_LARGE past it); advertised as m.upload.size.
    max_upload_bytes: int = 52_428_800
    # Images with more pixels than this are never decoded (decompression bombs).
    max_image_pixels: int = 32_000_000
    # Make the spec's recommended thumbnail sizes once, at upload.
    pregenerate_thumbnails: bool = True
    # Make other sizes when asked (and store them); false: the closest stored one.
    dynamic_thumbnails: bool = True
    # A media ID from POST /_matrix/media/v1/create expires unused after this long.
    unused_expires_after_ms: int = 86_400_000
    # Created, not yet uploaded, not yet expired media IDs one user may hold.
    max_pending_uploads: int = 10
    # Longest wait a download of a not-yet-uploaded media ID may ask for (timeout_ms).
    max_download_wait_ms: int = 60_000
    # Spec v1.11 "freeze": media uploaded while true is not served by the unauthenticated
    # /_matrix/media/v3/download and /thumbnail (404); media uploaded before stays there.
    freeze_unauthenticated_media: bool = True
    url_preview: UrlPreviewConfig = UrlPreviewConfig()


@dataclass(frozen=True, slots=True)
class WebClientConfig:
    # The built-in web chat client (homeserver/web/); false serves nothing in its place.
    enabled: bool = True
    # Where it is served: "/" or a path such as "/chat/" (outside /_matrix, /_synapse,
    # /.well-known and /metrics).
    path: str = "/"


@dataclass(frozen=True, slots=True)
class VoipConfig:
    # TURN servers handed to clients for calls (GET /voip/turnServer), e.g.
    # "turn:turn.example.org:3478?transport=udp"; none: clients get {} ("no TURN server").
    turn_uris: tuple[str, ...] = ()
    # coturn's static-auth-secret (use-auth-secret): each user gets a username and
    # password valid for turn_user_lifetime_ms, computed from it (HMAC-SHA1).
    turn_shared_secret: str | None = None
    # Or one fixed username and password for everyone (when there is no shared secret).
    turn_username: str | None = None
    turn_password: str | None = None
    turn_user_lifetime_ms: int = 86_400_000


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    registration: RegistrationConfig = RegistrationConfig()
    auth: AuthConfig = AuthConfig()
    rate_limits: RateLimitsConfig = RateLimitsConfig()
    user_directory: UserDirectoryConfig = UserDirectoryConfig()
    rooms: RoomsConfig = RoomsConfig()
    presence: PresenceConfig = PresenceConfig()
    media: MediaConfig = MediaConfig()
    web_client: WebClientConfig = WebClientConfig()
    voip: VoipConfig = VoipConfig()
    # Directory holding the config's relative paths (signing key, embedded database).
    data_dir: str = "."

    def path(self, relative: str) -> Path:
        return Path(self.data_dir, relative)


SERVER_NAME = re.compile(
    r"^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,255})(?::\d{1,5})?$"
)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if raw is None:
        raw = {}
    return parse_config(raw, data_dir=str(path.parent.resolve()))


def parse_config(raw: Any, data_dir: str = ".") -> Config:
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping of sections")
    raw = {k: v for k, v in raw.items() if k != "data_dir"}
    config = _parse_dataclass(Config, raw, "")
    config = dataclasses.replace(config, data_dir=data_dir)
    _check(config)
    return config


def _check(config: Config) -> None:
    if not SERVER_NAME.fullmatch(config.server.server_name):
        raise ConfigError(f"server.server_name: not a valid server name: {config.server.server_name!r}")
    if not config.server.listeners:
        raise ConfigError("server.listeners: at least one listener is required")
    for i, listener in enumerate(config.server.listeners):
        if not 0 < listener.port < 65536:
            raise ConfigError(f"server.listeners[{i}].port: expected 1-65535, got {listener.port}")
        if (listener.tls_certificate_path is None) != (listener.tls_private_key_path is None):
            raise ConfigError(f"server.listeners[{i}]: tls_certificate_path and tls_private_key_path go together")
    for name in ("header_timeout_ms", "body_timeout_ms", "idle_timeout_ms", "max_connections"):
        if getattr(config.server, name) < 1:
            raise ConfigError(f"server.{name}: expected a positive integer")
    for i, cidr in enumerate(config.server.trusted_proxies):
        _check_network(f"server.trusted_proxies[{i}]", cidr)
    for name in ("pool_min_size", "pool_max_size"):
        if getattr(config.database, name) < 1:
            raise ConfigError(f"database.{name}: expected a positive integer")
    if config.database.pool_min_size > config.database.pool_max_size:
        raise ConfigError("database.pool_min_size: must not exceed database.pool_max_size")
    if config.registration.require_token and not config.registration.tokens:
        raise ConfigError("registration.tokens: require_token is set but no tokens are listed")
    if config.auth.password_hash.memory_cost_kib < 8 * config.auth.password_hash.parallelism:
        raise ConfigError("auth.password_hash.memory_cost_kib: must be at least 8 x parallelism")
    if config.rooms.default_room_version not in ("10", "11", "12"):
        raise ConfigError("rooms.default_room_version: expected one of 10, 11, 12")
    if config.user_directory.max_limit < 1:
        raise ConfigError("user_directory.max_limit: expected a positive integer")
    for name in ("idle_after_ms", "offline_after_ms"):
        if getattr(config.presence, name) < 1000:
            raise ConfigError(f"presence.{name}: expected at least 1000 (one second)")
    _check_media(config.media)
    _check_voip(config.voip)
    _check_web_client(config.web_client)


def _check_voip(voip: VoipConfig) -> None:
    for i, uri in enumerate(voip.turn_uris):
        if not uri.startswith(("turn:", "turns:", "stun:")):
            raise ConfigError(f"voip.turn_uris[{i}]: expected a turn:, turns: or stun: URI, got {uri!r}")
    if (voip.turn_username is None) != (voip.turn_password is None):
        raise ConfigError("voip.turn_username and voip.turn_password go together")
    if voip.turn_uris and voip.turn_shared_secret is None and voip.turn_username is None:
        raise ConfigError("voip.turn_uris: set turn_shared_secret (or turn_username and turn_password)")
    if voip.turn_user_lifetime_ms < 60_000:
        raise ConfigError("voip.turn_user_lifetime_ms: expected at least 60000 (one minute)")


def _check_media(media: MediaConfig) -> None:
    for name in ("max_upload_bytes", "max_image_pixels", "unused_expires_after_ms"):
        if getattr(media, name) < 1:
            raise ConfigError(f"media.{name}: expected a positive integer")
    for i, cidr in enumerate(media.url_preview.allowed_ip_ranges):
        _check_network(f"media.url_preview.allowed_ip_ranges[{i}]", cidr)


def _check_network(path: str, cidr: str) -> None:
    try:
        ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ConfigError(f"{path}: not an IP address or range: {cidr!r}") from None


WEB_CLIENT_PATH = re.compile(r"^/(?:[A-Za-z0-9_-]+/?)*$")
RESERVED_PREFIXES = ("/_matrix", "/_synapse", "/.well-known", "/metrics")


def _check_web_client(web_client: WebClientConfig) -> None:
    path = web_client.path
    if not WEB_CLIENT_PATH.fullmatch(path):
        raise ConfigError(f"web_client.path: expected a path such as / or /chat/, got {path!r}")
    if any(path == p or path.startswith(p + "/") for p in RESERVED_PREFIXES):
        raise ConfigError(f"web_client.path: {path!r} is under a path the server's APIs use")


def _parse_dataclass(cls: type, raw: Any, path: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {_kind(raw)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{_join(path, str(unknown[0]))}: unknown key (expected one of: {', '.join(sorted(names))})")
    values = {key: _parse_value(hints[key], value, _join(path, key)) for key, value in raw.items()}
    return cls(**values)


def _parse_value(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _parse_value(options[0], value, path)
    if dataclasses.is_dataclass(hint):
        return _parse_dataclass(hint, value, path)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {_kind(value)}")
        item = typing.get_args(hint)[0]
        return tuple(_parse_value(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        key_t, val_t = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {_kind(value)}")
        return {_parse_value(key_t, k, path): _parse_value(val_t, v, _join(path, str(k))) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{path}: expected a non-negative integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"{path}: expected a positive number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: expected a non-empty string, got {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported setting type {hint!r}")  # a bug in this module


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
