"""A transfer out (转出, status 06) names the license that replaces it: checked for form
(and, of this region, for being issued here; recorded here, for being in force), recorded in
its ledger entry (``to``) and answered as ``replaced_by``; required of a transfer and refused
on the other changes, from the core, the HTTP API and the command line alike; the ledger
still audits clean."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eseal.agencies import Principal, add_agency, deactivate_agency
from eseal.api.app import create_app
from eseal.ids import InvalidLicenseId, make_license_id
from eseal.licenses import (
    DAY,
    NewLicenseNotInForce,
    UnknownNewLicense,
    change_status,
    day_end,
    get_license,
    issue,
    renew,
)
from eseal.models import LicenseRow
from eseal.node import Node, init_node
from keys.errors import InvalidInput
from ledger.audit import audit
from ledger.entries import TRANSFER, Entry, decode_entry
from ledger.store import AlsoInTransaction, Appended
from tests.eseal.conftest import (
    BUSINESS,
    MARKET,
    NOW,
    PASSPHRASE,
    Region,
    business_request,
    make_region,
    run_eseal,
)

AGENT = Principal("agency", MARKET)
#: A license of Beijing (issuer region code 110000): another region's, not checked here.
BEIJING = str(make_license_id(BUSINESS, "110000", "2025000001"))
#: A license of a central-government issuer (…100000…) that this node did not record: it
#: may be registered in any region, so it is taken for another region's.
CENTRAL = str(make_license_id(BUSINESS, "111000000000PH001J", "2025000001"))
#: Of this region (the market bureau, 500000), but never issued here.
NOT_ISSUED = str(make_license_id(BUSINESS, MARKET, "NOSUCHSERIAL"))
#: Of an agency of this province (重庆, 50) that this node never registered: another node of
#: the province (a district's, 500100) may have issued it, so it is not checked here.
UNREGISTERED = str(make_license_id(BUSINESS, "11500100MB0123456X", "2025000001"))
#: Another region's license whose serial is a resident identity number (as some regions
#: number a person's certificates): the ledger, kept for ever and read by every region,
#: must not record it.
PERSONAL = str(make_license_id(BUSINESS, "110000", "11010519491231002X"))
#: The check character of BEIJING changed.
BAD_CHECK = BEIJING[:-1] + ("A" if BEIJING[-1] != "A" else "B")


def _fresh(region: Region) -> str:
    return issue(region.node, AGENT, MARKET, business_request(), now=NOW).id


def _unchanged(region: Region, license_id: str, act: Callable[[], object]) -> Exception:
    """``act`` raises, and neither the ledger nor the license changed."""
    size = region.node.log.size()
    with pytest.raises(InvalidInput) as raised:
        act()
    assert region.node.log.size() == size
    row = get_license(region.node, license_id)
    assert (row.status, row.replaced_by) == ("01", None)
    return raised.value


@pytest.mark.parametrize("to", [BEIJING, CENTRAL, UNREGISTERED, "here"])
def test_a_transfer_records_the_license_that_replaces_it(region: Region, to: str) -> None:
    node = region.node
    old = _fresh(region)
    to = _fresh(region) if to == "here" else to
    size = node.log.size()
    row = change_status(node, AGENT, old, "transfer", reason="迁往北京", to=to, now=NOW + 1)
    assert (row.status, row.replaced_by, row.status_reason) == ("06", to, "迁往北京")
    entry = decode_entry(node.log.entry(size))
    assert (entry.kind, entry.subject, entry.reason, entry.to) == (
        "license.transfer",
        old,
        "迁往北京",
        to,
    )
    assert row.status_index == size


@pytest.mark.parametrize(
    ("to", "error", "said"),
    [
        (None, InvalidInput, "give the id of the license that replaces it"),
        ("", InvalidInput, "give the id of the license that replaces it"),
        ("1.2.156.3005.2.nonsense", InvalidLicenseId, "the new license '1.2.156.3005.2.nonsense'"),
        (BAD_CHECK, InvalidLicenseId, "check character should be"),
        (f" {BEIJING}", InvalidLicenseId, "must start with"),
        (NOT_ISSUED, UnknownNewLicense, "is of this region (500000) but was not issued here"),
        ("self", InvalidInput, "cannot be transferred to itself"),
        (PERSONAL, InvalidInput, "must not hold an identity number"),
    ],
)
def test_a_bad_new_license_changes_nothing(
    region: Region, to: str | None, error: type[Exception], said: str
) -> None:
    lic = _fresh(region)
    to = lic if to == "self" else to
    refused = _unchanged(
        region,
        lic,
        lambda: change_status(region.node, AGENT, lic, "transfer", reason="迁出", to=to, now=NOW),
    )
    assert isinstance(refused, error)
    assert said in str(refused)


#: How a license recorded here comes to be out of force, and what a refused transfer to it
#: says of it.
NOT_IN_FORCE = {
    "suspended": "is 02 暂停 suspended",
    "withdrawn": "is 03 撤回 withdrawn",
    "cancelled": "is 04 注销 cancelled",
    "renewed": "is 05 失效 lapsed, replaced by ",
    "transferred": "is 06 转出 transferred out, replaced by ",
    "revoked": "is 07 撤销 revoked",
    "expired": "has expired (valid until 2026-11-19)",
}


def _out_of_force(region: Region, how: str) -> str:
    """A license recorded here, issued at NOW and put out of force by ``how`` (an expired
    one was valid until the day after NOW's, 2026-11-19 in Beijing time)."""
    node = region.node
    if how == "expired":
        until = day_end(date(2026, 11, 19))
        return issue(
            node, AGENT, MARKET, dataclasses.replace(business_request(), valid_until=until), now=NOW
        ).id
    lic = _fresh(region)
    if how == "renewed":
        renew(node, AGENT, lic, now=NOW)
        return lic
    action = {
        "suspended": "suspend",
        "withdrawn": "withdraw",
        "cancelled": "cancel",
        "revoked": "revoke",
        "transferred": "transfer",
    }[how]
    to = BEIJING if how == "transferred" else None
    change_status(node, AGENT, lic, action, reason="x", to=to, now=NOW)
    return lic


@pytest.mark.parametrize("how", NOT_IN_FORCE)
def test_a_transfer_to_a_license_not_in_force_changes_nothing(region: Region, how: str) -> None:
    """The holder is sent to the new license: one recorded here must be in force when the
    transfer is recorded (valid, 01, and not past its last day), or the transfer is refused."""
    to = _out_of_force(region, how)
    lic = _fresh(region)
    refused = _unchanged(
        region,
        lic,
        lambda: change_status(
            region.node, AGENT, lic, "transfer", reason="迁出", to=to, now=NOW + 2 * DAY
        ),
    )
    assert isinstance(refused, NewLicenseNotInForce)
    said = str(refused)
    assert said.startswith(f"the new license {to} {NOT_IN_FORCE[how]}"), said
    successor = get_license(region.node, to).replaced_by
    assert (successor is not None) == (how in ("renewed", "transferred"))
    assert successor is None or f"replaced by {successor}:" in said
    assert said.endswith(": a transfer names a license in force"), said


def test_a_license_in_force_to_its_last_day_may_be_named(region: Region) -> None:
    """A new license valid until a day may be named all that day, as a verifier takes it
    for valid to its last second."""
    until = day_end(date(2026, 11, 19))
    request = dataclasses.replace(business_request(), valid_until=until)
    to = issue(region.node, AGENT, MARKET, request, now=NOW).id
    lic = _fresh(region)
    row = change_status(region.node, AGENT, lic, "transfer", reason="迁出", to=to, now=until)
    assert (row.status, row.replaced_by) == ("06", to)


def test_a_city_node_takes_another_city_of_its_province_for_another_region(
    tmp_path: Path,
) -> None:
    """A city's node (深圳, 440300) transfers a license to one of another city of its
    province (广州, 440100: an agency it never registered), which it cannot check, as to
    another province's; a license of an agency it registered must be one it issued."""
    node = init_node(tmp_path, region="440300", name="深圳市", passphrase=PASSPHRASE, now=NOW)
    try:
        shenzhen = "11440300MB01234562"
        add_agency(node, code=shenzhen, name="深圳市市场监督管理局", types=[BUSINESS], now=NOW)
        agent = Principal("agency", shenzhen)
        guangzhou = str(make_license_id(BUSINESS, "11440100MB0123456P", "2025000001"))
        lic = issue(node, agent, shenzhen, business_request(), now=NOW).id
        row = change_status(node, agent, lic, "transfer", reason="迁往广州", to=guangzhou, now=NOW)
        assert (row.status, row.replaced_by) == ("06", guangzhou)
        other = issue(node, agent, shenzhen, business_request(), now=NOW).id
        never = str(make_license_id(BUSINESS, shenzhen, "NOSUCHSERIAL"))
        size = node.log.size()
        with pytest.raises(UnknownNewLicense, match=r"is of this region \(440300\) but was not"):
            change_status(node, agent, other, "transfer", reason="迁址", to=never, now=NOW)
        assert node.log.size() == size
        assert get_license(node, other).status == "01"
    finally:
        node.close()


def test_which_new_licenses_not_recorded_here_must_have_been_issued_here(
    tmp_path: Path,
) -> None:
    """Of the new licenses a node did not record, it refuses those it would have recorded:
    of an agency it registered, also one deactivated since, or named by its own region
    code; a central-government agency's it registered may have issued elsewhere (it may be
    registered in other regions too) and is taken, as is another region code of the
    province. The agency table is read again in the write's transaction: an agency
    registered after the first check makes the transfer refused, and nothing is recorded."""
    node = init_node(tmp_path, region="440300", name="深圳市", passphrase=PASSPHRASE, now=NOW)
    try:
        shenzhen, dissolved = "11440300MB01234562", "11440300MB01234663"
        central, late = "111000000000PH001J", "11440300MB01234764"
        for code in (shenzhen, dissolved, central):
            add_agency(node, code=code, name="市场监督管理局", types=[BUSINESS], now=NOW)
        deactivate_agency(node, dissolved, reason="机构撤并", now=NOW)
        agent = Principal("agency", shenzhen)

        def transfer(to: str) -> LicenseRow:
            lic = issue(node, agent, shenzhen, business_request(), now=NOW).id
            return change_status(node, agent, lic, "transfer", reason="迁址", to=to, now=NOW)

        for issuer in (dissolved, "440300"):
            size = node.log.size()
            with pytest.raises(UnknownNewLicense):
                transfer(str(make_license_id(BUSINESS, issuer, "NOSUCHSERIAL")))
            assert node.log.size() == size + 1  # the old license's issuance only
        for issuer in (central, "440100"):
            to = str(make_license_id(BUSINESS, issuer, "2025000001"))
            assert transfer(to).replaced_by == to
        to = str(make_license_id(BUSINESS, late, "2025000001"))
        lic = issue(node, agent, shenzhen, business_request(), now=NOW).id
        register = lambda: add_agency(node, code=late, name="新局", types=[BUSINESS], now=NOW)  # noqa: E731
        size = node.log.size()
        with _interloping(node, register), pytest.raises(UnknownNewLicense):
            change_status(node, agent, lic, "transfer", reason="迁址", to=to, now=NOW)
        assert node.log.size() == size + 1  # the registration only
        assert get_license(node, lic).status == "01"
    finally:
        node.close()


@contextmanager
def _interloping(node: Node, act: Callable[[], object]) -> Iterator[None]:
    """While in this context, ``act`` runs (and commits) on the node just before the next
    transfer is written: after change_status has checked the new license, before its
    ledger append; the append then goes on as it would."""
    real = node.append

    def append(drafts: Sequence[Entry], *, also: AlsoInTransaction | None = None) -> Appended:
        if drafts[0].kind == TRANSFER:
            node.append = real  # type: ignore[method-assign]
            act()
        return real(drafts, also=also)

    node.append = append  # type: ignore[method-assign]
    try:
        yield
    finally:
        node.append = real  # type: ignore[method-assign]


#: A status change of the new license that takes it out of force, and the ledger entries
#: it makes.
INTERLOPERS: dict[str, tuple[Callable[[Node, str], object], int]] = {
    "suspend": (lambda n, to: change_status(n, AGENT, to, "suspend", reason="x", now=NOW), 1),
    "revoke": (lambda n, to: change_status(n, AGENT, to, "revoke", reason="x", now=NOW), 1),
    "transfer": (
        lambda n, to: change_status(n, AGENT, to, "transfer", reason="x", to=BEIJING, now=NOW),
        1,
    ),
    "renew": (lambda n, to: renew(n, AGENT, to, now=NOW), 2),
}


@pytest.mark.parametrize("interloper", INTERLOPERS)
def test_a_new_license_put_out_of_force_after_the_check_is_still_refused(
    region: Region, interloper: str
) -> None:
    """The new license is checked again in the transaction that records the transfer: one
    suspended, revoked, transferred or renewed after the first check (and before the write)
    is refused as one out of force before, and nothing of the transfer is recorded."""
    node = region.node
    to, lic = _fresh(region), _fresh(region)
    act, entries = INTERLOPERS[interloper]
    size = node.log.size()
    with (
        _interloping(node, lambda: act(node, to)),
        pytest.raises(NewLicenseNotInForce) as refused,
    ):
        change_status(node, AGENT, lic, "transfer", reason="迁出", to=to, now=NOW)
    assert f"the new license {to} is 0" in str(refused.value)
    assert get_license(node, to).status != "01"  # the interloper was recorded
    assert node.log.size() == size + entries  # and nothing else
    row = get_license(node, lic)
    assert (row.status, row.replaced_by, row.status_index) == ("01", None, None)


def transfer_racing_a_suspension(node: Node, agent: Principal, lic: str, to: str) -> None:
    """Two connections: a suspension of ``to`` holds its write transaction open (its row
    changed, not committed) while a transfer of ``lic`` to ``to`` checks it (in force, as
    committed) and then writes; the transfer must be refused, as the suspension commits
    first. Used on SQLite and PostgreSQL."""
    real = node.append
    suspending, transferring = threading.Event(), threading.Event()

    def append(drafts: Sequence[Entry], *, also: AlsoInTransaction | None = None) -> Appended:
        if drafts[0].kind == TRANSFER:
            transferring.set()  # checked; the suspension may commit now
            return real(drafts, also=also)
        assert also is not None

        def held(conn: Any, first: int) -> None:
            also(conn, first)
            suspending.set()
            assert transferring.wait(30), "the transfer never came to its write"

        return real(drafts, also=held)

    node.append = append  # type: ignore[method-assign]
    try:
        with ThreadPoolExecutor(1) as pool:
            suspension = pool.submit(change_status, node, agent, to, "suspend", reason="x", now=NOW)
            assert suspending.wait(30), "the suspension never came to its write"
            size = node.log.size()  # the suspension is not committed yet
            assert get_license(node, to).status == "01"
            with pytest.raises(NewLicenseNotInForce, match="is 02 暂停 suspended"):
                change_status(node, agent, lic, "transfer", reason="迁出", to=to, now=NOW)
            assert suspension.result(30).status == "02"
    finally:
        node.append = real  # type: ignore[method-assign]
    assert node.log.size() == size + 1  # the suspension's entry alone
    row = get_license(node, lic)
    assert (row.status, row.replaced_by, row.status_index) == ("01", None, None)
    assert audit(node.store, node.log_verifier).ok


def test_a_transfer_racing_a_suspension_of_its_new_license_is_refused(region: Region) -> None:
    transfer_racing_a_suspension(region.node, AGENT, _fresh(region), _fresh(region))


@pytest.mark.parametrize("action", ["suspend", "withdraw", "cancel", "revoke", "lapse"])
def test_only_a_transfer_names_a_new_license(region: Region, action: str) -> None:
    lic = _fresh(region)
    refused = _unchanged(
        region,
        lic,
        lambda: change_status(region.node, AGENT, lic, action, reason="x", to=BEIJING, now=NOW),
    )
    assert "only a transfer names the license that replaces it" in str(refused)


# --- HTTP ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(region: Region) -> Iterator[TestClient]:
    with TestClient(create_app(region.node)) as c:
        c.headers["Authorization"] = f"Bearer {region.market.credential}"
        yield c


def test_the_api_transfers_and_its_status_answer_names_the_new_license(
    region: Region, client: TestClient
) -> None:
    lic = _fresh(region)
    r = client.post(f"/v1/licenses/{lic}/transfer", json={"reason": "迁往北京", "to": BEIJING})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["replaced_by"]) == ("06", BEIJING)
    status = client.get(f"/v1/licenses/{lic}/status").json()
    assert (status["status"], status["replaced_by"]) == ("06", BEIJING)
    entry = decode_entry(region.node.log.entry(status["status_index"]))
    assert entry.to == BEIJING


@pytest.mark.parametrize(
    ("action", "body", "answer"),
    [
        ("transfer", {"reason": "迁出"}, (400, "invalid-input")),
        ("transfer", {"reason": "迁出", "to": None}, (400, "invalid-input")),
        ("transfer", {"reason": "迁出", "to": BAD_CHECK}, (400, "invalid-license-id")),
        ("transfer", {"reason": "迁出", "to": NOT_ISSUED}, (422, "unknown-new-license")),
        ("transfer", {"reason": "迁出", "to": PERSONAL}, (400, "invalid-input")),
        ("transfer", {"reason": "迁出", "to": "1" * 129}, (422, "invalid-request")),
        ("transfer", {"reason": "迁出", "to": 7}, (422, "invalid-request")),
        ("suspend", {"reason": "检查", "to": BEIJING}, (400, "invalid-input")),
    ],
)
def test_the_api_refuses_a_bad_new_license_with_a_problem(
    region: Region,
    client: TestClient,
    action: str,
    body: dict[str, object],
    answer: tuple[int, str],
) -> None:
    status, problem = answer
    lic = _fresh(region)
    size = region.node.log.size()
    r = client.post(f"/v1/licenses/{lic}/{action}", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith(f"/{problem}"), r.json()
    assert region.node.log.size() == size
    assert client.get(f"/v1/licenses/{lic}/status").json()["status"] == "01"


def test_the_api_refuses_a_new_license_not_in_force_with_a_problem(
    region: Region, client: TestClient
) -> None:
    to = _out_of_force(region, "revoked")
    lic = _fresh(region)
    size = region.node.log.size()
    r = client.post(f"/v1/licenses/{lic}/transfer", json={"reason": "迁出", "to": to})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith("/new-license-not-in-force"), problem
    assert f"the new license {to} is 07 撤销 revoked" in problem["detail"]
    assert region.node.log.size() == size
    status = client.get(f"/v1/licenses/{lic}/status").json()
    assert (status["status"], status["replaced_by"]) == ("01", None)


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A node on disk (closed, for the command line) and four licenses issued on it, the
    last of them revoked."""
    data = tmp_path_factory.mktemp("transfer-cli")
    made = make_region(data)
    ids = [issue(made.node, AGENT, MARKET, business_request(), now=NOW).id for _ in range(4)]
    change_status(made.node, AGENT, ids[3], "revoke", reason="违法经营", now=NOW)
    made.node.close()
    return data, ids


def test_the_cli_transfers_to_a_new_license_and_the_ledger_still_audits(
    node_dir: tuple[Path, list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, (lic, here, successor, _) = node_dir
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    base = ["--data", str(data)]
    code, out, err = run_eseal(
        [*base, "license", "transfer", lic, "--to", BEIJING, "--reason", "迁往北京"],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert out == f"{lic}: 06 转出 transferred out\n  新证照 new license: {BEIJING}\n"
    code, out, err = run_eseal(
        [*base, "--json", "license", "transfer", here, "--to", successor, "--reason", "合并"],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert json.loads(out) == {"id": here, "status": "06", "replaced_by": successor}
    code, out, err = run_eseal([*base, "--json", "license", "show", here], capsys, monkeypatch)
    assert json.loads(out)["replaced_by"] == successor
    code, out, err = run_eseal([*base, "--json", "ledger", "verify"], capsys, monkeypatch)
    assert code == 0, (out, err)
    assert json.loads(out)["ok"] is True
    code, out, err = run_eseal([*base, "--json", "ledger", "checkpoint"], capsys, monkeypatch)
    last = int(json.loads(out)["size"]) - 1
    code, out, err = run_eseal([*base, "--json", "ledger", "entry", str(last)], capsys, monkeypatch)
    assert code == 0, err
    shown = json.loads(out)["entry"]
    assert (shown["kind"], shown["subject"], shown["to"]) == ("license.transfer", here, successor)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([], "error: to transfer a license, give --to NEW_LICENSE_ID"),
        (["--to", ""], "error: to transfer a license, give --to NEW_LICENSE_ID"),
        (["--to", BAD_CHECK], "check character should be"),
        (["--to", "not-an-id"], "error: the new license 'not-an-id': license id must start with"),
        (["--to", NOT_ISSUED], "is of this region (500000) but was not issued here"),
        (["--to", "{self}"], "cannot be transferred to itself"),
        (["--to", PERSONAL], "error: the new license's serial must not hold an identity number"),
        (["--to", "{revoked}"], "is 07 撤销 revoked: a transfer names a license in force"),
    ],
)
def test_the_cli_refuses_a_missing_or_bad_new_license(
    node_dir: tuple[Path, list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    said: str,
) -> None:
    data, (_, _, lic, revoked) = node_dir
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    args = [a.replace("{self}", lic).replace("{revoked}", revoked) for a in args]
    code, out, err = run_eseal(
        ["--data", str(data), "license", "transfer", lic, "--reason", "迁出", *args],
        capsys,
        monkeypatch,
    )
    assert (code, out) == (2, ""), err
    assert said in err
    assert len(err.splitlines()) == 1, err
    code, out, err = run_eseal(
        ["--data", str(data), "--json", "license", "show", lic], capsys, monkeypatch
    )
    assert (json.loads(out)["status"], json.loads(out)["replaced_by"]) == ("01", None)


def test_the_cli_takes_no_new_license_on_another_change(
    node_dir: tuple[Path, list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, (_, _, lic, _) = node_dir
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    args = ["--data", str(data), "license", "suspend", lic, "--reason", "x", "--to", BEIJING]
    code, out, err = run_eseal(args, capsys, monkeypatch)
    assert (code, out) == (2, "")
    assert "No such option: --to" in err


def test_the_cli_verdict_says_where_a_license_went(
    region: Region, capsys: pytest.CaptureFixture[str]
) -> None:
    """``eseal verify``'s summary of a transferred license names its new license, in the
    clerk's words first; a renewed one's successor is said as before."""
    from eseal.cli_verify import _summary
    from eseal.licenses import renew
    from eseal.trust_export import LocalStatus, build_bundle
    from verifier.pipeline import VerifyContext, verify_text
    from verifier.trust import TrustStore

    transferred, renewed = _fresh(region), _fresh(region)
    change_status(region.node, AGENT, transferred, "transfer", reason="迁出", to=BEIJING, now=NOW)
    successor = renew(region.node, AGENT, renewed, now=NOW).id
    ctx = VerifyContext(
        TrustStore([build_bundle(region.node, now=NOW)]), NOW + 60, LocalStatus(region.node)
    )
    for license_id, said in (
        (transferred, f"  已转出，新证照 Transferred to: {BEIJING}\n"),
        (renewed, f"  新证 Replaced by: {successor}\n"),
    ):
        _summary(verify_text(get_license(region.node, license_id).document, ctx))
        out = capsys.readouterr().out
        assert said in out, out
        assert out.count("Transferred to") == (license_id == transferred)
