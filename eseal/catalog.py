"""The catalogue of license types (证照类型): what a type is called, who defines it, whom it is
issued to, how long it lasts by default, and the fields a license of that type carries.

Pure: :func:`load_catalog` reads one JSON file (the shipped ``eseal/data/license_types.json``
unless given another path) and checks it strictly; everything else works on values.

File format (``format`` 1)::

    {"format": 1, "types": [
      {"code": "<18-char credit code><3 digits>", "name": "营业执照", "name_en": "...",
       "ministry": "...", "holder_kind": "legal" | "natural", "validity_days": 1826 | null,
       "fields": [{"name": "snake_case", "label": "中文", "label_en": "English",
                   "kind": "text", "required": true, "max_length": 100}, ...]}]}

Field kinds: ``text`` (``max_length`` 1–200, default 200), ``date`` (YYYY-MM-DD),
``integer`` (non-negative), ``money`` (yuan, up to 2 decimals), ``enum`` (with ``choices``),
``credit_code`` (GB 32100), ``region_code`` (GB/T 2260). Keys starting with ``_`` are
comments and ignored; any other unknown key is an error.

``validity_days`` is the default validity: a license issued without an explicit end is
valid until 23:59:59 Beijing time of the day ``validity_days`` days after its issuance.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, cast

from eseal.catalog_fields import (
    KINDS,
    MAX_FIELD_LENGTH,
    FieldSpec,
    Kind,
    has_control_character,
    normalise_fields,
)
from eseal.ids import InvalidCreditCode, validate_credit_code
from keys.errors import InvalidInput, shown
from keys.strictjson import MalformedJson, loads_strict

FORMAT: Final = 1
#: The largest catalogue file read (the national catalogue has ~861 types).
MAX_CATALOG_BYTES: Final = 4 * 1024 * 1024
MAX_TYPES: Final = 5000
MAX_FIELDS: Final = 32
MAX_CHOICES: Final = 64
MAX_CHOICE_LENGTH: Final = 64
MAX_NAME_LENGTH: Final = 64
MAX_NAME_EN_LENGTH: Final = 128
MAX_LABEL_LENGTH: Final = 32
MAX_LABEL_EN_LENGTH: Final = 64
MAX_VALIDITY_DAYS: Final = 100 * 366
HolderKind = Literal["legal", "natural"]
HOLDER_KINDS: Final[tuple[HolderKind, ...]] = ("legal", "natural")

_FIELD_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
#: A type code: the defining ministry's credit code (upper case) and 3 digits.
TYPE_CODE_PATTERN: Final = r"[0-9A-Z]{18}[0-9]{3}"
_TYPE_CODE: Final = re.compile(TYPE_CODE_PATTERN)


class CatalogInvalid(InvalidInput):
    """The license-type catalogue file is unreadable or malformed."""

    code = "catalog-invalid"


class UnknownLicenseType(InvalidInput):
    """No license type in the catalogue has this code."""

    code = "unknown-license-type"


class LicenseTypeNotFound(InvalidInput):
    """No license type in the catalogue has the code asked for."""

    code = "license-type-not-found"
    http_status = 404


# -- license types ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LicenseType:
    """A license type: its code (defining ministry's credit code + 3 digits) and its fields."""

    code: str
    name: str
    name_en: str
    ministry: str
    holder_kind: HolderKind
    validity_days: int | None
    fields: tuple[FieldSpec, ...]

    @property
    def ministry_code(self) -> str:
        """The defining ministry's unified social credit code (the first 18 characters)."""
        return self.code[:18]

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def validate_fields(self, values: Mapping[str, object]) -> dict[str, str | int]:
        """The normalised field values in catalogue order, or :class:`FieldInvalid`.

        Values are strings (an ``int`` is also taken for an integer field); surrounding white
        space is stripped and an empty value counts as absent. Optional fields left out are
        left out of the result.
        """
        return normalise_fields(self.fields, values, f"{self.code} ({self.name})")

    def to_json(self) -> dict[str, Any]:
        """The type as ``eseal license types --json`` prints it."""
        return {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "ministry": self.ministry,
            "holder_kind": self.holder_kind,
            "validity_days": self.validity_days,
            "fields": [spec.to_json() for spec in self.fields],
        }


@dataclass(frozen=True, slots=True, repr=False)
class Catalog:
    """The license types a node knows, in file order, looked up by code."""

    types: tuple[LicenseType, ...]
    source: str = "<catalogue>"
    by_code: Mapping[str, LicenseType] = dataclass_field(
        init=False, repr=False, compare=False, default_factory=lambda: MappingProxyType({})
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_code", MappingProxyType({t.code: t for t in self.types}))

    def __repr__(self) -> str:
        return f"Catalog({len(self.types)} license types from {self.source})"

    def get(self, code: str) -> LicenseType:
        """The type with ``code`` (white space and case are forgiven), or UnknownLicenseType."""
        key = code.strip().upper()
        found = self.by_code.get(key)
        if found is None:
            raise UnknownLicenseType(
                f"unknown license type {shown(code)}: a type code is 21 characters"
                " (the defining ministry's credit code and 3 digits); list the known types"
                " with `eseal license types`"
            )
        return found

    def named(self, code: str) -> LicenseType:
        """The type whose code is exactly ``code`` (a resource's name: nothing forgiven), or
        :class:`LicenseTypeNotFound`."""
        found = self.by_code.get(code)
        if found is None:
            raise LicenseTypeNotFound(
                f"no license type {shown(code, 40)} in this node's catalogue: a type code is 21 "
                "characters, the defining ministry's credit code (upper case) and 3 digits; "
                "GET /v1/license-types lists the types"
            )
        return found

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code.strip().upper() in self.by_code

    def __iter__(self) -> Iterator[LicenseType]:
        return iter(self.types)

    def __len__(self) -> int:
        return len(self.types)

    def codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.types)

    def to_json(self) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.types]


# -- loading ------------------------------------------------------------------------------------


class _Reader:
    """Strict checks on the decoded JSON, each error naming the file and the place in it."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> CatalogInvalid:
        return CatalogInvalid(f"license-type catalogue {self.source}: {where}: {problem}")

    def obj(
        self, value: object, where: str, required: set[str], optional: set[str]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {_json_type(value)}")
        keys = {k for k in value if not k.startswith("_")}
        if missing := sorted(required - keys):
            raise self.fail(where, f"missing {', '.join(missing)}")
        if unknown := sorted(keys - required - optional):
            raise self.fail(where, f"unknown key {shown(unknown[0])}")
        return cast(dict[str, Any], value)

    def text(self, value: object, where: str, limit: int) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"must be a string, got {_json_type(value)}")
        if not value.strip() or value != value.strip():
            raise self.fail(where, "must be non-empty without surrounding white space")
        if len(value) > limit:
            raise self.fail(where, f"longer than {limit} characters")
        if has_control_character(value):
            raise self.fail(where, "contains a control or unassigned character")
        return value

    def printable(self, value: object, where: str, limit: int) -> str:
        """:meth:`text` that is also printable: no line or paragraph separator, and no
        space but the plain one (U+0020). A field's labels, Chinese and English, are held to
        it: each is printed on one line (the license, the window)."""
        text = self.text(value, where, limit)
        if not text.isprintable():
            raise self.fail(where, "contains a character that is not printable")
        return text

    def integer(self, value: object, where: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be an integer, got {_json_type(value)}")
        if not low <= value <= high:
            raise self.fail(where, f"must be between {low} and {high}, got {value}")
        return value

    def type_code(self, value: object, where: str) -> str:
        code = self.text(value, where, 21)
        if not _TYPE_CODE.fullmatch(code):
            raise self.fail(
                where,
                f"type code {shown(code)} must be an 18-character credit code (upper case)"
                " followed by 3 digits",
            )
        try:
            validate_credit_code(code[:18])
        except InvalidCreditCode as e:
            raise self.fail(where, f"type code {code}: {e.message}") from e
        return code

    def field(self, value: object, where: str) -> FieldSpec:
        raw = self.obj(value, where, {"name", "label", "label_en", "kind", "required"},
                       {"max_length", "choices"})  # fmt: skip
        name = self.text(raw["name"], f"{where}.name", 32)
        if not _FIELD_NAME.fullmatch(name):
            raise self.fail(
                f"{where}.name",
                f"{shown(name)} must be snake_case ASCII: a-z, 0-9 and _, starting with a"
                " letter, at most 32 characters",
            )
        where = f"{where} ({name})"
        label = self.printable(raw["label"], f"{where}.label", MAX_LABEL_LENGTH)
        label_en = self.printable(raw["label_en"], f"{where}.label_en", MAX_LABEL_EN_LENGTH)
        kind = raw["kind"]
        if kind not in KINDS:
            raise self.fail(
                f"{where}.kind", f"unknown kind {shown(kind)} (known: {', '.join(KINDS)})"
            )
        required = raw["required"]
        if not isinstance(required, bool):
            raise self.fail(f"{where}.required", f"must be true or false, got {required!r}")
        max_length = None
        if "max_length" in raw:
            if kind != "text":
                raise self.fail(f"{where}.max_length", "only a text field has a max_length")
            max_length = self.integer(raw["max_length"], f"{where}.max_length", 1,
                                      MAX_FIELD_LENGTH)  # fmt: skip
        choices: tuple[str, ...] = ()
        if kind == "enum":
            choices = self.choices(raw.get("choices"), f"{where}.choices")
        elif "choices" in raw:
            raise self.fail(f"{where}.choices", "only an enum field has choices")
        return FieldSpec(name, label, label_en, cast(Kind, kind), required, max_length, choices)

    def choices(self, value: object, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "an enum field needs a non-empty list of choices")
        if len(value) > MAX_CHOICES:
            raise self.fail(where, f"more than {MAX_CHOICES} choices")
        out = tuple(self.text(c, f"{where}[{i}]", MAX_CHOICE_LENGTH) for i, c in enumerate(value))
        if len(set(out)) != len(out):
            raise self.fail(where, "duplicate choice")
        return out

    def license_type(self, value: object, where: str) -> LicenseType:
        raw = self.obj(
            value,
            where,
            {"code", "name", "name_en", "ministry", "holder_kind", "validity_days", "fields"},
            set(),
        )
        code = self.type_code(raw["code"], f"{where}.code")
        where = f"{where} ({code})"
        name = self.text(raw["name"], f"{where}.name", MAX_NAME_LENGTH)
        name_en = self.text(raw["name_en"], f"{where}.name_en", MAX_NAME_EN_LENGTH)
        ministry = self.text(raw["ministry"], f"{where}.ministry", MAX_NAME_LENGTH)
        holder_kind = raw["holder_kind"]
        if holder_kind not in HOLDER_KINDS:
            raise self.fail(
                f"{where}.holder_kind",
                f"must be one of {', '.join(HOLDER_KINDS)}, got {holder_kind!r}"[:200],
            )
        validity = raw["validity_days"]
        if validity is not None:
            validity = self.integer(validity, f"{where}.validity_days", 1, MAX_VALIDITY_DAYS)
        fields_raw = raw["fields"]
        if not isinstance(fields_raw, list):
            raise self.fail(f"{where}.fields", f"must be a list, got {_json_type(fields_raw)}")
        if len(fields_raw) > MAX_FIELDS:
            raise self.fail(f"{where}.fields", f"more than {MAX_FIELDS} fields")
        fields = tuple(self.field(f, f"{where}.fields[{i}]") for i, f in enumerate(fields_raw))
        seen: set[str] = set()
        for spec in fields:
            if spec.name in seen:
                raise self.fail(f"{where}.fields", f"duplicate field name {spec.name!r}")
            seen.add(spec.name)
        return LicenseType(
            code, name, name_en, ministry, cast(HolderKind, holder_kind), validity, fields
        )

    def catalog(self, value: object) -> Catalog:
        raw = self.obj(value, "top level", {"format", "types"}, set())
        if raw["format"] != FORMAT or isinstance(raw["format"], bool):
            raise self.fail(
                "format", f"unsupported format {raw['format']!r}; this eseal reads {FORMAT}"[:200]
            )
        types_raw = raw["types"]
        if not isinstance(types_raw, list):
            raise self.fail("types", f"must be a list, got {_json_type(types_raw)}")
        if not types_raw:
            raise self.fail("types", "the catalogue has no license types")
        if len(types_raw) > MAX_TYPES:
            raise self.fail("types", f"more than {MAX_TYPES} license types")
        types = tuple(self.license_type(t, f"types[{i}]") for i, t in enumerate(types_raw))
        seen: dict[str, int] = {}
        for i, t in enumerate(types):
            if t.code in seen:
                raise self.fail(
                    f"types[{i}].code", f"duplicate type code {t.code} (also types[{seen[t.code]}])"
                )
            seen[t.code] = i
        return Catalog(types, source=self.source)


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def parse_catalog(data: bytes, source: str = "<catalogue>") -> Catalog:
    """Parse and check a catalogue file's bytes (UTF-8 JSON, see the module docstring)."""
    reader = _Reader(source)
    if len(data) > MAX_CATALOG_BYTES:
        raise reader.fail("file", f"larger than {MAX_CATALOG_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise reader.fail("file", f"not UTF-8 (byte {e.start})") from None
    try:
        value = loads_strict(text, what="its text", max_bytes=MAX_CATALOG_BYTES)
    except MalformedJson as e:
        raise reader.fail("file", e.message) from None
    return reader.catalog(value)


@functools.cache
def _shipped() -> Catalog:
    resource = importlib.resources.files("eseal").joinpath("data", "license_types.json")
    return parse_catalog(resource.read_bytes(), "eseal/data/license_types.json")


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalogue at ``path``, or the one shipped with eseal (read once, then cached)."""
    if path is None:
        return _shipped()
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CATALOG_BYTES + 1)
    except OSError as e:
        raise CatalogInvalid(
            f"license-type catalogue {path}: cannot read: {e.strerror or e}"
        ) from None
    return parse_catalog(data, str(path))
