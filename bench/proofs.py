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
from ledger.tiles import TileKey, TileReader, tile_for_node

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


def _tile_keys(ranges: Sequence[tuple[int, int]]) -> list[TileKey]:
    """The tiles holding the complete subtrees of these proof ranges."""
    return sorted(
        {
            tile_for_node(level, index)[0]
            for a, b in ranges
            for level, index in merkle.range_nodes(a, b)
        }
    )


def _proof_ranges(kind: str, a: int, n: int) -> list[tuple[int, int]]:
    if kind == "inclusion":
        return merkle.inclusion_ranges(a, n)
    return merkle.consistency_ranges(a, n)


def _tile_queries(keys: Sequence[TileKey]) -> list[tuple[str, tuple[int, ...]]]:
    """The SELECTs SqlStore issues for these tiles (one per tile level)."""
    out = []
    for level in sorted({k[0] for k in keys}):
        idx = tuple(k[1] for k in keys if k[0] == level)
        marks = ", ".join("?" * len(idx))
        sql = f"SELECT idx, hashes FROM ledger_tile WHERE level = ? AND idx IN ({marks})"  # noqa: S608
        out.append((sql, (level, *idx)))
    return out


def breakdown(store: SqlStore, n: int, kind: str, args: Sequence[int]) -> dict[str, float]:
    """Where one eseal proof's time goes, each part timed alone over ``args`` (medians, ms):
    the head query, the tile read through SqlStore, and the in-memory work (ranges, tile
    folds, proof assembly) on tiles fetched beforehand."""
    keys = {a: _tile_keys(_proof_ranges(kind, a, n)) for a in args}
    fetched = {a: store.read_tiles(keys[a]) for a in args}

    def prove(a: int) -> object:
        reader = TileReader(lambda _keys: fetched[a])
        if kind == "inclusion":
            return merkle.inclusion_proof(a, n, reader)
        return merkle.consistency_proof(a, n, reader)

    return {
        "head_ms": median(_time_ms(lambda _a: store.head(), args)),
        "read_tiles_ms": median(_time_ms(lambda a: store.read_tiles(keys[a]), args)),
        "fold_and_assemble_ms": median(_time_ms(prove, args)),
        "node_hashes": median([_fold_hashes(kind, a, n) for a in args]),
    }


def _fold_hashes(kind: str, a: int, n: int) -> int:
    """SHA-256 node hashes a proof computes: folding 2^j hashes costs 2^j - 1, plus the
    joins of ranges made of several subtrees."""
    total = 0
    for lo, hi in _proof_ranges(kind, a, n):
        nodes = merkle.range_nodes(lo, hi)
        total += len(nodes) - 1
        total += sum((1 << (level % 8)) - 1 for level, _ in nodes)
    return total


class SqliteFloor:
    """The least a tile-based proof must do: raw sqlite3 reads of the head row and of the
    same tile rows, with the same queries (one per tile level), and no hashing."""

    def __init__(self, db: Path, n: int) -> None:
        self.con = sqlite3.connect(db)
        self.n = n

    def _read(self, queries: Sequence[tuple[str, tuple[int, ...]]]) -> None:
        self.con.execute("SELECT size, last_hash FROM ledger_head WHERE id = 1").fetchone()
        for sql, params in queries:
            self.con.execute(sql, params).fetchall()

    def plan(self, kind: str, args: Sequence[int]) -> dict[int, list[tuple[str, tuple[int, ...]]]]:
        return {a: _tile_queries(_tile_keys(_proof_ranges(kind, a, self.n))) for a in args}

    def timer(self, kind: str, args: Sequence[int]) -> Callable[[int], object]:
        plans = self.plan(kind, args)  # worked out before the clock starts
        return lambda a: self._read(plans[a])

    def close(self) -> None:
        self.con.close()


def _cold(prove: Callable[[int], object], args: Sequence[int], budget_s: float) -> dict[str, Any]:
    times: list[float] = []
    started = time.perf_counter()
    for a in args:
        times.extend(_time_ms(prove, [a]))
        if time.perf_counter() - started > budget_s and len(times) >= 3:
            break
    return {
        "median_ms": median(times),
        "p99_ms": percentile(times, 99),
        "max_ms": max(times),
        "samples": len(times),
    }


def count_tiles(
    store: CountingStore, log: Log, n: int, incl: list[int], cons: list[int]
) -> dict[str, dict[str, float]]:
    """Tiles and tile queries per proof (an untimed pass)."""
    counts: dict[str, dict[str, float]] = {}
    for kind, args in (("inclusion", incl), ("consistency", cons)):
        store.reset()
        for a in args:
            if kind == "inclusion":
                log.inclusion_proof(a)
            else:
                log.consistency_proof(a, n)
        counts[kind] = {
            "tiles": store.tiles / len(args),
            "tile_queries": store.tile_queries / len(args),
        }
    return counts


Provers = dict[str, Callable[[int], object]]


def interleaved(
    systems: Callable[[int], dict[str, Provers]], incl: list[list[int]], cons: list[list[int]]
) -> dict[str, dict[str, Any]]:
    """Every system's proofs over the same indexes, round by round, the order rotated each
    round; ``systems(r)`` gives round r's provers."""
    times: dict[tuple[str, str], list[list[float]]] = {}
    for r in range(len(incl)):
        provers = systems(r)
        names = list(provers)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            for kind, args in (("inclusion", incl[r]), ("consistency", cons[r])):
                times.setdefault((name, kind), []).append(_time_ms(provers[name][kind], args))
    out: dict[str, dict[str, Any]] = {}
    for (name, kind), rounds in times.items():
        out.setdefault(name, {})[kind] = _summary(rounds)
    return out


def pymerkle_cold(
    db: Path, n: int, incl: list[int], cons: list[int], budget_s: float
) -> dict[str, Any]:
    cold = SqliteTree(str(db), disable_cache=True)
    try:
        return {
            "inclusion_cold": _cold(lambda i: cold.prove_inclusion(i + 1, n), incl, budget_s),
            "consistency_cold": _cold(lambda m: cold.prove_consistency(m, n), cons, budget_s),
        }
    finally:
        cold.close()


def measure_size(
    cache: Path,
    n: int,
    incl: list[list[int]],
    cons: list[list[int]],
    *,
    pymerkle: bool,
    cold_budget_s: float,
) -> dict[str, Any]:
    """eseal, the sqlite3 floor and pymerkle (cached) in the same rounds, interleaved
    (order rotated each round); then pymerkle cold."""
    store = CountingStore(f"sqlite:///{eseal_db(cache, n)}")
    log = make_log(store)
    floor = SqliteFloor(eseal_db(cache, n), n)
    tree = SqliteTree(str(pymerkle_db(cache, n))) if pymerkle else None

    def systems(r: int) -> dict[str, Provers]:
        out: dict[str, Provers] = {
            "eseal": {
                "inclusion": log.inclusion_proof,
                "consistency": lambda m: log.consistency_proof(m, n),
            },
            "sqlite3 floor": {
                "inclusion": floor.timer("inclusion", incl[r]),
                "consistency": floor.timer("consistency", cons[r]),
            },
        }
        if tree is not None:
            out["pymerkle"] = {
                "inclusion": lambda i: tree.prove_inclusion(i + 1, n),  # counts from one
                "consistency": lambda m: tree.prove_consistency(m, n),
            }
        return out

    try:
        check_eseal(log, n, incl[0], cons[0])
        for i in incl[0][:20]:  # warm the connection pool and statement caches
            log.inclusion_proof(i)
        counts = count_tiles(store, log, n, incl[0], cons[0])
        out = interleaved(systems, incl, cons)
        for kind, c in counts.items():
            out["eseal"][kind] |= c
            args = incl[0] if kind == "inclusion" else cons[0]
            out["eseal"][kind]["breakdown"] = breakdown(store, n, kind, args)
        if tree is not None:
            out["pymerkle"]["cache"] = tree.get_cache_info()._asdict()
            same = tree.get_root(n).hex() == log.root_hash().hex()
            out["pymerkle"]["root_matches_eseal"] = same
            assert same, "pymerkle and eseal disagree on the root of the same entries"
    finally:
        store.close()
        floor.close()
        if tree is not None:
            tree.close()
    if pymerkle:
        out["pymerkle"] |= pymerkle_cold(pymerkle_db(cache, n), n, incl[0], cons[0], cold_budget_s)
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
            f = fig["sqlite3 floor"][kind]
            p = fig.get("pymerkle")
            rows.append(
                [
                    f"{kind} n={n:,}",
                    e["median_ms"],
                    e["p99_ms"],
                    e["tiles"],
                    e["tile_queries"],
                    f["median_ms"],
                    f["p99_ms"],
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
                "floor med ms",
                "floor p99",
                "pymerkle med ms",
                "p99 ms",
                "cold med ms",
                "cold k",
            ],
            rows,
        )
    )
    parts: list[list[object]] = []
    for fig in figures:
        for kind in ("inclusion", "consistency"):
            e = fig["eseal"][kind]
            b = e["breakdown"]
            parts.append(
                [
                    f"{kind} n={fig['size']:,}",
                    e["median_ms"],
                    b["head_ms"],
                    b["read_tiles_ms"],
                    b["fold_and_assemble_ms"],
                    b["node_hashes"],
                ]
            )
    print("\nwhere an eseal proof's time goes (each part timed alone, medians over round 1):")
    print(
        table(
            ["proof", "whole ms", "head ms", "read_tiles ms", "fold+assemble ms", "node hashes"],
            parts,
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
        fig: dict[str, Any] = {"size": n, "eseal_build": build}
        with_pymerkle = args.no_pymerkle_above is None or n <= args.no_pymerkle_above
        if with_pymerkle:
            pbuild = build_pymerkle(cache, n, batch)
            print(f"  n={n:,}: pymerkle tree {'cached' if pbuild['cached'] else 'built'} ", end="")
            print(f"({pbuild['append_seconds']:.1f} s of appends, {pbuild['append_per_s']:,.0f}/s)")
            fig["pymerkle_build"] = pbuild
        incl, cons = index_sets(n, args.rounds, args.samples)
        fig |= measure_size(cache, n, incl, cons, pymerkle=with_pymerkle, cold_budget_s=cold_budget)
        for name in ("eseal", "sqlite3 floor", "pymerkle"):
            if name in fig:
                ms = fig[name]["inclusion"]["median_ms"]
                print(f"  n={n:,}: {name} inclusion median {ms:.3f} ms")
        if with_pymerkle:
            ms = fig["pymerkle"]["inclusion_cold"]["median_ms"]
            print(f"  n={n:,}: pymerkle cold inclusion median {ms:.1f} ms")
        fig["seconds"] = time.perf_counter() - started
        figures.append(fig)

    goal = report(figures)
    doc = {
        "method": (
            f"{args.rounds} rounds x {args.samples} fresh random indexes per figure; median and "
            "nearest-rank p99 per round, reported as the median over rounds; ledgers built with "
            f"the bulk path in batches of {batch:,} (build time = the append calls only); eseal "
            "through Log on SqlStore (head + tile reads from SQLite); pymerkle SqliteTree of the "
            "same entry bytes, cache on across rounds; a sqlite3 floor (the same head and tile "
            "SELECTs, raw, no hashing); the three interleaved each round; pymerkle cold "
            "(disable_cache=True) for a time budget; process pinned to one CPU"
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
