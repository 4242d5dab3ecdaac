"""The verification pipeline against a real node: each failure stops at its own step with
its own status; the status and ledger steps use the node's own (online) answers."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eseal.agencies import Principal, add_agency, revoke_key, rotate_key
from eseal.licenses import change_status, issue, renew
from eseal.seals import SealCreated, create_seal, revoke_seal, stamp
from eseal.trust_export import LocalStatus, build_bundle, export_bundle
from keys.errors import InvalidInput
from tests.eseal.conftest import (
    BUSINESS,
    HOUSING,
    MARKET,
    NOW,
    Region,
    business_request,
    make_region,
    worker_request,
)
from tests.verifier.conftest import fixed_key, traced
from verifier.claims import MAX_TIME, LicenseClaims, StampBody, StampClaims
from verifier.document import decode, encode_license, encode_stamp
from verifier.envelope import json_containers
from verifier.pipeline import (
    StatusAnswer,
    VerifyContext,
    beijing_day,
    covers,
    seal_region,
    status_reason,
    unheld_seal_region,
    verify_text,
)
from verifier.trust import (
    BundleNotPinned,
    MalformedBundle,
    TrustBundle,
    TrustStore,
    open_bundle,
)
from verifier.verdict import (
    CLOCK_BEHIND,
    NO_STATUS,
    STAMP_WHY,
    STATUS_WHY,
    Status,
    Verdict,
    why_text,
)

MARKET_AGENT = Principal("agency", MARKET)
LATER = NOW + 86400


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    r = make_region(tmp_path_factory.mktemp("pipeline"))
    yield r
    r.node.close()


def _ctx(region: Region, *, online: bool = True, now: int = LATER) -> VerifyContext:
    store = TrustStore([build_bundle(region.node, now=now)])
    return VerifyContext(store, now, status=LocalStatus(region.node) if online else None)


def test_valid_license_passes_every_step(region: Region) -> None:
    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    verdict = verify_text(issued.qr_text, _ctx(region))
    assert verdict.status is Status.VALID, verdict.reasons
    assert [c.step for c in verdict.checks] == [
        "decode",
        "issuer",
        "signature",
        "authority",
        "time",
        "status",
        "ledger",
    ]
    assert verdict.colour == "green"
    assert verdict.document["holder"] == "重庆山城小面餐饮有限公司"
    assert verdict.document["type_name"] == "营业执照"
    assert verdict.freshness.ledger_included is True
    assert verdict.issuer["agency_name"] == "重庆市市场监督管理局"


def test_offline_without_status_is_amber(region: Region) -> None:
    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    verdict = verify_text(issued.qr_text, _ctx(region, online=False))
    assert verdict.status is Status.VALID
    assert NO_STATUS in verdict.warnings
    assert verdict.colour == "amber"


@pytest.mark.parametrize(
    ("action", "status"),
    [("revoke", Status.REVOKED), ("suspend", Status.SUSPENDED), ("cancel", Status.CANCELLED)],
)
def test_status_changes_are_seen_online(region: Region, action: str, status: Status) -> None:
    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    reason = "以欺骗手段取得登记，\n依法处理"  # a line break from a form: shown as one line
    change_status(region.node, MARKET_AGENT, issued.id, action, reason=reason, now=NOW + 1)
    verdict = verify_text(issued.qr_text, _ctx(region))
    assert verdict.status is status
    assert verdict.checks[-1].step == "status"
    # The window tells the clerk when and why (public in the ledger's status entry).
    assert verdict.freshness.status_reason == "以欺骗手段取得登记， 依法处理"
    assert verdict.freshness.status_since == NOW + 1
    assert verdict.reasons[0].endswith(": 以欺骗手段取得登记， 依法处理")
    assert verdict.to_json()["freshness"]["status_since"] == NOW + 1


def test_a_renewed_license_names_its_successor(region: Region) -> None:
    old = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    new = renew(region.node, MARKET_AGENT, old.id, now=NOW + 5)
    verdict = verify_text(old.qr_text, _ctx(region))
    assert verdict.status is Status.LAPSED
    assert verdict.freshness.replaced_by == new.id
    # The reason names it ("renewed as …", as the ledger's lapse entry), once.
    assert verdict.reasons[0].endswith(f": renewed as {new.id}")
    assert verdict.reasons[0].count(new.id) == 1
    assert verify_text(new.qr_text, _ctx(region)).freshness.replaced_by is None


def test_a_transferred_license_names_the_license_that_replaces_it(region: Region) -> None:
    old = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    new = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    change_status(
        region.node, MARKET_AGENT, old.id, "transfer", reason="合并登记", to=new.id, now=NOW + 5
    )
    verdict = verify_text(old.qr_text, _ctx(region))
    assert verdict.status is Status.TRANSFERRED
    assert verdict.freshness.replaced_by == new.id
    assert verdict.to_json()["freshness"]["replaced_by"] == new.id
    assert verdict.reasons[0].endswith(f": 合并登记; replaced by {new.id}")
    assert verify_text(new.qr_text, _ctx(region)).freshness.replaced_by is None


def test_status_reason_is_plain_text_or_nothing() -> None:
    assert status_reason("  依法\t撤销 ") == "依法 撤销"
    for bad in (None, 7, "", "   ", "\x1b[31mred", "x" * 257, "a\u202eb"):
        assert status_reason(bad) is None, bad


def test_one_status_reader_sees_every_change_and_reports_the_head(region: Region) -> None:
    """The node keeps one LocalStatus (and on SQLite one connection per thread) for all
    requests: a change committed after its first read is seen by the next, from this
    thread and from another, and the checkpoint size is the ledger's head."""
    status = LocalStatus(region.node)
    store = TrustStore([build_bundle(region.node, now=LATER)])
    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)

    def verdict() -> Verdict:
        return verify_text(issued.qr_text, VerifyContext(store, LATER, status=status))

    first = verdict()
    assert first.status is Status.VALID
    assert first.freshness.checkpoint_size == region.node.log.size()
    change_status(region.node, MARKET_AGENT, issued.id, "suspend", reason="x", now=NOW + 1)
    assert verdict().status is Status.SUSPENDED
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(verdict).result().status is Status.SUSPENDED
    change_status(region.node, MARKET_AGENT, issued.id, "reinstate", reason="x", now=NOW + 2)
    again = verdict()
    assert again.status is Status.VALID
    assert (
        again.freshness.checkpoint_size == region.node.log.size() > first.freshness.checkpoint_size
    )


def test_a_default_validity_verifies_all_of_its_last_day(region: Region) -> None:
    """A worker certificate issued at 19:06:40 Beijing time with the type's 730 days shows
    "valid until 2028-11-17" and is valid all that evening; expired the next morning."""
    worker = issue(region.node, Principal("agency", HOUSING), HOUSING, worker_request(), now=NOW)
    cst = timezone(timedelta(hours=8))
    late_evening = int(datetime(2028, 11, 17, 23, 0, tzinfo=cst).timestamp())
    verdict = verify_text(worker.qr_text, _ctx(region, now=late_evening))
    assert verdict.status is Status.VALID, verdict.reasons
    assert verdict.document["valid_until"] == "2028-11-17"
    next_morning = int(datetime(2028, 11, 18, 0, 10, tzinfo=cst).timestamp())
    verdict = verify_text(worker.qr_text, _ctx(region, now=next_morning))
    assert verdict.status is Status.EXPIRED
    assert verdict.reasons == ["expired on 2028-11-17"]


def test_tampered_and_foreign_documents(region: Region) -> None:
    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    text = issued.qr_text
    assert verify_text(text[:-3], _ctx(region)).status in {Status.MALFORMED, Status.BAD_SIGNATURE}
    assert verify_text("https://example.com/", _ctx(region)).status is Status.UNSUPPORTED
    assert verify_text("EL1:" + "A" * 30, _ctx(region)).status is Status.MALFORMED
    empty = VerifyContext(TrustStore(), LATER)
    verdict = verify_text(text, empty)
    assert verdict.status is Status.UNKNOWN_ISSUER
    assert "a license of region 500000 (regions trusted: none)" in verdict.reasons[0]


def test_a_document_newer_than_the_bundle_says_a_newer_bundle_may_know_its_key(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    r = make_region(tmp_path_factory.mktemp("newer"))
    try:
        store = TrustStore([build_bundle(r.node, now=NOW)])  # before the new key
        rotate_key(r.node, MARKET, now=NOW + 10)
        issued = issue(r.node, MARKET_AGENT, MARKET, business_request(), now=NOW + 86400)
        verdict = verify_text(issued.qr_text, VerifyContext(store, NOW + 86400))
        assert verdict.status is Status.UNKNOWN_ISSUER
        assert "after the newest trust bundle" in verdict.reasons[0], verdict.reasons
    finally:
        r.node.close()


def test_time_window_and_clock_behind(region: Region) -> None:
    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    late = _ctx(region, now=NOW + 40 * 365 * 86400)
    early = _ctx(region, now=NOW - 86400)
    worker = issue(region.node, Principal("agency", HOUSING), HOUSING, worker_request(), now=NOW)
    assert verify_text(worker.qr_text, late).status is Status.EXPIRED
    assert verify_text(issued.qr_text, early).status is Status.NOT_YET_VALID
    ctx = _ctx(region)
    ctx.newest_seen = {"500000": LATER + 3600}
    verdict = verify_text(issued.qr_text, ctx)
    assert verdict.status is Status.VALID
    assert CLOCK_BEHIND in verdict.warnings
    # A clock behind the signed times is checked at the newest of them: a license issued
    # before it is in effect (amber, not red), one that has expired by then is expired.
    early.newest_seen = {"500000": NOW + 60}
    verdict = verify_text(issued.qr_text, early)
    assert (verdict.status, verdict.warnings) == (Status.VALID, [CLOCK_BEHIND])
    assert verify_text(worker.qr_text, early).status is Status.VALID
    late.now, late.newest_seen = NOW, {"500000": NOW + 40 * 365 * 86400}
    verdict = verify_text(worker.qr_text, late)
    assert (verdict.status, verdict.warnings[:1]) == (Status.EXPIRED, [CLOCK_BEHIND])
    # Expired only at the region's signed time, not at this clock's: the reason says why.
    assert "clock is behind" in verdict.reasons[0], verdict.reasons
    # Not in effect even then: red still, and the reason says the clock is behind.
    early.newest_seen = {"500000": NOW - 600}
    verdict = verify_text(issued.qr_text, early)
    assert verdict.status is Status.NOT_YET_VALID
    assert "clock is behind" in verdict.reasons[0]
    # Another region's signed time has no say: its clock may run ahead of this one's.
    late.newest_seen = {"110000": NOW + 40 * 365 * 86400}
    verdict = verify_text(worker.qr_text, late)
    assert (verdict.status, CLOCK_BEHIND in verdict.warnings) == (Status.VALID, False)


def test_revoked_key_invalidates_what_it_signed(tmp_path_factory: pytest.TempPathFactory) -> None:
    r = make_region(tmp_path_factory.mktemp("keys"))
    try:
        node = r.node
        before = issue(node, MARKET_AGENT, MARKET, business_request(), now=NOW)
        rotated = rotate_key(node, MARKET, now=NOW + 10)
        assert verify_text(before.qr_text, _ctx(r)).status is Status.VALID
        after = issue(node, MARKET_AGENT, MARKET, business_request(), now=NOW + 20)
        revoke_key(node, MARKET, rotated.key_id.hex(), reason="compromised", now=NOW + 30)
        assert verify_text(after.qr_text, _ctx(r)).status is Status.KEY_REVOKED
        assert verify_text(before.qr_text, _ctx(r)).status is Status.VALID
    finally:
        r.node.close()


def test_dates_are_beijing_days_and_fields_follow_the_catalogue(region: Region) -> None:
    at = (NOW // 86400 + 1) * 86400 + 17 * 3600  # 17:00 UTC: 01:00 the next day in Beijing
    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=at)
    verdict = verify_text(issued.qr_text, _ctx(region, now=at + 60))
    assert verdict.status is Status.VALID, verdict.reasons
    beijing = datetime.fromtimestamp(at, timezone(timedelta(hours=8))).date().isoformat()
    assert beijing != datetime.fromtimestamp(at, UTC).date().isoformat()
    assert verdict.document["issued"] == beijing
    # The catalogue's order (that of the printed license), not the QR's CBOR key order.
    assert [f["name"] for f in verdict.document["fields"]] == [
        "company_type",
        "legal_representative",
        "established",
        "address",
        "business_scope",
    ]
    assert verdict.document["fields"][0]["label"] == "类型"
    assert (verdict.document["type_name"], verdict.document["type_name_en"]) == (
        "营业执照",
        "Business licence",
    )


def test_the_last_second_a_claim_may_hold_is_a_day_too(license_claims: LicenseClaims) -> None:
    """9999-12-31T23:59:59Z, the latest time a claim may hold, is 10000-01-01 in Beijing:
    past Python's dates, yet a verdict names it (it used to crash the verdict)."""
    assert beijing_day(MAX_TIME) == "10000-01-01"
    assert beijing_day(MAX_TIME - 8 * 3600) == "9999-12-31"
    assert beijing_day(MAX_TIME - 8 * 3600 + 1) == "10000-01-01"
    assert beijing_day(0) == "1970-01-01"
    late = dataclasses.replace(license_claims, issued_at=MAX_TIME, expires=MAX_TIME)
    text = encode_license(late, fixed_key("someone"))
    verdict = verify_text(text, VerifyContext(TrustStore(), NOW))
    assert verdict.status is Status.UNKNOWN_ISSUER
    assert (verdict.document["issued"], verdict.document["valid_until"]) == (
        "10000-01-01",
        "10000-01-01",
    )


#: 400 Gregorian years in seconds: the calendar, and so a day's name, repeats after them.
CYCLE_SECONDS = 146_097 * 86400


@given(st.integers(0, 2**63 - 1 - CYCLE_SECONDS))
def test_a_day_is_named_at_once_however_late(ts: int) -> None:
    """Found by review: days past Python's dates were named by stepping back 400 years at a
    time, a loop of 730 million steps (minutes) for the times a key statement may hold
    (up to 2^63 - 1). Named at once, 400 years later is the same day of a year 400 on."""
    year, _, rest = beijing_day(ts).partition("-")  # type: ignore[union-attr]
    assert beijing_day(ts + CYCLE_SECONDS) == f"{int(year) + 400:04d}-{rest}"


def test_a_key_statement_of_absurd_times_is_reported_at_once(region: Region) -> None:
    """A region's root may certify a key valid from the year 146 billion (a hostile or
    broken region): a license signed before that is refused, and the reason names both
    dates without the window hanging over them."""
    from keys.statements import KeyStatement, Role, certify

    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    bundle = build_bundle(region.node, now=LATER)
    kid = decode(issued.qr_text).kid
    agency = next(a for a in bundle.agencies if a.code == MARKET)
    key = next(k for k in agency.keys if k.key_id == kid)
    statement = KeyStatement(
        role=Role.AGENCY,
        subject=MARKET,
        public_key=key.public_key,
        scope=(BUSINESS,),
        not_before=2**62,
        not_after=2**63 - 1,
        issued_at=NOW,
    )
    absurd = dataclasses.replace(key, statement=certify(region.node.require_root_key(), statement))
    hostile = dataclasses.replace(
        bundle,
        agencies=tuple(
            dataclasses.replace(a, keys=(absurd,)) if a is agency else a for a in bundle.agencies
        ),
    )
    started = time.monotonic()
    verdict = verify_text(issued.qr_text, VerifyContext(TrustStore([hostile]), LATER))
    assert time.monotonic() - started < 5
    assert verdict.status is Status.ISSUER_NOT_AUTHORISED
    assert "146138514283-06-19 to 292277026596-12-04" in verdict.reasons[0]


def test_a_license_is_described_by_its_own_regions_bundle(region: Region) -> None:
    """Found by review: a window holding two regions' bundles took a license type's name and
    field labels from whichever bundle listed the type first, so region A's bundle could
    rename region B's licenses ("no check needed") and relabel their fields."""
    from verifier.trust import LicenseTypeInfo

    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    own = build_bundle(region.node, now=LATER)
    hostile = dataclasses.replace(
        own,
        region="110000",
        name="北京市",
        agencies=(),
        seals=(),
        license_types=(LicenseTypeInfo(BUSINESS, "免检证照", {"business_scope": "无需核验"}),),
    )
    for bundles in ([hostile, own], [own, hostile]):
        verdict = verify_text(issued.qr_text, VerifyContext(TrustStore(bundles), LATER))
        assert verdict.status is Status.VALID, verdict.reasons
        assert verdict.document["type_name"] == "营业执照"
        labels = {f["name"]: f["label"] for f in verdict.document["fields"]}
        assert labels["business_scope"] == "经营范围"
    # A license of a region held by no bundle (not valid) is described as any bundle can.
    alone = verify_text(issued.qr_text, VerifyContext(TrustStore([hostile]), LATER))
    assert alone.status is Status.UNKNOWN_ISSUER
    assert alone.document["type_name"] == "免检证照"


def test_names_that_could_drive_a_terminal_are_refused(region: Region) -> None:
    """Bundle text is shown in terminals and on the window: no control or format characters,
    neither when an agency or seal is registered nor in a bundle from elsewhere."""

    for bad in ("重庆\x1b[2K✔ 有效", "甲\u202e乙", "a\nb"):
        with pytest.raises(InvalidInput, match="printable"):
            add_agency(region.node, code=HOUSING, name=bad, types=["x"], now=NOW)
        with pytest.raises(InvalidInput, match="printable"):
            create_seal(
                region.node,
                MARKET_AGENT,
                agency_code=MARKET,
                name=bad[:16],
                seal_type="official",
                image=None,
                now=NOW,
            )
        raw = build_bundle(region.node, now=LATER).to_json()
        raw["agencies"][0]["name"] = bad
        with pytest.raises(MalformedBundle, match="printable"):
            TrustBundle.from_json(raw)


def test_displayable_takes_real_names_and_refuses_what_rewrites_a_line() -> None:
    from verifier.trust import displayable

    for good in ("重庆市\u3000市场监督管理局", "A\u00a0B", "\U00031350", "\ue000", "𠀋"):
        assert displayable(good), repr(good)
    for bad in ("\x1b[2K", "a\nb", "a\u2028b", "\u202e", "\u200b", "\ud800"):
        assert not displayable(bad), repr(bad)


def test_a_failing_status_source_names_its_step(region: Region) -> None:
    """A status source failing in a way no step anticipated: MALFORMED, and the failed
    check is the status step's (the window marks that one, not a skipped one)."""

    class Broken:
        def license_status(self, bundle: object, doc: object) -> StatusAnswer:
            raise InvalidInput("the status source is broken")

        def seal_status(self, bundle: object, seal_id: str) -> None:
            return None

    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    store = TrustStore([build_bundle(region.node, now=LATER)])
    verdict = verify_text(issued.qr_text, VerifyContext(store, LATER, status=Broken()))
    assert verdict.status is Status.MALFORMED
    assert (verdict.checks[-1].step, verdict.checks[-1].ok) == ("status", False)


def test_bundle_field_order_is_optional_and_strict(region: Region) -> None:
    raw = build_bundle(region.node, now=LATER).to_json()
    for t in raw["license_types"]:
        del t["fields"]  # a bundle written before the order travelled: still read
    assert all(t.fields == () for t in TrustBundle.from_json(raw).license_types)
    for bad in ("company_type", [1, 2], ["x"] * 65):
        raw["license_types"][0]["fields"] = bad
        with pytest.raises(MalformedBundle):
            TrustBundle.from_json(raw)


def test_key_times_in_a_bundle_are_unix_times(region: Region) -> None:
    """A key's retired_at and revoked_at are compared with a license's iat: anything but a
    Unix time (a date string, a float, a negative number) is a malformed bundle, not a
    crash in the pipeline later."""
    raw = build_bundle(region.node, now=LATER).to_json()
    key = raw["agencies"][0]["keys"][0]
    for field in ("retired_at", "revoked_at"):
        for bad in ("2024-01-01", 1.5, -1, MAX_TIME + 1, True):
            key[field] = bad
            with pytest.raises(MalformedBundle, match=field):
                TrustBundle.from_json(raw)
        key[field] = NOW
        assert TrustBundle.from_json(raw).agencies[0].keys[0] is not None
        del key[field]


def test_the_bundle_time_is_a_unix_time(region: Region) -> None:
    """Found by review: issued_at was read with int(), which took a float, a bool or a
    string of digits, and any size: 10^30, signed by a root, hung the window naming the
    day its clock was behind."""
    raw = build_bundle(region.node, now=LATER).to_json()
    for bad in ("1795086400", 1795086400.5, True, -1, MAX_TIME + 1, 10**30, None):
        raw["issued_at"] = bad
        with pytest.raises(MalformedBundle, match="issued_at"):
            TrustBundle.from_json(raw)
    raw["issued_at"] = LATER
    assert TrustBundle.from_json(raw).issued_at == LATER


def test_the_bundle_region_is_a_region_code(region: Region) -> None:
    """A bundle's region is the six digits its licenses name (nothing else could ever
    vouch for one): anything else is refused when the bundle is read."""
    raw = build_bundle(region.node, now=LATER).to_json()
    for bad in ("50000", "5000000", "５０００００", "500000\n", 500000, None):
        raw["region"] = bad
        with pytest.raises(MalformedBundle, match="GB/T 2260"):
            TrustBundle.from_json(raw)
    raw["region"] = "500000"
    assert TrustBundle.from_json(raw).region == "500000"


def _contract_seal(region: Region) -> SealCreated:
    """The market bureau's contract seal (合同专用章), created on ``region``'s node."""
    return create_seal(
        region.node,
        MARKET_AGENT,
        agency_code=MARKET,
        name="合同专用章",
        seal_type="contract",
        image=None,
        now=NOW,
    )


def test_a_key_is_listed_under_whom_its_statement_certifies(region: Region) -> None:
    """Found by review: a bundle listing an agency's key under another agency (or a seal's
    key under another seal id) was taken as listed, so the listing, not the root's
    certificate of the key, said whose documents it signs. Such a bundle is refused."""
    _contract_seal(region)
    raw = build_bundle(region.node, now=LATER).to_json()
    assert TrustBundle.from_json(raw).seals  # as the node lists them: accepted
    market = next(a for a in raw["agencies"] if a["code"] == MARKET)
    other = next(a for a in raw["agencies"] if a["code"] != MARKET and a["keys"])
    market["keys"], other["keys"] = other["keys"], market["keys"]
    with pytest.raises(MalformedBundle, match=r"listed under agency '\d+\w*' but certified for"):
        TrustBundle.from_json(raw)
    market["keys"], other["keys"] = other["keys"], market["keys"]
    raw["seals"][0]["id"] += "-2"
    with pytest.raises(MalformedBundle, match=r"listed under seal '.*' but certified for"):
        TrustBundle.from_json(raw)


def test_a_region_vouches_only_for_its_provinces_agencies_and_the_central_ones(
    tmp_path: Path,
) -> None:
    """Found by review: region A's bundle could list an agency (and its seals) of region B:
    a stamp names no region, so A's key then sealed documents as B's agency. An agency's
    credit code says where it was registered; a bundle listing one of another province
    is refused, and a node registers no such agency."""
    from eseal.agencies import AgencyOfAnotherRegion
    from eseal.ids import credit_code_check_char

    region = make_region(tmp_path)  # its own: an agency is added
    try:
        central = "11100000MB0327169" + credit_code_check_char("11100000MB0327169")
        add_agency(
            region.node, code=central, name="国家市场监督管理总局", types=[BUSINESS], now=NOW
        )
        beijing = "11110000MB0123456" + credit_code_check_char("11110000MB0123456")
        with pytest.raises(AgencyOfAnotherRegion, match="region 110000"):
            add_agency(
                region.node, code=beijing, name="北京市市场监督管理局", types=[BUSINESS], now=NOW
            )
        _contract_seal(region)
        raw = build_bundle(region.node, now=LATER).to_json()
        opened = TrustBundle.from_json(raw)  # its own and a central agency: accepted
        assert central in {a.code for a in opened.agencies}
        raw["seals"][0]["agency_code"] = beijing
        with pytest.raises(MalformedBundle, match=f"agency '{beijing}' is not of region 500000"):
            TrustBundle.from_json(raw)
        raw["seals"][0]["agency_code"] = MARKET
        next(a for a in raw["agencies"] if a["code"] == central)["code"] = beijing
        with pytest.raises(MalformedBundle, match=f"agency '{beijing}' is not of region 500000"):
            TrustBundle.from_json(raw)
    finally:
        region.node.close()


def test_an_agency_of_another_province_registered_before_is_left_out_of_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A node that registered another province's agency before nodes refused one leaves it
    (and its seals) out of its bundle, with a warning, once: windows would refuse the
    whole bundle, and the node's own verdicts agree with theirs (unknown issuer)."""
    import eseal.agencies
    import eseal.trust_export
    from eseal.ids import credit_code_check_char

    monkeypatch.setattr(eseal.trust_export, "_left_out", set())  # warned once a process
    region = make_region(tmp_path)
    try:
        beijing = "11110000MB0123457" + credit_code_check_char("11110000MB0123457")
        with monkeypatch.context() as patched:
            patched.setattr(eseal.agencies, "agency_of_region", lambda code, region: True)
            add_agency(region.node, code=beijing, name="北京某局", types=[BUSINESS], now=NOW)
        with pytest.raises(eseal.agencies.AgencyExists):  # registered is what it is
            add_agency(region.node, code=beijing, name="北京某局", types=[BUSINESS], now=NOW)
        agent = Principal("agency", beijing)
        create_seal(
            region.node, agent, agency_code=beijing, name="公章", seal_type="official",
            image=None, now=NOW,
        )  # fmt: skip
        issued = issue(region.node, agent, beijing, business_request(), now=NOW)
        with caplog.at_level("WARNING", logger="eseal.trust_export"):
            bundle = open_bundle(export_bundle(region.node, now=LATER))  # windows accept it
            build_bundle(region.node, now=LATER)
        assert beijing not in {a.code for a in bundle.agencies}
        assert beijing not in {s.agency_code for s in bundle.seals}
        assert {a.code for a in bundle.agencies} == {MARKET, HOUSING}
        said = [r.getMessage() for r in caplog.records if beijing in r.getMessage()]
        assert len(said) == 1, said
        assert "left out of the trust bundle" in said[0]
        verdict = verify_text(issued.qr_text, VerifyContext(TrustStore([bundle]), LATER))
        assert verdict.status is Status.UNKNOWN_ISSUER
    finally:
        region.node.close()


def test_seal_stamp_matches_only_its_document(region: Region) -> None:
    seal = _contract_seal(region)
    doc = b"contract text"
    stamped = stamp(
        region.node, MARKET_AGENT, seal.id, document=doc, document_name="c.txt", now=NOW
    )
    ok = verify_text(stamped.qr_text, _ctx(region), document=doc)
    assert ok.status is Status.VALID, ok.reasons
    assert ok.document["seal_name"] == "合同专用章"
    time_check = next(c for c in ok.checks if c.step == "time")
    assert time_check.detail.startswith("stamped on ")  # a stamp has no "valid until"
    bad = verify_text(stamped.qr_text, _ctx(region), document=b"contract text!")
    assert bad.status is Status.DOCUMENT_MISMATCH
    # The failed check is the document's (a stamp has no ledger step to blame it on).
    assert [c.step for c in bad.checks if not c.ok] == ["document"]
    assert [c.step for c in bad.checks if c.ok][-1] == "status"
    revoke_seal(region.node, MARKET_AGENT, seal.id, reason="lost", now=NOW + 5)
    assert verify_text(stamped.qr_text, _ctx(region), document=doc).status is Status.REVOKED


def test_a_stamp_of_a_seal_unknown_here_names_its_agencys_region(region: Region) -> None:
    """A stamp names no region; its seal's agency names one by its credit code (positions
    3-8): a window none of whose bundles covers that region lacks the seal's list, and is
    told so, where it could only say "possibly forged". A window holding the region's
    bundle (its province's, or a city's holding the agency's county) does not."""
    seal = _contract_seal(region)
    stamped = stamp(region.node, MARKET_AGENT, seal.id, document=b"x", document_name="x", now=NOW)
    verdict = verify_text(stamped.qr_text, VerifyContext(TrustStore(), LATER))
    assert verdict.status is Status.UNKNOWN_ISSUER
    assert verdict.document["agency_code"] == MARKET
    assert "a seal of an agency of region 500000 (regions trusted: none)" in verdict.reasons[0]
    assert unheld_seal_region(verdict, []) == "500000"
    assert unheld_seal_region(verdict, ["110000", "500100"]) == "500000"
    assert unheld_seal_region(verdict, ["500000"]) is None
    valid = verify_text(stamped.qr_text, _ctx(region))
    assert valid.document["agency_code"] == MARKET
    assert unheld_seal_region(valid, []) is None  # known: no region to name
    assert covers("440000", "440305")
    assert covers("440300", "440305")
    assert covers("440305", "440305")
    assert not covers("440300", "440100")
    assert not covers("440305", "440300")
    assert verdict.document["agency_region"] == "500000"


def test_a_stamp_names_a_region_only_by_a_code_an_agency_could_have() -> None:
    """A stamp whose seal is unknown is what its maker says: positions 3-8 of a code whose
    check character fails, or that name no province (nor the central government), are of
    no agency any region lists, and name no region; its seal may be forged, and the
    reason says nothing of another region."""
    assert seal_region("11110000MB01234562") == "110000"
    assert seal_region("111000000000PH001J") == "100000"  # the central government's
    assert seal_region("11110000MB01234563") is None  # its check character fails
    assert seal_region("11990000MB0123456Q") is None  # province 99: none
    assert seal_region("11000000MB01234567") is None  # 000000: no region
    assert seal_region("1111000") is None
    for agency in ("11110000MB01234563", "11990000MB0123456Q"):
        seal = f"{agency}.0123456789AB"
        body = StampBody(seal, bytes(32), "x.txt", 1)
        claims = StampClaims(agency, NOW, NOW, f"{seal}.1", body)
        qr = encode_stamp(claims, fixed_key("unknown seal"))
        verdict = verify_text(qr, VerifyContext(TrustStore(), LATER))
        assert verdict.status is Status.UNKNOWN_ISSUER
        assert verdict.document["agency_code"] == agency
        assert verdict.document["agency_region"] is None
        assert unheld_seal_region(verdict, ["500000"]) is None
        assert "a seal of an agency of region" not in verdict.reasons[0]


def test_bundle_is_signed_and_pinned(region: Region) -> None:
    data = export_bundle(region.node, now=LATER)
    bundle = open_bundle(data, pinned_root_key_id=region.node.root_key_id)
    assert bundle.region == "500000"
    assert {a.code for a in bundle.agencies} == {MARKET, HOUSING}
    business = next(t for t in bundle.license_types if t.code == BUSINESS)
    assert business.fields[:2] == ("company_type", "legal_representative")  # catalogue order
    assert set(business.fields) == set(business.labels)
    with pytest.raises(BundleNotPinned):
        open_bundle(data, pinned_root_key_id=bytes(8))
    forged = data.replace(b'"payload":"', b'"payload":"e', 1)
    with pytest.raises(Exception):  # noqa: B017, PT011 (malformed or unsigned, both refused)
        open_bundle(forged)


def test_a_bundle_payload_is_bounded_before_it_is_parsed(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: MAX_BUNDLE was declared and never checked, so a bundle's payload,
    parsed before its signature is checked, could be as large as the envelope allows."""
    import verifier.trust
    from verifier.envelope import read_envelope

    data = export_bundle(region.node, now=LATER)
    assert open_bundle(data).region == "500000"
    size = len(read_envelope(data, verifier.trust.BUNDLE_TYPE)[0])
    monkeypatch.setattr(verifier.trust, "MAX_BUNDLE", size - 1)
    with pytest.raises(MalformedBundle, match=f"{size} bytes exceeds {size - 1}"):
        open_bundle(data)
    # Nor does a node sign one that windows would refuse (seal images take the room).
    with pytest.raises(verifier.trust.BundleTooLarge, match="over the 0 MiB windows accept"):
        export_bundle(region.node, now=LATER)
    monkeypatch.setattr(verifier.trust, "MAX_BUNDLE", size)
    assert open_bundle(export_bundle(region.node, now=LATER)).region == "500000"


def test_a_bundle_of_empty_lists_is_refused_before_it_is_parsed(region: Region) -> None:
    """A bundle is parsed before its root's signature can be checked (the root key is in
    it), and even a signed one need not be sane: megabytes of empty lists parse to
    gigabytes. Its objects and lists are counted first."""
    import nacl.signing

    import verifier.trust
    from verifier.envelope import read_envelope, seal_envelope

    data = export_bundle(region.node, now=LATER)
    payload = read_envelope(data, verifier.trust.BUNDLE_TYPE)[0]
    held = json_containers(payload)
    assert 10 < held < 1000  # a real bundle holds a few per agency, key and type
    bomb = b"[" + b"[]," * 2_000_000 + b"[]]"
    key = nacl.signing.SigningKey.generate()
    with (
        traced() as peak,
        pytest.raises(MalformedBundle, match="more than 1,000,000 objects and lists"),
    ):
        open_bundle(seal_envelope(verifier.trust.BUNDLE_TYPE, bomb, key))
    assert peak.bytes < 8 * len(bomb)  # the file and its payload, not two million lists


def test_a_node_signs_no_bundle_windows_would_refuse_for_its_objects_and_lists(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows count a bundle's brackets (in its names too) before they parse it: a node
    refuses to sign one over that count, as it does one over MAX_BUNDLE."""
    import verifier.trust
    from verifier.envelope import read_envelope

    payload = read_envelope(export_bundle(region.node, now=LATER), verifier.trust.BUNDLE_TYPE)[0]
    held = json_containers(payload)
    monkeypatch.setattr(verifier.trust, "MAX_BUNDLE_CONTAINERS", held - 1)
    with pytest.raises(verifier.trust.BundleTooLarge, match="objects and lists"):
        export_bundle(region.node, now=LATER)
    monkeypatch.setattr(verifier.trust, "MAX_BUNDLE_CONTAINERS", held)
    assert open_bundle(export_bundle(region.node, now=LATER)).region == "500000"


def test_a_bundle_payload_reads_one_way(region: Region) -> None:
    """Found by review: a signed payload with a repeated key ({"region": "110000", …,
    "region": "500000"}) or in UTF-16 was read, last key winning; another verifier may read
    the first, or refuse (as it refuses NaN, which Python's json takes). What a root signed
    must read one way."""
    import json

    from verifier.envelope import seal_envelope
    from verifier.trust import BUNDLE_TYPE

    raw = json.dumps(build_bundle(region.node, now=LATER).to_json(), ensure_ascii=False)
    root = region.node.require_root_key()
    assert open_bundle(seal_envelope(BUNDLE_TYPE, raw.encode(), root)).region == "500000"
    refused = {
        "is not JSON (duplicate key 'region')": ('{"region": "110000", ' + raw[1:]).encode(),
        "is not UTF-8": raw.encode("utf-16"),
        "is not JSON (NaN is not a JSON number)": ('{"nan": NaN, ' + raw[1:]).encode(),
    }
    for why, payload in refused.items():
        with pytest.raises(MalformedBundle, match=re.escape(f"the trust bundle payload {why}")):
            open_bundle(seal_envelope(BUNDLE_TYPE, payload, root))


def test_every_key_with_the_kid_is_tried(region: Region, monkeypatch: pytest.MonkeyPatch) -> None:
    """Key ids are 8 bytes, so two keys may share one: the signature step tries each key
    listed under the kid, and only a key whose signature verifies is used."""
    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    store = TrustStore([build_bundle(region.node, now=LATER)])
    kid = decode(issued.qr_text).kid
    real = store.signers(kid)
    assert len(real) == 1
    other_key = next(
        s.key
        for k in store._by_kid
        for s in store.signers(k)
        if s.key.public_key != real[0].key.public_key
    )
    impostor = dataclasses.replace(real[0], key=other_key)  # same agency and kid, other key
    monkeypatch.setitem(store._by_kid, kid, [impostor, real[0]])
    verdict = verify_text(issued.qr_text, VerifyContext(store, LATER))
    assert verdict.status is Status.VALID, verdict.reasons
    assert verdict.checks[1].detail.startswith("2 trusted key(s)")
    monkeypatch.setitem(store._by_kid, kid, [impostor])
    assert verify_text(issued.qr_text, VerifyContext(store, LATER)).status is Status.BAD_SIGNATURE


def test_every_status_but_valid_says_why_chinese_first() -> None:
    """The CLI's summary says why a verdict is red in the clerk's words: every red status
    has its words, a stamp its own where a license's would be wrong, Chinese first."""
    assert set(STATUS_WHY) == set(Status) - {Status.VALID}
    assert why_text(Status.VALID, "license") is None
    for status in Status:
        for kind in ("license", "stamp"):
            said = why_text(status, kind)
            if said is not None:
                assert "\u4e00" <= said[0] <= "\u9fff", said
    assert why_text(Status.REVOKED, "stamp") == STAMP_WHY[Status.REVOKED]
    assert "印章" in STAMP_WHY[Status.REVOKED]
    assert "证照" in STATUS_WHY[Status.REVOKED]
    # A stamp dated ahead of now: said so, where "盖章时间尚未到" left the clerk guessing.
    assert STAMP_WHY[Status.NOT_YET_VALID].startswith("盖章时间晚于当前时间，盖章尚未生效")


def _with_a_copy_elsewhere(bundle: TrustBundle) -> list[tuple[TrustBundle, TrustBundle]]:
    """``bundle`` and a bundle of another region (110000) listing the same keys (a central
    agency's seal several regions list, or one region's stale copy), in both orders."""
    elsewhere = dataclasses.replace(bundle, region="110000")
    return [(elsewhere, bundle), (bundle, elsewhere)]


def test_a_license_is_checked_against_its_own_regions_listing_of_a_shared_key(
    region: Region,
) -> None:
    """Found by review: with two bundles listing the license's key, the first in the store
    signed for it, so a license of 500000 checked with 110000's listing first was
    ISSUER_NOT_AUTHORISED ("license says region 500000, key is of 110000") though 500000's
    bundle holds its key. The license's own region's listing is tried first, in any order."""
    issued = issue(region.node, MARKET_AGENT, MARKET, business_request(), now=NOW)
    for bundles in _with_a_copy_elsewhere(build_bundle(region.node, now=LATER)):
        store = TrustStore(bundles)
        assert len(store.signers(decode(issued.qr_text).kid)) == 2
        verdict = verify_text(issued.qr_text, VerifyContext(store, LATER))
        assert verdict.status is Status.VALID, (bundles[0].region, verdict.reasons)
        assert verdict.issuer["region"] == "500000"
        assert verdict.checks[1].detail.startswith("2 trusted key(s)")


def test_a_seal_revoked_by_its_own_region_is_revoked_whatever_another_region_lists(
    region: Region,
) -> None:
    """Found by review: a stamp's seal listed by two bundles was judged by the first in the
    store: revoked by its own region (its agency's, 500000) but still active in another's
    copy (110000) listed first, its stamp was VALID. The seal's own region's listing is
    tried first, so its revocation stands in either order."""
    seal = create_seal(
        region.node,
        MARKET_AGENT,
        agency_code=MARKET,
        name="合同专用章（共用）",
        seal_type="contract",
        image=None,
        now=NOW,
    )
    stamped = stamp(region.node, MARKET_AGENT, seal.id, document=b"d", document_name="d", now=NOW)
    before = build_bundle(region.node, now=NOW + 2)
    revoke_seal(region.node, MARKET_AGENT, seal.id, reason="lost", now=NOW + 5)
    after = build_bundle(region.node, now=LATER)
    stale = dataclasses.replace(before, region="110000")  # another region's copy, active
    for bundles in [(stale, after), (after, stale)]:
        verdict = verify_text(stamped.qr_text, VerifyContext(TrustStore(bundles), LATER))
        assert verdict.status is Status.REVOKED, (bundles[0].region, verdict.reasons)
        assert verdict.issuer["region"] == "500000"
    # The other way round: its own region's listing speaks, not whichever comes first.
    elsewhere = dataclasses.replace(after, region="110000")  # revoked in that copy
    for bundles in [(elsewhere, before), (before, elsewhere)]:
        verdict = verify_text(stamped.qr_text, VerifyContext(TrustStore(bundles), LATER))
        assert verdict.status is Status.VALID, (bundles[0].region, verdict.reasons)
        assert verdict.issuer["region"] == "500000"
