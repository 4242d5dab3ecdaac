"""From an image (a photo of paper, a screenshot of a phone, a camera frame) to QR text,
with zxing-cpp.

Bounded: the file size, the pixel count and the memory decoding will take (by the image's
mode, :data:`MAX_DECODED_BYTES`) are checked on the header before any pixel is decoded, so
a huge or hostile image costs at most a header parse, in any process. Pillow's own check
(``Image.MAX_IMAGE_PIXELS``, process-wide, which a caller may raise or switch off) is not
relied on: the bounds here are stricter and hold whatever it is, and its warning and error,
where it is stricter still, are :class:`ImageTooLarge` too. Only QR symbols are read. An
allocation that fails while an image is read (in a worker process of
:mod:`verifier.scan_pool`, which caps its memory) is :class:`ImageTooLarge` too.
"""

from __future__ import annotations

import io
import warnings

import zxingcpp
from PIL import Image, JpegImagePlugin, TiffImagePlugin, UnidentifiedImageError

from keys.errors import InvalidInput
from verifier.document import PREFIXES

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
#: Pillow reads a WebP through libwebp's animation decoder, which holds two RGBA canvases
#: (8 bytes a pixel) from the moment the file is opened, then hands the frame over as an
#: RGBA copy that Pillow copies again into the image: about 16 bytes a pixel before the
#: grayscale conversion, against 5 for a PNG (RGB, kept as 4 bytes, then 1 for gray) and
#: about 1 for a JPEG (luma only). At 13 megapixels a WebP costs what a PNG costs at 40
#: (about 215 MiB, measured; see verifier.scan_pool.SCAN_MEMORY), and a 4032×3024 phone
#: photo (12.2 MP) still reads.
MAX_WEBP_PIXELS = 13_000_000
#: The most memory decoding one image may take, as Pillow holds it: the decoded image (its
#: mode's bytes a pixel, :func:`decoded_bytes`), the RGB image it is converted through
#: where Pillow converts none of it to gray directly (CMYK, LAB, HSV), and the gray image.
#: Derived from the pixel bound: a 40-megapixel RGB(A) PNG, held at 4 bytes a pixel, and
#: its gray copy, the costliest usual image :data:`verifier.scan_pool.SCAN_MEMORY` was
#: measured to read. Checked on the header, before any pixel is decoded, so that
#: :func:`read_qr` in a caller's own process (a library, the benches, the fuzz target) is
#: bounded as a worker is; the worker's RLIMIT_DATA stays, a second line for what this
#: does not count (zxing's buffers, a decoder's own). A WebP costs more than its mode says
#: (its decoder's canvases, from the moment it is opened): :data:`MAX_WEBP_PIXELS` bounds it.
#: A progressive JPEG does too (libjpeg's coefficients of the whole image), and a compressed
#: TIFF (a strip or a tile of it, as large as its file declares): each is counted with them
#: (:func:`jpeg_coefficient_bytes`, :func:`tiff_buffer_bytes`).
MAX_DECODED_BYTES = MAX_PIXELS * 5
#: zxing-cpp reads images up to 65,535 pixels a side; no photo or screen is near that,
#: and a 1 × 70,000 strip would otherwise pass the pixel bound.
MAX_SIDE = 16_384
#: The fast pass scans the image reduced by 2, 4 or 8, the largest factor that keeps its
#: long side at least this: a 12-megapixel photo is scanned at 1000×750 and a 1080×2400
#: screenshot at 540×1200, while a 1280×720 camera frame is scanned as it is (at 640×360
#: the dense license QR, version 20, is near zxing's limit when it fills half the frame's
#: height, so the fast pass would miss it too often). A JPEG is decoded at the reduced size
#: directly (libjpeg's scaled DCT, luma only, so no colour conversion either).
WORK_SIDE = 1000
_FACTORS = (8, 4, 2)
#: The formats read, by Pillow's names: what cameras, phones and scanners write (JPEG
#: includes a phone's MPO). Nothing else is even identified: EPS would run Ghostscript, and
#: the DDS, SPIDER and BLP plugins fail on hostile files with errors of their own.
FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")


class ImageUnreadable(InvalidInput):
    """The file is not an image this verifier can read."""

    code = "image-unreadable"


class ImageTooLarge(InvalidInput):
    """The image is larger than the verifier accepts."""

    code = "image-too-large"
    http_status = 413


class NoQrCode(InvalidInput):
    """No QR code could be found in the image."""

    code = "no-qr-code"
    http_status = 422


class SeveralQrCodes(InvalidInput):
    """The image shows the QR codes of more than one document (licenses or seal stamps):
    which one was meant cannot be told, and a verdict on either could be taken for the
    other's."""

    code = "several-qr-codes"
    http_status = 422


def read_qr(data: bytes) -> str:
    """The text of the document's QR code in the image ``data``: the one whose text is a
    license's or a seal stamp's (:data:`verifier.document.PREFIXES`) where the image shows
    other QR codes too (a web link, a payment code beside it), else the first QR code
    (the verifier says it is no document of ours). The same code shown twice is one (its
    text compared with the white space around it stripped, as the verifier strips it);
    :class:`SeveralQrCodes` for the codes of two documents.

    A fast pass first: the image reduced (see :data:`WORK_SIDE`), grayscale, one straight
    scan; then, only if that finds no document's code, the full-size image with zxing's
    rotation, downscaling and inversion tries. So a second document's code that only the
    full-size pass reads (far smaller in the photo than the one the fast pass read) goes
    unseen: looking for it in every photo would cost each the full-size pass (some
    100 ms for a 12-megapixel photo, against 25; BENCHMARKS.md).
    """
    small, reduced = decode(data, fast=True)
    try:
        found = _texts(
            zxingcpp.read_barcodes(
                _pixels(small),
                formats=_QR_ONLY,
                try_rotate=False,
                try_downscale=False,
                try_invert=False,
            )
        )
        if not any(map(_is_document, found)):
            full = decode(data, fast=False)[0] if reduced else small
            found += _texts(zxingcpp.read_barcodes(_pixels(full), formats=_QR_ONLY))
    except MemoryError as e:  # zxing's own buffers, past a worker's memory bound
        raise ImageTooLarge(NO_MEMORY_MESSAGE) from e
    except ValueError as e:  # zxing refuses the image itself (its size or layout)
        raise ImageUnreadable(f"the image cannot be scanned: {e}") from e
    if not found:
        raise NoQrCode("no QR code found in the image")
    documents = list(dict.fromkeys(text.strip() for text in found if _is_document(text)))
    if len(documents) > 1:
        raise SeveralQrCodes(
            f"the image shows the QR codes of {len(documents)} documents (licenses or seal "
            "stamps): send an image of one"
        )
    return documents[0] if documents else found[0]


def _texts(results: list[zxingcpp.Barcode]) -> list[str]:
    return [str(r.text) for r in results]


def _is_document(text: str) -> bool:
    """Whether ``text`` is a license's or a seal stamp's QR text by its prefix, white space
    around it aside (the verifier strips it: the HTTP route, the CLI)."""
    return text.strip().startswith(tuple(PREFIXES))


_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
#: What an image that needs more memory than a worker has is told (see
#: :data:`verifier.scan_pool.SCAN_MEMORY`).
_TOO_MANY_PIXELS = f"an image must be at most {MAX_PIXELS // 1_000_000} megapixels"
NO_MEMORY_MESSAGE = (
    "the image needs more memory to read than the verifier allows: send a smaller image, "
    "or a photo or screenshot of the QR code alone"
)


def _pixels(gray: Image.Image) -> memoryview:
    """``gray``'s pixels as the 2-D buffer zxing reads. Given a PIL image, zxing makes this
    copy itself, but an allocation failing in it comes out as a TypeError (the image "does
    not support the buffer protocol"); made here, it is a MemoryError."""
    return memoryview(gray.tobytes()).cast("B", (gray.height, gray.width))


def webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP file declares (its first chunk: VP8X, VP8L or VP8), or None
    if ``data`` is no WebP or the size is not where the container puts it. Read before
    Pillow opens the file: opening one allocates its canvases (see
    :data:`MAX_WEBP_PIXELS`)."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: 24-bit canvas width and height, minus one
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and data[20] == 0x2F:  # lossless: 14-bit sides, minus one
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":  # lossy: a key frame's 14-bit sides
        return (
            int.from_bytes(data[26:28], "little") & 0x3FFF,
            int.from_bytes(data[28:30], "little") & 0x3FFF,
        )
    return None


def reduction(size: tuple[int, int]) -> int:
    """By how much the fast pass shrinks an image of ``size`` (1, 2, 4 or 8)."""
    return next((f for f in _FACTORS if max(size) // f >= WORK_SIDE), 1)


def check_size(data: bytes) -> None:
    """ImageTooLarge for an image file over :data:`MAX_IMAGE_BYTES`."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(f"an image must be at most {MAX_IMAGE_BYTES // 2**20} MiB")


def check_pixels(size: tuple[int, int], fmt: str | None) -> None:
    """ImageTooLarge for an image of ``size`` in format ``fmt`` (Pillow's name) over the
    pixel bounds: :data:`MAX_PIXELS` (:data:`MAX_WEBP_PIXELS` for a WebP), :data:`MAX_SIDE`."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(_TOO_MANY_PIXELS)
    if fmt == "WEBP" and width * height > MAX_WEBP_PIXELS:
        raise ImageTooLarge(
            f"a WebP image must be at most {MAX_WEBP_PIXELS // 1_000_000} megapixels"
        )
    if max(width, height) > MAX_SIDE:
        raise ImageTooLarge(f"an image side must be at most {MAX_SIDE} pixels")


#: The modes Pillow converts to gray in one step; any other goes through RGB first.
_GRAY_IN_ONE_STEP = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "YCbCr"})


def decoded_bytes(size: tuple[int, int], mode: str) -> int:
    """The memory an image of ``size`` in ``mode`` takes to decode and make gray, as Pillow
    holds it (see :data:`MAX_DECODED_BYTES`): 1 byte a pixel for 1, L and P, 2 for I;16,
    4 for every other mode (several bands are kept as 4 bytes; I and F are 4); 4 more for
    the RGB step of a mode not converted to gray at once; 1 more for the gray image."""
    if mode in ("1", "L", "P"):
        held = 1
    elif mode.startswith("I;16"):
        held = 2
    else:
        held = 4
    if mode != "L":
        held += 1  # the gray image
        if mode not in _GRAY_IN_ONE_STEP and not mode.startswith(("I", "F")):
            held += 4  # through RGB (Pillow's convert from CMYK, LAB, HSV, RGBa, La)
    return size[0] * size[1] * held


def check_decoded(size: tuple[int, int], mode: str, *, also: int = 0) -> None:
    """ImageTooLarge, as a worker out of memory answers it, for an image whose decoding
    would take more than :data:`MAX_DECODED_BYTES` (with ``also`` bytes a decoder holds
    besides the image, :func:`jpeg_coefficient_bytes`, :func:`tiff_buffer_bytes`)."""
    if decoded_bytes(size, mode) + also > MAX_DECODED_BYTES:
        raise ImageTooLarge(NO_MEMORY_MESSAGE)


def _first_scan_components(data: bytes) -> int | None:
    """How many components the first scan of the JPEG ``data`` holds (its SOS header's Ns),
    or None if its markers do not lead there."""
    at = 2  # past SOI
    while at + 4 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte before a marker
            at += 1
            continue
        if marker == 0xDA:
            return data[at + 4]
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers with no length
            at += 2
            continue
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


def jpeg_coefficient_bytes(image: JpegImagePlugin.JpegImageFile, data: bytes) -> int:
    """The memory libjpeg takes for the DCT coefficients of the whole image (2 bytes a
    sample of each component, as sampled) before it outputs a row, which it does for a
    progressive JPEG, and for one whose scans each hold some of its components (its first
    scan not all): at full size whatever the output's scale. 0 for a JPEG read in one
    interleaved scan, whose coefficients libjpeg holds a row of blocks at a time."""
    components = image.layer
    first = _first_scan_components(data)
    if not image.info.get("progressive") and first is not None and first >= len(components):
        return 0
    width, height = image.size
    h_max = max([h for _, h, _, _ in components] + [1])
    v_max = max([v for _, _, v, _ in components] + [1])
    across, down = -(-width // (8 * h_max)), -(-height // (8 * v_max))  # MCUs, rounded up
    blocks = sum(across * h * down * v for _, h, v, _ in components)
    return blocks * 64 * 2


#: TIFF tags: photometric interpretation (6, YCbCr), compression (6, old-style JPEG),
#: bits of each sample, tile width and length, rows a strip.
_PHOTOMETRIC, _COMPRESSION, _BITS, _TILE_WIDTH, _TILE_LENGTH, _ROWS_PER_STRIP = (
    262,
    259,
    258,
    322,
    323,
    278,
)


def tiff_buffer_bytes(image: TiffImagePlugin.TiffImageFile) -> int:
    """The memory libtiff and Pillow's decoder hold for a compressed TIFF besides the image:
    a strip (its rows, at most the image's) or a tile (as large as the file declares it,
    whatever the image's size), at the file's bits a pixel, and 4 bytes a pixel more where
    libtiff converts it to RGBA (YCbCr not in JPEG, old-style JPEG). 0 for an uncompressed
    TIFF, which Pillow reads a block at a time."""
    if not image.tile or image.tile[0].codec_name != "libtiff":
        return 0
    tags = image.tag_v2
    width, height = image.size
    if _TILE_WIDTH in tags and _TILE_LENGTH in tags:
        across, rows = int(tags[_TILE_WIDTH]), int(tags[_TILE_LENGTH])
    else:
        across, rows = width, min(int(tags.get(_ROWS_PER_STRIP, height)), height)
    bits = tags.get(_BITS, (1,))
    per_pixel = sum(bits) if isinstance(bits, tuple) else int(bits)
    if tags.get(_PHOTOMETRIC) == 6 or tags.get(_COMPRESSION) == 6:
        per_pixel += 32
    return -(-across * per_pixel // 8) * rows


def _decoder_bytes(image: Image.Image, data: bytes) -> int:
    """What the decoder of ``image`` (opened from ``data``) holds besides the image: a
    JPEG decoded scan by scan its coefficients, at full size; a compressed TIFF a strip or
    a tile."""
    if isinstance(image, JpegImagePlugin.JpegImageFile):
        return jpeg_coefficient_bytes(image, data)
    if isinstance(image, TiffImagePlugin.TiffImageFile):
        return tiff_buffer_bytes(image)
    return 0


def decode(data: bytes, *, fast: bool) -> tuple[Image.Image, bool]:
    """The image as grayscale (reduced when ``fast``), and whether it was reduced; bounded
    as :func:`read_qr` says (its errors are :func:`read_qr`'s)."""
    check_size(data)
    if not data:
        raise ImageUnreadable("the image file is empty")
    if size := webp_size(data):  # before Pillow allocates its canvases
        check_pixels(size, "WEBP")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            check_pixels(image.size, image.format)
            # At full size, as opened (a JPEG's luma-only draft takes less): read_qr's
            # second pass decodes it so, and the first pass refuses what it would refuse.
            check_decoded(image.size, image.mode, also=_decoder_bytes(image, data))
            factor = reduction(image.size) if fast else 1
            if isinstance(image, JpegImagePlugin.JpegImageFile):  # also MPO (phones)
                # Luma straight from libjpeg, at 1/factor size (the DCT scaled down).
                wanted = (max(1, width // factor), max(1, height // factor))
                image.draft("L", wanted if factor > 1 else None)
            image.load()
            gray = image if image.mode == "L" else image.convert("L")
            left = factor // round(width / gray.width)  # what the JPEG decode did not do
            if left > 1:
                gray = gray.reduce(left)
    except ImageTooLarge:
        raise
    except MemoryError as e:  # past a worker's memory bound (verifier.scan_pool)
        raise ImageTooLarge(NO_MEMORY_MESSAGE) from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(_TOO_MANY_PIXELS) from e
    except UnidentifiedImageError as e:
        raise ImageUnreadable(
            "not an image file this verifier reads (JPEG, PNG, GIF, BMP, WebP or TIFF)"
        ) from e
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageUnreadable(f"the image is damaged or cut short: {e}") from e
    except Exception as e:  # a decoder's own failure on a hostile file is not ours
        raise ImageUnreadable(f"the image cannot be decoded ({type(e).__name__})") from e
    return gray, gray.size != (width, height)
