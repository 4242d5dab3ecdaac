"""The API as a real server reads requests off the wire (uvicorn as ``eseal serve`` runs
it, :data:`eseal.api.app.SERVER_OPTIONS`): raw bytes on a socket, the shapes where HTTP
parsers differ and a request could be smuggled past a proxy or bound nothing."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

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


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    region: Region = make_region(tmp_path_factory.mktemp("wire"))
    server, thread, url = serve_app(region.node)
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    try:
        yield Wire(parts.hostname, parts.port, region.market.credential)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        region.node.close()


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
    SERVER_OPTIONS, one worker or several."""
    import uvicorn
    from typer.testing import CliRunner

    from eseal.api.app import SERVER_OPTIONS
    from eseal.cli import app

    make_region(tmp_path).node.close()
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: runs.append(options))
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    monkeypatch.setenv("ESEAL_DATA", str(tmp_path))  # serve sets it for its workers
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["--data", str(tmp_path), "serve", "--workers", workers])
    assert result.exit_code == 0, result.output
    assert len(runs) == 1
    assert SERVER_OPTIONS.items() <= runs[0].items()
    assert runs[0]["http"] == "h11"


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
