"""An HTTP client whose requests end at a deadline, however slowly the other side sends.

httpx's timeouts bound each read, connect and write on its own: a node (or anything in
between) that sends its answer a byte every few seconds, headers included, never trips
them. Here, under :func:`deadline`:

- every socket operation of a request is given at most the time left, and none starts once
  it has passed: the request fails with httpx's own timeout error;
- the name is resolved in a thread waited for at most the time left (``getaddrinfo`` has
  no timeout of its own: the system resolver may retry for half a minute), and each of its
  addresses is tried with the time then left, not each with the whole of it;
- a watchdog shuts down the sockets the request used when the deadline passes, for the
  loops that read a socket several times in one operation (TLS inside a TLS proxy).

The bounds are put on the network streams httpcore opens (``NetworkBackend``), the one
place every byte of a request passes, whatever the connection (new, kept alive, TLS,
through a proxy).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx


@dataclass
class _Deadline:
    """A request's deadline (monotonic time) and the sockets it has used, for the watchdog."""

    at: float
    sockets: set[socket.socket] = field(default_factory=set)
    passed: bool = False
    #: Set when the request's block is left: the watchdog then touches nothing (a socket it
    #: used may be back in the pool, in a later request's hands).
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


#: This context's request deadline (None: none).
_DEADLINE: ContextVar[_Deadline | None] = ContextVar("eseal_http_deadline", default=None)

#: What httpcore takes as a socket option (level, name, value).
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Requests made inside end within ``seconds`` from now (yields the monotonic time)."""
    current = _Deadline(time.monotonic() + seconds)
    token = _DEADLINE.set(current)
    watchdog = threading.Timer(seconds, _shut_down, (current,))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield current.at
    finally:
        with current.lock:  # after this, a watchdog already running does nothing
            current.done = True
        watchdog.cancel()
        _DEADLINE.reset(token)


def _shut_down(expired: _Deadline) -> None:
    """The watchdog: end every socket the request used (a blocked read returns at once),
    unless the request is over."""
    with expired.lock:
        if expired.done:
            return
        expired.passed = True
        for sock in list(expired.sockets):
            with contextlib.suppress(OSError):  # closed meanwhile
                # The plain socket's shutdown, also for a TLS socket: SSLSocket.shutdown
                # first drops its TLS state, and a read in the request's thread meanwhile
                # would raise a ValueError that is no network error.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` cut to the time left before the deadline; ``expired`` once it is past."""
    current = _DEADLINE.get()
    if current is None:
        return timeout
    left = current.at - time.monotonic()
    if left <= 0 or current.passed:
        raise expired("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


def _watched(stream: httpcore.NetworkStream) -> None:
    """Put the stream's socket under this request's watchdog (a kept-alive connection's
    too, at each use)."""
    current = _DEADLINE.get()
    if current is not None:
        sock = stream.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            current.sockets.add(sock)


def _addresses(host: str, port: int, seconds: float | None) -> list[str]:
    """The addresses of ``host``, resolved within ``seconds`` (a literal address as is)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [host]
    found: list[Any] = []
    done = threading.Event()

    def resolve() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as e:  # OSError, or UnicodeError for a label too long
            found[:] = [e]
        finally:
            done.set()

    threading.Thread(target=resolve, daemon=True, name=f"resolve {host}").start()
    if not done.wait(seconds):
        raise httpcore.ConnectTimeout(f"resolving {host} took longer than the time left")
    if found and isinstance(found[0], Exception):
        raise httpcore.ConnectError(f"cannot resolve {host}: {found[0]}")
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        bounded = _left(timeout, httpcore.ReadTimeout)
        _watched(self._inner)
        return self._inner.read(max_bytes, bounded)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        bounded = _left(timeout, httpcore.WriteTimeout)
        _watched(self._inner)
        self._inner.write(buffer, bounded)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        if _DEADLINE.get() is None:
            return _Stream(
                self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
            )
        options = None if socket_options is None else list(socket_options)  # for each try
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in _addresses(host, port, _left(timeout, httpcore.ConnectTimeout)):
            bounded = _left(timeout, httpcore.ConnectTimeout)  # what is left, at each address
            try:
                stream = self._inner.connect_tcp(address, port, bounded, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                failure = e
                continue
            _watched(stream)
            return _Stream(stream)
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport, its network streams bounded by :func:`deadline`."""

    def __init__(self, *, proxy: str | None = None) -> None:
        super().__init__(proxy=proxy)
        # httpcore's pools (direct or through a proxy) open every connection through their
        # network backend; httpx builds the pool without a way to name one.
        pool: Any = self._pool
        backend = getattr(pool, "_network_backend", None)
        if not isinstance(backend, httpcore.NetworkBackend):  # pragma: no cover - a new httpcore
            raise RuntimeError("httpcore's connection pool no longer has a network backend")
        pool._network_backend = _Backend(backend)


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``https_proxy``, ``http_proxy``,
    ``all_proxy``, unless ``no_proxy`` excludes its host), as httpx would pick it."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL: httpx says so when it is asked to use it
        return None
    # The environment's variables only, as httpx reads them: not the registry's or macOS's
    # system proxy, which getproxies() and proxy_bypass() fall back to there.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined] # not in typeshed
    if not parts.hostname or bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(parts.scheme) or proxies.get("all")


def client(url: str, timeout: float) -> httpx.Client:
    """An httpx client for the node at ``url`` whose requests :func:`deadline` bounds:
    ``timeout`` for each read, write and connect, no redirects, the environment's proxy."""
    transport = DeadlineTransport(proxy=env_proxy(url))
    # trust_env off: the transport already has the environment's proxy (httpx would mount
    # its own transports for it, without the deadline) and its CA settings.
    return httpx.Client(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )
