"""Durable appends per second on SQLite (files on disk, WAL, synchronous=FULL).

eseal's single-entry and bulk appends (chain, leaf and tile hashes, a signed checkpoint
and the head update, one transaction per ``log.append``), beside two baselines run in
the same process on the same disk: raw sqlite3 inserting the same encoded rows
(idx, data) in transactions of the same size with no hashing, and pymerkle's
SqliteTree appending the same bytes. Every figure is measured ``--repeats`` times with
the configurations interleaved round by round; the table gives the median and the best.

    python -m bench.append [--quick] [--repeats 5]
"""

from __future__ import annotations

import functools
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pymerkle import SqliteTree

from bench._common import (
    base_parser,
    chunks,
    drafts,
    encode_chain,
    make_log,
    median,
    out_dir,
    pin_one_core,
    profile_top,
    sqlite_pragmas,
    sqlite_store,
    table,
    write_json,
)
from ledger.entries import Entry

GOAL_BULK_PER_S = 30_000


@dataclass(frozen=True)
class Config:
    mode: str  # "single" or "bulk"
    system: str  # "eseal", "raw sqlite3", "pymerkle"
    batch: int
    entries: int

    @property
    def label(self) -> str:
        return f"{self.mode} {self.system} (batch {self.batch})"


@dataclass(frozen=True)
class Sample:
    entries: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.entries / self.seconds


Runner = Callable[[Path, Config], Sample]


def _timed(body: Callable[[], None], entries: int) -> Sample:
    wall, cpu = time.perf_counter(), time.process_time()
    body()
    return Sample(entries, time.perf_counter() - wall, time.process_time() - cpu)


class Workload:
    """The drafts and their encoded, chained bytes, made once and shared by every run."""

    def __init__(self, count: int) -> None:
        self.drafts: list[Entry] = drafts(0, count)
        self.rows, _ = encode_chain(self.drafts)

    def run_eseal(self, path: Path, cfg: Config) -> Sample:
        store = sqlite_store(path / "ledger.db")
        log = make_log(store)
        work = self.drafts[: cfg.entries]
        if cfg.mode == "single":

            def body() -> None:
                for entry in work:
                    log.append([entry])
        else:

            def body() -> None:
                for lo, hi in chunks(0, cfg.entries, cfg.batch):
                    log.append(work[lo:hi])

        try:
            sample = _timed(body, cfg.entries)
            # Same bytes as the baselines append, and all of them durable.
            assert store.head().size == cfg.entries
            assert store.read_entries(cfg.entries - 1, cfg.entries)[0] == self.rows[cfg.entries - 1]
        finally:
            store.close()
        return sample

    def run_raw(self, path: Path, cfg: Config) -> Sample:
        con = sqlite3.connect(path / "raw.db", isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("CREATE TABLE ledger_entry (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        rows = self.rows[: cfg.entries]
        sql = "INSERT INTO ledger_entry (idx, data) VALUES (?, ?)"

        def body() -> None:
            for lo, hi in chunks(0, cfg.entries, cfg.batch):
                con.execute("BEGIN IMMEDIATE")
                if hi - lo == 1:
                    con.execute(sql, (lo, rows[lo]))
                else:
                    con.executemany(sql, zip(range(lo, hi), rows[lo:hi], strict=True))
                con.execute("COMMIT")

        try:
            sample = _timed(body, cfg.entries)
            assert con.execute("SELECT count(*) FROM ledger_entry").fetchone()[0] == cfg.entries
        finally:
            con.close()
        return sample

    def run_pymerkle(self, path: Path, cfg: Config) -> Sample:
        tree = SqliteTree(str(path / "pymerkle.db"))
        # pymerkle opens SQLite with its defaults (rollback journal); give it the same
        # durability settings as eseal and the raw baseline.
        tree.con.execute("PRAGMA journal_mode=WAL")
        tree.con.execute("PRAGMA synchronous=FULL")
        rows = self.rows[: cfg.entries]
        if cfg.mode == "single":

            def body() -> None:
                for data in rows:
                    tree.append_entry(data)  # one transaction each
        else:

            def body() -> None:
                for lo, hi in chunks(0, cfg.entries, cfg.batch):
                    tree.append_entries(rows[lo:hi])  # one transaction per call

        try:
            sample = _timed(body, cfg.entries)
            assert tree.get_size() == cfg.entries
        finally:
            tree.close()
        return sample


def measure(
    configs: Sequence[Config], work: Workload, repeats: int, scratch: Path | None
) -> dict[Config, list[Sample]]:
    runners: dict[str, Runner] = {
        "eseal": work.run_eseal,
        "raw sqlite3": work.run_raw,
        "pymerkle": work.run_pymerkle,
    }
    samples: dict[Config, list[Sample]] = {c: [] for c in configs}
    for r in range(repeats):
        # Rotate the order each round so slow phases of a noisy machine spread evenly.
        order = list(configs[r % len(configs) :]) + list(configs[: r % len(configs)])
        for cfg in order:
            path = Path(tempfile.mkdtemp(prefix="eseal-bench-", dir=scratch))
            try:
                samples[cfg].append(runners[cfg.system](path, cfg))
                journal = {
                    "eseal": "ledger.db",
                    "raw sqlite3": "raw.db",
                    "pymerkle": "pymerkle.db",
                }[cfg.system]
                assert sqlite_pragmas(path / journal)["journal_mode"] == "wal"
            finally:
                shutil.rmtree(path, ignore_errors=True)
            s = samples[cfg][-1]
            print(f"  round {r + 1}/{repeats}  {cfg.label:<40} {s.rate:>10,.0f} /s", flush=True)
    return samples


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "append benchmark")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 5; 2 quick)")
    parser.add_argument("--single", type=int, default=None, help="single appends (2,000)")
    parser.add_argument("--bulk", type=int, default=None, help="bulk entries (200,000)")
    parser.add_argument(
        "--scratch", type=Path, default=None, help="where the temporary databases go (TMPDIR)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only print a cProfile of one eseal single run and one bulk run (no figures)",
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    n_single = args.single or (50 if args.quick else 2_000)
    n_bulk = args.bulk or (5_000 if args.quick else 200_000)
    batches = (100, 1_000) if args.quick else (1_000, 10_000)

    cpu = pin_one_core()
    print(f"append: pinned to CPU {cpu}; {repeats} rounds; scratch {args.scratch or 'TMPDIR'}")
    work = Workload(max(n_single, n_bulk))
    systems = ("eseal", "raw sqlite3", "pymerkle")
    configs = [Config("single", s, 1, n_single) for s in systems]
    configs += [Config("bulk", s, b, n_bulk) for b in batches for s in systems]
    if args.profile:
        for cfg in (configs[0], configs[-3]):  # eseal single; eseal bulk, largest batch
            path = Path(tempfile.mkdtemp(prefix="eseal-bench-", dir=args.scratch))
            try:
                print(f"--- cProfile: {cfg.label}, {cfg.entries:,} entries")
                print(profile_top(functools.partial(work.run_eseal, path, cfg), 20))
            finally:
                shutil.rmtree(path, ignore_errors=True)
        return {}
    samples = measure(configs, work, repeats, args.scratch)

    results: list[dict[str, Any]] = []
    rows: list[list[object]] = []
    raw_median: dict[tuple[str, int], float] = {}
    for cfg in configs:
        rates = [s.rate for s in samples[cfg]]
        cpu_us = median([s.cpu_seconds / s.entries * 1e6 for s in samples[cfg]])
        if cfg.system == "raw sqlite3":
            raw_median[(cfg.mode, cfg.batch)] = median(rates)
        results.append(
            {
                **asdict(cfg),
                "median_per_s": median(rates),
                "best_per_s": max(rates),
                "cpu_us_per_entry_median": cpu_us,
                "samples": [asdict(s) | {"rate": s.rate} for s in samples[cfg]],
            }
        )
    for res in results:
        base = raw_median[(res["mode"], res["batch"])]
        res["vs_raw_sqlite3"] = res["median_per_s"] / base
        rows.append(
            [
                res["mode"],
                res["system"],
                res["batch"],
                res["entries"],
                res["median_per_s"],
                res["best_per_s"],
                res["cpu_us_per_entry_median"],
                f"{res['vs_raw_sqlite3']:.2f}x",
            ]
        )
    bulk = [r for r in results if r["mode"] == "bulk" and r["system"] == "eseal"]
    goal_met = all(r["median_per_s"] >= GOAL_BULK_PER_S for r in bulk)
    print()
    print(
        table(
            [
                "mode",
                "system",
                "batch",
                "entries",
                f"median/s ({repeats})",
                "best/s",
                "CPU µs/entry",
                "vs raw",
            ],
            rows,
        )
    )
    print(
        f"\ngoal: eseal bulk ≥ {GOAL_BULK_PER_S:,} durable appends/s on one core "
        f"(median): {'met' if goal_met else 'NOT met'}"
    )
    doc = {
        "method": (
            f"{repeats} rounds, configurations interleaved (order rotated each round), a fresh "
            "database in a new temporary directory for every run; rate = entries / wall time "
            "of the append calls only (drafts and encoded rows are made beforehand); "
            "median and best over the rounds; process pinned to one CPU"
        ),
        "pinned_cpu": cpu,
        "repeats": repeats,
        "goal": {"eseal_bulk_per_s": GOAL_BULK_PER_S, "met": goal_met},
        "results": results,
    }
    path = write_json(out_dir(args), "append", doc)
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    main()
