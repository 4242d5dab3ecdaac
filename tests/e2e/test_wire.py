"""The API as a real server reads requests off the wire (uvicorn as ``eseal serve`` runs
it, :data:`eseal.api.app.SERVER_OPTIONS`): raw bytes on a socket, the shapes where HTTP
parsers differ and a request could be smuggled past a proxy or bound nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import Request
from fastapi.responses import StreamingResponse

from eseal.api.timeouts import ReadTimeouts
from tests.e2e.conftest import serve_app
from tests.eseal.conftest import PASSPHRASE, Region, make_region


@dataclass(frozen=True)
class Wire:
    host: str
    port: int
    credential: str

    def exchange(self, *parts: bytes, seconds: float = 2.0) -> bytes:
        """Send ``parts`` on one connection, then read until the server closes it or
        ``seconds`` pass quietly."""
        received = bytearray()
        with socket.create_connection((self.host, self.port), timeout=seconds) as sock:
            try:
                for part in parts:
                    sock.sendall(part)
                while chunk := sock.recv(65536):
                    received += chunk
            except TimeoutError:
                pass
            except ConnectionError:  # the server closed on us mid-request: what came came
                pass
        return bytes(received)


@contextlib.contextmanager
def _served(region: Region, **options: Any) -> Iterator[Wire]:
    """The region's node served as ``eseal serve`` serves it (``serve_app``'s ``options``),
    as a wire to talk to; stopped afterwards."""
    server, thread, url = serve_app(region.node, **options)
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    try:
        yield Wire(parts.hostname, parts.port, region.market.credential)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        region.node.close()


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    with _served(make_region(tmp_path_factory.mktemp("wire"))) as served:
        yield served


def _statuses(answer: bytes) -> list[int]:
    """The status codes of the responses in ``answer``, in order (interim ones too)."""
    return [
        int(line.split(b" ")[1])
        for line in answer.split(b"\r\n")
        if line.startswith(b"HTTP/1.1 ") and len(line.split(b" ")) > 1
    ]


def test_a_large_header_section_is_refused(wire: Wire) -> None:
    """The server bounds a request's headers before the app sees them (h11: 16 KiB
    buffered beyond what one read brings); a parser that bounds nothing let 32 MiB of
    headers cost 650 MB."""
    big = b"X-Pad: " + b"a" * 200_000 + b"\r\n"
    answer = wire.exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
    assert _statuses(answer) in ([400], []), answer[:300]  # refused, or cut off mid-send
    assert b'"status":"ok"' not in answer


def test_the_body_of_an_upgrade_request_is_never_read_as_a_request(wire: Wire) -> None:
    """A request asking for an Upgrade, whose body is itself a request: the body stays a
    body (a parser that ends the message at an Upgrade answered the hidden GET)."""
    hidden = b"GET /v1/ledger/checkpoint HTTP/1.1\r\nHost: x\r\n\r\n"
    head = (
        b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n" % len(hidden)
    )
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    started = time.monotonic()
    answer = wire.exchange(head, hidden, last, seconds=15)
    # The POST refused (its body is no JSON); then the server closes, or answers the last
    # GET and closes: either way at once, not after 15 quiet seconds.
    assert _statuses(answer) in ([400], [400, 200]), answer[:300]
    assert time.monotonic() - started < 10
    assert b"eseal/500000" not in answer  # the checkpoint's origin line


def test_a_credential_in_a_chunked_trailer_is_no_credential(wire: Wire) -> None:
    """Trailer fields never join the request's headers (a parser that added them let an
    Authorization sent after the body authenticate a request a proxy saw without one)."""
    body = b"2\r\n{}\r\n0\r\nAuthorization: Bearer " + wire.credential.encode() + b"\r\n\r\n"
    answer = wire.exchange(
        b"POST /v1/licenses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body
    )
    assert _statuses(answer) == [401], answer[:300]


def test_content_length_and_chunked_together_are_refused_and_the_connection_closed(
    wire: Wire,
) -> None:
    """Framed two ways (the classic desync between a proxy and a server): refused, and the
    request after it on the connection is not answered (RFC 9112 §6.1)."""
    answer = wire.exchange(
        b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert _statuses(answer) == [400], answer[:300]
    assert b"ambiguous-framing" in answer
    assert b'"status":"ok"' not in answer  # the request after it was not read


@pytest.mark.parametrize("workers", ["1", "2"])
def test_eseal_serve_runs_uvicorn_with_the_server_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """What the tests above check is what ``eseal serve`` runs: uvicorn with
    SERVER_OPTIONS (h11, through the protocol class that times slow clients), with the
    read timeouts its options give, one worker or several. uvicorn gives each worker its
    settings pickled, the class by its name: the timeouts go in the environment, and the
    worker's app factory sets them."""
    import pickle

    import uvicorn
    from typer.testing import CliRunner
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from eseal.api import timeouts
    from eseal.api.app import SERVER_OPTIONS, app_from_environment
    from eseal.api.server import ReadTimeoutH11Protocol
    from eseal.cli import app

    make_region(tmp_path).node.close()
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: runs.append(options))
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    monkeypatch.setenv("ESEAL_DATA", str(tmp_path))  # serve sets it for its workers
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    for name in (timeouts.HEADER_ENV, timeouts.BODY_IDLE_ENV, timeouts.BODY_ENV):
        monkeypatch.setenv(name, "")  # unset, and restored after serve sets it
    # ...and the class's timeouts restored after the worker's factory sets them.
    monkeypatch.setattr(ReadTimeoutH11Protocol, "timeouts", ReadTimeoutH11Protocol.timeouts)
    given = ["--header-timeout", "2.5", "--body-idle-timeout", "7", "--body-timeout", "60"]
    result = CliRunner().invoke(
        app, ["--data", str(tmp_path), "serve", "--workers", workers, *given]
    )
    assert result.exit_code == 0, result.output
    assert len(runs) == 1
    options = runs[0]
    assert SERVER_OPTIONS["http"] is ReadTimeoutH11Protocol
    assert {k: v for k, v in SERVER_OPTIONS.items() if k != "http"}.items() <= options.items()
    assert issubclass(options["http"], ReadTimeoutH11Protocol)
    assert issubclass(options["http"], H11Protocol)  # h11, not httptools
    wanted = timeouts.ReadTimeouts(header=2.5, body_idle=7.0, body_total=60.0)
    if workers == "1":
        assert options["http"].timeouts == wanted
        return
    assert options["http"] is ReadTimeoutH11Protocol
    pickled = pickle.dumps(options["http"])  # as uvicorn passes it to a worker
    assert pickle.loads(pickled) is ReadTimeoutH11Protocol  # noqa: S301 - our own bytes
    assert ReadTimeoutH11Protocol.timeouts == timeouts.ReadTimeouts()  # not in this process
    worker_app = app_from_environment()  # what each worker process runs first
    try:
        assert ReadTimeoutH11Protocol.timeouts == wanted
    finally:
        worker_app.state.node.close()


@pytest.mark.parametrize(
    "refused",
    [
        pytest.param(b"POST /v1/verify?a=1&a=2 HTTP/1.1\r\n", id="and-a-repeated-parameter"),
        pytest.param(
            b"POST /v1/verify HTTP/1.1\r\nAuthorization: x\r\nAuthorization: y\r\n",
            id="and-a-repeated-header",
        ),
        pytest.param(b"POST /v1/verify HTTP/1.1\r\n", id="alone"),
    ],
)
def test_a_request_framed_two_ways_is_refused_first_and_the_connection_closed(
    wire: Wire, refused: bytes
) -> None:
    """Framed two ways, whatever else is wrong with the request: the framing refusal comes
    first and closes the connection, so the bytes after it are never answered as another
    request (a repeated parameter refused first once let the smuggled request through)."""
    started = time.monotonic()
    answer = wire.exchange(
        refused + b"Host: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        seconds=15,
    )
    assert _statuses(answer) == [400], answer[:300]
    assert b"ambiguous-framing" in answer
    assert b"connection: close" in answer.lower()
    assert time.monotonic() - started < 10  # closed by the server, not a quiet timeout
    assert b'"status":"ok"' not in answer


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(wire: Wire) -> None:
    """A 413 on the declared length, answered before the body (and what follows it, part
    of that body) is read: never a second request."""
    hidden = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = wire.exchange(
        b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n" + hidden
    )
    assert _statuses(answer) == [413], answer[:300]
    assert b'"status":"ok"' not in answer


# --- clients that send a request slowly (eseal.api.server) ---------------------------------

#: Small read timeouts, so that the tests below take a second or two each.
SLOW = ReadTimeouts(header=0.4, body_idle=0.4, body_total=1.0)
#: How late a timeout may come on a busy machine (they never come early).
LATE = 1.5
#: Longer than every timeout in SLOW: the app computing or sending for this long is fine.
LONG = 1.2


def _slow_app(node: Any) -> Any:
    """The node's app, and routes that take long to answer or to read the body."""
    from eseal.api.app import create_app

    app = create_app(node)

    @app.get("/test/compute")
    async def compute() -> dict[str, bool]:
        await asyncio.sleep(LONG)
        return {"done": True}

    @app.get("/test/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for n in range(3):
                if n:
                    await asyncio.sleep(LONG / 2)
                yield b"chunk %d\n" % n

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.post("/test/late-reader")
    async def late_reader(request: Request) -> dict[str, int]:
        await asyncio.sleep(LONG)  # before asking for any of the body
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    return app


@pytest.fixture(scope="module")
def slow_wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    region = make_region(tmp_path_factory.mktemp("slow"))
    with _served(region, timeouts=SLOW, app=_slow_app(region.node)) as served:
        yield served


@dataclass(frozen=True)
class Talk:
    answer: bytes
    closed: bool  # by the server (else still open after ``patience`` quiet seconds)
    seconds: float  # from the last bytes sent to the end
    sent: bytes  # what was sent before the server answered or closed


def _talk(wire: Wire, *steps: bytes | float, patience: float = 4.0) -> Talk:
    """On one connection, send each ``bytes`` step and wait out each ``float`` one (both
    stop at the server's first answer or close), then read until the server closes or
    ``patience`` seconds pass quietly."""
    sent = bytearray()
    received = bytearray()
    closed = False
    with socket.create_connection((wire.host, wire.port), timeout=patience) as sock:
        last = time.monotonic()
        for step in steps:
            if isinstance(step, float):
                if select.select([sock], [], [], step)[0]:
                    break
            elif select.select([sock], [], [], 0)[0]:
                break
            else:
                sock.sendall(step)
                sent += step
                last = time.monotonic()
        try:
            while chunk := sock.recv(65536):
                received += chunk
            closed = True
        except TimeoutError:
            pass
        except ConnectionError:
            closed = True
    return Talk(bytes(received), closed, time.monotonic() - last, bytes(sent))


def _timeout_problem(answer: bytes) -> dict[str, Any]:
    """The 408 problem that is the whole of ``answer``, its head checked."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    assert lines[0] == b"http/1.1 408 request timeout", answer[:300]
    assert b"content-type: application/problem+json" in lines, answer[:300]
    assert b"connection: close" in lines, answer[:300]
    assert b"x-content-type-options: nosniff" in lines, answer[:300]
    assert b"content-length: %d" % len(body) in lines, answer[:300]
    problem = json.loads(body)
    assert set(problem) == {"type", "title", "status", "detail"}, problem
    assert problem["type"].endswith("/request-timeout"), problem
    assert (problem["title"], problem["status"]) == ("Request Timeout", 408), problem
    return dict(problem)


VERIFY_HEAD = (
    b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n"
)


def test_a_head_sent_a_byte_at_a_time_gets_a_408_and_is_closed(slow_wire: Wire) -> None:
    """A header byte every 0.1 s (each read is some progress): the head's clock runs from
    the connection's opening all the same, and the client gets a 408 problem at the
    timeout, then the connection is closed."""
    started = time.monotonic()
    head, slow = b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-Slow: " + b"a" * 40
    talk = _talk(slow_wire, head, *[step for byte in slow for step in (bytes([byte]), 0.1)])
    took = time.monotonic() - started
    problem = _timeout_problem(talk.answer)
    assert "head" in problem["detail"], problem
    assert talk.closed
    assert SLOW.header <= took < SLOW.header + LATE, took
    assert len(talk.sent) < len(head + slow)  # cut off mid-trickle, not when it ended


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(slow_wire: Wire) -> None:
    """Nothing of a request came: the connection is closed at the header timeout, with no
    408 (nobody asked; a browser's preconnected socket would take it as the answer to its
    next request)."""
    talk = _talk(slow_wire)
    assert talk.closed
    assert talk.answer == b""
    # (From the client's connect: the server's clock starts when it accepts, a moment on.)
    assert SLOW.header - 0.05 <= talk.seconds < SLOW.header + LATE, talk.seconds


def test_a_stalled_body_gets_a_408_and_is_closed(slow_wire: Wire) -> None:
    """A body that stops half-way while the app waits for it: 408 at the body's idle
    timeout after its last bytes."""
    talk = _talk(slow_wire, VERIFY_HEAD % 30 + b'{"text": ', 0.1, b'"he')
    problem = _timeout_problem(talk.answer)
    assert "no byte" in problem["detail"], problem
    assert talk.closed
    assert SLOW.body_idle <= talk.seconds < SLOW.body_idle + LATE, talk.seconds


def test_a_trickled_body_is_cut_at_the_total_deadline(slow_wire: Wire) -> None:
    """A body byte every 0.15 s never trips the idle timeout, but the whole body has
    SLOW.body_total seconds from its head."""
    started = time.monotonic()
    trickle = [step for _ in range(100) for step in (b" ", 0.15)]
    talk = _talk(slow_wire, VERIFY_HEAD % 100, *trickle)
    took = time.monotonic() - started
    problem = _timeout_problem(talk.answer)
    assert f"within {SLOW.body_total:g} s" in problem["detail"], problem
    assert talk.closed
    assert SLOW.body_total <= took < SLOW.body_total + LATE, took


def test_a_body_stalled_after_its_answer_closes_the_connection(slow_wire: Wire) -> None:
    """Refused on its declared size, a body is still read (and dropped) to keep the
    connection: if it stalls, the connection is closed without a second answer. uvicorn
    alone kept it open for good once a byte of it came after the answer."""
    with socket.create_connection((slow_wire.host, slow_wire.port), timeout=5) as sock:
        sock.sendall(VERIFY_HEAD % 100_000)
        answer = _read_response(sock)
        assert _statuses(answer) == [413], answer[:300]
        sock.sendall(b"x" * 10)
        last = time.monotonic()
        rest = bytearray()
        with contextlib.suppress(ConnectionError):
            while chunk := sock.recv(65536):
                rest += chunk
        took = time.monotonic() - last
    assert rest == b""  # closed, and no 408 after the 413
    assert SLOW.body_idle <= took < SLOW.body_idle + LATE, took


def _read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, whole."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_keep_alive_connection_idle_between_requests_is_not_timed(slow_wire: Wire) -> None:
    """Idle between two requests for longer than the header timeout (and shorter than
    uvicorn's keep-alive timeout, 5 s): the second request is answered."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((slow_wire.host, slow_wire.port), timeout=5) as sock:
        sock.sendall(request)
        first = _read_response(sock)
        time.sleep(SLOW.header * 2.5)
        sock.sendall(request)
        second = _read_response(sock)
    assert _statuses(first) == _statuses(second) == [200], (first, second)


def test_a_request_slow_within_the_timeouts_is_answered(slow_wire: Wire) -> None:
    """Head in two parts, body in three: each pause shorter than its timeout, the body
    within its deadline. Answered as the same request sent at once."""
    body = b'{"text": "hello"}'
    head = VERIFY_HEAD % len(body)
    at_once = _talk(slow_wire, head + body, patience=0.6)
    slow = _talk(
        slow_wire,
        head[:20],
        0.15,
        head[20:],
        0.2,
        body[:5],
        0.2,
        body[5:10],
        0.2,
        body[10:],
        patience=0.6,
    )
    assert slow.sent == head + body
    assert _statuses(slow.answer) == _statuses(at_once.answer), slow.answer[:300]
    assert b"408" not in slow.answer.split(b"\r\n", 1)[0]
    assert not slow.closed  # kept for the next request


@pytest.mark.parametrize("path", ["/test/compute", "/test/stream"])
def test_a_response_taking_longer_than_every_timeout_is_not_cut(slow_wire: Wire, path: str) -> None:
    """Computing, or sending in pieces, for longer than every read timeout: once the
    request is read, no read clock runs."""
    started = time.monotonic()
    talk = _talk(
        slow_wire, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode()
    )
    assert time.monotonic() - started >= LONG
    assert _statuses(talk.answer) == [200], talk.answer[:300]
    assert talk.closed
    if path == "/test/stream":
        assert talk.answer.endswith(b"chunk 2\n\r\n0\r\n\r\n"), talk.answer[-100:]
    else:
        assert talk.answer.endswith(b'{"done":true}'), talk.answer[-100:]


def test_a_body_the_app_reads_late_is_not_timed_against_the_client(slow_wire: Wire) -> None:
    """300 KB at once, then a byte every 0.25 s, the app asking for the body only after
    LONG seconds: reading pauses once 64 KiB wait unread (uvicorn's flow control), and the
    body clocks do not count that time against the client. Its body takes longer than
    SLOW.body_total (counted from the head) and is answered."""
    bulk, tail = b"x" * 300_000, b"y" * 7
    started = time.monotonic()
    talk = _talk(
        slow_wire,
        b"POST /test/late-reader HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
        b"Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
        % (len(bulk) + len(tail))
        + bulk,
        *[step for byte in tail for step in (0.25, bytes([byte]))],
    )
    assert _statuses(talk.answer) == [200], talk.answer[:300]
    assert talk.answer.endswith(b'{"size":%d}' % (len(bulk) + len(tail))), talk.answer[-100:]
    assert time.monotonic() - started > SLOW.body_total + 0.5


def test_a_client_waiting_for_100_continue_is_not_timed(slow_wire: Wire) -> None:
    """``Expect: 100-continue``: the client sends its body once told to, which is when the
    app first asks for it; the wait before is not the client's."""
    with socket.create_connection((slow_wire.host, slow_wire.port), timeout=5) as sock:
        sock.sendall(
            b"POST /test/late-reader HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Content-Type: application/octet-stream\r\nExpect: 100-continue\r\n"
            b"Connection: close\r\n\r\n"
        )
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        time.sleep(SLOW.body_idle / 2)
        sock.sendall(b"hello")
        answer = bytearray()
        while chunk := sock.recv(65536):
            answer += chunk
    assert _statuses(bytes(answer)) == [200], answer[:300]
    assert answer.endswith(b'{"size":5}'), answer[-100:]
