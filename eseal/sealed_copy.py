"""The sealed copy of a document: the seal and its ``ES1:`` QR stamped on a PDF's last page,
on an image placed on an A4 page, or on a certificate page naming any other file."""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import Any, Final

from PIL import Image, ImageOps
from pypdf import PdfReader, PdfWriter, Transformation
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader

from eseal.render import (
    GREY,
    MIN_QR_MODULE,
    QUIET_ZONE,
    DocumentTooLarge,
    DocumentUnreadable,
    RenderOptionInvalid,
    bilingual_label,
    cjk_paragraph,
    draw_qr,
    draw_text,
    label_table,
    pdf_canvas,
    qr_matrix,
    seal_reader,
)

MAX_DOCUMENT_BYTES: Final = 20 * 1024 * 1024
MAX_IMAGE_PIXELS: Final = 40_000_000
#: Images are embedded at most this many pixels on the long side (≈ 300 dpi on A4).
MAX_EMBEDDED_SIDE: Final = 3508


STAMP_MARGIN: Final[float] = 12 * mm
STAMP_QR: Final[float] = 36 * mm
STAMP_SEAL: Final[float] = 40 * mm
STAMP_BLOCK: Final[tuple[float, float]] = (
    STAMP_SEAL + STAMP_QR + 2 * mm,
    STAMP_QR + 6 * mm + 14 * mm,
)


def _stamp_scale(size: tuple[float, float]) -> float:
    """How much the stamp shrinks on a page of ``size``: to 90% of its width, 45% of its height."""
    (width, height), (block_w, block_h) = size, STAMP_BLOCK
    return min(
        1.0, 0.9 * width / (block_w + STAMP_MARGIN), 0.45 * height / (block_h + STAMP_MARGIN)
    )


def _stamp_fits(size: tuple[float, float], qr_text: str) -> bool:
    """Whether the stamp, shrunk to a page of ``size``, keeps QR modules a phone reads (or,
    for a QR too dense for that even unshrunk, keeps them as they are on an A4 page)."""
    module = STAMP_QR / (len(qr_matrix(qr_text)) + 2 * QUIET_ZONE)
    return _stamp_scale(size) * module >= min(float(MIN_QR_MODULE), module)


def _draw_stamp(
    c: Any, size: tuple[float, float], seal_png: bytes, qr_text: str, caption: str
) -> None:
    """Seal, QR (captioned 扫码验章) and ``caption`` in the bottom-right corner of a page."""
    margin, qr, seal, (block_w, _) = STAMP_MARGIN, STAMP_QR, STAMP_SEAL, STAMP_BLOCK
    scale = _stamp_scale(size)
    width = size[0]
    c.saveState()
    c.translate(width - scale * margin, scale * margin)
    c.scale(scale, scale)
    draw_qr(c, qr_text, -qr, 6 * mm, qr)
    draw_text(c, (-qr / 2, 2 * mm), "扫码验章  Scan to verify", 9, centred=True)
    if caption.strip():
        note = cjk_paragraph(caption, 8, GREY, align=2)
        _, note_h = note.wrap(block_w, 14 * mm)
        note_w, note_y = max(note.getActualLineWidths0()), qr + 7 * mm + max(0.0, 12 * mm - note_h)
        c.setFillColor(colors.Color(1, 1, 1, alpha=0.85))  # legible over the page's own text
        c.rect(-note_w - 5, note_y - 3, note_w + 9, note_h + 6, stroke=0, fill=1)
        note.drawOn(c, -block_w, note_y)
    c.drawImage(seal_reader(seal_png), -block_w, 6 * mm + (qr - seal) / 2, seal, seal, mask="auto")
    c.restoreState()


def _open_pdf(document: bytes) -> tuple[PdfWriter, Any, tuple[float, float, float, float]]:
    """The PDF as a writer, its last page (upright) and that page's crop box (left, bottom,
    width, height), or :class:`DocumentUnreadable`."""
    try:
        reader = PdfReader(io.BytesIO(document))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentUnreadable("the PDF is encrypted with a password")
        writer = PdfWriter(clone_from=reader)
        if not writer.pages:
            raise DocumentUnreadable("the PDF has no pages")
        last = writer.pages[-1]
        last.transfer_rotation_to_content()
        box = last.cropbox
        left, bottom, w, h = float(box.left), float(box.bottom), float(box.width), float(box.height)
    except DocumentUnreadable:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on hostile input
        raise DocumentUnreadable(f"the PDF cannot be read: {type(exc).__name__}: {exc}") from exc
    if not (w >= 36 and h >= 36):
        raise DocumentUnreadable(f"the PDF's last page ({w:.0f}x{h:.0f} pt) is too small to seal")
    return writer, last, (left, bottom, w, h)


def check_sealable(document: bytes) -> None:
    """Refuse a document no sealed copy can be made of (a PDF or an image that does not
    read, one too large), as :func:`sealed_copy_pdf` would: asked before a stamp is
    recorded, so that a stamp asked with its sealed copy is not recorded without it."""
    if len(document) > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(f"document of {len(document):,} bytes is over the 20 MiB limit")
    if document.startswith(b"%PDF-"):
        _open_pdf(document)
    elif (kind := _image_kind(document)) is not None:
        _open_image(document, kind)


def _image_kind(document: bytes) -> str | None:
    if document.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    return "JPEG" if document.startswith(b"\xff\xd8\xff") else None


def _stamped_pdf(document: bytes, seal_png: bytes, qr_text: str, caption: str) -> bytes:
    """The stamp on the PDF's last page; on an A4 page added after it when that page is too
    small (a business card) for a stamp whose QR a phone reads, the original pages intact."""
    writer, last, (left, bottom, w, h) = _open_pdf(document)
    if not _stamp_fits((w, h), qr_text):
        w, h = A4
        last, left, bottom = writer.add_blank_page(w, h), 0.0, 0.0
    overlay = io.BytesIO()
    c = pdf_canvas(overlay, (w, h), "stamp")
    _draw_stamp(c, (w, h), seal_png, qr_text, caption)
    c.showPage()
    c.save()
    try:
        last.merge_transformed_page(
            PdfReader(overlay).pages[0], Transformation().translate(left, bottom)
        )
        out = io.BytesIO()
        writer.write(out)
    except Exception as exc:  # a content stream that pypdf cannot parse while merging
        raise DocumentUnreadable(f"the PDF cannot be stamped: {type(exc).__name__}: {exc}") from exc
    return out.getvalue()


def _open_image(document: bytes, kind: str) -> Image.Image:
    """The image, upright and RGB, refusing bombs and undecodable data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(document), formats=[kind])
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise DocumentTooLarge(f"image of {image.width}x{image.height} pixels is over 40 MP")
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
            backdrop = Image.new("RGB", image.size, "white")
            backdrop.paste(image.convert("RGBA"), mask=image.convert("RGBA"))
            image = backdrop
        image = image.convert("RGB")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DocumentTooLarge(f"image over the pixel limit: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DocumentUnreadable(f"the {kind} image cannot be read: {exc}") from exc
    image.thumbnail((MAX_EMBEDDED_SIDE, MAX_EMBEDDED_SIDE), Image.Resampling.LANCZOS)
    return image


def _image_page(c: Any, image: Image.Image, kind: str, size: tuple[float, float]) -> None:
    """Fit the image above the stamp band of the page."""
    width, height = size
    margin, band = 15 * mm, 62 * mm
    box_w, box_h = width - 2 * margin, height - margin - band
    ratio = min(box_w / image.width, box_h / image.height)
    w, h = image.width * ratio, image.height * ratio
    encoded = io.BytesIO()
    if kind == "JPEG":
        image.save(encoded, format="JPEG", quality=90)  # embedded as is (DCTDecode)
    else:
        image.save(encoded, format="PNG")
    encoded.seek(0)
    c.drawImage(ImageReader(encoded), (width - w) / 2, height - margin - h, w, h)


def _certificate_page(c: Any, document: bytes, document_name: str) -> None:
    """文件电子签章证明: what was sealed, identified by name, size and SHA-256."""
    width, height = A4
    draw_text(c, (width / 2, height - 40 * mm), "文件电子签章证明", 24, centred=True)
    draw_text(
        c, (width / 2, height - 48 * mm), "Certificate of Electronic Seal", 10, GREY, centred=True
    )
    digest = hashlib.sha256(document).hexdigest()
    table = label_table(
        [
            (bilingual_label("文件名称", "File name"), document_name.strip() or "（未命名）"),
            (bilingual_label("文件大小", "Size"), f"{len(document):,} 字节 bytes"),
            (bilingual_label("SHA-256"), f"{digest[:32]}\n{digest[32:]}"),
        ],
        11,
        36 * mm,
        width - 44 * mm,
    )
    _, table_h = table.wrapOn(c, width - 44 * mm, 150 * mm)
    table.drawOn(c, 22 * mm, height - 62 * mm - table_h)


def sealed_copy_pdf(
    document: bytes, *, document_name: str, seal_png: bytes, qr_text: str, caption: str
) -> bytes:
    """The sealed copy of ``document``: a PDF gets the seal and QR on its last page's bottom
    right (on an A4 page added after it when that page is too small); a PNG/JPEG image is
    placed on an A4 page and stamped; anything else gets a one-page 文件电子签章证明 naming
    its file name, size and SHA-256."""
    if len(document) > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(f"document of {len(document):,} bytes is over the 20 MiB limit")
    if len(caption) > 200 or len(document_name) > 255:
        raise RenderOptionInvalid("caption over 200 or document name over 255 characters")
    qr_matrix(qr_text)  # refuse bad QR text before any work
    if document.startswith(b"%PDF-"):
        return _stamped_pdf(document, seal_png, qr_text, caption)
    kind = _image_kind(document)
    out = io.BytesIO()
    if kind is not None:
        image = _open_image(document, kind)
        size = (A4[1], A4[0]) if image.width > image.height else A4
        c = pdf_canvas(out, size, document_name)
        _image_page(c, image, kind, size)
    else:
        size = A4
        c = pdf_canvas(out, size, document_name)
        _certificate_page(c, document, document_name)
    _draw_stamp(c, size, seal_png, qr_text, caption)
    c.showPage()
    c.save()
    return out.getvalue()
