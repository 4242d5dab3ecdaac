"""Bulk issuance from CSV: a SIGKILL midway loses nothing that was acknowledged (written to
the results file), and the ledger audits clean after."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from eseal.cli_bulk import MAX_PENDING
from eseal.ids import make_license_id
from eseal.licenses import get_license
from eseal.node import Node
from ledger.audit import audit
from ledger.entries import decode_entry
from tests.eseal.conftest import BUSINESS, MARKET, PASSPHRASE, make_region

ROWS = 6000


def _csv(path: Path, rows: int = ROWS) -> Path:
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
        for i in range(rows):
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
    return path


def _bulk(data: Path, rows: Path, results: Path) -> subprocess.Popen[str]:
    """``eseal license bulk`` of ``rows`` in a process of its own (to be killed or
    interrupted), with no ESEAL_ setting but the passphrase; its stderr piped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
    args = ["--data", str(data), "license", "bulk", "--agency", MARKET, str(rows)]
    return subprocess.Popen(
        [sys.executable, "-c", "from eseal.cli import main; main()", *args, "--out", str(results)],
        env=env | {"ESEAL_PASSPHRASE": PASSPHRASE.decode()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _refused_in_process(
    data: Path,
    rows: Path,
    results: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:
    """What ``eseal license bulk`` of ``rows`` says on stderr, run in this process (so that
    the test may stub what it calls), once it has exited 2."""
    from eseal import cli

    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    args = ["--data", str(data), "license", "bulk", "--agency", MARKET, str(rows)]
    monkeypatch.setattr("sys.argv", ["eseal", *args, "--out", str(results)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    return capsys.readouterr().err


def _acked(results: Path) -> list[list[str]]:
    if not results.exists():
        return []
    with results.open(encoding="utf-8") as f:
        return [row for row in csv.reader(f) if len(row) == 3][1:]


def test_sigkill_during_bulk_issuance_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "node"
    make_region(data).node.close()
    with Node.open(data) as node:
        before = node.log.size()
    _csv(tmp_path / "in.csv")
    results = tmp_path / "issued.csv"
    proc = _bulk(data, tmp_path / "in.csv", results)
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
        assert _issued_ids(node, before) >= {row[0] for row in acked}
    finally:
        node.close()
    # The kill may have landed between a batch's commit and its rows: the next run lists
    # that batch (or finds it was not recorded) before anything else, so that, whatever the
    # moment of the kill, every license the ledger holds is in the results file.
    _csv(tmp_path / "more.csv", rows=3)
    rerun = _bulk(data, tmp_path / "more.csv", results)
    _, said = rerun.communicate(timeout=120)
    with Node.open(data) as node:
        assert _issued_ids(node, before) == {row[0] for row in _acked(results)}, said
    assert not (tmp_path / "issued.csv.pending").exists()


def _issued_ids(node: Node, after: int) -> set[str]:
    """The ids of the licenses the ledger records issued at index ``after`` and later."""
    size = node.log.size()
    entries = (decode_entry(raw) for raw in node.store.read_entries(after, size))
    return {e.subject for e in entries if e.kind == "license.issue"}


class _Killed(BaseException):
    """The process dying at that point: nothing after it runs, no handler but pytest's."""


def _bulk_in_process(data: Path, rows: Path, results: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    from eseal import cli

    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    args = ["--data", str(data), "license", "bulk", "--agency", MARKET, str(rows)]
    monkeypatch.setattr("sys.argv", ["eseal", *args, "--out", str(results)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert isinstance(exited.value.code, int)
    return exited.value.code


def _killed_after_recording(monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    """``license bulk`` dies right after batch number ``batch`` (from 1) is committed,
    before its rows are written: as ``kill -9`` between the two."""
    import eseal.licenses

    real, calls = eseal.licenses.issue_many, []

    def issue_many(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        issued = real(*args, **kwargs)
        if len(calls) == batch:
            raise _Killed
        return issued

    monkeypatch.setattr(eseal.licenses, "issue_many", issue_many)


def test_a_batch_recorded_but_not_listed_is_listed_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "node"
    make_region(data).node.close()
    with Node.open(data) as node:
        before = node.log.size()
    rows, results = _csv(tmp_path / "in.csv", rows=1200), tmp_path / "issued.csv"
    pending = tmp_path / "issued.csv.pending"
    with monkeypatch.context() as m:
        _killed_after_recording(m, batch=2)
        with pytest.raises(_Killed):
            _bulk_in_process(data, rows, results, m)
    assert len(_acked(results)) == 500  # the first batch; the second is recorded, unlisted
    assert pending.exists()
    # The kill also cut a row of the results file in half.
    with results.open("a", encoding="utf-8") as f:
        f.write("ELx-half-a-row,12")
    capsys.readouterr()

    assert _bulk_in_process(data, rows, results, monkeypatch) == 2
    err = capsys.readouterr().err
    assert f"issued lines 2 to 1001 of {rows} before it stopped" in err
    assert "500 of them just added" in err
    assert "Nothing was issued this time" in err
    listed = _acked(results)
    assert len(listed) == 1000
    assert results.read_text(encoding="utf-8").count("ELx-half-a-row") == 0
    with Node.open(data) as node:
        assert _issued_ids(node, before) == {row[0] for row in listed}
        for license_id, index, qr_text in listed:
            row = get_license(node, license_id)
            assert (row.ledger_index, row.document) == (int(index), qr_text)
    assert not pending.exists()
    # The note is gone: the next run issues again.
    assert _bulk_in_process(data, _csv(tmp_path / "rest.csv", rows=2), results, monkeypatch) == 0
    assert len(_acked(results)) == 1002


def test_a_note_of_a_batch_never_recorded_or_already_listed_adds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "node"
    make_region(data).node.close()
    rows, results = _csv(tmp_path / "in.csv", rows=3), tmp_path / "issued.csv"
    pending = tmp_path / "issued.csv.pending"
    assert _bulk_in_process(data, rows, results, monkeypatch) == 0
    listed = results.read_bytes()
    ids = [row[0] for row in _acked(results)]
    note = {"format": "eseal-bulk-pending/v1", "csv": str(rows), "lines": [2, 4], "ids": ids}
    pending.write_text(json.dumps(note))  # killed after listing, before removing the note
    capsys.readouterr()
    assert _bulk_in_process(data, rows, results, monkeypatch) == 2
    assert "0 of them just added" in capsys.readouterr().err
    assert results.read_bytes() == listed

    never = [str(make_license_id(BUSINESS, MARKET, f"NEVERRECORDED{i}")) for i in (1, 2)]
    note |= {"lines": [5, 6], "ids": never}
    pending.write_text(json.dumps(note))  # killed before the batch's commit
    assert _bulk_in_process(data, rows, results, monkeypatch) == 2
    err = capsys.readouterr().err
    assert f"issued lines 2 to 4 of {rows} before it stopped" in err
    assert "lines 5 to 6 was not recorded" in err
    assert results.read_bytes() == listed

    pending.write_text("{not a note")
    assert _bulk_in_process(data, rows, results, monkeypatch) == 2
    assert "is not the note of an interrupted `license bulk`" in capsys.readouterr().err
    assert pending.exists()


def _three_issued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path, int]:
    """A new region's data directory, a CSV of three rows, the results of a run that
    issued them, and the size of the ledger after."""
    data = tmp_path / "node"
    make_region(data).node.close()
    rows, results = _csv(tmp_path / "in.csv", rows=3), tmp_path / "issued.csv"
    assert _bulk_in_process(data, rows, results, monkeypatch) == 0
    with Node.open(data) as node:
        return data, rows, results, node.log.size()


def test_a_note_with_ids_that_are_no_license_ids_is_refused_naming_each_flaw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run notes only ids it made: an id of the note that is no license id (edited since)
    is named with its flaw, in the API's invalid-license-id words, each of them at once as
    a CSV's invalid rows are; nothing is recovered or issued and the note is kept. It was
    looked up and taken for an id never recorded, and the note's batch for unrecorded."""
    data, rows, results, size = _three_issued(tmp_path, monkeypatch)
    pending = tmp_path / "issued.csv.pending"
    listed = results.read_bytes()
    ids = [row[0] for row in _acked(results)]
    wrong_check = ids[1][:-1] + ("A" if ids[1][-1] != "A" else "B")
    note = {"format": "eseal-bulk-pending/v1", "csv": str(rows), "lines": [2, 4], "ids": ids}
    note["ids"] = [ids[0], wrong_check, ids[2]]
    pending.write_text(json.dumps(note))
    capsys.readouterr()
    said = _refused_in_process(data, rows, results, monkeypatch, capsys)
    assert said == (
        f"error: {pending}: id 2 {wrong_check!r}: license id: check character should be "
        f"{ids[1][-1]!r}, got {wrong_check[-1]!r}; nothing was recovered or issued: correct "
        "it, or move the note away\n"
    )
    note["ids"] = ["ELx-1", ids[0], "1.2.156.3005.2.x", *[f"bad{i}" for i in range(20)]]
    pending.write_text(json.dumps(note))
    said = _refused_in_process(data, rows, results, monkeypatch, capsys)
    assert said.startswith(
        f"error: 22 ids of {pending} are no license ids (nothing was recovered or issued: "
        "correct them, or move the note away):\n"
        "  id 1 'ELx-1': license id must start with '1.2.156.3005.2.'\n"
        "  id 3 '1.2.156.3005.2.x': license id must have 5 dot-separated parts"
    ), said
    assert said.endswith("  and 2 more\n")
    assert results.read_bytes() == listed
    assert pending.exists()
    with Node.open(data) as node:
        assert node.log.size() == size
    # Corrected, the note is recovered as any other: its batch was recorded and listed.
    note["ids"] = ids
    pending.write_text(json.dumps(note))
    assert _bulk_in_process(data, rows, results, monkeypatch) == 2
    assert "0 of them just added" in capsys.readouterr().err
    assert not pending.exists()


def test_a_damaged_note_is_refused_naming_its_flaw_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A note cut short, edited with a key twice (json.loads kept the last: the batch of the
    other ids was recovered), swollen past its bound, or nested past the stack (a
    traceback) is refused, exit 2, in one line naming it and its flaw; nothing is recovered
    or issued and the note is kept."""
    data, rows, results, size = _three_issued(tmp_path, monkeypatch)
    pending = tmp_path / "issued.csv.pending"
    listed = results.read_bytes()
    ids = [row[0] for row in _acked(results)]
    note = {"format": "eseal-bulk-pending/v1", "csv": str(rows), "lines": [2, 4], "ids": ids}
    text = json.dumps(note).encode()
    assert text.startswith(b"{")
    never = [str(make_license_id(BUSINESS, MARKET, f"NEVERRECORDED{i}")) for i in (1, 2)]
    damaged = {
        "its text is not JSON (Unterminated string": text[: len(text) // 2],
        "its text is not JSON (duplicate key 'ids')": b'{"ids": %s, ' % json.dumps(never).encode()
        + text[1:],
        f"its text is larger than {MAX_PENDING:,} bytes": text + b" " * MAX_PENDING,
        "its text is not JSON (nested too deeply)": b"[" * 100_000,
    }
    capsys.readouterr()
    for said, damage in damaged.items():
        pending.write_bytes(damage)
        err = _refused_in_process(data, rows, results, monkeypatch, capsys)
        assert err.startswith(
            f"error: {pending} is not the note of an interrupted `license bulk` ({said}"
        ), err
        assert err.endswith("): move it away\n"), err
        assert err.count("\n") == 1, err
        assert pending.read_bytes() == damage
        assert results.read_bytes() == listed
    with Node.open(data) as node:
        assert node.log.size() == size


def test_ctrl_c_during_bulk_issuance_stops_between_batches_and_says_where(
    tmp_path: Path,
) -> None:
    """Ctrl-C (SIGINT) lets the batch in progress be recorded and listed, then stops: every
    license issued is in the results file, and the message names the CSV lines issued."""
    data = tmp_path / "node"
    make_region(data).node.close()
    with Node.open(data) as node:
        before = node.log.size()
    _csv(tmp_path / "in.csv")
    results = tmp_path / "issued.csv"
    proc = _bulk(data, tmp_path / "in.csv", results)
    deadline = time.monotonic() + 120
    while not _acked(results) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, said = proc.communicate(timeout=120)
    acked = _acked(results)
    assert proc.returncode == 130, said
    assert "Traceback" not in said
    n = len(acked)
    assert 0 < n < ROWS, "the interrupt should land midway"
    assert (
        f"error: interrupted: {n} of {ROWS} licenses were issued, CSV lines 2 to {n + 1} of "
        f"{tmp_path / 'in.csv'} (listed in {results}); lines {n + 2} to {ROWS + 1} were not"
    ) in said
    with Node.open(data) as node:
        assert audit(node.store, node.log_verifier).ok
        assert node.log.size() == before + n  # nothing issued that is not listed
        for license_id, _, qr_text in acked:
            assert get_license(node, license_id).document == qr_text


def test_an_error_midway_through_bulk_issuance_says_which_lines_were_issued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch that fails (the database gone, a lock held too long) records none of its
    licenses; the error says which lines the batches before it issued, so that the operator
    issues the rest, not the whole file again."""
    from eseal import cli_bulk, licenses
    from keys.errors import ExternalFailure

    data = tmp_path / "node"
    make_region(data).node.close()
    rows = _csv(tmp_path / "in.csv", 5)
    results = tmp_path / "issued.csv"
    real, calls = licenses.issue_many, []

    def second_fails(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise ExternalFailure("the database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(licenses, "issue_many", second_fails)
    monkeypatch.setattr(cli_bulk, "BULK_CHUNK", 2)
    with Node.open(data) as node:
        before = node.log.size()
    said = _refused_in_process(data, rows, results, monkeypatch, capsys)
    assert said == (
        f"error: the database is locked; 2 of 5 licenses were issued, CSV lines 2 to 3 of "
        f"{rows} (listed in {results}); lines 4 to 6 were not\n"
    )
    acked = _acked(results)
    assert len(acked) == 2
    with Node.open(data) as node:
        assert node.log.size() == before + 2
        assert [get_license(node, i).ledger_index for i, _, _ in acked] == [before, before + 1]


def test_results_that_cannot_be_written_name_the_licenses_issued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch recorded whose result rows cannot be made durable (the disk full): the error
    gives the CSV lines and ledger indexes of the licenses issued but not listed."""
    from eseal import cli_bulk

    data = tmp_path / "node"
    make_region(data).node.close()
    rows = _csv(tmp_path / "in.csv", 5)
    results = tmp_path / "issued.csv"

    real_fsync = os.fsync

    def disk_full(fd: int) -> None:  # for the results file (the batch's note is written)
        if os.readlink(f"/proc/self/fd/{fd}") == str(results):
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full)
    monkeypatch.setattr(cli_bulk, "BULK_CHUNK", 2)
    with Node.open(data) as node:
        before = node.log.size()
    assert _refused_in_process(data, rows, results, monkeypatch, capsys) == (
        f"error: cannot write {results}: No space left on device; the licenses of CSV lines "
        f"2 to 3 were issued (ledger indexes {before} to {before + 1}) but are not listed "
        f"there (the next run into {results} lists them); before them, no license was issued "
        f"(of 5 in {rows})\n"
    )
    with Node.open(data) as node:
        assert node.log.size() == before + 2  # the next batches were not issued
    monkeypatch.setattr(os, "fsync", real_fsync)  # space again: the next run lists them
    said = _refused_in_process(data, rows, results, monkeypatch, capsys)
    assert "issued lines 2 to 3" in said
    assert [int(index) for _, index, _ in _acked(results)] == [before, before + 1]


def test_every_invalid_row_is_listed_at_once_and_none_is_issued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV with several bad rows is refused for all of them in one message (the first 20
    listed, the rest counted), so that it takes one run to correct, and nothing is issued."""
    data = tmp_path / "node"
    make_region(data).node.close()
    with Node.open(data) as node:
        before = node.log.size()

    def refused(rows: Path) -> str:
        return _refused_in_process(data, rows, tmp_path / "out.csv", monkeypatch, capsys)

    # Rows that cannot be read as requests: all of them named.
    lines = _csv(tmp_path / "read.csv", 4).read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2] + ",one too many"
    lines[4] = lines[4].replace(BUSINESS, BUSINESS + ",x", 1)
    bad_read = tmp_path / "read.csv"
    bad_read.write_text("\n".join(lines) + "\n", encoding="utf-8")
    said = refused(bad_read)
    assert said.startswith(f"error: 2 rows of {bad_read} are invalid, so none was issued:\n")
    assert f"  {bad_read}:3: more values than header columns\n" in said
    assert f"  {bad_read}:5: more values than header columns\n" in said
    # Rows the agency may not issue: all of them named, past 20 counted.
    with (tmp_path / "types.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["type", "holder"])
        w.writerows([[BUSINESS, f"公司{i}"] for i in range(25)])
    said = refused(tmp_path / "types.csv")
    assert said.startswith(f"error: 25 rows of {tmp_path / 'types.csv'} are invalid")
    assert said.count(f"  {tmp_path / 'types.csv'}:") == 20
    assert said.endswith("  and 5 more\n")
    with Node.open(data) as node:
        assert node.log.size() == before


def test_a_row_refused_only_when_signed_is_named_by_its_csv_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row that passes every check made before issuing but is refused when its license is
    signed (its QR text too long for a QR code) is named by its CSV line, with the lines
    issued before it."""
    import eseal.render
    from eseal import cli_bulk

    data = tmp_path / "node"
    make_region(data).node.close()
    rows = _csv(tmp_path / "in.csv", 5)
    lines = rows.read_text(encoding="utf-8").splitlines()
    varied = "".join(chr(0x4E00 + i * 97 % 20000) for i in range(90))  # deflates little
    lines[4] = lines[4].replace("重庆第3号餐饮有限公司", f"重庆{varied}有限公司")
    rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(cli_bulk, "BULK_CHUNK", 2)
    monkeypatch.setattr(eseal.render, "QR_MAX_CHARS", 800)  # the long row's text is over it
    said = _refused_in_process(data, rows, tmp_path / "issued.csv", monkeypatch, capsys)
    assert "more than a QR code holds (800)" in said
    assert f"at {rows}:5;" in said
    assert "CSV lines 2 to 3" in said
    assert len(_acked(tmp_path / "issued.csv")) == 2


def test_a_date_in_another_form_is_refused_naming_the_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `valid_until` not written YYYY-MM-DD is named as the CSV column it is (the refusal
    named a `--valid-until` option the file has not), and a form that Python's date parser
    takes but the API refuses (20311231, an ISO week date) is refused too."""
    data = tmp_path / "node"
    make_region(data).node.close()
    rows = tmp_path / "dates.csv"
    with rows.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["type", "holder", "valid_until"])
        w.writerows([[BUSINESS, "甲公司", "2031/12/31"], [BUSINESS, "乙公司", "20311231"]])
        w.writerow([BUSINESS, "丙公司", "2031-W01-1"])
    said = _refused_in_process(data, rows, tmp_path / "out.csv", monkeypatch, capsys)
    assert said.startswith(f"error: 3 rows of {rows} are invalid")
    for line, text in ((2, "2031/12/31"), (3, "20311231"), (4, "2031-W01-1")):
        assert f"{rows}:{line}: valid_until '{text}' is not a date: write it as YYYY-MM-DD" in said
    assert "--valid-until" not in said


def test_a_misspelt_column_is_named_once_with_what_it_may_mean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A column no license type has (valid_untl) is named in the header, with the column it
    may have meant, not as an unknown field of each row's type."""
    data = tmp_path / "node"
    make_region(data).node.close()
    rows = _csv(tmp_path / "in.csv", 3)
    text = rows.read_text(encoding="utf-8").replace("holder_id,", "holder_idd,", 1)
    rows.write_text(text, encoding="utf-8")
    said = _refused_in_process(data, rows, tmp_path / "out.csv", monkeypatch, capsys)
    assert said == (
        f"error: {rows}:1: the column 'holder_idd' is neither one of holder, holder_id, type, "
        "valid_until nor a field of any license type (did you mean 'holder_id'?)\n"
    )


def test_a_csv_is_read_as_excel_saves_it_byte_offsets_counted_in_the_file(
    tmp_path: Path,
) -> None:
    """Excel's "CSV UTF-8" starts with a byte-order mark and ends lines in CRLF: the mark is
    no part of the first column's name, and a line break inside a quoted field is one "\\n"
    (as Path.read_text read it before the file was read through the bounded reader). A byte
    that is not UTF-8 is named by its offset in the file, the mark counted: it was counted
    after the mark, three bytes short."""
    from eseal.cli_bulk import _read_csv
    from keys.errors import InvalidInput

    rows = tmp_path / "excel.csv"
    header = "type,holder,address\r\n"
    rows.write_bytes(b"\xef\xbb\xbf" + f'{header}{BUSINESS},甲公司,"重庆市\r\n渝中区"\r\n'.encode())
    (row,) = _read_csv(rows)
    request = row.request
    assert (request.type_code, request.holder_name) == (BUSINESS, "甲公司")
    assert request.fields == {"address": "重庆市\n渝中区"}
    for mark in (b"", b"\xef\xbb\xbf"):
        bad = mark + header.encode() + BUSINESS.encode() + b",\xd2\xd2\r\n"  # GBK 乙
        offset = bad.index(b"\xd2")
        rows.write_bytes(bad)
        with pytest.raises(InvalidInput, match=rf"\(byte {offset} is not\)"):
            _read_csv(rows)


def test_a_csv_that_cannot_be_read_is_named_once_with_why(tmp_path: Path) -> None:
    """A CSV the system refuses to open (here a name too long for it) is named once, with
    the system's reason: the OSError's own text repeated the path and its errno."""
    from eseal.cli_bulk import _read_csv
    from keys.errors import InvalidInput

    rows = tmp_path / ("x" * 300 + ".csv")
    with pytest.raises(InvalidInput) as refused:
        _read_csv(rows)
    assert refused.value.message == f"cannot read {rows}: File name too long"
