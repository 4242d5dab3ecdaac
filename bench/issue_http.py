"""License issuance over HTTP, one uvicorn worker on one core.

The server (``eseal.api.app.create_app(node)`` after ``node.start_group_commit()``, as
``eseal serve`` runs it; one uvicorn worker, access log off) runs in a subprocess pinned
to one CPU; this process, pinned to the other CPU, drives it with ``--clients`` threads,
each with its own keep-alive HTTP/1.1 connection (a plain socket sending prebuilt
requests: httpx was too slow a client to saturate even the baseline), POSTing as fast
as answers come back (closed loop). Measured: ``POST /v1/licenses`` (one license a
request) and ``POST /v1/licenses/batch`` (``--batch`` items a request), beside a baseline
served by the same uvicorn setup on the same CPU: a bare FastAPI endpoint that only
Ed25519-signs the request body, driven identically with the same bodies. All four are
interleaved round by round (order rotated), both servers staying up for the whole run.

    python -m bench.issue_http [--quick] [--repeats 3] [--seconds 8] [--clients 32]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from nacl.signing import SigningKey

from bench._common import base_parser, median, out_dir, percentile, table, write_json

SERVER_CPU = 1
SIGN_PATH = "/sign"


# -- the servers (run in the subprocess) -----------------------------------------------------


def baseline_app() -> FastAPI:
    """A bare FastAPI app: POST /sign answers the Ed25519 signature of the raw body."""
    app = FastAPI()
    key = SigningKey.generate()

    @app.post(SIGN_PATH, status_code=201)
    async def sign(request: Request) -> JSONResponse:
        signature = key.sign(await request.body()).signature
        return JSONResponse({"signature": base64.b64encode(signature).decode()}, 201)

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve(
    kind: str, data: Path, port: int, cpu: int, baseline: Callable[[], FastAPI] | None = None
) -> None:
    """Serve eseal's API over the node in ``data`` (or the ``baseline`` app) on one CPU."""
    os.sched_setaffinity(0, {cpu})
    import uvicorn

    from eseal.api.app import SERVER_OPTIONS

    node = None
    if kind == "eseal":
        from eseal.api.app import create_app
        from eseal.node import Node
        from tests.eseal.conftest import PASSPHRASE

        node = Node.open(data, passphrase=PASSPHRASE)
        node.start_group_commit()
        app = create_app(node)
    else:
        app = (baseline or baseline_app)()
    try:
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            **SERVER_OPTIONS,  # as eseal serve runs it, for both servers
        )
    finally:
        if node is not None:
            node.close()


# -- the driver ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    server: str  # "eseal" or "baseline"
    endpoint: str  # "single" or "batch"
    path: str
    items: int  # licenses (or items) per request

    @property
    def label(self) -> str:
        return f"{self.server} {self.endpoint}"


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    server_cpu: float  # share of one CPU the server process used in the window
    driver_cpu: float  # share of one CPU this process used in the window

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(
    kind: str, data: Path, module: str = "bench.issue_http"
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m MODULE --serve KIND`` (the module's own ``serve``) on a free port."""
    port = free_port()
    cmd = [sys.executable, "-m", module, "--serve", kind]
    cmd += ["--data", str(data), "--port", str(port), "--cpu", str(SERVER_CPU)]
    proc = subprocess.Popen(cmd)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server {url} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server {url} not ready after {timeout} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown; the node closes after it
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def http_request(method: str, path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """The bytes of one HTTP/1.1 request (keep-alive is HTTP/1.1's default)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class KeepAlive:
    """One keep-alive HTTP/1.1 connection over a plain socket: send prebuilt request bytes,
    read the answer by its Content-Length. A load generator that costs the driver little
    (httpx spends ~0.3 ms of CPU a request, enough to make the driver the bottleneck)."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def __enter__(self) -> KeepAlive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request``; the answer's status and body."""
        self.sock.sendall(request)
        while (cut := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head, self.buf = self.buf[:cut], self.buf[cut + 4 :]
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        fields = dict(line.split(b":", 1) for line in lines[1:])
        # A 304 (or 204) has no body, nor, from uvicorn, a Content-Length.
        sizes = [v for k, v in fields.items() if k.strip().lower() == b"content-length"]
        length = int(sizes[0]) if sizes else 0
        if not sizes and status not in (204, 304):
            raise ConnectionError(f"a {status} answer without Content-Length")
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body


def drive(
    url: str,
    path: str,
    bodies: Sequence[bytes],
    headers: dict[str, str],
    *,
    clients: int,
    warmup: float,
    seconds: float,
    server_pid: int,
    expect: int,
    method: str = "POST",
) -> tuple[Load, int]:
    """Closed loop: ``clients`` threads send ``method`` requests back to back. The measured
    window opens after ``warmup`` seconds and once every client has had an answer (steady
    state), and lasts ``seconds``; the answers that arrive inside it count, with their
    latencies. Also returns every ``expect``-status answer (warm-up and stragglers
    included), to check the database."""
    host, port = httpx.URL(url).host, httpx.URL(url).port or 80
    requests = [http_request(method, path, f"{host}:{port}", headers, body) for body in bodies]
    stop = threading.Event()
    first = threading.Semaphore(0)  # one release per client, at its first answer
    done: list[list[tuple[float, float]]] = [[] for _ in range(clients)]
    errors = [0] * clients
    ok = [0] * clients
    barrier = threading.Barrier(clients + 1)

    def worker(n: int) -> None:
        with KeepAlive(host, port) as conn:
            barrier.wait()
            i = n
            while not stop.is_set():
                begin = time.perf_counter()
                status, answer = conn.exchange(requests[i % len(requests)])
                end = time.perf_counter()
                i += clients
                done[n].append((begin, end))
                if len(done[n]) == 1:
                    first.release()
                if status == expect:
                    ok[n] += 1
                else:
                    errors[n] += 1
                    if sum(errors) == 1:
                        print(f"  ! {status} {answer[:200]!r}", flush=True)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    time.sleep(warmup)
    for _ in range(clients):
        first.acquire()
    t0, server_0, driver_0 = time.perf_counter(), cpu_seconds(server_pid), time.process_time()
    time.sleep(seconds)
    t1, server_1, driver_1 = time.perf_counter(), cpu_seconds(server_pid), time.process_time()
    stop.set()
    for t in threads:
        t.join()
    lat = [end - begin for per in done for begin, end in per if t0 <= end < t1]
    load = Load(
        requests=len(lat),
        seconds=t1 - t0,
        errors=sum(errors),
        p50_ms=percentile(lat, 50) * 1000 if lat else float("nan"),
        p99_ms=percentile(lat, 99) * 1000 if lat else float("nan"),
        server_cpu=(server_1 - server_0) / (t1 - t0),
        driver_cpu=(driver_1 - driver_0) / (t1 - t0),
    )
    return load, sum(ok)


def single_body(i: int) -> dict[str, Any]:
    with warnings.catch_warnings():  # its TestClient import warns about httpx
        warnings.simplefilter("ignore")
        from tests.eseal.test_api_issuing import ISSUE_BODY

    body: dict[str, Any] = json.loads(json.dumps(ISSUE_BODY))
    body["holder"]["name"] = f"重庆山城小面餐饮有限公司第{i + 1}分店"
    return body


def encode(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Settings:
    repeats: int
    seconds: float
    warmup: float
    clients: int
    batch: int
    driver_cpu: int


def run(settings: Settings, scratch: Path) -> tuple[dict[Target, list[Load]], int]:
    """Start both servers, check one issuance end to end, drive the four figures round by
    round, stop the servers; the loads, and the licenses found in the database."""
    from tests.eseal.conftest import make_region
    from verifier.document import decode

    region = make_region(scratch / "node")
    agency_key = bytes.fromhex(region.market.public_key)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {region.market.credential}",
    }
    region.node.close()
    n = settings.batch
    singles = [encode(single_body(i)) for i in range(1_000)]
    batches = [encode({"items": [single_body(b * n + i) for i in range(n)]}) for b in range(20)]
    servers = {kind: start_server(kind, scratch / "node") for kind in ("eseal", "baseline")}
    loads: dict[Target, list[Load]] = {t: [] for t in targets_for(n)}
    issued = 0
    try:
        for proc, url in servers.values():
            wait_ready(proc, url)
        # One issuance checked end to end: the answer's QR text verifies under the agency key.
        answer = httpx.post(
            f"{servers['eseal'][1]}/v1/licenses", content=singles[0], headers=headers, timeout=30
        )
        assert answer.status_code == 201, answer.text
        assert decode(answer.json()["qr_text"]).verify_with(agency_key)
        issued += 1
        targets = list(loads)
        for r in range(settings.repeats):
            for target in targets[r % len(targets) :] + targets[: r % len(targets)]:
                proc, url = servers[target.server]
                load, ok = drive(
                    url,
                    target.path,
                    singles if target.endpoint == "single" else batches,
                    headers,
                    clients=settings.clients,
                    warmup=settings.warmup,
                    seconds=settings.seconds,
                    server_pid=proc.pid,
                    expect=201,
                )
                issued += ok * target.items if target.server == "eseal" else 0
                loads[target].append(load)
                print(
                    f"  round {r + 1}/{settings.repeats}  {target.label:<15} "
                    f"{load.rate:>8,.0f} req/s {load.rate * target.items:>8,.0f} items/s  "
                    f"p50 {load.p50_ms:6.1f} ms  p99 {load.p99_ms:6.1f} ms  "
                    f"server CPU {load.server_cpu:.0%}  driver CPU {load.driver_cpu:.0%}  "
                    f"errors {load.errors}",
                    flush=True,
                )
    finally:
        for proc, _ in servers.values():
            stop_server(proc)
    # Every 201 is a durable license: the rows are all there once the server has stopped.
    con = sqlite3.connect(scratch / "node" / "ledger.db")
    try:
        rows: int = con.execute("SELECT count(*) FROM license").fetchone()[0]
        journal = con.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        con.close()
    assert rows == issued, (rows, issued)
    assert journal == "wal"
    return loads, rows


def targets_for(batch: int) -> list[Target]:
    return [
        Target("eseal", "single", "/v1/licenses", 1),
        Target("baseline", "single", SIGN_PATH, 1),
        Target("eseal", "batch", "/v1/licenses/batch", batch),
        Target("baseline", "batch", SIGN_PATH, batch),
    ]


def report(settings: Settings, loads: dict[Target, list[Load]]) -> list[dict[str, Any]]:
    """Print the table; the figures for the JSON."""
    base = {
        t.endpoint: median([x.rate for x in v]) for t, v in loads.items() if t.server != "eseal"
    }
    results: list[dict[str, Any]] = []
    out_rows: list[list[object]] = []
    for target, runs in loads.items():
        rates = [x.rate for x in runs]
        res = {
            **asdict(target),
            "requests_per_s_median": median(rates),
            "requests_per_s_best": max(rates),
            "items_per_s_median": median(rates) * target.items,
            "p50_ms_median": median([x.p50_ms for x in runs]),
            "p99_ms_median": median([x.p99_ms for x in runs]),
            "server_cpu_median": median([x.server_cpu for x in runs]),
            "driver_cpu_median": median([x.driver_cpu for x in runs]),
            "vs_baseline_requests": median(rates) / base[target.endpoint],
            "errors": sum(x.errors for x in runs),
            "rounds": [asdict(x) | {"rate": x.rate} for x in runs],
        }
        results.append(res)
        out_rows.append(
            [
                target.server,
                target.endpoint,
                target.items,
                res["requests_per_s_median"],
                res["requests_per_s_best"],
                res["items_per_s_median"] if target.server == "eseal" else None,
                res["p50_ms_median"],
                res["p99_ms_median"],
                f"{res['server_cpu_median']:.0%}",
                f"{res['driver_cpu_median']:.0%}",
                f"{res['vs_baseline_requests']:.3f}x",
            ]
        )
    print()
    print(
        table(
            [
                "server",
                "endpoint",
                "items/req",
                f"req/s median ({settings.repeats})",
                "req/s best",
                "licenses/s",
                "p50 ms",
                "p99 ms",
                "server CPU",
                "driver CPU",
                "vs baseline",
            ],
            out_rows,
        )
    )
    return results


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The options every HTTP load benchmark takes (and the hidden ones of its server)."""
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 3; 1 quick)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="measured seconds per figure (8; 1 quick)"
    )
    parser.add_argument(
        "--clients", type=int, default=None, help="concurrent clients (32; 8 with --quick)"
    )
    parser.add_argument("--scratch", type=Path, default=None, help="where the node goes")
    parser.add_argument("--serve", choices=("eseal", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=SERVER_CPU, help=argparse.SUPPRESS)


def load_cpus() -> list[int]:
    """The CPUs this process may use: the server's and at least one for the driver."""
    cpus = sorted(os.sched_getaffinity(0))
    if SERVER_CPU not in cpus or len(cpus) < 2:
        raise SystemExit(f"needs CPU {SERVER_CPU} and another one; this process may use {cpus}")
    return cpus


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "issue over HTTP")
    add_load_options(parser)
    parser.add_argument("--batch", type=int, default=100, help="items per batch request (100)")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.data, args.port, args.cpu)
        return {}
    cpus = load_cpus()
    settings = Settings(
        repeats=args.repeats or (1 if args.quick else 3),
        seconds=args.seconds or (1.0 if args.quick else 8.0),
        warmup=0.5 if args.quick else 2.0,
        clients=args.clients or (8 if args.quick else 32),
        batch=args.batch,
        driver_cpu=next(c for c in cpus if c != SERVER_CPU),
    )
    os.sched_setaffinity(0, {settings.driver_cpu})
    print(
        f"issue_http: server pinned to CPU {SERVER_CPU}, driver to CPU {settings.driver_cpu}; "
        f"{settings.clients} clients; {settings.repeats} rounds of {settings.seconds:g} s "
        f"(after a warm-up of at least {settings.warmup:g} s)"
    )
    scratch = Path(tempfile.mkdtemp(prefix="eseal-bench-http-", dir=args.scratch))
    try:
        loads, issued = run(settings, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results = report(settings, loads)
    print(f"\n{issued:,} licenses issued over HTTP, every one found in the database")
    stack = {
        name: _version(name)
        for name in ("uvicorn", "fastapi", "starlette", "httpx", "h11", "uvloop", "httptools")
    }
    doc = {
        "method": (
            f"{settings.repeats} rounds, the four figures interleaved (order rotated each "
            f"round); one uvicorn worker per server (access log off), both servers pinned to "
            f"CPU {SERVER_CPU} (the idle one waits), the driver pinned to CPU "
            f"{settings.driver_cpu}; {settings.clients} client threads, one keep-alive "
            "HTTP/1.1 connection each (plain sockets, prebuilt requests), closed loop; the "
            "measured window opens after a warm-up of "
            f"{settings.warmup:g} s and once every client has had an answer, lasts "
            f"{settings.seconds:g} s, and counts the answers arriving inside it; latency is "
            "per request as the client saw it (nearest-rank p50/p99 of those answers); the "
            "eseal node continues across rounds (one ledger for the whole run)"
        ),
        **asdict(settings),
        "server_cpu": SERVER_CPU,
        "stack": stack,
        "licenses_issued": issued,
        "results": results,
    }
    path = write_json(out_dir(args), "issue_http", doc)
    print(f"wrote {path}")
    return doc


def _version(name: str) -> str | None:
    if util.find_spec(name) is None:
        return None
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "installed"


if __name__ == "__main__":
    main()
