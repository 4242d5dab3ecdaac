"""What the operator's commands say they did, read as the operator reads them: a stored
license's type, validity and status with its reason and successor (``license show``), the
files a stamp wrote (``seal stamp``), and what is wrong with an id that is no license or
seal id."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from itertools import product
from pathlib import Path

import pytest

from eseal.agencies import OPERATOR
from eseal.ids import InvalidLicenseId, InvalidSealId, LicenseId, parse_seal_id
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


def _checkpoint_size(made: Made, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch) -> int:
    args = ["--data", str(made.data), "--json", "ledger", "checkpoint"]
    code, out, err = run_eseal(args, capsys, mp)
    assert code == 0, err
    size = json.loads(out)["size"]
    assert isinstance(size, int)
    return size


def _flaw(parse: Callable[[str], object], text: str) -> str:
    """What the id parser (the API's 400 detail) says is wrong with ``text``."""
    with pytest.raises((InvalidLicenseId, InvalidSealId)) as refused:
        parse(text)
    return refused.value.message


def _wrong_check(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


#: Each command that acts on a license id, ``{id}`` for it (a license in force, or another,
#: where the id is the one changed).
LICENSE_COMMANDS = {
    "show": ["license", "show", "{id}"],
    "print": ["license", "print", "{id}", "--qr", "{qr}"],
    "suspend": ["license", "suspend", "{id}", "--reason", "x"],
    "reinstate": ["license", "reinstate", "{id}"],
    "revoke": ["license", "revoke", "{id}", "--reason", "x"],
    "withdraw": ["license", "withdraw", "{id}", "--reason", "x"],
    "cancel": ["license", "cancel", "{id}", "--reason", "x"],
    "transfer": ["license", "transfer", "{id}", "--to", "{other}", "--reason", "x"],
    "renew": ["license", "renew", "{id}"],
}
#: How an id is malformed, from a well-formed one, and what the refusal says of it.
LICENSE_FLAWS: dict[str, tuple[Callable[[str], str], str]] = {
    "check": (_wrong_check, "license id: check character should be "),
    "characters": (lambda t: t.replace(".001.", ".0x1."), "license id: version must be 3 digits"),
    "serial": (lambda t: t[:-7] + "*" + t[-6:], "license id: serial must be 1–20 characters"),
}


#: Every command with a wrong check character; the other flaws (the same parser) on two.
LICENSE_CASES = [(c, "check") for c in LICENSE_COMMANDS] + list(
    product(["show", "suspend"], ["characters", "serial"])
)


@pytest.mark.parametrize("case", LICENSE_CASES, ids="-".join)
def test_a_license_command_says_what_is_wrong_with_a_malformed_id(
    made: Made,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, str],
) -> None:
    """An id that is no license id (a wrong check character, a character its form does not
    take) is refused naming the flaw, as the API's 400 invalid-license-id says it: exit 2,
    nothing written (it was looked up and said "no license … was issued here")."""
    command, flaw = case
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    malform, said = LICENSE_FLAWS[flaw]
    bad = malform(made.dated)
    message = _flaw(LicenseId.parse, bad)
    assert message.startswith(said), message
    qr = tmp_path / "qr.png"
    args = [a.format(id=bad, other=made.open_ended, qr=qr) for a in LICENSE_COMMANDS[command]]
    size = _checkpoint_size(made, capsys, monkeypatch)
    code, out, err = run_eseal(["--data", str(made.data), *args], capsys, monkeypatch)
    assert (code, out, err) == (2, "", f"error: {message}\n")
    assert _checkpoint_size(made, capsys, monkeypatch) == size
    assert not qr.exists()


#: How a seal id is malformed, from a well-formed one, and what the refusal says of it.
SEAL_FLAWS: dict[str, tuple[Callable[[str], str], str]] = {
    "check": (lambda t: _wrong_check(t[:18]) + t[18:], "seal id: agency code: "),
    "characters": (lambda t: t[:-1] + "g", "seal id: the part after the agency's credit code"),
    "length": (lambda t: t + "0", "seal id must be an agency's credit code, a dot and"),
}


@pytest.mark.parametrize(
    "case", [("stamp", "check"), *product(["revoke"], SEAL_FLAWS)], ids="-".join
)
def test_a_seal_command_says_what_is_wrong_with_a_malformed_id(
    made: Made,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, str],
) -> None:
    """Likewise a seal id (the API's 400 invalid-seal-id); it was "no seal … here"."""
    command, flaw = case
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    malform, said = SEAL_FLAWS[flaw]
    bad = malform(made.seal)
    message = _flaw(parse_seal_id, bad)
    assert message.startswith(said), message
    document = tmp_path / "通知.txt"
    document.write_text("关于准予行政许可的通知", encoding="utf-8")
    qr = tmp_path / "stamp.png"
    args = {
        "revoke": ["seal", "revoke", bad, "--reason", "x"],
        "stamp": ["seal", "stamp", bad, str(document), "--qr", str(qr)],
    }[command]
    size = _checkpoint_size(made, capsys, monkeypatch)
    code, out, err = run_eseal(["--data", str(made.data), *args], capsys, monkeypatch)
    assert (code, out, err) == (2, "", f"error: {message}\n")
    assert _checkpoint_size(made, capsys, monkeypatch) == size
    assert not qr.exists()


def test_verify_help_says_what_each_exit_code_means(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window's script branches on ``eseal verify``'s exit code: its help says what 0, 1
    and 2 mean (it said nothing of them; only the README did)."""
    code, out, err = run_eseal(["verify", "--help"], capsys, monkeypatch)
    assert (code, err) == (0, "")
    said = " ".join(out.split())
    assert "Exit 0 valid (green, or amber with warnings), 1 invalid (a verdict" in said
    assert "2 no verdict (bad input, a trust file refused, a node not reached" in said
