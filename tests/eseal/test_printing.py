"""What a stored license prints as (eseal.printing.printable): the values a citizen reads on
paper, from licenses issued on a region node."""

from __future__ import annotations

from eseal.agencies import OPERATOR
from eseal.licenses import get_license, issue
from eseal.printing import printable
from tests.eseal.conftest import MARKET, NOW, Region, business_request


def test_date_fields_print_as_chinese_dates(region: Region) -> None:
    issued = issue(region.node, OPERATOR, MARKET, business_request(term_end="2041-03-05"), now=NOW)
    sheet = printable(region.node, get_license(region.node, issued.id))
    fields = dict(sheet.fields)
    assert fields["成立日期"] == "2021年3月15日"
    assert fields["营业期限至"] == "2041年3月5日"
    assert fields["法定代表人"] == "张三"  # other values as they are
