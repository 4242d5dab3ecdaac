"""QR rendering time: qrcode's default path (8-way mask search + its PIL image factory) against
eseal.render (fixed mask, PNG drawn from the matrix), for 300/600/900-character payloads.

Run: python -m bench.qr_render [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
from collections.abc import Callable

import qrcode
from qrcode import util
from qrcode.constants import ERROR_CORRECT_Q
from qrcode.util import MODE_ALPHA_NUM, QRData

from eseal import render

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
LENGTHS = (300, 600, 900)


def payload(length: int, seed: int) -> str:
    """A stand-in for base45 text: uniformly random over the QR alphanumeric alphabet."""
    rng = random.Random(seed)
    return "EL1:" + "".join(rng.choice(ALPHABET) for _ in range(length - 4))


def _code(text: str, mask: int | None) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, box_size=4, border=4, mask_pattern=mask)
    code.add_data(QRData(text, mode=MODE_ALPHA_NUM))
    code.make(fit=True)
    return code


def default_png(text: str) -> bytes:
    """qrcode out of the box: penalty search over the 8 masks, PIL image factory."""
    out = io.BytesIO()
    _code(text, None).make_image().save(out)
    return out.getvalue()


def default_matrix(text: str) -> object:
    return _code(text, None).modules


def chosen_matrix(text: str) -> object:
    render.qr_matrix.cache_clear()
    return render.qr_matrix(text)


def chosen_png(text: str) -> bytes:
    render.qr_matrix.cache_clear()
    return render.qr_png(text)


def best_ms(fn: Callable[[str], object], text: str, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(text)
        timings.append(time.perf_counter() - start)
    return min(timings) * 1000


def mask_penalties(length: int, samples: int) -> tuple[float, float]:
    """Mean ISO 18004 penalty of mask QR_MASK, and of the best of the 8 masks, over samples."""
    fixed, best = [], []
    for seed in range(samples):
        code = _code(payload(length, 1000 + seed), render.QR_MASK)
        scores = []
        for mask in range(8):
            code.makeImpl(False, mask)
            scores.append(util.lost_point(code.modules))
        fixed.append(scores[render.QR_MASK])
        best.append(min(scores))
    return statistics.mean(fixed), statistics.mean(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="runs per cell; the best is shown")
    parser.add_argument("--samples", type=int, default=20, help="payloads for the penalty column")
    args = parser.parse_args()
    print(f"QR EC level Q, alphanumeric; best of {args.repeat} runs, ms per symbol")
    header = (
        f"{'chars':>5} {'ver':>3} | {'matrix: search':>14} {'fixed':>6} | "
        f"{'PNG: qrcode':>11} {'eseal':>6} {'speed-up':>8} | {'penalty fixed/best':>18}"
    )
    print(header)
    print("-" * len(header))
    for length in LENGTHS:
        text = payload(length, length)
        version = (len(render.qr_matrix(text)) - 17) // 4
        cells = [
            best_ms(fn, text, args.repeat)
            for fn in (default_matrix, chosen_matrix, default_png, chosen_png)
        ]
        fixed, best = mask_penalties(length, args.samples)
        print(
            f"{length:>5} {version:>3} | {cells[0]:>14.1f} {cells[1]:>6.1f} | "
            f"{cells[2]:>11.1f} {cells[3]:>6.1f} {cells[2] / cells[3]:>7.1f}x | "
            f"{fixed:>8.0f} / {best:<8.0f}"
        )


if __name__ == "__main__":
    main()
