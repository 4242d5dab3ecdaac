"""Reading images in worker processes within a time and a memory bound
(verifier.scan_pool): the same answers as verifier.scan.read_qr, a hostile image stopped at
the bound, an image needing too much memory refused by a worker that stays within it, a
busy pool refusing instead of queueing, and dead workers replaced."""

from __future__ import annotations

import functools
import io
import threading
import time
from collections.abc import Iterator

import pytest
from PIL import Image, ImageDraw

from eseal.render import qr_png
from verifier import scan_pool
from verifier.scan import (
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    ImageTooLarge,
    ImageUnreadable,
    NoQrCode,
    SeveralQrCodes,
)
from verifier.scan_pool import SCAN_MEMORY, ImageTooComplex, ScannerBusy, ScanPool

TEXT = "EL1:" + "6BFOXN*TS0BI$ZD.P9KLT+0LQ" * 8


@functools.cache
def finder_tiles_png(side: int = 1999) -> bytes:
    """A ``side``² PNG (about 12 KB) tiled with the smallest QR finder patterns (7 pixels,
    one of quiet zone): zxing's QR detector weighs tens of thousands of candidate patterns
    against each other and takes seconds on it (9 s for 1999², measured)."""
    tile = Image.new("L", (9, 9), 255)
    draw = ImageDraw.Draw(tile)
    draw.rectangle((1, 1, 7, 7), fill=0)
    draw.rectangle((2, 2, 6, 6), fill=255)
    draw.rectangle((3, 3, 5, 5), fill=0)
    image = Image.new("L", (side, side))
    for y in range(0, side, 9):
        for x in range(0, side, 9):
            image.paste(tile, (x, y))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@functools.cache
def cmyk_jpeg() -> bytes:
    """A 40-megapixel CMYK JPEG (1.9 MB): within every bound of verifier.scan, but read
    through a CMYK, an RGB and a gray copy (libjpeg gives no luma alone for CMYK) it needs
    about 360 MiB, more than a worker may hold."""
    out = io.BytesIO()
    Image.new("CMYK", (8000, 5000)).save(out, "JPEG")
    return out.getvalue()


@functools.cache
def huge_webp() -> bytes:
    """The WebP of the report: 6300×6300 lossless, a few dozen bytes; Pillow's decoder
    took 635 MiB for it."""
    out = io.BytesIO()
    Image.new("RGB", (6300, 6300), 150).save(out, "WEBP", lossless=True, method=0)
    return out.getvalue()


def phone_photo() -> bytes:
    """A 12-megapixel JPEG (4032×3024) with the QR in the middle, as a phone takes it."""
    image = Image.new("L", (4032, 3024), 150)
    qr = Image.open(io.BytesIO(qr_png(TEXT, scale=10)))
    image.paste(qr, ((image.width - qr.width) // 2, (image.height - qr.height) // 2))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def _status(pid: int, key: str) -> int:
    """A line of /proc/PID/status in bytes (VmHWM: the process's peak resident memory)."""
    with open(f"/proc/{pid}/status") as status:
        (kib,) = [line.split()[1] for line in status if line.startswith(f"{key}:")]
    return int(kib) * 1024


def _data_limit(pid: int) -> str:
    with open(f"/proc/{pid}/limits") as limits:
        (line,) = [line for line in limits if line.startswith("Max data size")]
    return line.split()[3]


@pytest.fixture
def pool() -> Iterator[ScanPool]:
    pool = ScanPool(workers=1, seconds=1.0)
    yield pool
    pool.close()


def _processes(pool: ScanPool) -> list[int]:
    """The pids of the pool's idle workers (the test's own look inside)."""
    return [w.process.pid for w in list(pool._free.queue) if w is not None]


def test_reads_what_read_qr_reads_and_refuses_alike(pool: ScanPool) -> None:
    assert pool.read_qr(qr_png(TEXT)) == TEXT
    with pytest.raises(ImageUnreadable, match="JPEG, PNG"):
        pool.read_qr(b"not an image")
    blank = io.BytesIO()
    Image.new("L", (300, 300), 255).save(blank, "PNG")
    with pytest.raises(NoQrCode):
        pool.read_qr(blank.getvalue())
    with pytest.raises(ImageTooLarge):
        pool.read_qr(b"\0" * (MAX_IMAGE_BYTES + 1))
    # Two documents' codes: refused by name across the pipe (an error the pool does not
    # know by name would come back as ImageUnreadable, 'image-unreadable').
    two = Image.new("L", (600, 300), 255)
    for i, text in enumerate((TEXT, TEXT.replace("EL1:", "ES1:"))):
        two.paste(Image.open(io.BytesIO(qr_png(text))), (300 * i, 0))
    sheet = io.BytesIO()
    two.save(sheet, "PNG")
    with pytest.raises(SeveralQrCodes, match="2 documents"):
        pool.read_qr(sheet.getvalue())
    assert pool.read_qr(qr_png(TEXT)) == TEXT  # one worker served them all
    assert len(_processes(pool)) == 1


def test_a_hostile_image_is_stopped_at_the_bound_and_the_next_one_reads(pool: ScanPool) -> None:
    data = finder_tiles_png()
    assert len(data) < 20_000
    pool.read_qr(qr_png(TEXT))  # a running worker
    (first,) = _processes(pool)
    started = time.monotonic()
    with pytest.raises(ImageTooComplex, match="longer than 1 s"):
        pool.read_qr(data)
    assert time.monotonic() - started < 3.0  # not the seconds zxing would take
    assert _processes(pool) == []  # the worker was killed, not left running
    assert pool.read_qr(qr_png(TEXT)) == TEXT  # by a new one
    assert _processes(pool) != [first]


def test_a_busy_pool_refuses_instead_of_queueing() -> None:
    pool = ScanPool(workers=1, seconds=3.0, wait=0.2)
    try:
        pool.read_qr(qr_png(TEXT))  # started, so the hostile read below begins at once
        errors: list[BaseException] = []

        def hostile() -> None:
            try:
                pool.read_qr(finder_tiles_png())
            except ImageTooComplex as e:
                errors.append(e)

        thread = threading.Thread(target=hostile)
        thread.start()
        time.sleep(0.3)  # the one worker is now reading the hostile image
        with pytest.raises(ScannerBusy, match="busy"):
            pool.read_qr(qr_png(TEXT))
        thread.join()
        assert len(errors) == 1
        assert pool.read_qr(qr_png(TEXT)) == TEXT
    finally:
        pool.close()


def test_a_worker_that_died_idle_is_replaced(pool: ScanPool) -> None:
    pool.read_qr(qr_png(TEXT))
    (worker,) = [w for w in pool._free.queue if w is not None]
    worker.process.kill()
    worker.process.wait()
    assert pool.read_qr(qr_png(TEXT)) == TEXT


def test_a_worker_that_dies_reading_refuses_that_image_only(pool: ScanPool) -> None:
    pool.read_qr(qr_png(TEXT))
    (worker,) = [w for w in pool._free.queue if w is not None]
    slow = finder_tiles_png()  # made first: under load, making it took most of the 0.3 s
    threading.Timer(0.3, worker.process.kill).start()  # mid-read (seconds), as a crash would
    with pytest.raises(ImageUnreadable, match="reader stopped"):
        pool.read_qr(slow)
    assert pool.read_qr(qr_png(TEXT)) == TEXT


def test_the_default_pool_starts_on_first_use_and_closes() -> None:
    scan_pool.close_default_pool()
    assert scan_pool.scan_image(qr_png(TEXT)) == TEXT
    pool = scan_pool._DEFAULT.get()
    pids = _processes(pool)
    assert len(pids) == 1
    scan_pool.close_default_pool()
    assert _processes(pool) == []
    assert scan_pool._DEFAULT.get() is not pool  # a new pool for the next image
    scan_pool.close_default_pool()


def test_an_image_needing_too_much_memory_is_too_large_and_the_worker_stays_within() -> None:
    """The worker's memory is capped at SCAN_MEMORY: an image that needs more is refused as
    too large (HTTP 413), the worker's peak stays under the cap (without it, 360 MiB for
    the CMYK JPEG, 635 MiB for the WebP), and the same worker reads a phone photo next."""
    assert MAX_PIXELS >= 8000 * 5000
    pool = ScanPool(workers=1)
    try:
        assert pool.read_qr(qr_png(TEXT)) == TEXT
        (pid,) = _processes(pool)
        assert _data_limit(pid) == str(SCAN_MEMORY)
        with pytest.raises(ImageTooLarge, match="needs more memory to read than the verifier"):
            pool.read_qr(cmyk_jpeg())
        with pytest.raises(ImageTooLarge, match="WebP image must be at most 13 megapixels"):
            pool.read_qr(huge_webp())
        assert pool.read_qr(phone_photo()) == TEXT
        assert _processes(pool) == [pid]  # the same worker, still serving
        assert _status(pid, "VmHWM") < SCAN_MEMORY
    finally:
        pool.close()


def test_a_pool_of_less_memory_refuses_what_fits_the_default() -> None:
    screen = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 200, 200)).save(screen, "PNG")
    pool = ScanPool(workers=1, memory=48 * 2**20)
    try:
        with pytest.raises(ImageTooLarge, match="more memory"):
            pool.read_qr(screen.getvalue())  # 12 megapixels as RGB, then gray: 70 MiB
        assert pool.read_qr(qr_png(TEXT)) == TEXT
        (pid,) = _processes(pool)
        assert _data_limit(pid) == str(48 * 2**20)
    finally:
        pool.close()


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        ScanPool(workers=0)
    with pytest.raises(ValueError, match="positive"):
        ScanPool(seconds=0)
    with pytest.raises(ValueError, match="at least 32 MiB"):
        ScanPool(memory=2**20)
