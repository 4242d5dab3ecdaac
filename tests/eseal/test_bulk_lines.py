"""``license bulk`` names a CSV row by the line of the file it is on, as an editor shows
it, however many blank lines come before it or line breaks its quoted fields hold: the
operator corrects those lines, and reissues from the line it says was not issued."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eseal.node import Node
from tests.eseal.conftest import BUSINESS, MARKET, PASSPHRASE, make_region, run_eseal

HEADER = (
    "type,holder,holder_id,company_type,legal_representative,established,address,business_scope"
)


def _row(holder: str, *, established: str = "2021-03-15", address: str = "重庆市渝中区") -> str:
    return f"{BUSINESS},{holder},91500000MA60XXXX15,有限责任公司,张三,{established},{address},餐饮"


#: Six rows, each on the line of the file its comment says, blank lines between some.
LINES = [
    HEADER,  # 1
    _row("甲公司"),  # 2
    "",  # 3
    _row("乙公司"),  # 4
    _row("丙公司"),  # 5
    "",  # 6
    "",  # 7
    _row("丁公司"),  # 8
    _row("戊公司"),  # 9
    _row("己公司"),  # 10
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    directory = tmp_path / "node"
    make_region(directory).node.close()
    return directory


def _bulk(
    data: Path,
    rows: Path,
    out: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, str]:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    args = ["--data", str(data), "license", "bulk", "--agency", MARKET, str(rows)]
    code, _, err = run_eseal([*args, "--out", str(out)], capsys, monkeypatch)
    return code, err


def _size(data: Path) -> int:
    with Node.open(data) as node:
        return node.log.size()


def test_an_invalid_row_is_named_by_its_line_in_the_file(
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows were numbered as if each took one line and none were blank: the row on line 9
    was said to be on line 6, a blank line, and the row whose quoted address breaks over
    lines 5 and 6 on line 4, another row, so the operator looked for each flaw in the wrong
    place."""
    lines = list(LINES)
    lines[4] = _row("丙公司", address='"重庆市\n渝中区"')  # now lines 5-6: the rest one down
    lines[8] = _row("戊公司", established="2021-13-15")  # line 10
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = _size(data)
    code, err = _bulk(data, rows, tmp_path / "out.csv", capsys, monkeypatch)
    assert code == 2, err
    assert err.startswith(f"error: 2 rows of {rows} are invalid, so none was issued:\n"), err
    assert f"\n  {rows}:5: field 'address'" in err, err
    assert f"\n  {rows}:10: field 'established'" in err, err
    lines[4], lines[8] = LINES[4], LINES[8]
    lines[9] = lines[9].replace(BUSINESS, "11100000000013338W032")  # not this agency's
    rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, err = _bulk(data, rows, tmp_path / "out.csv", capsys, monkeypatch)
    assert code == 2, err
    assert err.startswith(f"error: {rows}:10: "), err
    assert _size(data) == before


def test_a_run_stopped_midway_names_the_lines_issued_and_the_lines_not(
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch that fails after others were recorded says which lines were issued and which
    were not: it counted rows as lines, so "lines 6 to 7 were not" sent the operator to
    reissue from a blank line and the row on line 8, issued already."""
    from eseal import cli_bulk, licenses
    from keys.errors import ExternalFailure

    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    real, calls, notes = licenses.issue_many, [], []

    def third_fails(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise ExternalFailure("the database is locked")
        return real(*args, **kwargs)

    real_note = cli_bulk._note_batch

    def noted(pending: Path, *args: Any) -> None:
        real_note(pending, *args)
        notes.append(json.loads(pending.read_text(encoding="utf-8"))["lines"])

    monkeypatch.setattr(licenses, "issue_many", third_fails)
    monkeypatch.setattr(cli_bulk, "_note_batch", noted)
    monkeypatch.setattr(cli_bulk, "BULK_CHUNK", 2)
    before = _size(data)
    code, err = _bulk(data, rows, out, capsys, monkeypatch)
    assert code == 2, err
    assert err == (
        f"error: the database is locked; 4 of 6 licenses were issued, CSV lines 2 to 8 of "
        f"{rows} (listed in {out}); lines 9 to 10 were not\n"
    )
    assert notes == [[2, 4], [5, 8]]  # the batches noted before they were recorded
    assert _size(data) == before + 4


@pytest.mark.parametrize("end", ["\n", "\r\n", ""])
def test_a_quote_left_open_is_named_by_the_line_it_opens_on(
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    end: str,
) -> None:
    """A quote opened and never closed (a stray '"' before a field) runs the field to the
    end of the file, the last line's break with it: the row was named by the line above
    the one it opens on (a blank line here) when the file ends in a line break."""
    lines = list(LINES)
    lines[3] = _row("乙公司", address='"重庆市渝中区')  # line 4: the rest is its address
    rows = tmp_path / "rows.csv"
    rows.write_bytes(((end or "\n").join(lines) + end).encode())
    before = _size(data)
    code, err = _bulk(data, rows, tmp_path / "out.csv", capsys, monkeypatch)
    assert code == 2, err
    assert err.startswith(f"error: {rows}:4: "), err
    assert _size(data) == before


def test_a_row_that_cannot_be_read_is_named_by_the_line_it_begins_on(
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A row the csv module cannot read (a quoted field over its limit, broken over many
    lines) was named as the line after the last row read and a blank line: line 7 here."""
    lines = list(LINES)
    lines[7] = _row("丁公司", address='"' + "重庆市渝中区\n" * 30_000 + '"')  # from line 8
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = _size(data)
    code, err = _bulk(data, rows, tmp_path / "out.csv", capsys, monkeypatch)
    assert code == 2, err
    assert (
        err == f"error: {rows}:8: not a readable CSV row: field larger than field limit (131072)\n"
    )
    assert _size(data) == before
