"""The API as a real server reads requests off the wire (uvicorn as ``eseal serve`` runs
it, :data:`eseal.api.app.SERVER_OPTIONS`): raw bytes on a socket, the shapes where HTTP
parsers differ and a request could be smuggled past a proxy or bound nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import select
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from eseal.api.timeouts import ReadTimeouts
from tests.e2e.conftest import serve_app
from tests.eseal.conftest import PASSPHRASE, Region, make_region


@dataclass(frozen=True)
class Wire:
    host: str
    port: int
    credential: str
    server: Any = field(default=None, compare=False, repr=False)  # uvicorn's, to look into

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
        yield Wire(parts.hostname, parts.port, region.market.credential, server)
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


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nNot a header\r\n\r\n",
        b"GET /v1/licenses/\xe4\xb8\xad/status HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n\r\n",  # no Host
        b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["header-without-colon", "raw-utf8-target", "no-host", "negative-length", "bad-chunk"],
)
def test_a_request_h11_cannot_read_gets_a_problem(wire: Wire, request_bytes: bytes) -> None:
    """What the HTTP parser refuses is answered like every other refusal, an RFC 9457
    problem (uvicorn's own answer is a plain-text line), and the connection closed."""
    answer = wire.exchange(request_bytes, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert _statuses(answer) == [400], answer[:300]
    fields = head.lower() + b"\r\n"
    assert b"\r\ncontent-type: application/problem+json\r\n" in fields
    assert b"\r\nconnection: close\r\n" in fields
    problem = json.loads(body)
    assert (problem["status"], problem["type"].rsplit("/", 1)[1]) == (400, "malformed-request")
    assert {"title", "detail"} <= problem.keys()


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


@pytest.mark.parametrize("send_given_by", ["option", "environment"])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_eseal_serve_runs_uvicorn_with_the_server_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str, send_given_by: str
) -> None:
    """What the tests above check is what ``eseal serve`` runs: uvicorn with
    SERVER_OPTIONS (h11, through the protocol class that times slow clients), with the
    timeouts its options (or its environment) give, one worker or several. uvicorn gives
    each worker its settings pickled, the class by its name: the timeouts go in the
    environment, and the worker's app factory sets them."""
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
    for name in (timeouts.HEADER_ENV, timeouts.BODY_IDLE_ENV, timeouts.BODY_ENV, timeouts.SEND_ENV):
        monkeypatch.setenv(name, "")  # unset, and restored after serve sets it
    # ...and the class's timeouts restored after the worker's factory sets them.
    monkeypatch.setattr(ReadTimeoutH11Protocol, "timeouts", ReadTimeoutH11Protocol.timeouts)
    given = ["--header-timeout", "2.5", "--body-idle-timeout", "7", "--body-timeout", "60"]
    if send_given_by == "option":
        given += ["--send-timeout", "45"]
    else:
        monkeypatch.setenv(timeouts.SEND_ENV, "45")
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
    wanted = timeouts.ReadTimeouts(header=2.5, body_idle=7.0, body_total=60.0, send_idle=45.0)
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

#: Small timeouts, so that the tests below take a second or two each.
SLOW = ReadTimeouts(header=0.4, body_idle=0.4, body_total=1.0, send_idle=0.5)
#: How late a timeout may come on a busy machine (they never come early).
LATE = 1.5
#: Longer than every timeout in SLOW: the app computing or sending for this long is fine.
LONG = 1.2
#: The server's socket send buffer (SO_SNDBUF; Linux doubles it), pinned: on loopback the
#: kernel tunes it up to 4 MiB, and takes more of a response in steps of a third of it.
SEND_BUFFER = 64 * 1024
#: A response much larger than the server's socket and uvicorn's flow control hold (and
#: small enough to read whole in a second or so): its writing pauses until the client reads.
BIG = 512 * 1024
#: The chunks of the streamed big response (/test/big-stream) the app has sent.
STREAMED: list[int] = []


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

    @app.get("/test/big")
    async def big() -> Response:  # one send: the whole body waits in the transport
        return Response(b"x" * BIG, media_type="application/octet-stream")

    @app.get("/test/big-stream")
    async def big_stream() -> StreamingResponse:  # a send per chunk, each awaiting drain
        async def chunks() -> AsyncIterator[bytes]:
            for n in range(BIG // 65536):
                yield b"x" * 65536
                STREAMED.append(n)

        return StreamingResponse(chunks(), media_type="application/octet-stream")

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
    app = _slow_app(region.node)
    with _served(region, timeouts=SLOW, app=app, send_buffer=SEND_BUFFER) as served:
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


# --- clients that do not take their response (eseal.api.server) -----------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _server_log() -> Iterator[list[logging.LogRecord]]:
    """The records uvicorn's error logger (where the protocol logs) takes meanwhile, from
    the info level."""
    handler = _Records()
    logger = logging.getLogger("uvicorn.error")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _reader(wire: Wire, path: str, receive_buffer: int, headers: bytes = b"") -> socket.socket:
    """A connection with this SO_RCVBUF (set before connecting: the window it advertises),
    having asked for ``path``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(5)
    sock.connect((wire.host, wire.port))
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path.encode(), headers))
    return sock


def _healthy(wire: Wire) -> bool:
    answer = wire.exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return _statuses(answer) == [200] and b'"status":"ok"' in answer


def _served_to(wire: Wire, sock: socket.socket) -> bool:
    """Whether the server still holds this connection (until the protocol's
    connection_lost; read from this thread, a copy of the set taken under the GIL)."""
    client = sock.getsockname()
    return any(protocol.client == client for protocol in list(wire.server.server_state.connections))


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        pytest.param("/test/big", b"", id="sent-at-once"),
        pytest.param("/test/big-stream", b"", id="sent-in-parts"),
        # uvicorn closes the connection once the app has sent it all: the close waits on
        # the client too.
        pytest.param("/test/big", b"Connection: close\r\n", id="sent-at-once-then-closed"),
    ],
)
def test_a_client_that_stops_reading_its_response_is_reset(
    slow_wire: Wire, path: str, headers: bytes
) -> None:
    """A client that reads the start of a large response and no more (its receive window
    full): the server resets the connection between SLOW.send_idle and twice that after
    (its checks come every SLOW.send_idle), with one line in its log and no error; it
    serves other clients meanwhile and after. The app that sends its response in parts,
    waiting for the client, is let go and its task ends. Without the send timeout the
    connection stayed, with the unsent response, for as long as the client's TCP
    acknowledged zero-window probes."""
    STREAMED.clear()
    with _server_log() as log, _reader(slow_wire, path, 4096, headers) as sock:
        first = sock.recv(4096)
        last = time.monotonic()
        assert first.startswith(b"HTTP/1.1 200 "), first[:300]
        assert _healthy(slow_wire)  # served while this one stalls
        while _served_to(slow_wire, sock):
            assert time.monotonic() - last < 2 * SLOW.send_idle + LATE, "not reset"
            time.sleep(0.01)
        took = time.monotonic() - last
        rest, reset = bytearray(), False
        try:
            while chunk := sock.recv(65536):
                rest += chunk
        except ConnectionResetError:
            reset = True
    assert SLOW.send_idle <= took, took
    assert reset  # RST: nothing more was sent, not even a FIN after the unsent bytes
    assert len(first) + len(rest) < BIG, len(rest)  # cut short
    assert _healthy(slow_wire)
    deadline = time.monotonic() + 2
    while slow_wire.server.server_state.tasks:  # the app's task ends (none left running)
        assert time.monotonic() < deadline, slow_wire.server.server_state.tasks
        time.sleep(0.01)
    if path == "/test/big-stream":  # the app stopped (told of the disconnect) half-way
        assert 0 < len(STREAMED) < BIG // 65536, STREAMED
    resets = [r.getMessage() for r in log if "connection reset" in r.getMessage()]
    assert len(resets) == 1, resets
    assert f"took none of the response for {SLOW.send_idle:g} s" in resets[0], resets
    assert [r for r in log if r.levelno >= logging.ERROR] == [], [r.getMessage() for r in log]


@pytest.mark.parametrize("path", ["/test/big", "/test/big-stream"])
def test_a_slow_steady_reader_gets_its_whole_response(slow_wire: Wire, path: str) -> None:
    """A client reading 64 KiB every 0.1 s, and now and then not for 0.3 s (each pause
    shorter than SLOW.send_idle): the whole response comes, though it takes more than twice
    SLOW.send_idle. The one-send response keeps writing paused through most of it, so a
    clock on the pause alone would have cut it: the server's checks see the client take
    more of it."""
    with _reader(slow_wire, path, 65536) as sock:
        started = time.monotonic()
        received = bytearray()
        reads = 0
        while chunk := sock.recv(65536):
            received += chunk
            if received.endswith(b"0\r\n\r\n") or len(received) > BIG:
                head, _, body = bytes(received).partition(b"\r\n\r\n")
                if b"transfer-encoding: chunked" not in head.lower() or body.endswith(
                    b"\r\n0\r\n\r\n"
                ):
                    break
            reads += 1
            time.sleep(0.3 if reads % 4 == 0 else 0.1)
        took = time.monotonic() - started
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert _statuses(head) == [200], head
    assert body.count(b"x") == BIG, len(body)
    assert took > 2 * SLOW.send_idle, took


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's count of unacknowledged bytes")
def test_a_reader_taking_a_little_at_a_time_is_cut_only_when_it_stops(slow_wire: Wire) -> None:
    """A client taking 2 KiB of a large response every 0.1 s (20 KB/s) is kept for more
    than three times SLOW.send_idle, though writing stays paused all along and the kernel
    takes less than a third of its send buffer more in that time (so the transport's
    buffer barely moves: progress is read from the kernel's count of bytes the client has
    not acknowledged); once it stops reading, it is reset within twice SLOW.send_idle.
    (Not at least SLOW.send_idle after its last read: a read too small to reopen its TCP
    window is no progress the server sees.)"""
    with _reader(slow_wire, "/test/big", 4096) as sock:
        taken = len(sock.recv(2048))  # the response has started
        started = time.monotonic()
        while time.monotonic() - started < 3 * SLOW.send_idle + 0.1:
            time.sleep(0.1)
            assert _served_to(slow_wire, sock), time.monotonic() - started
            taken += len(sock.recv(2048))
        last = time.monotonic()
        assert _served_to(slow_wire, sock)
        # A trickle: less than a third of the server's send buffer (Linux doubles it).
        assert taken < 2 * SEND_BUFFER // 3, taken
        while _served_to(slow_wire, sock):
            assert time.monotonic() - last < 2 * SLOW.send_idle + LATE, "not reset"
            time.sleep(0.01)
