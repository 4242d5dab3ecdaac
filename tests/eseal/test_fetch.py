"""``eseal bundle fetch`` and ``eseal revocations fetch``: a window's offline trust files from
its node, replaced only by a checked file that is not older, whole or not at all."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from eseal.cli_common import utc_time
from eseal.node import init_node
from eseal.trust_export import export_bundle, export_snapshot
from tests.e2e.conftest import serve_app
from tests.eseal.conftest import (
    NOW,
    PASSPHRASE,
    Region,
    business_request,
    make_region,
    run_eseal,
)
from tests.verifier.conftest import forged_bundle, traced, values_bomb
from verifier.revocation import build_snapshot, open_snapshot, sign_snapshot
from verifier.trust import TrustStore, open_bundle


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Region, str]]:
    region = make_region(tmp_path_factory.mktemp("fetch"))
    server, thread, url = serve_app(region.node)
    try:
        yield region, url
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        region.node.close()


def _root(region: Region) -> str:
    return region.node.root_key_id.hex()


def _state(path: Path) -> tuple[bytes, int] | None:
    return (path.read_bytes(), path.stat().st_ino) if path.exists() else None


def test_a_bundle_is_fetched_with_a_pin_then_kept_up_to_date_by_the_file_alone(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    region, url = node_url
    out = tmp_path / "bundle.json"
    code, said, err = run_eseal(["bundle", "fetch", url, "--out", str(out)], capsys, monkeypatch)
    assert code == 2, said
    assert "--pin ROOT_KEY_ID" in err
    assert not out.exists()  # nothing trusted from whoever answers

    args = ["--json", "bundle", "fetch", url, "--pin", _root(region), "--out", str(out)]
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    report = json.loads(said)
    assert report["changed"] is True
    assert report["region"] == "500000"
    assert report["root_key_id"] == _root(region)
    bundle = open_bundle(out.read_bytes())
    assert bundle.root_key_id.hex() == _root(region)
    assert report["issued_at"] == bundle.issued_at
    assert report["bytes"] == len(out.read_bytes())

    # Later, the file is the pin (no --pin needed).
    args = ["bundle", "fetch", url, "--out", str(out)]
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    assert open_bundle(out.read_bytes()).root_key_id.hex() == _root(region)

    # The same bytes again (the node signed nothing new): the file is left alone.
    kept = _state(out)
    monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: out.read_bytes())
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    assert said == f"{out} is up to date (region 500000, signed as of " + said.split("of ")[1]
    assert _state(out) == kept


def test_a_wrong_pin_or_an_older_bundle_leaves_the_file_as_it_was(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    region, url = node_url
    out = tmp_path / "bundle.json"
    newer = export_bundle(region.node, now=int(time.time()) + 3600)  # the window's, newer
    out.write_bytes(newer)
    before = _state(out)

    code, said, err = run_eseal(
        ["bundle", "fetch", url, "--pin", "00" * 8, "--out", str(out)], capsys, monkeypatch
    )
    assert code == 2, said
    assert "pinned" in err
    assert _state(out) == before

    code, said, err = run_eseal(["bundle", "fetch", url, "--out", str(out)], capsys, monkeypatch)
    assert code == 2, said
    assert "before the one in" in err
    assert "kept" in err
    assert "dated after this computer's clock" in err  # an hour ahead: the operator is told
    assert _state(out) == before

    # A kept file only a little newer (within the clock-skew allowance) gets no such hint.
    out.write_bytes(export_bundle(region.node, now=int(time.time()) + 120))
    code, said, err = run_eseal(["bundle", "fetch", url, "--out", str(out)], capsys, monkeypatch)
    assert code == 2, said
    assert "before the one in" in err
    assert "computer's clock" not in err

    # An older file of the same root is replaced by the node's.
    out.write_bytes(export_bundle(region.node, now=int(time.time()) - 3600))
    code, said, err = run_eseal(["bundle", "fetch", url, "--out", str(out)], capsys, monkeypatch)
    assert code == 0, err
    assert "wrote" in said
    assert open_bundle(out.read_bytes()).issued_at > int(time.time()) - 600


def test_a_bundle_that_does_not_open_needs_a_pin_and_another_file_is_kept(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kept bundle whose signature does not check out is replaced once a pin says what to
    trust; a file that is no bundle at all (a mistyped --out) is never replaced."""
    region, url = node_url
    out = tmp_path / "bundle.json"
    envelope = json.loads(export_bundle(region.node, now=int(time.time())))
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    forged = json.dumps(envelope).encode()
    out.write_bytes(forged)
    code, said, err = run_eseal(["bundle", "fetch", url, "--out", str(out)], capsys, monkeypatch)
    assert code == 2, said
    assert "does not open" in err
    assert "--pin" in err
    assert out.read_bytes() == forged

    args = ["bundle", "fetch", url, "--pin", _root(region), "--out", str(out)]
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    assert "replacing" in err
    assert open_bundle(out.read_bytes()).region == "500000"

    for other in (b'{"payload": "torn', b"notes of the window's operator\n"):
        out.write_bytes(other)
        code, said, err = run_eseal(args, capsys, monkeypatch)
        assert code == 2, said
        assert "is not a trust bundle" in err
        assert "not replaced" in err
        assert out.read_bytes() == other


def test_with_a_pin_a_kept_bundle_no_pinned_root_signed_is_replaced_unparsed(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With --pin, the kept file is opened as the fetched one is: a forged one claiming the
    pinned root (900,000 small values, ten times the file once parsed) is refused before
    its payload is parsed, and replaced by the node's."""
    region, url = node_url
    out = tmp_path / "bundle.json"
    root_hex = region.node.config.root_public_key.hex()
    out.write_bytes(forged_bundle(values_bomb(900_000, root_hex), region.node.root_key_id))
    size = out.stat().st_size
    args = ["bundle", "fetch", url, "--pin", _root(region), "--out", str(out)]
    with traced() as peak:
        code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    assert said.startswith(f"wrote {out}")
    assert err == (
        f"note: replacing {out}, which does not open: the trust bundle is not signed by the "
        f"pinned root key {_root(region)}\n"
    )
    assert peak.bytes < 4 * size
    assert open_bundle(out.read_bytes()).root_key_id == region.node.root_key_id


def test_revocations_are_fetched_checked_by_the_bundle_and_never_rolled_back(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    region, url = node_url
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(export_bundle(region.node, now=int(time.time())))
    out = tmp_path / "revocations.json"
    args = ["--json", "revocations", "fetch", url, "--bundle", str(bundle), "--out", str(out)]
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    report = json.loads(said)
    assert report["changed"] is True
    snapshot = open_snapshot(out.read_bytes(), TrustStore([open_bundle(bundle.read_bytes())]))
    assert (report["region"], report["as_of"]) == (snapshot.region, snapshot.as_of)

    newer = export_snapshot(region.node, now=int(time.time()) + 3600)
    out.write_bytes(newer)
    code, said, err = run_eseal(args[1:], capsys, monkeypatch)
    assert code == 2, said
    assert "before the one in" in err
    assert "dated after this computer's clock" in err
    assert out.read_bytes() == newer

    torn = b"not a snapshot"
    out.write_bytes(torn)
    code, said, err = run_eseal(args[1:], capsys, monkeypatch)
    assert code == 2, said
    assert "is not a revocation snapshot" in err
    assert out.read_bytes() == torn

    # Signed by a log key the bundle does not hold (another node's): its region cannot be
    # read, so it is kept, and the operator told to remove it to take the node's.
    other = init_node(
        tmp_path / "other", region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW
    )
    try:
        foreign = export_snapshot(other, now=int(time.time()))
    finally:
        other.close()
    out.write_bytes(foreign)
    code, said, err = run_eseal(args[1:], capsys, monkeypatch)
    assert code == 2, said
    assert "of none of the bundles given" in err
    assert "remove it to take the node's" in err
    assert out.read_bytes() == foreign
    # Signed by the bundle's log key, but damaged: a file of this region, replaced.
    envelope = json.loads(newer)
    envelope["payload"] = base64.b64encode(b"torn" + base64.b64decode(envelope["payload"])).decode()
    out.write_bytes(json.dumps(envelope).encode())
    code, said, err = run_eseal(args[1:], capsys, monkeypatch)
    assert code == 0, err
    assert "replacing" in err
    assert open_snapshot(out.read_bytes(), TrustStore([open_bundle(bundle.read_bytes())]))


def test_a_snapshot_of_another_region_is_not_replaced_by_this_ones(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With several regions' bundles, --out holding region 110000's snapshot is not
    replaced by the 500000 node's (which would leave 110000's licenses unchecked)."""
    region, url = node_url
    ours = tmp_path / "ours.json"
    ours.write_bytes(export_bundle(region.node, now=int(time.time())))
    beijing = init_node(
        tmp_path / "bj", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW
    )
    try:
        theirs = tmp_path / "theirs.json"
        theirs.write_bytes(export_bundle(beijing, now=int(time.time())))
        kept = export_snapshot(beijing, now=int(time.time()))
    finally:
        beijing.close()
    out = tmp_path / "revocations.json"
    out.write_bytes(kept)
    args = ["revocations", "fetch", url, "--bundle", str(ours), "--bundle", str(theirs)]
    code, said, err = run_eseal([*args, "--out", str(out)], capsys, monkeypatch)
    assert code == 2, said
    assert "holds the snapshot of region 110000" in err
    assert out.read_bytes() == kept
    # Given only this region's bundle (as a window fetching each region's files from cron
    # runs it), the kept file is not read, and kept all the same: it was replaced, and the
    # window lost region 110000's revocations, when --out was left at its default.
    args = ["revocations", "fetch", url, "--bundle", str(ours)]
    code, said, err = run_eseal([*args, "--out", str(out)], capsys, monkeypatch)
    assert code == 2, said
    assert f"{out} holds a snapshot signed by log key" in err
    assert "give each region's snapshot its own --out" in err
    assert out.read_bytes() == kept


def test_with_a_pin_a_kept_bundle_of_another_region_is_not_replaced(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A window keeping two regions' bundles: fetching 500000's with its pin into the file of
    110000's (its --out mistyped, or left at its default) keeps that file, where it replaced
    it and left the window without region 110000's trust."""
    region, url = node_url
    beijing = init_node(
        tmp_path / "bj", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW
    )
    try:
        kept = export_bundle(beijing, now=int(time.time()))
    finally:
        beijing.close()
    out = tmp_path / "bundle.json"
    out.write_bytes(kept)
    args = ["bundle", "fetch", url, "--pin", _root(region), "--out", str(out)]
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 2, said
    assert "says it is of region 110000" in err
    assert "is of region 500000" in err
    assert "give each region's bundle its own --out" in err
    assert out.read_bytes() == kept


def test_a_snapshot_not_signed_by_the_bundles_region_is_refused(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bundle given is another node's of the same region code: its log key did not sign
    the node's snapshot."""
    _, url = node_url
    other = make_region(tmp_path / "other")
    try:
        bundle = tmp_path / "other.json"
        bundle.write_bytes(export_bundle(other.node, now=int(time.time())))
    finally:
        other.node.close()
    out = tmp_path / "revocations.json"
    args = ["revocations", "fetch", url, "--bundle", str(bundle), "--out", str(out)]
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 2, said
    assert f"the snapshot of {url}" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [("ftp://node.example", "is not an http:// or https:// URL"), ("http://127.0.0.1:9", "reach")],
)
def test_a_node_that_is_not_one_or_cannot_be_reached_changes_nothing(
    url: str,
    says: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "bundle.json"
    code, said, err = run_eseal(
        ["bundle", "fetch", url, "--pin", "00" * 8, "--out", str(out)], capsys, monkeypatch
    )
    assert code == 2, said
    assert says in err
    assert not out.exists()


def test_an_output_path_that_cannot_be_written_is_refused_before_fetching(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fetch(_url: str) -> bytes:
        raise AssertionError("fetched before the output path was checked")

    monkeypatch.setattr("verifier.online.fetch_bundle", no_fetch)
    out = tmp_path / "missing" / "bundle.json"
    args = ["bundle", "fetch", "http://127.0.0.1:9", "--pin", "00" * 8, "--out", str(out)]
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 2, said
    assert "is not a directory: create it first" in err


def test_the_bundle_given_is_not_replaced_by_the_snapshot(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--out naming the --bundle file: the bundle does not open as a snapshot, and would be
    replaced by one (the window left with no bundle to check it with)."""
    region, url = node_url
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(export_bundle(region.node, now=int(time.time())))
    before = _state(bundle)
    for out in (bundle, tmp_path / "." / "bundle.json"):
        args = ["revocations", "fetch", url, "--bundle", str(bundle), "--out", str(out)]
        code, said, err = run_eseal(args, capsys, monkeypatch)
        assert code == 2, said
        assert "is a --bundle file" in err
        assert _state(bundle) == before


def test_the_nodes_own_files_are_not_written_over(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    region, url = node_url
    data = region.node.data_dir
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(export_bundle(region.node, now=int(time.time())))
    files = [data / "node.json", data / "ledger.db"]
    before = [_state(path) for path in files]
    cases = [
        ["bundle", "fetch", url, "--pin", _root(region), "--out", str(files[0])],
        ["revocations", "fetch", url, "--bundle", str(bundle), "--out", str(files[1])],
    ]
    for args in cases:
        code, said, err = run_eseal(["--data", str(data), *args], capsys, monkeypatch)
        assert code == 2, said
        assert "is a file of the node in" in err
    assert [_state(path) for path in files] == before


def test_a_fetched_snapshot_says_what_its_time_means(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A snapshot's time is not when it was signed but the time up to which it holds the
    status of every license (its margin before the node's clock): the fetch says so, and
    that a license issued later has no status offline, where it said "signed as of" a time
    two minutes before the fetch, and a license just issued was NO_STATUS, unexplained."""
    region, url = node_url
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(export_bundle(region.node, now=int(time.time())))
    out = tmp_path / "revocations.json"
    args = ["revocations", "fetch", url, "--bundle", str(bundle), "--out", str(out)]
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    snapshot = open_snapshot(out.read_bytes(), TrustStore([open_bundle(bundle.read_bytes())]))
    as_of = utc_time(snapshot.as_of)
    assert said == (
        f"wrote {out} ({out.stat().st_size} bytes; region 500000, the status of licenses "
        f"issued up to {as_of}: one issued later has no status offline)\n"
    )
    monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: out.read_bytes())
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    assert said.startswith(f"{out} is up to date (region 500000, the status of licenses ")


def test_a_snapshot_of_the_same_second_replaces_the_kept_one_only_when_cut_later(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Of two snapshots as of the same second, the one cut at the larger checkpoint is the
    newer (``RevocationSnapshot.cut``, as a peer sync orders them): it replaces the kept one;
    one cut earlier is refused, the file kept; and of two cut at the same checkpoint, which
    differ in nothing a window can order by, the kept one stays (a replay of one made before
    a revocation must not take it back)."""
    region, url = node_url
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(export_bundle(region.node, now=int(time.time())))
    out = tmp_path / "revocations.json"
    args = ["--json", "revocations", "fetch", url, "--bundle", str(bundle), "--out", str(out)]
    (small, small_note), *_, (large, large_note) = region.node.log.store.checkpoints()
    assert small < large
    as_of = int(time.time()) - 300
    key = region.node.require_log_key()

    def signed(note: str, licenses: list[tuple[str, str]]) -> bytes:
        snapshot = build_snapshot(
            region=region.node.config.region, as_of=as_of, checkpoint=note, licenses=licenses
        )
        return sign_snapshot(snapshot, key)

    earlier = signed(small_note, [("A", "01")])
    later = signed(large_note, [("A", "01")])
    later_revoked = signed(large_note, [("A", "07")])
    served = [earlier]
    monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: served[0])

    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    assert out.read_bytes() == earlier
    served[0] = later_revoked
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(said)["changed"] is True
    assert out.read_bytes() == later_revoked

    served[0] = earlier  # cut at an earlier checkpoint, the same second: refused
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 2, said
    assert "cut at an earlier checkpoint" in err
    assert f"tree size {small:,} against {large:,}" in err
    assert out.read_bytes() == later_revoked

    served[0] = later  # the same cut, other statuses: the kept one stays
    assert len(later) != len(later_revoked)
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    report = json.loads(said)
    assert report["changed"] is False
    assert report["bytes"] == len(later_revoked)  # the file's, not the one fetched
    assert "nothing tells which is newer" in err
    assert out.read_bytes() == later_revoked


def test_a_snapshot_held_is_named_and_a_304_leaves_it_untouched(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The snapshot kept in --out is named to the node by its hash (If-None-Match): while it
    is the node's current one, the node answers 304, without its 2.3 MB (at 10^8 licenses),
    and the fetch says so, the file untouched; once a revocation makes a new snapshot, it is
    answered and replaces the file."""
    from eseal.agencies import Principal
    from eseal.licenses import change_status, issue

    region, url = node_url
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(export_bundle(region.node, now=int(time.time())))
    out = tmp_path / "revocations.json"
    args = ["revocations", "fetch", url, "--bundle", str(bundle), "--out", str(out)]
    code, said, err = run_eseal(["--json", *args], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(said)["not_modified"] is False
    kept = _state(out)
    assert kept is not None

    code, said, err = run_eseal(["--json", *args], capsys, monkeypatch)
    assert code == 0, err
    report = json.loads(said)
    assert (report["not_modified"], report["changed"]) == (True, False)
    assert report["bytes"] == len(kept[0])
    assert _state(out) == kept
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    assert said.startswith(f"{out} is the node's current snapshot (not modified; region 500000")
    assert _state(out) == kept

    agent = Principal("agency", region.market.code)
    revoked = issue(region.node, agent, region.market.code, business_request(), now=NOW + 10)
    change_status(region.node, agent, revoked.id, "revoke", reason="吊销", now=NOW + 11)
    code, said, err = run_eseal(["--json", *args], capsys, monkeypatch)
    assert code == 0, err
    report = json.loads(said)
    assert (report["not_modified"], report["changed"]) == (False, True)
    assert out.read_bytes() != kept[0]
    store = TrustStore([open_bundle(bundle.read_bytes())])
    assert open_snapshot(out.read_bytes(), store).cut > open_snapshot(kept[0], store).cut


@pytest.mark.parametrize(
    "answer",
    [
        (304, {"ETag": '"0123456789abcdef0123456789abcdef"'}, b"", "with the ETag"),
        (304, {}, b"", "with no ETag"),
        (304, {}, b"{}", "with a body of 2 bytes"),
        (412, {}, b"", "answered 412"),
        (204, {}, b"", "answered 204"),
    ],
    ids=["304 of another file", "304 naming none", "304 with a body", "412", "204"],
)
def test_an_answer_to_the_snapshot_held_that_does_not_check_out_changes_nothing(
    node_url: tuple[Region, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: tuple[int, dict[str, str], bytes, str],
) -> None:
    """A 304 says the snapshot held is the node's current one only with that file's ETag
    (a proxy answering 304 for another snapshot it cached does not), and without a body;
    any other status is the node's failure: exit 2, the file untouched."""
    from verifier import online

    status, headers, body, said = answer
    region, url = node_url
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(export_bundle(region.node, now=int(time.time())))
    out = tmp_path / "revocations.json"
    args = ["revocations", "fetch", url, "--bundle", str(bundle), "--out", str(out)]
    code, _said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    kept = _state(out)

    @contextmanager
    def answering(_url: str, _timeout: float) -> Iterator[httpx.Client]:
        reply = httpx.Response(status, headers=headers, content=body)
        with httpx.Client(transport=httpx.MockTransport(lambda _r: reply)) as client:
            yield client

    monkeypatch.setattr(online, "deadline_client", answering)
    code, _said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 2, err
    assert said in err
    assert _state(out) == kept
