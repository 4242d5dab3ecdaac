"""Trust bundles and the trust store: what a window knows about each region it trusts.

A region's bundle (signed by its root key, in a DSSE envelope) lists its agencies and
seals with their root-certified key statements and status, the license types it issues
(names, field labels and the order of the fields, so the window needs no catalogue), its
log key, and the checkpoint it was cut at. A peer pins a region by its root key id.

The envelope (:mod:`verifier.envelope`) has type ``application/vnd.eseal.trust-bundle+json``;
one of its signatures must be by the key ``root_public_key`` names, with that key's id as
``keyid``: check that key id against the pinned one before trusting anything the bundle
says. The payload is UTF-8 JSON (written with sorted keys), no object repeating a key; every
time is an integer Unix time from 0 to 253402300799 (year 9999); names, codes and labels are
text of at most 256 characters with no control, format or line-separator character:

==================== ========================================================================
field                value
==================== ========================================================================
``format``           ``"eseal-trust-bundle/v1"``
``region``           GB/T 2260 region code, six digits, e.g. ``"500000"``
``name``             the region's name, e.g. ``"重庆市"``
``root_public_key``  hex (64 digits) of the root's raw 32-byte Ed25519 public key: it signs
                     the envelope and every key statement below
``log_verifier``     the log key as a C2SP signed-note verifier key,
                     ``<origin>+<8 hex key hash>+<base64(0x01 ‖ raw key)>``: it signs the
                     region's checkpoints and revocation snapshots
``issued_at``        time the bundle was cut
``checkpoint``       the region's ledger checkpoint at the cut, a signed note (≤ 4,096 chars)
                     signed by the log key
``agencies``         list of ``{"code": credit code, "name", "types": [license type codes],
                     "keys": [key record]}``; ``types`` is what the node lets the agency
                     issue, a verifier checks the key statement's ``scope`` instead
``seals``            list of ``{"id", "agency_code", "name", "seal_type", "key": key record,
                     "image_png": base64 PNG or null}``
``license_types``    list of ``{"code", "name", "name_en", "fields": [field names in print
                     order, ≤ 64], "labels": {field name: label}}`` (``name_en`` and
                     ``fields`` may be absent: ``""`` and ``[]``)
==================== ========================================================================

A key record is ``{"statement": base64 of the signed key statement (:mod:`keys.statements`),
"status": "active" | "retired" | "revoked", "retired_at": time or null, "revoked_at": time or
null}`` (absent is null, as is a seal's ``image_png``). Each agency and seal is of the
region's province or of the central government (credit code positions 3-4 equal to the
region code's first two digits, or positions 3-8 ``100000``), and each key is listed under
the agency code or seal id its statement's ``sub`` names; a bundle that breaks either rule is
refused whole.

In what order a bundle is read (:func:`open_bundle`): its signing key is in its payload, so a
verifier that pins no root can check the signature only once the payload is parsed, and the
signature then proves little (whoever wrote the file may have signed it with a key of their
own); the payload is bounded before it is parsed, by its size and by its counts of objects,
lists and values (its brackets and commas). A verifier that pins the root checks the
envelope's signature by the pinned key before it parses anything of the payload: it takes
the key from the payload's bytes where a ``"root_public_key"`` member holds the 64 hex digits
in a plain string (as every JSON writer writes them), signed by a signature whose ``keyid``
is pinned, and once the signature checks out and the payload is parsed, requires that
member to be that key.

What a verifier makes of the key that signed a document (the ``authority`` step), in this
order, the first failure giving the verdict:

1. record ``revoked``: ``KEY_REVOKED`` (a seal's: ``REVOKED``, a seal being its key),
   whenever the document was signed (``revoked_at`` tells people when);
2. record ``retired`` and the document signed (``iat``) after ``retired_at``:
   ``ISSUER_NOT_AUTHORISED``;
3. the statement not signed by the root (``iss`` the root's key id, the signature over
   ``DOMAIN`` ‖ statement bytes): ``ISSUER_NOT_AUTHORISED``; its ``st`` ``revoked``:
   ``KEY_REVOKED``; its role not ``agency`` for a license, ``seal`` for a stamp, or a
   license's type (``"t"``) not in its ``scope``: ``ISSUER_NOT_AUTHORISED``;
4. the document signed outside the statement's validity (not ``nbf ≤ iat ≤ exp``):
   ``ISSUER_NOT_AUTHORISED``;
5. a license's region (``"r"``) not the bundle's: ``ISSUER_NOT_AUTHORISED``.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from nacl.signing import SigningKey

from keys import ed25519
from keys.errors import PARSE_ERRORS, CheckFailed, InvalidInput, shown
from keys.statements import Role, SignedStatement, verify_statement_chain
from keys.strictjson import MalformedJson, loads_strict
from verifier.claims import REGION_CODE, is_time
from verifier.envelope import BUNDLE_TYPE as BUNDLE_TYPE  # noqa: PLC0414 (re-exported: its format's name)
from verifier.envelope import (
    EnvelopeSignatureInvalid,
    json_containers,
    json_values,
    read_envelope,
    require_signature,
    seal_envelope,
    signed_by,
)

BUNDLE_FORMAT = "eseal-trust-bundle/v1"
#: A bundle's payload: what an envelope of MAX_ENVELOPE holds in base64, less its own
#: fields (seal images, up to 2 MiB each, take the most room).
MAX_BUNDLE = 47 * 1024 * 1024
#: The objects and lists a bundle may hold (its brackets, counted before it is parsed, any
#: in its names included); 47 MiB of empty lists would parse to gigabytes.
MAX_BUNDLE_CONTAINERS = 1_000_000
#: The values a bundle may hold, its objects and lists included (:func:`json_values`: its
#: commas and brackets, counted before it is parsed, any in its names included). A seal or
#: an agency with a key is some 12 of them, a license type 5 and two a field, so this is
#: some 80,000 seals or agencies; 47 MiB of two-letter strings would parse to 0.7 GB (a
#: value parses to 30 to 200 bytes, so this bounds a bundle's parse to some 200 MB).
MAX_BUNDLE_VALUES = 1_000_000
#: Where a window that pins the root finds the root's key in a payload it has not parsed:
#: a ``"root_public_key"`` member as JSON writers write it, the 64 hex digits in a plain
#: string (JSON's white space around the colon allowed). Of such members, the first
#: :data:`MAX_ROOT_MEMBERS` are looked at (a bundle has one; more are a forger's decoys).
_ROOT_MEMBER = re.compile(rb'"root_public_key"[ \t\n\r]*:[ \t\n\r]*"([0-9a-fA-F]{64})"')
MAX_ROOT_MEMBERS = 16


class MalformedBundle(InvalidInput):
    """The trust bundle is not well formed."""

    code = "malformed-bundle"


class BundleNotPinned(CheckFailed):
    """The bundle's root key is not the pinned one."""

    code = "bundle-not-pinned"


@dataclass(frozen=True)
class KeyRecord:
    """A signing key (agency or seal) as the bundle states it."""

    statement: SignedStatement
    status: str  # active | retired | revoked
    revoked_at: int | None = None
    retired_at: int | None = None

    @property
    def key_id(self) -> bytes:
        return self.statement.statement.key_id

    @property
    def public_key(self) -> bytes:
        return self.statement.statement.public_key


@dataclass(frozen=True)
class AgencyRecord:
    code: str
    name: str
    types: tuple[str, ...]
    keys: tuple[KeyRecord, ...]


@dataclass(frozen=True)
class SealRecord:
    id: str
    agency_code: str
    name: str
    seal_type: str
    key: KeyRecord
    image_png: bytes | None = None


@dataclass(frozen=True)
class LicenseTypeInfo:
    code: str
    name: str
    labels: dict[str, str] = field(hash=False)
    #: The field names in the catalogue's order, the order of the printed license (the
    #: bundle's JSON sorts the labels' keys, so the order travels as its own list).
    fields: tuple[str, ...] = ()
    #: The type's English name, for an English window ("" when the bundle has none).
    name_en: str = ""

    def in_order(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """``names`` in the catalogue's order; names it does not list come last."""
        return _in_order(self.fields, names)


@functools.lru_cache(maxsize=1024)
def _in_order(order: tuple[str, ...], names: tuple[str, ...]) -> tuple[str, ...]:
    rank = {name: i for i, name in enumerate(order)}
    return tuple(sorted(names, key=lambda name: rank.get(name, len(rank))))


@dataclass(frozen=True)
class TrustBundle:
    region: str
    name: str
    root_public_key: bytes
    log_verifier: str
    issued_at: int
    checkpoint: str
    agencies: tuple[AgencyRecord, ...]
    seals: tuple[SealRecord, ...]
    license_types: tuple[LicenseTypeInfo, ...]

    @property
    def root_key_id(self) -> bytes:
        return ed25519.key_id(self.root_public_key)

    def to_json(self) -> dict[str, Any]:
        def key(k: KeyRecord) -> dict[str, Any]:
            return {
                "statement": _b64(k.statement.to_bytes()),
                "status": k.status,
                "revoked_at": k.revoked_at,
                "retired_at": k.retired_at,
            }

        return {
            "format": BUNDLE_FORMAT,
            "region": self.region,
            "name": self.name,
            "root_public_key": self.root_public_key.hex(),
            "log_verifier": self.log_verifier,
            "issued_at": self.issued_at,
            "checkpoint": self.checkpoint,
            "agencies": [
                {
                    "code": a.code,
                    "name": a.name,
                    "types": list(a.types),
                    "keys": [key(k) for k in a.keys],
                }
                for a in self.agencies
            ],
            "seals": [
                {
                    "id": s.id,
                    "agency_code": s.agency_code,
                    "name": s.name,
                    "seal_type": s.seal_type,
                    "key": key(s.key),
                    "image_png": _b64(s.image_png) if s.image_png else None,
                }
                for s in self.seals
            ],
            "license_types": [
                {
                    "code": t.code,
                    "name": t.name,
                    "name_en": t.name_en,
                    "labels": t.labels,
                    "fields": list(t.fields),
                }
                for t in self.license_types
            ],
        }

    @classmethod
    def from_json(cls, raw: Any) -> TrustBundle:
        try:
            if raw["format"] != BUNDLE_FORMAT:
                raise MalformedBundle(
                    f"bundle format {shown(raw['format'])} is not {BUNDLE_FORMAT}"
                )
            bundle = cls(
                region=_region(raw["region"]),
                name=_text(raw["name"]),
                root_public_key=bytes.fromhex(raw["root_public_key"]),
                log_verifier=_text(raw["log_verifier"]),
                issued_at=_time(raw["issued_at"], "issued_at"),
                checkpoint=_note(raw["checkpoint"]),
                agencies=tuple(
                    AgencyRecord(
                        _text(a["code"]),
                        _text(a["name"]),
                        tuple(_text(t) for t in a["types"]),
                        tuple(_key(k) for k in a["keys"]),
                    )
                    for a in raw["agencies"]
                ),
                seals=tuple(
                    SealRecord(
                        _text(s["id"]),
                        _text(s["agency_code"]),
                        _text(s["name"]),
                        _text(s["seal_type"]),
                        _key(s["key"]),
                        _unb64(s["image_png"]) if s.get("image_png") else None,
                    )
                    for s in raw["seals"]
                ),
                license_types=tuple(
                    LicenseTypeInfo(
                        _text(t["code"]),
                        _text(t["name"]),
                        {_text(k): _text(v) for k, v in t["labels"].items()},
                        _names(t.get("fields", [])),
                        _text(t.get("name_en", "")),
                    )
                    for t in raw["license_types"]
                ),
            )
        except MalformedBundle:
            raise
        except PARSE_ERRORS as e:
            raise MalformedBundle(f"trust bundle is malformed: {shown(e, 200)}") from e
        _check_listing(bundle)
        return bundle


#: Province-level divisions of GB/T 2260 by their 2-digit code (eseal.ids validates region
#: and credit codes by them; a window names a stamp's region only by one of them).
PROVINCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
        "21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
        "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省",
        "36": "江西省", "37": "山东省",
        "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
        "46": "海南省",
        "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
        "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
        "65": "新疆维吾尔自治区",
        "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
    }
)  # fmt: skip


#: The region part of a unified social credit code (GB 32100, positions 3-8) of an agency
#: registered by the central government, whatever region it serves.
CENTRAL_REGION = "100000"


def agency_of_region(code: str, region: str) -> bool:
    """Whether a region may vouch for the agency of credit code ``code``: one of its own
    province (the code's positions 3-4, as its region code's first two digits) or of the
    central government. So no region's bundle can speak for another province's agencies
    (or their seals), which carry no region of their own in a document."""
    return code[2:4] == region[:2] or code[2:8] == CENTRAL_REGION


def _check_listing(bundle: TrustBundle) -> None:
    """The bundle's agencies and seals are of its province (:func:`agency_of_region`), and
    each key is listed under the agency or seal its statement certifies it for: the
    statement (its certificate, signed by the root) and the listing (the index a window
    looks keys up by) say the same, or the bundle is refused."""
    for code in [a.code for a in bundle.agencies] + [s.agency_code for s in bundle.seals]:
        if not agency_of_region(code, bundle.region):
            raise MalformedBundle(
                f"agency {shown(code)} is not of region {bundle.region}'s province (nor "
                "central): a region vouches only for its own agencies and their seals"
            )
    listed = [(a.code, "agency", k) for a in bundle.agencies for k in a.keys]
    listed += [(s.id, "seal", s.key) for s in bundle.seals]
    for owner, what, key in listed:
        subject = key.statement.statement.subject
        if subject != owner:
            raise MalformedBundle(
                f"key {key.key_id.hex()} is listed under {what} {shown(owner)} but certified "
                f"for {shown(subject)}"
            )


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > 64:
        raise MalformedBundle("expected a list of at most 64 field names")
    return tuple(_text(name) for name in value)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


#: Control, format (bidi), line and paragraph separator, surrogate: what could rewrite or
#: break a line in a terminal or on the window.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def displayable(text: str) -> bool:
    """Whether ``text`` has no control, format or line-breaking character. Unlike
    ``str.isprintable`` it takes the ideographic and no-break spaces, private use and
    characters newer than this Python's Unicode tables (a name registered on a newer
    Python must still read here)."""
    return all(unicodedata.category(ch) not in _HIDDEN for ch in text)


def _text(value: Any, limit: int = 256) -> str:
    """Displayable text (names, codes, labels are shown in terminals and on the window: no
    control or format characters a signer could use to rewrite what is displayed)."""
    if not isinstance(value, str) or len(value) > limit or not displayable(value):
        raise MalformedBundle(f"expected printable text of at most {limit} characters")
    return value


def _region(value: Any) -> str:
    """A region code as a license names it (GB/T 2260: six digits)."""
    if type(value) is not str or not REGION_CODE.fullmatch(value):
        raise MalformedBundle("the bundle's region must be a GB/T 2260 code of six digits")
    return value


def _note(value: Any) -> str:
    """A signed note (lines of text): checked as a checkpoint where it is used."""
    if not isinstance(value, str) or len(value) > 4096:
        raise MalformedBundle("expected a signed note of at most 4096 characters")
    return value


def _key(raw: Any) -> KeyRecord:
    status = _text(raw["status"])
    if status not in {"active", "retired", "revoked"}:
        raise MalformedBundle(f"unknown key status {shown(status)}")
    return KeyRecord(
        SignedStatement.from_bytes(_unb64(raw["statement"])),
        status,
        _time_or_none(raw.get("revoked_at"), "revoked_at"),
        _time_or_none(raw.get("retired_at"), "retired_at"),
    )


def _time_or_none(value: Any, what: str) -> int | None:
    if value is None or is_time(value):
        return value
    raise MalformedBundle(f"a key's {what} must be a Unix time or absent")


def _time(value: Any, what: str) -> int:
    """A Unix time as a claim may hold it: an int, not a float, a bool or a string."""
    if not is_time(value):
        raise MalformedBundle(f"the bundle's {what} must be a Unix time")
    return value


class BundleTooLarge(InvalidInput):
    """The bundle would be larger than windows accept (:data:`MAX_BUNDLE`)."""

    code = "bundle-too-large"
    http_status = 413


def sign_bundle(bundle: TrustBundle, root_key: SigningKey) -> bytes:
    """The signed bundle; refused when windows would refuse it for its size or its counts
    of objects and lists, and of values."""
    payload = json.dumps(bundle.to_json(), ensure_ascii=False, sort_keys=True).encode()
    if len(payload) > MAX_BUNDLE:
        raise BundleTooLarge(
            f"the trust bundle would be {len(payload) / 2**20:.1f} MiB, over the "
            f"{MAX_BUNDLE // 2**20} MiB windows accept (seal images take the most room)"
        )
    if (held := json_containers(payload)) > MAX_BUNDLE_CONTAINERS:
        raise BundleTooLarge(
            f"the trust bundle would hold {held:,} objects and lists (brackets in its names "
            f"counted), over the {MAX_BUNDLE_CONTAINERS:,} windows accept"
        )
    if (held := json_values(payload)) > MAX_BUNDLE_VALUES:
        raise BundleTooLarge(
            f"the trust bundle would hold {held:,} values (commas and brackets in its names "
            f"counted), over the {MAX_BUNDLE_VALUES:,} windows accept"
        )
    return seal_envelope(BUNDLE_TYPE, payload, root_key)


def open_bundle(
    data: bytes,
    *,
    pinned_root_key_id: bytes | None = None,
    pinned_roots: Collection[bytes] = (),
) -> TrustBundle:
    """The bundle in ``data``, checked to be signed by the root key it names and, with a
    pin, that this root is the pinned one (``pinned_root_key_id``), or one of the pinned
    ones (``pinned_roots``: the caller then matches the bundle's region to its pin).

    With a pin, the envelope's signature by the pinned root is checked before the payload
    is parsed (:func:`_pinned_signer`): bytes no pinned root signed are never parsed.
    Without one, the root's key is known only from the payload, which whoever wrote the
    file could have signed with a key of their own: the payload is parsed first, bounded
    by its size and its counts of objects, lists and values, taken before it is parsed."""
    payload, signatures = read_envelope(data, BUNDLE_TYPE)
    pins = frozenset(pinned_roots if pinned_root_key_id is None else [pinned_root_key_id])
    signer = _pinned_signer(payload, signatures, pins) if pins else None
    bundle = _parse_bundle(payload)
    if signer is None:
        require_signature(BUNDLE_TYPE, payload, signatures, bundle.root_public_key)
    elif bundle.root_public_key != signer:  # the pinned root signed a bundle of another root
        raise BundleNotPinned(
            f"bundle root key {bundle.root_key_id.hex()} is not the pinned "
            f"{ed25519.key_id(signer).hex()}, which signed it"
        )
    return bundle


def _pinned_signer(
    payload: bytes, signatures: list[tuple[bytes, bytes]], pins: frozenset[bytes]
) -> bytes:
    """The key of the pinned root that signed ``payload``, found and checked before the
    payload is parsed (where it names its root, :data:`_ROOT_MEMBER`), or an error."""
    claimed = ", ".join(sorted({kid.hex() for kid, _ in signatures}))
    pinned = ", ".join(sorted(pin.hex() for pin in pins))
    named = "the pinned" if len(pins) == 1 else "any of the pinned"
    signers = {kid for kid, _ in signatures} & pins
    if not signers:
        raise BundleNotPinned(f"bundle root key {claimed} is not {named} {pinned}")
    for found in itertools.islice(_ROOT_MEMBER.finditer(payload), MAX_ROOT_MEMBERS):
        key = bytes.fromhex(found.group(1).decode())
        if ed25519.key_id(key) not in signers:
            continue
        if signed_by(BUNDLE_TYPE, payload, signatures, key):
            return key
        raise EnvelopeSignatureInvalid(
            f"the trust bundle is not signed by the pinned root key {ed25519.key_id(key).hex()}"
        )
    keys = ", ".join(sorted(k.hex() for k in signers))
    raise BundleNotPinned(
        f"the trust bundle does not name the pinned root key {keys} as its root_public_key "
        "(64 hex digits, as a JSON string)"
    )


def _parse_bundle(payload: bytes) -> TrustBundle:
    """The bundle of ``payload``, bounded before it is parsed (it may be parsed before its
    signature can be checked)."""
    if len(payload) > MAX_BUNDLE:
        raise MalformedBundle(f"trust bundle of {len(payload)} bytes exceeds {MAX_BUNDLE}")
    if json_containers(payload) > MAX_BUNDLE_CONTAINERS:
        raise MalformedBundle(
            f"trust bundle holds more than {MAX_BUNDLE_CONTAINERS:,} objects and lists"
        )
    if json_values(payload) > MAX_BUNDLE_VALUES:
        raise MalformedBundle(
            f"trust bundle holds more than {MAX_BUNDLE_VALUES:,} values (counted as its "
            "commas, objects and lists)"
        )
    try:
        # What the root signed must read one way, here and in any other verifier.
        raw = loads_strict(payload, what="the trust bundle payload", max_bytes=MAX_BUNDLE)
    except MalformedJson as e:
        raise MalformedBundle(e.message) from e
    return TrustBundle.from_json(raw)


@dataclass(frozen=True)
class Signer:
    """Who a key id may belong to: an agency key or a seal key, in one region."""

    bundle: TrustBundle
    key: KeyRecord
    agency: AgencyRecord | None = None
    seal: SealRecord | None = None


class TrustStore:
    """The regions a window trusts, indexed by key id (several keys may share a kid)."""

    def __init__(self, bundles: Iterable[TrustBundle] = ()) -> None:
        self.bundles: list[TrustBundle] = []
        #: By region, the newest time a bundle of it here was signed at: by that region's
        #: word the time is at least that late, whatever a clock says.
        self.signed_at: dict[str, int] = {}
        self._chains: dict[tuple[int, str, str | None], Exception | None] = {}
        self._by_kid: dict[bytes, list[Signer]] = {}
        #: License types by (region, code): a region names the types of its own licenses.
        self._types: dict[tuple[str, str], LicenseTypeInfo] = {}
        #: By code, as the first bundle listing it names it, for a document of a region
        #: held here by no bundle (which is not valid anyway).
        self._any_types: dict[str, LicenseTypeInfo] = {}
        for b in bundles:
            self.add(b)

    def add(self, bundle: TrustBundle) -> None:
        self.bundles.append(bundle)
        self.signed_at[bundle.region] = max(self.signed_at.get(bundle.region, 0), bundle.issued_at)
        for agency in bundle.agencies:
            for key in agency.keys:
                self._by_kid.setdefault(key.key_id, []).append(Signer(bundle, key, agency=agency))
        for seal in bundle.seals:
            self._by_kid.setdefault(seal.key.key_id, []).append(Signer(bundle, seal.key, seal=seal))
        for t in bundle.license_types:
            self._types.setdefault((bundle.region, t.code), t)
            self._any_types.setdefault(t.code, t)

    def check_chain(self, signer: Signer, *, role: Role, license_type: str | None) -> None:
        """Check the signer's statement chain to its region root: signature, role, scope,
        status; once per (statement, role, type), since none of it depends on the document.
        (Whether the key was valid when the document was signed is the caller's check.)"""
        statement = signer.key.statement
        key = (id(signer.key), role, license_type)  # records live as long as the store
        if key not in self._chains:
            try:
                verify_statement_chain(
                    [statement],
                    signer.bundle.root_public_key,
                    at=statement.statement.not_before,
                    role=role,
                    license_type=license_type,
                )
                self._chains[key] = None
            except (CheckFailed, InvalidInput) as e:
                self._chains[key] = e
        error = self._chains[key]
        if error is not None:
            raise error

    def signers(self, kid: bytes) -> list[Signer]:
        return self._by_kid.get(kid, [])

    def license_type(self, code: str, region: str | None = None) -> LicenseTypeInfo | None:
        """The names of license type ``code`` as the bundle of ``region`` (the license's
        own) gives them: another region's bundle must not rename the types of its licenses
        or relabel their fields. When no bundle of ``region`` is held, as any gives them."""
        if region is not None and region in self.signed_at:
            return self._types.get((region, code))
        return self._any_types.get(code)

    def regions(self, code: str) -> list[TrustBundle]:
        """Every trusted bundle of region ``code`` (a region that changed its root key may
        have two)."""
        return [b for b in self.bundles if b.region == code]
