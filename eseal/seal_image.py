"""The picture of an official round seal (公章): red ring, agency name along the upper arc,
five-pointed star, seal name below it; a transparent PNG drawn with Pillow.
"""

from __future__ import annotations

import functools
import io
import math
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from eseal.render import cjk_font_path, font_file_for
from keys.errors import InvalidInput

SEAL_RED: Final = (230, 0, 18)
#: Drawn this many times larger, then downsampled: the anti-aliasing.
SUPERSAMPLE: Final = 4
MAX_AGENCY_CHARS: Final = 32
MAX_SEAL_NAME_CHARS: Final = 16

# Geometry as fractions of the seal's radius R.
RING_OUTER: Final = 0.985
RING_WIDTH: Final = 0.075
ARC_TEXT_HEIGHT: Final = 0.23
ARC_TEXT_RADIUS: Final = 0.70  # radius of the characters' centres
STAR_RADIUS: Final = 0.30
NAME_HEIGHT: Final = 0.15
NAME_CENTRE_Y: Final = 0.5  # below the centre
NAME_MAX_WIDTH: Final = 0.95
STROKE: Final = 0.012  # extra stroke weight, as a fraction of the text height


class SealTextInvalid(InvalidInput):
    """Seal text that cannot be drawn: too short, too long, control characters; or a bad size."""

    code = "seal-text-invalid"


def _arc_span_degrees(count: int) -> float:
    """The angle the agency name occupies: ~30° a character for short names, 210° from seven
    characters on, opening to 240° for names of twenty characters or more."""
    widest = 210 + 30 * min(1.0, max(0.0, (count - 10) / 10))
    return min(widest, 30.0 * count)


@functools.lru_cache(maxsize=16)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=0)


class _Lettering:
    """Renders single characters, centred on the ink of a reference character, into a box."""

    def __init__(self, font_path: str, height: float, reference: str = "国") -> None:
        _, top, _, bottom = _font(font_path, 100).getbbox(reference, anchor="mm")
        self.size = max(8, round(100 * height / (bottom - top)))
        self.path, self.font = font_path, _font(font_path, self.size)
        self.ink_centre = (top + bottom) / 2 * self.size / 100  # below the anchor "mm"
        self.height = round(height)
        self.stroke = max(1, round(height * STROKE))  # seal engravings are bolder than the font

    def glyph(self, ch: str, width: float) -> Image.Image:
        """``ch`` as an L mask, its ink about ``width`` wide (squeezed when narrower than high);
        a character the font lacks (CJK extension B) from the fallback font that has it."""
        path = font_file_for(ch)
        if path != self.path:  # sized on the character itself: the fallback may lack 国
            return _Lettering(path, self.height, reference=ch).glyph(ch, width)
        side = round(self.height * 1.25)
        canvas = Image.new("L", (side, side), 0)
        ImageDraw.Draw(canvas).text(
            (side / 2, side / 2 - self.ink_centre),
            ch,
            font=self.font,
            fill=255,
            anchor="mm",
            stroke_width=self.stroke,
            stroke_fill=255,
        )
        if width >= self.height:
            return canvas
        return canvas.resize(
            (max(1, round(side * width / self.height)), side), Image.Resampling.LANCZOS
        )


def _paste(mask: Image.Image, glyph: Image.Image, centre: tuple[float, float]) -> None:
    x = round(centre[0] - glyph.width / 2)
    y = round(centre[1] - glyph.height / 2)
    mask.paste(255, (x, y, x + glyph.width, y + glyph.height), glyph)


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float) -> None:
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(126))
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else inner
        angle = math.radians(-90 + 36 * i)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    draw.polygon(points, fill=255)


def draw_seal(agency_name: str, seal_name: str = "", *, size: int = 480) -> bytes:
    """A round red seal as an RGBA PNG ``size`` pixels square, transparent outside the ink."""
    agency = "".join(agency_name.split())
    name = "".join(seal_name.split())
    if not 2 <= len(agency) <= MAX_AGENCY_CHARS:
        raise SealTextInvalid(
            f"agency name of {len(agency)} characters: need 2..{MAX_AGENCY_CHARS}"
        )
    if len(name) > MAX_SEAL_NAME_CHARS:
        raise SealTextInvalid(f"seal name of {len(name)} characters: at most {MAX_SEAL_NAME_CHARS}")
    if any(not ch.isprintable() for ch in agency + name):
        raise SealTextInvalid("seal text contains control characters")
    if not 64 <= size <= 2048:
        raise SealTextInvalid(f"seal size {size} px out of range 64..2048")
    font_path = str(cjk_font_path())

    side = size * SUPERSAMPLE
    radius = side / 2
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    outer = radius * RING_OUTER
    draw.ellipse(
        (radius - outer, radius - outer, radius + outer, radius + outer),
        outline=255,
        width=round(radius * RING_WIDTH),
    )
    _star(draw, radius, radius, radius * STAR_RADIUS)

    shrink = 1 - 0.2 * min(1.0, max(0.0, (len(agency) - 16) / 12))  # long names: smaller text
    arc = _Lettering(font_path, radius * ARC_TEXT_HEIGHT * shrink)
    span = math.radians(_arc_span_degrees(len(agency)))
    step = span / len(agency)
    char_w = min(arc.height * 1.0, (radius * ARC_TEXT_RADIUS - arc.height / 2) * step * 0.92)
    for i, ch in enumerate(agency):
        theta = -span / 2 + step * (i + 0.5)  # clockwise from 12 o'clock
        glyph = arc.glyph(ch, char_w).rotate(
            -math.degrees(theta), resample=Image.Resampling.BICUBIC, expand=True
        )
        r = radius * ARC_TEXT_RADIUS
        _paste(mask, glyph, (radius + r * math.sin(theta), radius - r * math.cos(theta)))

    if name:
        row = _Lettering(font_path, radius * NAME_HEIGHT)
        pitch = min(row.height * 1.05, radius * NAME_MAX_WIDTH / len(name))
        char_w = min(row.height * 1.0, pitch * 0.95)
        y = radius * (1 + NAME_CENTRE_Y)
        for i, ch in enumerate(name):
            x = radius + (i - (len(name) - 1) / 2) * pitch
            _paste(mask, row.glyph(ch, char_w), (x, y))

    alpha = mask.resize((size, size), Image.Resampling.LANCZOS)
    seal = Image.new("RGBA", (size, size), (*SEAL_RED, 255))
    seal.putalpha(alpha)
    out = io.BytesIO()
    seal.save(out, format="PNG", optimize=True)
    return out.getvalue()
