"""Shared pieces of the ledger benchmarks: the bench log and its drafts, the machine's
facts, pinning, statistics, tables and the JSON written under ``bench/out``."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import platform
import sqlite3
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from ledger.checkpoint import NoteVerifier, parse_verifier_key, verifier_key
from ledger.entries import ZERO_HASH, Entry
from ledger.log import Log
from ledger.merkle import leaf_hash
from ledger.sql import SqlStore
from ledger.store import LedgerStore

OUT = Path(__file__).resolve().parent / "out"
ORIGIN = "eseal.bench/500000"
LOG_SEED = hashlib.sha256(b"eseal bench log key").digest()


# -- the bench log (same shape as tests/ledger/conftest.py, without pytest) ---------------


def log_key() -> SigningKey:
    return SigningKey(LOG_SEED)


def log_verifier() -> NoteVerifier:
    return parse_verifier_key(verifier_key(ORIGIN, bytes(log_key().verify_key)))


def make_log(store: LedgerStore) -> Log:
    return Log(store, origin=ORIGIN, verifier=log_verifier(), signing_key=log_key())


def draft(i: int) -> Entry:
    """Entry draft number ``i``: a license issue, 121 bytes once encoded and chained."""
    return Entry(
        kind="license.issue",
        time=1_790_000_000 + i,
        region="500000",
        subject=f"subject-{i}",
        digest=hashlib.sha256(i.to_bytes(8, "big")).digest(),
        key_id=bytes(8),
    )


def drafts(start: int, stop: int) -> list[Entry]:
    return [draft(i) for i in range(start, stop)]


def encode_chain(entries: Sequence[Entry], prev: bytes = ZERO_HASH) -> tuple[list[bytes], bytes]:
    """The bytes the ledger stores for ``entries`` chained after ``prev`` (exactly what
    :func:`ledger.store.sequence` writes), and the last leaf hash."""
    out: list[bytes] = []
    for entry in entries:
        data = entry.encode(prev)
        prev = leaf_hash(data)
        out.append(data)
    return out, prev


def sqlite_store(path: Path) -> SqlStore:
    """The eseal SQLite store in the file ``path`` (WAL, synchronous=FULL, as configured
    by :func:`ledger.sql.make_engine`)."""
    return SqlStore(f"sqlite:///{path}")


def sqlite_pragmas(path: Path) -> dict[str, Any]:
    """journal_mode of a database file (persistent) — checks that a run used WAL."""
    con = sqlite3.connect(path)
    try:
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        con.close()
    return {"journal_mode": mode}


# -- the machine -----------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def pin_one_core() -> int | None:
    """Pin this process to one CPU (the last one it may use); None where unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def python_build() -> str:
    """Whether this interpreter runs on a shared libpython (a source build's usual
    ``--enable-shared``: position-independent code, calls through the PLT) or has it linked
    in (Debian's ``/usr/bin/python3``): the same CPython version runs at different speeds."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "unknown"
    return "shared libpython" if "libpython" in maps else "static"


def machine() -> dict[str, Any]:
    try:
        pymerkle_version = metadata.version("pymerkle")
    except metadata.PackageNotFoundError:
        pymerkle_version = None
    return {
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "python_build": python_build(),
        "sqlite": sqlite3.sqlite_version,
        "pymerkle": pymerkle_version,
        "platform": platform.platform(),
        "loadavg_at_end": list(os.getloadavg()),
    }


# -- statistics ------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


# -- output ----------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, columns right-aligned except the first."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def command_line() -> str:
    module = sys.modules["__main__"].__spec__
    name = module.name if module is not None else sys.argv[0]
    return " ".join(["python -m", name, *sys.argv[1:]])


def write_json(out_dir: Path, name: str, data: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    doc = {
        "benchmark": name,
        "command": command_line(),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **data,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, for a smoke test (seconds)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the JSON figures go (default bench/out, bench/out/quick with --quick)",
    )
    return parser


def out_dir(args: argparse.Namespace) -> Path:
    if args.out is not None:
        return Path(args.out)
    return OUT / "quick" if args.quick else OUT


def chunks(start: int, stop: int, size: int) -> Iterator[tuple[int, int]]:
    for lo in range(start, stop, size):
        yield lo, min(lo + size, stop)


def profile_top(fn: Callable[[], object], top: int = 15) -> str:
    """Run ``fn`` under cProfile; the ``top`` functions by own time, as text."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()
