"""Tests for eseal.ids: credit codes, region codes, license ids and identity numbers."""

from __future__ import annotations

import datetime
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eseal.ids import (
    LICENSE_ID_PATTERN,
    MAX_LICENSE_ID_LENGTH,
    MOD37_36_ALPHABET,
    PROVINCES,
    SEAL_ID_PATTERN,
    InvalidCreditCode,
    InvalidIdentityNumber,
    InvalidLicenseId,
    InvalidRegionCode,
    InvalidSealId,
    LicenseId,
    credit_code_check_char,
    identity_number_check_char,
    make_license_id,
    make_seal_id,
    mask_identity_number,
    mod37_36_check_char,
    mod37_36_is_valid,
    parse_seal_id,
    province_name,
    validate_credit_code,
    validate_identity_number,
    validate_node_region,
    validate_region_code,
)
from keys.errors import InvalidInput
from verifier.holder import CREDIT_CODE_ALPHABET

# Published codes whose check characters are known to be right.
REAL_CREDIT_CODES = [
    "91350100M000100Y43",  # the usual documentation example
    "11100000000013338W",  # a central-government body (region part 100000), used in DESIGN.md
    "914403001922038216",
    "91110108551385082Q",
    "91110000600037341L",
    "12100000400010398P",
]
TYPE_CODE = "11100000000013338W032"  # DESIGN.md's example type code


# -- strategies ---------------------------------------------------------------------------------

provinces = st.sampled_from(sorted(PROVINCES))


def _concat(a: str, b: str) -> str:
    return a + b


region_codes = st.builds(_concat, provinces, st.text("0123456789", min_size=4, max_size=4))


@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    head = draw(st.text(CREDIT_CODE_ALPHABET, min_size=2, max_size=2))
    region = draw(region_codes | st.just("100000"))
    org = draw(st.text(CREDIT_CODE_ALPHABET, min_size=9, max_size=9))
    first17 = head + region + org
    return first17 + credit_code_check_char(first17)


@st.composite
def identity_numbers(draw: st.DrawFn) -> str:
    region = draw(region_codes)
    born = draw(st.dates(datetime.date(1900, 1, 1), datetime.date(2100, 1, 1)))
    seq = draw(st.text("0123456789", min_size=3, max_size=3))
    first17 = region + born.strftime("%Y%m%d") + seq
    return first17 + identity_number_check_char(first17)


license_ids = st.builds(
    LicenseId,
    type_code=st.builds(_concat, credit_codes(), st.text("0123456789", min_size=3, max_size=3)),
    issuer_code=credit_codes() | region_codes,
    serial=st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=20),
    version=st.integers(0, 999),
)


# -- error classes -------------------------------------------------------------------------------


def test_error_classes_are_distinct_invalid_input_leaves() -> None:
    classes = [InvalidCreditCode, InvalidRegionCode, InvalidLicenseId, InvalidIdentityNumber]
    assert all(issubclass(c, InvalidInput) for c in classes)
    codes = {c.code for c in classes}
    assert len(codes) == 4
    assert InvalidInput.code not in codes


# -- credit codes --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_CREDIT_CODES)
def test_real_credit_codes_validate(code: str) -> None:
    assert validate_credit_code(code) == code
    assert credit_code_check_char(code[:17]) == code[17]


def test_credit_code_is_normalised() -> None:
    assert validate_credit_code("  91350100m000100y43\n") == "91350100M000100Y43"
    assert validate_credit_code("\u300091350100M000100Y43") == "91350100M000100Y43"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("91350100M000100Y44", "check character should be '3', got '4'"),
        ("91350100M000100Y4", "must be 18 characters, got 17"),
        ("91350100M000100Y433", "must be 18 characters, got 19"),
        ("", "must be 18 characters, got 0"),
        ("91350100M000100I43", "illegal character 'I' at position 16"),
        ("91350100M0001O0Y43", "illegal character 'O' at position 14"),
        ("9135010ﬀM000100Y43", "illegal character 'ﬀ' at position 8"),
        ("91-50100M000100Y43", "illegal character '-' at position 3"),
        ("91A50100M000100Y43", "region code (positions 3–8) must be digits, got 'A' at position 3"),
        ("91990100M000100Y4" + credit_code_check_char("91990100M000100Y4"), "unknown province 99"),
    ],
)
def test_bad_credit_codes(code: str, message: str) -> None:
    with pytest.raises(InvalidCreditCode, match="credit code") as info:
        validate_credit_code(code)
    assert message in str(info.value)
    assert info.value.code == "invalid-credit-code"


@pytest.mark.parametrize(
    "number", ["11010519491231002X", "11010519491231002x", "500103198808081237"]
)
def test_an_identity_number_given_for_a_credit_code_is_named_and_not_echoed(number: str) -> None:
    """A person's identity number where a credit code belongs (a holder id, a field, an
    agency) is refused as one, no part of it echoed: it was refused quoting its digits 3–8
    as a region code, or its check character."""
    with pytest.raises(InvalidCreditCode, match="a resident identity number") as info:
        validate_credit_code(number)
    said = info.value.message
    assert not re.search(r"[0-9]{2}", said), said  # not its region, date nor check digit
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_credit_code_check_char_rejects_bad_input() -> None:
    with pytest.raises(InvalidCreditCode, match="17 characters"):
        credit_code_check_char("9135")
    with pytest.raises(InvalidCreditCode, match="illegal character 'z' at position 1"):
        credit_code_check_char("z1350100M000100Y4")


@given(credit_codes())
def test_credit_code_check_detects_every_substitution(code: str) -> None:
    assert validate_credit_code(code) == code
    for i in range(18):
        for ch in CREDIT_CODE_ALPHABET:
            if ch == code[i]:
                continue
            mutated = code[:i] + ch + code[i + 1 :]
            # The weights 3^k are non-zero mod the prime 31: the checksum alone detects it.
            assert credit_code_check_char(mutated[:17]) != mutated[17]
            with pytest.raises(InvalidCreditCode):
                validate_credit_code(mutated)


# -- region codes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("500000", "重庆市"),
        ("110101", "北京市"),
        ("120000", "天津市"),
        ("650100", "新疆维吾尔自治区"),
        ("710000", "台湾省"),
        ("810000", "香港特别行政区"),
        ("820000", "澳门特别行政区"),
        (" 440300 ", "广东省"),
    ],
)
def test_region_codes(code: str, name: str) -> None:
    assert validate_region_code(code) == code.strip()
    assert province_name(code) == name


def test_all_34_provinces() -> None:
    assert len(PROVINCES) == 34
    for prefix in [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47)]:
        assert f"{prefix}0000" == validate_region_code(f"{prefix}0000")
    for prefix in [*range(50, 55), *range(61, 66), 71, 81, 82]:
        assert f"{prefix}0000" == validate_region_code(f"{prefix}0000")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("990000", "unknown province 99 in '990000'"),
        ("160000", "unknown province 16"),
        ("100000", "unknown province 10"),
        ("000000", "unknown province 00"),
        ("50000", "must be 6 digits, got 5 characters"),
        ("5000000", "must be 6 digits, got 7 characters"),
        ("5000a0", "illegal character 'a' at position 5"),
        ("５00000", "illegal character '５' at position 1"),
    ],
)
def test_bad_region_codes(code: str, message: str) -> None:
    with pytest.raises(InvalidRegionCode) as info:
        validate_region_code(code)
    assert message in str(info.value)
    with pytest.raises(InvalidRegionCode):
        province_name(code)


@pytest.mark.parametrize(
    "code",
    ["500000", "110000", "820000", "500100", "440300", "500101", "469001", " 510104 "],
)
def test_a_node_is_made_for_a_province_city_or_county(code: str) -> None:
    assert validate_node_region(code) == code.strip()


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "990000",
            "unknown province 99 in '990000': a node's region code is 6 digits, the first two"
            " a province-level code of GB/T 2260 (11–15, 21–23, 31–37, 41–46, 50–54, 61–65,"
            " 71, 81–82)",
        ),
        ("160000", "unknown province 16"),
        ("000000", "unknown province 00"),
        ("5000a0", "illegal character 'a' at position 5 (digits only): a node's region code"),
        ("50000", "must be 6 digits, got 5 characters: a node's region code"),
        ("100000", "central government organs' (中央国家机关), not a region a node is made for"),
        (
            "500001",
            "'500001' is of no GB/T 2260 level: a node's region is a province (xx0000), a city"
            " (xxxx00) or a county (xxxxxx), and a county's city digits (3–4) are not 00",
        ),
        ("110099", "'110099' is of no GB/T 2260 level"),
    ],
)
def test_a_node_is_made_for_no_other_region_code(code: str, message: str) -> None:
    with pytest.raises(InvalidRegionCode) as refused:
        validate_node_region(code)
    assert message in refused.value.message


def test_the_node_rule_leaves_region_codes_read_elsewhere_as_they_were() -> None:
    """A code of no level is still a region code where one is read (a catalog field, an
    issuer code): only what a node is made for is held to the levels."""
    assert validate_region_code("500001") == "500001"
    assert province_name("500001") == "重庆市"


# -- ISO/IEC 7064 MOD 37,36 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("A12425GABC1234002", "M"),  # the GRid example (ISO/IEC 7064 MOD 37,36)
        ("00000000C36D002B", "K"),  # an ISAN root, same system
        ("", "1"),
    ],
)
def test_mod37_36_known_values(body: str, check: str) -> None:
    assert mod37_36_check_char(body) == check
    assert mod37_36_is_valid(body + check)


def test_mod37_36_rejects_bad_input() -> None:
    with pytest.raises(InvalidLicenseId, match="illegal character 'a' at position 2"):
        mod37_36_check_char("Aa")
    assert not mod37_36_is_valid("")
    assert not mod37_36_is_valid("a12425GABC1234002M")


def test_mod37_36_misses_some_swaps_of_neighbouring_values() -> None:
    # A limit of the hybrid system: swapping two characters whose values differ by 1 (mod 36)
    # goes undetected for one state out of 36; here the initial state P = 36.
    assert mod37_36_check_char("IJ") == mod37_36_check_char("JI")


mod37_text = st.text(MOD37_36_ALPHABET, min_size=1, max_size=40)


@given(mod37_text)
def test_mod37_36_detects_every_substitution(body: str) -> None:
    full = body + mod37_36_check_char(body)
    assert mod37_36_is_valid(full)
    for i, original in enumerate(full):
        for ch in MOD37_36_ALPHABET:
            if ch != original:
                assert not mod37_36_is_valid(full[:i] + ch + full[i + 1 :])


@given(mod37_text)
def test_mod37_36_detects_adjacent_transpositions(body: str) -> None:
    full = body + mod37_36_check_char(body)
    for i in range(len(full) - 1):
        a, b = full[i], full[i + 1]
        if a == b:
            continue
        swapped = full[:i] + b + a + full[i + 2 :]
        gap = (MOD37_36_ALPHABET.index(a) - MOD37_36_ALPHABET.index(b)) % 36
        if gap not in (1, 35):
            # Always detected unless the values are neighbours (see the test above).
            assert not mod37_36_is_valid(swapped)


# -- license ids ---------------------------------------------------------------------------------


def test_make_license_id_and_str() -> None:
    lid = make_license_id(TYPE_CODE, "500000", "2024000001")
    check = mod37_36_check_char(f"{TYPE_CODE}5000002024000001001")
    assert str(lid) == f"1.2.156.3005.2.{TYPE_CODE}.500000.2024000001.001.{check}"
    assert lid.version == 1
    assert lid.check_char == check
    assert LicenseId.parse(str(lid)) == lid


@pytest.mark.parametrize(
    ("issuer", "region"),
    [
        ("500000", "500000"),  # a region code
        ("91350100M000100Y43", "350100"),  # a credit code: positions 3-8
        ("111000000000PH001J", "100000"),  # the central government's
    ],
)
def test_a_license_ids_issuer_region(issuer: str, region: str) -> None:
    assert make_license_id(TYPE_CODE, issuer, "1").issuer_region == region


def test_make_license_id_normalises() -> None:
    lid = make_license_id(" 11100000000013338w032", "91350100m000100y43 ", "ab12", version=7)
    assert lid == LicenseId(TYPE_CODE, "91350100M000100Y43", "AB12", 7)
    assert ".007." in str(lid)


def test_with_version() -> None:
    lid = make_license_id(TYPE_CODE, "500000", "1")
    renewed = lid.with_version(2)
    assert renewed.version == 2
    assert (renewed.type_code, renewed.issuer_code, renewed.serial) == (
        "11100000000013338W032",
        "500000",
        "1",
    )
    assert str(renewed).split(".")[-2] == "002"
    with pytest.raises(InvalidLicenseId, match="version must be 0–999, got 1000"):
        lid.with_version(1000)


@given(license_ids)
def test_license_id_round_trip(lid: LicenseId) -> None:
    text = str(lid)
    assert len(text) <= MAX_LICENSE_ID_LENGTH
    assert LicenseId.parse(text) == lid
    assert mod37_36_is_valid(text[len("1.2.156.3005.2.") :].replace(".", ""))


@given(license_ids, st.data())
def test_license_id_substitution_detected(lid: LicenseId, data: st.DataObject) -> None:
    text = str(lid)
    i = data.draw(st.integers(len("1.2.156.3005.2."), len(text) - 1))
    ch = data.draw(st.sampled_from(MOD37_36_ALPHABET).filter(lambda c: c != text[i]))
    if text[i] == ".":
        return
    with pytest.raises(InvalidLicenseId):
        LicenseId.parse(text[:i] + ch + text[i + 1 :])


GOOD = str(make_license_id(TYPE_CODE, "91350100M000100Y43", "X1", 3))
ROOT = "1.2.156.3005.2."


def _with_check(text: str) -> str:
    """Give a mutated id the right check char so that only the intended fault remains."""
    parts = text[len(ROOT) :].split(".")
    return text[: text.rindex(".") + 1] + mod37_36_check_char("".join(parts[:4]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1"), "check character should be"),
        (GOOD.replace(ROOT, "1.2.156.3005.3."), "must start with '1.2.156.3005.2.'"),
        (" " + GOOD, "must start with"),
        (GOOD + ".1", "5 dot-separated parts after the root"),
        (GOOD.lower(), "type code must be upper-case"),
        (ROOT + "A" * 200, "longer than 128 characters (215)"),
        (_with_check(GOOD.replace("W032", "W03")), "type code must be 21 characters"),
        (_with_check(GOOD.replace("W032", "W03A")), "type code must end in 3 digits"),
        (_with_check(GOOD.replace("38W", "38X")), "type code: credit code: check character"),
        (_with_check(GOOD.replace("M000100Y43", "M000100Y4")), "issuer code must be an 18-char"),
        (_with_check(GOOD.replace("Y43", "Y44")), "issuer code: credit code: check character"),
        (GOOD.replace(".X1.", ".x1."), "serial must be 1–20 characters"),
        (_with_check(GOOD.replace(".X1.", "..")), "serial must be 1–20 characters"),
        (_with_check(GOOD.replace(".X1.", ".X" + "1" * 20 + ".")), "serial must be 1–20"),
        (_with_check(GOOD.replace(".003.", ".03.")), "version must be 3 digits, got '03'"),
        (GOOD[:-1] + "a", "check must be one character of 0-9 and A-Z, got 'a'"),
        (GOOD[:-1], "check must be one character"),
    ],
)
def test_bad_license_ids(text: str, message: str) -> None:
    with pytest.raises(InvalidLicenseId) as info:
        LicenseId.parse(text)
    assert message in str(info.value)
    assert info.value.code == "invalid-license-id"


def test_a_seal_id_is_made_as_it_is_parsed() -> None:
    """A seal id as create_seal makes one parses, and matches the pattern the OpenAPI
    document gives; a flaw in any part is named."""
    agency = "91500000MA60XXXX15"
    made = make_seal_id(agency)
    assert parse_seal_id(made) == made
    assert re.fullmatch(SEAL_ID_PATTERN, made)
    assert made.startswith(agency + ".")
    assert len(made) == 31
    spoilt = {
        agency[:17] + "6" + made[18:]: "seal id: agency code: credit code: check character",
        agency.lower() + made[18:]: "seal id: agency code must be upper-case",
        made[:-1]: "seal id must be an agency's credit code, a dot and 12 upper-case hex",
        made[:19] + "G" * 12: "must be 12 upper-case hex digits",
        made.replace(".", "-"): "seal id must be",
    }
    for text, said in spoilt.items():
        with pytest.raises(InvalidSealId) as info:
            parse_seal_id(text)
        assert said in str(info.value), text
        assert info.value.code == "invalid-seal-id"


def test_the_license_id_pattern_is_the_parsers_form() -> None:
    assert re.fullmatch(LICENSE_ID_PATTERN, GOOD)
    assert re.fullmatch(LICENSE_ID_PATTERN, str(make_license_id(TYPE_CODE, "500000", "1")))
    assert not re.fullmatch(LICENSE_ID_PATTERN, GOOD[:-1] + "a")


def test_license_id_region_issuer_errors() -> None:
    lid = make_license_id(TYPE_CODE, "500000", "1")
    bad = _with_check(str(lid).replace(".500000.", ".990000."))
    with pytest.raises(InvalidLicenseId, match="issuer code: region code: unknown province 99"):
        LicenseId.parse(bad)
    with pytest.raises(InvalidLicenseId, match="upper-case"):
        LicenseId(TYPE_CODE.lower(), "500000", "1", 1)
    with pytest.raises(InvalidLicenseId, match="version must be 0–999"):
        LicenseId(TYPE_CODE, "500000", "1", -1)


# -- identity numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["11010519491231002X", "11010519491231002x "])
def test_gb11643_example(number: str) -> None:
    # The example of GB 11643-1999 (北京市朝阳区, born 1949-12-31, sequence 002).
    assert validate_identity_number(number) == "11010519491231002X"
    assert mask_identity_number(number) == "*****************X"


def test_mask_identity_number_shows_only_the_check_character() -> None:
    """Region, birth date and sequence hidden: what is left to try against the holder hash
    is every number of every region and century (docs/DESIGN.md, Security)."""
    number = "110101199003071234"[:17]
    number += identity_number_check_char(number)
    masked = mask_identity_number(number)
    assert masked == "*" * 17 + number[17]
    assert masked.count("*") == 17
    with pytest.raises(InvalidIdentityNumber, match="a digit or X"):
        mask_identity_number("11010519491231002Y")


def _id(first17: str) -> str:
    return first17 + identity_number_check_char(first17)


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("11010519491231002Y", "illegal character 'Y' at position 18 (a digit or X)"),
        ("110105194912310021", "check character should be 'X', got '1'"),
        ("1101051949123100", "must be 18 characters, got 16"),
        ("11010519491A31002X", "illegal character 'A' at position 12"),
        (_id("99010519491231002"), "unknown province 99"),
        (_id("11010519490230002"), "is not a real calendar date"),
        (_id("11010519491300002"), "is not a real calendar date"),
        (_id("11010500000101002"), "is not a real calendar date"),
        (_id("44052418800101001"), "between 1900-01-01 and 2100-01-01"),  # GB 11643's 2nd example
        (_id("11010521000102002"), "between 1900-01-01 and 2100-01-01"),
    ],
)
def test_bad_identity_numbers(number: str, message: str) -> None:
    with pytest.raises(InvalidIdentityNumber) as info:
        validate_identity_number(number)
    text = str(info.value)
    assert message in text
    assert number.strip()[:14] not in text  # personal data is never echoed
    assert info.value.code == "invalid-identity-number"


def test_identity_date_bounds_are_inclusive() -> None:
    assert validate_identity_number(_id("11010519000101002"))
    assert validate_identity_number(_id("11010521000101002"))
    assert identity_number_check_char("44052418800101001") == "4"  # GB 11643's 2nd example
    with pytest.raises(InvalidIdentityNumber, match="first 17 digits"):
        identity_number_check_char("4405241880010100X")


@given(identity_numbers())
def test_identity_number_detects_every_substitution(number: str) -> None:
    assert validate_identity_number(number) == number
    for i in range(18):
        for ch in "0123456789X":
            if ch != number[i]:
                with pytest.raises(InvalidIdentityNumber):
                    validate_identity_number(number[:i] + ch + number[i + 1 :])
