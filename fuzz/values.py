"""Structured mutation: CBOR and JSON values chosen by the fuzzer's bytes, and real decoded
documents changed at a path the fuzzer picks, so that mutations keep most of a document
well formed and reach the checks past its parsing."""

from __future__ import annotations

import base64
import math
from typing import Protocol, TypeVar

import cbor2

T = TypeVar("T")


class Provider(Protocol):
    """What is used of ``atheris.FuzzedDataProvider`` (its names)."""

    def ConsumeIntInRange(self, low: int, high: int) -> int: ...
    def ConsumeInt(self, size: int) -> int: ...
    def ConsumeBytes(self, count: int) -> bytes: ...
    def ConsumeUnicode(self, count: int) -> str: ...
    def ConsumeUnicodeNoSurrogates(self, count: int) -> str: ...
    def ConsumeBool(self) -> bool: ...
    def ConsumeFloat(self) -> float: ...
    def PickValueInList(self, values: list[T]) -> T: ...


#: Values at the edges of what the formats take: times, 64-bit bounds, big numbers.
EDGE_INTEGERS = (0, -1, 1, 2**63 - 1, 2**63, 2**64, -(2**64) - 1, 253402300799, 253402300800)
#: Text the formats look for, and text they must refuse.
KNOWN_TEXT = (
    *("L", "N", "", "*", "500000", "500103", "01", "07", "active", "revoked", "agency"),
    *("11500000MB16135217", "111000000000PH001J001", "application/pdf", "\u202e", "\x00"),
)
#: Keys the formats use, to add where the fuzzer chooses.
KNOWN_KEYS = (1, 2, 4, 5, 6, 7, 8, 9, -70001, -70002, "p", "s", "m", "id", "ia", "ih", "is", "v")


def value(fdp: Provider, depth: int = 0) -> object:  # noqa: PLR0911, PLR0912 - one per kind
    """A CBOR value: scalars at ``depth`` 3 and past, containers and tags before."""
    choice = fdp.ConsumeIntInRange(0, 14 if depth < 3 else 9)
    if choice == 0:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 9))
    if choice == 1:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40))
    if choice == 2:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
    if choice == 3:
        return None
    if choice == 4:
        return fdp.ConsumeBool()
    if choice == 5:
        return fdp.ConsumeFloat()
    if choice == 6:
        return fdp.PickValueInList(list(EDGE_INTEGERS))
    if choice == 7:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 300))
    if choice == 8:
        return cbor2.CBORSimpleValue(fdp.ConsumeIntInRange(0, 19))
    if choice == 9:
        return fdp.PickValueInList(list(KNOWN_TEXT))
    if choice == 10:
        return [value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    if choice == 11:
        out: dict[object, object] = {}
        for _ in range(fdp.ConsumeIntInRange(0, 4)):
            out[value(fdp, 3)] = value(fdp, depth + 1)  # scalars: hashable
        return out
    if choice == 12:
        return cbor2.CBORTag(fdp.ConsumeIntInRange(0, 300), value(fdp, depth + 1))
    if choice == 13:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(10, 700))  # a bignum (tag 2 or 3)
    return [value(fdp, 3)] * fdp.ConsumeIntInRange(0, 2000)  # many items, few bytes each


def mutate(fdp: Provider, item: object, depth: int = 0) -> object:
    """``item`` (changed in place where it is a container) with one change somewhere in it:
    a key removed or added, or a value replaced, at a path the fuzzer picks."""
    action = fdp.ConsumeIntInRange(0, 5)
    if isinstance(item, dict) and item and action < 4 and depth < 5:
        key = fdp.PickValueInList(list(item))
        if action == 0:
            del item[key]
        elif action == 1:
            new = value(fdp, 3) if fdp.ConsumeBool() else fdp.PickValueInList(list(KNOWN_KEYS))
            item[new] = value(fdp)
        else:
            item[key] = mutate(fdp, item[key], depth + 1)
        return item
    if isinstance(item, list) and item and action < 4 and depth < 5:
        i = fdp.ConsumeIntInRange(0, len(item) - 1)
        item[i] = mutate(fdp, item[i], depth + 1)
        return item
    return value(fdp)


def jsonable(item: object) -> object:  # noqa: PLR0911 - one per kind
    """``item`` as JSON holds it: bytes as base64, tags as their value, integers of at most
    the interpreter's 4,300 digits, no NaN."""
    if isinstance(item, bytes):
        return base64.b64encode(item).decode()
    if isinstance(item, cbor2.CBORTag):
        return jsonable(item.value)
    if isinstance(item, cbor2.CBORSimpleValue):
        return item.value
    if isinstance(item, list):
        return [jsonable(x) for x in item]
    if isinstance(item, dict):
        return {k if isinstance(k, str) else _key_text(k): jsonable(x) for k, x in item.items()}
    if isinstance(item, float) and math.isnan(item):
        return 0.5
    if isinstance(item, int) and not isinstance(item, bool) and abs(item) > 10**4000:
        return 10**4000
    return item


def _key_text(key: object) -> str:
    try:
        return str(key)
    except ValueError:  # an integer of more than 4,300 digits
        return "big"


def json_mutate(fdp: Provider, item: object, depth: int = 0) -> object:
    """:func:`mutate` for JSON: a member removed or added, an item repeated, a character of
    a string changed (a key, a statement's base64), or a value replaced."""
    action = fdp.ConsumeIntInRange(0, 5)
    if isinstance(item, dict) and item and action < 4 and depth < 6:
        key = fdp.PickValueInList(list(item))
        if action == 0:
            del item[key]
        elif action == 1:
            names = [*item, "x", "image_png", "name_en", "fields", "retired_at", "revoked_at"]
            item[fdp.PickValueInList(names)] = jsonable(value(fdp))
        else:
            item[key] = json_mutate(fdp, item[key], depth + 1)
        return item
    if isinstance(item, list) and item and action < 4 and depth < 6:
        i = fdp.ConsumeIntInRange(0, len(item) - 1)
        if action == 0:
            del item[i]
        elif action == 1:
            item.append(item[i])
        else:
            item[i] = json_mutate(fdp, item[i], depth + 1)
        return item
    if isinstance(item, str) and action < 3 and len(item) > 8:
        i = fdp.ConsumeIntInRange(0, len(item) - 1)
        return item[:i] + fdp.ConsumeUnicodeNoSurrogates(2) + item[i + 1 :]
    return jsonable(value(fdp))
