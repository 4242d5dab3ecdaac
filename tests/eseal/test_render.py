"""Tests for eseal.render and eseal.seal_image: every QR we print scans back to its exact text
(PNG, SVG, license PDF/PNG, sealed copies), fonts are embedded, bad inputs are refused.
Rendered samples go to test-artifacts/ for humans to look at."""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image, ImageDraw
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen.canvas import Canvas

from eseal import render
from eseal.render import (
    DocumentTooLarge,
    DocumentUnreadable,
    FontMissing,
    PrintableLicense,
    QrTextInvalid,
    RenderOptionInvalid,
    cjk_font_path,
    license_pdf,
    license_png,
    qr_matrix,
    qr_png,
    qr_svg,
)
from eseal.seal_image import SEAL_RED, SealTextInvalid, draw_seal
from eseal.sealed_copy import sealed_copy_pdf

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
AGENCY = "杭州市市场监督管理局"


def payload(length: int, prefix: str = "EL1:", seed: int = 0) -> str:
    """Deterministic stand-in for base45 text: ``length`` characters of the QR alphabet."""
    stream = b"".join(
        hashlib.sha256(f"{seed}/{length}/{block}".encode()).digest()
        for block in range(length // 32 + 1)
    )
    return prefix + "".join(ALPHABET[b % 45] for b in stream[: length - len(prefix)])


def decode(image: Image.Image) -> list[str]:
    return [barcode.text for barcode in zxingcpp.read_barcodes(image.convert("L"))]


def rasterise(pdf: bytes, page: int = -1, dpi: int = 200) -> Image.Image:
    document = pdfium.PdfDocument(pdf)
    try:
        image: Image.Image = document[page % len(document)].render(scale=dpi / 72).to_pil()
        return image.convert("RGB")
    finally:
        document.close()


def page_count(pdf: bytes) -> int:
    document = pdfium.PdfDocument(pdf)
    try:
        return len(document)
    finally:
        document.close()


def page_text(pdf: bytes, page: int = 0) -> str:
    document = pdfium.PdfDocument(pdf)
    try:
        text: str = document[page].get_textpage().get_text_range()
        return text
    finally:
        document.close()


def save_artifact(name: str, data: bytes) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_bytes(data)


@pytest.fixture(scope="module")
def seal() -> bytes:
    return draw_seal(AGENCY, "行政审批专用章")


@pytest.fixture(scope="module")
def license_(seal: bytes) -> PrintableLicense:
    return PrintableLicense(
        title="食品经营许可证",
        license_id="1.2.156.3005.2.11100000000013338W032.11330100002489328A.00001.001.X",
        holder_name="杭州西湖美味餐饮管理有限公司",
        holder_id_display="91330106MA2XXXXX3K",
        fields=[
            ("法定代表人（负责人）", "张*明"),
            ("经营场所", "浙江省杭州市西湖区文三路 478 号华星时代广场 A 座一层 101-105 室" * 2),
            ("主体业态", "餐饮服务经营者（大型餐馆）"),
            ("经营项目", "热食类食品制售；冷食类食品制售；自制饮品制售；预包装食品销售"),
            ("日常监督管理机构", "杭州市西湖区市场监督管理局文新市场监督管理所"),
        ],
        agency_name=AGENCY,
        issued_on="2024-05-01",
        valid_until="2029-04-30",
        region_name="浙江省杭州市",
        qr_text=payload(600),
        seal_png=seal,
        status_note="样本 SPECIMEN · 仅供演示",
    )


# -- QR symbols ---------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [100, 600, 900])
def test_qr_png_scans_back_to_exactly_the_text(length: int) -> None:
    text = payload(length)
    image = Image.open(io.BytesIO(qr_png(text)))
    barcodes = zxingcpp.read_barcodes(image.convert("L"))
    assert [b.text for b in barcodes] == [text]
    assert barcodes[0].format == zxingcpp.BarcodeFormat.QRCode


def test_qr_png_size_follows_scale_and_border() -> None:
    text = payload(100)
    n = len(qr_matrix(text))
    assert Image.open(io.BytesIO(qr_png(text, scale=3, border=2))).size == ((n + 4) * 3,) * 2
    with pytest.raises(RenderOptionInvalid):
        qr_png(text, scale=0)


def test_qr_uses_error_correction_q_and_a_fixed_mask() -> None:
    matrix = qr_matrix(payload(600))
    assert len(matrix) == 93  # version 19: 600 alphanumeric characters at level Q
    # Format information (ISO 18004 §7.9): bits 14..10 = EC level (Q = 11) and mask, XOR 10101.
    bits = [matrix[8][c] for c in (0, 1, 2, 3, 4)]
    level_and_mask = int("".join("1" if b else "0" for b in bits), 2) ^ 0b10101
    assert level_and_mask == (0b11 << 3) | render.QR_MASK


@pytest.mark.parametrize(
    "text",
    ["", "el1:lower case", "EL1:ÄÖ", "EL1:" + "A" * 3000],
    ids=["empty", "lower", "non-ascii", "long"],
)
def test_qr_text_that_cannot_be_a_symbol_is_refused(text: str) -> None:
    with pytest.raises(QrTextInvalid):
        qr_png(text)


def test_qr_svg_is_xml_with_the_matrix_dark_modules() -> None:
    text = payload(300)
    matrix = qr_matrix(text)
    root = ET.fromstring(qr_svg(text))  # noqa: S314  # our own output, not untrusted
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    size = len(matrix) + 8
    assert root.attrib["viewBox"] == f"0 0 {size} {size}"
    path = root.find("{http://www.w3.org/2000/svg}path")
    assert path is not None
    runs = re.findall(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", path.attrib["d"])
    assert sum(int(w) for _, _, w, _ in runs) == sum(sum(row) for row in matrix)
    for x, y, w, back in runs:  # each run covers exactly dark modules
        assert w == back
        assert all(matrix[int(y) - 4][int(x) - 4 + i] for i in range(int(w)))


# -- fonts --------------------------------------------------------------------------------------


def test_font_env_var_is_used_first(monkeypatch: pytest.MonkeyPatch) -> None:
    real = cjk_font_path()
    monkeypatch.setenv("ESEAL_CJK_FONT", str(real))
    assert cjk_font_path() == real


def test_missing_font_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ESEAL_CJK_FONT", str(tmp_path / "nope.ttf"))
    with pytest.raises(FontMissing, match="fonts-wqy-microhei"):
        cjk_font_path()
    monkeypatch.delenv("ESEAL_CJK_FONT")
    monkeypatch.setattr(render, "KNOWN_CJK_FONTS", (str(tmp_path / "nope.ttc"),))
    with pytest.raises(FontMissing, match="fonts-wqy-microhei"):
        cjk_font_path()


# -- the printable license ----------------------------------------------------------------------


def test_license_pdf_qr_scans_back_at_200_dpi(license_: PrintableLicense) -> None:
    pdf = license_pdf(license_)
    save_artifact("license.pdf", pdf)
    assert decode(rasterise(pdf, dpi=200)) == [license_.qr_text]


def test_license_pdf_embeds_the_font_and_holds_the_text(license_: PrintableLicense) -> None:
    pdf = license_pdf(license_)
    assert b"/FontFile2" in pdf
    text = page_text(pdf)
    for expected in (
        "食品经营许可证",
        "杭州西湖美味餐饮管理有限公司",
        "扫码核验",
        "发证日期 2024年5月1日",  # dates as a Chinese reader writes them
        "有效期至 2029年4月30日",
        "样本",
    ):
        assert expected in text
    assert license_pdf(license_) == pdf  # deterministic


def test_license_png_scans_back(license_: PrintableLicense) -> None:
    png = license_png(license_)
    save_artifact("license.png", png)
    image = Image.open(io.BytesIO(png))
    assert abs(image.width - 1240) <= 1  # A4 at 150 dpi
    assert abs(image.height - 1754) <= 1
    assert decode(image) == [license_.qr_text]


def test_license_without_seal_or_expiry_prints_long_term(license_: PrintableLicense) -> None:
    plain = PrintableLicense(
        **{**license_.__dict__, "seal_png": None, "valid_until": None, "status_note": None,
           "holder_id_display": None, "qr_text": payload(900)}
    )  # fmt: skip
    pdf = license_pdf(plain)
    text = page_text(pdf)
    assert "有效期至 长期" in text
    assert "Valid until: no expiry" in text  # the English under it says so too
    assert decode(rasterise(pdf, dpi=200)) == [plain.qr_text]


def test_license_too_long_for_a_page_is_refused(license_: PrintableLicense) -> None:
    crowded = PrintableLicense(
        **{**license_.__dict__, "fields": [("事项", "很长的内容" * 40)] * 12}
    )
    with pytest.raises(RenderOptionInvalid, match="one A4 page"):
        license_pdf(crowded)


MM = 72 / 25.4


def glyph_boxes(pdf: bytes) -> tuple[tuple[float, float], list[tuple[str, tuple[float, ...]]]]:
    """The page size and each visible character with its box (left, bottom, right, top) in pt."""
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        text = page.get_textpage()
        count = text.count_chars()
        chars = [(text.get_text_range(i, 1), text.get_charbox(i)) for i in range(count)]
        return page.get_size(), [(ch, box) for ch, box in chars if ch.strip()]
    finally:
        document.close()


def misplaced_glyphs(pdf: bytes) -> list[str]:
    """Characters outside the inner frame (14 mm in) or over another character (not its
    neighbour in reading order, which kerning may touch)."""
    (width, height), glyphs = glyph_boxes(pdf)
    inset, found = 14 * MM, []
    for ch, (left, bottom, right, top) in glyphs:
        if left < inset or bottom < inset or right > width - inset or top > height - inset:
            found.append(f"{ch!r} outside the frame at ({left / MM:.0f}, {bottom / MM:.0f}) mm")
    for i, (ch, (l1, b1, r1, t1)) in enumerate(glyphs):
        for other, (l2, b2, r2, t2) in glyphs[i + 2 :]:
            if min(r1, r2) - max(l1, l2) > 0.3 and min(t1, t2) - max(b1, b2) > 0.3:
                found.append(f"{ch!r} over {other!r} at ({l1 / MM:.0f}, {b1 / MM:.0f}) mm")
    return found


#: An agency name as long as an agency's may be (agencies.MAX_NAME: 100 characters).
LONGEST_AGENCY = ("重庆市两江新区（中国（重庆）自由贸易试验区两江片区）管理委员会行政审批局" * 3)[
    :100
]


def test_license_with_the_longest_agency_name_keeps_its_dates_inside_the_frame(
    license_: PrintableLicense,
) -> None:
    long = PrintableLicense(
        **{**license_.__dict__, "agency_name": LONGEST_AGENCY, "status_note": None}
    )
    pdf = license_pdf(long)
    save_artifact("license-long-agency.pdf", pdf)
    assert misplaced_glyphs(pdf) == []
    text = page_text(pdf).replace("\r\n", "")
    assert LONGEST_AGENCY in text
    assert "Valid until" in text


#: A holder's name as people have them: characters of CJK extension B (𠀀 U+20000, 𠮷, 𪚥),
#: which the CJK font lacks, among full-width punctuation and other scripts.
RARE_NAME = "𠀀𠮷𪚥龘〇 Zhāng Wěi ＡＢＣ（杭州）Ελληνικά Кирилл ｶﾀｶﾅ“引号”——…"


def ink_under(pdf: bytes, wanted: str, dpi: int = 200) -> dict[str, int]:
    """Each character of ``wanted`` on the page (by its text; pdfium counts UTF-16 units, so
    a character beyond the BMP is two) and the dark pixels in its box."""
    image = rasterise(pdf, dpi=dpi).convert("L")
    document = pdfium.PdfDocument(pdf)
    try:
        height, text = document[0].get_size()[1], document[0].get_textpage()
        k, found = dpi / 72, {}
        for i in range(text.count_chars()):
            ch = text.get_text_range(i, 2)[:1] if i + 1 < text.count_chars() else ""
            if ch and ch in wanted:
                left, bottom, right, top = text.get_charbox(i)
                box = (left * k, (height - top) * k, right * k, (height - bottom) * k)
                found[ch] = sum(image.crop(box).histogram()[:128])
        return found
    finally:
        document.close()


def test_rare_characters_print_in_a_font_that_has_them(license_: PrintableLicense) -> None:
    rare = PrintableLicense(
        **{**license_.__dict__, "holder_name": RARE_NAME, "agency_name": "𠮷林市市场监督管理局",
           "fields": [("经营者", "王𠀀"), *license_.fields], "status_note": None}
    )  # fmt: skip
    pdf = license_pdf(rare)
    save_artifact("license-rare-characters.pdf", pdf)
    text = page_text(pdf).replace("\r\n", "")
    for expected in (RARE_NAME, "𠮷林市市场监督管理局", "王𠀀"):
        assert expected in text  # drawn, and read back (copied, searched) as the same characters
    inked = ink_under(pdf, "𠀀𠮷𪚥")
    assert set(inked) == set("𠀀𠮷𪚥")
    assert all(dark > 20 for dark in inked.values()), inked  # a glyph, not a blank
    assert decode(rasterise(pdf, dpi=200)) == [rare.qr_text]


def test_a_character_no_font_has_is_refused_not_printed_blank(
    license_: PrintableLicense,
) -> None:
    tibetan = PrintableLicense(**{**license_.__dict__, "holder_name": "扎西ཀ"})  # U+0F40
    with pytest.raises(FontMissing, match="U\\+0F40"):
        license_pdf(tibetan)


def printed_qr(pdf: bytes, text: str, dpi: int) -> tuple[float, int]:
    """The QR on the page rasterised at ``dpi``: its module size in mm, and how many modules
    wide its white margin is (up to 8) on the side where it is narrowest."""
    image = rasterise(pdf, dpi=dpi).convert("L")
    (found,) = zxingcpp.read_barcodes(image)
    assert found.text == text
    corners = [found.position.top_left, found.position.top_right]
    corners += [found.position.bottom_right, found.position.bottom_left]
    xs, ys = [p.x for p in corners], [p.y for p in corners]
    modules = len(qr_matrix(text))
    unit = (max(xs) - min(xs) + 1) / modules  # pixels a module
    margin = 0
    while margin < 8:
        reach = round((margin + 1) * unit)
        box = (min(xs) - reach, min(ys) - reach, max(xs) + 1 + reach, max(ys) + 1 + reach)
        ring = image.crop(box)
        ring.paste(255, (reach, reach, ring.width - reach, ring.height - reach))
        darkest, _ = ring.getextrema()
        if not isinstance(darkest, int) or darkest < 128:  # dark within that many modules
            break
        margin += 1
    return unit / dpi * 25.4, margin


@pytest.mark.parametrize("length", [600, 2420])
def test_license_qr_modules_are_large_enough_for_a_phone(
    license_: PrintableLicense, length: int
) -> None:
    """At least 0.33 mm a module with its 4-module quiet zone, up to the densest QR a license
    may have (version 40), and it scans at 150 and 300 dpi."""
    dense = PrintableLicense(**{**license_.__dict__, "qr_text": payload(length)})
    pdf = license_pdf(dense)
    save_artifact(f"license-qr-{length}.pdf", pdf)
    for dpi in (150, 300):
        assert decode(rasterise(pdf, dpi=dpi)) == [dense.qr_text]
    module_mm, quiet = printed_qr(pdf, dense.qr_text, 300)
    assert module_mm >= 0.33
    assert quiet >= 4
    plain = PrintableLicense(**{**dense.__dict__, "status_note": None})
    assert misplaced_glyphs(license_pdf(plain)) == []


# -- the seal -----------------------------------------------------------------------------------


def _opaque_pixels(png: bytes) -> tuple[Image.Image, list[tuple[int, ...]]]:
    image = Image.open(io.BytesIO(png))
    raw = image.tobytes()
    pixels = [tuple(raw[i : i + 4]) for i in range(0, len(raw), 4)]
    return image, [p for p in pixels if p[3] > 128]


def test_seal_is_a_red_rgba_png_with_a_star(seal: bytes) -> None:
    save_artifact("seal.png", seal)
    image, opaque = _opaque_pixels(seal)
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    assert image.size == (480, 480)
    assert image.getpixel((0, 0)) == (*SEAL_RED, 0)  # transparent corner
    red = [p for p in opaque if p[0] > 180 and p[1] < 60 and p[2] < 80]
    assert len(red) > 0.95 * len(opaque)
    assert len(opaque) > 0.1 * 480 * 480
    centre = image.crop((215, 215, 265, 265)).getchannel("A").tobytes()
    assert sum(1 for alpha in centre if alpha > 128) > 0.4 * 50 * 50  # the star


@pytest.mark.parametrize(
    "name", ["法院", "某某局", "国家税务总局杭州市西湖区税务局第一税务所征收科室"]
)
def test_seal_handles_short_and_long_names(name: str) -> None:
    image, opaque = _opaque_pixels(draw_seal(name, "", size=160))
    assert image.size == (160, 160)
    assert len(opaque) > 0.08 * 160 * 160


@pytest.mark.parametrize(
    ("agency", "seal_name", "size"),
    [
        ("局", "", 480),
        ("局" * 33, "", 480),
        (AGENCY, "章" * 17, 480),
        (AGENCY, "", 16),
        ("某\x00局", "", 480),
    ],
)
def test_seal_text_out_of_bounds_is_refused(agency: str, seal_name: str, size: int) -> None:
    with pytest.raises(SealTextInvalid):
        draw_seal(agency, seal_name, size=size)


def test_seal_draws_rare_characters_each_as_itself() -> None:
    """Characters of CJK extension B, which the CJK font lacks, are drawn from the fallback
    font: each as its own glyph, not all as one and the same missing-glyph box."""
    inks = {
        ch: hashlib.sha256(
            Image.open(io.BytesIO(draw_seal(f"{ch}林市市场监督管理局", f"{ch}专用章", size=160)))
            .getchannel("A")
            .tobytes()
        ).hexdigest()
        for ch in "𠀀𠮷𪚥"
    }
    assert len(set(inks.values())) == 3
    save_artifact("seal-rare-characters.png", draw_seal("𠮷林市市场监督管理局", "𪚥专用章"))
    with pytest.raises(FontMissing, match="U\\+0F40"):
        draw_seal(AGENCY, "ཀ")


# -- sealed copies ------------------------------------------------------------------------------

STAMP_QR = payload(420, "ES1:", seed=1)
CAPTION = "杭州市市场监督管理局 于 2024-05-01 加盖电子印章"


def _seal_copy(document: bytes, seal: bytes, name: str = "doc") -> bytes:
    return sealed_copy_pdf(
        document, document_name=name, seal_png=seal, qr_text=STAMP_QR, caption=CAPTION
    )


def _contract(pages: int, *, rotate: int = 0) -> bytes:
    out = io.BytesIO()
    c = Canvas(out, pagesize=letter, invariant=True)
    for page in range(pages):
        c.setPageRotation(rotate)
        c.setFont("Helvetica", 12)
        for line in range(40):
            c.drawString(
                60, 740 - line * 17, f"Page {page + 1}, clause {line + 1}: lorem ipsum " * 3
            )
        c.showPage()
    c.save()
    return out.getvalue()


def test_sealed_pdf_keeps_its_pages_and_the_last_page_scans(seal: bytes) -> None:
    sealed = _seal_copy(_contract(3), seal, "contract.pdf")
    save_artifact("sealed-pdf.pdf", sealed)
    assert page_count(sealed) == 3
    assert decode(rasterise(sealed, page=0)) == []
    last = rasterise(sealed, page=-1)
    save_artifact("sealed-pdf-last.png", _png(last))
    assert decode(last) == [STAMP_QR]
    assert "Page 3, clause 1" in page_text(sealed, 2)


@pytest.mark.parametrize("size_mm", [(90, 54), (54, 90), (35, 35)])
def test_sealed_small_pdf_keeps_its_page_and_its_stamp_scans(
    seal: bytes, size_mm: tuple[int, int]
) -> None:
    """A page too small for the stamp at a size a phone reads (a business card) is kept as
    it is, and the stamp goes on a page of its own after it."""
    out = io.BytesIO()
    c = Canvas(out, pagesize=(size_mm[0] * MM, size_mm[1] * MM), invariant=True)
    c.setFont("Helvetica", 6)
    c.drawString(4, 4, "Business card")
    c.showPage()
    c.save()
    sealed = _seal_copy(out.getvalue(), seal, "card.pdf")
    save_artifact(f"sealed-small-{size_mm[0]}x{size_mm[1]}.pdf", sealed)
    assert page_count(sealed) == 2
    assert page_text(sealed, 0).strip() == "Business card"
    assert decode(rasterise(sealed, page=0, dpi=300)) == []
    for dpi in (150, 300):
        assert decode(rasterise(sealed, page=-1, dpi=dpi)) == [STAMP_QR]
    module_mm, quiet = printed_qr(sealed_last_page(sealed), STAMP_QR, 300)
    assert module_mm >= 0.33
    assert quiet >= 4


def sealed_last_page(pdf: bytes) -> bytes:
    """The last page of ``pdf`` alone, as a PDF."""
    reader = PdfReader(io.BytesIO(pdf))
    writer = PdfWriter()
    writer.add_page(reader.pages[-1])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_sealed_rotated_pdf_page_still_scans(seal: bytes) -> None:
    sealed = _seal_copy(_contract(1, rotate=90), seal)
    assert decode(rasterise(sealed)) == [STAMP_QR]


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_sealed_image_is_placed_on_a_page_that_scans(seal: bytes, kind: str) -> None:
    image = Image.new("RGB", (1600, 1200), "white")
    ImageDraw.Draw(image).rectangle((40, 40, 1560, 1160), outline="navy", width=12)
    out = io.BytesIO()
    image.save(out, format=kind)
    sealed = _seal_copy(out.getvalue(), seal, f"scan.{kind.lower()}")
    assert page_count(sealed) == 1
    page = rasterise(sealed)
    assert page.width > page.height  # a landscape image gets a landscape page
    assert decode(page) == [STAMP_QR]


def test_other_documents_get_a_certificate_with_their_digest(seal: bytes) -> None:
    document = "会议纪要\n".encode() * 50
    sealed = _seal_copy(document, seal, "会议纪要.txt")
    page = rasterise(sealed)
    save_artifact("sealed-certificate.png", _png(page))
    assert decode(page) == [STAMP_QR]
    text = page_text(sealed).replace("\r", "").replace("\n", "")
    digest = hashlib.sha256(document).hexdigest()
    for expected in ("文件电子签章证明", "会议纪要.txt", f"{len(document):,}", digest):
        assert expected in text


def test_oversize_document_is_refused(seal: bytes) -> None:
    with pytest.raises(DocumentTooLarge):
        _seal_copy(b"%PDF-" + b"\0" * (20 * 1024 * 1024), seal)


@pytest.mark.parametrize(
    "document",
    [b"%PDF-1.7\n garbage", b"%PDF-", b"\x89PNG\r\n\x1a\nnot a png", b"\xff\xd8\xff\xe0 broken"],
    ids=["pdf-garbage", "pdf-header-only", "png-garbage", "jpeg-garbage"],
)
def test_unreadable_document_is_refused(seal: bytes, document: bytes) -> None:
    with pytest.raises(DocumentUnreadable):
        _seal_copy(document, seal)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height``: a decompression bomb's calling card."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return b"\x89PNG\r\n\x1a\n" + body + b"\0\0\0\0IEND\xaeB`\x82"


@pytest.mark.parametrize("size", [(8000, 6000), (30000, 30000)], ids=["48MP", "900MP"])
def test_image_over_40_megapixels_is_refused(seal: bytes, size: tuple[int, int]) -> None:
    with pytest.raises(DocumentTooLarge):
        _seal_copy(_png_header_only(*size), seal)


def test_bad_stamp_inputs_are_refused(seal: bytes) -> None:
    with pytest.raises(QrTextInvalid):
        sealed_copy_pdf(b"x", document_name="x", seal_png=seal, qr_text="es1:x", caption="")
    with pytest.raises(DocumentUnreadable):
        sealed_copy_pdf(b"x", document_name="x", seal_png=b"GIF89a", qr_text=STAMP_QR, caption="")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_file_that_cannot_be_written_is_named_as_asked() -> None:
    """The error names the file asked for, not the temporary file written first."""
    from eseal.printing import write_atomic

    with pytest.raises(FileNotFoundError) as refused:
        write_atomic(Path("/proc/eseal-bundle.json"), b"{}")  # no file can be made in /proc
    assert refused.value.filename == "/proc/eseal-bundle.json"


def test_a_file_written_whole_has_its_rename_made_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file's data, then the directory entry of its rename, are synced to disk: after a
    power cut the new file is there, not the old one."""
    from eseal.printing import write_atomic

    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "bundle.json"
    target.write_bytes(b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert synced[-1] == str(tmp_path)  # the directory, after the file's own data
    assert any(Path(s).name.startswith(".bundle.json.") for s in synced[:-1])
