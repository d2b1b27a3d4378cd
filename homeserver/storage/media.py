"""Media repository metadata: which media IDs exist, what they hold, and their thumbnails.

Media is keyed by (origin, media_id): this server's name for local uploads, the remote
server's name for cached remote media. A row with ``sha256`` NULL is a media ID reserved
by ``POST /_matrix/media/v1/create`` whose content has not arrived yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class Media:
    origin: str
    media_id: str
    uploader: str | None
    created_ts: int
    sha256: str | None
    size: int | None
    content_type: str | None
    upload_name: str | None
    image_type: str | None
    width: int | None
    height: int | None
    unused_expires_ts: int | None
    last_access_ts: int | None
    authenticated: bool
    quarantined: bool

    @property
    def uploaded(self) -> bool:
        return self.sha256 is not None


@dataclass(frozen=True, slots=True)
class Content:
    """What an upload stored: the content's address and what is known about it."""

    sha256: str
    size: int
    content_type: str
    upload_name: str | None
    image_type: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class StoredThumbnail:
    width: int
    height: int
    method: str
    animated: bool
    content_type: str
    sha256: str
    size: int
    actual_width: int
    actual_height: int


_MEDIA_COLUMNS = (
    "origin, media_id, uploader, created_ts, sha256, size, content_type, upload_name, image_type,"
    " width, height, unused_expires_ts, last_access_ts, authenticated, quarantined_by IS NOT NULL AS quarantined"
)
_THUMBNAIL_COLUMNS = "width, height, method, animated, content_type, sha256, size, actual_width, actual_height"


async def get_media(conn: Conn, origin: str, media_id: str) -> Media | None:
    row = await conn.fetchrow(
        f"SELECT {_MEDIA_COLUMNS} FROM media WHERE origin = $1 AND media_id = $2", origin, media_id
    )
    return Media(**row) if row is not None else None


async def insert_media(
    conn: Conn, origin: str, media_id: str, uploader: str | None, content: Content, now_ms: int, authenticated: bool
) -> None:
    """Uploaded (or fetched remote) media; a row already there is kept (two fetches raced)."""
    await conn.execute(
        "INSERT INTO media (origin, media_id, uploader, created_ts, sha256, size, content_type, upload_name,"
        " image_type, width, height, uploaded_ts, authenticated)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $4, $12) ON CONFLICT DO NOTHING",
        origin, media_id, uploader, now_ms, content.sha256, content.size, content.content_type,
        content.upload_name, content.image_type, content.width, content.height, authenticated,
    )


async def reserve_media(
    conn: Conn, origin: str, media_id: str, uploader: str, now_ms: int, expires_ts: int, authenticated: bool
) -> None:
    """A media ID for an asynchronous upload: no content yet."""
    await conn.execute(
        "INSERT INTO media (origin, media_id, uploader, created_ts, unused_expires_ts, authenticated)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        origin, media_id, uploader, now_ms, expires_ts, authenticated,
    )


async def fill_reserved(
    conn: Conn, origin: str, media_id: str, uploader: str, content: Content, now_ms: int, authenticated: bool
) -> bool:
    """Give a reserved, unexpired media ID its content; False if it is no longer waiting."""
    status = await conn.execute(
        "UPDATE media SET sha256 = $4, size = $5, content_type = $6, upload_name = $7, image_type = $8,"
        " width = $9, height = $10, uploaded_ts = $11, authenticated = $12"
        " WHERE origin = $1 AND media_id = $2 AND uploader = $3 AND sha256 IS NULL AND unused_expires_ts > $11",
        origin, media_id, uploader, content.sha256, content.size, content.content_type, content.upload_name,
        content.image_type, content.width, content.height, now_ms, authenticated,
    )
    return status == "UPDATE 1"


async def pending_uploads(conn: Conn, uploader: str, now_ms: int) -> list[int]:
    """The expiry times of a user's reserved media IDs still awaiting content, soonest first."""
    rows = await conn.fetch(
        "SELECT unused_expires_ts FROM media WHERE uploader = $1 AND sha256 IS NULL AND unused_expires_ts > $2"
        " ORDER BY unused_expires_ts",
        uploader, now_ms,
    )
    return [r["unused_expires_ts"] for r in rows]


async def delete_expired_reservations(conn: Conn, uploader: str, now_ms: int) -> None:
    await conn.execute(
        "DELETE FROM media WHERE uploader = $1 AND sha256 IS NULL AND unused_expires_ts <= $2", uploader, now_ms
    )


async def delete_all_expired_reservations(conn: Conn, now_ms: int) -> int:
    """Every uploader's expired, never uploaded reservations; how many went."""
    status = await conn.execute("DELETE FROM media WHERE sha256 IS NULL AND unused_expires_ts <= $1", now_ms)
    return int(status.split()[-1])


async def touch(conn: Conn, origin: str, media_id: str, now_ms: int) -> None:
    await conn.execute(
        "UPDATE media SET last_access_ts = $3 WHERE origin = $1 AND media_id = $2", origin, media_id, now_ms
    )


async def set_quarantined(conn: Conn, origin: str, media_id: str, by: str | None) -> bool:
    """Quarantine (``by`` an admin's user ID) or release (None); False for unknown media."""
    status = await conn.execute(
        "UPDATE media SET quarantined_by = $3 WHERE origin = $1 AND media_id = $2", origin, media_id, by
    )
    return status == "UPDATE 1"


async def get_thumbnails(conn: Conn, origin: str, media_id: str) -> list[StoredThumbnail]:
    rows = await conn.fetch(
        f"SELECT {_THUMBNAIL_COLUMNS} FROM media_thumbnails WHERE origin = $1 AND media_id = $2",
        origin, media_id,
    )
    return [StoredThumbnail(**r) for r in rows]


async def insert_thumbnail(conn: Conn, origin: str, media_id: str, thumb: StoredThumbnail, now_ms: int) -> None:
    """Record a thumbnail; a concurrent request that made the same one first wins."""
    await conn.execute(
        "INSERT INTO media_thumbnails (origin, media_id, width, height, method, animated, content_type, sha256,"
        " size, actual_width, actual_height, created_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        " ON CONFLICT DO NOTHING",
        origin, media_id, thumb.width, thumb.height, thumb.method, thumb.animated, thumb.content_type,
        thumb.sha256, thumb.size, thumb.actual_width, thumb.actual_height, now_ms,
    )
