"""GET /v1/revocations' snapshot cache (:class:`eseal.trust_export.SnapshotCache`): a cut
built once per age while its checkpoint stays, one build at a time, a new ledger entry a new
snapshot at once, and the answer's ETag."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from eseal import proofs, trust_export, witness_ask
from eseal.agencies import Principal
from eseal.api.app import create_app
from eseal.api.routes import verify as verify_routes
from eseal.licenses import change_status, issue
from eseal.node import Node
from eseal.proofs import UnknownCheckpoint
from eseal.trust_export import (
    SNAPSHOT_MARGIN,
    SnapshotCache,
    build_bundle,
)
from keys.errors import InvalidInput
from tests.eseal.conftest import MARKET, NOW, Region, business_request, make_region
from tests.eseal.test_postgres import postgres_node
from tests.postgres import postgres_url
from verifier.revocation import RevocationSnapshot, open_snapshot
from verifier.trust import TrustStore

AGENT = Principal("agency", MARKET)


class Clocks:
    """A monotonic clock and a wall clock the test moves."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = float(NOW + 1000)

    def tick(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    r = make_region(tmp_path_factory.mktemp("region"))
    issue(r.node, AGENT, MARKET, business_request(), now=NOW)
    yield r
    r.node.close()


def _cache(node: Node, clocks: Clocks, **kwargs: Any) -> SnapshotCache:
    return SnapshotCache(node, clock=lambda: clocks.mono, wall=lambda: clocks.wall, **kwargs)


def _open(node: Node, data: bytes) -> RevocationSnapshot:
    return open_snapshot(data, TrustStore([build_bundle(node, now=NOW + 2)]))


def test_a_snapshot_is_built_once_while_its_checkpoint_stays_and_is_younger_than_its_age(
    tmp_path: Path,
) -> None:
    """A snapshot that does not yet speak for a license of its cut (one issued within the
    margin before it was built) is built again once 30 s old, as of the later time."""
    r = make_region(tmp_path)
    try:
        clocks = Clocks()
        issue(r.node, AGENT, MARKET, business_request(), now=int(clocks.wall))
        cache = _cache(r.node, clocks, max_age=30)
        first = cache.get()
        assert not first.settled
        clocks.tick(29)
        again = cache.get()
        assert again is first
        assert cache.builds == 1
        # as_of is that of its build: it never speaks for a moment after its statuses were read
        assert _open(r.node, again.data).as_of == NOW + 1000 - SNAPSHOT_MARGIN
        clocks.tick(2)  # past its age: built again, as of the later time
        later = cache.get()
        assert cache.builds == 2
        assert _open(r.node, later.data).as_of == NOW + 1031 - SNAPSHOT_MARGIN
        assert later.etag != first.etag
    finally:
        r.node.close()


def test_a_snapshot_speaking_for_every_license_of_its_cut_stays_the_same_file_longer(
    region: Region,
) -> None:
    """Settled (each license in the cut issued by its as_of), a snapshot is answered again,
    the same file with the same ETag (a poller's 304), until its longer age; then built
    again, as of the later time."""
    clocks = Clocks()
    cache = _cache(region.node, clocks, max_age=30, settled_age=3600)
    first = cache.get()
    assert first.settled
    clocks.tick(3599)
    assert cache.get() is first
    clocks.tick(2)
    later = cache.get()
    assert cache.builds == 2
    assert _open(region.node, later.data).as_of == NOW + 1000 + 3601 - SNAPSHOT_MARGIN


def test_a_new_ledger_entry_is_a_new_snapshot_at_once(region: Region) -> None:
    clocks = Clocks()
    cache = _cache(region.node, clocks)
    lic = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    before = cache.get()
    assert _open(region.node, before.data).status_of(lic.id) == "01"
    change_status(region.node, AGENT, lic.id, "revoke", reason="x", now=NOW + 1)
    after = cache.get()  # no time passed
    assert cache.builds == 2
    assert _open(region.node, after.data).status_of(lic.id) == "07"
    assert cache.get() is after


def test_a_cut_the_log_does_not_store_is_refused_without_a_build(region: Region) -> None:
    cache = _cache(region.node, Clocks())
    with pytest.raises(UnknownCheckpoint):
        cache.get(at=region.node.log.size() + 5)
    with pytest.raises(InvalidInput):
        cache.get(witnessed=True, at=1)
    assert cache.builds == 0


def test_the_cache_keeps_its_bound_of_cuts_least_recently_used_out_first(
    region: Region,
) -> None:
    """Each cut is its own entry (here each a new checkpoint); past the bound the one used
    least recently goes."""
    clocks = Clocks()
    cache = _cache(region.node, clocks, entries=2)
    first = cache.get()
    issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    second = cache.get()
    issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    cache.get()
    assert cache.builds == 3
    kept = list(cache._built.values())
    assert first not in kept
    assert second in kept
    assert len(kept) == 2


def test_concurrent_requests_share_one_build(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests arriving while a snapshot is built wait for it rather than each reading
    every license row."""
    real = trust_export._snapshot_at
    started = threading.Event()

    def slow(*args: Any, **kwargs: Any) -> tuple[bytes, bool]:
        started.set()
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(trust_export, "_snapshot_at", slow)
    cache = _cache(region.node, Clocks())
    got: list[bytes] = []

    def ask() -> None:
        got.append(cache.get().data)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    threads[0].start()
    assert started.wait(5)
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join()
    assert cache.builds == 1
    assert len(got) == 4
    assert len(set(got)) == 1


def _revoking_on_second_read(
    node: Node, license_id: str, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """Make a revocation commit right after the second read of the latest checkpoint (the
    one a build reads its statuses with); the calls made are counted."""
    real = witness_ask.cosigned_checkpoint
    calls: list[int] = []

    def read(*args: Any, **kwargs: Any) -> str:
        note = real(*args, **kwargs)
        calls.append(len(calls))
        if len(calls) == 2:
            revoking = threading.Thread(
                target=change_status,
                args=(node, AGENT, license_id, "revoke"),
                kwargs={"reason": "x", "now": NOW + 1},
            )
            revoking.start()
            revoking.join()
        return note

    monkeypatch.setattr(trust_export, "cosigned_checkpoint", read)
    return calls


def _check_build_reads_one_state(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    lic = issue(node, AGENT, MARKET, business_request(), now=NOW)
    size = node.log.size()
    cache = _cache(node, Clocks())
    with monkeypatch.context() as patch:
        calls = _revoking_on_second_read(node, lic.id, patch)
        made = _open(node, cache.get().data)
        assert len(calls) == 2
    assert node.log.size() == size + 1  # the revocation did commit during the build
    assert (made.cut[1], made.status_of(lic.id)) == (size, "01")
    after = _open(node, cache.get().data)
    assert (after.cut[1], after.status_of(lic.id)) == (size + 1, "07")


def test_a_build_reads_its_statuses_in_the_state_of_its_checkpoint(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_build_reads_one_state(region.node, monkeypatch)


@pytest.mark.postgres
def test_a_build_reads_its_statuses_in_the_state_of_its_checkpoint_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "pg", url)
    try:
        _check_build_reads_one_state(node, monkeypatch)
    finally:
        node.close()


def test_get_revocations_answers_its_etag_and_304_to_if_none_match(region: Region) -> None:
    with TestClient(create_app(region.node)) as client:
        first = client.get("/v1/revocations")
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert etag.startswith('"')
        assert first.headers["cache-control"] == "no-cache"
        again = client.get("/v1/revocations")
        assert again.content == first.content
        assert again.headers["etag"] == etag
        for named in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            same = client.get("/v1/revocations", headers={"If-None-Match": named})
            assert same.status_code == 304, named
            assert same.content == b""
            assert same.headers["etag"] == etag
        other = client.get("/v1/revocations", headers={"If-None-Match": '"other"'})
        assert other.status_code == 200
        assert other.content == first.content
        assert client.app.state.snapshots.builds == 1  # type: ignore[attr-defined]
        issue(region.node, AGENT, MARKET, business_request(), now=NOW)
        changed = client.get("/v1/revocations", headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag


class _Busy:
    """A build turn another request holds, and never gives back."""

    def acquire_nowait(self) -> None:
        raise anyio.WouldBlock

    async def acquire(self) -> None:
        await anyio.sleep_forever()

    def release(self) -> None:
        raise AssertionError("never acquired")


def test_while_another_builds_a_request_is_answered_the_last_built_of_its_cut_at_once(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 10^8 licenses a build takes minutes: requests meanwhile get the snapshot last
    built of their cut, an honest statement as of its own time, rather than wait."""
    with TestClient(create_app(region.node)) as client:
        built = client.get("/v1/revocations")
        assert built.status_code == 200
        monkeypatch.setattr(verify_routes, "snapshot_builders", lambda _sized: _Busy())
        monkeypatch.setattr(verify_routes, "SNAPSHOT_WAIT", 0.2)
        issue(region.node, AGENT, MARKET, business_request(), now=NOW)  # a new checkpoint
        last = client.get("/v1/revocations")
        assert last.status_code == 200
        assert last.content == built.content
        assert last.headers["etag"] == built.headers["etag"]
        assert client.app.state.snapshots.builds == 1  # type: ignore[attr-defined]


def test_while_another_builds_a_cut_never_built_waits_its_turn_then_503(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = region.node.log.size()
    issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    with TestClient(create_app(region.node)) as client:
        assert client.get("/v1/revocations").status_code == 200  # the latest cut is built
        monkeypatch.setattr(verify_routes, "snapshot_builders", lambda _sized: _Busy())
        monkeypatch.setattr(verify_routes, "SNAPSHOT_WAIT", 0.2)
        busy = client.get(f"/v1/revocations?at={older}")
        assert busy.status_code == 503
        assert busy.headers["content-type"] == "application/problem+json"
        assert busy.json()["type"].endswith("/snapshot-busy")
        assert client.app.state.snapshots.builds == 1  # type: ignore[attr-defined]
        monkeypatch.undo()
        cut = _open(region.node, client.get(f"/v1/revocations?at={older}").content)
        assert cut.cut[1] == older


@pytest.mark.parametrize("witnessed", [False, True])
def test_a_new_ledger_entry_is_a_new_snapshot_at_once_at_an_older_cut_too(
    region: Region, monkeypatch: pytest.MonkeyPatch, witnessed: bool
) -> None:
    """A snapshot cut at an older checkpoint (``?at=SIZE``, or ``?witnessed=1`` where the
    witnesses cosigned an older one) holds the statuses of now, not of its cut: a
    revocation after it is built, which leaves the older note as it was, is in the next
    one at once, as :func:`export_snapshot` has it."""
    lic = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    older = region.node.log.size()
    issue(region.node, AGENT, MARKET, business_request(), now=NOW)  # the latest is later
    if witnessed:  # the witnesses' pick: the older checkpoint
        monkeypatch.setattr(proofs, "witnessed_size", lambda _node, _latest: older)
    cut: dict[str, Any] = {"witnessed": True} if witnessed else {"at": older}
    cache = _cache(region.node, Clocks())
    before = _open(region.node, cache.get(**cut).data)
    assert (before.cut[1], before.status_of(lic.id)) == (older, "01")
    change_status(region.node, AGENT, lic.id, "revoke", reason="x", now=NOW + 1)
    uncached = _open(region.node, trust_export.export_snapshot(region.node, now=NOW, **cut))
    assert (uncached.cut[1], uncached.status_of(lic.id)) == (older, "07")
    after = _open(region.node, cache.get(**cut).data)  # no time passed
    assert (after.cut[1], after.status_of(lic.id)) == (older, "07")
    assert cache.builds == 2


@pytest.mark.parametrize("shared", ["at", "witnessed"])
def test_while_another_builds_no_reader_is_answered_older_than_it_was_answered(
    region: Region, monkeypatch: pytest.MonkeyPatch, shared: str
) -> None:
    """A cut's fresh snapshot may have been built for another query of the same checkpoint
    (a peer's ``?at=`` the latest size, or ``?witnessed=1`` where the latest is the most
    cosigned): the last one answered of the cut, not only the last built for its query,
    is what a request gets while another builds. Else a window that took the newer one,
    and names its ETag, is answered 200 with an older file, which ``eseal revocations
    fetch`` and peer sync refuse as a replay."""
    with TestClient(create_app(region.node)) as client:
        first = client.get("/v1/revocations")
        assert first.status_code == 200
        issue(region.node, AGENT, MARKET, business_request(), now=NOW + 1)  # a new checkpoint
        if shared == "witnessed":  # the latest is the checkpoint the witnesses cosigned most
            monkeypatch.setattr(proofs, "witnessed_size", lambda _node, _latest: None)
            query = "?witnessed=1"
        else:  # a peer whose quorum cosigned the latest
            query = f"?at={region.node.log.size()}"
        peer = client.get(f"/v1/revocations{query}")
        assert peer.status_code == 200
        held = client.get("/v1/revocations")  # the window: the peer's build, fresh
        assert held.content == peer.content
        assert client.app.state.snapshots.builds == 2  # type: ignore[attr-defined]
        monkeypatch.setattr(verify_routes, "snapshot_builders", lambda _sized: _Busy())
        issue(region.node, AGENT, MARKET, business_request(), now=NOW + 1)  # another
        polled = client.get("/v1/revocations", headers={"If-None-Match": held.headers["etag"]})
        assert polled.status_code == 304
        newest = _open(region.node, held.content)
        again = client.get("/v1/revocations")
        assert _open(region.node, again.content).cut >= newest.cut


def test_a_stream_of_sizes_asked_does_not_keep_the_latest_from_being_built(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any size the log stores may be asked ``?at=``: while builds of sizes hold their
    turn, the latest cut still has its own, and is built anew rather than answered the
    last built for ever."""
    real = verify_routes.snapshot_builders
    with TestClient(create_app(region.node)) as client:
        built = client.get("/v1/revocations")
        assert built.status_code == 200
        monkeypatch.setattr(
            verify_routes, "snapshot_builders", lambda sized: _Busy() if sized else real(sized)
        )
        lic = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
        change_status(region.node, AGENT, lic.id, "revoke", reason="x", now=NOW + 1)
        latest = client.get("/v1/revocations")
        assert latest.status_code == 200
        assert latest.headers["etag"] != built.headers["etag"]
        assert _open(region.node, latest.content).status_of(lic.id) == "07"


def test_a_run_of_sizes_asked_keeps_the_plain_cuts_last(region: Region) -> None:
    sizes = [region.node.log.size()]
    for _ in range(3):
        issue(region.node, AGENT, MARKET, business_request(), now=NOW)
        sizes.append(region.node.log.size())
    cache = _cache(region.node, Clocks(), entries=2)
    latest = cache.get()
    witnessed = cache.get(witnessed=True)
    for size in sizes[:-1]:
        cache.get(at=size)
    assert cache.last() is latest
    assert cache.last(witnessed=True) is witnessed
    assert cache.last(at=sizes[0]) is None  # the least recently asked size went
    assert cache.last(at=sizes[-2]) is not None
