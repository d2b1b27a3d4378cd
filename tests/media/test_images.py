"""The pure image module: sniffing, crop/scale geometry, formats, EXIF, animation, bombs."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageOps

from homeserver.media.images import (
    RECOMMENDED_SIZES,
    THUMBNAILABLE,
    ImageError,
    Thumbnail,
    ThumbnailSize,
    choose_thumbnail,
    make_thumbnail,
    make_thumbnails,
    pregenerated_sizes,
    sniff_content_type,
)

CROP_32 = ThumbnailSize(32, 32, "crop")
CROP_96 = ThumbnailSize(96, 96, "crop")
SCALE_320 = ThumbnailSize(320, 240, "scale")
SCALE_640 = ThumbnailSize(640, 480, "scale")
SCALE_800 = ThumbnailSize(800, 600, "scale")


def encode(im: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def decode(thumbnail: Thumbnail) -> Image.Image:
    im = Image.open(io.BytesIO(thumbnail.data))
    assert im.size == (thumbnail.width, thumbnail.height)
    return im


def photo(width: int, height: int) -> bytes:
    """A JPEG that is dark on the left and bright on the right."""
    gradient = Image.linear_gradient("L").rotate(90).resize((width, height))
    return encode(Image.merge("RGB", (gradient, gradient, gradient)), "JPEG", quality=90)


def animated_gif(frames: int = 3, size: tuple[int, int] = (64, 48)) -> bytes:
    images = [Image.new("RGB", size, (80 * i % 256, 200, 40 * i)) for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=70, loop=0)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims width x height (a decompression bomb)."""
    real = encode(Image.new("1", (1, 1)), "PNG")
    ihdr = struct.pack(">II", width, height) + real[24:29]
    chunk = b"IHDR" + ihdr
    return (
        real[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + real[33:]
    )


# --- sniffing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
    ],
)
def test_sniff_images_written_by_pillow(fmt: str, content_type: str) -> None:
    data = encode(Image.new("RGB", (8, 8), "red"), fmt)
    assert sniff_content_type(data[:64]) == content_type
    assert sniff_content_type(data[:32]) == content_type


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "image/avif"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1avif", "image/avif"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", "video/quicktime"),
        (b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A mp42", "audio/mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm", "video/webm"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01\x1eOpusHead", "audio/ogg"),
        (b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", "audio/wav"),
        (b"RIFF\x24\x08\x00\x00AVI LIST", "video/x-msvideo"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xf1\x50\x80\x02\x1f\xfc", "audio/aac"),
    ],
)
def test_sniff_media_magic_numbers(head: bytes, content_type: str) -> None:
    assert sniff_content_type(head) == content_type


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE html><html><script>alert(1)</script></html>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
        b"BM but not really a bitmap, just text starting with BM",
        b"\xff\xfe\x00\x00 utf-32",
        "\ufeffa UTF-16 text file".encode("utf-16-le"),
        b"",
        b"\x89PN",
    ],
)
def test_text_and_garbage_are_never_sniffed_as_media(head: bytes) -> None:
    assert sniff_content_type(head) is None


def test_svg_uploaded_as_png_is_refused() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="3000"/>'
    with pytest.raises(ImageError):
        make_thumbnail(svg, CROP_32)


def test_thumbnailable_types_are_the_safe_raster_ones() -> None:
    assert {"image/jpeg", "image/png", "image/gif", "image/webp"} <= THUMBNAILABLE
    assert not {"image/svg+xml", "image/tiff", "text/html", "video/mp4"} & THUMBNAILABLE


@pytest.mark.parametrize("content_type", ["image/tiff", "video/mp4"])
def test_sniffed_but_not_thumbnailable_is_refused(content_type: str) -> None:
    data = (
        encode(Image.new("RGB", (8, 8)), "TIFF")
        if content_type == "image/tiff"
        else b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64
    )
    assert sniff_content_type(data[:64]) == content_type
    with pytest.raises(ImageError):
        make_thumbnail(data, CROP_32)


# --- geometry ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "size", "expected"),
    [
        ((1200, 900), SCALE_800, (800, 600)),  # landscape, same aspect: fills the box
        ((1200, 600), SCALE_320, (320, 160)),  # wider: width-bound
        ((900, 1200), SCALE_800, (450, 600)),  # portrait: height-bound
        ((1200, 900), CROP_96, (96, 96)),
        ((900, 1200), CROP_96, (96, 96)),
        ((1200, 900), ThumbnailSize(100, 300, "crop"), (100, 300)),
        ((50, 40), SCALE_320, (50, 40)),  # smaller than the box: never upscaled
        ((50, 40), CROP_96, (40, 40)),  # largest square crop, not upscaled
        ((200, 20), CROP_32, (20, 20)),
        ((200, 50), ThumbnailSize(96, 48, "crop"), (96, 48)),  # cover without upscaling
        ((60, 500), ThumbnailSize(96, 48, "crop"), (60, 30)),
    ],
)
def test_output_dimensions(
    source: tuple[int, int], size: ThumbnailSize, expected: tuple[int, int]
) -> None:
    thumbnail = make_thumbnail(encode(Image.new("RGB", source, "gray"), "JPEG"), size)
    assert (thumbnail.width, thumbnail.height) == expected
    assert decode(thumbnail).size == expected


def test_never_upscales_any_recommended_size() -> None:
    data = encode(Image.new("RGB", (30, 20), "gray"), "PNG")
    for thumbnail in make_thumbnails(data, RECOMMENDED_SIZES):
        assert thumbnail.width <= 30 and thumbnail.height <= 20


def test_crop_takes_the_centre() -> None:
    # Red | green | red, each third 100 px wide: a square crop sees only green.
    im = Image.new("RGB", (300, 100), "red")
    im.paste((0, 255, 0), (100, 0, 200, 100))
    out = decode(make_thumbnail(encode(im, "PNG"), CROP_32)).convert("RGB")
    for xy in [(0, 0), (31, 0), (0, 31), (31, 31), (16, 16)]:
        red, green, _ = out.getpixel(xy)
        assert green > 200 and red < 60, xy


def test_scale_keeps_the_whole_image() -> None:
    out = decode(make_thumbnail(photo(1600, 1200), SCALE_320)).convert("L")
    assert out.size == (320, 240)
    assert out.getpixel((2, 120)) < 40 and out.getpixel((317, 120)) > 215


def test_large_jpeg_is_drafted_but_exact_and_sharp() -> None:
    data = photo(4000, 3000)
    started = time.perf_counter()
    thumbnail = make_thumbnail(data, SCALE_800)
    assert time.perf_counter() - started < 2
    out = decode(thumbnail).convert("L")
    assert (thumbnail.width, thumbnail.height, thumbnail.content_type) == (
        800,
        600,
        "image/jpeg",
    )
    assert out.getpixel((400, 300)) == pytest.approx(128, abs=6)


def test_make_thumbnails_matches_one_at_a_time_in_order() -> None:
    data = photo(1000, 700)
    together = make_thumbnails(data, RECOMMENDED_SIZES)
    assert [(t.width, t.height) for t in together] == [
        (32, 32),
        (96, 96),
        (320, 224),
        (640, 448),
        (800, 560),
    ]
    for size, thumbnail in zip(RECOMMENDED_SIZES, together, strict=True):
        alone = make_thumbnail(data, size)
        assert (alone.width, alone.height, alone.content_type) == (
            thumbnail.width,
            thumbnail.height,
            thumbnail.content_type,
        )


def test_reads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_bytes(photo(400, 300))
    thumbnail = make_thumbnail(path, CROP_96)
    assert (thumbnail.width, thumbnail.height) == (96, 96)


# --- formats ----------------------------------------------------------------------------


def test_png_with_alpha_stays_png_with_alpha() -> None:
    im = Image.new("RGBA", (400, 300), (255, 0, 0, 0))
    im.paste((0, 0, 255, 255), (150, 100, 250, 200))
    thumbnail = make_thumbnail(encode(im, "PNG"), SCALE_320)
    out = decode(thumbnail)
    assert thumbnail.content_type == "image/png" and out.format == "PNG"
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0 and out.getpixel((160, 120))[3] == 255


def test_photo_becomes_jpeg() -> None:
    thumbnail = make_thumbnail(photo(400, 300), CROP_96)
    assert thumbnail.content_type == "image/jpeg"
    assert decode(thumbnail).format == "JPEG"


def test_webp_without_alpha_becomes_jpeg() -> None:
    thumbnail = make_thumbnail(encode(Image.new("RGB", (400, 300), "blue"), "WEBP"), CROP_96)
    assert thumbnail.content_type == "image/jpeg"


def test_palette_gif_becomes_png_keeping_transparency() -> None:
    im = Image.new("P", (200, 100), 0)
    im.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    im.paste(1, (50, 0, 150, 100))
    thumbnail = make_thumbnail(encode(im, "GIF", transparency=0), CROP_32)
    out = decode(thumbnail).convert("RGBA")
    assert thumbnail.content_type == "image/png"
    assert out.getpixel((16, 16))[3] == 255


def test_exif_rotated_jpeg_comes_out_upright_without_exif() -> None:
    # Stored 400x200, left half red and right half blue, with Orientation 6 ("rotate 90
    # clockwise to display"): upright it is 200x400 with red on top.
    stored = Image.new("RGB", (400, 200), "blue")
    stored.paste((255, 0, 0), (0, 0, 200, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCo"
    data = encode(stored, "JPEG", exif=exif.tobytes())

    thumbnail = make_thumbnail(data, ThumbnailSize(100, 100, "scale"))
    out = decode(thumbnail)
    assert (thumbnail.width, thumbnail.height) == (50, 100)
    red, _, blue = out.convert("RGB").getpixel((25, 10))
    assert red > 200 and blue < 60
    red, _, blue = out.convert("RGB").getpixel((25, 90))
    assert blue > 200 and red < 60
    assert dict(out.getexif()) == {}  # no stale Orientation (or any metadata) left behind


def test_exif_rotation_applies_to_crop_boxes() -> None:
    stored = Image.new("RGB", (400, 200), "gray")
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 8
    data = encode(stored, "JPEG", exif=exif.tobytes())
    thumbnail = make_thumbnail(data, ThumbnailSize(50, 300, "crop"))
    assert (thumbnail.width, thumbnail.height) == (50, 300)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_exif_transpose(orientation: int) -> None:
    stored = Image.new("RGB", (80, 40), (255, 0, 0))
    stored.paste((0, 0, 255), (40, 0, 80, 20))
    stored.paste((0, 255, 0), (0, 20, 40, 40))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")

    out = decode(make_thumbnail(data, ThumbnailSize(100, 100, "scale"))).convert("RGB")
    assert out.size == expected.size
    for x in (out.width // 4, out.width * 3 // 4):
        for y in (out.height // 4, out.height * 3 // 4):
            got, want = out.getpixel((x, y)), expected.getpixel((x, y))
            assert all(abs(a - b) < 40 for a, b in zip(got, want, strict=True)), (x, y)


def test_corrupt_exif_does_not_stop_a_thumbnail() -> None:
    data = encode(Image.new("RGB", (100, 50), "gray"), "JPEG", exif=b"Exif\x00\x00garbage")
    assert make_thumbnail(data, CROP_32).width == 32


@pytest.mark.parametrize(
    ("mode", "fmt", "content_type"),
    [
        ("1", "PNG", "image/png"),
        ("L", "JPEG", "image/jpeg"),
        ("LA", "PNG", "image/png"),
        ("P", "PNG", "image/png"),
        ("RGBA", "WEBP", "image/png"),
        ("CMYK", "JPEG", "image/jpeg"),
        ("I;16", "PNG", "image/png"),
        ("RGB", "BMP", "image/jpeg"),
    ],
)
def test_every_common_mode_thumbnails(mode: str, fmt: str, content_type: str) -> None:
    thumbnail = make_thumbnail(encode(Image.new(mode, (200, 150)), fmt), SCALE_320)
    assert thumbnail.content_type == content_type
    assert decode(thumbnail).size == (200, 150)


def test_sixteen_bit_greyscale_is_mapped_not_clipped() -> None:
    im = Image.new("I;16", (200, 100), 32_768)  # mid-grey in 16 bits
    out = decode(make_thumbnail(encode(im, "PNG"), SCALE_320))
    assert out.convert("L").getpixel((100, 50)) == 128


# --- animation --------------------------------------------------------------------------


def test_animated_gif_keeps_frames_when_asked() -> None:
    thumbnail = make_thumbnail(animated_gif(frames=4), CROP_32, animated=True)
    out = decode(thumbnail)
    assert thumbnail.content_type in ("image/webp", "image/gif")
    assert out.n_frames == 4
    assert (thumbnail.width, thumbnail.height) == (32, 32)
    colours = set()
    for index in range(out.n_frames):
        out.seek(index)
        colours.add(out.convert("RGB").getpixel((16, 16)))
    assert len(colours) > 1


def test_animated_gif_is_static_by_default() -> None:
    thumbnail = make_thumbnail(animated_gif(frames=4), CROP_32)
    out = decode(thumbnail)
    assert thumbnail.content_type == "image/png"
    assert getattr(out, "n_frames", 1) == 1


def test_apng_is_animated_when_asked() -> None:
    frames = [Image.new("RGBA", (64, 64), (0, 60 * i, 0, 255)) for i in range(3)]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50)
    thumbnail = make_thumbnail(data, CROP_32, animated=True)
    assert decode(thumbnail).n_frames == 3


def test_animation_over_the_pixel_budget_falls_back_to_one_frame() -> None:
    data = animated_gif(frames=10, size=(64, 48))  # 3072 px a frame, 30720 in all
    thumbnail = make_thumbnail(data, CROP_32, animated=True, max_pixels=10_000)
    assert thumbnail.content_type == "image/png"
    assert getattr(decode(thumbnail), "n_frames", 1) == 1


def test_static_image_with_animated_true_is_static() -> None:
    thumbnail = make_thumbnail(photo(200, 100), CROP_32, animated=True)
    assert thumbnail.content_type == "image/jpeg"


# --- refusals ---------------------------------------------------------------------------


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # 64 Mpx declared in about 70 bytes: under Pillow's own warning threshold (89 Mpx), so
    # only our max_pixels check stands between it and a 64 MB decode.
    bomb = png_declaring(8_000, 8_000)
    assert len(bomb) < 100
    with Image.open(io.BytesIO(bomb)) as im:
        assert im.size == (8_000, 8_000)
    started = time.perf_counter()
    with pytest.raises(ImageError, match="pixels"):
        make_thumbnail(bomb, CROP_32)
    assert time.perf_counter() - started < 0.5


def test_bomb_past_pillows_own_limit_is_an_image_error() -> None:
    # 20000^2 is past Pillow's DecompressionBombError threshold: Image.open itself raises.
    with pytest.raises(ImageError):
        make_thumbnail(png_declaring(20_000, 20_000), CROP_32, max_pixels=10**10)


def test_max_pixels_is_the_callers_limit() -> None:
    data = photo(200, 100)
    with pytest.raises(ImageError):
        make_thumbnail(data, CROP_32, max_pixels=19_999)
    assert make_thumbnail(data, CROP_32, max_pixels=20_000).width == 32


@pytest.mark.parametrize(
    "data",
    [
        photo(400, 300)[:2000],  # truncated JPEG
        encode(Image.new("RGB", (300, 300), "red"), "PNG")[:60],  # truncated PNG
        b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20,  # PNG signature, then nonsense
        b"GIF89a" + b"\xff" * 60,
        b"\xff\xd8\xff" + b"\x00" * 100,
        b"definitely not an image",
        b"",
    ],
)
def test_corrupt_or_truncated_data_is_an_image_error(data: bytes) -> None:
    with pytest.raises(ImageError):
        make_thumbnail(data, SCALE_320)


def test_missing_file_is_not_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        make_thumbnail(tmp_path / "nope", CROP_32)


@pytest.mark.parametrize(
    ("width", "height", "method"), [(0, 10, "crop"), (10, -1, "scale"), (10, 10, "fit")]
)
def test_thumbnail_size_is_validated(width: int, height: int, method: str) -> None:
    with pytest.raises(ValueError):
        ThumbnailSize(width, height, method)


# --- choosing and pre-generating --------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (ThumbnailSize(32, 32, "crop"), CROP_32),
        (ThumbnailSize(20, 20, "crop"), CROP_32),
        (ThumbnailSize(40, 40, "crop"), CROP_96),  # never smaller than asked
        (ThumbnailSize(64, 32, "crop"), None),  # crop needs the requested aspect ratio
        (ThumbnailSize(200, 200, "crop"), None),
        (ThumbnailSize(20, 20, "scale"), SCALE_320),  # scale never uses a crop
        (ThumbnailSize(300, 200, "scale"), SCALE_320),
        (ThumbnailSize(320, 241, "scale"), SCALE_640),
        (ThumbnailSize(700, 500, "scale"), SCALE_800),
        (ThumbnailSize(1000, 1000, "scale"), None),
    ],
)
def test_choose_thumbnail(wanted: ThumbnailSize, expected: ThumbnailSize | None) -> None:
    assert choose_thumbnail(RECOMMENDED_SIZES, wanted) == expected


def test_choose_thumbnail_prefers_the_smallest_regardless_of_order() -> None:
    available = [SCALE_800, CROP_96, SCALE_320, SCALE_640]
    assert choose_thumbnail(available, ThumbnailSize(100, 100, "scale")) == SCALE_320
    assert choose_thumbnail([], ThumbnailSize(100, 100, "scale")) is None


def test_recommended_sizes_are_the_specs_five() -> None:
    assert RECOMMENDED_SIZES == (CROP_32, CROP_96, SCALE_320, SCALE_640, SCALE_800)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ((4000, 3000), (CROP_32, CROP_96, SCALE_320, SCALE_640, SCALE_800)),
        ((700, 500), (CROP_32, CROP_96, SCALE_320, SCALE_640)),
        ((500, 400), (CROP_32, CROP_96, SCALE_320)),
        ((96, 96), (CROP_32,)),  # a 96x96 crop or any scale would be the source itself
        ((50, 30), (CROP_96,)),  # both crops give the same 30x30: keep the larger size
        ((20, 20), ()),
    ],
)
def test_pregenerated_sizes(source: tuple[int, int], expected: tuple[ThumbnailSize, ...]) -> None:
    assert pregenerated_sizes(*source) == expected


def test_pregenerated_sizes_serve_every_recommended_request() -> None:
    # For a small source, requests for any recommended crop find a stored thumbnail.
    stored = pregenerated_sizes(50, 30)
    assert choose_thumbnail(stored, CROP_32) == CROP_96
    assert choose_thumbnail(stored, CROP_96) == CROP_96
