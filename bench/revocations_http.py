"""The revocation snapshot over HTTP, one uvicorn worker on one core: ``GET /v1/revocations``.

A node that has issued ``--licenses`` business licenses, 1 % of them revoked, serves its
snapshot (``eseal.api.app.create_app(node)``, as ``eseal serve`` runs it; one uvicorn worker,
access log off, in a subprocess pinned to one CPU). This process, pinned to the other CPU,
first asks it once (the first request builds the snapshot: the cost every request had
before the node kept what it built, :class:`eseal.trust_export.SnapshotCache`), then drives
it with ``--clients`` threads, each with its own keep-alive HTTP/1.1 connection (the driver
of ``bench.issue_http``), asking back to back:

- ``GET /v1/revocations``: the whole signed file, from the cache (rebuilt when it is 30 s
  old: a round that lasts past that includes a build, as a node under steady polling does);
- the same with ``If-None-Match`` naming its current ETag (read just before the round):
  304, no file (a window polling);
- baseline, same uvicorn setup on the same CPU, driven identically: a bare FastAPI app whose
  ``async`` endpoint answers the same signed file's bytes, held in memory.

The three are interleaved round by round (order rotated). In this process, before the load,
the snapshot is also built ``export_snapshot`` three times (what a request cost uncached).

    python -m bench.revocations_http [--quick] [--repeats 3] [--seconds 8] [--clients 8]
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import Response

from bench._common import base_parser, median, out_dir, table, write_json
from bench.issue_http import (
    SERVER_CPU,
    Load,
    add_load_options,
    drive,
    load_cpus,
    serve,
    start_server,
    stop_server,
    wait_ready,
)

SNAPSHOT_FILE = "baseline-snapshot.json"
PATH = "/v1/revocations"
BASELINE_PATH = "/snapshot"
REVOKED_EVERY = 100  # 1 % revoked
BATCH = 1_000


def snapshot_app(data: Path) -> FastAPI:
    """A bare FastAPI app: GET /snapshot answers the bytes of the file the driver wrote."""
    body = (data / SNAPSHOT_FILE).read_bytes()
    app = FastAPI()

    @app.get(BASELINE_PATH)
    async def snapshot() -> Response:
        return Response(body, media_type="application/json")

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


@dataclass(frozen=True)
class Settings:
    repeats: int
    seconds: float
    warmup: float
    clients: int
    licenses: int
    driver_cpu: int


def make_node(data: Path, licenses: int) -> dict[str, Any]:
    """The node (closed again), its snapshot written for the baseline; the in-process
    build times."""
    from bench.issue import AGENCY, holder
    from eseal.licenses import change_status, issue_many
    from eseal.trust_export import export_snapshot
    from tests.eseal.conftest import MARKET, NOW, business_request, make_region

    region = make_region(data)
    node = region.node
    try:
        started = time.perf_counter()
        ids: list[str] = []
        for lo in range(0, licenses, BATCH):
            reqs = [business_request(holder(i)) for i in range(lo, min(lo + BATCH, licenses))]
            issued = issue_many(node, AGENCY, MARKET, reqs, now=NOW, with_proofs=False)
            ids += [i.id for i in issued]
        for i in range(0, licenses, REVOKED_EVERY):
            change_status(node, AGENCY, ids[i], "revoke", reason="bench", now=NOW + 1)
        made_s = time.perf_counter() - started
        build_s = []
        data_bytes = b""
        for _ in range(3):
            started = time.perf_counter()
            data_bytes = export_snapshot(node, now=int(time.time()))
            build_s.append(time.perf_counter() - started)
    finally:
        node.close()
    (data / SNAPSHOT_FILE).write_bytes(data_bytes)
    print(
        f"  issued {licenses:,} licenses, revoked {len(range(0, licenses, REVOKED_EVERY)):,} "
        f"in {made_s:.1f} s; export_snapshot {median(build_s):.3f} s (median of 3), "
        f"{len(data_bytes):,} bytes",
        flush=True,
    )
    return {"build_s": build_s, "build_s_median": median(build_s), "file_bytes": len(data_bytes)}


@dataclass(frozen=True)
class Target:
    label: str
    server: str
    path: str
    conditional: bool  # sends If-None-Match with the snapshot's ETag
    expect: int


TARGETS = (
    Target("eseal GET /v1/revocations", "eseal", PATH, False, 200),
    Target("eseal GET, If-None-Match (304)", "eseal", PATH, True, 304),
    Target("baseline GET of the same bytes", "baseline", BASELINE_PATH, False, 200),
)


def run(settings: Settings, scratch: Path) -> tuple[dict[str, list[Load]], dict[str, Any]]:
    data = scratch / "node"
    built = make_node(data, settings.licenses)
    servers = {
        kind: start_server(kind, data, module="bench.revocations_http")
        for kind in ("eseal", "baseline")
    }
    loads: dict[str, list[Load]] = {t.label: [] for t in TARGETS}
    try:
        for proc, url in servers.values():
            wait_ready(proc, url)
        started = time.perf_counter()
        first = httpx.get(servers["eseal"][1] + PATH, timeout=600)
        built["first_request_s"] = time.perf_counter() - started
        assert first.status_code == 200, first.text
        etag = first.headers["etag"]
        started = time.perf_counter()
        again = httpx.get(servers["eseal"][1] + PATH)
        built["second_request_s"] = time.perf_counter() - started
        assert again.content == first.content
        base = httpx.get(servers["baseline"][1] + BASELINE_PATH)
        assert len(base.content) == built["file_bytes"], "the baseline serves another file"
        print(
            f"  first GET {PATH} (builds it) {built['first_request_s']:.3f} s; "
            f"the next {built['second_request_s'] * 1e3:.1f} ms",
            flush=True,
        )
        targets = list(TARGETS)
        for r in range(settings.repeats):
            for target in targets[r % len(targets) :] + targets[: r % len(targets)]:
                proc, url = servers[target.server]
                if target.conditional:  # the current one: the cache rebuilds every 30 s
                    etag = httpx.get(url + PATH, timeout=600).headers["etag"]
                headers = {"If-None-Match": etag} if target.conditional else {}
                load, _ = drive(
                    url,
                    target.path,
                    [b""],
                    headers,
                    clients=settings.clients,
                    warmup=settings.warmup,
                    seconds=settings.seconds,
                    server_pid=proc.pid,
                    expect=target.expect,
                    method="GET",
                )
                # A rebuild within the round changes the ETag: the conditional GETs after it
                # get 200 (counted as unexpected), as a polling window's next one does.
                loads[target.label].append(load)
                print(
                    f"  round {r + 1}/{settings.repeats}  {target.label:<32} "
                    f"{load.rate:>8,.0f} req/s  p50 {load.p50_ms:6.1f} ms  "
                    f"p99 {load.p99_ms:6.1f} ms  server CPU {load.server_cpu:.0%}  "
                    f"unexpected {load.errors}",
                    flush=True,
                )
    finally:
        for proc, _ in servers.values():
            stop_server(proc)
    return loads, built


def report(loads: dict[str, list[Load]], build_s: float) -> list[dict[str, Any]]:
    base = median([x.rate for x in loads[TARGETS[2].label]])
    rows = []
    for target in TARGETS:
        got = loads[target.label]
        rate = median([x.rate for x in got])
        rows.append(
            {
                "target": target.label,
                "rate_median": rate,
                "p50_ms": median([x.p50_ms for x in got]),
                "p99_ms": median([x.p99_ms for x in got]),
                "server_cpu_ms_per_request": median(
                    [x.server_cpu / x.rate * 1e3 for x in got if x.rate]
                ),
                "vs_baseline": rate / base,
                "vs_uncached": rate * build_s,
                "unexpected_status": sum(x.errors for x in got),
            }
        )
    print()
    print(
        table(
            [
                "target",
                "median req/s",
                "p50 ms",
                "p99 ms",
                "server CPU ms/req",
                "vs baseline",
                "× uncached",
            ],
            [
                [
                    r["target"],
                    f"{r['rate_median']:,.0f}",
                    f"{r['p50_ms']:.1f}",
                    f"{r['p99_ms']:.1f}",
                    f"{r['server_cpu_ms_per_request']:.2f}",
                    f"{r['vs_baseline']:.0%}",
                    f"{r['vs_uncached']:,.0f}",
                ]
                for r in rows
            ],
        )
    )
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "revocations over HTTP")
    add_load_options(parser)
    parser.add_argument(
        "--licenses", type=int, default=None, help="licenses issued (100,000; 5,000 quick)"
    )
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.data, args.port, args.cpu, baseline=lambda: snapshot_app(args.data))
        return {}
    cpus = load_cpus()
    settings = Settings(
        repeats=args.repeats or (1 if args.quick else 3),
        seconds=args.seconds or (1.0 if args.quick else 8.0),
        warmup=0.5 if args.quick else 2.0,
        clients=args.clients or 8,
        licenses=args.licenses or (5_000 if args.quick else 100_000),
        driver_cpu=next(c for c in cpus if c != SERVER_CPU),
    )
    os.sched_setaffinity(0, {settings.driver_cpu})
    print(
        f"revocations_http: server pinned to CPU {SERVER_CPU}, driver to CPU "
        f"{settings.driver_cpu}; {settings.clients} clients; {settings.repeats} rounds of "
        f"{settings.seconds:g} s; {settings.licenses:,} licenses, 1 % revoked",
        flush=True,
    )
    scratch = Path(tempfile.mkdtemp(prefix="eseal-bench-revocations-http-", dir=args.scratch))
    try:
        loads, built = run(settings, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results = report(loads, built["build_s_median"])
    doc = {
        "method": (
            f"{settings.repeats} rounds, the three figures interleaved (order rotated each "
            f"round); one uvicorn worker per server (access log off), both pinned to CPU "
            f"{SERVER_CPU}, the driver to CPU {settings.driver_cpu}; {settings.clients} "
            "client threads, one keep-alive HTTP/1.1 connection each (bench.issue_http's "
            "driver), closed loop, after a warm-up; medians over the rounds. × uncached: "
            "the rate against one export_snapshot build per request (its in-process median)"
        ),
        **asdict(settings),
        "snapshot": built,
        "results": results,
    }
    path = write_json(out_dir(args), "revocations_http", doc)
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    main()
