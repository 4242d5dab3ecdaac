"""Size, build time and query time of the revocation cascade (``verifier.cascade``) at
several (revoked, issued) sizes; the goal is ≤ 4 bytes per revoked license at 10⁶ revoked
among 10⁸ issued.

Ids are synthetic, shaped like real ones (``1.2.156.3005.2.<type>.<issuer>.<serial>.001.X``,
a few types and issuers, serials counting up) and generated while the builder streams them;
``gen s`` is the time to generate them alone, already inside ``build s``. Every revoked id
and a sample of valid ids are checked against the built cascade; the query time is the mean
of ``contains`` over a sample, valid and revoked apart. ``rss MiB`` is the process's peak so
far (it only grows from one row to the next).

    python -m bench.cascade [--quick] [--sizes 10000:1000000 1000000:100000000]
"""

from __future__ import annotations

import random
import resource
import time
from collections.abc import Iterator, Sequence
from typing import Any

from bench._common import base_parser, out_dir, table, write_json
from verifier.cascade import Cascade, build_cascade

GOAL_BYTES_PER_REVOKED = 4.0
FULL = ((10**4, 10**6), (10**5, 10**7), (10**6, 10**7), (10**6, 10**8))
QUICK = ((10**3, 10**5), (10**4, 10**6))
TYPES = tuple(f"1110000000001333{c}W0{n:02d}" for c, n in zip("38A9", (32, 11, 7, 45), strict=True))
ISSUERS = tuple(f"115001{d:02d}MB0000000X" for d in range(3, 10))
QUERY_SAMPLE = 20_000
CHECK_SAMPLE = 200_000


def license_id(i: int) -> str:
    return f"1.2.156.3005.2.{TYPES[i % 4]}.{ISSUERS[i % 7]}.{i:010d}.001.X"


def issued_ids(n: int) -> Iterator[str]:
    return map(license_id, range(n))


def revoked_indexes(revoked: int, issued: int) -> range:
    return range(0, issued, issued // revoked)[:revoked]


def _mean_us(cascade: Cascade, ids: Sequence[str]) -> float:
    contains = cascade.contains
    started = time.perf_counter()
    for i in ids:
        contains(i)
    return (time.perf_counter() - started) / len(ids) * 1e6


def measure(revoked: int, issued: int, rng: random.Random) -> dict[str, Any]:
    started = time.perf_counter()
    for _ in issued_ids(issued):
        pass
    gen_s = time.perf_counter() - started
    step = issued // revoked
    revoked_ids = [license_id(i) for i in revoked_indexes(revoked, issued)]
    started = time.perf_counter()
    cascade = build_cascade(issued_ids(issued), revoked_ids)
    build_s = time.perf_counter() - started
    data = cascade.to_bytes()
    started = time.perf_counter()
    assert Cascade.from_bytes(data) == cascade
    parse_ms = (time.perf_counter() - started) * 1e3
    valid_sample = [
        license_id(i) for i in rng.sample(range(issued), min(issued, CHECK_SAMPLE)) if i % step
    ]
    wrong = sum(cascade.contains(i) for i in valid_sample)
    wrong += sum(not cascade.contains(r) for r in revoked_ids)
    assert wrong == 0, f"{wrong} wrong answers"
    levels = cascade.levels
    return {
        "revoked": revoked,
        "issued": issued,
        "bytes": len(data),
        "bytes_per_revoked": len(data) / revoked,
        "levels": len(levels),
        "level1_bits_k": [levels[0].m, levels[0].k],
        "level_bits": [level.m for level in levels],
        "gen_s": gen_s,
        "build_s": build_s,
        "build_us_per_issued": build_s / issued * 1e6,
        "parse_ms": parse_ms,
        "query_valid_us": _mean_us(cascade, valid_sample[:QUERY_SAMPLE]),
        "query_revoked_us": _mean_us(cascade, rng.sample(revoked_ids, min(revoked, QUERY_SAMPLE))),
        "checked": len(valid_sample) + len(revoked_ids),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _size(text: str) -> tuple[int, int]:
    revoked, issued = text.split(":")
    return int(revoked), int(issued)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "cascade benchmark")
    parser.add_argument("--sizes", nargs="+", type=_size, help="revoked:issued pairs")
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK if args.quick else FULL)
    rng = random.Random(20170522)
    rows: list[dict[str, Any]] = []
    for revoked, issued in sizes:
        print(f"building {revoked:,} revoked among {issued:,} issued …", flush=True)
        rows.append(measure(revoked, issued, rng))
    headers = ["revoked / issued", "bytes", "B/revoked", "levels", "gen s", "build s"]
    headers += ["µs/issued", "parse ms", "q valid µs", "q revoked µs", "rss MiB"]
    print(
        table(
            headers,
            [
                [
                    f"{r['revoked']:.0e} / {r['issued']:.0e}",
                    r["bytes"],
                    r["bytes_per_revoked"],
                    r["levels"],
                    r["gen_s"],
                    r["build_s"],
                    r["build_us_per_issued"],
                    r["parse_ms"],
                    r["query_valid_us"],
                    r["query_revoked_us"],
                    r["peak_rss_mib"],
                ]
                for r in rows
            ],
        )
    )
    doc = {"quick": args.quick, "goal_bytes_per_revoked": GOAL_BYTES_PER_REVOKED, "sizes": rows}
    path = write_json(out_dir(args), "cascade", doc)
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    main()
