"""Verification over HTTP, one uvicorn worker on one core: ``POST /v1/verify``.

The server (``eseal.api.app.create_app(node)`` after ``node.start_group_commit()``, as
``eseal serve`` runs it; one uvicorn worker, access log off) runs in a subprocess pinned
to one CPU, over a node that has issued ``--licenses`` business licenses. This process,
pinned to the other CPU, drives it with ``--clients`` threads, each with its own
keep-alive HTTP/1.1 connection over a plain socket (the driver of ``bench.issue_http``),
POSTing ``{"text": "<QR text>"}`` of a different license each time, as fast as answers
come back (closed loop). The node answers with the whole verdict: decode, issuer,
signature, authority, time, and the *online* status (one read of the license's status,
its issuance entry, checked against the document's digest, and the ledger head).

Baseline, same uvicorn setup on the same CPU, driven identically: a bare FastAPI app whose
``async`` endpoint ``POST /verify-signature`` reads the raw body (an Ed25519 signed message:
64-byte signature, then a message as long as a license's COSE Sig_structure) and answers
``{"valid": true}`` once ``VerifyKey.verify`` accepts it. Both servers stay up; the two
figures are interleaved round by round (order rotated).

    python -m bench.verify_http [--quick] [--repeats 3] [--seconds 8] [--clients 32]
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from bench._common import base_parser, median, out_dir, table, write_json
from bench.issue_http import (
    Load,
    _version,
    add_load_options,
    drive,
    load_cpus,
    serve,
    start_server,
    stop_server,
    wait_ready,
)

SERVER_CPU = 1
VERIFY_PATH = "/v1/verify"
BASELINE_PATH = "/verify-signature"
BASELINE_SEED = hashlib.sha256(b"eseal bench verify_http baseline key").digest()
GOAL_SHARE = 0.75
BATCH = 1_000


# -- the servers (run in the subprocess) -----------------------------------------------------


def baseline_app() -> FastAPI:
    """A bare FastAPI app: POST /verify-signature checks the Ed25519 signed message in the
    raw body."""
    app = FastAPI()
    key = VerifyKey(bytes(SigningKey(BASELINE_SEED).verify_key))

    @app.post(BASELINE_PATH)
    async def verify_signature(request: Request) -> JSONResponse:
        try:
            key.verify(await request.body())
        except BadSignatureError:
            return JSONResponse({"valid": False})
        return JSONResponse({"valid": True})

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


# -- the workload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    repeats: int
    seconds: float
    warmup: float
    clients: int
    licenses: int
    breakdown: int  # texts the in-process breakdown runs over
    driver_cpu: int


@dataclass(frozen=True)
class Workload:
    eseal_bodies: list[bytes]
    baseline_bodies: list[bytes]
    texts: list[str]
    sig_structure_bytes: list[int]


def make_node(data: Path, licenses: int) -> Workload:
    """A node that has issued ``licenses`` licenses (closed again), and the request bodies."""
    from bench.issue import AGENCY, holder
    from eseal.licenses import issue_many
    from tests.eseal.conftest import MARKET, NOW, business_request, make_region
    from verifier.document import decode

    region = make_region(data)
    texts: list[str] = []
    try:
        for lo in range(0, licenses, BATCH):
            reqs = [business_request(holder(i)) for i in range(lo, min(lo + BATCH, licenses))]
            issued = issue_many(region.node, AGENCY, MARKET, reqs, now=NOW + 60, with_proofs=False)
            texts += [i.qr_text for i in issued]
    finally:
        region.node.close()
    key = SigningKey(BASELINE_SEED)
    lengths = [len(decode(t).signed_bytes()) for t in texts]
    return Workload(
        eseal_bodies=[json.dumps({"text": t}).encode() for t in texts],
        baseline_bodies=[key.sign(os.urandom(n)) for n in lengths],
        texts=texts,
        sig_structure_bytes=lengths,
    )


@dataclass(frozen=True)
class Target:
    server: str  # "eseal" or "baseline"
    path: str
    content_type: str

    @property
    def label(self) -> str:
        return f"{self.server} POST {self.path}"


TARGETS = (
    Target("eseal", VERIFY_PATH, "application/json"),
    Target("baseline", BASELINE_PATH, "application/octet-stream"),
)


def check_answers(urls: dict[str, str], work: Workload, sample: int = 20) -> None:
    """Before the load: the servers answer a valid verdict for a sample of the licenses."""
    step = max(1, len(work.texts) // sample)
    for i in range(0, len(work.texts), step):
        answer = httpx.post(f"{urls['eseal']}{VERIFY_PATH}", json={"text": work.texts[i]})
        assert answer.status_code == 200, answer.text
        verdict = answer.json()
        assert verdict["valid"], verdict
        assert verdict["status"] == "VALID", verdict
        assert verdict["freshness"]["ledger_included"] is True, verdict
    answer = httpx.post(f"{urls['baseline']}{BASELINE_PATH}", content=work.baseline_bodies[0])
    assert answer.json() == {"valid": True}, answer.text


def run(settings: Settings, scratch: Path) -> tuple[dict[Target, list[Load]], Workload]:
    work = make_node(scratch / "node", settings.licenses)
    servers = {
        kind: start_server(kind, scratch / "node", module="bench.verify_http")
        for kind in ("eseal", "baseline")
    }
    loads: dict[Target, list[Load]] = {t: [] for t in TARGETS}
    try:
        for proc, url in servers.values():
            wait_ready(proc, url)
        check_answers({k: url for k, (_, url) in servers.items()}, work)
        targets = list(TARGETS)
        for r in range(settings.repeats):
            for target in targets[r % len(targets) :] + targets[: r % len(targets)]:
                proc, url = servers[target.server]
                bodies = work.eseal_bodies if target.server == "eseal" else work.baseline_bodies
                load, _ = drive(
                    url,
                    target.path,
                    bodies,
                    {"Content-Type": target.content_type},
                    clients=settings.clients,
                    warmup=settings.warmup,
                    seconds=settings.seconds,
                    server_pid=proc.pid,
                    expect=200,
                )
                assert load.errors == 0, f"{load.errors} errors"
                loads[target].append(load)
                print(
                    f"  round {r + 1}/{settings.repeats}  {target.label:<32} "
                    f"{load.rate:>8,.0f} req/s  p50 {load.p50_ms:6.1f} ms  "
                    f"p99 {load.p99_ms:6.1f} ms  server CPU {load.server_cpu:.0%}  "
                    f"driver CPU {load.driver_cpu:.0%}",
                    flush=True,
                )
    finally:
        for proc, _ in servers.values():
            stop_server(proc)
    return loads, work


# -- where the time goes (in process, after the load) ------------------------------------------


def breakdown(data: Path, texts: Sequence[str], rounds: int) -> dict[str, float]:
    """µs per request of the parts of ``POST /v1/verify``'s work, each timed alone in this
    process over the same texts (median of ``rounds``): the verdict as the route computes
    it (the node's cached trust store, its one ``LocalStatus``, ``to_json``), the pipeline
    without a status source, the node's online status answer, and the route's encoding of
    the verdict (``orjson.dumps``)."""
    import time

    import orjson

    from eseal.node import Node
    from eseal.trust_export import BundleCache, LocalStatus
    from tests.eseal.conftest import PASSPHRASE
    from verifier.document import decode
    from verifier.pipeline import VerifyContext, verify_text

    node = Node.open(data, passphrase=PASSPHRASE)
    try:
        cache = BundleCache(node)
        store = cache.store()
        docs = [decode(t) for t in texts]
        bundle = store.signers(docs[0].kid)[0].bundle
        status = LocalStatus(node)

        def online(i: int) -> dict[str, Any]:
            ctx = VerifyContext(store, int(time.time()), status=status)
            return verify_text(texts[i], ctx).to_json()

        answer = online(0)
        assert answer["valid"], answer
        assert answer["freshness"]["ledger_included"] is True, answer
        parts: dict[str, Callable[[int], object]] = {
            VERDICT: online,
            "  verify_text with no status source": lambda i: verify_text(
                texts[i], VerifyContext(store, int(time.time()))
            ),
            "  LocalStatus.license_status (online status)": lambda i: status.license_status(
                bundle, docs[i]
            ),
            ENCODING: lambda _i: orjson.dumps(answer),
        }
        runs: dict[str, list[float]] = {k: [] for k in parts}
        for _ in range(rounds):
            for label, fn in parts.items():
                started = time.perf_counter()
                for i in range(len(texts)):
                    fn(i)
                runs[label].append((time.perf_counter() - started) / len(texts) * 1e6)
    finally:
        node.close()
    return {k: median(v) for k, v in runs.items()}


VERDICT = "verdict: verify_text, node's online status, to_json"
ENCODING = "response encoding (orjson.dumps of the verdict)"


def print_breakdown(parts: dict[str, float], server_ms: float) -> None:
    route = parts[VERDICT]
    encoding = parts[ENCODING]
    rest = server_ms * 1e3 - route - encoding
    rows: list[list[object]] = [[k, v, f"{v / (server_ms * 1e3):.0%}"] for k, v in parts.items()]
    rows.append(["rest: HTTP, FastAPI, body validation (by difference)", rest, ""])
    rows.append(["server CPU per request under load", server_ms * 1e3, "100%"])
    print()
    print(table(["part of POST /v1/verify", "µs", "of server CPU/req"], rows))


def report(settings: Settings, loads: dict[Target, list[Load]]) -> list[dict[str, Any]]:
    base = median([x.rate for x in loads[TARGETS[1]]])
    results: list[dict[str, Any]] = []
    rows: list[list[object]] = []
    for target, runs in loads.items():
        rates = [x.rate for x in runs]
        res = {
            **asdict(target),
            "requests_per_s_median": median(rates),
            "requests_per_s_best": max(rates),
            "p50_ms_median": median([x.p50_ms for x in runs]),
            "p99_ms_median": median([x.p99_ms for x in runs]),
            "server_cpu_median": median([x.server_cpu for x in runs]),
            "driver_cpu_median": median([x.driver_cpu for x in runs]),
            "server_cpu_ms_per_request": median(
                [x.server_cpu / x.rate * 1e3 for x in runs if x.rate]
            ),
            "vs_baseline": median(rates) / base,
            "rounds": [asdict(x) | {"rate": x.rate} for x in runs],
        }
        results.append(res)
        rows.append(
            [
                target.label,
                res["requests_per_s_median"],
                res["requests_per_s_best"],
                res["p50_ms_median"],
                res["p99_ms_median"],
                f"{res['server_cpu_median']:.0%}",
                res["server_cpu_ms_per_request"],
                f"{res['driver_cpu_median']:.0%}",
                f"{res['vs_baseline']:.0%}",
            ]
        )
    print()
    print(
        table(
            [
                "server",
                f"req/s median ({settings.repeats})",
                "req/s best",
                "p50 ms",
                "p99 ms",
                "server CPU",
                "server CPU ms/req",
                "driver CPU",
                "% of baseline",
            ],
            rows,
        )
    )
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "verify over HTTP")
    add_load_options(parser)
    parser.add_argument(
        "--licenses", type=int, default=None, help="licenses issued and verified (2,000)"
    )
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.data, args.port, args.cpu, baseline=baseline_app)
        return {}
    cpus = load_cpus()
    settings = Settings(
        repeats=args.repeats or (1 if args.quick else 3),
        seconds=args.seconds or (1.0 if args.quick else 8.0),
        warmup=0.5 if args.quick else 2.0,
        clients=args.clients or (8 if args.quick else 32),
        licenses=args.licenses or (200 if args.quick else 2_000),
        breakdown=200 if args.quick else 1_000,
        driver_cpu=next(c for c in cpus if c != SERVER_CPU),
    )
    os.sched_setaffinity(0, {settings.driver_cpu})
    print(
        f"verify_http: server pinned to CPU {SERVER_CPU}, driver to CPU {settings.driver_cpu}; "
        f"{settings.clients} clients; {settings.repeats} rounds of {settings.seconds:g} s "
        f"(after a warm-up of at least {settings.warmup:g} s); {settings.licenses:,} licenses"
    )
    scratch = Path(tempfile.mkdtemp(prefix="eseal-bench-verify-http-", dir=args.scratch))
    try:
        loads, work = run(settings, scratch)
        print("\nwhere the time goes: each part alone, in this process, after the load", flush=True)
        parts = breakdown(scratch / "node", work.texts[: settings.breakdown], settings.repeats)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results = report(settings, loads)
    print_breakdown(parts, results[0]["server_cpu_ms_per_request"])
    share = results[0]["vs_baseline"]
    met = share >= GOAL_SHARE
    print(
        f"\ngoal: POST /v1/verify ≥ {GOAL_SHARE:.0%} of the bare signature-checking endpoint "
        f"on one worker: {'met' if met else 'NOT met'} ({share:.0%})"
    )
    body_sizes = {
        "eseal": [min(map(len, work.eseal_bodies)), max(map(len, work.eseal_bodies))],
        "baseline": [min(map(len, work.baseline_bodies)), max(map(len, work.baseline_bodies))],
    }
    stack = {
        name: _version(name)
        for name in ("uvicorn", "fastapi", "starlette", "h11", "uvloop", "httptools")
    }
    stack["pynacl"] = metadata.version("pynacl")
    doc = {
        "method": (
            f"{settings.repeats} rounds, the two figures interleaved (order rotated each "
            f"round); one uvicorn worker per server (access log off), both pinned to CPU "
            f"{SERVER_CPU} (the idle one waits), the driver pinned to CPU "
            f"{settings.driver_cpu}; {settings.clients} client threads, one keep-alive "
            "HTTP/1.1 connection each (plain sockets, prebuilt requests, bench.issue_http's "
            "driver), closed loop; measured window opens after the warm-up and once every "
            f"client has had an answer, lasts {settings.seconds:g} s; latency per request as "
            "the client saw it (nearest-rank p50/p99), medians over the rounds"
        ),
        **asdict(settings),
        "server_cpu": SERVER_CPU,
        "goal": {"share_of_baseline": GOAL_SHARE, "met": met},
        "body_bytes": body_sizes,
        "sig_structure_bytes": [min(work.sig_structure_bytes), max(work.sig_structure_bytes)],
        "stack": stack,
        "results": results,
        "breakdown_us": parts,
    }
    path = write_json(out_dir(args), "verify_http", doc)
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    main()
