"""A natural person's id number in a license, issued now (only the check character shown,
Argon2id "ia") and as issued before (region and last four shown, SHA-256 "ih"): a batch
hashes each holder once, and a renewal keeps the old form, or, given the number again,
moves the holder to the new one."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from eseal import licenses
from eseal.agencies import Principal
from eseal.api.app import create_app
from eseal.ids import InvalidIdentityNumber
from eseal.licenses import HolderIdNotMatched, IssueRequest, get_license, issue, issue_many, renew
from eseal.node import Node
from ledger.entries import decode_entry
from tests.eseal.conftest import (
    HOUSING,
    MARKET,
    NOW,
    PASSPHRASE,
    WORKER,
    Region,
    business_request,
    legacy_holder_form,
    make_region,
    run_eseal,
    worker_request,
)
from verifier import holder as holder_module
from verifier.document import Holder, LicenseClaims, decode, holder_id_argon2
from verifier.holder import MAX_PRESENTED, compare

HOUSING_AGENT = Principal("agency", HOUSING)
MARKET_AGENT = Principal("agency", MARKET)
NUMBER = "11010519491231002X"  # worker_request's holder
OTHER = "500103198808081237"
LEGACY_SHOWN = "110105********002X"
SHOWN = "*****************X"
#: Another number whose check character is NUMBER's: only the hash tells them apart.
SAME_CHECK_CHAR = "11010519500101104X"


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    r = make_region(tmp_path_factory.mktemp("holder-forms"))
    yield r
    r.node.close()


def _holder(qr_text: str) -> Holder:
    claims = decode(qr_text).claims
    assert isinstance(claims, LicenseClaims)
    return claims.body.holder


def _legacy(region: Region) -> str:
    with legacy_holder_form():
        issued = issue(region.node, HOUSING_AGENT, HOUSING, worker_request(), now=NOW)
    holder = _holder(issued.qr_text)
    assert (holder.id_display, holder.id_argon2) == (LEGACY_SHOWN, None)
    assert holder.id_hash is not None
    return issued.id


def test_a_batch_hashes_each_natural_person_once_with_argon2id(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    derived: list[str] = []
    real = holder_id_argon2

    def counted(number: str, salt: bytes) -> bytes:
        derived.append(number)
        return real(number, salt)

    monkeypatch.setattr(licenses, "holder_id_argon2", counted)
    requests = [worker_request(), worker_request(OTHER), business_request()]
    issued = issue_many(region.node, HOUSING_AGENT, HOUSING, requests[:2], now=NOW)
    assert derived == [NUMBER, OTHER]
    holders = [_holder(i.qr_text) for i in issued]
    assert [h.id_display for h in holders] == [SHOWN, "*****************7"]
    assert all(h.id_argon2 is not None and h.id_hash is None for h in holders)
    assert holders[0].id_salt != holders[1].id_salt  # a fresh salt each
    assert compare(holders[0], NUMBER)
    assert not compare(holders[0], OTHER)
    assert compare(holders[1], OTHER)
    assert not compare(holders[1], NUMBER)
    business = issue(region.node, MARKET_AGENT, MARKET, requests[2], now=NOW)
    assert derived == [NUMBER, OTHER]  # a legal person's credit code is shown, not hashed
    assert _holder(business.qr_text).id_display == "91500000MA60XXXX15"


def test_a_renewal_without_the_number_keeps_the_legacy_form(region: Region) -> None:
    """The number is not at hand to hash again: the holder is copied as it is, "ih" and
    salt, and still matches."""
    old = _legacy(region)
    new = renew(region.node, HOUSING_AGENT, old, now=NOW + 10)
    holder = _holder(new.qr_text)
    assert holder == _holder(get_license(region.node, old).document)
    assert get_license(region.node, new.id).holder_id_display == LEGACY_SHOWN
    assert compare(holder, NUMBER) is True


@pytest.mark.parametrize("given", [NUMBER, "11010519491231002x"])  # as issuance reads it
def test_a_renewal_with_the_number_moves_to_argon2id(region: Region, given: str) -> None:
    old = _legacy(region)
    new = renew(region.node, HOUSING_AGENT, old, now=NOW + 10, holder_id=given)
    holder = _holder(new.qr_text)
    assert holder.name == "李四"
    assert (holder.id_display, holder.id_hash) == (SHOWN, None)
    assert holder.id_argon2 is not None
    assert compare(holder, NUMBER) is True
    assert compare(holder, OTHER) is False
    assert get_license(region.node, new.id).holder_id_display == SHOWN
    # Renewed again without it: the new form is kept, salt and all.
    again = renew(region.node, HOUSING_AGENT, new.id, now=NOW + 20)
    assert _holder(again.qr_text) == holder


def test_a_renewal_with_another_number_is_refused_and_changes_nothing(region: Region) -> None:
    old = _legacy(region)
    size = region.node.log.size()
    with pytest.raises(HolderIdNotMatched, match="not this license holder's") as refused:
        renew(region.node, HOUSING_AGENT, old, now=NOW + 10, holder_id=OTHER)
    assert OTHER not in refused.value.message
    with pytest.raises(InvalidIdentityNumber):
        renew(region.node, HOUSING_AGENT, old, now=NOW + 10, holder_id="110105194912310021")
    assert region.node.log.size() == size
    assert get_license(region.node, old).status == "01"


def test_a_renewal_cannot_add_a_number_the_license_never_carried(region: Region) -> None:
    unnamed = IssueRequest(WORKER, "李四", None, worker_request().fields)
    old = issue(region.node, HOUSING_AGENT, HOUSING, unnamed, now=NOW)
    size = region.node.log.size()
    with pytest.raises(HolderIdNotMatched, match="carries no id of its holder"):
        renew(region.node, HOUSING_AGENT, old.id, now=NOW + 10, holder_id=NUMBER)
    assert region.node.log.size() == size


def test_a_legal_persons_renewal_with_its_code_keeps_it(region: Region) -> None:
    old = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    new = renew(region.node, MARKET_AGENT, old.id, now=NOW + 10, holder_id="91500000ma60xxxx15")
    assert _holder(new.qr_text) == _holder(old.qr_text)
    with pytest.raises(HolderIdNotMatched):
        renew(region.node, MARKET_AGENT, new.id, now=NOW + 20, holder_id="91500103MA60ABCD1F")


def test_the_apis_renewal_takes_the_holder_id(region: Region) -> None:
    """POST /v1/licenses/{id}/renew with holder_id: another number is a documented 422
    holder-id-not-matched that does not name it, and changes nothing; the holder's number
    moves the license to Argon2id."""
    old = _legacy(region)
    own = {"Authorization": f"Bearer {region.housing.credential}"}
    with TestClient(create_app(region.node)) as client:
        size = region.node.log.size()
        r = client.post(f"/v1/licenses/{old}/renew", json={"holder_id": OTHER}, headers=own)
        assert r.status_code == 422, r.text
        assert r.json()["type"].endswith("/holder-id-not-matched")
        assert OTHER not in r.text
        spec = client.get("/openapi.json").json()
        responses = spec["paths"]["/v1/licenses/{license_id}/renew"]["post"]["responses"]
        assert "holder-id-not-matched" in responses["422"]["x-problem-types"]
        assert region.node.log.size() == size
        r = client.post(f"/v1/licenses/{old}/renew", json={"holder_id": NUMBER}, headers=own)
        assert r.status_code == 201, r.text
        holder = _holder(r.json()["qr_text"])
        assert (holder.id_display, holder.id_hash) == (SHOWN, None)
        assert compare(holder, NUMBER) is True


class _Slots:
    """Stands for :data:`eseal.licenses._hash_slots`, counting the slots held."""

    def __init__(self) -> None:
        self.held = 0

    def __enter__(self) -> None:
        self.held += 1

    def __exit__(self, *_: object) -> None:
        self.held -= 1


def test_every_argon2id_derivation_of_issuance_and_renewal_holds_a_hash_slot(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issuing derives the new hash, a renewal given the number also checks it against the
    old version's "ia" (a derivation as costly): each one in a HASH_SLOTS slot, so that
    renewals too take at most that many cores however many run at once."""
    slots = _Slots()
    held: list[int] = []

    def counted(number: str, salt: bytes) -> bytes:
        held.append(slots.held)
        return holder_id_argon2(number, salt)

    monkeypatch.setattr(licenses, "_hash_slots", slots)
    monkeypatch.setattr(licenses, "holder_id_argon2", counted)
    monkeypatch.setattr(holder_module, "holder_id_argon2", counted)
    old = issue(region.node, HOUSING_AGENT, HOUSING, worker_request(), now=NOW)
    assert held == [1]
    with pytest.raises(HolderIdNotMatched):  # the check character shown, so derived
        renew(region.node, HOUSING_AGENT, old.id, now=NOW + 10, holder_id=SAME_CHECK_CHAR)
    assert held == [1, 1]  # the old hash checked
    renew(region.node, HOUSING_AGENT, old.id, now=NOW + 10, holder_id=NUMBER)
    assert held == [1, 1, 1, 1]  # checked, then hashed anew
    assert slots.held == 0


def test_the_clis_renewal_takes_the_holder_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``eseal license renew ID --holder-id NUMBER``: another number, or one that is no
    identity number, exits 2 naming no digit of it and records nothing; the holder's number
    moves a legacy license to Argon2id, the number printed nowhere."""
    made = make_region(tmp_path)
    old = _legacy(made)
    made.node.close()
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())

    def eseal(*args: str) -> tuple[int, str, str]:
        return run_eseal(["--data", str(tmp_path), *args], capsys, monkeypatch)

    def size() -> int:
        code, out, err = eseal("--json", "ledger", "checkpoint")
        assert code == 0, err
        return int(json.loads(out)["size"])

    before = size()
    for given, said in [
        (OTHER, "the holder id is not this license holder's"),
        ("110105194912310021", "holder id: identity number: check character"),
    ]:
        code, out, err = eseal("license", "renew", old, "--holder-id", given)
        assert (code, out) == (2, ""), err
        assert said in err
        assert given not in err
        assert size() == before
    code, out, err = eseal("--json", "license", "renew", old, "--holder-id", NUMBER)
    assert code == 0, err
    assert NUMBER not in out + err
    holder = _holder(json.loads(out)["qr_text"])
    assert (holder.id_display, holder.id_hash) == (SHOWN, None)
    assert compare(holder, NUMBER) is True
    assert size() == before + 2  # the new version and the old one's lapse


def test_a_batch_is_dated_when_signed_after_its_holders_are_hashed(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's Argon2id hashes take their time (a thousand over HTTP: 22 s idle, minutes
    on a loaded node sharing HASH_SLOTS): its licenses are signed once every holder is hashed
    and dated by that time, not by the request's start, so that the revocation snapshot's
    margin (SNAPSHOT_MARGIN, between a license's signing and its commit) still covers them."""
    clock = [5_000.0]
    monkeypatch.setattr(licenses, "_monotonic", lambda: clock[0], raising=False)

    def slow(number: str, salt: bytes) -> bytes:
        clock[0] += 100.0  # as a loaded node's share of a thousand derivations
        return holder_id_argon2(number, salt)

    monkeypatch.setattr(licenses, "holder_id_argon2", slow)
    issued = issue_many(
        region.node, HOUSING_AGENT, HOUSING, [worker_request(), worker_request(OTHER)], now=NOW
    )
    for one in issued:
        claims = decode(one.qr_text).claims
        assert isinstance(claims, LicenseClaims)
        assert (claims.issued_at, claims.not_before) == (NOW + 200, NOW + 200)
        assert get_license(region.node, one.id).issued_at == NOW + 200
        assert decode_entry(region.node.log.entry(one.ledger_index)).time == NOW + 200
    # A legal person's batch hashes nothing: dated as asked.
    business = issue_many(region.node, MARKET_AGENT, MARKET, [business_request()], now=NOW)
    assert get_license(region.node, business[0].id).issued_at == NOW


def test_the_clis_holder_id_dash_reads_the_number_from_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--holder-id -`` on ``license issue`` and ``license renew`` reads the number from
    standard input (its first line), as ``eseal verify`` does, so that a person's number stays
    out of the shell's history and the process list: the license is issued, and renewed,
    with the number read, which is printed nowhere."""
    made = make_region(tmp_path)
    old = _legacy(made)
    made.node.close()
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())

    def eseal(typed: str, *args: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(typed))
        return run_eseal(["--data", str(tmp_path), *args], capsys, monkeypatch)

    req = worker_request()
    fields = [f"--field={name}={value}" for name, value in req.fields.items()]
    issue_args = ["--agency", HOUSING, "--type", WORKER, "--holder", req.holder_name]
    code, out, err = eseal(
        NUMBER + "\n", "--json", "license", "issue", *issue_args, *fields, "--holder-id", "-"
    )
    assert code == 0, err
    assert NUMBER not in out + err
    holder = _holder(json.loads(out)["qr_text"])
    assert holder.id_display == SHOWN
    assert compare(holder, NUMBER) is True
    assert compare(holder, OTHER) is False

    code, out, err = eseal(OTHER + "\r\n", "license", "renew", old, "--holder-id", "-")
    assert (code, out) == (2, ""), err
    assert "the holder id is not this license holder's" in err
    code, out, err = eseal(NUMBER + "\n", "--json", "license", "renew", old, "--holder-id", "-")
    assert code == 0, err
    assert NUMBER not in out + err
    holder = _holder(json.loads(out)["qr_text"])
    assert (holder.id_display, holder.id_hash) == (SHOWN, None)
    assert compare(holder, NUMBER) is True


@dataclass(frozen=True)
class _Dash:
    """A region with a legacy license, closed for the CLI to open: the commands that take
    ``--holder-id -`` and the ledger's size before them."""

    data: Path
    issue: tuple[str, ...]  # license issue's arguments, without --holder-id
    commands: tuple[tuple[str, ...], ...]  # issue, renew and verify with --holder-id -
    before: int

    def nothing_signed(self) -> None:
        with Node.open(self.data) as node:
            assert node.log.size() == self.before


def _dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> _Dash:
    made = make_region(tmp_path)
    old = _legacy(made)
    before = made.node.log.size()
    made.node.close()
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    req = worker_request()
    fields = [f"--field={name}={value}" for name, value in req.fields.items()]
    issue: tuple[str, ...] = ("license", "issue", "--agency", HOUSING, "--type", WORKER)
    issue = (*issue, "--holder", req.holder_name, *fields)
    commands = (
        (*issue, "--holder-id", "-"),
        ("license", "renew", old, "--holder-id", "-"),
        ("verify", "ES1:X", "--holder-id", "-"),
    )
    return _Dash(tmp_path, issue, commands, before)


@pytest.mark.parametrize("typed", ["", "\n", "   \r\n"])
def test_the_clis_holder_id_dash_refuses_no_number_on_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, typed: str
) -> None:
    """``--holder-id -`` with standard input closed, empty or a blank first line is refused
    (exit 2) before anything is signed: an issuance without the number, or a renewal that
    kept the old form, would have passed for one made with it."""
    dash = _dash(tmp_path, monkeypatch)
    for args in dash.commands:
        monkeypatch.setattr("sys.stdin", io.StringIO(typed))
        code, out, err = run_eseal(["--data", str(tmp_path), *args], capsys, monkeypatch)
        assert (code, out) == (2, ""), (args, err)
        assert "no holder's id number on standard input" in err, err
    dash.nothing_signed()


class _Terminal(io.StringIO):
    """Standard input that says it is a terminal (what is typed comes through getpass)."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("typed", ["", "   ", "\t", "<Ctrl-D>"])
def test_the_clis_holder_id_dash_refuses_a_blank_answer_at_the_terminal_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, typed: str
) -> None:
    """In a terminal, ``--holder-id -`` asks for the number (unechoed). Nothing, spaces, or
    Ctrl-D there (which issue took for "no number", a license without it, exit 0, and renew
    for "keep the old form"; Ctrl-D ended in exit 1) is refused (exit 2), nothing signed, as
    a blank line on a pipe is; a number typed is used."""
    dash = _dash(tmp_path, monkeypatch)
    asked: list[str] = []

    def eseal(answer: str, *args: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", _Terminal(""))

        def getpass(prompt: str = "") -> str:
            asked.append(prompt)
            if answer == "<Ctrl-D>":
                raise EOFError
            return answer

        monkeypatch.setattr("getpass.getpass", getpass)
        return run_eseal(["--data", str(tmp_path), *args], capsys, monkeypatch)

    for args in dash.commands:
        code, out, err = eseal(typed, *args)
        assert (code, out) == (2, ""), (args, err)
        assert "no holder's id number on standard input" in err, err
    assert len(asked) == 3, asked  # asked at the terminal each time, not read from a pipe
    dash.nothing_signed()

    code, out, err = eseal(f" {NUMBER} ", "--json", *dash.issue, "--holder-id", "-")
    assert code == 0, err
    assert NUMBER not in out + err
    holder = _holder(json.loads(out)["qr_text"])
    assert holder.id_display == SHOWN
    assert compare(holder, NUMBER) is True


def test_the_clis_holder_id_dash_refuses_a_line_over_the_limit_on_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Standard input is read up to MAX_PRESENTED characters (and a line break): a longer
    line was cut there and the rest left unread, so a number, spaces and then anything at
    all was issued as that number (exit 0) where ``--holder-id`` given the same line refuses
    it. A line over the limit is refused (exit 2) on issue, renew and verify alike."""
    dash = _dash(tmp_path, monkeypatch)
    typed = NUMBER + " " * (MAX_PRESENTED + 2 - len(NUMBER)) + "not a number\n"

    def eseal(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(typed))
        return run_eseal(["--data", str(tmp_path), *args], capsys, monkeypatch)

    code, _, err = eseal(*dash.issue, "--holder-id", typed.strip())
    assert code == 2, err  # given on the command line, the same line is refused
    for args in dash.commands:
        code, out, err = eseal(*args)
        assert (code, out) == (2, ""), (args, err)
        assert f"is over {MAX_PRESENTED} characters" in err, err
        assert NUMBER not in err
    dash.nothing_signed()
