"""A request to a node ends at its deadline however slowly the node answers: headers a byte
at a time, a body that trickles, a node that says nothing; and the client still goes
through the proxy the environment names."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from verifier import online
from verifier.deadline import client, deadline, env_proxy
from verifier.online import NodeUnreachable, OnlineStatus, fetch_bundle

Answer = Callable[[socket.socket, threading.Event], None]


@contextlib.contextmanager
def node(answer: Answer) -> Iterator[tuple[str, list[bytes]]]:
    """A server on a free port that reads each request and lets ``answer`` reply on the
    connection: (base URL, the requests it read)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    requests: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                requests.append(conn.recv(65536))
                with contextlib.suppress(OSError):  # the client gave up, as it should
                    answer(conn, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", requests
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def trickle_headers(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while not stop.wait(0.2):  # a byte every 0.2 s: every read is quick
        conn.sendall(b"a")


def trickle_body(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99\r\n\r\n")
    while not stop.wait(0.2):
        conn.sendall(b" ")


def silent(_conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(20)


def bundle(conn: socket.socket, _stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nenvelope!")


@pytest.mark.parametrize("answer", [trickle_headers, trickle_body, silent])
def test_a_slow_node_is_given_up_at_the_deadline(
    answer: Answer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read is within httpx's timeout (5 s), yet the request ends at the 1 s deadline."""
    monkeypatch.setattr(online, "REQUEST_SECONDS", 1.0)
    with node(answer) as (url, requests):
        started = time.monotonic()
        with pytest.raises(NodeUnreachable, match="took longer than 1 s"):
            fetch_bundle(url, timeout=5.0)
        took = time.monotonic() - started
        assert requests  # it was asked, and did answer slowly
    assert 0.9 < took < 2.5, took


def test_the_status_client_has_the_deadline_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(online, "REQUEST_SECONDS", 1.0)
    with node(trickle_headers) as (url, _):
        status = OnlineStatus(url, region="500000")
        started = time.monotonic()
        with pytest.raises(NodeUnreachable, match="took longer than 1 s"):
            status._get("/v1/licenses/x/status", "unknown-license")
        status.close()
    assert time.monotonic() - started < 2.5


def test_one_slow_read_is_still_httpx_s_timeout() -> None:
    """A read that takes longer than the per-read timeout, well before the deadline, is
    named as such (not as the deadline)."""
    with node(silent) as (url, _), client(url, 0.5) as http, deadline(10):
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            http.get(url + "/v1/bundle")
        assert time.monotonic() - started < 2


def test_without_a_deadline_requests_are_as_httpx_makes_them() -> None:
    with node(bundle) as (url, _), client(url, 5.0) as http:
        assert http.get(url + "/v1/bundle").content == b"envelope!"


def test_the_environment_s_proxy_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``http_proxy`` set, the request goes to the proxy in absolute form (what httpx
    itself does); ``no_proxy`` exempts a host."""
    with node(bundle) as (proxy, requests):
        monkeypatch.setenv("http_proxy", proxy)
        monkeypatch.setenv("no_proxy", "direct.example")
        assert env_proxy("http://node.example:8000") == proxy
        assert env_proxy("http://direct.example") is None
        assert env_proxy("http://[::1") is None  # not a URL: httpx refuses it later
        assert fetch_bundle("http://node.example:8000") == b"envelope!"
    assert requests[0].startswith(b"GET http://node.example:8000/v1/bundle HTTP/1.1\r\n")
