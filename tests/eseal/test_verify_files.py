"""``eseal verify --bundle F --revocations F`` given hostile files: refused with one error
line and exit 2, at a cost bounded by the file's size (a few copies of it, never the
hundreds of megabytes its parsed values would take), and good files still verify."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from eseal.agencies import Principal
from eseal.licenses import issue
from eseal.trust_export import export_bundle, export_snapshot
from tests.e2e.conftest import Run
from tests.e2e.conftest import run_eseal as run_e2e
from tests.eseal.conftest import MARKET, Region, business_request, make_region, run_eseal
from tests.verifier.conftest import forged_bundle, traced, values_bomb
from verifier.envelope import read_envelope
from verifier.revocation import MAX_SNAPSHOT, SNAPSHOT_TYPE


@dataclass
class Window:
    region: Region
    qr_text: str
    bundle: Path
    snapshot: Path
    root: str  # the root key id, hex


@pytest.fixture(scope="module")
def window(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Window]:
    here = tmp_path_factory.mktemp("verify-files")
    region = make_region(here / "node")
    now = int(time.time())
    issued = issue(region.node, Principal("agency", MARKET), MARKET, business_request(), now=now)
    bundle, snapshot = here / "bundle.json", here / "revocations.json"
    bundle.write_bytes(export_bundle(region.node, now=now))
    snapshot.write_bytes(export_snapshot(region.node, now=now + 1, margin=0))
    yield Window(region, issued.qr_text, bundle, snapshot, region.node.root_key_id.hex())
    region.node.close()


def _verify(
    window: Window, args: list[str], capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch
) -> tuple[int, str, str, int]:
    """``eseal verify QR ARGS`` in this process: exit code, stdout, stderr, and the peak of
    memory it allocated."""
    with traced() as peak:
        code, out, err = run_eseal(["verify", window.qr_text, *args], capsys, mp)
    return code, out, err, peak.bytes


def test_good_files_verify(
    window: Window, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--bundle", str(window.bundle), "--revocations", str(window.snapshot)]
    code, out, err, _ = _verify(window, [*args, "--pin", window.root], capsys, monkeypatch)
    assert (code, err) == (0, ""), out
    assert out.startswith("✔ ")
    code, out, err, _ = _verify(window, args, capsys, monkeypatch)  # unpinned: the file is trust
    assert (code, err) == (0, ""), out


def test_a_hostile_bundle_is_refused_at_the_cost_of_its_bytes(
    window: Window,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pinned, a bundle claiming the pinned root (naming its key too) but signed by another
    key is refused before its payload is parsed: 900,000 small values parsed to ten times
    the file. Unpinned, the payload is parsed before its signature can be checked (its own
    root signs it), so a payload of more values than a bundle holds is refused by their
    count first."""
    hostile = tmp_path / "hostile-bundle.json"
    root_hex = window.region.node.config.root_public_key.hex()
    hostile.write_bytes(forged_bundle(values_bomb(900_000, root_hex), bytes.fromhex(window.root)))
    size = hostile.stat().st_size
    args = ["--bundle", str(hostile), "--pin", window.root]
    code, out, err, peak = _verify(window, args, capsys, monkeypatch)
    assert (code, out) == (2, "")
    assert err == (
        f"error: bundle {hostile}: the trust bundle is not signed by the pinned root key "
        f"{window.root}\n"
    )
    assert peak < 4 * size  # the file, its envelope's text and its payload

    hostile.write_bytes(forged_bundle(values_bomb(2_000_000), bytes.fromhex(window.root)))
    size = hostile.stat().st_size
    code, out, err, peak = _verify(window, ["--bundle", str(hostile)], capsys, monkeypatch)
    assert (code, out) == (2, "")
    assert err == (
        f"error: bundle {hostile}: trust bundle holds more than 1,000,000 values (counted as "
        "its commas, objects and lists)\n"
    )
    assert peak < 4 * size


def test_a_hostile_snapshot_is_refused_at_the_cost_of_its_bytes_or_unread(
    window: Window,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A snapshot file larger than any snapshot is refused by its size, unread; a smaller
    one that no trusted log key signed (however its signature names its key) is refused
    before its payload is decoded."""
    hostile = tmp_path / "hostile-revocations.json"
    with hostile.open("wb") as f:
        f.truncate(MAX_SNAPSHOT + 1)  # sparse: nothing to read, were it read
    args = ["--bundle", str(window.bundle), "--revocations", str(hostile)]
    code, out, err, peak = _verify(window, args, capsys, monkeypatch)
    assert (code, out) == (2, "")
    assert err == f"error: revocation snapshot {hostile} is larger than 32 MiB\n"
    assert peak < 4_000_000  # the bundle and the modules imported, not the 32 MiB

    log_kid = read_envelope(window.snapshot.read_bytes(), SNAPSHOT_TYPE)[1][0][0]
    bomb = {  # a payload of 18 MiB of empty CBOR arrays, decoded: gigabytes
        "payloadType": SNAPSHOT_TYPE,
        "payload": "n4CAgICA" * 3_000_000,
        "signatures": [{"keyid": log_kid.hex(), "sig": "A" * 86 + "=="}],
    }
    hostile.write_text(json.dumps(bomb))
    size = hostile.stat().st_size
    code, out, err, peak = _verify(window, args, capsys, monkeypatch)
    assert (code, out) == (2, "")
    assert err.startswith(
        f"error: snapshot {hostile}: the snapshot is not signed by the log key of any region "
        "trusted (500000)"
    )
    assert peak < 4 * size


def test_a_bundle_and_a_snapshot_given_the_wrong_way_round_are_named(
    window: Window, tmp_path: Path
) -> None:
    """The snapshot given as --bundle (or the bundle as --revocations) is refused naming
    what the file is and what was asked for, where the clerk read "expected a
    application/vnd.eseal.trust-bundle+json envelope, got 'application/vnd.eseal.revocations
    +cbor'". Run as the clerk runs it (its own process: what it imported is all it knows)."""

    def verify(*args: str | Path) -> Run:
        return run_e2e("verify", window.qr_text, *args, cwd=tmp_path, passphrase=None)

    refused = verify("--bundle", window.snapshot)
    assert (refused.code, refused.stdout) == (2, ""), str(refused)
    assert refused.stderr == (
        f"error: bundle {window.snapshot}: this is a revocation snapshot, not a trust bundle\n"
    )
    refused = verify("--bundle", window.bundle, "--revocations", window.bundle)
    assert (refused.code, refused.stdout) == (2, ""), str(refused)
    assert refused.stderr == (
        f"error: snapshot {window.bundle}: this is a trust bundle, not a revocation snapshot\n"
    )
    # A file of another kind still says what it is and what was expected.
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"payloadType": "text/plain", "payload": "", "signatures": []}))
    refused = verify("--bundle", other)
    assert refused.code == 2, str(refused)
    assert "expected a application/vnd.eseal.trust-bundle+json envelope, got 'text/plain'" in (
        refused.stderr
    )
