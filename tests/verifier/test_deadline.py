"""A request to a node ends at its deadline however slowly the node answers: headers a byte
at a time, a body that trickles, a node that says nothing; and the client still goes
through the proxy the environment names."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpcore
import httpx
import pytest

from verifier import online
from verifier.deadline import client, deadline, env_proxy
from verifier.online import NodeUnreachable, OnlineStatus, fetch_bundle, fetch_revocations

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


def test_a_snapshot_has_its_own_longer_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A revocation snapshot (up to 64 MiB) is given SNAPSHOT_SECONDS, not the 15 s of a
    status answer or a bundle: the same slow answer ends a bundle's fetch, not a snapshot's."""
    monkeypatch.setattr(online, "REQUEST_SECONDS", 0.5)
    monkeypatch.setattr(online, "SNAPSHOT_SECONDS", 1.5)

    def slow_then_whole(conn: socket.socket, stop: threading.Event) -> None:
        stop.wait(0.9)
        bundle(conn, stop)

    with node(slow_then_whole) as (url, _):
        with pytest.raises(NodeUnreachable, match=r"took longer than 0\.5 s"):
            fetch_bundle(url, timeout=5.0)
        assert fetch_revocations(url, timeout=5.0) == b"envelope!"


def test_the_status_client_has_the_deadline_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(online, "REQUEST_SECONDS", 1.0)
    with node(trickle_headers) as (url, _):
        status = OnlineStatus(url, region="500000")
        started = time.monotonic()
        with pytest.raises(NodeUnreachable, match="took longer than 1 s"):
            status._get("/v1/licenses/x/status", "license")
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


def test_a_slow_resolver_is_given_up_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo has no timeout (the system resolver may retry for half a minute): it is
    waited for at most the time left."""
    real = socket.getaddrinfo

    def slow(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.example":
            time.sleep(4)
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    monkeypatch.setattr(online, "REQUEST_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(NodeUnreachable, match="took longer than 1 s"):
        fetch_bundle("http://slow.example:9", timeout=5.0)
    assert time.monotonic() - started < 2.0


def test_each_address_gets_only_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name with three addresses that never answer a connection: the three tries share
    the deadline (socket.create_connection would give each the whole timeout)."""
    real = socket.getaddrinfo
    tried: list[str] = []

    def three(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "many.example":
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"192.0.2.{i}", port))
                for i in (1, 2, 3)
            ]
        return real(host, port, *args, **kwargs)

    def black_hole(
        _self: Any, host: str, _port: int, timeout: float | None = None, *_args: Any
    ) -> Any:
        tried.append(host)
        time.sleep(timeout or 0)
        raise httpcore.ConnectTimeout("no answer")

    monkeypatch.setattr(socket, "getaddrinfo", three)
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", black_hole)
    monkeypatch.setattr(online, "REQUEST_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(NodeUnreachable, match="took longer than 1 s"):
        fetch_bundle("http://many.example:8000", timeout=5.0)
    assert time.monotonic() - started < 2.0
    assert tried[0] == "192.0.2.1"  # addresses tried in the resolver's order


@pytest.mark.timeout(30)  # a watchdog that fails must not hang the suite for 300 s
def test_the_watchdog_ends_a_read_that_loops_inside_one_operation() -> None:
    """A read given more than the time left (as TLS inside a TLS proxy reads the socket
    several times in one operation) is ended when the deadline passes: its socket is shut
    down."""
    with node(trickle_headers) as (url, _), client(url, 30.0) as http:
        backend = http._transport._pool._network_backend  # type: ignore[attr-defined]
        with deadline(1.0):
            raw = backend.connect_tcp("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=30.0)
            raw.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=30.0)
            started = time.monotonic()
            inner = raw._inner
            with pytest.raises((httpcore.ReadError, httpcore.ReadTimeout)):
                _read_until_closed(inner)
        assert time.monotonic() - started < 2.0


def _read_until_closed(stream: Any) -> None:
    """Read, each time allowing far longer than the deadline leaves, until the end."""
    while stream.read(65536, timeout=30.0):
        pass
    raise httpcore.ReadError("closed")


def test_a_late_watchdog_leaves_a_finished_request_s_socket_alone() -> None:
    """A watchdog that fires just as its request ends must not shut down the connection,
    which is back in the pool for the next request."""
    from verifier import deadline as module

    def twice(conn: socket.socket, _stop: threading.Event) -> None:
        for _ in range(2):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            if not conn.recv(65536):
                return

    with node(twice) as (url, requests), client(url, 5.0) as http:
        with deadline(5.0):
            finished = module._DEADLINE.get()
            assert http.get(url + "/a").content == b"ok"
        assert finished is not None
        assert finished.sockets  # the socket it used
        module._shut_down(finished)  # as if it fired at that very moment
        with deadline(5.0):
            assert http.get(url + "/b").content == b"ok"  # the same kept-alive connection
        assert len(requests) == 1  # one connection for both


def test_a_name_the_resolver_refuses_is_said_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo raises UnicodeError (not OSError) for a label over 63 characters: that is
    a refusal to report now, not a wait for the deadline."""
    monkeypatch.setattr(online, "REQUEST_SECONDS", 3.0)
    started = time.monotonic()
    with pytest.raises(NodeUnreachable, match="cannot reach") as refused:
        fetch_bundle("http://" + "a" * 64 + ".example:9")
    assert "took longer" not in str(refused.value)
    assert time.monotonic() - started < 1.5
