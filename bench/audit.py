"""Audit rate: ``ledger.audit.audit`` over a whole SQLite ledger, entries per second,
beside a baseline run in the same process: raw sqlite3 reading every row in index
order and taking the SHA-256 leaf hash of each (the least any audit must do).

The ledgers are the ones ``bench.proofs`` builds and caches (built here if missing).
Each figure is measured ``--repeats`` times, audit and baseline alternating; the table
gives the median and the best.

    python -m bench.audit [--quick] [--sizes 1000000 10000000] [--repeats 3]
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Sequence
from hashlib import sha256
from pathlib import Path
from typing import Any

from bench._common import (
    base_parser,
    log_verifier,
    median,
    out_dir,
    pin_one_core,
    profile_top,
    sqlite_store,
    table,
    write_json,
)
from bench.proofs import build_eseal, eseal_db
from ledger.audit import audit

GOAL_PER_S = 200_000


def run_audit(db: Path, n: int) -> float:
    store = sqlite_store(db)
    try:
        t = time.perf_counter()
        report = audit(store, log_verifier())
        seconds = time.perf_counter() - t
    finally:
        store.close()
    assert report.ok, report.problems
    assert report.entries_checked == n
    return seconds


def run_baseline(db: Path, n: int) -> float:
    con = sqlite3.connect(db)
    try:
        t = time.perf_counter()
        count = 0
        for _idx, data in con.execute("SELECT idx, data FROM ledger_entry ORDER BY idx"):
            sha256(b"\x00" + data).digest()
            count += 1
        seconds = time.perf_counter() - t
    finally:
        con.close()
    assert count == n
    return seconds


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "audit benchmark")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=None, help="rounds (3; 2 quick)")
    parser.add_argument("--batch", type=int, default=50_000, help="build batch if building")
    parser.add_argument("--cache", type=Path, default=None, help="ledger cache directory")
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of one audit per size"
    )
    args = parser.parse_args(argv)
    sizes = args.sizes or ([10_000] if args.quick else [1_000_000, 10_000_000])
    repeats = args.repeats or (2 if args.quick else 3)
    batch = min(args.batch, 1_000) if args.quick else args.batch
    out = out_dir(args)
    cache = args.cache or out / "ledgers"
    cpu = pin_one_core()
    print(f"audit: pinned to CPU {cpu}; sizes {sizes}; {repeats} rounds; cache {cache}")

    figures: list[dict[str, Any]] = []
    for n in sizes:
        build = build_eseal(cache, n, batch)
        db = eseal_db(cache, n)
        audits: list[float] = []
        bases: list[float] = []
        for r in range(repeats):
            pair = (("audit", audits), ("baseline", bases))
            for name, into in pair if r % 2 == 0 else pair[::-1]:
                seconds = run_audit(db, n) if name == "audit" else run_baseline(db, n)
                into.append(seconds)
                print(f"  n={n:,} round {r + 1}/{repeats} {name:<8} {n / seconds:>12,.0f} /s")
        store = sqlite_store(db)
        try:
            checkpoints = len(store.checkpoints())
        finally:
            store.close()
        fig: dict[str, Any] = {
            "size": n,
            "checkpoints": checkpoints,
            "ledger_cached": build["cached"],
            "audit_seconds": audits,
            "baseline_seconds": bases,
            "audit_median_per_s": n / median(audits),
            "audit_best_per_s": n / min(audits),
            "baseline_median_per_s": n / median(bases),
            "baseline_best_per_s": n / min(bases),
        }
        # The same round's baseline over the audit time: noise-robust when the machine is busy.
        fig["audit_vs_baseline"] = median([b / a for a, b in zip(audits, bases, strict=True)])
        if args.profile:
            text = profile_top(functools.partial(run_audit, db, n))
            print(text)
            fig["profile"] = text
        figures.append(fig)

    rows = [
        [
            f["size"],
            f["checkpoints"],
            f["audit_median_per_s"],
            f["audit_best_per_s"],
            f["baseline_median_per_s"],
            f["baseline_best_per_s"],
            f"{f['audit_vs_baseline']:.2f}x",
            median(f["audit_seconds"]),
        ]
        for f in figures
    ]
    print()
    print(
        table(
            [
                "entries",
                "checkpoints",
                f"audit median/s ({repeats})",
                "audit best/s",
                "baseline median/s",
                "baseline best/s",
                "audit/base",
                "audit s",
            ],
            rows,
        )
    )
    met = all(f["audit_median_per_s"] >= GOAL_PER_S for f in figures)
    print(f"\ngoal: audit ≥ {GOAL_PER_S:,} entries/s (median): {'met' if met else 'NOT met'}")
    doc = {
        "method": (
            f"{repeats} rounds per size, audit and baseline alternating; rate = entries / wall "
            "time of the audit() call (store opened beforehand) or of the baseline loop; "
            "median and best over the rounds; audit/baseline is the median over rounds of the "
            "same round's ratio; process pinned to one CPU"
        ),
        "pinned_cpu": cpu,
        "repeats": repeats,
        "goal": {"per_s": GOAL_PER_S, "met": met},
        "figures": figures,
    }
    path = write_json(out, "audit", doc)
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    main()
