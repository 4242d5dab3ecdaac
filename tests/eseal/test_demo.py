"""``eseal demo``'s window (eseal/demo_window.py): its verdicts said Chinese first, and a
verdict other than the expected one failing the demo instead of being printed. The JSON
facts, and the demo run twice, are checked end to end in tests/e2e/test_cli.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eseal import demo_window
from eseal.node import init_node
from tests.eseal.conftest import NOW, PASSPHRASE, run_eseal
from verifier.scan_pool import close_default_pool


@pytest.fixture(autouse=True)
def demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    monkeypatch.chdir(tmp_path)
    yield
    close_default_pool()  # the QR images were read by this process's scan workers


def test_the_demo_says_each_window_verdict_chinese_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    code, out, err = run_eseal(["--data", str(data), "demo"], capsys, monkeypatch)
    assert code == 0, err
    lines = [" ".join(line.split()) for line in out.splitlines()]
    for said in (
        "license-1.qr.png 有效 VALID",
        "license-3.qr.png 有效 VALID",
        "license-2.qr.png 已撤销 REVOKED",
        "stamp.qr.png + notice.txt 有效 VALID",
        "stamp.qr.png + notice-changed.txt 文件与印章不符 DOCUMENT_MISMATCH",
        "license-510000.qr.png with bundles 500000 + 510000 有效 VALID",
        "license-510000.qr.png with bundle 500000 alone 未知签发机关 UNKNOWN_ISSUER",
    ):
        assert said in lines, out
    assert f"跨省通办: region 510000 四川省, node in {data / 'peer-510000'}" in lines, out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # nothing written elsewhere


def test_a_verdict_not_the_expected_one_fails_the_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revocation that did not happen leaves the license VALID at the window: the demo
    says so and exits 1, and prints no report."""

    def not_revoked(*args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(demo_window, "change_status", not_revoked)
    code, out, err = run_eseal(["--data", str(tmp_path / "data"), "demo"], capsys, monkeypatch)
    assert code == 1, err
    assert out == ""
    assert "license-2.qr.png: the window said VALID" in err, err
    assert "not REVOKED" in err, err


def test_a_second_region_directory_of_another_region_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's second region is 四川省 (510000): a node of another region in its place is
    neither used nor changed."""
    data = tmp_path / "data"
    other = data / "peer-510000"
    init_node(other, region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW).close()
    before = {p: p.read_bytes() for p in other.rglob("*") if p.is_file()}
    code, _, err = run_eseal(["--data", str(data), "demo"], capsys, monkeypatch)
    assert code == 2, err
    assert "holds the node of region 110000, not the demo's second region 510000" in err, err
    assert {p: p.read_bytes() for p in other.rglob("*") if p.is_file()} == before
