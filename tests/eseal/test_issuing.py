"""Issuing: licenses read by an independent COSE library, scopes, lifecycle and its ledger
entries, bad input that changes nothing, key rotation and revocation."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from pycose.keys.curves import Ed25519
from pycose.keys.okp import OKPKey
from pycose.messages.sign1message import Sign1Message

from eseal.agencies import OPERATOR, AgencyKeyUnusable, Forbidden, Principal, revoke_key, rotate_key
from eseal.ids import InvalidCreditCode, InvalidIdentityNumber, InvalidLicenseId, make_license_id
from eseal.licenses import (
    BadTransition,
    IssueRequest,
    TypeNotAuthorised,
    UnknownLicense,
    change_status,
    end_of_day,
    get_license,
    issue,
    issue_many,
    renew,
)
from eseal.printing import write_license
from keys.errors import InvalidInput
from keys.statements import Role, SignedStatement, verify_statement_chain
from ledger.checkpoint import verify_checkpoint
from ledger.entries import decode_entry
from ledger.merkle import leaf_hash, verify_inclusion
from tests.eseal.conftest import (
    BUSINESS,
    FOOD,
    HOUSING,
    MARKET,
    NOW,
    Region,
    business_request,
    make_region,
    worker_request,
)
from verifier.document import LicenseClaims, decode, holder_id_argon2

MARKET_AGENT = Principal("agency", MARKET)
HOUSING_AGENT = Principal("agency", HOUSING)


def _cose_bytes(qr_text: str) -> bytes:
    """The COSE_Sign1 inside an EL1: string, unwrapped with the `base45` package."""
    import base45

    return zlib.decompress(base45.b45decode(qr_text[4:]))


def test_issued_license_verifies_with_an_independent_cose_library(region: Region) -> None:
    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    message = Sign1Message.decode(_cose_bytes(issued.qr_text))
    message.key = OKPKey(crv=Ed25519, x=bytes.fromhex(region.market.public_key))
    assert message.verify_signature()
    import cbor2

    assert message.payload is not None
    claims = cbor2.loads(message.payload)
    assert claims[1] == MARKET
    assert claims[7] == issued.id.encode()
    assert claims[6] == NOW
    body = claims[-70001]
    assert body["t"] == BUSINESS
    assert body["h"]["n"] == "重庆山城小面餐饮有限公司"
    assert body["f"]["legal_representative"] == "张三"


def test_issuance_is_recorded_and_proved(region: Region) -> None:
    node = region.node
    issued = issue(node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    entry = decode_entry(node.log.entry(issued.ledger_index))
    assert (entry.kind, entry.subject) == ("license.issue", issued.id)
    doc = decode(issued.qr_text)
    assert entry.digest == hashlib.sha256(_cose_bytes(issued.qr_text)).digest()
    assert entry.key_id == doc.kid
    cp = verify_checkpoint(issued.checkpoint, node.log_verifier)
    assert cp.size == issued.tree_size
    proof = [base64.b64decode(h) for h in issued.inclusion_proof]
    verify_inclusion(
        leaf_hash(node.log.entry(issued.ledger_index)),
        issued.ledger_index,
        cp.size,
        proof,
        cp.root_hash,
    )
    raw = node.log.entry(issued.ledger_index)
    assert b"91500000MA60XXXX15" not in raw
    assert "张三".encode() not in raw


def test_identity_number_is_masked_and_hashed_never_stored(region: Region) -> None:
    number = "11010519491231002X"
    issued = issue(region.node, HOUSING_AGENT, HOUSING, worker_request(number), now=NOW)
    claims = decode(issued.qr_text).claims
    assert isinstance(claims, LicenseClaims)
    holder = claims.body.holder
    assert holder.id_display == "*****************X"
    assert holder.id_salt is not None
    assert holder.id_argon2 == holder_id_argon2(number, holder.id_salt)
    assert holder.id_hash is None  # no fast SHA-256 "ih" beside it
    assert number not in issued.qr_text
    row = get_license(region.node, issued.id)
    assert row.holder_id_display == "*****************X"
    stored = json.dumps(row.model_dump(exclude={"digest"}), ensure_ascii=False)
    assert number not in stored


def _unchanged(region: Region, act: Callable[[], object], error: type[Exception]) -> None:
    size = region.node.log.size()
    with pytest.raises(error):
        act()
    assert region.node.log.size() == size


def test_bad_issuance_requests_change_nothing(region: Region) -> None:
    node = region.node
    bad: list[tuple[Callable[[], object], type[Exception]]] = [
        (
            lambda: issue(
                node, OPERATOR, MARKET, IssueRequest("11100000000013338W999", "x"), now=NOW
            ),
            InvalidInput,
        ),
        (lambda: issue(node, MARKET_AGENT, MARKET, worker_request(), now=NOW), TypeNotAuthorised),
        (
            lambda: issue(
                node, MARKET_AGENT, MARKET, business_request(established="2021-02-30"), now=NOW
            ),
            InvalidInput,
        ),
        (
            lambda: issue(
                node, MARKET_AGENT, MARKET, business_request(company_type="皮包公司"), now=NOW
            ),
            InvalidInput,
        ),
        (
            lambda: issue(
                node,
                MARKET_AGENT,
                MARKET,
                IssueRequest(BUSINESS, "x", "91500000MA60XXXX16", {}),
                now=NOW,
            ),
            InvalidInput,
        ),
        (
            lambda: issue(
                node, HOUSING_AGENT, HOUSING, worker_request("110105194912310021"), now=NOW
            ),
            InvalidInput,
        ),
        (lambda: issue(node, HOUSING_AGENT, MARKET, business_request(), now=NOW), Forbidden),
        (
            lambda: issue(node, OPERATOR, "91500000MA60XXXX15", business_request(), now=NOW),
            InvalidInput,
        ),
        (
            lambda: issue(
                node, MARKET_AGENT, MARKET, business_request(address="街" * 1000), now=NOW
            ),
            InvalidInput,
        ),
    ]
    for act, error in bad:
        _unchanged(region, act, error)


@pytest.mark.parametrize("name", ["重庆\u3000小面有限公司", "重庆\u2028小面", "重庆\u00a0小面"])
def test_a_holder_name_the_qr_format_cannot_hold_is_refused_as_the_holder_name(
    region: Region, name: str
) -> None:
    """The QR format holds printable text only: a holder name with an ideographic space, a
    line separator or a no-break space is refused naming the holder name (issuing failed on
    the format's own check, as "holder name (n)", a claim the agency never wrote)."""
    request = business_request(name)
    with pytest.raises(InvalidInput, match=r"the holder name holds .* printable text only"):
        issue(region.node, MARKET_AGENT, MARKET, request, now=NOW)
    request = business_request(name.replace(name[2], " "))
    assert decode(issue(region.node, MARKET_AGENT, MARKET, request, now=NOW).qr_text)


def test_a_bad_holder_id_is_named_as_the_holder_id_its_license_type_needs(region: Region) -> None:
    """A holder id that is not the kind of number its license type's holder has is refused
    naming the holder id, the license type and the number it needs (an organisation's
    credit code, a person's identity number), never echoing an identity number or a part
    of one: a clerk who typed the legal representative's identity number for a business
    license was told only "credit code: unknown province 01 in region code '010519'", six
    of its digits."""
    node = region.node
    number = "11010519491231002X"  # a valid identity number, on a business license
    cases: list[tuple[Callable[[], object], type[InvalidInput], list[str]]] = [
        (
            lambda: issue(
                node,
                MARKET_AGENT,
                MARKET,
                dataclasses.replace(business_request(), holder_id=number),
                now=NOW,
            ),
            InvalidCreditCode,
            ["holder id", "营业执照", "unified social credit code", "a resident identity number"],
        ),
        (
            lambda: issue(node, HOUSING_AGENT, HOUSING, worker_request(MARKET), now=NOW),
            InvalidIdentityNumber,
            ["holder id", "建筑施工特种作业人员操作资格证书", "resident identity number"],
        ),
        (
            lambda: issue(
                node, HOUSING_AGENT, HOUSING, worker_request("110105194912310021"), now=NOW
            ),
            InvalidIdentityNumber,
            ["holder id", "check character should be"],
        ),
    ]
    for act, error, said in cases:
        size = node.log.size()
        with pytest.raises(error) as refused:
            act()
        assert node.log.size() == size
        for words in said:
            assert words in refused.value.message, refused.value.message
        assert number not in refused.value.message
        assert "110105194912310021" not in refused.value.message
        assert "010519" not in refused.value.message  # no part of it either (digits 3–8)


def test_lifecycle_transitions_and_their_ledger_entries(region: Region) -> None:
    node = region.node
    lic = issue(node, MARKET_AGENT, MARKET, business_request(), now=NOW).id
    steps = [
        ("suspend", "02", "license.suspend"),
        ("reinstate", "01", "license.reinstate"),
        ("revoke", "07", "license.revoke"),
    ]
    for action, status, kind in steps:
        size = node.log.size()
        row = change_status(node, MARKET_AGENT, lic, action, reason="检查", now=NOW + 1)
        assert row.status == status
        entry = decode_entry(node.log.entry(size))
        assert (entry.kind, entry.subject, node.log.size()) == (kind, lic, size + 1)
    _unchanged(
        region,
        lambda: change_status(node, MARKET_AGENT, lic, "revoke", reason="again", now=NOW),
        BadTransition,
    )
    _unchanged(
        region, lambda: change_status(node, MARKET_AGENT, lic, "reinstate", now=NOW), BadTransition
    )


def test_an_id_that_is_no_license_id_is_refused_naming_its_flaw(
    region: Region, tmp_path: Path
) -> None:
    """get_license, and the acts that look a license up by an id they are given (a status
    change, a renewal, printing), refuse an id that is no license id with the API's
    invalid-license-id words, naming its flaw; they said "no license … was issued here"
    of it, which is said only of a well-formed id the region never recorded."""
    node = region.node
    lic = issue(node, MARKET_AGENT, MARKET, business_request(), now=NOW).id
    wrong_check = lic[:-1] + ("A" if lic[-1] != "A" else "B")
    flaws = {
        wrong_check: f"license id: check character should be {lic[-1]!r}",
        "ELx-never-recorded-1": "license id must start with '1.2.156.3005.2.'",
        lic.replace(".001.", ".1.", 1): "license id: version must be 3 digits, got '1'",
    }
    acts: list[Callable[[str], object]] = [
        lambda i: get_license(node, i),
        lambda i: change_status(node, OPERATOR, i, "suspend", reason="x", now=NOW),
        lambda i: renew(node, OPERATOR, i, now=NOW),
        lambda i: write_license(node, i, pdf=tmp_path / "x.pdf", png=None, now=NOW),
    ]
    size = node.log.size()
    for bad, flaw in flaws.items():
        for act in acts:
            with pytest.raises(InvalidLicenseId) as refused:
                act(bad)
            assert refused.value.message.startswith(flaw), refused.value.message
    assert node.log.size() == size
    assert not (tmp_path / "x.pdf").exists()
    unknown = str(make_license_id(BUSINESS, MARKET, "NOSUCH"))
    with pytest.raises(UnknownLicense) as info:
        get_license(node, unknown)
    assert info.value.message == f"no license {unknown} was issued here"
    assert get_license(node, lic).status == "01"


def test_only_the_issuing_agency_or_the_operator_may_act(region: Region) -> None:
    node = region.node
    lic = issue(node, MARKET_AGENT, MARKET, business_request(), now=NOW).id
    _unchanged(
        region,
        lambda: change_status(node, HOUSING_AGENT, lic, "suspend", reason="x", now=NOW),
        Forbidden,
    )
    _unchanged(region, lambda: renew(node, HOUSING_AGENT, lic, now=NOW), Forbidden)
    assert change_status(node, OPERATOR, lic, "suspend", reason="x", now=NOW).status == "02"
    assert get_license(node, lic).status == "02"


def test_renewal_links_versions_and_lapses_the_old(region: Region) -> None:
    node = region.node
    old = issue(node, HOUSING_AGENT, HOUSING, worker_request(), now=NOW)
    new = renew(node, HOUSING_AGENT, old.id, now=NOW + 10)
    assert new.id.split(".")[7] == old.id.split(".")[7]
    assert new.id.split(".")[8] == "002"
    claims = decode(new.qr_text).claims
    assert isinstance(claims, LicenseClaims)
    assert claims.body.previous == old.id
    old_claims = decode(old.qr_text).claims
    assert isinstance(old_claims, LicenseClaims)
    assert claims.body.holder == old_claims.body.holder  # kept: the same salt and "ia"
    assert claims.body.holder.id_argon2 is not None
    assert get_license(node, old.id).status == "05"
    assert get_license(node, old.id).replaced_by == new.id
    kinds = [decode_entry(node.log.entry(i)).kind for i in (new.ledger_index, new.ledger_index + 1)]
    assert kinds == ["license.renew", "license.lapse"]
    _unchanged(region, lambda: renew(node, HOUSING_AGENT, old.id, now=NOW), BadTransition)


def test_an_act_on_a_replaced_license_names_the_license_that_replaced_it(region: Region) -> None:
    """A renewal sent again (its answer lost, say) or any act on a license renewed or
    transferred out is refused naming the license in force now, where it said only that the
    license had lapsed: the clerk learns the id to act on without asking the node."""
    node = region.node
    old = issue(node, HOUSING_AGENT, HOUSING, worker_request(), now=NOW)
    new = renew(node, HOUSING_AGENT, old.id, now=NOW + 10)
    with pytest.raises(BadTransition) as again:
        renew(node, HOUSING_AGENT, old.id, now=NOW + 20)
    assert again.value.message == (
        f"license {old.id} is 失效 lapsed; renew refused: it was replaced by {new.id}"
    )
    with pytest.raises(BadTransition) as revoking:
        change_status(node, HOUSING_AGENT, old.id, "revoke", reason="x", now=NOW + 20)
    assert revoking.value.message == (
        f"license {old.id} is 失效 lapsed: revoke is not allowed; it was replaced by {new.id}"
    )
    revoked = issue(node, HOUSING_AGENT, HOUSING, worker_request(), now=NOW)
    change_status(node, HOUSING_AGENT, revoked.id, "revoke", reason="x", now=NOW + 20)
    with pytest.raises(BadTransition) as plain:
        renew(node, HOUSING_AGENT, revoked.id, now=NOW + 30)
    assert plain.value.message == f"license {revoked.id} is 撤销 revoked; renew refused"


def _at(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def test_a_default_validity_ends_with_the_day_the_license_shows(region: Region) -> None:
    """Without a valid-until, a type's default validity (the worker certificate: 730 days)
    ends at 23:59:59 Beijing time of the day ``now + 730 days`` falls on: the second an
    explicit valid-until of that day gives, for one license, a batch and a renewal."""
    node = region.node
    evening = issue(node, HOUSING_AGENT, HOUSING, worker_request(), now=NOW)  # 19:06:40 +08
    last_second = _at("2028-11-17T23:59:59+08:00")
    assert evening.expires == last_second == end_of_day("2028-11-17")
    claims = decode(evening.qr_text).claims
    assert isinstance(claims, LicenseClaims)
    assert claims.expires == get_license(node, evening.id).expires == last_second
    batch = issue_many(node, HOUSING_AGENT, HOUSING, [worker_request()] * 2, now=NOW)
    assert [i.expires for i in batch] == [last_second, last_second]
    # 00:30 in Beijing is 16:30 UTC the day before: the day counted is Beijing's.
    after_midnight = _at("2026-11-19T00:30:00+08:00")
    early = issue(node, HOUSING_AGENT, HOUSING, worker_request(), now=after_midnight)
    assert early.expires == _at("2028-11-18T23:59:59+08:00")
    renewed = renew(node, HOUSING_AGENT, evening.id, now=after_midnight)
    assert renewed.expires == _at("2028-11-18T23:59:59+08:00")
    # At the day's last second, the end is exactly 730 days on.
    late = _at("2026-11-18T23:59:59+08:00")
    assert issue(node, HOUSING_AGENT, HOUSING, worker_request(), now=late).expires == (
        late + 730 * 86400
    )
    explicit = dataclasses.replace(worker_request(), valid_until=end_of_day("2027-01-31"))
    assert issue(node, HOUSING_AGENT, HOUSING, explicit, now=NOW).expires == _at(
        "2027-01-31T23:59:59+08:00"
    )


def test_a_past_valid_until_is_refused_naming_the_day_not_a_cli_option(region: Region) -> None:
    """The refusal of a license that would already be expired names its last day and no
    `--valid-until` option: the API and `license bulk` say it too, and have no such option."""
    past = dataclasses.replace(worker_request(), valid_until=end_of_day("2020-01-31"))
    size = region.node.log.size()
    with pytest.raises(InvalidInput) as refused:
        issue(region.node, HOUSING_AGENT, HOUSING, past, now=NOW)
    assert refused.value.message == (
        "the license would already be expired: valid until 2020-01-31 has passed"
    )
    assert region.node.log.size() == size


@pytest.mark.parametrize("text", ["2031/12/31", "20311231", "2031-W01-1", "31-12-2031", ""])
def test_a_valid_until_not_written_yyyy_mm_dd_is_refused(text: str) -> None:
    """As the API reads a date, so does the CLI: YYYY-MM-DD only (Python's own parser took
    20311231 and ISO week dates, 2031-W01-1 being 2030-12-30)."""
    with pytest.raises(InvalidInput) as refused:
        end_of_day(text)
    assert refused.value.message == f"--valid-until {text!r} is not a date: write it as YYYY-MM-DD"


def test_rotation_keeps_old_licenses_and_revocation_stops_issuing(region: Region) -> None:
    node = region.node
    before = issue(node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    old_kid = decode(before.qr_text).kid
    new_key = rotate_key(node, MARKET, now=NOW + 100)
    after = issue(node, MARKET_AGENT, MARKET, business_request(), now=NOW + 101)
    assert decode(after.qr_text).kid == new_key.key_id != old_kid
    statement = SignedStatement.from_bytes(new_key.statement)
    leaf = verify_statement_chain(
        [statement], node.config.root_public_key, at=NOW + 101, role=Role.AGENCY, license_type=FOOD
    )
    assert leaf.subject == MARKET
    revoke_key(node, MARKET, new_key.key_id.hex(), reason="key compromised", now=NOW + 200)
    _unchanged(
        region,
        lambda: issue(node, MARKET_AGENT, MARKET, business_request(), now=NOW + 201),
        AgencyKeyUnusable,
    )
    _unchanged(
        region,
        lambda: revoke_key(node, MARKET, new_key.key_id.hex(), reason="again", now=NOW),
        InvalidInput,
    )
    rotate_key(node, MARKET, now=NOW + 300)
    issue(node, MARKET_AGENT, MARKET, business_request(), now=NOW + 301)


def test_license_names_the_agencys_seal_for_windows_to_show(region: Region) -> None:
    from eseal.seals import create_seal

    node = region.node
    seal = create_seal(
        node,
        HOUSING_AGENT,
        agency_code=HOUSING,
        name="行政审批专用章",
        seal_type="approval",
        image=None,
        now=NOW,
    )
    issued = issue(node, HOUSING_AGENT, HOUSING, worker_request(), now=NOW)
    claims = decode(issued.qr_text).claims
    assert isinstance(claims, LicenseClaims)
    assert claims.body.seal_id == seal.id


def test_license_shows_the_official_seal_never_a_contract_seal(tmp_path: Path) -> None:
    from eseal.seals import create_seal

    fresh = make_region(tmp_path)
    node = fresh.node
    try:

        def seal_of(seal_type: str, name: str, at: int) -> str:
            made = create_seal(
                node,
                MARKET_AGENT,
                agency_code=MARKET,
                name=name,
                seal_type=seal_type,
                image=None,
                now=at,
            )
            return made.id

        def shown(at: int) -> str | None:
            claims = decode(issue(node, MARKET_AGENT, MARKET, business_request(), now=at).qr_text)
            assert isinstance(claims.claims, LicenseClaims)
            return claims.claims.body.seal_id

        seal_of("contract", "合同专用章", NOW)
        assert shown(NOW + 1) is None  # a contract seal is not a license's seal
        approval = seal_of("approval", "行政审批专用章", NOW + 2)
        assert shown(NOW + 3) == approval
        official = seal_of("official", "公章", NOW + 4)  # newer, but the official seal wins
        assert shown(NOW + 5) == official
    finally:
        node.close()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def _png(width: int, height: int, *extra: bytes, pixels: bytes | None = None) -> bytes:
    """A gray PNG of ``width``×``height`` with ``extra`` chunks before its pixel data."""
    rows = pixels if pixels is not None else (b"\0" + b"\x80" * width) * height
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + b"".join(extra)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(b"\xff\xd8\xff\xe0" + bytes(100), id="not-a-png"),
        pytest.param(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 4\n", id="eps"),
        pytest.param(_png(20_000, 20_000, pixels=b""), id="bomb-header"),
        pytest.param(_png(3000, 2000), id="over-4-megapixels"),
        pytest.param(
            _png(10, 10, _png_chunk(b"zTXt", b"k\0\0" + zlib.compress(bytes(2**21)))),
            id="text-chunk-bomb",
        ),
        pytest.param(_png(100, 100, pixels=b""), id="no-pixel-data"),
    ],
)
def test_a_seal_image_must_be_a_whole_small_png(tmp_path: Path, image: bytes) -> None:
    """A seal's image is served to every window: a file that is not a PNG, claims too many
    pixels, inflates a text chunk, or has no pixels to draw is refused, and no seal made."""
    from eseal.seals import create_seal

    fresh = make_region(tmp_path)
    node = fresh.node
    try:
        with pytest.raises(InvalidInput, match="PNG"):
            create_seal(
                node,
                MARKET_AGENT,
                agency_code=MARKET,
                name="公章",
                seal_type="official",
                image=image,
                now=NOW,
            )
        made = create_seal(
            node,
            MARKET_AGENT,
            agency_code=MARKET,
            name="公章",
            seal_type="official",
            image=_png(64, 64),
            now=NOW + 1,
        )
        claims = decode(issue(node, MARKET_AGENT, MARKET, business_request(), now=NOW + 2).qr_text)
        assert isinstance(claims.claims, LicenseClaims)
        assert claims.claims.body.seal_id == made.id  # only the good image made a seal
    finally:
        node.close()


@pytest.mark.parametrize(
    ("where", "written"),
    [
        ("certificate_number", "11010519491231002X"),
        ("certificate_number", "110105 19491231 002x"),
        ("employer", "重庆建工集团（联系人 11010519491231002X）"),
        ("holder", "李四11010519491231002X"),
    ],
)
def test_an_identity_number_in_a_field_or_the_holder_name_is_refused_and_changes_nothing(
    region: Region, where: str, written: str
) -> None:
    """A license shows its holder name and its fields in clear to whoever scans its QR, and
    the node keeps them in its rows: a person's identity number goes only in the holder id,
    masked and hashed. A clerk who writes it in a field (a certificate numbered by the
    holder's identity number, as some are) or after the name is refused, the number not
    echoed, and nothing is issued; the renewal of a license is held to the same rule."""
    node = region.node
    request = worker_request()
    if where == "holder":
        request = dataclasses.replace(request, holder_name=written)
    else:
        request = dataclasses.replace(request, fields={**request.fields, where: written})
    size = node.log.size()
    with pytest.raises(InvalidInput, match="resident identity number") as refused:
        issue(node, HOUSING_AGENT, HOUSING, request, now=NOW)
    assert node.log.size() == size
    said = refused.value.message
    assert "11010519491231002" not in said, said
    assert "19491231" not in said, said
    assert ("holder name" if where == "holder" else f"field {where!r}") in said, said
    issued = issue(node, HOUSING_AGENT, HOUSING, worker_request(), now=NOW)
    if where != "holder":
        size = node.log.size()
        with pytest.raises(InvalidInput, match="resident identity number"):
            renew(node, HOUSING_AGENT, issued.id, now=NOW + 1, fields={where: written})
        assert node.log.size() == size
        assert get_license(node, issued.id).status == "01"


@pytest.mark.parametrize(
    "value", ["渝建安A(2024)0012345", "110105194912310021", "123456789012345678"]
)
def test_a_field_with_digits_that_are_no_identity_number_is_issued(
    region: Region, value: str
) -> None:
    """Eighteen digits that fail an identity number's checks (check character, birth date)
    are an ordinary certificate number."""
    request = worker_request()
    request = dataclasses.replace(request, fields={**request.fields, "certificate_number": value})
    issued = issue(region.node, HOUSING_AGENT, HOUSING, request, now=NOW)
    assert json.loads(get_license(region.node, issued.id).fields)["certificate_number"] == value
