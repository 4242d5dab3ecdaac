"""Chinese identifiers: unified social credit codes (GB 32100), region codes (GB/T 2260),
license ids (DESIGN.md, ISO/IEC 7064 MOD 37,36) and resident identity numbers (GB 11643);
and eseal's seal ids.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from keys.errors import InvalidInput
from verifier.holder import (
    CREDIT_CODE_ALPHABET,
    IDENTITY_CHECK_CHARS,
    credit_check_char,
    identity_check_char,
)
from verifier.trust import CENTRAL_REGION
from verifier.trust import PROVINCES as PROVINCES  # noqa: PLC0414 (re-exported)

#: An integer as people and programs write one to eseal (a query parameter, a command's
#: argument): plain decimal digits, no sign but a minus on a non-zero value, no leading
#: zero, at most 19 digits. Not ``1_0``, ``+1``, ``01``, ``-0``, ``1.0`` or full-width
#: digits, which Python's and pydantic's lax parsing would read as numbers.
PLAIN_DECIMAL: Final = re.compile(r"0|-?[1-9][0-9]{0,18}", re.ASCII)


def first_repeated(names: Iterable[str]) -> str | None:
    """The first name given twice (a header, a query parameter, a form field, a CSV
    column): one parser would read the first, another the last, so eseal refuses both."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


class InvalidCreditCode(InvalidInput):
    """A unified social credit code that is malformed or fails its check character."""

    code = "invalid-credit-code"


class InvalidRegionCode(InvalidInput):
    """A region code (行政区划代码) that is not 6 digits or names no province."""

    code = "invalid-region-code"


class InvalidLicenseId(InvalidInput):
    """A license id (电子证照标识) that is malformed or fails its check character."""

    code = "invalid-license-id"


class InvalidSealId(InvalidInput):
    """A seal id that is malformed or whose agency's credit code fails its check character."""

    code = "invalid-seal-id"


class InvalidStampId(InvalidInput):
    """A seal stamp's id that is malformed, or whose seal id is."""

    code = "invalid-stamp-id"


class InvalidIdentityNumber(InvalidInput):
    """A resident identity number that is malformed or fails its check character.

    Messages never echo the number itself: it is personal data.
    """

    code = "invalid-identity-number"


# -- shared helpers -----------------------------------------------------------------------------

_DIGITS: Final = "0123456789"


def _normalise(text: str, what: str, error: type[InvalidInput]) -> str:
    """Strip surrounding white space and upper-case; only ASCII survives (no 'ﬀ' → 'FF')."""
    text = text.strip()
    for i, ch in enumerate(text, start=1):
        if not ch.isascii():
            raise error(f"{what}: illegal character {ch!r} at position {i}")
    return text.upper()


def _first_illegal(text: str, allowed: str) -> tuple[int, str] | None:
    """The 1-based position and character of the first character of ``text`` not in ``allowed``."""
    for i, ch in enumerate(text, start=1):
        if ch not in allowed:
            return i, ch
    return None


# -- region codes, GB/T 2260 (the province-level divisions: verifier.trust.PROVINCES) ------------


def validate_region_code(code: str) -> str:
    """Return the stripped 6-digit region code, or raise :class:`InvalidRegionCode`.

    Digits 1–2 must name a province-level division; digits 3–6 (prefecture, county) are only
    required to be digits: the full code table changes every year and identity numbers keep
    codes that have since been withdrawn, so no finer check is sound without it.
    """
    code = code.strip()
    if len(code) != 6:
        raise InvalidRegionCode(f"region code must be 6 digits, got {len(code)} characters")
    if (bad := _first_illegal(code, _DIGITS)) is not None:
        raise InvalidRegionCode(
            f"region code: illegal character {bad[1]!r} at position {bad[0]} (digits only)"
        )
    if code[:2] not in PROVINCES:
        raise InvalidRegionCode(f"region code: unknown province {code[:2]} in {code!r}")
    return code


def _province_ranges() -> str:
    """The province-level codes of :data:`PROVINCES` as ranges: '11–15, 21–23, …, 82'."""
    numbers = sorted(int(p) for p in PROVINCES)
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def validate_node_region(code: str) -> str:
    """The stripped region code a node may be created for (``eseal init``), or
    :class:`InvalidRegionCode`: a code of :func:`validate_region_code` (6 digits, its first
    two a province-level division) at one of GB/T 2260's levels: a province (``xx0000``), a
    city (``xxxx00``) or a county (``xxxxxx``), so never ``xx00yy``, a county of no city.
    Nor the central government organs' ``100000`` (中央国家机关), which credit codes carry
    but no region's node serves. Only creating a node is held to this: a node made before
    opens as it is, and documents of any 6-digit region code are read as they are."""
    stripped = code.strip()
    if stripped == CENTRAL_REGION:
        raise InvalidRegionCode(
            f"region code {CENTRAL_REGION} is the central government organs' (中央国家机关),"
            " not a region a node is made for: give a province's, city's or county's code"
        )
    try:
        code = validate_region_code(code)
    except InvalidRegionCode as e:
        raise InvalidRegionCode(
            f"{e.message}: a node's region code is 6 digits, the first two a province-level"
            f" code of GB/T 2260 ({_province_ranges()})"
        ) from e
    if code[2:4] == "00" and code[4:] != "00":
        raise InvalidRegionCode(
            f"region code {code!r} is of no GB/T 2260 level: a node's region is a province"
            " (xx0000), a city (xxxx00) or a county (xxxxxx), and a county's city digits (3–4)"
            " are not 00"
        )
    return code


def province_name(code: str) -> str:
    """The Chinese name of the province-level division of a region code: '500000' → '重庆市'."""
    return PROVINCES[validate_region_code(code)[:2]]


# -- unified social credit codes, GB 32100-2015 --------------------------------------------------


def _credit_illegal(code: str) -> InvalidCreditCode | None:
    if (bad := _first_illegal(code, CREDIT_CODE_ALPHABET)) is None:
        return None
    return InvalidCreditCode(
        f"credit code: illegal character {bad[1]!r} at position {bad[0]}"
        " (allowed: digits and upper-case letters except I, O, S, V, Z)"
    )


def credit_code_check_char(first17: str) -> str:
    """The check character (position 18) for the first 17 characters of a credit code.

    GB 32100-2015 §5: C18 = 31 − (Σ_{i=1..17} C_i · W_i mod 31), with 31 written as '0'.
    ``first17`` must already be upper-case (see :func:`validate_credit_code`).
    """
    if len(first17) != 17:
        raise InvalidCreditCode(
            f"credit code check: need the first 17 characters, got {len(first17)}"
        )
    if (error := _credit_illegal(first17)) is not None:
        raise error
    return credit_check_char(first17)


@functools.lru_cache(maxsize=4096)  # pure, and on the issuance hot path
def validate_credit_code(code: str) -> str:
    """Return the credit code stripped and upper-cased, or raise :class:`InvalidCreditCode`.

    Layout: 1 registration authority, 2 organisation kind, 3–8 region code, 9–17 organisation
    code (GB 11714), 18 check character. Positions 1–2 and the GB 11714 check character at
    position 17 are not enforced: real codes exist outside the published lists.

    A person's resident identity number given instead is refused as one, echoing no part of
    it (the refusal of it as a credit code would quote digits 3–8 as a region code).
    """
    try:
        return _credit_code(code)
    except InvalidCreditCode as refused:
        try:
            validate_identity_number(code)
        except InvalidIdentityNumber:
            raise refused from None
        raise InvalidCreditCode(
            "credit code: this is a resident identity number (a person's), not an "
            "organisation's unified social credit code"
        ) from None


def _credit_code(code: str) -> str:
    code = _normalise(code, "credit code", InvalidCreditCode)
    if len(code) != 18:
        raise InvalidCreditCode(f"credit code must be 18 characters, got {len(code)}")
    if (error := _credit_illegal(code)) is not None:
        raise error
    region = code[2:8]
    if (bad := _first_illegal(region, _DIGITS)) is not None:
        raise InvalidCreditCode(
            f"credit code: region code (positions 3–8) must be digits,"
            f" got {bad[1]!r} at position {bad[0] + 2}"
        )
    if region != CENTRAL_REGION and region[:2] not in PROVINCES:
        raise InvalidCreditCode(
            f"credit code: unknown province {region[:2]} in region code {region!r} (positions 3–8)"
        )
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise InvalidCreditCode(
            f"credit code: check character should be {expected!r}, got {code[17]!r}"
        )
    return code


# -- ISO/IEC 7064 MOD 37,36 (hybrid system) -----------------------------------------------------

MOD37_36_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MOD37_36_VALUE: Final = {ch: i for i, ch in enumerate(MOD37_36_ALPHABET)}
_M: Final = 36


def _mod37_36_state(text: str) -> int:
    """P_n+1 after ``text``: P_1 = M; S_j = (P_j + a_j) mod M, 0 → M; P_j+1 = 2·S_j mod (M+1)."""
    p = _M
    for ch in text:
        s = (p + _MOD37_36_VALUE[ch]) % _M or _M
        p = (2 * s) % (_M + 1)
    return p


def mod37_36_check_char(s: str) -> str:
    """The ISO/IEC 7064 MOD 37,36 check character of ``s`` (characters 0-9, A-Z).

    The check value c satisfies (P + c) mod M = 1, hence c = (M + 1 − P) mod M.
    """
    if (bad := _first_illegal(s, MOD37_36_ALPHABET)) is not None:
        raise InvalidLicenseId(
            f"MOD 37,36: illegal character {bad[1]!r} at position {bad[0]} (allowed: 0-9, A-Z)"
        )
    return MOD37_36_ALPHABET[(_M + 1 - _mod37_36_state(s)) % _M]


def mod37_36_is_valid(s: str) -> bool:
    """Whether ``s`` ends with its correct MOD 37,36 check character: (P + c) mod M = 1."""
    if not s or _first_illegal(s, MOD37_36_ALPHABET) is not None:
        return False
    return (_mod37_36_state(s[:-1]) + _MOD37_36_VALUE[s[-1]]) % _M == 1


# -- license ids ----------------------------------------------------------------------------------

LICENSE_ID_ROOT: Final = "1.2.156.3005.2"
MAX_LICENSE_ID_LENGTH: Final = 128
#: The form :meth:`LicenseId.parse` takes, as a regular expression (for those describing
#: it: the check character and the credit codes' are the parser's to check).
LICENSE_ID_PATTERN: Final = (
    r"^1\.2\.156\.3005\.2\.[0-9A-Z]{21}\.([0-9A-Z]{18}|[0-9]{6})\.[0-9A-Z]{1,20}\.[0-9]{3}"
    r"\.[0-9A-Z]$"
)
_SERIAL: Final = re.compile(r"[0-9A-Z]{1,20}")
_TYPE_SUFFIX: Final = re.compile(r"[0-9]{3}")


def _check_type_code(type_code: str) -> None:
    if len(type_code) != 21:
        raise InvalidLicenseId(
            "license id: type code must be 21 characters (an 18-character credit code"
            f" and 3 digits), got {len(type_code)}"
        )
    _check_credit_part("type code", type_code[:18])
    if not _TYPE_SUFFIX.fullmatch(type_code[18:]):
        raise InvalidLicenseId(
            f"license id: type code must end in 3 digits, got {type_code[18:]!r}"
        )


def _check_credit_part(what: str, code: str) -> None:
    try:
        normalised = validate_credit_code(code)
    except InvalidCreditCode as e:
        raise InvalidLicenseId(f"license id: {what}: {e.message}") from e
    if normalised != code:
        raise InvalidLicenseId(f"license id: {what} must be upper-case without spaces")


def _check_issuer_code(issuer_code: str) -> None:
    if len(issuer_code) == 18:
        _check_credit_part("issuer code", issuer_code)
    elif len(issuer_code) == 6:
        try:
            validate_region_code(issuer_code)
        except InvalidRegionCode as e:
            raise InvalidLicenseId(f"license id: issuer code: {e.message}") from e
    else:
        raise InvalidLicenseId(
            "license id: issuer code must be an 18-character credit code or a 6-digit"
            f" region code, got {len(issuer_code)} characters"
        )


@dataclass(frozen=True, slots=True)
class LicenseId:
    """``1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>``.

    type code: credit code + 3 digits; issuer code: credit code or region code; serial:
    1–20 characters [0-9A-Z]; version: 0–999, written as 3 digits; check: MOD 37,36 over
    type code ‖ issuer code ‖ serial ‖ version (root and dots removed). Fields are canonical
    (upper-case, no spaces): use :func:`make_license_id` for lenient input.
    """

    type_code: str
    issuer_code: str
    serial: str
    version: int

    def __post_init__(self) -> None:
        _check_type_code(self.type_code)
        _check_issuer_code(self.issuer_code)
        if not _SERIAL.fullmatch(self.serial):
            raise InvalidLicenseId(
                "license id: serial must be 1–20 characters of 0-9 and A-Z,"
                f" got {self.serial[:40]!r}"
            )
        if isinstance(self.version, bool) or not 0 <= self.version <= 999:
            raise InvalidLicenseId(f"license id: version must be 0–999, got {self.version!r}")

    @property
    def check_char(self) -> str:
        """The MOD 37,36 check character over the id without root and dots."""
        body = f"{self.type_code}{self.issuer_code}{self.serial}{self.version:03d}"
        return mod37_36_check_char(body)

    def __str__(self) -> str:
        return (
            f"{LICENSE_ID_ROOT}.{self.type_code}.{self.issuer_code}.{self.serial}"
            f".{self.version:03d}.{self.check_char}"
        )

    @classmethod
    def parse(cls, text: str) -> LicenseId:
        """Parse a full license id strictly (no trimming, no case folding), check included."""
        if len(text) > MAX_LICENSE_ID_LENGTH:
            raise InvalidLicenseId(
                f"license id is longer than {MAX_LICENSE_ID_LENGTH} characters ({len(text)})"
            )
        prefix = LICENSE_ID_ROOT + "."
        if not text.startswith(prefix):
            raise InvalidLicenseId(f"license id must start with {prefix!r}")
        parts = text[len(prefix) :].split(".")
        if len(parts) != 5:
            raise InvalidLicenseId(
                "license id must have 5 dot-separated parts after the root (type code,"
                f" issuer code, serial, version, check), got {len(parts)}"
            )
        type_code, issuer_code, serial, version, check = parts
        if not _TYPE_SUFFIX.fullmatch(version):
            raise InvalidLicenseId(f"license id: version must be 3 digits, got {version!r}")
        if len(check) != 1 or check not in MOD37_36_ALPHABET:
            raise InvalidLicenseId(
                f"license id: check must be one character of 0-9 and A-Z, got {check!r}"
            )
        license_id = cls(type_code, issuer_code, serial, int(version))
        if check != license_id.check_char:
            raise InvalidLicenseId(
                f"license id: check character should be {license_id.check_char!r}, got {check!r}"
            )
        return license_id

    @property
    def issuer_region(self) -> str:
        """The region code of the issuer: a credit code's (positions 3–8; ``100000`` for
        the central government, whose agencies may be registered in any region), or the
        issuer code itself where it is a region code."""
        return self.issuer_code[2:8] if len(self.issuer_code) == 18 else self.issuer_code

    def with_version(self, n: int) -> LicenseId:
        """The same license at version ``n`` (renewal or change)."""
        return dataclasses.replace(self, version=n)


def make_license_id(type_code: str, issuer_code: str, serial: str, version: int = 1) -> LicenseId:
    """Build a license id from parts, trimming them and folding them to upper case first."""
    return LicenseId(
        _normalise(type_code, "license id: type code", InvalidLicenseId),
        _normalise(issuer_code, "license id: issuer code", InvalidLicenseId),
        _normalise(serial, "license id: serial", InvalidLicenseId),
        version,
    )


# -- seal ids -------------------------------------------------------------------------------------

#: Hex digits of a seal id's random part (48 bits).
SEAL_SERIAL_HEX: Final = 12
#: A seal id: its agency's credit code, a dot and its random part (upper-case hex).
SEAL_ID_LENGTH: Final = 18 + 1 + SEAL_SERIAL_HEX
_SEAL_SERIAL: Final = re.compile(f"[0-9A-F]{{{SEAL_SERIAL_HEX}}}")
#: The form :func:`parse_seal_id` takes, likewise.
SEAL_ID_PATTERN: Final = rf"^[0-9A-Z]{{18}}\.[0-9A-F]{{{SEAL_SERIAL_HEX}}}$"


def make_seal_id(agency_code: str) -> str:
    """A new seal id for the agency of (valid, canonical) credit code ``agency_code``."""
    return f"{agency_code}.{secrets.token_hex(SEAL_SERIAL_HEX // 2).upper()}"


def parse_seal_id(text: str) -> str:
    """Return ``text`` if it is a seal id as :func:`make_seal_id` writes one (strictly: no
    trimming, no case folding), or raise :class:`InvalidSealId` naming its flaw."""
    form = f"an agency's credit code, a dot and {SEAL_SERIAL_HEX} upper-case hex digits"
    if len(text) != SEAL_ID_LENGTH or text[18] != ".":
        raise InvalidSealId(f"seal id must be {form} ({SEAL_ID_LENGTH} characters)")
    agency_code, serial = text[:18], text[19:]
    try:
        normalised = validate_credit_code(agency_code)
    except InvalidCreditCode as e:
        raise InvalidSealId(f"seal id: agency code: {e.message}") from e
    if normalised != agency_code:
        raise InvalidSealId("seal id: agency code must be upper-case")
    if not _SEAL_SERIAL.fullmatch(serial):
        raise InvalidSealId(
            f"seal id: the part after the agency's credit code must be {SEAL_SERIAL_HEX} "
            "upper-case hex digits"
        )
    return text


#: Hex digits of a stamp id's random part (40 bits), after its seal's id.
STAMP_SERIAL_HEX: Final = 10
#: A stamp id: its seal's id, a dot and its random part (upper-case hex).
STAMP_ID_LENGTH: Final = SEAL_ID_LENGTH + 1 + STAMP_SERIAL_HEX
_STAMP_SERIAL: Final = re.compile(f"[0-9A-F]{{{STAMP_SERIAL_HEX}}}")
#: The form :func:`parse_stamp_id` takes, likewise.
STAMP_ID_PATTERN: Final = SEAL_ID_PATTERN.removesuffix("$") + rf"\.[0-9A-F]{{{STAMP_SERIAL_HEX}}}$"


def make_stamp_id(seal_id: str) -> str:
    """A new stamp id for the seal ``seal_id``."""
    return f"{seal_id}.{secrets.token_hex(STAMP_SERIAL_HEX // 2).upper()}"


def parse_stamp_id(text: str) -> str:
    """Return ``text`` if it is a stamp id as :func:`make_stamp_id` writes one (strictly),
    or raise :class:`InvalidStampId` naming its flaw."""
    if len(text) != STAMP_ID_LENGTH or text[SEAL_ID_LENGTH] != ".":
        raise InvalidStampId(
            f"stamp id must be its seal's id, a dot and {STAMP_SERIAL_HEX} upper-case hex "
            f"digits ({STAMP_ID_LENGTH} characters)"
        )
    try:
        parse_seal_id(text[:SEAL_ID_LENGTH])
    except InvalidSealId as e:
        raise InvalidStampId(f"stamp id: {e.message}") from e
    if not _STAMP_SERIAL.fullmatch(text[SEAL_ID_LENGTH + 1 :]):
        raise InvalidStampId(
            f"stamp id: the part after the seal id must be {STAMP_SERIAL_HEX} upper-case hex digits"
        )
    return text


# -- resident identity numbers, GB 11643-1999 ----------------------------------------------------

_EARLIEST_BIRTH: Final = datetime.date(1900, 1, 1)
_LATEST_BIRTH: Final = datetime.date(2100, 1, 1)


def identity_number_check_char(first17: str) -> str:
    """The check character of an identity number: "10X98765432"[Σ a_i · W_i mod 11]."""
    if len(first17) != 17 or _first_illegal(first17, _DIGITS) is not None:
        raise InvalidIdentityNumber("identity number check: need the first 17 digits")
    return identity_check_char(first17)


def validate_identity_number(s: str) -> str:
    """Return the identity number stripped and upper-cased, or raise :class:`InvalidIdentityNumber`.

    Digits 1–6 region code (known province), 7–14 birth date YYYYMMDD (a real date from
    1900-01-01 to 2100-01-01), 15–17 sequence, 18 check character (digit or X).
    """
    s = _normalise(s, "identity number", InvalidIdentityNumber)
    if len(s) != 18:
        raise InvalidIdentityNumber(f"identity number must be 18 characters, got {len(s)}")
    if (bad := _first_illegal(s[:17], _DIGITS)) is not None:
        raise InvalidIdentityNumber(
            f"identity number: illegal character {bad[1]!r} at position {bad[0]} (digits only)"
        )
    if s[17] not in IDENTITY_CHECK_CHARS:
        raise InvalidIdentityNumber(
            f"identity number: illegal character {s[17]!r} at position 18 (a digit or X)"
        )
    if s[:2] not in PROVINCES:
        raise InvalidIdentityNumber(f"identity number: unknown province {s[:2]} (digits 1–2)")
    try:
        born = datetime.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        raise InvalidIdentityNumber(
            "identity number: the birth date (digits 7–14) is not a real calendar date"
        ) from None
    if not _EARLIEST_BIRTH <= born <= _LATEST_BIRTH:
        raise InvalidIdentityNumber(
            "identity number: the birth date (digits 7–14) must be between 1900-01-01"
            " and 2100-01-01"
        )
    expected = identity_number_check_char(s[:17])
    if s[17] != expected:
        raise InvalidIdentityNumber(
            f"identity number: check character should be {expected!r}, got {s[17]!r}"
        )
    return s


def mask_identity_number(s: str) -> str:
    """Validate and mask all but the check character: '*****************4'. The region, the
    birth date and the sequence stay hidden, so the candidates left for the holder hash are
    too many to try (docs/DESIGN.md, Security); licenses issued before showed the first 6
    and the last 4 ('110101********1234')."""
    valid = validate_identity_number(s)
    return "*" * 17 + valid[17]
