"""Image to QR text (``verifier.scan.read_qr``) on one core, for a phone photo (as taken,
and as the window page uploads it), a phone screenshot and a camera frame of a real
license QR; the goal is ≤ 5 ms per image.

The QR is ``eseal.render.qr_png(text, scale=8)`` of a business license issued here (an
``EL1:`` text of about 650 characters). The images, made before any clock starts:

- **photo**: 4000×3000 RGB JPEG (quality 85): a grey-to-light background, a sheet of
  paper with the QR (and a few lines) printed on it pasted in the middle, rotated by
  ``ROTATE`` degrees, Gaussian-blurred (radius ``BLUR``), Gaussian noise (sigma ``NOISE``)
  added, a warm tint;
- **screenshot**: 1080×2400 RGB PNG: an app-like screen (a coloured title bar, grey text
  lines) with the QR at scale 8, unrotated;
- **frame**: what the window page (``eseal/web/window.js``) posts while the camera looks at
  a license: a 1920×1080 camera scene (a sheet with the QR held up, the QR
  ``FRAME_QR_SHARE`` of the height, rotated ``FRAME_ROTATE`` degrees, blurred
  ``FRAME_BLUR``, noise ``NOISE``) scaled down bilinearly to 1280×720 as the page's canvas
  does, then a JPEG at quality 85 (the page's 0.85). The same scene without the QR is also
  timed: most frames the page sends while the clerk lines the license up have none, and
  ``read_qr`` then runs its full second pass before answering ``NoQrCode``;
- **photo via page**, **screenshot via page**: the photo and the screenshot as the window
  page uploads them (``shrink`` in ``window.js``, for images over 2 MP): resized to
  ``UPLOAD_SIDE`` on the long side (bilinear here, the canvas's smoothing there) and
  re-encoded as JPEG at ``UPLOAD_QUALITY``.

Timed per image, interleaved round by round (order rotated): ``read_qr`` in this process,
and ``verifier.scan_pool.scan_image``, which the CLI and the API call: the same read in a
worker process, within a time bound (its pool is started before the clock); beside
baselines in the same process: PIL's decode alone (``Image.open(…).load()``, full size, as
the file is; for a JPEG also libjpeg's cheapest decode, luma at 1/8 size, the floor of any
JPEG decode here; and the grayscale image ``read_qr``'s fast pass makes,
``verifier.scan.decode``: for a JPEG a luma-only decode, DCT-scaled with ``draft`` where
the image is large, for the PNG a full decode, ``convert("L")`` and ``reduce``), and
zxing-cpp's ``read_barcodes`` alone on an already-decoded grayscale image (QR only) — the
full image with zxing's default options, and the reduced image with ``read_qr``'s
fast-pass options (no rotation, downscale or inversion tries) — and what a Python user
would otherwise write (``Image.open(…).convert("L")`` then ``zxingcpp.read_barcodes`` with
its defaults, all formats; about a second on the photo, so it runs ``SLOW_PER_ROUND``
calls a round).
Every read is checked against the license's text.

    python -m bench.scan [--quick] [--repeats 5] [--per-round 10] [--cpu N]
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import zxingcpp
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from bench._common import (
    base_parser,
    median,
    out_dir,
    percentile,
    pin_one_core,
    table,
    write_json,
)
from eseal import render
from verifier import scan, scan_pool

GOAL_MS = 5.0
PHOTO_SIZE = (4000, 3000)
SCREEN_SIZE = (1080, 2400)
CAMERA_SIZE = (1920, 1080)  # what the window page asks the camera for
FRAME_SIZE = (1280, 720)  # the page's canvas: FRAME_SIDE = 1280 in eseal/web/window.js
UPLOAD_SIDE = 1600  # the page shrinks an uploaded photo to this: UPLOAD_SIDE in window.js
UPLOAD_QUALITY = 85  # and re-encodes it at this JPEG quality (0.85 in window.js)
FRAME_QR_SHARE = 0.5  # the QR image (with its quiet zone), of the frame's height
FRAME_ROTATE = 3.0  # degrees
FRAME_BLUR = 1.5  # Gaussian radius, camera pixels
JPEG_QUALITY = 85
ROTATE = 4.0  # degrees
BLUR = 1.0  # Gaussian radius, pixels
NOISE = 6.0  # Gaussian sigma, grey levels
SLOW_PER_ROUND = 2
NAIVE = "naive: PIL convert('L') + zxing defaults"
NO_QR = "eseal read_qr, same scene without a QR"
#: What the CLI and the API call: read_qr in a worker process, within a time bound.
POOLED = "eseal scan_image(bytes), in a worker process"
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def license_text(scratch: Path) -> str:
    """The QR text of one business license issued on a fresh node."""
    from bench.issue import AGENCY, holder
    from eseal.licenses import issue_many
    from tests.eseal.conftest import MARKET, NOW, business_request, make_region

    region = make_region(scratch / "node")
    try:
        req = business_request(holder(0))
        return issue_many(region.node, AGENCY, MARKET, [req], now=NOW, with_proofs=False)[0].qr_text
    finally:
        region.node.close()


def qr_image(text: str) -> Image.Image:
    return Image.open(io.BytesIO(render.qr_png(text, scale=8))).convert("L")


def photo(qr: Image.Image) -> bytes:
    """A 4000×3000 JPEG: the QR printed on paper, photographed slightly askew."""
    width, height = PHOTO_SIZE
    background = Image.linear_gradient("L").resize((width, height)).point(lambda v: 120 + v // 3)
    margin = qr.width // 3
    paper = Image.new("L", (qr.width + 2 * margin, qr.height + 3 * margin), 236)
    paper.paste(qr, (margin, margin))
    draw = ImageDraw.Draw(paper)
    for n in range(4):  # a few printed lines under the QR
        y = qr.height + margin * 3 // 2 + n * margin // 3
        draw.rectangle((margin, y, margin + qr.width * (4 - n) // 4, y + margin // 8), fill=70)
    mask = Image.new("L", paper.size, 255).rotate(
        ROTATE, expand=True, resample=Image.Resampling.BICUBIC
    )
    paper = paper.rotate(ROTATE, expand=True, resample=Image.Resampling.BICUBIC, fillcolor=0)
    background.paste(paper, ((width - paper.width) // 2, (height - paper.height) // 2), mask)
    blurred = background.filter(ImageFilter.GaussianBlur(BLUR))
    noisy = ImageChops.add(blurred, Image.effect_noise((width, height), NOISE), 1.0, -128)
    rgb = Image.merge(
        "RGB",
        (noisy, noisy.point(lambda v: v * 97 // 100), noisy.point(lambda v: v * 88 // 100)),
    )
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def frame(qr: Image.Image | None) -> bytes:
    """A 1280×720 JPEG as the window page posts it: a camera scene scaled down, the license
    (``qr``; None: a blank sheet) held up in it."""
    width, height = CAMERA_SIZE
    background = (
        Image.linear_gradient("L").rotate(90).resize((width, height)).point(lambda v: 90 + v // 3)
    )
    side = int(height * FRAME_QR_SHARE)
    margin = side // 6
    paper = Image.new("L", (side + 2 * margin, side + 3 * margin), 232)
    if qr is not None:
        paper.paste(qr.resize((side, side), Image.Resampling.BILINEAR), (margin, margin))
    draw = ImageDraw.Draw(paper)
    for n in range(3):  # a few printed lines under the QR
        y = side + margin * 3 // 2 + n * margin // 3
        draw.rectangle((margin, y, margin + side * (4 - n) // 4, y + margin // 8), fill=70)
    mask = Image.new("L", paper.size, 255).rotate(
        FRAME_ROTATE, expand=True, resample=Image.Resampling.BICUBIC
    )
    paper = paper.rotate(FRAME_ROTATE, expand=True, resample=Image.Resampling.BICUBIC)
    at = ((width - paper.width) // 2 + width // 12, (height - paper.height) // 2 + height // 20)
    background.paste(paper, at, mask)  # held a little right of centre, its foot out of view
    blurred = background.filter(ImageFilter.GaussianBlur(FRAME_BLUR))
    noisy = ImageChops.add(blurred, Image.effect_noise((width, height), NOISE), 1.0, -128)
    rgb = Image.merge(  # a cool white balance
        "RGB",
        (noisy.point(lambda v: v * 92 // 100), noisy.point(lambda v: v * 97 // 100), noisy),
    ).resize(FRAME_SIZE, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def shrunk_in_page(photo_jpeg: bytes) -> bytes:
    """The photo as the window page uploads it: drawn at UPLOAD_SIDE on a canvas (smooth
    resampling) and re-encoded as JPEG."""
    with Image.open(io.BytesIO(photo_jpeg)) as img:
        scale = UPLOAD_SIDE / max(img.size)
        small = img.resize(
            (round(img.width * scale), round(img.height * scale)), Image.Resampling.BILINEAR
        )
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=UPLOAD_QUALITY)
    return out.getvalue()


def screenshot(qr: Image.Image) -> bytes:
    """A 1080×2400 PNG: an app screen showing the QR."""
    width, height = SCREEN_SIZE
    screen = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, width, 220), fill=(196, 30, 58))
    for y in range(300, 700, 60):
        draw.rectangle((80, y, 80 + (y * 7) % 600 + 300, y + 28), fill=(200, 200, 200))
    screen.paste(qr.convert("RGB"), ((width - qr.width) // 2, 760))
    for y in range(760 + qr.height + 80, height - 120, 60):
        draw.rectangle((80, y, 80 + (y * 11) % 500 + 300, y + 28), fill=(210, 210, 210))
    out = io.BytesIO()
    screen.save(out, format="PNG")
    return out.getvalue()


# -- what is timed ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    name: str  # "photo", "screenshot", "frame", or one of them "via page"
    data: bytes
    gray: Image.Image  # the whole image, decoded, grayscale
    reduced: Image.Image  # what read_qr's fast pass scans (grayscale)
    size: tuple[int, int]
    jpeg: bool
    empty: bytes | None = None  # the same scene without a QR (the frame only)


def subject(name: str, data: bytes, empty: bytes | None = None) -> Subject:
    with Image.open(io.BytesIO(data)) as img:
        size, jpeg = img.size, img.format == "JPEG"
        gray = img.convert("L")
    reduced = scan.decode(data, fast=True)[0]
    return Subject(name, data, gray, reduced, size, jpeg, empty)


def _text(found: Sequence[Any]) -> str:
    return str(found[0].text) if found else ""


def figures(s: Subject) -> dict[str, Callable[[], str | None]]:
    """Label → one timed call (its read text, or None where nothing is read)."""
    data = s.data

    def pil_full() -> None:
        with Image.open(io.BytesIO(data)) as img:
            img.load()

    def pil_eighth() -> None:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("L", (img.width // 8, img.height // 8))
            img.load()

    def as_read_qr() -> None:
        scan.decode(data, fast=True)

    def no_qr() -> None:
        assert s.empty is not None
        try:
            scan.read_qr(s.empty)
        except scan.NoQrCode:
            return
        raise AssertionError("read a QR in the scene without one")

    def naive() -> str:
        with Image.open(io.BytesIO(data)) as img:
            return _text(zxingcpp.read_barcodes(img.convert("L")))

    out: dict[str, Callable[[], str | None]] = {
        "eseal read_qr(bytes)": lambda: scan.read_qr(data),
        POOLED: lambda: scan_pool.scan_image(data),
    }
    if s.empty is not None:
        out[NO_QR] = no_qr
    out["PIL decode alone, full size"] = pil_full
    if s.jpeg:
        out["PIL luma decode at 1/8 (floor)"] = pil_eighth
    out |= {
        "decode as read_qr's fast pass does": as_read_qr,
        "zxing alone, full grayscale, default options": lambda: _text(
            zxingcpp.read_barcodes(s.gray, formats=QR_ONLY)
        ),
        "zxing alone, read_qr's image and fast options": lambda: _text(
            zxingcpp.read_barcodes(
                s.reduced,
                formats=QR_ONLY,
                try_rotate=False,
                try_downscale=False,
                try_invert=False,
            )
        ),
        NAIVE: naive,
    }
    return out


def measure(
    subjects: Sequence[Subject], text: str, repeats: int, per_round: int
) -> dict[tuple[str, str], list[float]]:
    """ms per call, every figure of every image; rounds interleave all of them."""
    calls = [(s.name, label, fn) for s in subjects for label, fn in figures(s).items()]
    times: dict[tuple[str, str], list[float]] = {(n, label): [] for n, label, _ in calls}
    for r in range(repeats):
        for name, label, fn in calls[r % len(calls) :] + calls[: r % len(calls)]:
            for _ in range(min(per_round, SLOW_PER_ROUND) if label == NAIVE else per_round):
                started = time.perf_counter()
                read = fn()
                times[name, label].append((time.perf_counter() - started) * 1e3)
                assert read is None or read == text, f"{name} {label}: read {read[:40]!r}"
        print(f"  round {r + 1}/{repeats} done", flush=True)
    return times


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "scan benchmark")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 5; 2 quick)")
    parser.add_argument(
        "--per-round", type=int, default=None, help="calls per figure a round (10; 3 quick)"
    )
    parser.add_argument("--save", type=Path, default=None, help="also write the images here")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: last)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    per_round = args.per_round or (3 if args.quick else 10)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    cpu = pin_one_core()
    scratch = Path(tempfile.mkdtemp(prefix="eseal-bench-scan-"))
    try:
        text = license_text(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    qr = qr_image(text)
    images = {"photo": photo(qr), "screenshot": screenshot(qr), "frame": frame(qr)}
    images["photo via page"] = shrunk_in_page(images["photo"])
    images["screenshot via page"] = shrunk_in_page(images["screenshot"])
    empty_frame = frame(None)
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / "photo.jpg").write_bytes(images["photo"])
        (args.save / "screenshot.png").write_bytes(images["screenshot"])
        (args.save / "frame.jpg").write_bytes(images["frame"])
        (args.save / "frame-no-qr.jpg").write_bytes(empty_frame)
    subjects = [subject(n, d, empty_frame if n == "frame" else None) for n, d in images.items()]
    print(
        f"scan: pinned to CPU {cpu}; QR text {len(text)} characters, symbol {qr.width} px "
        f"(scale 8); photo {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]} JPEG q{JPEG_QUALITY} "
        f"{len(images['photo']):,} bytes, rotated {ROTATE:g}°, blur {BLUR:g}, noise σ {NOISE:g}; "
        f"screenshot {SCREEN_SIZE[0]}×{SCREEN_SIZE[1]} PNG {len(images['screenshot']):,} bytes; "
        f"frame {FRAME_SIZE[0]}×{FRAME_SIZE[1]} JPEG q{JPEG_QUALITY} "
        f"{len(images['frame']):,} bytes (QR {FRAME_QR_SHARE:g} of the height); "
        f"{repeats} rounds × {per_round} calls per figure"
    )
    scan_pool.scan_image(subjects[0].data)  # start the worker processes outside the clock
    times = measure(subjects, text, repeats, per_round)
    results: list[dict[str, Any]] = []
    rows: list[list[object]] = []
    for (name, label), ms in times.items():
        res = {
            "image": name,
            "figure": label,
            "calls": len(ms),
            "median_ms": median(ms),
            "p90_ms": percentile(ms, 90),
            "best_ms": min(ms),
        }
        results.append(res)
        rows.append([name, label, len(ms), median(ms), percentile(ms, 90), min(ms)])
    print()
    print(table(["image", "figure", "calls", "median ms", "p90 ms", "best ms"], rows))
    eseal = {r["image"]: r["median_ms"] for r in results if r["figure"] == "eseal read_qr(bytes)"}
    met = all(v <= GOAL_MS for v in eseal.values())
    print(
        f"\ngoal: read_qr ≤ {GOAL_MS:g} ms per image: {'met' if met else 'NOT met'} "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in eseal.items())
    )
    doc = {
        "method": (
            f"{repeats} rounds × {per_round} calls per figure, all figures of all images "
            "interleaved (order rotated each round); median, p90 (nearest rank) and best of "
            "the calls; every read checked against the license text; process pinned to one CPU"
        ),
        "pinned_cpu": cpu,
        "images": {
            "qr_text_chars": len(text),
            "qr_symbol_px": qr.width,
            "photo": {
                "size": PHOTO_SIZE,
                "bytes": len(images["photo"]),
                "jpeg_quality": JPEG_QUALITY,
                "rotate_degrees": ROTATE,
                "blur_radius": BLUR,
                "noise_sigma": NOISE,
            },
            "screenshot": {"size": SCREEN_SIZE, "bytes": len(images["screenshot"])},
            "photo via page": {
                "long_side": UPLOAD_SIDE,
                "jpeg_quality": UPLOAD_QUALITY,
                "bytes": len(images["photo via page"]),
            },
            "screenshot via page": {
                "long_side": UPLOAD_SIDE,
                "jpeg_quality": UPLOAD_QUALITY,
                "bytes": len(images["screenshot via page"]),
            },
            "frame": {
                "camera_size": CAMERA_SIZE,
                "size": FRAME_SIZE,
                "bytes": len(images["frame"]),
                "no_qr_bytes": len(empty_frame),
                "jpeg_quality": JPEG_QUALITY,
                "qr_share_of_height": FRAME_QR_SHARE,
                "rotate_degrees": FRAME_ROTATE,
                "blur_radius": FRAME_BLUR,
                "noise_sigma": NOISE,
            },
            "reduced_sizes": {s.name: s.reduced.size for s in subjects},
        },
        "versions": {n: metadata.version(n) for n in ("pillow", "zxing-cpp")},
        "goal": {"ms_per_image": GOAL_MS, "met": met},
        "results": results,
    }
    path = write_json(out_dir(args), "scan", doc)
    print(f"wrote {path}")
    return doc


if __name__ == "__main__":
    main()
