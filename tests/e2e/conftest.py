"""Helpers for the end-to-end tests: run the real ``eseal`` entry point, snapshot a data
directory's observable state, and check a C2SP signed checkpoint without the project."""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

PASSPHRASE = "e2e correct horse battery staple"
CLI_TIMEOUT = 120
T = TypeVar("T")


def eseal_command() -> list[str]:
    """The installed ``eseal`` console script next to this interpreter, else the same
    entry point through ``python -c``."""
    script = Path(sys.executable).with_name("eseal")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from eseal.cli import main; main()"]


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float

    def __str__(self) -> str:
        return (
            f"eseal {' '.join(self.args)} -> exit {self.code} in {self.seconds:.1f}s\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


def run_eseal(
    *args: str | Path,
    cwd: Path,
    passphrase: str | None = PASSPHRASE,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> Run:
    """Run ``eseal ARGS`` in a subprocess with a clean eseal environment (``stdin`` as its
    standard input, else none)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
    if passphrase is not None:
        environ["ESEAL_PASSPHRASE"] = passphrase
    environ.update(env or {})
    argv = tuple(str(a) for a in args)
    started = time.monotonic()
    proc = subprocess.run(
        [*eseal_command(), *argv],
        cwd=cwd,
        env=environ,
        capture_output=True,
        input=stdin,
        text=True,
        encoding="utf-8",
        timeout=CLI_TIMEOUT,
        check=False,
    )
    return Run(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def in_parallel(jobs: Mapping[str, Callable[[], T]]) -> dict[str, T]:
    """Run independent jobs (each one or more CLI runs) on a few threads; the CLI's start-up
    is mostly imports, so this keeps the suite fast."""
    workers = max(2, min(6, os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


def assert_clean_error(run: Run, code: int = 2) -> str:
    """Exit ``code``, nothing on stdout, exactly one ``error: …`` line on stderr, no
    traceback. Returns the message line."""
    assert run.code == code, str(run)
    assert "Traceback" not in run.stderr, str(run)
    assert run.stdout == "", str(run)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, str(run)
    assert lines[0].startswith("error: "), str(run)
    return lines[0]


# --- observable state of a data directory -------------------------------------------------


def ledger_state(data_dir: Path) -> dict[str, Any] | None:
    """The ledger as SQL sees it: head, row counts and the latest checkpoint (None when the
    directory has no ledger.db)."""
    db = data_dir / "ledger.db"
    if not db.exists():
        return None
    conn = sqlite3.connect(db)
    try:
        size, last_hash = conn.execute("SELECT size, last_hash FROM ledger_head").fetchone()
        (entries,) = conn.execute("SELECT count(*) FROM ledger_entry").fetchone()
        (checkpoints,) = conn.execute("SELECT count(*) FROM ledger_checkpoint").fetchone()
        latest = conn.execute(
            "SELECT size, note FROM ledger_checkpoint ORDER BY size DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return {
        "size": size,
        "last_hash": bytes(last_hash).hex(),
        "entries": entries,
        "checkpoints": checkpoints,
        "latest_checkpoint": tuple(latest) if latest else None,
    }


def tables_state(data_dir: Path) -> dict[str, str]:
    """Every table in ledger.db (the ledger's and any other), by a digest of its rows."""
    db = data_dir / "ledger.db"
    if not db.exists():
        return {}
    conn = sqlite3.connect(db)
    try:
        query = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        names = [name for (name,) in conn.execute(query)]
        state: dict[str, str] = {}
        for name in names:
            select = f'SELECT * FROM "{name}"'  # noqa: S608 - names come from sqlite_master
            rows = sorted(repr(row) for row in conn.execute(select))
            state[name] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return state
    finally:
        conn.close()


def files_state(data_dir: Path) -> dict[str, str]:
    """Every file other than the SQLite database files, by content hash."""
    if not data_dir.exists():
        return {}
    return {
        p.relative_to(data_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file() and not p.name.startswith("ledger.db")
    }


def snapshot(data_dir: Path) -> dict[str, Any]:
    return {
        "exists": data_dir.exists(),
        "ledger": ledger_state(data_dir),
        "tables": tables_state(data_dir),
        "files": files_state(data_dir),
    }


# --- C2SP signed note, checked with PyNaCl only -------------------------------------------


@dataclass(frozen=True)
class Head:
    origin: str
    size: int
    root: bytes


def independent_checkpoint(note: str, verifier_key: str) -> Head:
    """Check a C2SP tlog-checkpoint signed note by hand (signed-note: text, blank line,
    ``— <name> base64(keyhash4 || sig)``; keyhash = SHA-256(name || 0x0A || 0x01 || key)[:4])
    and return its origin, size and root hash."""
    name, key_hash_hex, encoded = verifier_key.split("+", 2)  # base64 may hold "+"
    raw = base64.b64decode(encoded, validate=True)
    assert raw[0] == 0x01
    assert len(raw) == 33
    public_key = raw[1:]
    key_hash = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    assert key_hash.hex() == key_hash_hex
    split = note.rindex("\n\n")
    text, signatures = note[: split + 1], note[split + 2 :]
    assert signatures.endswith("\n")
    verified = 0
    for line in signatures[:-1].split("\n"):
        assert line.startswith("\u2014 "), line
        signer, blob = line[2:].split(" ")
        sig = base64.b64decode(blob, validate=True)
        if signer == name and sig[:4] == key_hash:
            try:
                VerifyKey(public_key).verify(text.encode(), sig[4:])
            except BadSignatureError as e:  # pragma: no cover - the assertion's message
                raise AssertionError(f"bad checkpoint signature by {name}") from e
            verified += 1
    assert verified == 1, note
    origin, size, root, *_extensions = text[:-1].split("\n")
    assert origin == name
    assert size == str(int(size))
    return Head(origin, int(size), base64.b64decode(root, validate=True))


def raw_entries(data_dir: Path) -> list[bytes]:
    """The stored entry bytes, read straight from SQLite (not through the project)."""
    conn = sqlite3.connect(data_dir / "ledger.db")
    try:
        rows = conn.execute("SELECT idx, data FROM ledger_entry ORDER BY idx").fetchall()
    finally:
        conn.close()
    assert [idx for idx, _ in rows] == list(range(len(rows)))
    return [bytes(data) for _, data in rows]


def b64d(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def serve_app(
    node: Any, *, timeouts: Any = None, app: Any = None, send_buffer: int | None = None
) -> tuple[Any, Any, str]:
    """The node's app with the window page (or ``app``), served by uvicorn as ``eseal
    serve`` runs it (:data:`eseal.api.app.SERVER_OPTIONS`; with ``timeouts``, a
    :class:`~eseal.api.timeouts.ReadTimeouts`, the read timeouts it sets) on a free port,
    in a thread: (server, thread, base URL). Stop it with ``server.should_exit = True``
    and join the thread. ``send_buffer`` sets the listening socket's SO_SNDBUF, which the
    connections it accepts inherit (Linux), and which then stays that size (not tuned by
    the kernel)."""
    import socket
    import threading

    import uvicorn

    from eseal.api.app import SERVER_OPTIONS, create_app
    from eseal.api.routes import window
    from eseal.api.server import protocol_for

    if app is None:
        app = create_app(node)
        if not any(getattr(route, "path", None) == "/" for route in app.routes):
            app.include_router(window.router)
    options = dict(SERVER_OPTIONS)
    if timeouts is not None:
        options["http"] = protocol_for(timeouts)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if send_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"
