"""From an image (a photo of paper, a screenshot of a phone, a camera frame) to QR text,
with zxing-cpp.

Bounded: the file size and the pixel count are checked before decoding, so a huge or
hostile image costs at most a header parse. Only QR symbols are read.
"""

from __future__ import annotations

import io
import warnings

import zxingcpp
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from keys.errors import InvalidInput

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
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


def read_qr(data: bytes) -> str:
    """The text of the first QR code in the image ``data``.

    A fast pass first: the image reduced (see :data:`WORK_SIDE`), grayscale, one straight
    scan; then, only if that finds nothing, the full-size image with zxing's rotation,
    downscaling and inversion tries.
    """
    small, reduced = decode(data, fast=True)
    try:
        found = zxingcpp.read_barcodes(
            small, formats=_QR_ONLY, try_rotate=False, try_downscale=False, try_invert=False
        )
        if not found:
            full = decode(data, fast=False)[0] if reduced else small
            found = zxingcpp.read_barcodes(full, formats=_QR_ONLY)
    except ValueError as e:  # zxing refuses the image itself (its size or layout)
        raise ImageUnreadable(f"the image cannot be scanned: {e}") from e
    if not found:
        raise NoQrCode("no QR code found in the image")
    return str(found[0].text)


_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def reduction(size: tuple[int, int]) -> int:
    """By how much the fast pass shrinks an image of ``size`` (1, 2, 4 or 8)."""
    return next((f for f in _FACTORS if max(size) // f >= WORK_SIDE), 1)


def check_size(data: bytes) -> None:
    """ImageTooLarge for an image file over :data:`MAX_IMAGE_BYTES`."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(f"an image must be at most {MAX_IMAGE_BYTES // 2**20} MiB")


def decode(data: bytes, *, fast: bool) -> tuple[Image.Image, bool]:
    """The image as grayscale (reduced when ``fast``), and whether it was reduced; bounded
    as :func:`read_qr` says (its errors are :func:`read_qr`'s)."""
    check_size(data)
    if not data:
        raise ImageUnreadable("the image file is empty")
    too_large = f"an image must be at most {MAX_PIXELS // 1_000_000} megapixels"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageTooLarge(too_large)
            if max(width, height) > MAX_SIDE:
                raise ImageTooLarge(f"an image side must be at most {MAX_SIDE} pixels")
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
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(too_large) from e
    except UnidentifiedImageError as e:
        raise ImageUnreadable(
            "not an image file this verifier reads (JPEG, PNG, GIF, BMP, WebP or TIFF)"
        ) from e
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageUnreadable(f"the image is damaged or cut short: {e}") from e
    except Exception as e:  # a decoder's own failure on a hostile file is not ours
        raise ImageUnreadable(f"the image cannot be decoded ({type(e).__name__})") from e
    return gray, gray.size != (width, height)
