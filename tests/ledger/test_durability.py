"""Crash safety and concurrent writers: nothing acknowledged is lost, the chain never forks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.audit import audit
from ledger.entries import decode_entry
from ledger.sql import SqlStore, sqlite_url
from tests.ledger.conftest import draft, log_verifier
from tests.postgres import postgres_url, reset_postgres

ROOT = Path(__file__).resolve().parents[2]


def _writer(url: str, writer: int, batches: int, batch_size: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.ledger.appender_proc",
            url,
            str(writer),
            str(batches),
            str(batch_size),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def _check_acked(store: SqlStore, acks: list[tuple[int, int, int]], batch_size: int) -> None:
    """Every acknowledged batch is stored, at the index it was acknowledged, unchanged."""
    for first, _size, base in acks:
        for i in (0, batch_size - 1):
            entry = decode_entry(store.read_entries(first + i, first + i + 1)[0])
            assert entry.subject == draft(base + i).subject
            assert entry.digest == draft(base + i).digest


def test_sigkill_during_bulk_append_loses_nothing_acknowledged(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    SqlStore(url).close()
    proc = _writer(url, 0, 10_000, 500)
    acks: list[tuple[int, int, int]] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while len(acks) < 15 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        first, size, base = (int(x) for x in line.split()[1:])
        acks.append((first, size, base))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(acks) == 15
    store = SqlStore(url)
    try:
        report = audit(store, log_verifier())
        assert report.ok, report.problems
        assert store.head().size >= acks[-1][1]
        _check_acked(store, acks, 500)
    finally:
        store.close()


def _concurrent(url: str, writers: int, batches: int, batch_size: int) -> None:
    procs = [_writer(url, w, batches, batch_size) for w in range(writers)]
    acks: list[tuple[int, int, int]] = []
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0
        acks += [tuple(int(x) for x in line.split()[1:]) for line in out.splitlines()]  # type: ignore[misc]
    total = writers * batches * batch_size
    starts = sorted(first for first, _, _ in acks)
    assert starts == list(range(0, total, batch_size)), "batches overlap or leave gaps"
    store = SqlStore(url)
    try:
        assert store.head().size == total
        report = audit(store, log_verifier())
        assert report.ok, report.problems
        assert report.entries_checked == total
        _check_acked(store, acks, batch_size)
    finally:
        store.close()


def test_concurrent_sqlite_writers_never_fork(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    SqlStore(url).close()
    _concurrent(url, 4, 15, 20)


@pytest.mark.postgres
def test_eight_postgres_writers_never_fork() -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    reset_postgres(url)
    SqlStore(url).close()
    _concurrent(url, 8, 15, 20)
