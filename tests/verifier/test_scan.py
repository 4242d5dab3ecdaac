"""Image to QR text (verifier.scan): the fast pass's reduced, grayscale decode for each kind
of image, the full-size second pass, and the size bounds."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageFilter, JpegImagePlugin, TiffImagePlugin

from eseal.render import qr_png
from verifier import scan
from verifier.scan import (
    ImageTooLarge,
    ImageUnreadable,
    NoQrCode,
    SeveralQrCodes,
    decode,
    read_qr,
    reduction,
)
from verifier.scan_pool import SCAN_MEMORY

# About as long as a license's QR text (a dense symbol, version 18 or so).
TEXT = "EL1:" + base64.b32encode(hashlib.sha512(b"scan").digest() * 7).decode()[:600]


def _qr(scale: int) -> Image.Image:
    return Image.open(io.BytesIO(qr_png(TEXT, scale=scale))).convert("L")


def _scene(
    size: tuple[int, int], scale: int, *, mode: str = "RGB", blur: float = 1.0
) -> Image.Image:
    """The QR at ``scale`` pixels a module on a grey background, softened like a photo."""
    image = Image.new("L", size, 150)
    qr = _qr(scale)
    image.paste(qr, ((size[0] - qr.width) // 2, (size[1] - qr.height) // 2))
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    return image.convert(mode)


def _bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("size", "factor"),
    [
        ((500, 400), 1),
        ((1280, 720), 1),  # a camera frame from the window page: scanned as it is
        ((1999, 1000), 1),
        ((2000, 1000), 2),
        ((1080, 2400), 2),  # a phone screenshot
        ((1920, 1080), 1),
        ((4000, 3000), 4),  # a 12-megapixel photo
        ((3000, 4000), 4),
        ((8000, 5000), 8),
    ],
)
def test_reduction_keeps_the_long_side_at_work_side(size: tuple[int, int], factor: int) -> None:
    assert reduction(size) == factor
    assert factor == 1 or max(size) // factor >= scan.WORK_SIDE


@pytest.mark.parametrize(
    ("scene", "expected"),
    [
        # a 12-megapixel photo: luma decoded at 1/4
        (((4000, 3000), 10, "RGB", 1.0, 85), ((1000, 750), True)),
        # 38.4 megapixels, near the bound: the long side at 1/8 is still 1000
        (((8000, 4800), 20, "L", 0, 75), ((1000, 600), True)),
        # sides that do not divide: libjpeg rounds up, and there is no second halving
        (((2001, 1001), 6, "RGB", 1.0, 90), ((1001, 501), True)),
        # a camera frame as the window page sends it: scanned at full size, in gray
        (((1280, 720), 4, "RGB", 1.0, 85), ((1280, 720), False)),
    ],
)
def test_jpeg_is_decoded_gray_at_the_fast_pass_size_and_read(
    scene: tuple[tuple[int, int], int, str, float, int], expected: tuple[tuple[int, int], bool]
) -> None:
    size, module, mode, blur, quality = scene
    data = _bytes(_scene(size, module, mode=mode, blur=blur), "JPEG", quality=quality)
    small, reduced = decode(data, fast=True)
    assert (small.mode, (small.size, reduced)) == ("L", expected)
    assert read_qr(data) == TEXT


def test_full_size_second_pass_reads_a_qr_too_small_for_the_fast_pass() -> None:
    # Two pixels a module: at half size (the fast pass) the symbol is lost.
    data = _bytes(_scene((2000, 1500), 2, blur=0), "JPEG", quality=95)
    small, reduced = decode(data, fast=True)
    assert reduced
    assert not zxingcpp.read_barcodes(
        small, formats=scan._QR_ONLY, try_rotate=False, try_downscale=False, try_invert=False
    )
    assert read_qr(data) == TEXT


@pytest.mark.parametrize("mode", ["L", "P", "1", "RGBA", "RGB"])
def test_png_of_any_usual_mode_reads(mode: str) -> None:
    image = _scene((800, 900), 4, blur=0).convert(mode)
    assert read_qr(_bytes(image, "PNG")) == TEXT


def test_gray_png_is_scanned_without_conversion() -> None:
    data = _bytes(_scene((700, 700), 4), "PNG", mode="L")
    small, reduced = decode(data, fast=True)
    assert (small.mode, small.size, reduced) == ("L", (700, 700), False)
    assert read_qr(data) == TEXT


def test_tall_screenshot_png_is_reduced_by_two() -> None:
    data = _bytes(_scene((1080, 2400), 8, blur=0), "PNG")
    small, reduced = decode(data, fast=True)
    assert (small.mode, small.size, reduced) == ("L", (540, 1200), True)
    assert read_qr(data) == TEXT


def test_gray_and_cmyk_jpegs_read() -> None:
    scene = _scene((1600, 1200), 6)
    for mode in ("L", "CMYK"):
        data = _bytes(scene.convert(mode), "JPEG", quality=90)
        small, reduced = decode(data, fast=True)
        assert (small.mode, reduced) == ("L", False), mode
        assert read_qr(data) == TEXT, mode


def test_mpo_from_a_phone_reads() -> None:
    scene = _scene((2400, 1800), 8)
    data = _bytes(scene, "MPO", save_all=True, append_images=[scene])
    small, reduced = decode(data, fast=True)
    assert (small.mode, small.size, reduced) == ("L", (1200, 900), True)
    assert read_qr(data) == TEXT


def test_no_qr_code() -> None:
    for data in (
        _bytes(Image.new("RGB", (1280, 720), (120, 130, 140)), "JPEG"),
        _bytes(Image.new("L", (4000, 3000), 200), "JPEG"),
    ):
        with pytest.raises(NoQrCode):
            read_qr(data)


#: A web link's QR code, as printed beside a license's (a public registry's page, say).
LINK = "HTTPS://WWW.GSXT.GOV.CN/CORP/915000001234567890"
#: Another license's QR text, as long as TEXT.
OTHER = "EL1:" + base64.b32encode(hashlib.sha512(b"other").digest() * 7).decode()[:600]


def _side_by_side(texts: list[str], *, scale: int = 5, vertical: bool = True) -> bytes:
    """The QR codes of ``texts`` on one sheet, the first on top (or leftmost): a PNG."""
    codes = [Image.open(io.BytesIO(qr_png(t, scale=scale))).convert("L") for t in texts]
    side = max(c.width for c in codes)
    long = side * len(codes)
    sheet = Image.new("L", (side, long) if vertical else (long, side), 255)
    for i, code in enumerate(codes):
        sheet.paste(code, (0, side * i) if vertical else (side * i, 0))
    return _bytes(sheet, "PNG")


@pytest.mark.parametrize("vertical", [True, False])
def test_a_documents_qr_code_is_read_beside_a_web_links(vertical: bool) -> None:
    """A web link's QR code above (or left of) the license's: the license's is read, where
    the first found was taken, and the page said the image held no license's code."""
    for texts in ([LINK, TEXT], [TEXT, LINK]):
        assert read_qr(_side_by_side(texts, vertical=vertical)) == TEXT, texts


def test_a_web_links_qr_code_alone_is_read_for_the_verifier_to_say_it_is_not_ours() -> None:
    assert read_qr(_side_by_side([LINK])) == LINK
    assert read_qr(_side_by_side([LINK, "HTTPS://PAY.EXAMPLE/123"])) == LINK


def test_the_qr_codes_of_two_documents_are_refused_not_one_taken_for_both() -> None:
    """Two licenses in one photo: which was meant cannot be told (the verdict on the first
    found was shown, and could be taken for the other's). The same code twice is one."""
    for texts in ([TEXT, OTHER], [OTHER, LINK, TEXT]):
        with pytest.raises(SeveralQrCodes, match="2 documents"):
            read_qr(_side_by_side(texts))
    assert read_qr(_side_by_side([TEXT, TEXT])) == TEXT


def test_a_documents_qr_code_too_small_for_the_fast_pass_is_read_beside_a_web_links() -> None:
    """A 12-megapixel photo: a web link's large QR code, and the license's small one that
    only the full-size pass reads. The fast pass found the link's, and the full-size pass,
    which ran only when the fast pass found nothing, never looked for the license's."""
    photo = Image.new("L", (4000, 3000), 200)
    photo.paste(_qr_of(LINK, 12), (300, 300))
    photo.paste(_qr_of(TEXT, 3), (2600, 1500))
    data = _bytes(photo.filter(ImageFilter.GaussianBlur(1.0)), "JPEG", quality=90)
    fast = zxingcpp.read_barcodes(decode(data, fast=True)[0], try_rotate=False)
    assert [r.text for r in fast] == [LINK]  # the scene is as said: the fast pass sees one
    assert read_qr(data) == TEXT


def test_a_documents_qr_code_with_white_space_around_its_text_is_one_document() -> None:
    """The verifier strips white space around a QR text (the HTTP route and the CLI): a
    code whose text has a space before or after its prefixed text is that document's, and
    beside the same code without it the same document, not two."""
    assert read_qr(_side_by_side([TEXT, TEXT + " "])) == TEXT
    assert read_qr(_side_by_side([LINK, " " + TEXT])) == TEXT
    with pytest.raises(SeveralQrCodes, match="2 documents"):
        read_qr(_side_by_side([" " + TEXT, OTHER + " "]))


def _qr_of(text: str, scale: int) -> Image.Image:
    return Image.open(io.BytesIO(qr_png(text, scale=scale))).convert("L")


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` pixels (1-bit) but holds almost nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fast", [True, False])
def test_pixel_bounds_hold_on_both_passes(fast: bool) -> None:
    for width, height in ((8001, 5000), (20_000, 20_000), (40_000_001, 1)):
        with pytest.raises(ImageTooLarge):
            decode(_png_header(width, height), fast=fast)
    with pytest.raises(ImageTooLarge):
        read_qr(_png_header(8001, 5000))


def test_byte_bound_and_unreadable_files() -> None:
    with pytest.raises(ImageTooLarge):
        read_qr(b"\xff\xd8" + b"\0" * scan.MAX_IMAGE_BYTES)
    with pytest.raises(ImageUnreadable, match="empty"):
        read_qr(b"")
    with pytest.raises(ImageUnreadable) as refused:
        read_qr(b"not an image")
    # What the window shows a clerk: plain words, no Python object in it.
    assert "0x" not in refused.value.message
    assert "BytesIO" not in refused.value.message
    assert "JPEG, PNG" in refused.value.message
    whole = _bytes(_scene((2000, 1500), 6), "JPEG")
    with pytest.raises(ImageUnreadable):
        read_qr(whole[: len(whole) // 2])  # truncated


def _dds_without_pixel_format() -> bytes:
    """A DDS header whose pixel-format flags are 0: Pillow's DDS plugin raises
    NotImplementedError on it (not one of the errors a decoder usually raises)."""
    header = struct.pack("<7I", 124, 0x1007, 4, 4, 0, 0, 0) + b"\0" * 44
    return b"DDS " + header + struct.pack("<8I", 32, 0, 0, 0, 0, 0, 0, 0) + b"\0" * 84


@pytest.mark.parametrize("fmt", ["EPS", "SPIDER", "PPM", "DDS"])
def test_only_photo_and_screen_formats_are_read(fmt: str) -> None:
    """Formats Pillow knows but no camera or phone writes are not even opened: EPS would
    run Ghostscript on the upload, and some plugins fail with errors of their own."""
    if fmt == "DDS":
        data = _dds_without_pixel_format()
    else:
        data = _bytes(_qr(4).convert("F" if fmt == "SPIDER" else "L"), fmt)
        assert Image.open(io.BytesIO(data)).format == fmt  # Pillow itself would open it
    with pytest.raises(ImageUnreadable, match="JPEG, PNG"):
        read_qr(data)


_ORIENTED = Image.Exif()
_ORIENTED[0x0112] = 1  # a phone's Orientation tag: metadata makes the file extended (VP8X)
#: Each kind of WebP file by its first chunk: Pillow's options and the image's mode.
WEBP_KINDS: dict[bytes, tuple[str, dict[str, object]]] = {
    b"VP8L": ("RGB", {"lossless": True, "method": 0}),
    b"VP8 ": ("RGB", {"quality": 50, "method": 0}),
    b"VP8X": ("RGB", {"lossless": True, "method": 0, "exif": _ORIENTED.tobytes()}),  # extended
}


@functools.cache
def _webp(size: tuple[int, int], chunk: bytes) -> bytes:
    """A solid WebP of ``size`` whose first chunk is ``chunk`` (lossless: a few dozen bytes
    however large)."""
    mode, options = WEBP_KINDS[chunk]
    data = _bytes(Image.new(mode, size, 150), "WEBP", **options)
    assert data[12:16] == chunk
    return data


@pytest.mark.parametrize("chunk", WEBP_KINDS)
def test_webp_size_is_read_from_each_kind_of_header(chunk: bytes) -> None:
    data = _webp((333, 777), chunk)
    assert scan.webp_size(data) == (333, 777) == Image.open(io.BytesIO(data)).size
    assert scan.webp_size(_bytes(Image.new("L", (333, 777)), "PNG")) is None
    assert scan.webp_size(data[:29]) is None


@pytest.mark.parametrize("chunk", WEBP_KINDS)
def test_webp_over_its_pixel_bound_is_refused_from_its_header(chunk: bytes) -> None:
    """Pillow's WebP decoder takes about 16 bytes a pixel, from the moment it opens the
    file: a 6300×6300 lossless WebP of 1.5 KB, within MAX_PIXELS, took 635 MiB. One just
    over 13 megapixels is refused before Pillow sees it (opened, Pillow would allocate its
    canvases)."""
    data = _webp((3606, 3606), chunk)
    assert scan.MAX_WEBP_PIXELS < 3606 * 3606
    for fast in (True, False):
        with pytest.raises(ImageTooLarge, match="WebP image must be at most 13 megapixels"):
            decode(data, fast=fast)


def test_the_webp_of_the_report_is_refused_and_the_bound_holds_after_opening() -> None:
    data = _webp((6300, 6300), b"VP8L")
    assert len(data) < 2000
    with pytest.raises(ImageTooLarge, match="WebP image must be at most 13 megapixels"):
        read_qr(data)
    # A header the check above missed: the bound holds once Pillow has read the size.
    with pytest.raises(ImageTooLarge, match="WebP image must be at most 13 megapixels"):
        scan.check_pixels((3606, 3606), "WEBP")
    scan.check_pixels((6300, 6300), "PNG")  # other formats keep MAX_PIXELS


def test_phone_sized_webp_still_reads() -> None:
    data = _bytes(_scene((4032, 3024), 10, blur=0), "WEBP", quality=80, method=0)
    assert scan.MAX_WEBP_PIXELS >= 4032 * 3024
    assert read_qr(data) == TEXT


def _jpeg_header(mode: str, width: int, height: int) -> bytes:
    """A JPEG in ``mode`` that claims ``width``×``height`` pixels (its SOF0 says so) but
    holds the scan of 16×16."""
    data = _bytes(Image.new(mode, (16, 16)), "JPEG")
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


@pytest.mark.parametrize(
    ("mode", "per_pixel"),
    [
        ("L", 1),
        ("P", 2),
        ("1", 2),
        ("I;16", 3),
        ("RGB", 5),
        ("RGBA", 5),
        ("LA", 5),
        ("YCbCr", 5),
        ("I", 5),
        ("CMYK", 9),  # CMYK, then RGB, then gray
        ("LAB", 9),
    ],
)
def test_the_memory_a_decode_takes_is_counted_from_the_mode(mode: str, per_pixel: int) -> None:
    assert scan.decoded_bytes((1000, 3), mode) == 3000 * per_pixel


def test_the_decode_bound_is_the_pixel_bounds_costliest_usual_image() -> None:
    """A 40-megapixel RGB(A) image (4 bytes a pixel as Pillow holds it, and its gray copy)
    is within the bound, which a worker's memory holds; a CMYK one is not."""
    assert scan.decoded_bytes((8000, 5000), "RGBA") == scan.MAX_DECODED_BYTES
    assert scan.MAX_DECODED_BYTES < SCAN_MEMORY
    scan.check_decoded((8000, 5000), "RGB")
    with pytest.raises(ImageTooLarge, match="more memory to read than the verifier allows"):
        scan.check_decoded((8000, 5000), "CMYK")


@pytest.mark.parametrize("fast", [True, False])
def test_a_jpeg_too_costly_to_decode_is_refused_from_its_header(fast: bool) -> None:
    """A 40-megapixel CMYK JPEG is within the pixel bound, but takes some 360 MB to read
    (CMYK, RGB, gray): refused, as a worker out of memory refuses it, before its pixels are
    decoded (its fast pass would decode it small and find the file cut short)."""
    data = _jpeg_header("CMYK", 8000, 5000)
    assert len(data) < 1000
    assert Image.open(io.BytesIO(data)).size == (8000, 5000)
    with pytest.raises(ImageTooLarge) as refused:
        decode(data, fast=fast)
    assert refused.value.message == scan.NO_MEMORY_MESSAGE
    with pytest.raises(ImageTooLarge):
        read_qr(data)
    # A YCbCr one is read as luma (40 MB): not refused for its size.
    with pytest.raises((ImageUnreadable, NoQrCode)):
        read_qr(_jpeg_header("RGB", 8000, 5000))


#: Run in a process of its own: read_qr on each file named, with Pillow's own bomb check
#: switched off; what each raised, how long it took, and how far the process's peak
#: resident memory grew over all of them.
_REFUSALS = """
import json, resource, sys, time
from PIL import Image
from verifier.scan import read_qr
Image.MAX_IMAGE_PIXELS = None
files = [open(p, "rb").read() for p in sys.argv[1:]]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
said = []
for data in files:
    start = time.perf_counter()
    try:
        read_qr(data)
        said.append(["read", time.perf_counter() - start])
    except Exception as e:
        said.append([type(e).__name__, time.perf_counter() - start])
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"said": said, "grown_kib": grown}))
"""


def test_huge_declared_images_are_refused_fast_and_in_little_memory(tmp_path: Path) -> None:
    """In a process of its own (no worker's memory cap) and with Pillow's check switched
    off, small files declaring huge images are refused in milliseconds, the process's peak
    memory growing by a few MiB at most (decoding any of them would take 200 MB to GBs)."""
    files = {
        "png": _png_header(20_000, 20_000),
        "png-long": _png_header(40_000_001, 1),
        "jpeg": _jpeg_header("RGB", 16_000, 16_000),
        "jpeg-cmyk": _jpeg_header("CMYK", 8000, 5000),
        "webp": _webp((6300, 6300), b"VP8L"),
    }
    paths = []
    for name, data in files.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    run = subprocess.run(
        [sys.executable, "-c", _REFUSALS, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answer = json.loads(run.stdout)
    for name, (raised, seconds) in zip(files, answer["said"], strict=True):
        assert raised == "ImageTooLarge", name
        assert seconds < 0.05, (name, seconds)
    assert answer["grown_kib"] < 8 * 1024, answer


def test_pillows_own_bomb_check_is_neither_relied_on_nor_let_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Image.MAX_IMAGE_PIXELS is process-wide: a caller switching it off leaves the bounds
    here as they are, and one setting it lower than they are gets ImageTooLarge from it."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageTooLarge):
        read_qr(_png_header(8001, 5000))
    with pytest.raises(ImageTooLarge):
        read_qr(_jpeg_header("CMYK", 8000, 5000))
    data = _bytes(_scene((800, 900), 4, blur=0), "PNG")
    assert read_qr(data) == TEXT
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300_000)  # warns past it, errs past twice
    for pixels in ((800, 900), (2000, 2000)):
        with pytest.raises(ImageTooLarge):
            read_qr(_bytes(_scene(pixels, 4, blur=0), "PNG"))


@pytest.mark.parametrize("mode", ["RGB", "CMYK"])
def test_a_phone_photo_still_reads(mode: str) -> None:
    """A 4032×3024 photo is well within the decode bound, even in CMYK (110 MB)."""
    data = _bytes(_scene((4032, 3024), 10, mode=mode), "JPEG", quality=85)
    assert scan.decoded_bytes((4032, 3024), mode) < scan.MAX_DECODED_BYTES
    assert read_qr(data) == TEXT


def _progressive_header(mode: str, width: int, height: int, **options: object) -> bytes:
    """A progressive JPEG in ``mode`` that claims ``width``×``height`` pixels (its SOF2 says
    so) but holds the scans of 16×16."""
    data = _bytes(Image.new(mode, (16, 16)), "JPEG", progressive=True, **options)
    sof = data.index(b"\xff\xc2")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def _first_scan_of_one_component(data: bytes) -> bytes:
    """``data`` (a baseline JPEG) with its first scan holding its first component only, as
    a JPEG written one component a scan begins."""
    sos = data.index(b"\xff\xda")
    length = int.from_bytes(data[sos + 2 : sos + 4], "big")
    first, rest = data[sos + 5 : sos + 7], data[sos + 5 + 2 * data[sos + 4] : sos + 2 + length]
    return (
        data[:sos]
        + b"\xff\xda"
        + struct.pack(">HB", 6 + 2, 1)
        + first
        + rest
        + data[sos + 2 + length :]
    )


def test_a_jpeg_decoded_scan_by_scan_counts_its_coefficients() -> None:
    """libjpeg holds the coefficients of the whole image (2 bytes a sample, at full size)
    for a progressive JPEG and for one whose first scan lacks a component; not for a JPEG
    of one interleaved scan."""
    baseline = _jpeg_header("RGB", 8000, 5000)
    progressive = {
        "4:4:4": _progressive_header("RGB", 8000, 5000, subsampling=0),
        "4:2:0": _progressive_header("RGB", 8000, 5000, subsampling=2),
        "gray": _progressive_header("L", 8000, 5000),
    }

    def held(data: bytes) -> int:
        image = Image.open(io.BytesIO(data))
        assert isinstance(image, JpegImagePlugin.JpegImageFile)
        return scan.jpeg_coefficient_bytes(image, data)

    assert held(baseline) == 0
    assert held(progressive["4:4:4"]) == 3 * 40_000_000 * 2
    # Chroma at half size each way, in whole MCUs of 16×16 (5000 rows are 313 of them).
    four_two_zero = (1000 * 626 + 2 * 500 * 313) * 64 * 2
    assert held(progressive["4:2:0"]) == four_two_zero
    assert held(progressive["gray"]) == 40_000_000 * 2
    assert held(_first_scan_of_one_component(baseline)) == four_two_zero  # 4:2:0 too


def test_a_progressive_jpeg_too_costly_to_decode_is_refused_in_little_memory(
    tmp_path: Path,
) -> None:
    """A progressive 40-megapixel JPEG of 500 bytes took some 270 MiB and a second to
    refuse (libjpeg zeroes the coefficients of the whole image, 240 MB, before its first
    row): refused from its header now, in a process of its own, as fast and small as the
    other huge declared images; and in a test's process, whatever the pass."""
    files = [
        _progressive_header("RGB", 8000, 5000, subsampling=0),
        _progressive_header("RGB", 8000, 5000),
        _first_scan_of_one_component(_jpeg_header("RGB", 8000, 5000)),
    ]
    for data in files:
        for fast in (True, False):
            with pytest.raises(ImageTooLarge):
                decode(data, fast=fast)
    paths = []
    for i, data in enumerate(files):
        paths.append(tmp_path / f"{i}.jpg")
        paths[-1].write_bytes(data)
    run = subprocess.run(
        [sys.executable, "-c", _REFUSALS, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answer = json.loads(run.stdout)
    for raised, seconds in answer["said"]:
        assert raised == "ImageTooLarge"
        assert seconds < 0.05
    assert answer["grown_kib"] < 8 * 1024, answer


def test_a_progressive_phone_photo_still_reads() -> None:
    data = _bytes(_scene((4032, 3024), 10), "JPEG", quality=85, progressive=True)
    assert Image.open(io.BytesIO(data)).info.get("progressive")
    assert read_qr(data) == TEXT


def _tiff(
    size: tuple[int, int], *, tile: int | None = None, rows_per_strip: int | None = None
) -> bytes:
    """A deflate-compressed RGBA TIFF of ``size`` whose one strip or tile (``tile`` pixels
    a side) holds a few bytes of zeros: as small a file as its header."""
    width, height = size
    compressed = zlib.compress(b"\0" * 64)
    tags: list[tuple[int, int, int]] = [  # tag, type (3 SHORT, 4 LONG), value
        (256, 4, width),
        (257, 4, height),
        (259, 3, 8),  # deflate
        (262, 3, 2),  # RGB
        (277, 3, 4),
        (338, 3, 2),  # extra sample: unassociated alpha
    ]
    if tile is not None:
        tags += [(322, 4, tile), (323, 4, tile)]
    else:
        tags.append((278, 4, rows_per_strip or height))
    count = len(tags) + 3  # and BitsPerSample, the offset and byte count of its data
    bits_at = 8 + 2 + 12 * count + 4
    data_at = bits_at + 8
    offsets, counts = (324, 325) if tile is not None else (273, 279)
    tags += [(offsets, 4, data_at), (counts, 4, len(compressed))]
    entries = {tag: struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in tags}
    entries[258] = struct.pack("<HHII", 258, 3, 4, bits_at)
    ifd = b"".join(entries[tag] for tag in sorted(entries))
    return (
        b"II*\0"
        + struct.pack("<IH", 8, count)
        + ifd
        + struct.pack("<I", 0)
        + struct.pack("<4H", 8, 8, 8, 8)
        + compressed
    )


@pytest.mark.parametrize(
    ("what", "data"),
    [
        ("a tile of 8192×8192 in an image of 16×16", _tiff((16, 16), tile=8192)),
        ("one strip of 40 megapixels", _tiff((6320, 6320))),
    ],
)
def test_a_tiff_whose_strip_or_tile_is_too_costly_is_refused_from_its_header(
    what: str, data: bytes
) -> None:
    """Pillow's libtiff decoder holds a compressed TIFF's strip or tile (at its bits a
    pixel) besides the image: a 196 KB TIFF of 16×16 pixels in one 8192×8192 RGB tile took
    192 MiB to read, and a 40-megapixel RGBA one in one strip 308 MiB; counted now."""
    image = Image.open(io.BytesIO(data))
    assert isinstance(image, TiffImagePlugin.TiffImageFile)
    assert image.tile[0].codec_name == "libtiff"
    assert scan.tiff_buffer_bytes(image) == (8192 * 8192 if "tile" in what else 6320 * 6320) * 4
    for fast in (True, False):
        with pytest.raises(ImageTooLarge) as refused:
            decode(data, fast=fast)
        assert refused.value.message == scan.NO_MEMORY_MESSAGE, what


def test_a_compressed_tiff_in_strips_still_reads() -> None:
    """A scan saved as an LZW TIFF (Pillow's strips, 64 KB each) is read; its strip is
    counted, small."""
    data = _bytes(_scene((2480, 3508), 10, blur=0), "TIFF", compression="tiff_lzw")
    image = Image.open(io.BytesIO(data))
    assert isinstance(image, TiffImagePlugin.TiffImageFile)
    assert 0 < scan.tiff_buffer_bytes(image) <= 2**16 + 2480 * 3
    assert read_qr(data) == TEXT
