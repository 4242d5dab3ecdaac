"""Attacks on the stored SQLite ledger: every edit, deletion, insertion or reordering of a
row is found by the audit, which names the first bad entry."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.audit import audit
from ledger.sql import SqlStore, sqlite_url
from tests.ledger.conftest import draft, log_verifier, make_log

SIZE = 600


def _ledger(tmp_path: Path) -> Path:
    store = SqlStore(sqlite_url(tmp_path))
    log = make_log(store)
    log.append([draft(i) for i in range(100)])
    log.append([draft(i) for i in range(100, SIZE)])
    store.close()
    return tmp_path / "ledger.db"


def _tamper(db: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(sql, args)
    conn.close()


def _row(db: Path, index: int) -> bytes:
    conn = sqlite3.connect(db)
    (data,) = conn.execute("SELECT data FROM ledger_entry WHERE idx = ?", (index,)).fetchone()
    conn.close()
    return bytes(data)


def _audit(tmp_path: Path) -> tuple[bool, int | None, list[str]]:
    store = SqlStore(sqlite_url(tmp_path))
    try:
        report = audit(store, log_verifier())
    finally:
        store.close()
    return report.ok, report.first_bad_index, report.problems


def _flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


Attack = Callable[[Path], None]


def edit_subject(db: Path) -> None:
    data = _row(db, 137)
    _tamper(db, "UPDATE ledger_entry SET data = ? WHERE idx = 137", _flip_byte(data, len(data) - 3))


def edit_prev(db: Path) -> None:
    _tamper(db, "UPDATE ledger_entry SET data = ? WHERE idx = 137", _flip_byte(_row(db, 137), 10))


def garble(db: Path) -> None:
    _tamper(db, "UPDATE ledger_entry SET data = ? WHERE idx = 137", b"\xa1\x00\x58\x20garbage")


def delete(db: Path) -> None:
    _tamper(db, "DELETE FROM ledger_entry WHERE idx = 137")


def delete_last(db: Path) -> None:
    _tamper(db, "DELETE FROM ledger_entry WHERE idx = ?", SIZE - 1)


def insert_after_head(db: Path) -> None:
    _tamper(db, "INSERT INTO ledger_entry (idx, data) VALUES (?, ?)", SIZE, _row(db, 5))


def insert_shifting(db: Path) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE ledger_entry SET idx = -idx - 1 WHERE idx >= 137")
        conn.execute("UPDATE ledger_entry SET idx = -idx WHERE idx < 0")
        conn.execute("INSERT INTO ledger_entry (idx, data) VALUES (137, ?)", (_row(db, 5),))
    conn.close()


def swap(db: Path) -> None:
    a, b = _row(db, 137), _row(db, 412)
    _tamper(db, "UPDATE ledger_entry SET data = ? WHERE idx = 137", b)
    _tamper(db, "UPDATE ledger_entry SET data = ? WHERE idx = 412", a)


def swap_neighbours(db: Path) -> None:
    a, b = _row(db, 137), _row(db, 138)
    _tamper(db, "UPDATE ledger_entry SET data = ? WHERE idx = 137", b)
    _tamper(db, "UPDATE ledger_entry SET data = ? WHERE idx = 138", a)


def edit_tile(db: Path) -> None:
    conn = sqlite3.connect(db)
    (hashes,) = conn.execute("SELECT hashes FROM ledger_tile WHERE level=0 AND idx=0").fetchone()
    with conn:
        conn.execute(
            "UPDATE ledger_tile SET hashes = ? WHERE level=0 AND idx=0",
            (_flip_byte(bytes(hashes), 137 * 32 + 5),),
        )
    conn.close()


@pytest.mark.parametrize(
    ("attack", "first_bad"),
    [
        (edit_subject, 137),
        (edit_prev, 137),
        (garble, 137),
        (delete, 137),
        (delete_last, SIZE - 1),
        (insert_after_head, SIZE),
        (insert_shifting, 137),
        (swap, 137),
        (swap_neighbours, 137),
        (edit_tile, 137),
    ],
)
def test_tampered_row_is_named(tmp_path: Path, attack: Attack, first_bad: int) -> None:
    db = _ledger(tmp_path)
    assert _audit(tmp_path)[0]
    attack(db)
    ok, index, problems = _audit(tmp_path)
    assert not ok
    assert index == first_bad, problems


def test_rewritten_history_fails_the_signed_checkpoint(tmp_path: Path) -> None:
    """An attacker who rewrites an entry and every hash after it still cannot forge the
    log key's signature on the checkpoint."""
    db = _ledger(tmp_path)
    other = tmp_path / "forged"
    other.mkdir()
    store = SqlStore(sqlite_url(other))
    log = make_log(store)
    log.append([draft(i) for i in range(100)])
    log.append([draft(i if i != 300 else 9999) for i in range(100, SIZE)])
    store.close()
    forged = sqlite3.connect(other / "ledger.db")
    rows = forged.execute("SELECT idx, data FROM ledger_entry").fetchall()
    tiles = forged.execute("SELECT level, idx, hashes FROM ledger_tile").fetchall()
    head = forged.execute("SELECT size, last_hash FROM ledger_head").fetchone()
    forged.close()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM ledger_entry")
        conn.execute("DELETE FROM ledger_tile")
        conn.executemany("INSERT INTO ledger_entry VALUES (?, ?)", rows)
        conn.executemany("INSERT INTO ledger_tile VALUES (?, ?, ?)", tiles)
        conn.execute("UPDATE ledger_head SET size = ?, last_hash = ?", head)
    conn.close()
    ok, _, problems = _audit(tmp_path)
    assert not ok
    assert any("checkpoint at size 600" in p for p in problems), problems
