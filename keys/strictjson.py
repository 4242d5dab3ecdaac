"""Reading JSON that comes from outside strictly, so that it reads one way here and in any
other parser: bounded in size, UTF-8 only, each key of an object once, no NaN or Infinity,
no number too long to need or too large to be finite, no text holding half a UTF-16
surrogate pair, and one error for every flaw.

Python's json takes what RFC 8259 has not (NaN, Infinity, UTF-16 and UTF-32 bytes), keeps
the last of a repeated key where another parser keeps the first or refuses, and refuses an
integer of 4,300 digits or more with advice meant for programmers. It also reads an escape of
half a surrogate pair (``"\\ud800"`` alone) into a str that is no Unicode text: another parser
makes it U+FFFD or refuses it (RFC 8259 section 8.2), and here it fails only later, as a
traceback where the text is written out (printed, encoded as UTF-8).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final, NoReturn

from keys.errors import InvalidInput, shown

#: The most digits a JSON integer may have: no field needs more than 19 (64 bits), and
#: past 4,300 Python refuses with advice meant for programmers (sys.set_int_max_str_digits).
MAX_INT_DIGITS: Final = 64


#: An escape of a UTF-16 surrogate (``\\ud800`` to ``\\udfff``): where JSON text holds one,
#: the value read is checked for a surrogate left unpaired (rare: no eseal writer makes one).
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


class MalformedJson(InvalidInput):
    """Input that should be JSON is not strict JSON, or is larger than its bound."""


def refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' ``object_pairs_hook`` for strict JSON: a repeated key is a ValueError
    (one parser keeping the first and another the last would read two different things)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {shown(key)}")
            seen.add(key)
    return result


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"a number of {digits:,} digits, more than {MAX_INT_DIGITS}")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: json.loads makes it infinity, which is not JSON
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def loads_strict(data: bytes | str, *, what: str, max_bytes: int) -> Any:
    """The JSON value of ``data`` (UTF-8 bytes, or text its caller decoded), read strictly
    (see the module docstring); :class:`MalformedJson` naming ``what`` (``"the body"``)
    otherwise: larger than ``max_bytes`` bytes (in UTF-8), not UTF-8, or not strict JSON."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise MalformedJson(f"{what} is larger than {max_bytes:,} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as e:
        raise MalformedJson(f"{what} is not UTF-8 (byte {e.start})") from e
    if text.startswith("\ufeff"):  # json's own message advises programmers (utf-8-sig)
        raise MalformedJson(f"{what} begins with a byte order mark, which JSON has not")
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            object_pairs_hook=refuse_duplicate_keys,
        )
    except json.JSONDecodeError as e:
        # Some of json's messages end in "at" already ("Unterminated string starting at").
        flaw = e.msg.removesuffix(" at")
        raise MalformedJson(
            f"{what} is not JSON ({flaw} at line {e.lineno} column {e.colno})"
        ) from e
    except ValueError as e:  # a refusal of the hooks above
        raise MalformedJson(f"{what} is not JSON ({e})") from e
    except RecursionError as e:
        raise MalformedJson(f"{what} is not JSON (nested too deeply)") from e
    if _SURROGATE_ESCAPE.search(text):
        try:  # a pair read is one character; a half left alone cannot be written as UTF-8
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise MalformedJson(
                f"{what} is not JSON (it holds \\u{ord(e.object[e.start]):04x}, half a UTF-16 "
                "surrogate pair, alone)"
            ) from e
        except RecursionError as e:  # as deep as json.loads took, and a few frames more
            raise MalformedJson(f"{what} is not JSON (nested too deeply)") from e
    return value
