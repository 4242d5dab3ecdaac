"""From an image (a photo of paper, a screenshot of a phone) to QR text, with zxing-cpp.

Bounded: the file size and the pixel count are checked before decoding, so a huge or
hostile image costs at most a header parse. Only QR symbols are read.
"""

from __future__ import annotations

import io
import warnings

import zxingcpp
from PIL import Image, UnidentifiedImageError

from keys.errors import InvalidInput

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
#: Large photos are scaled down to this long side first: a QR filling a fraction of a
#: 12-megapixel photo still has several pixels per module, and decoding is much faster.
WORK_SIDE = 1000


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

    A fast pass first: the image reduced to about :data:`WORK_SIDE` (JPEG decodes at
    reduced size almost for free) and one straight scan; then, only if that finds
    nothing, the full image with rotation, downscaling and inversion tried.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(f"an image must be at most {MAX_IMAGE_BYTES // 2**20} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise ImageTooLarge(
                    f"an image must be at most {MAX_PIXELS // 1_000_000} megapixels"
                )
            reduced = max(image.size) > WORK_SIDE
            if reduced and image.format == "JPEG":
                scale = max(image.size) / WORK_SIDE
                image.draft("L", (int(image.width / scale), int(image.height / scale)))
            small = image.convert("L")
            # Shrinking costs more than zxing saves on a screenshot-sized image; only
            # very large non-JPEG images (no cheap reduced decode) are shrunk.
            if max(small.size) > WORK_SIDE * 4:
                small.thumbnail((WORK_SIDE * 2, WORK_SIDE * 2))
    except ImageTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(f"an image must be at most {MAX_PIXELS // 1_000_000} megapixels") from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ImageUnreadable(f"not a readable image: {e}") from e
    found = zxingcpp.read_barcodes(
        small, formats=_QR_ONLY, try_rotate=False, try_downscale=False, try_invert=False
    )
    if not found:
        found = zxingcpp.read_barcodes(_full(data) if reduced else small, formats=_QR_ONLY)
    if not found:
        raise NoQrCode("no QR code found in the image")
    return str(found[0].text)


_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def _full(data: bytes) -> Image.Image:
    """The image at full resolution (the second try, when the reduced one found nothing)."""
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("L")
