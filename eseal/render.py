"""Rendering to paper: QR symbols (PNG, SVG), the printable license (PDF, PNG) and the drawing
it shares with :mod:`eseal.sealed_copy`. Values in, bytes out; no files, no clock.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape

import pypdfium2 as pdfium
import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_Q
from qrcode.exceptions import DataOverflowError
from qrcode.util import MODE_ALPHA_NUM, QRData
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, Table, TableStyle

from keys.errors import ExternalFailure, InvalidInput


class FontMissing(ExternalFailure):
    """No usable CJK font: install the Debian package fonts-wqy-microhei or set ESEAL_CJK_FONT."""

    code = "font-missing"


class QrTextInvalid(InvalidInput):
    """Text that cannot become a QR symbol: empty, outside the alphanumeric alphabet, too long."""

    code = "qr-text-invalid"


class RenderOptionInvalid(InvalidInput):
    """A rendering option out of range (scale, border, dpi) or a license that cannot fit a page."""

    code = "render-option-invalid"


class DocumentTooLarge(InvalidInput):
    """A document or an image over the size limit."""

    code = "document-too-large"
    http_status = 413


class DocumentUnreadable(InvalidInput):
    """A document to seal that claims to be a PDF or image but cannot be read as one."""

    code = "document-unreadable"


# -- fonts --------------------------------------------------------------------------------------

FONT_ENV: Final = "ESEAL_CJK_FONT"
#: TrueType-outline CJK fonts from Debian packages (reportlab cannot embed CFF fonts like Noto CJK).
KNOWN_CJK_FONTS: Final = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # fonts-wqy-zenhei
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # fonts-arphic-uming
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",  # fonts-droid-fallback
)
#: TrueType fonts for the characters the CJK font lacks (CJK extensions B and beyond, as in
#: people's and places' names: 𠮷, 𠀀), tried in order, character by character.
KNOWN_FALLBACK_FONTS: Final = (
    "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf",  # fonts-hanazono
    "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",  # fonts-hanazono: extensions B to F
)
_FALLBACK_HINT: Final = "install the Debian package fonts-hanazono (apt-get install fonts-hanazono)"
_INSTALL_HINT: Final = (
    "install the Debian package fonts-wqy-microhei (apt-get install fonts-wqy-microhei)"
)


#: What an HTTP client is told of a missing font (the operator's log has the setting read).
FONT_MISSING_PUBLIC: Final = (
    "the node has no usable CJK font to draw with: its operator installs the Debian package "
    "fonts-wqy-microhei or sets ESEAL_CJK_FONT to a TrueType font"
)


def cjk_font_path() -> Path:
    """The CJK font to use: $ESEAL_CJK_FONT if set, else the first known Debian font present."""
    configured = os.environ.get(FONT_ENV, "").strip()
    if configured:
        if Path(configured).is_file():
            return Path(configured)
        raise FontMissing(
            f"{FONT_ENV}={configured} is not a file; fix it, unset it or {_INSTALL_HINT}"
        )
    for candidate in KNOWN_CJK_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontMissing(f"no CJK font found: {_INSTALL_HINT}, or set {FONT_ENV} to a TrueType font")


@functools.cache
def _registered_font(path: str) -> str:
    name = "EsealCJK-" + hashlib.sha256(path.encode()).hexdigest()[:8]
    ttfonts.makeToUnicodeCMap = _to_unicode_cmap
    try:
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0))
    except (TTFError, OSError) as exc:
        raise FontMissing(
            f"{path} is not a TrueType font reportlab can embed; {_INSTALL_HINT}"
        ) from exc
    return name


def _to_unicode_cmap(fontname: str, subset: Sequence[int]) -> str:
    """reportlab's ToUnicode CMap of a font subset, each character written in UTF-16BE as
    PDF 32000-1 9.10.3 asks (reportlab writes the code point in hex: U+20000 would read
    back as U+2000 and a stray 0, so a name with 𠀀 could not be copied or searched)."""
    return "\n".join(
        [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            f"/CIDSystemInfo\n<< /Registry ({fontname})\n/Ordering ({fontname})\n/Supplement 0",
            ">> def",
            f"/CMapName /{fontname} def",
            "/CMapType 2 def",
            "1 begincodespacerange",
            f"<00> <{len(subset) - 1:02X}>",
            "endcodespacerange",
            f"{len(subset)} beginbfchar",
            *(
                f"<{i:02X}> <{chr(v).encode('utf-16-be', 'surrogatepass').hex().upper()}>"
                for i, v in enumerate(subset)
            ),
            "endbfchar",
            "endcmap",
            "CMapName currentdict /CMap defineresource pop",
            "end",
            "end",
        ]
    )


def _pdf_font() -> str:
    """The reportlab name of the CJK font (registered once; embedded as a subset)."""
    return _registered_font(str(cjk_font_path()))


@functools.cache
def _covered(name: str) -> frozenset[int]:
    """The code points a registered font has glyphs for."""
    return frozenset(pdfmetrics.getFont(name).face.charToGlyph)


def _font_files() -> list[str]:
    """The CJK font's file, then the fallback fonts' present."""
    return [str(cjk_font_path()), *(p for p in KNOWN_FALLBACK_FONTS if Path(p).is_file())]


def _file_for(ch: str, files: Sequence[str]) -> str:
    for path in files:
        if ch.isspace() or ord(ch) in _covered(_registered_font(path)):
            return path
    raise FontMissing(
        f"no font has the character {ch!r} (U+{ord(ch):04X}): printed it would be a blank or "
        f"a box; {_FALLBACK_HINT}, or set {FONT_ENV} to a font that has it"
    )


def font_file_for(ch: str) -> str:
    """The font file to draw ``ch`` with: the CJK font where it has the glyph, else the first
    fallback font that has it; :class:`FontMissing` if none has."""
    return _file_for(ch, _font_files())


def font_runs(text: str) -> list[tuple[str, str]]:
    """``text`` cut into (reportlab font name, run), each run in the font
    :func:`font_file_for` chooses for its characters."""
    files = _font_files()
    runs: list[tuple[str, str]] = []
    for ch in text:
        font = _registered_font(_file_for(ch, files))
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + ch)
        else:
            runs.append((font, ch))
    return runs


def cjk_markup(text: str) -> str:
    """``text`` as paragraph markup: escaped, lines broken, each run in a font that has it."""
    primary = _pdf_font()
    return "".join(
        escape(run).replace("\n", "<br/>")
        if font == primary
        else f'<font face="{font}">{escape(run)}</font>'
        for font, run in font_runs(text)
    )


# -- QR symbols ---------------------------------------------------------------------------------

QR_ALPHABET: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
#: A fixed mask: the 8-way penalty search costs ~5x the rest of the encoding, and on
#: random alphanumeric payloads (like deflate+base45) mask 4 averages closest to the best
#: mask, ~4% above it in ISO 18004 penalty (bench/qr_render.py).
QR_MASK: Final = 4
#: Alphanumeric capacity of version 40 at level Q.
QR_MAX_CHARS: Final = 2420
QUIET_ZONE: Final = 4

QrMatrix = tuple[tuple[bool, ...], ...]


@functools.lru_cache(maxsize=32)
def qr_matrix(text: str) -> QrMatrix:
    """The modules (True = dark, no quiet zone) of ``text`` as a QR symbol: EC level Q,
    alphanumeric mode, smallest version that fits, mask pattern ``QR_MASK``."""
    if not 0 < len(text) <= QR_MAX_CHARS:
        raise QrTextInvalid(f"QR text of {len(text)} characters: need 1..{QR_MAX_CHARS}")
    bad = next((i for i, ch in enumerate(text, 1) if ch not in QR_ALPHABET), None)
    if bad is not None:
        raise QrTextInvalid(f"QR text: character {bad} is outside the QR alphanumeric alphabet")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, border=0, mask_pattern=QR_MASK)
    code.add_data(QRData(text.encode("ascii"), mode=MODE_ALPHA_NUM, check_data=False))
    try:
        code.make(fit=True)
    except (DataOverflowError, ValueError) as exc:  # qrcode 8 may say ValueError
        raise QrTextInvalid(f"QR text of {len(text)} characters does not fit a QR symbol") from exc
    return tuple(tuple(bool(m) for m in row) for row in code.modules)


def _dark_runs(row: Sequence[bool]) -> Iterator[tuple[int, int]]:
    """(start, length) of each run of dark modules in ``row``."""
    start = -1
    for i, dark in enumerate((*row, False)):
        if dark and start < 0:
            start = i
        elif not dark and start >= 0:
            yield start, i - start
            start = -1


def qr_png(text: str, *, scale: int = 4, border: int = QUIET_ZONE) -> bytes:
    """``text`` as a 1-bit PNG QR symbol: ``scale`` pixels a module, ``border`` modules margin."""
    if not (1 <= scale <= 64 and 0 <= border <= 16):
        raise RenderOptionInvalid(f"QR scale {scale} or border {border} out of range")
    matrix = qr_matrix(text)
    n = len(matrix) + 2 * border
    pixels = bytearray(b"\xff" * (n * n))
    for y, row in enumerate(matrix):
        start = (y + border) * n + border
        pixels[start : start + len(row)] = bytes(0 if dark else 255 for dark in row)
    image = Image.frombytes("L", (n, n), bytes(pixels))
    image = image.resize((n * scale, n * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.convert("1", dither=Image.Dither.NONE).save(out, format="PNG")
    return out.getvalue()


def qr_svg(text: str) -> str:
    """``text`` as an SVG QR symbol (one path of dark runs, 4-module quiet zone, 1 unit/module)."""
    matrix = qr_matrix(text)
    n = len(matrix) + 2 * QUIET_ZONE
    runs = "".join(
        f"M{x + QUIET_ZONE} {y + QUIET_ZONE}h{length}v1h-{length}z"
        for y, row in enumerate(matrix)
        for x, length in _dark_runs(row)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" '
        f'shape-rendering="crispEdges"><rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path fill="#000" d="{runs}"/></svg>'
    )


def draw_qr(c: Any, text: str, x: float, y: float, size: float) -> None:
    """Draw the QR (with a white quiet zone) as vector rectangles, lower-left corner (x, y)."""
    matrix = qr_matrix(text)
    unit = size / (len(matrix) + 2 * QUIET_ZONE)
    top = y + size - QUIET_ZONE * unit
    c.setFillColor(colors.white)
    c.rect(x, y, size, size, stroke=0, fill=1)
    path = c.beginPath()
    for r, row in enumerate(matrix):
        for start, length in _dark_runs(row):
            path.rect(x + (QUIET_ZONE + start) * unit, top - (r + 1) * unit, length * unit, unit)
    c.setFillColor(colors.black)
    c.drawPath(path, stroke=0, fill=1)


# -- drawing on a page (shared with eseal.sealed_copy) ------------------------------------------

INK: Final = colors.HexColor("#1A1A1A")
GREY: Final = colors.HexColor("#6B6B6B")
FRAME: Final = colors.HexColor("#9E1B1B")
MAX_SEAL_PIXELS: Final = 4096 * 4096


def draw_text(
    c: Any,
    at: tuple[float, float],
    text: str,
    size: float,
    color: Any = INK,
    *,
    centred: bool = False,
    width: float | None = None,
) -> None:
    """One line of text; shrunk to ``width`` when given and the text would be wider."""
    runs = font_runs(text)
    natural = sum(pdfmetrics.stringWidth(run, font, size) for font, run in runs)
    if width is not None:
        size = min(size, size * width / max(1.0, natural))
    x, y = at
    if centred:
        x -= sum(pdfmetrics.stringWidth(run, font, size) for font, run in runs) / 2
    c.setFillColor(color)
    for font, run in runs:
        c.setFont(font, size)
        c.drawString(x, y, run)
        x += pdfmetrics.stringWidth(run, font, size)


def cjk_paragraph(
    text: str, size: float, color: Any = INK, align: int = 0, *, markup: bool = False
) -> Any:
    style = ParagraphStyle(
        "p",
        fontName=_pdf_font(),
        fontSize=size,
        leading=size * 1.3,
        textColor=color,
        wordWrap="CJK",
        alignment=align,
    )
    return Paragraph(text if markup else cjk_markup(text), style)


def bilingual_label(chinese: str, english: str = "") -> str:
    small = f'<br/><font size="7" color="#6B6B6B">{escape(english)}</font>' if english else ""
    return cjk_markup(chinese) + small


def label_table(rows: Sequence[tuple[str, str]], size: float, label_w: float, width: float) -> Any:
    """Label (markup) | value rows, values wrapped, in the tan style of Chinese certificates."""
    cells = [
        [cjk_paragraph(label, size - 0.5, markup=True), cjk_paragraph(value.strip() or "—", size)]
        for label, value in rows
    ]
    table = Table(cells, colWidths=[label_w, width - label_w])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.6, colors.HexColor("#B9A98C")),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#F7F1E3")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), size * 0.45),
                ("BOTTOMPADDING", (0, 0), (-1, -1), size * 0.55),
                ("LEFTPADDING", (0, 0), (-1, -1), 7),
            ]
        )
    )
    return table


def seal_reader(seal_png: bytes) -> Any:
    """The seal PNG as a reportlab image, refusing what is not a reasonably sized PNG."""
    try:
        image = Image.open(io.BytesIO(seal_png), formats=["PNG"])
        if image.width * image.height > MAX_SEAL_PIXELS:
            raise DocumentTooLarge(f"seal image of {image.width}x{image.height} px is too large")
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DocumentUnreadable(f"the seal image is not a readable PNG: {exc}") from exc
    return ImageReader(image)


def pdf_canvas(out: io.BytesIO, size: tuple[float, float], title: str) -> Any:
    c = Canvas(out, pagesize=size, invariant=True, pageCompression=1)
    c.setTitle(title)
    c.setCreator("eseal")
    return c


# -- the printable license ----------------------------------------------------------------------


@dataclass(frozen=True)
class PrintableLicense:
    """What a printed license shows; built by the issuer from a license and its QR text."""

    title: str  # license type name, e.g. 食品经营许可证
    license_id: str
    holder_name: str
    holder_id_display: str | None  # masked identity number or credit code
    fields: Sequence[tuple[str, str]]  # (Chinese label, value)
    agency_name: str
    issued_on: str  # YYYY-MM-DD
    valid_until: str | None  # YYYY-MM-DD, None: 长期 (no expiry)
    region_name: str
    qr_text: str
    seal_png: bytes | None = None
    status_note: str | None = None  # e.g. 样本 SPECIMEN
    #: Said after the note on its line, not across the page: e.g. the new license's id.
    status_detail: str | None = None
    title_en: str = ""  # the catalogue's English name, printed under the Chinese title
    #: The English label of each field, by its Chinese label (the catalogue's label_en),
    #: printed under it.
    labels_en: Mapping[str, str] = field(default_factory=dict)


def _license_rows(lic: PrintableLicense) -> list[tuple[str, str]]:
    rows = [(bilingual_label("持证主体", "Holder"), lic.holder_name)]
    if lic.holder_id_display:
        rows.append((bilingual_label("证件号码", "ID / Credit code"), lic.holder_id_display))
    rows += [(bilingual_label(label, lic.labels_en.get(label, "")), v) for label, v in lic.fields]
    return [*rows, (bilingual_label("所属地区", "Region"), lic.region_name)]


def _draw_watermark(c: Any, note: str, width: float, height: float) -> None:
    """``note`` across the page at 33°, as large as fits inside the frame (at most 72 pt)."""
    angle, per_point = math.radians(33), pdfmetrics.stringWidth(note, _pdf_font(), 1)
    size = min(
        72.0,
        0.9 * (width - 28 * mm) / (per_point * math.cos(angle) + math.sin(angle)),
        0.9 * (height - 28 * mm) / (per_point * math.sin(angle) + math.cos(angle)),
    )
    c.saveState()
    c.translate(width / 2, height / 2)
    c.rotate(math.degrees(angle))
    draw_text(
        c, (0, -size * 0.35), note, size, colors.Color(0.85, 0.1, 0.1, alpha=0.13), centred=True
    )
    c.restoreState()


#: The agency name's height at most: the dates under it stay inside the frame (a name of
#: 100 characters, the longest an agency may have, takes 6 lines at 11 pt).
MAX_AGENCY_HEIGHT: Final = 32 * mm


def chinese_date(iso: str) -> str:
    """A YYYY-MM-DD date as a Chinese reader writes it (2024年5月1日: the month and day
    without a leading zero, as GB/T 9704 sets them); any other text unchanged."""
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", iso)
    if match is None:
        return iso
    year, month, day = match.groups()
    return f"{year}年{int(month)}月{int(day)}日"


def _draw_issuer(c: Any, lic: PrintableLicense, x: float, right: float) -> None:
    """发证机关 and the dates, the seal stamped under them (so its ink never hides a date)."""
    if lic.seal_png is not None:
        c.drawImage(seal_reader(lic.seal_png), x + 20 * mm, 36 * mm, 40 * mm, 40 * mm, mask="auto")
    draw_text(c, (x, 76 * mm), "发证机关  Issuing authority", 9, GREY)
    for size in (14.0, 13.0, 12.0, 11.0, 10.0, 9.0):  # a long name smaller, the dates in frame
        agency = cjk_paragraph(lic.agency_name, size)
        _, agency_h = agency.wrap(right - x, MAX_AGENCY_HEIGHT)
        if agency_h <= MAX_AGENCY_HEIGHT:
            break
    agency.drawOn(c, x, 71 * mm - agency_h)
    y = min(52 * mm, 66 * mm - agency_h)
    for chinese, english, value in (
        ("发证日期", "Issued on", chinese_date(lic.issued_on)),
        ("有效期至", "Valid until", chinese_date(lic.valid_until))
        if lic.valid_until
        else ("有效期至", "Valid until: no expiry", "长期"),
    ):
        draw_text(c, (x, y), f"{chinese}  {value}", 11.5)
        draw_text(c, (x, y - 4 * mm), english, 7.5, GREY)
        y -= 11 * mm


#: The smallest QR module printed on a license (a common guideline for scanning print with
#: a phone): a version-40 symbol is drawn 61 mm wide.
MIN_QR_MODULE: Final = 0.33 * mm


def license_pdf(lic: PrintableLicense) -> bytes:
    """An A4 printable license: title, number, holder and fields, agency and dates under the
    seal, the QR (44 mm, more for a dense one) captioned 扫码核验. The CJK font is embedded
    as a subset."""
    font = _pdf_font()
    width, height = A4
    mid, content_w = width / 2, width - 44 * mm
    out = io.BytesIO()
    c = pdf_canvas(out, A4, f"{lic.title} {lic.license_id}")
    c.setStrokeColor(FRAME)
    for inset, line in ((12 * mm, 2.2), (14 * mm, 0.6)):
        c.setLineWidth(line)
        c.rect(inset, inset, width - 2 * inset, height - 2 * inset)
    draw_text(c, (mid, height - 36 * mm), lic.title, 30, centred=True, width=content_w)
    subtitle = "电子证照  Electronic License" + (f" · {lic.title_en}" if lic.title_en else "")
    draw_text(c, (mid, height - 44 * mm), subtitle, 9.5, GREY, centred=True, width=content_w)
    number = f"证照编号  No.  {lic.license_id}"
    draw_text(c, (mid, height - 53 * mm), number, 10.5, centred=True, width=content_w)
    table_top, table_bottom = height - 60 * mm, 88 * mm
    if lic.status_note:
        note, red = lic.status_note, colors.HexColor("#C8102E")
        if lic.status_detail:
            note = f"{note} · {lic.status_detail}"
        draw_text(c, (mid, height - 61 * mm), note, 12, red, centred=True, width=content_w)
        table_top -= 7 * mm
    rows = _license_rows(lic)
    for size in (11.0, 10.0, 9.0, 8.0):
        widest = max(
            max(
                pdfmetrics.stringWidth(label, font, size),
                pdfmetrics.stringWidth(lic.labels_en.get(label, ""), font, 7),
            )
            for label, _ in [("", ""), *lic.fields]
        )
        table = label_table(rows, size, min(56 * mm, max(32 * mm, widest + 16)), content_w)
        _, table_h = table.wrapOn(c, content_w, table_top - table_bottom)
        if table_h <= table_top - table_bottom:
            break
    else:
        raise RenderOptionInvalid("the license fields do not fit on one A4 page")
    table.drawOn(c, 22 * mm, table_top - table_h)
    if lic.status_note:
        _draw_watermark(c, lic.status_note, width, height)
    # 44 mm, or larger for a dense QR so that its modules stay large enough for a phone:
    # it grows right and down, the table's foot at 88 mm above it.
    qr_size = max(44 * mm, (len(qr_matrix(lic.qr_text)) + 2 * QUIET_ZONE) * MIN_QR_MODULE)
    qr_y = 30 * mm - min(8 * mm, qr_size - 44 * mm)
    draw_qr(c, lic.qr_text, 24 * mm, qr_y, qr_size)
    caption = (24 * mm + qr_size / 2, qr_y - 6 * mm)
    draw_text(c, caption, "扫码核验  Scan to verify", 9.5, centred=True)
    _draw_issuer(c, lic, 110 * mm, width - 24 * mm)
    c.showPage()
    c.save()
    return out.getvalue()


def _rasterise(pdf: bytes, dpi: int) -> Image.Image:
    if not 36 <= dpi <= 600:
        raise RenderOptionInvalid(f"dpi {dpi} out of range 36..600")
    document = pdfium.PdfDocument(pdf)
    try:
        bitmap = document[0].render(scale=dpi / 72)
        return bitmap.to_pil().convert("RGB")  # type: ignore[no-any-return]
    finally:
        document.close()


def license_png(lic: PrintableLicense, dpi: int = 150) -> bytes:
    """The license PDF rasterised (pdfium) to a PNG, so paper and screen look the same."""
    out = io.BytesIO()
    _rasterise(license_pdf(lic), dpi).save(out, format="PNG", optimize=False)
    return out.getvalue()
