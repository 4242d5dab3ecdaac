"""The timeouts a node holds its clients to: how long a request's head and body may take
to arrive, and how long a client may leave its response unread. Settings only, importable
without uvicorn (the command line reads them); :mod:`eseal.api.server` enforces them."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

#: Where ``eseal serve`` (and each of its worker processes) reads them from.
HEADER_ENV: Final = "ESEAL_HEADER_TIMEOUT"
BODY_IDLE_ENV: Final = "ESEAL_BODY_IDLE_TIMEOUT"
BODY_ENV: Final = "ESEAL_BODY_TIMEOUT"
SEND_ENV: Final = "ESEAL_SEND_TIMEOUT"

#: Bounds, in seconds: timeouts are kept to the millisecond, and one longer than these
#: protects nothing.
MIN_TIMEOUT: Final = 0.001
MAX_HEADER: Final = 300.0
MAX_BODY_IDLE: Final = 600.0
MAX_BODY: Final = 3600.0
MAX_SEND: Final = 600.0

#: A number of seconds as an operator writes it: plain decimal digits, to the millisecond
#: ("10", "0.5"). float() would also take "inf", "nan", "1e3", "1_0" and " 10 ".
_SECONDS: Final = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,3})?", re.ASCII)


def parse_seconds(text: str, high: float) -> float:
    """``text`` as a number of seconds, from :data:`MIN_TIMEOUT` to ``high``; ValueError
    with a message for the operator otherwise."""
    if not _SECONDS.fullmatch(text):
        raise ValueError(f"{text!r} is not a number of seconds in plain decimal digits")
    seconds = float(text)
    _check(seconds, high)
    return seconds


def _check(seconds: float, high: float) -> None:
    if not MIN_TIMEOUT <= seconds <= high:  # also false for NaN
        raise ValueError(f"{seconds:g} is not in the range {MIN_TIMEOUT:g} to {high:g} seconds")


@dataclass(frozen=True)
class ReadTimeouts:
    """How long a client may take to send a request, and to take its response (seconds).
    (Named before it held :attr:`send_idle`, which times the client reading its response.)

    ``header``: the request's head (request line and headers), counted from its first
    byte, or from the connection's opening for its first request. 10 s: a head sent
    slowly is at most 16 KiB (h11 refuses more that is incomplete), a couple of round
    trips even on a poor mobile link; a
    client sending it a byte at a time is holding the connection, not using it.

    ``body_idle``: the longest wait for the next bytes of a request body while the server
    is reading it. 30 s: longer than TCP's retransmissions ride out on a lossy link (about
    15 s for five lost segments in a row); a client that has sent nothing for that long has
    stalled.

    ``body_total``: the whole body, counted from the end of its head (time the server was
    not reading, because the app had not yet taken what had come, does not count). 120 s:
    the largest body the API takes (31 MiB, an image with the document it stamps) at
    about 2.2 Mbit/s, where the usual body (a few KiB of JSON, a scan of a few MiB) takes
    under a second; without it, a client sending a byte every ``body_idle`` seconds would
    hold the connection for months. An operator whose clients upload large documents over
    slower links raises it.

    ``send_idle``: how long a client may take none of its response while the node has more
    of it than the connection holds (writing paused: the client's receive window is full),
    checked every ``send_idle`` seconds: a stall is cut between ``send_idle`` and twice
    that after the last bytes the client took. 30 s, as ``body_idle``: a reader that has taken
    nothing for that long has stalled, and holds the connection and the response's unsent
    bytes (and the app's task, if it sends in parts). Only a stall is
    timed: a slow reader that keeps taking the response is not cut, however long the
    response takes (:mod:`eseal.api.server` says how progress is seen).
    """

    header: float = 10.0
    body_idle: float = 30.0
    body_total: float = 120.0
    send_idle: float = 30.0

    def __post_init__(self) -> None:
        _check(self.header, MAX_HEADER)
        _check(self.body_idle, MAX_BODY_IDLE)
        _check(self.body_total, MAX_BODY)
        _check(self.send_idle, MAX_SEND)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ReadTimeouts:
        """The timeouts the environment sets (:data:`HEADER_ENV`, …), the defaults for
        those it does not; ValueError naming the variable if one is malformed."""
        given: dict[str, float] = {}
        for field, name, high in _FIELDS:
            if text := environ.get(name):
                try:
                    given[field] = parse_seconds(text, high)
                except ValueError as e:
                    raise ValueError(f"{name}: {e}") from None
        return cls(**given)

    def environment(self) -> dict[str, str]:
        """These timeouts as :meth:`from_environment` reads them back."""
        return {name: f"{getattr(self, field):.3f}" for field, name, _ in _FIELDS}


_FIELDS: Final = (
    ("header", HEADER_ENV, MAX_HEADER),
    ("body_idle", BODY_IDLE_ENV, MAX_BODY_IDLE),
    ("body_total", BODY_ENV, MAX_BODY),
    ("send_idle", SEND_ENV, MAX_SEND),
)
