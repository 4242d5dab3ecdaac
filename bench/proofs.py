"""Inclusion and consistency proof time through ``Log`` on the SQLite store (tile reads
included), beside pymerkle's SqliteTree of the same entries, at several ledger sizes.

The ledgers are built with the bulk path and cached under ``bench/out/ledgers`` (a
``build.json`` beside each database marks a finished build; delete the directory to
rebuild). For every size: ``--rounds`` rounds of ``--samples`` fresh random indexes
(inclusion of entry i in the whole tree; consistency of a random older size with the
whole tree); median and p99 per round, reported as the median over the rounds.
pymerkle is measured as shipped (its subroot LRU cache on and kept across all rounds,
as in a long-running server) and cold (``disable_cache=True``: every proof from the
stored leaf hashes, the cost after a restart); cold proofs are O(n), so they run for
a time budget and the count is reported.

    python -m bench.proofs [--quick] [--sizes 10000 1000000 10000000]
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pymerkle import SqliteTree

from bench._common import (
    base_parser,
    chunks,
    drafts,
    make_log,
    median,
    out_dir,
    percentile,
    pin_one_core,
    sqlite_store,
    table,
    write_json,
)
from ledger import merkle
from ledger.log import Log
from ledger.sql import SqlStore
from ledger.tiles import TileKey

GOAL_MS = 2.0
BUILD_FORMAT = 1  # bump when the built ledgers' content changes (draft shape, batching)


# -- building (and caching) the ledgers ----------------------------------------------------


def eseal_db(cache: Path, n: int) -> Path:
    return cache / f"eseal-{n}" / "ledger.db"


def pymerkle_db(cache: Path, n: int) -> Path:
    return cache / f"pymerkle-{n}" / "tree.db"


def _cached(marker: Path, n: int, batch: int) -> dict[str, Any] | None:
    if not marker.exists():
        return None
    info: dict[str, Any] = json.loads(marker.read_text())
    if info.get("size") != n or info.get("batch") != batch or info.get("format") != BUILD_FORMAT:
        return None
    return info | {"cached": True}


def _checkpoint_wal(db: Path) -> None:
    """Fold the WAL into the database file so later reads start from a clean file."""
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def build_eseal(cache: Path, n: int, batch: int) -> dict[str, Any]:
    db = eseal_db(cache, n)
    marker = db.parent / "build.json"
    if (info := _cached(marker, n, batch)) is not None:
        return info
    shutil.rmtree(db.parent, ignore_errors=True)
    db.parent.mkdir(parents=True)
    store = sqlite_store(db)
    log = make_log(store)
    append_s = 0.0
    started = time.perf_counter()
    try:
        for lo, hi in chunks(0, n, batch):
            work = drafts(lo, hi)
            t = time.perf_counter()
            log.append(work)
            append_s += time.perf_counter() - t
        total_s = time.perf_counter() - started
        assert store.head().size == n
        root = log.root_hash().hex()
    finally:
        store.close()
    _checkpoint_wal(db)
    info = {
        "format": BUILD_FORMAT,
        "size": n,
        "batch": batch,
        "append_seconds": append_s,
        "total_seconds": total_s,
        "append_per_s": n / append_s,
        "root": root,
        "db_bytes": db.stat().st_size,
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    marker.write_text(json.dumps(info, indent=2) + "\n")
    return info | {"cached": False}


def eseal_rows(db: Path, batch: int) -> Iterator[list[bytes]]:
    """The stored entry bytes of an eseal ledger, in order, ``batch`` at a time."""
    con = sqlite3.connect(db)
    try:
        lo = 0
        while True:
            rows = con.execute(
                "SELECT idx, data FROM ledger_entry WHERE idx >= ? ORDER BY idx LIMIT ?",
                (lo, batch),
            ).fetchall()
            if not rows:
                return
            yield [bytes(r[1]) for r in rows]
            lo = int(rows[-1][0]) + 1
    finally:
        con.close()


def build_pymerkle(cache: Path, n: int, batch: int) -> dict[str, Any]:
    """A SqliteTree holding the same entry bytes as the eseal ledger of size ``n``."""
    db = pymerkle_db(cache, n)
    marker = db.parent / "build.json"
    if (info := _cached(marker, n, batch)) is not None:
        return info
    shutil.rmtree(db.parent, ignore_errors=True)
    db.parent.mkdir(parents=True)
    tree = SqliteTree(str(db))
    tree.con.execute("PRAGMA journal_mode=WAL")
    tree.con.execute("PRAGMA synchronous=FULL")
    append_s = 0.0
    started = time.perf_counter()
    try:
        for rows in eseal_rows(eseal_db(cache, n), batch):
            t = time.perf_counter()
            tree.append_entries(rows)
            append_s += time.perf_counter() - t
        total_s = time.perf_counter() - started
        assert tree.get_size() == n
    finally:
        tree.close()
    _checkpoint_wal(db)
    info = {
        "format": BUILD_FORMAT,
        "size": n,
        "batch": batch,
        "append_seconds": append_s,
        "total_seconds": total_s,
        "append_per_s": n / append_s,
        "db_bytes": db.stat().st_size,
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    marker.write_text(json.dumps(info, indent=2) + "\n")
    return info | {"cached": False}


# -- counting tile reads -------------------------------------------------------------------


class CountingStore(SqlStore):
    """The SQL store, counting the tiles and tile queries that proofs read."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.reset()

    def reset(self) -> None:
        self.tiles = 0
        self.tile_queries = 0

    def read_tiles(self, keys: Sequence[TileKey]) -> dict[TileKey, bytes]:
        self.tiles += len(keys)
        self.tile_queries += len({k[0] for k in keys})  # SqlStore: one SELECT per tile level
        return super().read_tiles(keys)


# -- measuring -----------------------------------------------------------------------------


def _time_ms(fn: Callable[[int], object], args: Sequence[int]) -> list[float]:
    out: list[float] = []
    for a in args:
        t = time.perf_counter_ns()
        fn(a)
        out.append((time.perf_counter_ns() - t) / 1e6)
    return out


def _summary(rounds: list[list[float]]) -> dict[str, Any]:
    return {
        "median_ms": median([median(r) for r in rounds]),
        "p99_ms": median([percentile(r, 99) for r in rounds]),
        "max_ms": max(max(r) for r in rounds),
        "rounds": [
            {"median_ms": median(r), "p99_ms": percentile(r, 99), "samples": len(r)} for r in rounds
        ],
    }


def index_sets(n: int, rounds: int, samples: int) -> tuple[list[list[int]], list[list[int]]]:
    """Per round: random entry indexes (inclusion) and random older sizes (consistency)."""
    rng = random.Random(n)
    incl = [[rng.randrange(n) for _ in range(samples)] for _ in range(rounds)]
    cons = [[rng.randrange(1, n) for _ in range(samples)] for _ in range(rounds)]
    return incl, cons


def check_eseal(log: Log, n: int, incl: list[int], cons: list[int]) -> None:
    """The measured proofs are real: a few of them verify against the signed roots."""
    root = log.root_hash()
    assert root == log.latest().root_hash
    for i in incl[:5]:
        _, proof = log.inclusion_proof(i)
        merkle.verify_inclusion(merkle.leaf_hash(log.entry(i)), i, n, proof, root)
    for m in cons[:5]:
        merkle.verify_consistency(m, n, log.consistency_proof(m, n), log.root_hash(m), root)


def measure_eseal(
    cache: Path, n: int, incl: list[list[int]], cons: list[list[int]]
) -> dict[str, Any]:
    store = CountingStore(f"sqlite:///{eseal_db(cache, n)}")
    log = make_log(store)
    try:
        check_eseal(log, n, incl[0], cons[0])
        for i in incl[0][:20]:  # warm the connection pool and statement caches
            log.inclusion_proof(i)
        store.reset()
        for i in incl[0]:
            log.inclusion_proof(i)
        incl_tiles = store.tiles / len(incl[0])
        incl_queries = store.tile_queries / len(incl[0])
        store.reset()
        for m in cons[0]:
            log.consistency_proof(m, n)
        cons_tiles = store.tiles / len(cons[0])
        cons_queries = store.tile_queries / len(cons[0])

        def inclusion(i: int) -> object:
            return log.inclusion_proof(i)

        def consistency(m: int) -> object:
            return log.consistency_proof(m, n)

        inc = [_time_ms(inclusion, r) for r in incl]
        con = [_time_ms(consistency, r) for r in cons]
    finally:
        store.close()
    return {
        "inclusion": _summary(inc) | {"tiles": incl_tiles, "tile_queries": incl_queries},
        "consistency": _summary(con) | {"tiles": cons_tiles, "tile_queries": cons_queries},
    }


def measure_pymerkle(
    cache: Path,
    n: int,
    incl: list[list[int]],
    cons: list[list[int]],
    *,
    cold_budget_s: float,
    eseal_root: str,
) -> dict[str, Any]:
    db = str(pymerkle_db(cache, n))
    out: dict[str, Any] = {}
    tree = SqliteTree(db)  # as shipped: subroot cache on, kept across the rounds
    try:

        def inclusion(i: int) -> object:
            return tree.prove_inclusion(i + 1, n)  # pymerkle counts leaves from one

        def consistency(m: int) -> object:
            return tree.prove_consistency(m, n)

        out["inclusion"] = _summary([_time_ms(inclusion, r) for r in incl])
        out["consistency"] = _summary([_time_ms(consistency, r) for r in cons])
        out["cache"] = tree.get_cache_info()._asdict()
        t = time.perf_counter()
        same_root = tree.get_root(n).hex() == eseal_root
        out["root_matches_eseal"] = same_root
        out["root_seconds_warm"] = time.perf_counter() - t
        assert same_root, "pymerkle and eseal disagree on the root of the same entries"
    finally:
        tree.close()
    cold = SqliteTree(db, disable_cache=True)
    try:
        for kind, args, prove in (
            ("inclusion_cold", incl[0], lambda i: cold.prove_inclusion(i + 1, n)),
            ("consistency_cold", cons[0], lambda m: cold.prove_consistency(m, n)),
        ):
            times: list[float] = []
            started = time.perf_counter()
            for a in args:
                times.extend(_time_ms(prove, [a]))
                if time.perf_counter() - started > cold_budget_s and len(times) >= 3:
                    break
            out[kind] = {
                "median_ms": median(times),
                "p99_ms": percentile(times, 99),
                "max_ms": max(times),
                "samples": len(times),
            }
    finally:
        cold.close()
    return out


def report(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """Print the build and proof tables; the goal verdict."""
    builds: list[list[object]] = []
    rows: list[list[object]] = []
    for fig in figures:
        n = fig["size"]
        pb = fig.get("pymerkle_build")
        builds.append(
            [
                n,
                fig["eseal_build"]["append_seconds"],
                fig["eseal_build"]["append_per_s"],
                "cached" if fig["eseal_build"]["cached"] else "this run",
                None if pb is None else pb["append_seconds"],
                None if pb is None else pb["append_per_s"],
            ]
        )
        for kind in ("inclusion", "consistency"):
            e = fig["eseal"][kind]
            p = fig.get("pymerkle")
            rows.append(
                [
                    f"{kind} n={n:,}",
                    e["median_ms"],
                    e["p99_ms"],
                    e["tiles"],
                    e["tile_queries"],
                    None if p is None else p[kind]["median_ms"],
                    None if p is None else p[kind]["p99_ms"],
                    None if p is None else p[f"{kind}_cold"]["median_ms"],
                    None if p is None else p[f"{kind}_cold"]["samples"],
                ]
            )
    print()
    print(
        table(
            ["size", "eseal build s", "eseal /s", "eseal built", "pymerkle s", "pymerkle /s"],
            builds,
        )
    )
    print()
    print(
        table(
            [
                "proof",
                "eseal med ms",
                "eseal p99 ms",
                "tiles",
                "queries",
                "pymerkle med ms",
                "p99 ms",
                "cold med ms",
                "cold k",
            ],
            rows,
        )
    )
    kinds = ("inclusion", "consistency")
    medians = [f["eseal"][k]["median_ms"] for f in figures for k in kinds]
    p99s = [f["eseal"][k]["p99_ms"] for f in figures for k in kinds]
    goal = {
        "ms": GOAL_MS,
        "median_met": max(medians) <= GOAL_MS,
        "p99_met": max(p99s) <= GOAL_MS,
    }
    print(
        f"\ngoal: eseal proofs ≤ {GOAL_MS} ms: median {'met' if goal['median_met'] else 'NOT met'}"
        f" (worst {max(medians):.3f} ms), p99 {'met' if goal['p99_met'] else 'NOT met'}"
        f" (worst {max(p99s):.3f} ms)"
    )
    return goal


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "proof benchmark")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--samples", type=int, default=200, help="indexes per round (200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (3)")
    parser.add_argument("--batch", type=int, default=50_000, help="build batch (50,000)")
    parser.add_argument(
        "--cold-budget",
        type=float,
        default=None,
        help="seconds per cold pymerkle figure (20; 1 with --quick)",
    )
    parser.add_argument("--cache", type=Path, default=None, help="ledger cache directory")
    parser.add_argument(
        "--no-pymerkle-above", type=int, default=None, help="skip pymerkle above this size"
    )
    args = parser.parse_args(argv)
    sizes = args.sizes or ([1_000, 10_000] if args.quick else [10_000, 1_000_000, 10_000_000])
    batch = min(args.batch, 1_000) if args.quick else args.batch
    out = out_dir(args)
    cache = args.cache or out / "ledgers"
    cold_budget = args.cold_budget or (1.0 if args.quick else 20.0)
    cpu = pin_one_core()
    print(f"proofs: pinned to CPU {cpu}; sizes {sizes}; cache {cache}")

    figures: list[dict[str, Any]] = []
    for n in sizes:
        started = time.perf_counter()
        build = build_eseal(cache, n, batch)
        print(f"  n={n:,}: eseal ledger {'cached' if build['cached'] else 'built'} ", end="")
        print(f"({build['append_seconds']:.1f} s of appends, {build['append_per_s']:,.0f}/s)")
        incl, cons = index_sets(n, args.rounds, args.samples)
        fig: dict[str, Any] = {"size": n, "eseal_build": build}
        fig["eseal"] = measure_eseal(cache, n, incl, cons)
        print(f"  n={n:,}: eseal inclusion median {fig['eseal']['inclusion']['median_ms']:.3f} ms")
        if args.no_pymerkle_above is None or n <= args.no_pymerkle_above:
            pbuild = build_pymerkle(cache, n, batch)
            print(f"  n={n:,}: pymerkle tree {'cached' if pbuild['cached'] else 'built'} ", end="")
            print(f"({pbuild['append_seconds']:.1f} s of appends, {pbuild['append_per_s']:,.0f}/s)")
            fig["pymerkle_build"] = pbuild
            fig["pymerkle"] = measure_pymerkle(
                cache, n, incl, cons, cold_budget_s=cold_budget, eseal_root=build["root"]
            )
            print(
                f"  n={n:,}: pymerkle inclusion median "
                f"{fig['pymerkle']['inclusion']['median_ms']:.3f} ms (cached), "
                f"{fig['pymerkle']['inclusion_cold']['median_ms']:.1f} ms (cold)"
            )
        fig["seconds"] = time.perf_counter() - started
        figures.append(fig)

    goal = report(figures)
    doc = {
        "method": (
            f"{args.rounds} rounds x {args.samples} fresh random indexes per figure; median and "
            "nearest-rank p99 per round, reported as the median over rounds; ledgers built with "
            f"the bulk path in batches of {batch:,} (build time = the append calls only); eseal "
            "through Log on SqlStore (head + tile reads from SQLite); pymerkle SqliteTree of the "
            "same entry bytes, cache on across rounds, and cold (disable_cache=True) for a time "
            "budget; process pinned to one CPU"
        ),
        "pinned_cpu": cpu,
        "goal": goal,
        "figures": figures,
    }
    path = write_json(out, "proofs", doc)
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    main()
