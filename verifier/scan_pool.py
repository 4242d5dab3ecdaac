"""Reading the QR code of an image from outside within a time bound: :func:`scan_image`.

The byte and pixel bounds of :mod:`verifier.scan` bound the memory an image costs, not
zxing-cpp's time: a 12 KB PNG of 2,000 × 2,000 pixels tiled with tiny finder patterns
keeps its QR detector busy for seconds (about 9 s on the benchmark machine), and a few
such uploads would hold every core of a public verifier. A call into the C++ library
cannot be interrupted, so images are read in worker processes, which are killed when an
image takes longer than :data:`SCAN_SECONDS`; the caller gets :class:`ImageTooComplex`.

A pool keeps up to :data:`WORKERS` processes alive between images (started on first use,
which costs a few hundred milliseconds once), so an image costs its decode plus a pipe
round trip. At most that many images are read at once; a caller that finds every worker
busy for :data:`SCAN_SECONDS` gets :class:`ScannerBusy` (HTTP 503) rather than queueing
without end. A worker that dies (a crash in a decoder, the kernel's OOM killer) is
replaced; the image it was reading is refused as unreadable.

The time bound comes too late for memory: a small file can declare millions of pixels,
and its decoder takes the memory for them at once. :func:`verifier.scan.read_qr` refuses
from the header an image whose decoding would take more than
:data:`verifier.scan.MAX_DECODED_BYTES` (by its size and mode), in any process; and each
worker's data segment is capped at :data:`SCAN_MEMORY` (``RLIMIT_DATA``, set by the worker
itself when it starts), a second line for what that does not count (a decoder's and
zxing's own buffers), so an image that needs more fails an allocation in the worker, which
answers :class:`ImageTooLarge` (HTTP 413) and goes on serving; the server's process decodes
nothing itself.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import select
import subprocess
import sys
import threading
from typing import BinaryIO, Final

from keys.errors import ExternalFailure, InvalidInput
from verifier.scan import (
    NO_MEMORY_MESSAGE,
    ImageTooLarge,
    ImageUnreadable,
    NoQrCode,
    SeveralQrCodes,
    check_size,
    read_qr,
)

#: The longest an image may take to read (wall clock, in the worker).
SCAN_SECONDS: Final = 5.0
#: Worker processes of the default pool: one a core, at most four.
WORKERS: Final = max(1, min(4, os.cpu_count() or 1))
#: The most memory a worker may hold (its RLIMIT_DATA: the heap and private mappings,
#: where every pixel buffer lives; the worker starts at about 10 MiB). The costliest images
#: within the pixel bounds, measured with Pillow 13 (the least RLIMIT_DATA each reads
#: under): a 40-megapixel PNG or TIFF in RGB(A) 205 MiB (Pillow keeps RGB as 4 bytes a
#: pixel, then the gray copy), a WebP at its own bound, 13 megapixels, 216 MiB (see
#: MAX_WEBP_PIXELS), a 40-megapixel GIF or palette PNG 165 MiB, JPEG 134 MiB (luma only,
#: then zxing's copies), a 12-megapixel phone JPEG 50 MiB. 256 MiB reads them all with
#: 40 MiB to spare (a worker that has read images keeps some 50 MiB of freed heap, which
#: its next image reuses: measured over rounds of all of them, none failed), and
#: :data:`WORKERS` workers hold at most 1 GiB however hostile the images. Refused for it
#: (ImageTooLarge): what needs over about 6 bytes a pixel at 40 megapixels, such as a CMYK
#: JPEG or TIFF (358 MiB: CMYK, then RGB, then gray).
SCAN_MEMORY: Final = 256 * 2**20
#: Below this a worker could not even import its libraries.
MIN_SCAN_MEMORY: Final = 32 * 2**20

#: The errors a worker sends back by name (everything :func:`verifier.scan.read_qr` raises).
_ERRORS: Final[dict[str, type[InvalidInput]]] = {
    cls.__name__: cls for cls in (ImageTooLarge, ImageUnreadable, NoQrCode, SeveralQrCodes)
}


class ImageTooComplex(InvalidInput):
    """Reading the image took longer than the verifier allows."""

    code = "image-too-complex"
    http_status = 422


class ScannerBusy(ExternalFailure):
    """Every worker stayed busy with other images for as long as a caller waits."""

    code = "scanner-busy"


def _serve(source: BinaryIO, sink: BinaryIO) -> None:
    """A worker: read images from ``source`` (each a 4-byte big-endian length, then the
    bytes) and answer each on ``sink`` with one JSON line, ``{"text": …}`` or ``{"error":
    class name, "message": …}``, until ``source`` ends."""
    while len(head := source.read(4)) == 4:
        data = source.read(int.from_bytes(head, "big"))
        try:
            answer = {"text": read_qr(data)}
        except InvalidInput as e:
            answer = {"error": type(e).__name__, "message": e.message}
        except MemoryError:  # past SCAN_MEMORY outside the decoders (read_qr answers there)
            answer = {"error": ImageTooLarge.__name__, "message": NO_MEMORY_MESSAGE}
        sink.write(json.dumps(answer).encode() + b"\n")
        sink.flush()


def limit_memory(limit: int) -> None:
    """Cap this process's data segment at ``limit`` bytes (or its hard limit, if lower):
    past it an allocation fails (MemoryError) instead of growing the process."""
    hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


class _Worker:
    """One worker process (``python -m verifier.scan_pool MEMORY``) and the pipes to it."""

    def __init__(self, memory: int) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter and an int, no shell
            [sys.executable, "-m", "verifier.scan_pool", str(memory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        if self.process.stdin is None or self.process.stdout is None:  # pragma: no cover
            raise OSError("the image reader has no pipes")
        self.stdin, self.stdout = self.process.stdin, self.process.stdout

    def read(self, data: bytes, seconds: float) -> dict[str, str]:
        """The worker's answer for ``data``; TimeoutError past ``seconds``, OSError or
        ValueError if the worker died or answered nonsense."""
        self.stdin.write(len(data).to_bytes(4, "big") + data)
        self.stdin.flush()
        ready, _, _ = select.select([self.stdout], [], [], seconds)
        if not ready:
            raise TimeoutError
        line = self.stdout.readline()
        if not line:
            raise EOFError("the image reader stopped")
        # json.loads, not keys.strictjson: the line is _serve's json.dumps of text alone
        # (ASCII, no number, each key once), so strictness would refuse nothing; a line
        # that is no JSON (a decoder writing to stdout) is a ValueError: stopped as if dead.
        answer = json.loads(line)
        if type(answer) is not dict:
            raise ValueError("the image reader answered nonsense")
        return answer

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.stdin.close()
        self.stdout.close()


class ScanPool:
    """Worker processes reading QR codes from images, each image within ``seconds`` and
    each worker within ``memory`` bytes."""

    def __init__(
        self,
        workers: int = WORKERS,
        seconds: float = SCAN_SECONDS,
        wait: float | None = None,
        memory: int = SCAN_MEMORY,
    ) -> None:
        if workers < 1 or seconds <= 0:
            raise ValueError("a scan pool needs at least one worker and a positive time bound")
        if memory < MIN_SCAN_MEMORY:
            raise ValueError(
                f"a scan worker needs at least {MIN_SCAN_MEMORY // 2**20} MiB to start"
            )
        self.seconds = seconds
        self.memory = memory
        #: How long a caller waits for a free worker (as long as one image may take).
        self.wait = seconds if wait is None else wait
        # Free slots: a started worker, or None for one not (or no longer) running.
        self._free: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(workers):
            self._free.put(None)
        self._lock = threading.Lock()
        self._closed = False

    def read_qr(self, data: bytes) -> str:
        """The QR text :func:`verifier.scan.read_qr` reads in the image ``data`` (the
        document's code, where it shows others too), read in a worker; its errors, or
        :class:`ImageTooComplex` past the time bound."""
        check_size(data)  # refused here, not sent down the pipe
        try:
            slot = self._free.get(timeout=self.wait)
        except queue.Empty:
            raise ScannerBusy(
                "every image reader is busy with other images: try again in a few seconds"
            ) from None
        worker: _Worker | None = None
        try:
            worker = self._live(slot)
            answer = worker.read(data, self.seconds)
        except (TimeoutError, EOFError, OSError, ValueError) as e:
            # Too slow (killed), or it died reading (a decoder crashed, the OOM killer).
            if worker is not None:
                worker.stop()
            worker = None
            if isinstance(e, TimeoutError):
                raise ImageTooComplex(
                    f"reading the image took longer than {self.seconds:g} s: send a photo "
                    "or screenshot of the QR code alone"
                ) from None
            raise ImageUnreadable("the image could not be decoded (its reader stopped)") from e
        finally:
            self._give_back(worker)
        if "text" in answer:
            return str(answer["text"])
        error = _ERRORS.get(str(answer.get("error")), ImageUnreadable)
        raise error(str(answer.get("message", "the image could not be read")))

    def _live(self, worker: _Worker | None) -> _Worker:
        """``worker`` if it is still running, else a new one."""
        if worker is not None and worker.alive():
            return worker
        if worker is not None:
            worker.stop()
        with self._lock:
            if self._closed:
                raise RuntimeError("the scan pool is closed")
        return _Worker(self.memory)

    def _give_back(self, worker: _Worker | None) -> None:
        with self._lock:
            closed = self._closed
        if closed and worker is not None:
            worker.stop()
            worker = None
        self._free.put(worker)

    def close(self) -> None:
        """Stop the idle workers; a worker still reading stops when it is given back."""
        with self._lock:
            self._closed = True
        while True:
            try:
                worker = self._free.get_nowait()
            except queue.Empty:
                return
            if worker is not None:
                worker.stop()


class _DefaultPool:
    """The process's pool, started on first use."""

    def __init__(self) -> None:
        self._pool: ScanPool | None = None
        self._lock = threading.Lock()

    def get(self) -> ScanPool:
        with self._lock:
            if self._pool is None:
                self._pool = ScanPool()
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


_DEFAULT: Final = _DefaultPool()


def scan_image(data: bytes) -> str:
    """The QR text :func:`verifier.scan.read_qr` reads in the image ``data``, read by the
    process's pool within :data:`SCAN_SECONDS` (see the module's docstring)."""
    return _DEFAULT.get().read_qr(data)


def close_default_pool() -> None:
    """Stop the process's pool (a server shutting down); the next image starts a new one."""
    _DEFAULT.close()


if __name__ == "__main__":  # a worker of a pool: python -m verifier.scan_pool MEMORY
    limit_memory(int(sys.argv[1]) if len(sys.argv) > 1 else SCAN_MEMORY)
    _serve(sys.stdin.buffer, sys.stdout.buffer)
