"""What a stored license prints as (eseal.printing.printable): the values a citizen reads on
paper, from licenses issued on a region node."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from eseal.agencies import OPERATOR
from eseal.catalog import load_catalog
from eseal.ids import make_license_id
from eseal.licenses import IssueRequest, change_status, get_license, issue, renew
from eseal.node import Node
from eseal.printing import printable
from eseal.render import license_pdf
from keys.errors import InvalidInput
from tests.eseal.conftest import (
    BUSINESS,
    FOOD,
    HOUSING,
    MARKET,
    NOW,
    PASSPHRASE,
    Region,
    business_request,
    make_region,
    run_eseal,
    worker_request,
)
from tests.eseal.test_render import page_text


def test_date_fields_print_as_chinese_dates(region: Region) -> None:
    issued = issue(region.node, OPERATOR, MARKET, business_request(term_end="2041-03-05"), now=NOW)
    sheet = printable(region.node, get_license(region.node, issued.id))
    fields = dict(sheet.fields)
    assert fields["成立日期"] == "2021年3月15日"
    assert fields["营业期限至"] == "2041年3月5日"
    assert fields["法定代表人"] == "张三"  # other values as they are


def test_a_license_prints_each_label_in_chinese_then_english(region: Region) -> None:
    """The catalogue's English names (name_en, label_en) are printed, each after its Chinese."""
    issued = issue(region.node, OPERATOR, MARKET, business_request(), now=NOW)
    row = get_license(region.node, issued.id)
    ltype = load_catalog().get(row.type_code)
    text = page_text(license_pdf(printable(region.node, row))).replace("\r\n", " ")
    assert f"{ltype.name} " in text
    assert f"{ltype.name_en}" in text
    assert text.index(ltype.name) < text.index(ltype.name_en)
    printed = [f for f in ltype.fields if f.name in json.loads(row.fields)]
    assert printed
    for spec in printed:
        assert f"{spec.label} {spec.label_en}" in text, spec.name


@pytest.mark.parametrize(
    ("action", "note"),
    [
        ("suspend", "已暂停 SUSPENDED"),
        ("withdraw", "已撤回 WITHDRAWN"),
        ("cancel", "已注销 CANCELLED"),
        ("transfer", "已转出 TRANSFERRED"),
        ("revoke", "已撤销 REVOKED"),
    ],
)
def test_a_license_no_longer_in_force_prints_marked_so(
    region: Region, action: str, note: str
) -> None:
    """`eseal license print` of a revoked (suspended, ...) license: the sheet says so across
    the page, where it was printed as a valid license before."""
    issued = issue(region.node, OPERATOR, MARKET, business_request(), now=NOW)
    assert printable(region.node, get_license(region.node, issued.id)).status_note is None
    # A transfer names the license that replaces it (here, another region's).
    to = str(make_license_id(BUSINESS, "110000", "2025000001")) if action == "transfer" else None
    change_status(region.node, OPERATOR, issued.id, action, reason="test", to=to, now=NOW + 60)
    sheet = printable(region.node, get_license(region.node, issued.id))
    assert sheet.status_note == note
    assert note.split(maxsplit=1)[0] in page_text(license_pdf(sheet))


def test_a_transferred_license_prints_the_id_of_its_new_license(region: Region) -> None:
    """A transferred license names the license that replaces it on its page, as a renewed
    one says it was renewed: the holder presents that one from now on. Said on the note's
    line; across the page, only the status."""
    issued = issue(region.node, OPERATOR, MARKET, business_request(), now=NOW)
    to = str(make_license_id(BUSINESS, "110000", "2025000001"))
    change_status(region.node, OPERATOR, issued.id, "transfer", reason="迁往北京", to=to, now=NOW)
    sheet = printable(region.node, get_license(region.node, issued.id))
    assert sheet.status_note == "已转出 TRANSFERRED"
    assert sheet.status_detail == f"新证照 New license: {to}"
    text = page_text(license_pdf(sheet))
    assert f"已转出 TRANSFERRED · 新证照 New license: {to}" in text
    assert text.count(to) == 1  # not in the watermark


def test_the_old_version_of_a_renewed_license_prints_as_lapsed(region: Region) -> None:
    issued = issue(region.node, OPERATOR, MARKET, business_request(), now=NOW)
    renewed = renew(region.node, OPERATOR, issued.id, now=NOW + 60)
    old = printable(region.node, get_license(region.node, issued.id))
    assert old.status_note == "已失效 LAPSED · 已换发新证 RENEWED"
    new = printable(region.node, get_license(region.node, renewed.id))
    assert new.status_note is None
    assert renewed.id.split(".")[-2] == "002"  # version 2, printed in its number
    assert f"No. {renewed.id}" in page_text(license_pdf(new))


def varied_chinese(length: int, seed: int = 0) -> str:
    """``length`` common Chinese characters that deflate does not shrink (unlike repeated
    text), deterministic."""
    stream = b"".join(
        hashlib.sha256(f"{seed}/{block}".encode()).digest() for block in range(length // 16 + 1)
    )
    return "".join(
        chr(0x4E00 + (stream[2 * i] << 8 | stream[2 * i + 1]) % 0x5000) for i in range(length)
    )


def food_request(scale: float) -> IssueRequest:
    """A 食品经营许可证 whose free-text values fill ``scale`` of their maximum lengths."""
    limits = {"license_number": 20, "legal_representative": 50, "address": 100}
    limits |= {"premises": 100, "business_items": 200}
    values = {name: varied_chinese(int(n * scale), i) for i, (name, n) in enumerate(limits.items())}
    values["main_business"] = "餐饮服务经营者"
    return IssueRequest(FOOD, varied_chinese(int(100 * scale), 99), "91500000MA60XXXX15", values)


def test_a_license_too_large_for_a_qr_code_is_refused_before_it_is_recorded(
    region: Region,
) -> None:
    """Values each within their field's length can make a document no QR symbol holds: it
    was signed and recorded, then could be neither printed nor scanned."""
    size = region.node.log.size()
    with pytest.raises(InvalidInput, match="more than a QR code holds"):
        issue(region.node, OPERATOR, MARKET, food_request(1.0), now=NOW)
    assert region.node.log.size() == size


def test_a_license_printed_after_it_expired_is_marked_so(region: Region) -> None:
    """An expiry is no status change (the license stays 01): printed after it, the sheet
    says 已过期 across it; printed before, or with no clock given, it does not."""
    issued = issue(region.node, OPERATOR, HOUSING, worker_request(), now=NOW)
    row = get_license(region.node, issued.id)
    assert row.expires is not None
    assert printable(region.node, row, now=row.expires).status_note is None
    assert printable(region.node, row).status_note is None
    sheet = printable(region.node, row, now=row.expires + 1)
    assert sheet.status_note == "已过期 EXPIRED"
    assert "已过期" in page_text(license_pdf(sheet))


@pytest.mark.parametrize(
    "document", [b"%PDF-1.7\n not a PDF at all", b"\x89PNG\r\n\x1a\nnot a png"]
)
def test_a_stamp_asked_with_a_sealed_copy_of_an_unreadable_file_records_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    document: bytes,
) -> None:
    """`eseal seal stamp FILE --pdf COPY` of a file no sealed copy can be made of is refused
    before the stamp is signed: it was recorded, and then the copy failed."""
    from eseal.seals import create_seal

    data = tmp_path / "node"
    made = make_region(data)
    seal = create_seal(
        made.node,
        OPERATOR,
        agency_code=MARKET,
        name="合同专用章",
        seal_type="contract",
        image=None,
        now=NOW,
    )
    size = made.node.log.size()
    made.node.close()
    broken = tmp_path / "notice.pdf"
    broken.write_bytes(document)
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    args = ["--data", str(data), "seal", "stamp", seal.id, str(broken)]
    code, said, err = run_eseal([*args, "--pdf", str(tmp_path / "copy.pdf")], capsys, monkeypatch)
    assert (code, said) == (2, "")
    assert "cannot be read" in err
    assert "recorded all the same" not in err
    assert not (tmp_path / "copy.pdf").exists()
    with Node.open(data) as node:
        assert node.log.size() == size
    code, said, err = run_eseal(args, capsys, monkeypatch)  # without a copy: any file is stamped
    assert code == 0, err
