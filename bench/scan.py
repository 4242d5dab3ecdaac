"""Image to QR text (``verifier.scan.read_qr``) on one core, for a phone photo and a phone
screenshot of a real license QR; the goal is ≤ 5 ms per image.

The QR is ``eseal.render.qr_png(text, scale=8)`` of a business license issued here (an
``EL1:`` text of about 650 characters). The images, made before any clock starts:

- **photo**: 4000×3000 RGB JPEG (quality 85): a grey-to-light background, a sheet of
  paper with the QR (and a few lines) printed on it pasted in the middle, rotated by
  ``ROTATE`` degrees, Gaussian-blurred (radius ``BLUR``), Gaussian noise (sigma ``NOISE``)
  added, a warm tint;
- **screenshot**: 1080×2400 RGB PNG: an app-like screen (a coloured title bar, grey text
  lines) with the QR at scale 8, unrotated.

Timed per image, interleaved round by round (order rotated), beside baselines in the same
process: PIL's decode alone (``Image.open(…).load()``, full size; and the reduced
grayscale image ``read_qr`` makes: for the JPEG a reduced DCT decode asked for with
``draft``, for the PNG a full decode, ``convert("L")`` and ``thumbnail``), and zxing-cpp's
``read_barcodes`` alone on an already-decoded grayscale image (QR only) — the full image
with zxing's default options, and the reduced image with ``read_qr``'s fast-pass options
(no rotation, downscale or inversion tries) — and what a Python user would otherwise
write (``Image.open(…).convert("L")`` then ``zxingcpp.read_barcodes`` with its defaults,
all formats; about a second on the photo, so it runs ``SLOW_PER_ROUND`` calls a round).
Every read is checked against the license's text.

    python -m bench.scan [--quick] [--repeats 5] [--per-round 10]
"""

from __future__ import annotations

import io
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
from verifier import scan

GOAL_MS = 5.0
PHOTO_SIZE = (4000, 3000)
SCREEN_SIZE = (1080, 2400)
JPEG_QUALITY = 85
ROTATE = 4.0  # degrees
BLUR = 1.0  # Gaussian radius, pixels
NOISE = 6.0  # Gaussian sigma, grey levels
SLOW_PER_ROUND = 2
NAIVE = "naive: PIL convert('L') + zxing defaults"
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
    name: str  # "photo" or "screenshot"
    data: bytes
    gray: Image.Image  # the whole image, decoded, grayscale
    reduced: Image.Image  # what read_qr's fast pass scans (grayscale)
    size: tuple[int, int]


def subject(name: str, data: bytes) -> Subject:
    with Image.open(io.BytesIO(data)) as img:
        size = img.size
        gray = img.convert("L")
    with Image.open(io.BytesIO(data)) as img:
        reduced = _reduced(img)
    return Subject(name, data, gray, reduced, size)


def _reduced(image: Image.Image) -> Image.Image:
    """The grayscale image read_qr's fast pass scans (its steps, as in verifier.scan)."""
    side = scan.WORK_SIDE
    if max(image.size) > side and image.format == "JPEG":
        factor = max(image.size) / side
        image.draft("L", (int(image.width / factor), int(image.height / factor)))
    small = image.convert("L")
    if max(small.size) > side * 2:
        small.thumbnail((side, side))
    return small


def _text(found: Sequence[Any]) -> str:
    return str(found[0].text) if found else ""


def figures(s: Subject) -> dict[str, Callable[[], str | None]]:
    """Label → one timed call (its read text, or None where nothing is read)."""
    data = s.data

    def pil_full() -> None:
        with Image.open(io.BytesIO(data)) as img:
            img.load()

    def pil_reduced() -> None:
        with Image.open(io.BytesIO(data)) as img:
            _reduced(img).load()

    def naive() -> str:
        with Image.open(io.BytesIO(data)) as img:
            return _text(zxingcpp.read_barcodes(img.convert("L")))

    out: dict[str, Callable[[], str | None]] = {
        "eseal read_qr(bytes)": lambda: scan.read_qr(data),
        "PIL decode alone, full size": pil_full,
    }
    if s.reduced.size != s.gray.size:
        out["PIL decode + reduce as read_qr does"] = pil_reduced
    out |= {
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
    parser.add_argument("--save", type=Path, default=None, help="also write the two images here")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    per_round = args.per_round or (3 if args.quick else 10)
    cpu = pin_one_core()
    scratch = Path(tempfile.mkdtemp(prefix="eseal-bench-scan-"))
    try:
        text = license_text(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    qr = qr_image(text)
    images = {"photo": photo(qr), "screenshot": screenshot(qr)}
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / "photo.jpg").write_bytes(images["photo"])
        (args.save / "screenshot.png").write_bytes(images["screenshot"])
    subjects = [subject(n, d) for n, d in images.items()]
    print(
        f"scan: pinned to CPU {cpu}; QR text {len(text)} characters, symbol {qr.width} px "
        f"(scale 8); photo {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]} JPEG q{JPEG_QUALITY} "
        f"{len(images['photo']):,} bytes, rotated {ROTATE:g}°, blur {BLUR:g}, noise σ {NOISE:g}; "
        f"screenshot {SCREEN_SIZE[0]}×{SCREEN_SIZE[1]} PNG {len(images['screenshot']):,} bytes; "
        f"{repeats} rounds × {per_round} calls per figure"
    )
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
    eseal = {r["image"]: r["median_ms"] for r in results if r["figure"].startswith("eseal")}
    met = all(v <= GOAL_MS for v in eseal.values())
    print(
        f"\ngoal: read_qr ≤ {GOAL_MS:g} ms per image: {'met' if met else 'NOT met'} "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in eseal.items())
    )
    doc = {
        "method": (
            f"{repeats} rounds × {per_round} calls per figure, all figures of both images "
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
