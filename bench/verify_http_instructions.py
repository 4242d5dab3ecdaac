"""``POST /v1/verify`` counted in CPU instructions per request on the server, beside the
bare signature-checking endpoint of ``bench.verify_http``: a figure that does not move with
the machine's noise.

``bench.verify_http`` measures the goal (requests per second against the bare endpoint), but
on a shared virtual machine its shares swing by ten points from run to run. Here each
server (the same ``--serve`` processes as ``bench.verify_http``: uvicorn as ``eseal serve``
runs it, over a node of ``--count`` + 30 licenses) runs under ``valgrind --tool=callgrind``
with collection off; after 30 warm-up requests on one keep-alive connection, collection is
switched on (``callgrind_control -i on``), ``--count`` requests are made one after the
other (a different license each), and it is switched off again. The count covers everything
the server process executes for them: uvicorn, h11, the app, the verdict (or the bare
signature check), and whatever the server's own background work did meanwhile (the node
rebuilds its cached trust bundle every 5 s of wall time, which under callgrind's slowdown
falls within the count: a few per cent from run to run for eseal).

    python -m bench.verify_http_instructions [--quick] [--count 300]

It needs ``valgrind`` (Debian package ``valgrind``); it takes a minute or two.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench._common import base_parser, out_dir, table, write_json
from bench.issue_http import free_port, wait_ready
from bench.verify_http import BASELINE_PATH, VERIFY_PATH, Workload, make_node

WARM_UP = 30


def count(kind: str, data: Path, bodies: Sequence[bytes], scratch: Path) -> int:
    """Instructions the ``kind`` server executed for ``bodies`` (after a warm-up)."""
    path, media = (
        (VERIFY_PATH, "application/json")
        if kind == "eseal"
        else (BASELINE_PATH, "application/octet-stream")
    )
    out = scratch / f"callgrind-{kind}.out"
    port = free_port()
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    cmd += [sys.executable, "-m", "bench.verify_http", "--serve", kind, "--data", str(data)]
    cmd += ["--port", str(port), "--cpu", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url, timeout=900)  # valgrind starts it slowly
        with httpx.Client(base_url=url, timeout=300, headers={"content-type": media}) as client:
            for body in bodies[:WARM_UP]:
                assert client.post(path, content=body).status_code == 200
            _collect(proc, "on")
            for body in bodies[WARM_UP:]:
                assert client.post(path, content=body).status_code == 200
            _collect(proc, "off")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(300)
    return _total(out)


def _collect(proc: subprocess.Popen[bytes], state: str) -> None:
    subprocess.run(
        ["callgrind_control", "-i", state, str(proc.pid)], check=True, capture_output=True
    )


def _total(out: Path) -> int:
    """The instruction count of callgrind's output files for one server (the largest
    ``summary``/``totals`` line: the whole run's)."""
    total = 0
    for path in out.parent.glob(out.name + "*"):
        for line in path.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    if total == 0:
        raise RuntimeError(f"callgrind wrote no count to {out}")
    return total


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=300, help="requests counted per server")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("bench.verify_http_instructions needs valgrind (apt-get install valgrind)")
    n = 40 if args.quick else args.count
    scratch = Path(tempfile.mkdtemp(prefix="eseal-bench-http-instr-"))
    try:
        work: Workload = make_node(scratch / "node", n + WARM_UP)
        per_request = {
            kind: count(kind, scratch / "node", bodies[: n + WARM_UP], scratch) / n
            for kind, bodies in (
                ("eseal", work.eseal_bodies),
                ("baseline", work.baseline_bodies),
            )
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    share = per_request["baseline"] / per_request["eseal"]
    print(
        table(
            ["server", "instructions a request", "baseline ÷ server"],
            [
                ["eseal POST /v1/verify", f"{per_request['eseal']:,.0f}", f"{share:.1%}"],
                ["baseline POST /verify-signature", f"{per_request['baseline']:,.0f}", "100%"],
            ],
        )
    )
    result = {"count": n, "instructions_per_request": per_request, "baseline_share": share}
    print(f"wrote {write_json(out_dir(args), 'verify_http_instructions', result)}")
    return result


if __name__ == "__main__":
    main()
