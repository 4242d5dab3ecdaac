"""Run the ledger benchmarks in sequence (``make bench``): appends, proofs, audit.

Each runs in its own process (a clean heap, no cache carried over) with the same
interpreter; the figures land in ``bench/out/*.json`` (``bench/out/quick`` with
``--quick``, small sizes for a smoke test) and the total runtime in ``run_all.json``.

    python -m bench.run_all [--quick]
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench._common import base_parser, out_dir, table, write_json

BENCHMARKS = (
    "bench.append",
    "bench.proofs",
    "bench.audit",
    "bench.issue",
    "bench.issue_http",
    "bench.verify",
    "bench.verify_http",
    "bench.revocations_http",
    "bench.scan",
)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "all benchmarks")
    args = parser.parse_args(argv)
    extra = ["--quick"] if args.quick else []
    if args.out is not None:
        extra += ["--out", str(args.out)]
    started = time.perf_counter()
    steps: list[dict[str, Any]] = []
    for module in BENCHMARKS:
        print(f"=== python -m {module} {' '.join(extra)}".rstrip(), flush=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", module, *extra], check=True)
        steps.append({"module": module, "seconds": time.perf_counter() - t})
        print(flush=True)
    total = time.perf_counter() - started
    print(
        table(
            ["benchmark", "seconds"],
            [*[[s["module"], s["seconds"]] for s in steps], ["total", total]],
        )
    )
    doc = {"quick": args.quick, "steps": steps, "total_seconds": total}
    path = write_json(out_dir(args), "run_all", doc)
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    main()
