"""Bulk issuance from CSV: a SIGKILL midway loses nothing that was acknowledged (written to
the results file), and the ledger audits clean after."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from eseal.licenses import get_license
from eseal.node import Node
from ledger.audit import audit
from ledger.entries import decode_entry
from tests.eseal.conftest import BUSINESS, MARKET, PASSPHRASE, make_region

ROWS = 6000


def _csv(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "type",
                "holder",
                "holder_id",
                "company_type",
                "legal_representative",
                "established",
                "address",
                "business_scope",
            ]
        )
        for i in range(ROWS):
            w.writerow(
                [
                    BUSINESS,
                    f"重庆第{i}号餐饮有限公司",
                    "91500000MA60XXXX15",
                    "有限责任公司",
                    "张三",
                    "2021-03-15",
                    "重庆市渝中区民族路1号",
                    "餐饮服务",
                ]
            )


def _acked(results: Path) -> list[list[str]]:
    if not results.exists():
        return []
    with results.open(encoding="utf-8") as f:
        return [row for row in csv.reader(f) if len(row) == 3][1:]


def test_sigkill_during_bulk_issuance_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "node"
    make_region(data).node.close()
    _csv(tmp_path / "in.csv")
    results = tmp_path / "issued.csv"
    env = os.environ | {"ESEAL_PASSPHRASE": PASSPHRASE.decode()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from eseal.cli import main; main()",
            "--data",
            str(data),
            "license",
            "bulk",
            "--agency",
            MARKET,
            str(tmp_path / "in.csv"),
            "--out",
            str(results),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while len(_acked(results)) < 1000 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked = _acked(results)
    assert 1000 <= len(acked) < ROWS, "the kill should land midway"
    node = Node.open(data)
    try:
        report = audit(node.store, node.log_verifier)
        assert report.ok, report.problems
        for license_id, index, qr_text in acked:
            row = get_license(node, license_id)
            assert row.document == qr_text
            entry = decode_entry(node.log.entry(int(index)))
            assert (entry.kind, entry.subject) == ("license.issue", license_id)
    finally:
        node.close()
