"""An uploaded image's upright dimensions, read from its header alone (no decoding).

They decide which thumbnails to pre-generate (images.pregenerated_sizes) and refuse
decompression bombs before anything is decoded. The type comes from the bytes
(images.sniff_content_type), never from the uploader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import ExifTags, Image

from homeserver.media.images import SNIFF_LENGTH, THUMBNAILABLE, sniff_content_type

# EXIF orientations that turn the image a quarter: width and height swap.
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


@dataclass(frozen=True, slots=True)
class ImageInfo:
    content_type: str  # sniffed: one of images.THUMBNAILABLE
    width: int
    height: int


def probe_image(path: Path) -> ImageInfo | None:
    """The sniffed type and upright size of a thumbnailable image; None for anything else
    (not an image we thumbnail, or a header Pillow cannot read). Blocking: run in a thread."""
    with open(path, "rb") as f:
        content_type = sniff_content_type(f.read(SNIFF_LENGTH))
        if content_type not in THUMBNAILABLE:
            return None
        f.seek(0)
        try:
            # Only the sniffed format's parser may look at the bytes; open() reads the header.
            with Image.open(f, formats=[content_type.removeprefix("image/").upper()]) as im:
                width, height = im.size
                orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
            return None
    if orientation in _QUARTER_TURNS:
        width, height = height, width
    return ImageInfo(content_type, width, height)
