"""What a stored license prints as (eseal.printing.printable): the values a citizen reads on
paper, from licenses issued on a region node."""

from __future__ import annotations

import pytest

from eseal.agencies import OPERATOR
from eseal.licenses import change_status, get_license, issue, renew
from eseal.printing import printable
from eseal.render import license_pdf
from tests.eseal.conftest import MARKET, NOW, Region, business_request
from tests.eseal.test_render import page_text


def test_date_fields_print_as_chinese_dates(region: Region) -> None:
    issued = issue(region.node, OPERATOR, MARKET, business_request(term_end="2041-03-05"), now=NOW)
    sheet = printable(region.node, get_license(region.node, issued.id))
    fields = dict(sheet.fields)
    assert fields["成立日期"] == "2021年3月15日"
    assert fields["营业期限至"] == "2041年3月5日"
    assert fields["法定代表人"] == "张三"  # other values as they are


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
    change_status(region.node, OPERATOR, issued.id, action, reason="test", now=NOW + 60)
    sheet = printable(region.node, get_license(region.node, issued.id))
    assert sheet.status_note == note
    assert note.split(maxsplit=1)[0] in page_text(license_pdf(sheet))


def test_the_old_version_of_a_renewed_license_prints_as_lapsed(region: Region) -> None:
    issued = issue(region.node, OPERATOR, MARKET, business_request(), now=NOW)
    renewed = renew(region.node, OPERATOR, issued.id, now=NOW + 60)
    old = printable(region.node, get_license(region.node, issued.id))
    assert old.status_note == "已失效 LAPSED · 已换发新证 RENEWED"
    new = printable(region.node, get_license(region.node, renewed.id))
    assert new.status_note is None
    assert renewed.id.split(".")[-2] == "002"  # version 2, printed in its number
    assert f"No. {renewed.id}" in page_text(license_pdf(new))
