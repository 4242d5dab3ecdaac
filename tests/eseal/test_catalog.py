"""Tests for eseal.catalog: the shipped license-type catalogue, field validation, strict loading."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from eseal.catalog import (
    Catalog,
    CatalogInvalid,
    LicenseType,
    UnknownLicenseType,
    load_catalog,
    parse_catalog,
)
from eseal.catalog_fields import KINDS, MAX_FIELD_LENGTH, FieldInvalid, FieldSpec
from eseal.ids import LicenseId, credit_code_check_char, validate_credit_code
from keys.errors import InvalidInput
from verifier.claims import _fields as claims_fields

CATALOG = load_catalog()
TYPES = list(CATALOG)
GOOD_CREDIT_CODE = "91350100M000100Y43"
#: The ministry codes the catalogue claims to be real (its _note says so); the rest are
#: placeholders with a recognisable body.
ATTESTED_MINISTRIES = {"11100000000013338W": "住房和城乡建设部", "11100000MB03271699": "自然资源部"}
PLACEHOLDER_PREFIX = "111000000000PH"
SHIPPED = Path(__file__).parents[2] / "eseal" / "data" / "license_types.json"


def valid_value(spec: FieldSpec) -> str:
    """A valid raw value for ``spec``, as long as it may be for text."""
    values = {
        "date": "2024-02-29",
        "integer": "42",
        "money": "1234.5",
        "credit_code": GOOD_CREDIT_CODE,
        "region_code": "500000",
    }
    if spec.kind == "text":
        return "证" * spec.length_limit
    if spec.kind == "enum":
        return spec.choices[-1]
    return values[spec.kind]


def valid_values(ltype: LicenseType, *, optional: bool = True) -> dict[str, str]:
    return {s.name: valid_value(s) for s in ltype.fields if s.required or optional}


#: Bad raw values by kind, each with a fragment the message must contain.
BAD_VALUES: dict[str, list[tuple[str, str]]] = {
    "date": [
        ("2024-02-30", "not a real calendar date"),
        ("2024/01/01", "YYYY-MM-DD"),
        ("20240101", "YYYY-MM-DD"),
        ("2024-1-1", "YYYY-MM-DD"),
        ("yesterday", "YYYY-MM-DD"),
    ],
    "integer": [
        ("4.2", "not an integer"),
        ("-1", "not an integer"),
        ("+1", "not an integer"),
        ("forty", "not an integer"),
        ("１２", "not an integer"),  # full-width digits
        ("9" * 16, "too large"),
    ],
    "money": [
        ("1,000", "not an amount of money"),
        ("1.234", "not an amount of money"),
        ("-5", "not an amount of money"),
        ("¥5", "not an amount of money"),
        ("5.", "not an amount of money"),
        ("1e6", "not an amount of money"),
        ("9" * 16, "too large"),
    ],
    "enum": [("不在列表中", "not one of the allowed values")],
    "credit_code": [
        ("91350100M000100Y44", "check character"),
        ("91350100M000100Y4", "18 characters"),
    ],
    "region_code": [("990000", "unknown province"), ("5000", "6 digits")],
}


# -- the shipped catalogue ------------------------------------------------------------------------


def test_shipped_catalogue_is_broad() -> None:
    assert len(CATALOG) >= 24
    assert len({t.ministry for t in CATALOG}) >= 10
    assert {t.holder_kind for t in CATALOG} == {"legal", "natural"}
    assert len(set(CATALOG.codes())) == len(CATALOG)
    assert CATALOG.codes() == tuple(t.code for t in TYPES)
    names = {t.name for t in CATALOG}
    for expected in ("营业执照", "食品经营许可证", "不动产权证书", "医师执业证书", "机动车驾驶证"):
        assert expected in names


def test_shipped_catalogue_is_read_once() -> None:
    assert load_catalog() is CATALOG


def test_shipped_catalogue_covers_every_kind() -> None:
    assert {s.kind for t in CATALOG for s in t.fields} == set(KINDS)


def test_design_example_and_demo_codes_are_known() -> None:
    # DESIGN.md's example type code and the demo agencies' scopes.
    for code in ("11100000000013338W032", "11100000000013338W001", "11100000000013338W002"):
        assert CATALOG.get(code).ministry == "住房和城乡建设部"


@pytest.mark.parametrize("ltype", TYPES, ids=lambda t: t.code)
def test_type_is_well_formed(ltype: LicenseType) -> None:
    assert validate_credit_code(ltype.ministry_code) == ltype.ministry_code
    assert ltype.code[18:].isdigit()
    # The type code is usable in a license id.
    license_id = LicenseId(ltype.code, GOOD_CREDIT_CODE, "2024000001", 1)
    assert LicenseId.parse(str(license_id)) == license_id
    if ltype.ministry_code in ATTESTED_MINISTRIES:
        assert ltype.ministry == ATTESTED_MINISTRIES[ltype.ministry_code]
    else:
        assert ltype.ministry_code.startswith(PLACEHOLDER_PREFIX)
    assert 3 <= len(ltype.fields) <= 8
    assert ltype.validity_days is None or 365 <= ltype.validity_days <= 3660
    for spec in ltype.fields:
        assert spec.length_limit <= MAX_FIELD_LENGTH
        assert spec.name not in {"holder", "holder_name", "holder_id", "id_number", "name"}


CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def test_every_field_has_an_english_label() -> None:
    """Every field of every type has an English label (the window's English mode and API
    clients show it): printable, no Chinese in it, and one Chinese label always put into
    English the same way."""
    english: dict[str, str] = {}
    for t in CATALOG:
        for spec in t.fields:
            assert spec.label_en, (t.code, spec.name)
            assert spec.label_en.isprintable(), (t.code, spec.name)
            assert not CJK.search(spec.label_en), (t.code, spec.name, spec.label_en)
            assert spec.label_en[0].isupper(), (t.code, spec.name, spec.label_en)
            assert english.setdefault(spec.label, spec.label_en) == spec.label_en, spec.label
    business = {s.name: s.label_en for s in CATALOG.get("111000000000PH001J001").fields}
    assert business["legal_representative"] == "Legal representative"
    assert business["registered_capital"] == "Registered capital (CNY)"
    housing = {s.name: s.label_en for s in CATALOG.get("11100000000013338W001").fields}
    assert housing["employer_code"] == "Employing enterprise's unified social credit code"


def test_one_ministry_one_code() -> None:
    codes: dict[str, set[str]] = {}
    for t in CATALOG:
        codes.setdefault(t.ministry, set()).add(t.ministry_code)
    assert all(len(c) == 1 for c in codes.values()), codes
    assert len(set().union(*codes.values())) == len(codes)


def test_note_is_honest_about_placeholders() -> None:
    note = json.loads(SHIPPED.read_text(encoding="utf-8"))["_note"]
    assert "PLACEHOLDER" in note
    for code in ATTESTED_MINISTRIES:
        assert code in note


def test_placeholder_check_characters() -> None:
    for t in CATALOG:
        assert credit_code_check_char(t.code[:17]) == t.code[17]


# -- lookup ---------------------------------------------------------------------------------------


def test_get_forgives_case_and_space() -> None:
    first = TYPES[0]
    assert CATALOG.get(f"  {first.code.lower()} ") is first
    assert first.code in CATALOG
    assert f" {first.code.lower()}" in CATALOG
    assert "nope" not in CATALOG


@pytest.mark.parametrize("code", ["", "11100000000013338W999", "营业执照", "x" * 500])
def test_get_unknown(code: str) -> None:
    with pytest.raises(UnknownLicenseType) as info:
        CATALOG.get(code)
    assert isinstance(info.value, InvalidInput)
    assert "eseal license types" in info.value.message
    assert len(info.value.message) < 300


def test_to_json() -> None:
    for t in CATALOG:
        out = t.to_json()
        assert set(out) == {
            "code", "name", "name_en", "ministry", "holder_kind", "validity_days", "fields",
        }  # fmt: skip
        assert [f["name"] for f in out["fields"]] == [s.name for s in t.fields]
        assert [f["label_en"] for f in out["fields"]] == [s.label_en for s in t.fields]
        for f in out["fields"]:
            assert {"name", "label", "label_en", "kind", "required"} <= set(f)
        json.dumps(out, ensure_ascii=False)
    assert len(CATALOG.to_json()) == len(CATALOG)
    assert "license types" in repr(CATALOG)


# -- field validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("ltype", TYPES, ids=lambda t: t.code)
def test_valid_values_pass(ltype: LicenseType) -> None:
    values = valid_values(ltype)
    out = ltype.validate_fields(values)
    assert list(out) == [s.name for s in ltype.fields]  # catalogue order
    for spec in ltype.fields:
        if spec.kind == "integer":
            assert out[spec.name] == 42
        elif spec.kind == "money":
            assert out[spec.name] == "1234.50"
        else:
            assert out[spec.name] == values[spec.name]
    # Only required fields: optional ones are left out of the result.
    required = valid_values(ltype, optional=False)
    assert set(ltype.validate_fields(required)) == set(required)


@pytest.mark.parametrize("ltype", TYPES, ids=lambda t: t.code)
def test_bad_values_name_the_field(ltype: LicenseType) -> None:
    base = valid_values(ltype)
    for spec in ltype.fields:
        bad: list[tuple[str, str]] = list(BAD_VALUES.get(spec.kind, []))
        if spec.kind == "text":
            bad = [
                ("证" * (spec.length_limit + 1), "too long"),
                ("a\x00b", "control"),
                ("张\u3000三", "U+3000"),  # the QR format holds printable text only
                ("一\u2028二", "separator"),
            ]
        for raw, fragment in bad:
            with pytest.raises(FieldInvalid) as info:
                ltype.validate_fields({**base, spec.name: raw})
            assert f"'{spec.name}'" in info.value.message, raw
            assert spec.label in info.value.message
            assert fragment in info.value.message, (raw, info.value.message)


@pytest.mark.parametrize("ltype", TYPES, ids=lambda t: t.code)
def test_missing_required_and_unknown(ltype: LicenseType) -> None:
    base = valid_values(ltype)
    for spec in ltype.fields:
        if not spec.required:
            continue
        for absent in ({k: v for k, v in base.items() if k != spec.name}, {**base, spec.name: " "}):
            with pytest.raises(FieldInvalid) as info:
                ltype.validate_fields(absent)
            assert f"'{spec.name}'" in info.value.message
            assert "missing" in info.value.message
    with pytest.raises(FieldInvalid) as unknown:
        ltype.validate_fields({**base, "holder_id": "x"})
    assert "'holder_id'" in unknown.value.message
    assert ltype.fields[0].name in unknown.value.message  # lists what is allowed


def test_every_field_problem_is_named_at_once() -> None:
    """A request with several missing, unknown or malformed fields is refused naming each,
    so a clerk corrects them in one go (each refusal named only the first: four runs to
    fill in the fields `license issue` left out of a 食品经营许可证)."""
    ltype = CATALOG.get("111000000000PH001J002")
    with pytest.raises(FieldInvalid) as info:
        ltype.validate_fields(
            {"licence_number": "JY1", "legal_representative": "张三", "main_business": "餐饮"}
        )
    message = info.value.message
    assert "unknown field 'licence_number'" in message
    for name in ("license_number", "address", "premises", "business_items"):
        assert f"field '{name}' " in message, name
    assert message.count("missing: required") == 4
    assert "field 'main_business' (主体业态): not one of the allowed values" in message
    assert "legal_representative'" not in message.split("allowed fields:")[0]


def test_normalisation() -> None:
    spec = {s.kind: s for t in CATALOG for s in t.fields}
    assert spec["integer"].normalise("007") == 7
    assert spec["integer"].normalise("0") == 0
    assert spec["money"].normalise("000") == "0.00"
    assert spec["money"].normalise("0012.3") == "12.30"
    assert spec["money"].normalise("1000000") == "1000000.00"
    assert spec["credit_code"].normalise(GOOD_CREDIT_CODE.lower()) == GOOD_CREDIT_CODE
    assert spec["text"].normalise("e\u0301") == "\u00e9"  # NFC


def test_a_text_the_catalogue_takes_is_one_a_license_can_hold() -> None:
    """Every text value the catalogue accepts passes the QR format's field check, so that no
    license is signed that no window could verify (an ideographic space did)."""
    spec = next(s for t in CATALOG for s in t.fields if s.kind == "text")
    for ch in ("\u3000", "\u00a0", "\u2028", "\u2029", "\u200b", "\ufeff", " ", "·", "—", "\u00e9"):
        value = f"张{ch}三"
        try:
            text = spec.normalise(value)
        except FieldInvalid:
            continue
        claims_fields({spec.name: text})  # raises if the QR format refuses it


def test_values_are_stripped_and_ints_taken_for_integers() -> None:
    ltype = next(t for t in CATALOG if any(s.kind == "integer" for s in t.fields))
    name = next(s.name for s in ltype.fields if s.kind == "integer")
    values: dict[str, object] = {**valid_values(ltype), name: 12}
    values[ltype.fields[0].name] = f"  {values[ltype.fields[0].name]}\n"
    out = ltype.validate_fields(values)
    assert out[name] == 12
    assert out[ltype.fields[0].name] == str(values[ltype.fields[0].name]).strip()
    for wrong in (True, 1.5, ["1"]):
        with pytest.raises(FieldInvalid, match="must be a string"):
            ltype.validate_fields({**values, name: wrong})


def test_error_messages_do_not_echo_values() -> None:
    ltype = CATALOG.get(TYPES[0].code)
    secret = "秘密的值-12345"
    for spec in ltype.fields:
        if spec.kind in {"credit_code", "region_code"}:
            continue  # ids report the offending character, by design
        with pytest.raises(FieldInvalid) as info:
            ltype.validate_fields({**valid_values(ltype), spec.name: secret * 50})
        assert secret not in info.value.message


# -- strict loading -------------------------------------------------------------------------------


def minimal() -> dict[str, Any]:
    return {
        "format": 1,
        "types": [
            {
                "code": TYPES[0].code,
                "name": "示例证",
                "name_en": "Example",
                "ministry": "示例部",
                "holder_kind": "legal",
                "validity_days": None,
                "_note": "comments are ignored",
                "fields": [
                    {
                        "name": "number",
                        "label": "编号",
                        "label_en": "Number",
                        "kind": "text",
                        "required": True,
                    },
                    {
                        "name": "grade",
                        "label": "等级",
                        "label_en": "Grade",
                        "kind": "enum",
                        "required": False,
                        "choices": ["一级", "二级"],
                    },
                ],
            }
        ],
    }


def dump(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def test_minimal_loads_from_path(tmp_path: Path) -> None:
    path = tmp_path / "types.json"
    path.write_bytes(dump(minimal()))
    catalog = load_catalog(path)
    assert isinstance(catalog, Catalog)
    assert len(catalog) == 1
    ltype = catalog.get(TYPES[0].code)
    assert ltype.field("number").length_limit == MAX_FIELD_LENGTH
    assert (ltype.field("number").label, ltype.field("number").label_en) == ("编号", "Number")
    assert ltype.to_json()["fields"][1]["label_en"] == "Grade"
    assert ltype.validate_fields({"number": "A1"}) == {"number": "A1"}
    assert load_catalog(SHIPPED).codes() == CATALOG.codes()


def _mutate(path: str, value: object) -> dict[str, Any]:
    """``minimal()`` with the value at a dotted path replaced (``...DELETE`` removes it)."""
    doc = minimal()
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return doc


DELETE = object()
TYPE0 = "types.0"
FIELD0 = "types.0.fields.0"
BAD_CODE = TYPES[0].code[:17] + ("0" if TYPES[0].code[17] != "0" else "1") + TYPES[0].code[18:]

MALFORMED: list[tuple[str, object, str]] = [
    ("format", 2, "unsupported format"),
    ("format", True, "unsupported format"),
    ("types", [], "no license types"),
    ("types", {}, "must be a list"),
    ("extra", 1, "unknown key"),
    (f"{TYPE0}.code", BAD_CODE, "check character"),
    (f"{TYPE0}.code", TYPES[0].code.lower(), "upper case"),
    (f"{TYPE0}.code", TYPES[0].code[:18] + "01", "3 digits"),
    (f"{TYPE0}.code", TYPES[0].code[:18] + "0A1", "3 digits"),
    (f"{TYPE0}.code", 12, "must be a string"),
    (f"{TYPE0}.name", "", "non-empty"),
    (f"{TYPE0}.name", " 证 ", "white space"),
    (f"{TYPE0}.name", "证" * 65, "longer than"),
    (f"{TYPE0}.name_en", DELETE, "missing name_en"),
    (f"{TYPE0}.ministry", None, "must be a string"),
    (f"{TYPE0}.holder_kind", "robot", "must be one of legal, natural"),
    (f"{TYPE0}.validity_days", 0, "between"),
    (f"{TYPE0}.validity_days", "365", "must be an integer"),
    (f"{TYPE0}.validity_days", True, "must be an integer"),
    (f"{TYPE0}.validity_days", 1.5, "must be an integer"),
    (f"{TYPE0}.fields", "number", "must be a list"),
    (f"{TYPE0}.colour", "red", "unknown key"),
    (f"{FIELD0}.kind", "blob", "unknown kind"),
    (f"{FIELD0}.name", "Number", "snake_case"),
    (f"{FIELD0}.name", "编号", "snake_case"),
    (f"{FIELD0}.name", "a" * 33, "longer than 32"),
    (f"{FIELD0}.label", "", "non-empty"),
    (f"{FIELD0}.required", "yes", "true or false"),
    (f"{FIELD0}.max_length", 201, "between 1 and 200"),
    (f"{FIELD0}.max_length", 0, "between 1 and 200"),
    (f"{FIELD0}.choices", ["a"], "only an enum"),
    (f"{FIELD0}.label", "编\x07号", "control"),
    (f"{FIELD0}.label", "编\u2028号", "not printable"),  # the rule of label_en, below
    (f"{FIELD0}.label", "编\u2029号", "not printable"),  # a paragraph separator
    (f"{FIELD0}.label_en", DELETE, "missing label_en"),
    (f"{FIELD0}.label_en", "", "non-empty"),
    (f"{FIELD0}.label_en", "   ", "non-empty"),
    (f"{FIELD0}.label_en", " Number", "white space"),
    (f"{FIELD0}.label_en", None, "must be a string"),
    (f"{FIELD0}.label_en", ["Number"], "must be a string"),
    (f"{FIELD0}.label_en", "N" * 65, "longer than 64"),
    (f"{FIELD0}.label_en", "Num\x07ber", "control"),
    (f"{FIELD0}.label_en", "Num\u200bber", "control"),  # zero-width space: a format character
    (f"{FIELD0}.label_en", "Num\u2028ber", "not printable"),  # a line separator
    (f"{FIELD0}.label_en", "Licence\u00a0number", "not printable"),  # a no-break space
    ("types.0.fields.1.label_en", "Grade\u3000A", "not printable"),  # an ideographic space
    ("types.0.fields.1.choices", [], "non-empty list of choices"),
    ("types.0.fields.1.choices", ["一级", "一级"], "duplicate choice"),
    ("types.0.fields.1.choices", DELETE, "non-empty list of choices"),
    ("types.0.fields.1.max_length", 5, "only a text field"),
    ("types.0.fields.1.name", "number", "duplicate field name"),
]


@pytest.mark.parametrize(("path", "value", "fragment"), MALFORMED)
def test_malformed_catalogue_refused(path: str, value: object, fragment: str) -> None:
    with pytest.raises(CatalogInvalid) as info:
        parse_catalog(dump(_mutate(path, value)), "mine.json")
    assert isinstance(info.value, InvalidInput)
    assert info.value.message.startswith("license-type catalogue mine.json: ")
    assert fragment in info.value.message, info.value.message


def test_duplicate_type_code_refused() -> None:
    doc = minimal()
    doc["types"].append(copy.deepcopy(doc["types"][0]))
    with pytest.raises(CatalogInvalid, match="duplicate type code"):
        parse_catalog(dump(doc))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "its text is not JSON ("),
        (b'{"format": 1, "types": [', "its text is not JSON ("),
        (b"not json at all", "its text is not JSON ("),
        (b"[1, 2]", "must be an object"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"format": NaN, "types": []}', "its text is not JSON (NaN is not a JSON number)"),
        (b'{"format": 1, "format": 1, "types": []}', "is not JSON (duplicate key 'format')"),
        (b"[" * 100_000, "its text is not JSON (nested too deeply)"),
        (b" " * (4 * 1024 * 1024 + 1), "larger than"),
    ],
)
def test_unparseable_catalogue_refused(data: bytes, fragment: str) -> None:
    with pytest.raises(CatalogInvalid) as info:
        parse_catalog(data, "mine.json")
    assert fragment in info.value.message


def test_a_catalogue_saved_with_a_byte_order_mark_is_read() -> None:
    """A text editor may save the catalogue with a UTF-8 byte order mark: it is read as
    without one (strict JSON reading elsewhere refuses it, so the catalogue drops it first)."""
    assert parse_catalog(b"\xef\xbb\xbf" + dump(minimal())) == parse_catalog(dump(minimal()))


def test_unreadable_path_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogInvalid, match="cannot read"):
        load_catalog(tmp_path / "missing.json")
    with pytest.raises(CatalogInvalid, match="cannot read"):
        load_catalog(tmp_path)  # a directory


def test_shipped_file_is_canonical_json() -> None:
    """The shipped file parses with the plain json module too and has no stray keys."""
    doc = json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert set(doc) == {"_note", "format", "types"}
    assert parse_catalog(SHIPPED.read_bytes()).codes() == CATALOG.codes()
