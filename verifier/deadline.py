"""An HTTP client whose requests end at a deadline, however slowly the other side sends.

httpx's timeouts bound each read, connect and write on its own: a node (or anything in
between) that sends its answer a byte every few seconds, headers included, never trips
them. Here every socket operation of a request made under :func:`deadline` is given at most
the time left until then, and none starts once it has passed: the request fails with
httpx's own timeout error, within the deadline.

The bound is put on the network streams httpcore opens (``NetworkBackend``), the one place
every byte of a request passes, whatever the connection (new, kept alive, TLS, through a
proxy).
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

#: The monotonic time by which this context's request must be done (None: no deadline).
_DEADLINE: ContextVar[float | None] = ContextVar("eseal_http_deadline", default=None)

#: What httpcore takes as a socket option (level, name, value).
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Requests made inside end within ``seconds`` from now (yields the monotonic time)."""
    at = time.monotonic() + seconds
    token = _DEADLINE.set(at)
    try:
        yield at
    finally:
        _DEADLINE.reset(token)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` cut to the time left before the deadline; ``expired`` once it is past."""
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

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
        bounded = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

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
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
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
