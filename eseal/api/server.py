"""uvicorn's h11 protocol with read timeouts and a send timeout: a client that sends a
request slowly (a header byte every few seconds, a body a byte at a time: "slowloris") has
its connection closed, with a 408 problem where nothing was answered yet; one that stops
taking its response has its connection reset.

uvicorn bounds only the wait between requests (``timeout_keep_alive``); while a request's
head or body is being read it waits for ever, so a few hundred slow connections hold a
node's connections and memory. The clocks here follow h11's view of the client's side:

- the head clock (:attr:`ReadTimeouts.header`) runs from a request's first byte, or from
  the connection's opening for its first request, until h11 has the whole head. At the
  timeout the client gets a 408; a connection that never sent a byte is just closed. A
  connection idle between requests is left to uvicorn's keep-alive timeout (so is one
  holding part of a pipelined head when the response before it completes: the head clock
  starts at its next bytes).
- the body clocks (:attr:`ReadTimeouts.body_idle` since the latest body bytes or the
  server's latest asking for more, :attr:`ReadTimeouts.body_total` since the head) run
  until h11 has the whole body. They do not fire while reading is paused because the app
  has not taken the 64 KiB already buffered (uvicorn's flow control), while the client
  waits for a ``100 Continue`` the app has not asked for, nor while the app sends its
  response (no read clock cuts a response); the total leaves out the time reading was paused,
  and starts at the ``100 Continue`` for a client that waits for one. At the timeout the
  client gets a 408 if the app has not answered; if it has, the server was reading (and
  dropping) the rest of the body to keep the connection, and just closes it.

A request read whole has no read clock: not while the app computes its answer nor while
it sends it. Sending has its own clock, on the client's side again, for a client that asks
and never reads the answer (its TCP receive window stays full). uvicorn stops the app's
writes while the transport holds more than the kernel will take (asyncio's
``pause_writing``: the app's next ``send`` awaits ``drain``), so without a clock such a
client holds the connection, the app's task and the response's unsent bytes for as long
as its TCP answers the kernel's zero-window probes, that is for ever:

- the send clock (:attr:`ReadTimeouts.send_idle`) runs while writing is paused. A check
  every ``send_idle`` seconds compares the bytes the client has not yet taken (those the
  transport holds, and those the kernel holds unacknowledged) with the previous check's
  (or the pause's): fewer, or writing resumed in between, is a client reading, however
  slowly, and the clock starts over; as many is a stall, and the connection is reset.
  Nothing is sent to a client that is not reading: SO_LINGER 0 and ``abort``, so the
  kernel drops the unsent bytes at once (as nginx's ``reset_timedout_connection``) instead
  of holding them in front of its FIN. uvicorn sees the connection lost: the app's pending
  ``send`` returns, as for a client that went away (its ``receive`` answers a
  disconnect), and the app's task ends. A stalled client is cut between ``send_idle`` and
  twice that after the last bytes it took. The kernel's count (``SIOCOUTQ``) falls with
  each window the client opens by reading, a segment or so; where the kernel gives no
  such count (not Linux), the transport's buffer alone shows progress, which falls only when the
  kernel takes more of it, in steps of a good part of the socket's send buffer (Linux
  wakes a writer once about a third of it is free): there a reader taking less than that
  every ``send_idle`` seconds looks stalled. A response as a whole has no deadline: a slow
  but steady reader of a large one is served to the end.

Timers are :meth:`asyncio.loop.call_at` handles: a connection arms one for its first head
(cancelled when the head is complete, or when the connection is lost), and one for a
request whose head came without all of its body; a body timer is not cancelled when the
body completes but left to fire once and find nothing to time, so that a keep-alive
connection arms at most one every ``body_idle`` seconds. A request costs no timer
operation then, and bytes cost a clock read, not a timer: a check that comes before its
deadline is moved to it. The send clock arms a timer only when writing pauses (a client
that keeps up with its responses never has one), re-arms it at a check that finds
progress, and leaves it pending across a resume, to find the progress then: a large
response paused and resumed at each of its chunks arms one every ``send_idle`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import struct
import sys
from http import HTTPStatus
from typing import Any, ClassVar, Final

import h11
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from eseal.api import problem_types
from eseal.api.limits import problem_answer
from eseal.api.timeouts import ReadTimeouts
from eseal.problems import plain_problem

#: The problem type of a 408 (RFC 9457), and its title.
REQUEST_TIMEOUT: Final = problem_types.REQUEST_TIMEOUT.code
REQUEST_TIMEOUT_TITLE: Final = HTTPStatus.REQUEST_TIMEOUT.phrase
#: The problem type of a request h11 cannot parse, and its title.
MALFORMED_REQUEST: Final = problem_types.MALFORMED_REQUEST.code
MALFORMED_REQUEST_TITLE: Final = "Malformed request"

#: SO_LINGER on with no delay (``struct linger``): closing the socket resets the
#: connection and drops what the kernel had not sent.
_LINGER_NONE: Final = struct.pack("ii", 1, 0)

if sys.platform == "win32":  # pragma: no cover

    def _kernel_queue(fd: int) -> int:
        return 0

else:
    import fcntl
    import termios

    def _kernel_queue(fd: int) -> int:
        """The bytes the socket's kernel queue holds that the peer has not acknowledged
        (``SIOCOUTQ``: ``TIOCOUTQ`` on a socket, Linux); OSError where it has no such
        count."""
        count: int = struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0" * 4))[0]
        return count


class _ReadFlow(FlowControl):
    """uvicorn's flow control, noting how long reading has been paused in all and, while a
    body is being timed (``timing``), when the server last asked for more of it (the app
    called ``receive``, or reading resumed): time the body's clocks do not count against
    the client."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(transport)
        self._time = loop.time
        self.timing = False
        self.asked_at = 0.0
        self.paused_at = 0.0
        self.paused_for = 0.0

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.paused_at = self._time()
            self.read_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:  # at every receive: a flag test unless timing
        if self.read_paused:
            self.asked_at = now = self._time()
            self.paused_for += now - self.paused_at
            self.read_paused = False
            self._transport.resume_reading()
        elif self.timing:
            self.asked_at = self._time()


class ReadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose client sends a request too slowly,
    or stops taking its response (the module's docstring says when). Give uvicorn the
    class (``http=``); its timeouts are :attr:`timeouts`, or a subclass's
    (:func:`protocol_for`)."""

    #: Set for a whole process by :func:`eseal.api.app.app_from_environment` (each worker
    #: of ``eseal serve --workers N``: uvicorn gives a worker the class by its name).
    timeouts: ClassVar[ReadTimeouts] = ReadTimeouts()

    # Slots, not the instance's dict: uvicorn's attributes fill the 30 keys a class's
    # instances may share, and past that every attribute read in uvicorn's protocol goes
    # through a dict of its own (callgrind: 4,500 more instructions a request).
    __slots__ = (
        "_body_cycle",
        "_body_due",
        "_body_last",
        "_body_paused",
        "_body_timer",
        "_head_timer",
        "_read_flow",
        "_send_left",
        "_send_timer",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        #: The request whose body the body clocks time (None: none).
        self._body_cycle: RequestResponseCycle | None = None
        self._body_last = 0.0  # when the body's latest bytes came
        self._body_due = 0.0  # the whole body's deadline, before paused time
        self._body_paused = 0.0  # the flow's paused time when the body started
        self._read_flow: _ReadFlow = None  # type: ignore[assignment]
        self._send_timer: asyncio.TimerHandle | None = None
        #: The bytes the client had not taken at the send clock's start or last check (inf:
        #: writing resumed since, the client took what was waiting).
        self._send_left = math.inf

    # --- the protocol, with the clocks following h11's view of the client's side --------

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self.flow = self._read_flow = _ReadFlow(transport, self.loop)
        self._head_timer = self.loop.call_later(self.timeouts.header, self._head_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timers()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        """The transport holds more than the kernel takes: the app's next ``send`` waits
        until the client reads (uvicorn's flow control). Start the send clock, unless a
        check is pending already: it finds that writing resumed since, and starts over."""
        super().pause_writing()
        if self._send_timer is None:
            self._send_left = self._unsent()
            self._send_timer = self.loop.call_later(self.timeouts.send_idle, self._send_check)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._send_left = math.inf  # progress, for a check still pending

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._body_cycle is not self.cycle:
                self._start_body_clocks()
            else:
                self._body_last = self.loop.time()
        elif state is h11.IDLE:  # part of a head: the rest is awaited
            if self._head_timer is None:
                self._start_head_clock()
        elif self._head_timer is not None or self._body_cycle is not None:
            self._stop_clocks()  # read whole (or refused): the app's turn

    def on_response_complete(self) -> None:
        cycle = self.cycle
        super().on_response_complete()  # may read a pipelined request
        if self.cycle is not cycle and self.conn.their_state is h11.SEND_BODY:
            self._start_body_clocks()  # pipelined, its body not all there
        # An idle connection, or one holding part of a pipelined head, is the keep-alive
        # timer's: the head clock starts at the next bytes. A request whose body is being
        # read and dropped after its answer keeps its body clocks.

    # --- the clocks -----------------------------------------------------------------------

    def _start_head_clock(self) -> None:
        self._stop_clocks()
        self._head_timer = self.loop.call_later(self.timeouts.header, self._head_expired)

    def _start_body_clocks(self) -> None:
        self._stop_clocks()
        cycle = self.cycle
        if cycle is None or self.transport.is_closing():
            return
        now = self.loop.time()
        self._body_cycle = cycle
        self._body_last = now
        # Counted from the head, or from the 100 Continue a client waits for (the first
        # check after the wait sets it).
        waiting = cycle.waiting_for_100_continue
        self._body_due = math.inf if waiting else now + self.timeouts.body_total
        self._body_paused = self._read_flow.paused_for
        self._read_flow.timing = True
        first = now + min(self.timeouts.body_idle, self.timeouts.body_total)
        # A check still pending from an earlier body will do, if it comes soon enough: a
        # keep-alive connection arms at most one body timer every body_idle seconds.
        timer = self._body_timer
        if timer is None or timer.when() > first:
            if timer is not None:
                timer.cancel()
            self._body_timer = self.loop.call_at(first, self._body_check)

    def _stop_clocks(self) -> None:
        """The request's head or body is read (or the connection is done with): stop
        timing it. A body check still pending is left to find nothing to time (cheaper
        than a cancelled timer per request)."""
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._body_cycle = None
        self._read_flow.timing = False

    def _cancel_read_timers(self) -> None:
        self._stop_clocks()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _ours(self) -> bool:
        """Whether this connection is still open and this protocol's (not a WebSocket's
        it was upgraded to)."""
        return not self.transport.is_closing() and self.transport.get_protocol() is self

    def _head_expired(self) -> None:
        self._head_timer = None
        if not self._ours() or self.conn.their_state is not h11.IDLE:
            return
        if not self.conn.trailing_data[0]:
            # Nothing of a request came: nobody to answer (a browser's preconnected socket
            # would take an unasked-for 408 as the answer to its next request).
            self._close("no request arrived")
            return
        self._time_out(f"the request head did not arrive within {self.timeouts.header:g} s")

    def _body_check(self) -> None:
        self._body_timer = None
        cycle = self._body_cycle
        if cycle is None or not self._ours() or self.conn.their_state is not h11.SEND_BODY:
            return
        timeouts, flow = self.timeouts, self._read_flow
        now = self.loop.time()
        if (
            flow.read_paused  # the app has not taken what came
            or cycle.waiting_for_100_continue  # the client waits for the app's word
            or (cycle.response_started and not cycle.response_complete)
        ):
            self._body_timer = self.loop.call_at(now + timeouts.body_idle, self._body_check)
            return
        if self._body_due == math.inf:  # the client was told to go on since the last check
            self._body_due = max(flow.asked_at, self._body_last) + timeouts.body_total
        idle_due = max(self._body_last, flow.asked_at) + timeouts.body_idle
        total_due = self._body_due + (flow.paused_for - self._body_paused)
        if now < idle_due and now < total_due:
            self._body_timer = self.loop.call_at(min(idle_due, total_due), self._body_check)
            return
        if now >= total_due:
            detail = f"the request body did not arrive within {timeouts.body_total:g} s"
        else:
            detail = f"no byte of the request body came for {timeouts.body_idle:g} s"
        if cycle.response_started:  # answered already; the rest of the body never came
            self._close(detail)
        else:
            self._time_out(detail)

    def _unsent(self) -> int:
        """The bytes written that the client has not taken (acknowledged): those the
        transport holds, and those the kernel does (Linux; elsewhere the transport's only:
        the module's docstring says what is then seen)."""
        left = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                left += _kernel_queue(sock.fileno())
        return left

    def _send_check(self) -> None:
        self._send_timer = None
        if not self.flow.write_paused or self.transport.get_protocol() is not self:
            return  # writing resumed (its next pause starts the clock), or a WebSocket's now
        left = self._unsent()
        if left < self._send_left:  # the client took some of the response since
            self._send_left = left
            self._send_timer = self.loop.call_later(self.timeouts.send_idle, self._send_check)
            return
        self._close(
            f"the client took none of the response for {self.timeouts.send_idle:g} s"
            f" ({left} bytes unsent)",
            reset=True,
        )

    # --- closing ----------------------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request h11 cannot read (a malformed request line or
        header, a byte outside ASCII in the target, a head over h11's bound, a broken
        chunk): an RFC 9457 problem, as every other refusal is, instead of uvicorn's plain
        text; then the connection is closed, as uvicorn closes it. A request whose body
        turns out malformed after its answer began (the app answered before reading it
        all) has its connection closed only; one whose app still runs is told the client
        left, so that what it sends is dropped (uvicorn would send its answer after the
        400, and h11 refuse it)."""
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            detail = "the request is not HTTP/1.1 as RFC 9112 writes it; the connection is closed"
            response = problem_answer(
                plain_problem(400, MALFORMED_REQUEST_TITLE, detail, MALFORMED_REQUEST),
                {"Connection": "close"},
            )
            head = h11.Response(
                status_code=400, headers=response.raw_headers, reason=b"Bad Request"
            )
            for event in (head, h11.Data(data=bytes(response.body)), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event) or b"")
        self._close(msg)

    def _time_out(self, detail: str) -> None:
        """Answer a 408 problem (the request has had no answer) and close."""
        response = problem_answer(
            plain_problem(408, REQUEST_TIMEOUT_TITLE, detail, REQUEST_TIMEOUT),
            {"Connection": "close"},
        )
        lines = [b"HTTP/1.1 408 %s\r\n" % REQUEST_TIMEOUT_TITLE.encode()]
        for name, value in (*self.server_state.default_headers, *response.raw_headers):
            lines.append(b"%s: %s\r\n" % (name, value))
        lines.append(b"\r\n")
        # Written past h11, whose state machine has no answer for a head it never got.
        self.transport.write(b"".join(lines) + response.body)
        self._close(detail)

    def _close(self, why: str, *, reset: bool = False) -> None:
        """Close the connection, after what is waiting to be written; or ``reset`` it, for
        a client that is not reading: nothing more is sent, and what is waiting is dropped,
        by the kernel too (nginx's ``reset_timedout_connection``), not held while it tries
        to deliver it before its FIN. The send clock is left running on a close: it resets
        a connection whose close waits on a client that does not read."""
        self._cancel_read_timers()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        self.logger.info("%s - connection %s: %s", client, "reset" if reset else "closed", why)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # At once, not when the loop reports the connection lost: the app's receive
            # answers a disconnect, and nothing the app sends follows the 408. (An app
            # waiting for the client to read is let go when the connection is lost: uvicorn
            # then ends the wait, and its send returns without writing.)
            cycle.disconnected = True
            cycle.message_event.set()
        if not reset:
            self.transport.close()
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # then just closed, the kernel's to drop
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NONE)
        self.transport.abort()


def protocol_for(timeouts: ReadTimeouts) -> type[ReadTimeoutH11Protocol]:
    """The protocol class with these timeouts: :class:`ReadTimeoutH11Protocol` itself when
    they are its own, else a subclass for this process only (not importable by name, so
    not for uvicorn's worker processes)."""
    if timeouts == ReadTimeoutH11Protocol.timeouts:
        return ReadTimeoutH11Protocol

    class Configured(ReadTimeoutH11Protocol):
        pass

    Configured.timeouts = timeouts
    return Configured
