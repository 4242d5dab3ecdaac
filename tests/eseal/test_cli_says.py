"""What the operator's commands say they did, read as the operator reads them: a stored
license's type, validity and status with its reason and successor (``license show``), and
the files a stamp wrote (``seal stamp``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from eseal.agencies import OPERATOR
from eseal.licenses import change_status, end_of_day, issue, renew
from eseal.seals import create_seal
from tests.eseal.conftest import (
    MARKET,
    NOW,
    PASSPHRASE,
    business_request,
    make_region,
    run_eseal,
)


@dataclasses.dataclass(frozen=True)
class Made:
    data: Path
    dated: str  # valid until 2031-06-30
    open_ended: str  # no end date
    renewed: str  # lapsed, renewed as .renewal
    renewal: str
    revoked: str
    seal: str


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    data = tmp_path_factory.mktemp("cli-says")
    region = make_region(data)
    node = region.node
    dated_request = dataclasses.replace(business_request(), valid_until=end_of_day("2031-06-30"))
    dated = issue(node, OPERATOR, MARKET, dated_request, now=NOW).id
    open_ended = issue(node, OPERATOR, MARKET, business_request(), now=NOW).id
    renewed = issue(node, OPERATOR, MARKET, business_request(), now=NOW).id
    renewal = renew(node, OPERATOR, renewed, now=NOW, valid_until=end_of_day("2032-01-31")).id
    revoked = issue(node, OPERATOR, MARKET, business_request(), now=NOW).id
    change_status(node, OPERATOR, revoked, "revoke", reason="以欺骗手段取得许可", now=NOW)
    seal = create_seal(
        node,
        OPERATOR,
        agency_code=MARKET,
        name="行政审批专用章",
        seal_type="approval",
        image=None,
        now=NOW,
    ).id
    node.close()
    return Made(data, dated, open_ended, renewed, renewal, revoked, seal)


def _show(
    made: Made,
    license_id: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
) -> str:
    code, out, err = run_eseal(
        ["--data", str(made.data), *args, "license", "show", license_id], capsys, monkeypatch
    )
    assert code == 0, err
    return out


def test_license_show_says_the_type_the_validity_and_why_its_status(
    made: Made, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``license show`` says what its help promises, the validity among it (it said status,
    holder, agency and ledger index alone), with the license's type, when it was issued,
    and a status change's reason and successor."""

    def show(license_id: str, *args: str) -> str:
        return _show(made, license_id, capsys, monkeypatch, *args)

    lines = show(made.dated).splitlines()
    assert lines[0] == made.dated
    assert "  type 111000000000PH001J001 营业执照" in lines
    assert "  status 01 有效 valid" in lines
    assert "  issued 2026-11-18, valid until 2031-06-30" in lines
    assert any(line.startswith("  ledger index ") for line in lines)
    assert (
        "  issued 2026-11-18, valid until 长期 (no end date)" in show(made.open_ended).splitlines()
    )
    lapsed = show(made.renewed).splitlines()
    assert "  status 05 失效 lapsed" in lapsed
    assert f"  replaced by {made.renewal}" in lapsed
    renewal = show(made.renewal).splitlines()
    assert "  issued 2026-11-18, valid until 2032-01-31" in renewal
    assert f"  replaces {made.renewed}" in renewal
    revoked = show(made.revoked).splitlines()
    assert "  status 07 撤销 revoked: 以欺骗手段取得许可" in revoked
    # --json is as it was: the stored row, with the QR text
    shown = json.loads(show(made.revoked, "--json"))
    assert (shown["status"], shown["status_reason"]) == ("07", "以欺骗手段取得许可")
    assert str(shown["qr_text"]).startswith("EL1:")


def test_seal_stamp_says_which_files_it_wrote(
    made: Made,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``seal stamp --qr --pdf`` names each file it wrote, as ``license issue`` does (it
    said only the stamp's id and QR text, leaving the clerk to look for the sealed copy)."""
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    document = tmp_path / "通知.txt"
    document.write_text("关于准予行政许可的通知", encoding="utf-8")
    qr, pdf = tmp_path / "stamp.png", tmp_path / "通知.sealed.pdf"
    code, out, err = run_eseal(
        [
            *("--data", str(made.data), "seal", "stamp", made.seal, str(document)),
            *("--qr", str(qr), "--pdf", str(pdf)),
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"stamped 通知.txt as {made.seal}.")
    assert lines[1].startswith("  QR: ES1:")
    assert lines[2:] == [f"  wrote {qr}", f"  wrote {pdf}"]
    assert qr.read_bytes().startswith(b"\x89PNG")
    assert pdf.read_bytes().startswith(b"%PDF")
    code, out, err = run_eseal(
        ["--data", str(made.data), "seal", "stamp", made.seal, str(document)],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert len(out.splitlines()) == 2  # no file asked for, none named
