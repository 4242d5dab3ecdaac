"""A window checks that whoever presents a license is its holder: the id number of the ID
card (or a company's credit code) presented, against the holder the license names."""

from __future__ import annotations

import json
from collections.abc import Iterator

import nacl.pwhash.argon2id
import pytest

from eseal.agencies import Principal
from eseal.licenses import IssueRequest, change_status, issue
from eseal.seals import create_seal, stamp
from eseal.trust_export import LocalStatus, build_bundle
from tests.eseal.conftest import (
    HOUSING,
    MARKET,
    NOW,
    WORKER,
    Region,
    business_request,
    legacy_holder_form,
    make_region,
    worker_request,
)
from verifier import claims as claims_module
from verifier import holder as holder_module
from verifier.document import LicenseClaims, decode
from verifier.holder import HolderNotApplicable, InvalidHolderId, presented_id
from verifier.pipeline import VerifyContext, verify_text
from verifier.trust import TrustStore
from verifier.verdict import (
    HOLDER_NOT_COMPARED,
    STATUS_TEXT,
    WARNING_TEXT,
    Status,
    Verdict,
    why_text,
)

MARKET_AGENT = Principal("agency", MARKET)
LATER = NOW + 86400
CREDIT_CODE = "91500000MA60XXXX15"  # business_request's holder
ID_NUMBER = "11010519491231002X"  # worker_request's holder
OTHER_ID_NUMBER = "500103198808081237"
OTHER_CREDIT_CODE = "91500103MA60ABCD1F"


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    r = make_region(tmp_path_factory.mktemp("holder"))
    yield r
    r.node.close()


def _ctx(region: Region) -> VerifyContext:
    store = TrustStore([build_bundle(region.node, now=LATER)])
    return VerifyContext(store, LATER, status=LocalStatus(region.node))


HOUSING_AGENT = Principal("agency", HOUSING)


@pytest.fixture(scope="module")
def business(region: Region) -> str:
    return issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW).qr_text


@pytest.fixture(scope="module")
def worker(region: Region) -> str:
    agent = HOUSING_AGENT
    return issue(region.node, agent, HOUSING, worker_request(), now=NOW).qr_text


@pytest.fixture(scope="module")
def legacy_worker(region: Region) -> str:
    """The same holder's license as issued before the Argon2id form: SHA-256 "ih"."""
    with legacy_holder_form():
        return issue(region.node, HOUSING_AGENT, HOUSING, worker_request(), now=NOW).qr_text


@pytest.fixture(params=["ia", "ih"])
def either_worker(request: pytest.FixtureRequest, worker: str, legacy_worker: str) -> str:
    """A natural person's license of each form: Argon2id (as issued now) and legacy SHA-256."""
    text = worker if request.param == "ia" else legacy_worker
    claims = decode(text).claims
    assert isinstance(claims, LicenseClaims)
    holder = claims.body.holder
    assert (holder.id_argon2 is not None, holder.id_hash is not None) == (
        request.param == "ia",
        request.param == "ih",
    )
    return text


def _holder_check(verdict: Verdict) -> tuple[bool, str]:
    check = next(c for c in verdict.checks if c.step == "holder")
    return check.ok, check.detail


def _never_shows(verdict: Verdict, presented: str) -> None:
    said = json.dumps(verdict.to_json(), ensure_ascii=False)
    assert presented not in said
    assert presented.replace(" ", "") not in said


@pytest.mark.parametrize(
    "presented", [CREDIT_CODE, " 91500000ma60xxxx15 ", "９１５０００００ＭＡ６０ＸＸＸＸ１５"]
)
def test_a_legal_persons_credit_code_matches_in_clear(
    region: Region, business: str, presented: str
) -> None:
    verdict = verify_text(business, _ctx(region), holder_id=presented)
    assert verdict.status is Status.VALID, verdict.reasons
    assert verdict.colour == "green"
    assert _holder_check(verdict) == (True, "the presented id is the holder's credit code")
    assert [c.step for c in verdict.checks][-1] == "holder"


def test_another_credit_code_is_a_holder_mismatch(region: Region, business: str) -> None:
    verdict = verify_text(business, _ctx(region), holder_id=OTHER_CREDIT_CODE)
    assert verdict.status is Status.HOLDER_MISMATCH
    assert verdict.colour == "red"
    assert STATUS_TEXT[verdict.status].startswith("持证人不符")
    # The clerk's words fit a company's holder too: its credit code is on its business license.
    assert "营业执照" in (why_text(verdict.status, verdict.kind) or "")
    assert _holder_check(verdict) == (False, "the presented id is not the holder's credit code")
    # Every other check passed before it: the license itself is good.
    assert all(c.ok for c in verdict.checks if c.step != "holder")
    _never_shows(verdict, OTHER_CREDIT_CODE)


@pytest.mark.parametrize(
    "presented",
    [
        ID_NUMBER,
        "110105 19491231 002x",  # spaced as on the card, a lower-case x
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width, as some input methods type it
        "\t110105194912310 02X\n",
    ],
)
def test_a_natural_persons_number_matches_its_hash(
    region: Region, either_worker: str, presented: str
) -> None:
    verdict = verify_text(either_worker, _ctx(region), holder_id=presented)
    assert verdict.status is Status.VALID, verdict.reasons
    assert verdict.colour == "green"
    assert _holder_check(verdict) == (True, "the presented id is the holder's identity number")
    _never_shows(verdict, ID_NUMBER)


def test_another_number_is_a_holder_mismatch(region: Region, either_worker: str) -> None:
    verdict = verify_text(either_worker, _ctx(region), holder_id=OTHER_ID_NUMBER)
    assert verdict.status is Status.HOLDER_MISMATCH
    assert verdict.reasons == ["the presented id is not the holder's identity number"]
    # The license's own id, masked: as issued now only its check character; a legacy
    # license's as it was issued.
    assert verdict.document["holder_id"] in ("*****************X", "110105********002X")
    _never_shows(verdict, OTHER_ID_NUMBER)
    # A company's code presented for a person's license is not the person either.
    other = verify_text(either_worker, _ctx(region), holder_id=CREDIT_CODE)
    assert other.status is Status.HOLDER_MISMATCH


def test_a_number_one_digit_off_is_a_holder_mismatch(region: Region, worker: str) -> None:
    """The hash, not the shown check character, decides: a number that differs from the
    holder's in a hidden digit, its own check character holding (the same last character
    as the holder's), is not the holder's."""
    near = "11010519491231010X"  # sequence 010 for 002: the check character is X again
    assert presented_id(near) == near
    verdict = verify_text(worker, _ctx(region), holder_id=near)
    assert verdict.status is Status.HOLDER_MISMATCH


def test_plain_verification_derives_no_argon2id(
    region: Region, worker: str, business: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argon2id runs only to match a presented id: a verification without one, or of a
    legal person's license with one, never derives it (its ~22 ms is not every verdict's).
    Refused at libsodium's binding itself, whatever path would reach it."""

    def refuse(*_: object, **__: object) -> bytes:
        raise AssertionError("Argon2id derived")

    monkeypatch.setattr(nacl.pwhash.argon2id, "kdf", refuse)
    assert verify_text(worker, _ctx(region)).status is Status.VALID
    assert verify_text(business, _ctx(region)).status is Status.VALID
    assert verify_text(business, _ctx(region), holder_id=CREDIT_CODE).status is Status.VALID
    with pytest.raises(AssertionError, match="derived"):
        verify_text(worker, _ctx(region), holder_id=ID_NUMBER)


def test_what_cannot_be_the_holders_number_is_told_apart_without_argon2id(
    region: Region, worker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A company's credit code, or an identity number whose check character is not the one
    the license shows, cannot be a natural person's number: a mismatch without the ~22 ms
    derivation (a clerk's typing slip answers at once, and a stream of such guesses costs
    the node nothing). A number with the shown check character is derived and compared."""
    derived: list[str] = []
    real = claims_module.holder_id_argon2

    def counted(number: str, salt: bytes) -> bytes:
        derived.append(number)
        return real(number, salt)

    monkeypatch.setattr(holder_module, "holder_id_argon2", counted)
    for presented in (CREDIT_CODE, OTHER_ID_NUMBER):  # ...7, where the license shows X
        verdict = verify_text(worker, _ctx(region), holder_id=presented)
        assert verdict.status is Status.HOLDER_MISMATCH
        assert verdict.reasons == ["the presented id is not the holder's identity number"]
    assert derived == []
    near = "11010519491231010X"
    assert verify_text(worker, _ctx(region), holder_id=near).status is Status.HOLDER_MISMATCH
    assert verify_text(worker, _ctx(region), holder_id=ID_NUMBER).status is Status.VALID
    assert derived == [near, ID_NUMBER]


def test_a_revoked_license_keeps_its_own_status_whoever_presents_it(region: Region) -> None:
    agent = HOUSING_AGENT
    issued = issue(region.node, agent, HOUSING, worker_request(), now=NOW)
    change_status(region.node, agent, issued.id, "revoke", reason="wrong", now=NOW + 1)
    verdict = verify_text(issued.qr_text, _ctx(region), holder_id=OTHER_ID_NUMBER)
    assert verdict.status is Status.REVOKED
    assert "holder" not in [c.step for c in verdict.checks]


@pytest.mark.parametrize("legal", [True, False])
def test_a_license_without_a_holder_id_is_not_compared(region: Region, legal: bool) -> None:
    if legal:
        request = business_request()
        request = IssueRequest(request.type_code, request.holder_name, None, request.fields)
        issued = issue(region.node, MARKET_AGENT, MARKET, request, now=NOW)
        presented, carried = CREDIT_CODE, "no holder id"
    else:
        request = IssueRequest(WORKER, "李四", None, worker_request().fields)
        issued = issue(region.node, HOUSING_AGENT, HOUSING, request, now=NOW)
        presented, carried = ID_NUMBER, "no hash of the holder's id number"
    verdict = verify_text(issued.qr_text, _ctx(region), holder_id=presented)
    assert verdict.status is Status.VALID, verdict.reasons
    assert verdict.colour == "amber"
    assert verdict.warnings == [HOLDER_NOT_COMPARED]
    assert _holder_check(verdict) == (False, f"the license carries {carried} to compare")
    assert WARNING_TEXT[HOLDER_NOT_COMPARED].startswith("未能核对持证人")
    # Without a presented id there is no holder check and no warning.
    plain = verify_text(issued.qr_text, _ctx(region))
    assert plain.warnings == []
    assert "holder" not in [c.step for c in plain.checks]


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "   ",
        "110105194912310021",  # check character wrong
        "11010519491231002",  # 17 characters
        "91500000MA60XXXX16",  # credit code, check character wrong
        "91500000ma60xxxx1５" + "0" * 60,  # over the bound
        "110105194912310０2X1",
        "张三",
    ],
)
def test_a_presented_id_that_is_no_id_is_refused_without_naming_it(
    region: Region, worker: str, business: str, presented: str
) -> None:
    for text in (worker, business):
        with pytest.raises(InvalidHolderId) as refused:
            verify_text(text, _ctx(region), holder_id=presented)
        assert refused.value.code == "invalid-holder-id"
        message = refused.value.message
        assert presented.strip() == "" or presented.strip() not in message
        assert "1101" not in message
        assert "9150" not in message


def test_a_seal_stamp_has_no_holder(region: Region) -> None:
    seal = create_seal(
        region.node,
        MARKET_AGENT,
        agency_code=MARKET,
        name="合同专用章",
        seal_type="contract",
        image=None,
        now=NOW,
    )
    stamped = stamp(region.node, MARKET_AGENT, seal.id, document=b"x", document_name="x", now=NOW)
    with pytest.raises(HolderNotApplicable, match="a seal stamp has no holder"):
        verify_text(stamped.qr_text, _ctx(region), document=b"x", holder_id=CREDIT_CODE)
    # A text that does not decode has its own verdict: there is nothing to compare with.
    assert verify_text("EL1:xx", _ctx(region), holder_id=ID_NUMBER).status is Status.MALFORMED


def test_presented_id_normalises_as_the_hash_does() -> None:
    assert presented_id(" 110105 19491231 002x ") == ID_NUMBER
    assert presented_id("９１５０００００ｍａ６０ｘｘｘｘ１５") == CREDIT_CODE
