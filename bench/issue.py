"""Durable license issuance per second on one core (SQLite on disk, WAL, synchronous=FULL).

eseal's bulk path (``issue_many``: batches of 1,000 licenses, one durable transaction per
call, no inclusion proofs), the same in batches of 100 with an inclusion proof for every
license (what ``POST /v1/licenses/batch`` computes), and single issuance (``issue``: one
license per transaction, with its proof; and ``issue_many`` of one without it), beside raw
PyNaCl signing (``SigningKey.sign``) of as many messages as long as the COSE Sig_structure
a business license signs, in the same process, interleaved round by round. Each eseal run
issues on a fresh node (a new region in a new temporary directory, made outside the
clock). Also the length of the issued QR texts, and (``--profile``, or when the bulk goal
is missed) where the time goes. Also bulk issuance of natural persons' licenses (a worker's
certificate, its holder's identity number hashed with Argon2id: about 22 ms of CPU each).

    python -m bench.issue [--quick] [--repeats 5] [--natural 500] [--profile]
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import text

from bench._common import (
    base_parser,
    chunks,
    median,
    out_dir,
    pin_one_core,
    sqlite_pragmas,
    table,
    write_json,
)
from eseal import render
from eseal.agencies import Principal
from eseal.ids import identity_number_check_char
from eseal.licenses import IssueRequest, issue, issue_many
from tests.eseal.conftest import (
    HOUSING,
    MARKET,
    NOW,
    Region,
    business_request,
    make_region,
    worker_request,
)
from verifier.document import decode

GOAL_BULK_PER_S = 5_000
BATCH = 1_000
API_BATCH = 100  # the batch size bench.issue_http sends to POST /v1/licenses/batch
AGENCY = Principal("agency", MARKET)
HOUSING_AGENCY = Principal("agency", HOUSING)


@dataclass(frozen=True)
class Config:
    path: str  # "bulk", "bulk, with proofs", "single", "single, no proof", "sign only"
    system: str  # "eseal" or "PyNaCl"
    batch: int  # licenses per transaction (0: no transaction)
    count: int
    proofs: bool  # an inclusion proof computed for each license (as the API answers)
    natural: bool = False  # natural persons' licenses (an Argon2id holder hash each)

    @property
    def label(self) -> str:
        return f"{self.system} {self.path}"


@dataclass(frozen=True)
class Sample:
    count: int
    seconds: float
    cpu_seconds: float
    qr_lengths: list[int] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def holder(i: int) -> str:
    """A company name per license (so the QR texts differ as real ones do)."""
    return f"重庆山城小面餐饮有限公司第{i + 1}分店"


def requests(count: int) -> list[IssueRequest]:
    return [business_request(holder(i)) for i in range(count)]


def natural_requests(count: int) -> list[IssueRequest]:
    """A worker's certificate per license, each holder's identity number its own."""
    out = []
    for i in range(count):
        first17 = f"500103{19800101 + i // 1000:08d}{i % 1000:03d}"
        out.append(worker_request(first17 + identity_number_check_char(first17)))
    return out


def _timed(body: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    body()
    return time.perf_counter() - wall, time.process_time() - cpu


class Workload:
    """The issue requests and the baseline's messages, made once and shared by every run."""

    def __init__(self, count: int, message_size: int, natural: int = 0) -> None:
        self.requests = requests(count)
        self.natural = natural_requests(natural)
        self.message_size = message_size
        self.messages = [os.urandom(message_size) for _ in range(count)]

    def fresh_region(self, scratch: Path | None) -> tuple[Path, Region]:
        path = Path(tempfile.mkdtemp(prefix="eseal-bench-issue-", dir=scratch))
        return path, make_region(path / "node")

    def run_eseal(
        self, scratch: Path | None, cfg: Config, prof: cProfile.Profile | None = None
    ) -> Sample:
        """One run on a fresh node; with ``prof``, the issuing calls alone are profiled."""
        path, region = self.fresh_region(scratch)
        node = region.node
        work = (self.natural if cfg.natural else self.requests)[: cfg.count]
        principal, agency = (HOUSING_AGENCY, HOUSING) if cfg.natural else (AGENCY, MARKET)
        size_before = node.store.head().size
        texts: list[str] = []
        try:
            if cfg.path == "single":  # issue(): one license, with its proof

                def body() -> None:
                    for n, req in enumerate(work):
                        texts.append(issue(node, principal, agency, req, now=NOW + 60 + n).qr_text)
            else:

                def body() -> None:
                    for n, (lo, hi) in enumerate(chunks(0, cfg.count, cfg.batch)):
                        issued = issue_many(
                            node,
                            principal,
                            agency,
                            work[lo:hi],
                            now=NOW + 60 + n,
                            with_proofs=cfg.proofs,
                        )
                        texts.extend(i.qr_text for i in issued)

            if prof is not None:
                prof.enable()
            try:
                wall, cpu = _timed(body)
            finally:
                if prof is not None:
                    prof.disable()
            # Every license durable: a ledger entry and a row each, and a valid signature.
            assert node.store.head().size == size_before + cfg.count
            with node.sql.read_engine.connect() as conn:
                rows = conn.execute(text("SELECT count(*) FROM license")).scalar_one()
            assert rows == cfg.count, rows
            doc = decode(texts[-1])
            signer = region.housing if cfg.natural else region.market
            assert doc.verify_with(bytes.fromhex(signer.public_key))
        finally:
            node.close()
        assert sqlite_pragmas(path / "node" / "ledger.db")["journal_mode"] == "wal"
        shutil.rmtree(path, ignore_errors=True)
        return Sample(cfg.count, wall, cpu, [len(t) for t in texts])

    def run_nacl(self, cfg: Config) -> Sample:
        key = SigningKey.generate()
        messages = self.messages[: cfg.count]

        def body() -> None:
            for message in messages:
                key.sign(message)

        wall, cpu = _timed(body)
        return Sample(cfg.count, wall, cpu)


def signed_size(scratch: Path | None) -> tuple[int, int]:
    """Bytes of the COSE Sig_structure (what Ed25519 signs) and of the COSE_Sign1 of a
    business license as issued here."""
    path = Path(tempfile.mkdtemp(prefix="eseal-bench-issue-", dir=scratch))
    region = make_region(path / "node")
    try:
        one = issue_many(region.node, AGENCY, MARKET, requests(1), now=NOW + 60, with_proofs=False)
        doc = decode(one[0].qr_text)
        return len(doc.signed_bytes()), len(doc.cose_bytes())
    finally:
        region.node.close()
        shutil.rmtree(path, ignore_errors=True)


def measure(
    configs: Sequence[Config], work: Workload, repeats: int, scratch: Path | None
) -> dict[Config, list[Sample]]:
    samples: dict[Config, list[Sample]] = {c: [] for c in configs}
    for r in range(repeats):
        # Rotate the order each round so slow phases of a noisy machine spread evenly.
        order = list(configs[r % len(configs) :]) + list(configs[: r % len(configs)])
        for cfg in order:
            run = work.run_nacl if cfg.system == "PyNaCl" else partial(work.run_eseal, scratch)
            sample = run(cfg)
            samples[cfg].append(sample)
            print(
                f"  round {r + 1}/{repeats}  {cfg.label:<26} {sample.rate:>10,.0f} /s", flush=True
            )
    return samples


# -- profile ---------------------------------------------------------------------------------

#: What a bulk issuance spends, by (where in the file path, function name) in the profile;
#: cumulative seconds.
BULK_STAGES: list[tuple[str, str, str]] = [
    ("issue_many, whole call", "eseal/licenses.py", "issue_many"),
    ("prepare (validate, sign, encode)", "eseal/licenses.py", "prepare"),
    ("  catalog field validation", "eseal/catalog.py", "validate_fields"),
    ("  holder (credit code check)", "eseal/licenses.py", "_holder"),
    ("  license id (make_license_id)", "eseal/ids.py", "make_license_id"),
    ("  sign_license (COSE, zlib, base45)", "/verifier/", "sign_license"),
    ("    cbor2.dumps (claims, header)", "~", "<built-in method _cbor2.dumps>"),
    ("    parse_claims (re-check)", "/verifier/", "parse_claims"),
    ("    Ed25519 sign", "keys/ed25519.py", "sign"),
    ("    zlib.compress (level 9)", "~", "<built-in method zlib.compress>"),
    ("    b45encode", "/verifier/", "b45encode"),
    ("node.append (ledger + license rows + commit)", "eseal/node.py", "append"),
    ("  license rows insert (record)", "eseal/licenses.py", "record"),
    ("  commit", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
]
#: The same for single issuance (``issue``: one license a transaction, with its proof).
SINGLE_STAGES: list[tuple[str, str, str]] = [
    ("issue_many, whole call", "eseal/licenses.py", "issue_many"),
    ("agency row read (agency)", "eseal/agencies.py", "agency"),
    ("active key read (active_key)", "eseal/agencies.py", "active_key"),
    ("prepare (validate, sign, encode)", "eseal/licenses.py", "prepare"),
    ("  sign_license (COSE, zlib, base45)", "/verifier/", "sign_license"),
    ("node.append (ledger + license row + commit)", "eseal/node.py", "append"),
    ("  license row insert (record)", "eseal/licenses.py", "record"),
    ("  commit", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ("inclusion proof (_proof)", "eseal/licenses.py", "_proof"),
]


def _cumulative(stats: pstats.Stats, where: str, name: str) -> float | None:
    """Cumulative seconds of the functions ``name`` whose file path contains ``where``
    ("~" for built-ins); None if the profile has none."""
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    found = [
        float(v[3])
        for (filename, _line, func), v in raw.items()
        if func == name and (filename == where if where == "~" else where in filename)
    ]
    return sum(found) if found else None


def profile_run(
    work: Workload, scratch: Path | None, cfg: Config, stages: list[tuple[str, str, str]]
) -> dict[str, Any]:
    """cProfile of one eseal run (the issuing calls only): the stages' cumulative time and
    the top functions by own time; printed, and returned for the JSON."""
    prof = cProfile.Profile()
    work.run_eseal(scratch, cfg, prof)
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    total = _cumulative(stats, "eseal/licenses.py", "issue_many") or 0.0
    rows = [
        {"stage": label, "seconds": s, "share": s / total}
        for label, where, name in stages
        if (s := _cumulative(stats, where, name)) is not None
    ]
    stats.sort_stats("tottime").print_stats(25)
    print(f"\n--- cProfile: {cfg.label}, {cfg.count:,} licenses, {cfg.batch:,} a transaction")
    print(
        table(
            ["stage (cumulative)", "seconds", "share"],
            [[r["stage"], r["seconds"], f"{r['share']:.0%}"] for r in rows],
        )
    )
    print(f"(issue_many under the profiler: {total:.2f} s)\n")
    print(buf.getvalue())
    return {**asdict(cfg), "stages": rows, "top_own_time": buf.getvalue()}


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "issue benchmark")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 5; 2 quick)")
    parser.add_argument("--bulk", type=int, default=None, help="bulk licenses a run (20,000)")
    parser.add_argument(
        "--with-proofs", type=int, default=None, help="licenses a run in batches of 100 (5,000)"
    )
    parser.add_argument("--single", type=int, default=None, help="single issuances a run (1,000)")
    parser.add_argument(
        "--natural", type=int, default=None, help="natural persons' licenses, bulk, a run (500)"
    )
    parser.add_argument(
        "--scratch", type=Path, default=None, help="where the temporary nodes go (TMPDIR)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile one bulk run (also done when the goal is missed) and one single run",
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    n_bulk = args.bulk or (2_000 if args.quick else 20_000)
    n_single = args.single or (50 if args.quick else 1_000)
    n_proofs = args.with_proofs or (500 if args.quick else 5_000)
    n_natural = args.natural or (100 if args.quick else 500)

    cpu = pin_one_core()
    print(f"issue: pinned to CPU {cpu}; {repeats} rounds; scratch {args.scratch or 'TMPDIR'}")
    sig_bytes, cose_bytes = signed_size(args.scratch)
    work = Workload(max(n_bulk, n_single, n_proofs), sig_bytes, n_natural)
    configs = [
        Config("bulk", "eseal", BATCH, n_bulk, proofs=False),
        Config("sign only", "PyNaCl", 0, n_bulk, proofs=False),
        Config("bulk, with proofs", "eseal", API_BATCH, n_proofs, proofs=True),
        Config("single", "eseal", 1, n_single, proofs=True),
        Config("single, no proof", "eseal", 1, n_single, proofs=False),
        Config("bulk, natural persons", "eseal", BATCH, n_natural, proofs=False, natural=True),
    ]
    samples = measure(configs, work, repeats, args.scratch)

    nacl_median = median([s.rate for s in samples[configs[1]]])
    results: list[dict[str, Any]] = []
    rows: list[list[object]] = []
    for cfg in configs:
        rates = [s.rate for s in samples[cfg]]
        cpu_us = median([s.cpu_seconds / s.count * 1e6 for s in samples[cfg]])
        res = {
            **asdict(cfg),
            "median_per_s": median(rates),
            "best_per_s": max(rates),
            "cpu_us_each_median": cpu_us,
            "vs_pynacl_sign": median(rates) / nacl_median,
            "samples": [
                {"count": s.count, "seconds": s.seconds, "cpu_seconds": s.cpu_seconds}
                | {"rate": s.rate}
                for s in samples[cfg]
            ],
        }
        results.append(res)
        rows.append(
            [
                cfg.path,
                cfg.system,
                cfg.batch or "-",
                ("yes" if cfg.proofs else "no") if cfg.system == "eseal" else "-",
                cfg.count,
                res["median_per_s"],
                res["best_per_s"],
                cpu_us,
                f"{res['vs_pynacl_sign']:.3f}x",
            ]
        )
    lengths = sorted(n for s in samples[configs[0]] for n in s.qr_lengths)
    qr: dict[str, Any] = {
        "licenses": len(lengths),
        "min": lengths[0],
        "median": median(lengths),
        "max": lengths[-1],
        # QR version by length alone: qr_matrix encodes every text in alphanumeric mode.
        "qr_version": {
            k: (len(render.qr_matrix("A" * v)) - 17) // 4
            for k, v in (("min", lengths[0]), ("max", lengths[-1]))
        },
        "sig_structure_bytes": sig_bytes,
        "cose_sign1_bytes": cose_bytes,
    }
    bulk_median = results[0]["median_per_s"]
    goal_met = bulk_median >= GOAL_BULK_PER_S
    print()
    print(
        table(
            [
                "path",
                "system",
                "per txn",
                "proofs",
                "count",
                f"median/s ({repeats})",
                "best/s",
                "CPU µs each",
                "vs PyNaCl",
            ],
            rows,
        )
    )
    print(
        f"\nQR text of the {qr['licenses']:,} bulk-issued business licenses: "
        f"min {qr['min']} / median {qr['median']:.0f} / max {qr['max']} characters "
        f"(QR version {qr['qr_version']['min']}..{qr['qr_version']['max']} at level Q); "
        f"Ed25519 signs {sig_bytes} bytes, COSE_Sign1 {cose_bytes} bytes"
    )
    print(
        f"\ngoal: eseal bulk ≥ {GOAL_BULK_PER_S:,} durable issuances/s on one core (median): "
        f"{'met' if goal_met else 'NOT met'} ({bulk_median:,.0f}/s)"
    )
    profile: dict[str, Any] = {}
    if not goal_met or args.profile:
        profile["bulk"] = profile_run(work, args.scratch, configs[0], BULK_STAGES)
    if args.profile:
        profile["single"] = profile_run(work, args.scratch, configs[3], SINGLE_STAGES)
    doc = {
        "method": (
            f"{repeats} rounds, configurations interleaved (order rotated each round); every "
            "eseal run on a fresh node (new region in a new temporary directory, made outside "
            "the clock); rate = licenses (or signatures) / wall time of the issuing calls only "
            "(requests and messages made beforehand); median and best over the rounds; "
            "process pinned to one CPU"
        ),
        "pinned_cpu": cpu,
        "repeats": repeats,
        "batch": BATCH,
        "goal": {"eseal_bulk_per_s": GOAL_BULK_PER_S, "met": goal_met},
        "qr_text_chars": qr,
        "results": results,
        "profile": profile,
    }
    path = write_json(out_dir(args), "issue", doc)
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    main()
