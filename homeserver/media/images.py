"""Image sniffing and thumbnailing for the content repository: pure and synchronous.

Spec: Client-Server API, "Content repository" > "Thumbnails", and the ``width``,
``height``, ``method`` and ``animated`` parameters of ``GET
/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}``.

Everything here is CPU-bound (Pillow releases the GIL while decoding, resizing and
encoding): async callers run it in a thread. Nothing here trusts the uploader: the type
is sniffed from the bytes, Pillow may only parse the sniffed format, and the pixel count
is checked before anything is decoded.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import ExifTags, Image, JpegImagePlugin, features

DEFAULT_MAX_PIXELS = 32_000_000
SNIFF_LENGTH = 64  # bytes sniff_content_type wants; 32 is enough for everything but ftyp brands
_LOSSY_QUALITY = 80  # JPEG and WebP, as Synapse uses for JPEG
# Draft (JPEG DCT-scaled decode) to at least this many times the output size, so the
# final resampling pass has enough pixels to keep the thumbnail sharp.
_DRAFT_OVERSAMPLE = 2
_REDUCING_GAP = 2.0  # box-reduce first, then BICUBIC: as Image.thumbnail does
_DEFAULT_FRAME_MS = 100  # what browsers show for a GIF frame with no (or zero) delay
_MAX_ANIMATED_FRAMES = 1_000
_ANIMATED_FORMATS = frozenset({"GIF", "PNG", "WEBP"})  # not MPO: its frames are not animation


@dataclass(frozen=True, slots=True)
class ThumbnailSize:
    """A requested or pre-generated thumbnail: the box and the spec's method."""

    width: int
    height: int
    method: str  # "crop" | "scale"

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"thumbnail size must be positive, not {self.width}x{self.height}")
        if self.method not in ("crop", "scale"):
            raise ValueError(f"thumbnail method must be 'crop' or 'scale', not {self.method!r}")


# Spec, "Thumbnails": the sizes servers SHOULD produce.
RECOMMENDED_SIZES: tuple[ThumbnailSize, ...] = (
    ThumbnailSize(32, 32, "crop"),
    ThumbnailSize(96, 96, "crop"),
    ThumbnailSize(320, 240, "scale"),
    ThumbnailSize(640, 480, "scale"),
    ThumbnailSize(800, 600, "scale"),
)


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """An encoded thumbnail and its actual pixel dimensions."""

    data: bytes
    content_type: str  # image/png, image/jpeg, image/webp or image/gif (animated)
    width: int
    height: int


class ImageError(Exception):
    """Not an image we thumbnail, or one we refuse (too many pixels, corrupt)."""


# --- sniffing ---------------------------------------------------------------------------


def _brands(names: str) -> frozenset[bytes]:
    """ISO base media brands are four bytes, space-padded ("qt  ", "M4A ")."""
    return frozenset(name.encode().ljust(4) for name in names.split())


_FTYP_BRANDS: tuple[tuple[frozenset[bytes], str], ...] = (
    # Checked in order over the major and compatible brands, so an AVIF that also lists
    # the generic HEIF brand "mif1" is still AVIF.
    (_brands("avif avis"), "image/avif"),
    (_brands("heic heix heim heis hevc hevx mif1 msf1"), "image/heic"),
    (_brands("M4A M4B"), "audio/mp4"),
    (_brands("qt"), "video/quicktime"),
    (_brands("3gp4 3gp5 3gp6 3g2a"), "video/3gpp"),
    (_brands("isom iso2 iso4 iso5 iso6 mp41 mp42 avc1 dash M4V MSNV"), "video/mp4"),
)
_BMP_DIB_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


def sniff_content_type(head: bytes) -> str | None:
    """The image/video/audio type the first bytes of a file really are, or None.

    Pass the first ``SNIFF_LENGTH`` bytes (32 are enough except to read the compatible
    brands of ISO media). Only magic numbers count, never the uploader's Content-Type.
    Text formats (SVG, HTML, XML) are never reported: they can carry script, so they are
    never treated as safe images however they are labelled.
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"  # APNG too: it is a PNG with an acTL chunk
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(
            head[8:12]
        )
    if head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska or its WebM profile
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"OggS"):
        return "video/ogg" if b"\x80theora" in head else "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if _is_bmp(head):
        return "image/bmp"
    return _sniff_mpeg_audio_frame(head)


def _sniff_ftyp(head: bytes) -> str | None:
    box_size = int.from_bytes(head[:4], "big")
    end = min(max(box_size, 16), len(head))
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    for known, content_type in _FTYP_BRANDS:
        if brands & known:
            return content_type
    return None


def _is_bmp(head: bytes) -> bool:
    # "BM" alone is too weak a signature: also require the reserved words to be zero and
    # a known DIB header size.
    if len(head) < 18 or head[:2] != b"BM" or head[6:10] != b"\x00\x00\x00\x00":
        return False
    return int.from_bytes(head[14:18], "little") in _BMP_DIB_HEADER_SIZES


def _sniff_mpeg_audio_frame(head: bytes) -> str | None:
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    layer = (head[1] >> 1) & 0b11
    if layer == 0:  # ADTS (AAC) uses layer 0 and MPEG-2/4 ids
        return "audio/aac" if head[1] & 0xF6 == 0xF0 else None
    # Layer I is all but extinct and its sync word includes the UTF-16 byte order mark
    # FF FE, so only layers II and III count; "free" and reserved fields do not either.
    bitrate, sample_rate = head[2] >> 4, (head[2] >> 2) & 0b11
    if layer == 0b11 or head[1] & 0x18 == 0x08 or bitrate in (0, 0xF) or sample_rate == 0b11:
        return None
    return "audio/mpeg"


# --- what we thumbnail ------------------------------------------------------------------

# Content type -> the only Pillow plugin allowed to parse it. TIFF, AVIF and HEIC are
# sniffed but not thumbnailed: big decoder attack surface, or not in every Pillow build.
_PILLOW_FORMATS: dict[str, str] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/bmp": "BMP",
}
THUMBNAILABLE: frozenset[str] = frozenset(_PILLOW_FORMATS)

# EXIF Orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# What Pillow raises on data it cannot read (truncated, corrupt, hostile).
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,
    ValueError,
    TypeError,
    EOFError,
    IndexError,
    KeyError,
    ZeroDivisionError,
    struct.error,
    Image.DecompressionBombError,
)


# --- geometry ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """Output size and the source rectangle (left, top, right, bottom) it is made from."""

    out: tuple[int, int]
    box: tuple[float, float, float, float]


def _plan(src_w: int, src_h: int, size: ThumbnailSize) -> _Plan:
    """The spec's two methods; neither ever upscales ("Servers MUST NOT upscale")."""
    if size.method == "scale":
        return _plan_scale(src_w, src_h, size.width, size.height)
    return _plan_crop(src_w, src_h, size.width, size.height)


def _plan_scale(src_w: int, src_h: int, width: int, height: int) -> _Plan:
    # "scale" keeps the aspect ratio and fits inside the box, so one side may be smaller
    # than asked; a source already inside the box is returned at its own size.
    full = (0.0, 0.0, float(src_w), float(src_h))
    if src_w <= width and src_h <= height:
        return _Plan((src_w, src_h), full)
    factor = min(width / src_w, height / src_h)
    out = (max(1, round(src_w * factor)), max(1, round(src_h * factor)))
    return _Plan(out, full)


def _plan_crop(src_w: int, src_h: int, width: int, height: int) -> _Plan:
    # "crop" has the requested aspect ratio: the largest centred rectangle of that ratio,
    # scaled down to exactly width x height. When that rectangle is smaller than the box
    # it is returned as is (a plain crop): a smaller image rather than an upscaled one.
    if src_w * height >= src_h * width:
        box_w, box_h = src_h * width / height, float(src_h)
    else:
        box_w, box_h = float(src_w), src_w * height / width
    if box_w >= width:
        left, top = (src_w - box_w) / 2, (src_h - box_h) / 2
        return _Plan((width, height), (left, top, left + box_w, top + box_h))
    crop_w, crop_h = max(1, math.floor(box_w)), max(1, math.floor(box_h))
    left, top = (src_w - crop_w) // 2, (src_h - crop_h) // 2
    return _Plan((crop_w, crop_h), (left, top, left + crop_w, top + crop_h))


def _is_identity(plan: _Plan, src_w: int, src_h: int) -> bool:
    return plan.out == (src_w, src_h) and plan.box == (0, 0, src_w, src_h)


def pregenerated_sizes(width: int, height: int) -> tuple[ThumbnailSize, ...]:
    """Which of RECOMMENDED_SIZES are worth storing for a (upright) source of that size.

    A size whose thumbnail would be the source itself is skipped (a scale box the source
    already fits in, or a crop box the source fits with the same aspect ratio), and of
    sizes that would produce the same image only the largest is kept, so that
    choose_thumbnail still finds it for every request it can serve.
    """
    kept: dict[_Plan, ThumbnailSize] = {}
    for size in RECOMMENDED_SIZES:
        plan = _plan(width, height, size)
        if _is_identity(plan, width, height):
            continue
        previous = kept.get(plan)
        if previous is None or size.width * size.height > previous.width * previous.height:
            kept[plan] = size
    chosen = set(kept.values())
    return tuple(size for size in RECOMMENDED_SIZES if size in chosen)


def choose_thumbnail(
    available: Sequence[ThumbnailSize], wanted: ThumbnailSize
) -> ThumbnailSize | None:
    """The best pre-generated size for a request, or None to generate one on demand.

    Spec, "Thumbnails": the request's dimensions are the minimum the client wants, and
    "crop" must come back in the requested aspect ratio. So a candidate has the same
    method, a box at least as large in both dimensions and, for crop, the same aspect
    ratio; of those the smallest wins (as Synapse does for pre-generated thumbnails).
    """
    candidates = [
        size
        for size in available
        if size.method == wanted.method
        and size.width >= wanted.width
        and size.height >= wanted.height
        and (size.method == "scale" or size.width * wanted.height == size.height * wanted.width)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda size: (size.width * size.height, size.width))


# --- decoding ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Decoded:
    """Upright frames ready to resize, plus what encoding needs to know."""

    frames: tuple[Image.Image, ...]  # mode RGB, RGBA, L or LA; maybe drafted smaller
    durations: tuple[int, ...]  # milliseconds per frame
    loop: int
    width: int  # full-resolution upright size, which the plans are computed against
    height: int
    lossless: bool  # PNG/GIF source or alpha: keep the thumbnail lossless
    icc_profile: bytes | None


@contextmanager
def _open_source(source: Path | bytes) -> Iterator[BinaryIO]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(source)
        return
    with open(source, "rb") as fp:  # a missing file is the caller's bug: not an ImageError
        yield fp


def _orientation(im: Image.Image) -> int:
    value = im.getexif().get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) else 1


def _upright_size(im: Image.Image, orientation: int) -> tuple[int, int]:
    return (im.height, im.width) if orientation in (5, 6, 7, 8) else im.size


def _draft_request(
    stored: tuple[int, int], upright: tuple[int, int], sizes: Sequence[ThumbnailSize]
) -> tuple[int, int]:
    """The smallest decode size (in stored orientation) that every thumbnail needs."""
    factor = 0.0
    for size in sizes:
        plan = _plan(upright[0], upright[1], size)
        box_w, box_h = plan.box[2] - plan.box[0], plan.box[3] - plan.box[1]
        needed = _DRAFT_OVERSAMPLE * max(plan.out[0] / box_w, plan.out[1] / box_h)
        factor = max(factor, min(1.0, needed))
    return (max(1, math.ceil(stored[0] * factor)), max(1, math.ceil(stored[1] * factor)))


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def _normalise(im: Image.Image, *, alpha: bool) -> Image.Image:
    """The frame in a mode that resizes well (not palette) and encodes as JPEG or PNG."""
    if alpha:
        return im if im.mode in ("RGBA", "LA") else im.convert("RGBA")
    if im.mode in ("RGB", "L"):
        return im
    if im.mode.startswith("I"):  # 16-bit greyscale PNG: map 0..65535 onto 0..255, not clip
        return im.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if im.mode in ("1", "F"):
        return im.convert("L")
    return im.convert("RGB")  # P, CMYK, YCbCr, ...


def _decode(
    im: Image.Image, sizes: Sequence[ThumbnailSize], *, animated: bool, max_pixels: int
) -> _Decoded:
    orientation = _orientation(im)
    width, height = _upright_size(im, orientation)
    n_frames = getattr(im, "n_frames", 1) if animated and im.format in _ANIMATED_FORMATS else 1
    # Spec, "animated" parameter: animate only when we can, otherwise behave as false.
    # Every frame decodes at full size, so the pixel budget covers all of them.
    animate = 1 < n_frames <= _MAX_ANIMATED_FRAMES and n_frames * width * height <= max_pixels
    lossless = im.format in ("PNG", "GIF") or _has_alpha(im)
    icc_profile = im.info.get("icc_profile")
    loop = im.info.get("loop", 0)
    if not animate and isinstance(im, JpegImagePlugin.JpegImageFile):
        im.draft(None, _draft_request(im.size, (width, height), sizes))
    transpose = _ORIENTATION_TRANSPOSE.get(orientation)
    frames, durations = [], []
    for index in range(n_frames if animate else 1):
        im.seek(index)
        frame = _normalise(im, alpha=animate or _has_alpha(im))
        if transpose is not None:
            frame = frame.transpose(transpose)
        elif frame is im:
            frame = im.copy()  # the next seek() would overwrite it
        frames.append(frame)
        durations.append(int(im.info.get("duration") or _DEFAULT_FRAME_MS))
    return _Decoded(
        frames=tuple(frames),
        durations=tuple(durations),
        loop=loop if isinstance(loop, int) else 0,
        width=width,
        height=height,
        lossless=lossless,
        icc_profile=icc_profile if isinstance(icc_profile, bytes) else None,
    )


# --- resizing and encoding --------------------------------------------------------------


def _resize(frame: Image.Image, plan: _Plan, width: int, height: int) -> Image.Image:
    """Apply a plan made for a width x height source to a frame that may be drafted smaller."""
    sx, sy = frame.width / width, frame.height / height
    left, top, right, bottom = plan.box
    box = (left * sx, top * sy, right * sx, bottom * sy)
    if (sx, sy) == (1, 1) and (right - left, bottom - top) == plan.out:
        x, y = round(left), round(top)  # no scaling: a plain crop
        return frame.crop((x, y, x + plan.out[0], y + plan.out[1]))
    return frame.resize(plan.out, Image.Resampling.BICUBIC, box=box, reducing_gap=_REDUCING_GAP)


def _encode(frames: list[Image.Image], decoded: _Decoded) -> Thumbnail:
    out = io.BytesIO()
    first = frames[0]
    if len(frames) > 1:
        # Spec, "animated": servers SHOULD prefer image/webp for animated thumbnails.
        fmt = "WEBP" if features.check("webp") else "GIF"
        options = {"quality": _LOSSY_QUALITY} if fmt == "WEBP" else {"disposal": 2}
        first.save(
            out,
            fmt,
            save_all=True,
            append_images=frames[1:],
            duration=list(decoded.durations),
            loop=decoded.loop,
            **options,
        )
        content_type = f"image/{fmt.lower()}"
    elif decoded.lossless or first.mode in ("RGBA", "LA"):
        first.save(out, "PNG", icc_profile=decoded.icc_profile)
        content_type = "image/png"
    else:
        first.save(out, "JPEG", quality=_LOSSY_QUALITY, icc_profile=decoded.icc_profile)
        content_type = "image/jpeg"
    return Thumbnail(out.getvalue(), content_type, first.width, first.height)


# --- public entry points ----------------------------------------------------------------


def make_thumbnails(
    source: Path | bytes,
    sizes: Sequence[ThumbnailSize],
    *,
    animated: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[Thumbnail]:
    """One thumbnail per size, in order, from a single decode of the source.

    A JPEG is decoded once at the smallest DCT scale that still gives every size at least
    twice its pixels; each size is then derived from that one decode. See make_thumbnail
    for the rules; metadata (EXIF, including GPS) is never copied into a thumbnail, only
    the ICC colour profile.
    """
    with _open_source(source) as fp:
        content_type = sniff_content_type(fp.read(SNIFF_LENGTH))
        if content_type not in THUMBNAILABLE:
            raise ImageError(f"not a thumbnailable image (sniffed {content_type or 'unknown'})")
        fp.seek(0)
        try:
            with Image.open(fp, formats=[_PILLOW_FORMATS[content_type]]) as im:
                # Image.open reads only the header: refuse bombs before any decoding.
                if im.width * im.height > max_pixels:
                    raise ImageError(
                        f"image is {im.width}x{im.height}, more than {max_pixels} pixels"
                    )
                decoded = _decode(im, sizes, animated=animated, max_pixels=max_pixels)
                return [_render(decoded, size) for size in sizes]
        except _DECODE_ERRORS as exc:
            raise ImageError(f"unreadable {content_type}: {exc}") from exc


def _render(decoded: _Decoded, size: ThumbnailSize) -> Thumbnail:
    plan = _plan(decoded.width, decoded.height, size)
    frames = [_resize(frame, plan, decoded.width, decoded.height) for frame in decoded.frames]
    return _encode(frames, decoded)


def make_thumbnail(
    source: Path | bytes,
    size: ThumbnailSize,
    *,
    animated: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Thumbnail:
    """A thumbnail of source (a file path or the bytes), per the spec's "Thumbnails".

    scale: fit within width x height keeping the aspect ratio. crop: exactly width x
    height from the centre. Never upscales: a source smaller than the box comes back at
    its own size (scale) or as the largest centred crop of the requested aspect ratio
    (crop). EXIF orientation is applied, so phone photos come out upright.

    Output: PNG when the source has alpha or is a PNG/GIF, JPEG otherwise; with
    animated=True and an animated GIF/WebP/APNG source within the pixel budget (frames x
    width x height <= max_pixels), an animated WebP (GIF if Pillow lacks WebP) of every
    frame; otherwise the first frame.

    Raises ImageError when the bytes are not a THUMBNAILABLE type, when width x height
    exceeds max_pixels (checked from the header, before decoding), and when the data is
    corrupt or truncated. CPU-bound: run it in a thread from async code.
    """
    return make_thumbnails(source, [size], animated=animated, max_pixels=max_pixels)[0]
