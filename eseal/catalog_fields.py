"""The fields of a license type: a :class:`FieldSpec` each (kind, limits), and the
normalisation of submitted values to the canonical values a license carries."""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from eseal.ids import (
    InvalidCreditCode,
    InvalidRegionCode,
    validate_credit_code,
    validate_region_code,
)
from keys.errors import InvalidInput, shown

#: Field values travel in the QR code: no value is longer than this.
MAX_FIELD_LENGTH: Final = 200
#: Integer fields: at most this many digits (values stay exact in every JSON reader).
MAX_INTEGER_DIGITS: Final = 15
#: Money fields: at most this many digits before the decimal point.
MAX_MONEY_DIGITS: Final = 15

Kind = Literal["text", "date", "integer", "money", "enum", "credit_code", "region_code"]
KINDS: Final[tuple[Kind, ...]] = (
    "text", "date", "integer", "money", "enum", "credit_code", "region_code",
)  # fmt: skip
ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INTEGER: Final = re.compile(r"[0-9]+")
_MONEY: Final = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?")


class FieldInvalid(InvalidInput):
    """A license field value is missing, unknown or malformed for its license type."""

    code = "field-invalid"


def has_control_character(text: str) -> bool:
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in text)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a license type: a snake_case key, a Chinese label and its English
    translation, a kind and its limits."""

    name: str
    label: str
    label_en: str
    kind: Kind
    required: bool
    max_length: int | None = None
    choices: tuple[str, ...] = ()

    @property
    def length_limit(self) -> int:
        """The most characters a text value may have (the QR has room for no more)."""
        return self.max_length if self.max_length is not None else MAX_FIELD_LENGTH

    def invalid(self, problem: str) -> FieldInvalid:
        return FieldInvalid(f"field {self.name!r} ({self.label}): {problem}")

    def normalise(self, raw: str) -> str | int:
        """The canonical value of ``raw`` (already stripped, not empty), or :class:`FieldInvalid`.

        Messages name the field and the rule broken but echo no value (values may be personal).
        """
        if self.kind == "text":
            return self._text(raw)
        if self.kind == "date":
            return self._date(raw)
        if self.kind == "integer":
            return self._integer(raw)
        if self.kind == "money":
            return self._money(raw)
        if self.kind == "enum":
            if raw not in self.choices:
                raise self.invalid(f"not one of the allowed values: {', '.join(self.choices)}")
            return raw
        return self._code(raw)

    def _code(self, raw: str) -> str:
        try:
            if self.kind == "credit_code":
                return validate_credit_code(raw)
            return validate_region_code(raw)
        except (InvalidCreditCode, InvalidRegionCode) as e:
            raise self.invalid(e.message) from e

    def _text(self, raw: str) -> str:
        value = unicodedata.normalize("NFC", raw)
        if len(value) > self.length_limit:
            raise self.invalid(
                f"too long: {len(value)} characters, at most {self.length_limit} allowed"
            )
        if has_control_character(value):
            raise self.invalid("contains a control or unassigned character")
        if not value.isprintable():
            # The QR format holds printable text only (verifier.claims): the license would
            # not verify anywhere.
            raise self.invalid(
                "contains a line or paragraph separator, or a space other than U+0020 (such as "
                "the ideographic space U+3000): a license holds printable text only"
            )
        return value

    def _date(self, raw: str) -> str:
        if not ISO_DATE.fullmatch(raw):
            raise self.invalid("not a date: write it as YYYY-MM-DD, e.g. 2024-03-01")
        try:
            return datetime.date.fromisoformat(raw).isoformat()
        except ValueError:
            raise self.invalid(f"{raw} is not a real calendar date") from None

    def _integer(self, raw: str) -> int:
        if not _INTEGER.fullmatch(raw):
            raise self.invalid("not an integer: digits 0-9 only (no sign, no decimals)")
        digits = raw.lstrip("0") or "0"
        if len(digits) > MAX_INTEGER_DIGITS:
            raise self.invalid(f"integer too large (at most {MAX_INTEGER_DIGITS} digits)")
        return int(digits)

    def _money(self, raw: str) -> str:
        match = _MONEY.fullmatch(raw)
        if match is None:
            raise self.invalid(
                "not an amount of money: yuan as digits with at most 2 decimals,"
                " e.g. 1000000 or 1234.50 (no sign, separators or currency symbol)"
            )
        whole = match.group(1).lstrip("0") or "0"
        if len(whole) > MAX_MONEY_DIGITS:
            raise self.invalid(f"amount too large (at most {MAX_MONEY_DIGITS} digits of yuan)")
        return f"{whole}.{(match.group(2) or '').ljust(2, '0')}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "label_en": self.label_en,
            "kind": self.kind,
            "required": self.required,
        }
        if self.kind == "text":
            out["max_length"] = self.length_limit
        if self.choices:
            out["choices"] = list(self.choices)
        return out


def normalise_fields(
    fields: tuple[FieldSpec, ...], values: Mapping[str, object], license_type: str
) -> dict[str, str | int]:
    """The normalised ``values`` of ``fields``, in their order, or :class:`FieldInvalid`
    naming ``license_type`` (its code and name): see ``LicenseType.validate_fields``."""
    specs = {spec.name: spec for spec in fields}
    problems: list[str] = []  # every one at once: a clerk corrects them in one go
    for key in values:
        if key not in specs:
            allowed = ", ".join(specs) or "none"
            named = shown(key) if isinstance(key, str) else type(key).__name__
            problems.append(
                f"unknown field {named} for license type {license_type}; allowed fields: {allowed}"
            )
    out: dict[str, str | int] = {}
    for spec in fields:
        raw = values.get(spec.name)
        if isinstance(raw, int) and not isinstance(raw, bool) and spec.kind == "integer":
            raw = str(raw)
        try:
            if raw is not None and not isinstance(raw, str):
                raise spec.invalid(f"must be a string, got {type(raw).__name__}")
            text = (raw or "").strip()
            if not text:
                if spec.required:
                    raise spec.invalid(f"missing: required for license type {license_type}")
                continue
            out[spec.name] = spec.normalise(text)
        except FieldInvalid as e:
            problems.append(e.message)
    if problems:
        raise FieldInvalid("; ".join(problems))
    return out
