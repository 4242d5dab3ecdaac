"""Generate the eseal test vectors: ``python -m tests.vectors.generate [--out DIR]``.

Everything is built from the pure APIs (no node, no database) with fixed keys and fixed
times, so two runs write byte-identical files (Ed25519 and zlib are deterministic, no salt
is random, JSON keys are sorted). What each case must yield is written here by hand (the
``status``, ``stops_at``, ``unchecked`` and ``warnings`` of each :class:`Case`), not read
back from the verifier: ``test_vectors.py`` then checks the verifier against it.

Layout written under ``DIR`` (default: this package's directory)::

    bundle.json          the region's signed trust bundle (DSSE envelope)
    revocations.json     the region's signed revocation snapshot (DSSE envelope)
    cases/<name>.json    one case each
    cases/<name>.png     its QR symbol (absent where the text cannot be a QR symbol)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import cbor2
from nacl.signing import SigningKey

from eseal.ids import make_license_id
from eseal.render import QrTextInvalid, qr_png
from keys import ed25519
from keys.statements import KeyStatement, KeyStatus, Role, SignedStatement, certify
from ledger.checkpoint import Checkpoint, sign_checkpoint, verifier_key
from ledger.entries import ZERO_HASH, Entry
from ledger.merkle import MemoryTree, inclusion_proof, leaf_hash, root_hash
from verifier.base45 import b45encode
from verifier.claims import license_claims_map
from verifier.cose import cose_sign1_bytes, sig_structure
from verifier.document import (
    Holder,
    LicenseBody,
    LicenseClaims,
    StampBody,
    StampClaims,
    decode,
    holder_id_argon2,
    holder_id_hash,
    sign_license,
    sign_stamp,
)
from verifier.revocation import build_snapshot, sign_snapshot
from verifier.trust import (
    AgencyRecord,
    KeyRecord,
    LicenseTypeInfo,
    SealRecord,
    TrustBundle,
    sign_bundle,
)
from verifier.verdict import (
    CLOCK_BEHIND,
    CODE_OF_STATUS_KIND,
    DOCUMENT_NOT_COMPARED,
    HOLDER_NOT_COMPARED,
    NO_STATUS,
    SEAL_REVOCATION,
    STALE_STATUS,
    STALE_TRUST,
    Status,
)

HERE: Final = Path(__file__).resolve().parent
BUNDLE_FILE: Final = "bundle.json"
REVOCATIONS_FILE: Final = "revocations.json"
CASES_DIR: Final = "cases"


def fixed_key(label: str) -> SigningKey:
    """The Ed25519 key seeded with SHA-256("eseal vectors <label>")."""
    return SigningKey(hashlib.sha256(f"eseal vectors {label}".encode()).digest())


def at(iso: str) -> int:
    """Unix seconds of a UTC time written ``YYYY-MM-DDTHH:MM:SS``."""
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp())


def clock(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the region -----------------------------------------------------------------------------

ROOT_KEY: Final = fixed_key("root")
LOG_KEY: Final = fixed_key("log")
MARKET_KEY: Final = fixed_key("agency market 2024")
MARKET_RETIRED_KEY: Final = fixed_key("agency market 2021")
MARKET_EXPIRED_KEY: Final = fixed_key("agency market 2019")
MARKET_COMPROMISED_KEY: Final = fixed_key("agency market compromised")
MARKET_DECERTIFIED_KEY: Final = fixed_key("agency market decertified")
HOUSING_KEY: Final = fixed_key("agency housing 2024")
SEAL_KEY: Final = fixed_key("seal approval")
SEAL_REVOKED_KEY: Final = fixed_key("seal contract")
SEAL_LATE_KEY: Final = fixed_key("seal finance")
#: Active in the bundle, revoked in the (newer) snapshot.
MARKET_LATE_KEY: Final = fixed_key("agency market revoked late")
STRANGER_KEY: Final = fixed_key("stranger")

REGION: Final = "500000"
REGION_NAME: Final = "重庆市"
ORIGIN: Final = f"eseal/{REGION}"
MARKET: Final = "11500000MB1A2B3C4B"  # 重庆市市场监督管理局
HOUSING: Final = "11500000MB1A2B3D5F"  # 重庆市住房和城乡建设委员会
BUSINESS: Final = "111000000000PH001J001"  # 营业执照
FOOD: Final = "111000000000PH001J002"  # 食品经营许可证
WORKER: Final = "11100000000013338W032"  # 建筑施工特种作业人员操作资格证书
SEAL_ID: Final = f"{MARKET}.000000000001"
SEAL_REVOKED_ID: Final = f"{MARKET}.000000000002"
SEAL_LATE_ID: Final = f"{MARKET}.000000000003"

KEYS_FROM: Final = at("2024-01-01T00:00:00")
KEYS_UNTIL: Final = at("2029-12-31T23:59:59")
COMPROMISED_AT: Final = at("2025-04-01T00:00:00")
SEAL_REVOKED_AT: Final = at("2025-04-15T00:00:00")
BUNDLE_AT: Final = at("2025-05-31T00:00:00")
SNAPSHOT_AT: Final = at("2025-06-01T00:00:00")
ISSUED: Final = at("2025-03-03T09:30:00")
STAMPED: Final = at("2025-03-10T14:00:00")
#: The validation clock of most cases: one day after the snapshot.
NOW: Final = at("2025-06-02T10:00:00")
#: More than 7 days after the snapshot: its status is stale.
STALE_NOW: Final = at("2025-06-12T10:00:00")
#: Before the snapshot was signed: the device's clock is behind.
BEHIND_NOW: Final = at("2025-05-25T10:00:00")


def _license_type(
    code: str, name: str, labels: dict[str, str], name_en: str = ""
) -> LicenseTypeInfo:
    """A license type of the vectors' bundle, its fields in the order of ``labels``."""
    return LicenseTypeInfo(code, name, labels, tuple(labels), name_en)


LICENSE_TYPES: Final = (
    _license_type(
        BUSINESS,
        "营业执照",
        {
            "company_type": "类型",
            "legal_representative": "法定代表人",
            "registered_capital": "注册资本（元）",
            "established": "成立日期",
            "term_end": "营业期限至",
            "address": "住所",
            "business_scope": "经营范围",
        },
        "Business licence",
    ),
    _license_type(
        FOOD,
        "食品经营许可证",
        {
            "license_number": "许可证编号",
            "legal_representative": "法定代表人（负责人）",
            "address": "住所",
            "premises": "经营场所",
            "main_business": "主体业态",
            "business_items": "经营项目",
        },
        "Food business licence",
    ),
    _license_type(
        WORKER,
        "建筑施工特种作业人员操作资格证书",
        {
            "certificate_number": "证书编号",
            "operation_category": "操作类别",
            "first_issued": "初次领证日期",
            "employer": "工作单位",
        },
        "Construction special operations worker certificate",
    ),
)


def root_key_id() -> bytes:
    return ed25519.key_id(bytes(ROOT_KEY.verify_key))


def _statement(
    key: SigningKey,
    role: Role,
    subject: str,
    scope: tuple[str, ...],
    *,
    not_before: int = KEYS_FROM,
    not_after: int = KEYS_UNTIL,
    status: KeyStatus = KeyStatus.ACTIVE,
) -> SignedStatement:
    statement = KeyStatement(
        role=role,
        subject=subject,
        public_key=bytes(key.verify_key),
        scope=scope,
        not_before=not_before,
        not_after=not_after,
        status=status,
        issued_at=not_before,
    )
    return certify(ROOT_KEY, statement)


def _checkpoint(size: int) -> str:
    """A checkpoint note signed by the log key (the tree itself is not part of the vectors)."""
    root = hashlib.sha256(f"eseal vectors tree {size}".encode()).digest()
    return sign_checkpoint(Checkpoint(ORIGIN, size, root), LOG_KEY)


def trust_bundle() -> TrustBundle:
    market_scope = (BUSINESS, FOOD)
    market_keys = (
        KeyRecord(_statement(MARKET_KEY, Role.AGENCY, MARKET, market_scope), "active"),
        KeyRecord(
            _statement(
                MARKET_RETIRED_KEY,
                Role.AGENCY,
                MARKET,
                market_scope,
                not_before=at("2021-01-01T00:00:00"),
                not_after=at("2030-12-31T23:59:59"),
            ),
            "retired",
            retired_at=KEYS_FROM,
        ),
        KeyRecord(
            _statement(
                MARKET_EXPIRED_KEY,
                Role.AGENCY,
                MARKET,
                market_scope,
                not_before=at("2019-01-01T00:00:00"),
                not_after=at("2023-12-31T23:59:59"),
            ),
            "active",
        ),
        KeyRecord(
            _statement(MARKET_COMPROMISED_KEY, Role.AGENCY, MARKET, market_scope),
            "revoked",
            revoked_at=COMPROMISED_AT,
        ),
        KeyRecord(
            _statement(
                MARKET_DECERTIFIED_KEY,
                Role.AGENCY,
                MARKET,
                market_scope,
                status=KeyStatus.REVOKED,
            ),
            "active",
        ),
        KeyRecord(_statement(MARKET_LATE_KEY, Role.AGENCY, MARKET, market_scope), "active"),
    )
    housing_keys = (KeyRecord(_statement(HOUSING_KEY, Role.AGENCY, HOUSING, (WORKER,)), "active"),)
    seals = (
        SealRecord(
            SEAL_ID,
            MARKET,
            "重庆市市场监督管理局行政审批专用章",
            "approval",
            KeyRecord(_statement(SEAL_KEY, Role.SEAL, SEAL_ID, ()), "active"),
        ),
        SealRecord(
            SEAL_REVOKED_ID,
            MARKET,
            "重庆市市场监督管理局合同专用章",
            "contract",
            KeyRecord(
                _statement(SEAL_REVOKED_KEY, Role.SEAL, SEAL_REVOKED_ID, ()),
                "revoked",
                revoked_at=SEAL_REVOKED_AT,
            ),
        ),
        SealRecord(
            SEAL_LATE_ID,
            MARKET,
            "重庆市市场监督管理局财务专用章",
            "finance",
            KeyRecord(_statement(SEAL_LATE_KEY, Role.SEAL, SEAL_LATE_ID, ()), "active"),
        ),
    )
    return TrustBundle(
        region=REGION,
        name=REGION_NAME,
        root_public_key=bytes(ROOT_KEY.verify_key),
        log_verifier=verifier_key(ORIGIN, bytes(LOG_KEY.verify_key)),
        issued_at=BUNDLE_AT,
        checkpoint=_checkpoint(980),
        agencies=(
            AgencyRecord(MARKET, "重庆市市场监督管理局", market_scope, market_keys),
            AgencyRecord(HOUSING, "重庆市住房和城乡建设委员会", (WORKER,), housing_keys),
        ),
        seals=seals,
        license_types=LICENSE_TYPES,
    )


# -- documents ------------------------------------------------------------------------------

#: The sealed file of the stamp cases, and a copy with one character changed (same size).
DOCUMENT: Final = (
    "%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    "% eseal test vector: 准予行政许可决定书 渝市监许〔2025〕1号\n%%EOF\n"
).encode()
OTHER_DOCUMENT: Final = DOCUMENT.replace("〔2025〕1号".encode(), "〔2025〕7号".encode())
HOLDER_SALT: Final = hashlib.sha256(b"eseal vectors holder salt").digest()[:16]


def license_id(serial: str, type_code: str = BUSINESS, issuer: str = MARKET) -> str:
    return str(make_license_id(type_code, issuer, serial))


def business_license(
    serial: str,
    *,
    issuer: str = MARKET,
    issued_at: int = ISSUED,
    not_before: int | None = None,
    expires: int | None = None,
    type_code: str = BUSINESS,
    region: str = REGION,
) -> LicenseClaims:
    """A company's business license (营业执照), without an end unless ``expires``."""
    fields: dict[str, str | int] = {
        "company_type": "有限责任公司（自然人投资或控股）",
        "legal_representative": "王五",
        "registered_capital": "1000000.00",
        "established": "2019-03-12",
        "address": "重庆市渝中区民族路188号",
        "business_scope": "餐饮服务；食品销售",
    }
    holder = Holder("重庆山城小面餐饮有限公司", "L", "91500103MA60ABCD1F")
    body = LicenseBody(type_code, region, 1, holder, fields)
    return LicenseClaims(
        issuer,
        issued_at,
        issued_at if not_before is None else not_before,
        expires,
        license_id(serial, type_code, issuer),
        body,
    )


def worker_certificate(serial: str, *, legacy: bool = False) -> LicenseClaims:
    """A natural person's certificate: masked id, salted id hash, an end date. As issued
    now, only the check character shown and Argon2id ("ia"); ``legacy``, as issued before,
    the region and the last four shown and SHA-256 ("ih")."""
    number = "500103198808081237"
    holder = (
        Holder(
            "李四",
            "N",
            "500103********1237",
            id_hash=holder_id_hash(number, HOLDER_SALT),
            id_salt=HOLDER_SALT,
        )
        if legacy
        else Holder(
            "李四",
            "N",
            "*****************7",
            id_salt=HOLDER_SALT,
            id_argon2=holder_id_argon2(number, HOLDER_SALT),
        )
    )
    fields: dict[str, str | int] = {
        "certificate_number": "渝A042025000123",
        "operation_category": "建筑电工",
        "first_issued": "2021-05-18",
        "employer": "重庆渝建建设工程有限公司",
    }
    body = LicenseBody(WORKER, REGION, 1, holder, fields)
    expires = ISSUED + 730 * 86400 - 1
    return LicenseClaims(
        HOUSING, ISSUED, ISSUED, expires, license_id(serial, WORKER, HOUSING), body
    )


def stamp(stamp_id: str, seal_id: str = SEAL_ID, issuer: str = MARKET) -> StampClaims:
    body = StampBody(
        seal_id,
        hashlib.sha256(DOCUMENT).digest(),
        "准予行政许可决定书.pdf",
        len(DOCUMENT),
        "application/pdf",
    )
    return StampClaims(issuer, STAMPED, STAMPED, stamp_id, body)


def _text(prefix: str, cose: bytes) -> str:
    return prefix + b45encode(zlib.compress(cose, 9))


def _cose(
    claims: Mapping[int, object],
    key: SigningKey,
    *,
    kid_of: SigningKey | None = None,
    alg: int = -8,
    header: Mapping[int, object] | None = None,
) -> bytes:
    """COSE_Sign1 bytes of ``claims`` signed by ``key``; the header may name another key's
    id (``kid_of``) or another algorithm, or be ``header`` (the kid's label 4 filled in
    unless given)."""
    kid = ed25519.key_id(bytes((kid_of or key).verify_key))
    fields = {1: alg, 4: kid} if header is None else {4: kid, **header}
    protected = cbor2.dumps(fields, canonical=True)
    payload = cbor2.dumps(dict(claims), canonical=True)
    return cose_sign1_bytes(
        protected, payload, ed25519.sign(key, sig_structure(protected, payload))
    )


# -- cases ----------------------------------------------------------------------------------

LICENSE_STEPS: Final = ("decode", "issuer", "signature", "authority", "time", "status")
STAMP_STEPS: Final = (*LICENSE_STEPS, "document")
#: The step at which a verdict of each status stops (unless a case says otherwise).
STOP_STEP: Final[Mapping[Status, str]] = {
    Status.MALFORMED: "decode",
    Status.UNSUPPORTED: "decode",
    Status.UNKNOWN_ISSUER: "issuer",
    Status.BAD_SIGNATURE: "signature",
    Status.ISSUER_NOT_AUTHORISED: "authority",
    Status.KEY_REVOKED: "authority",
    Status.NOT_YET_VALID: "time",
    Status.EXPIRED: "time",
    Status.SUSPENDED: "status",
    Status.WITHDRAWN: "status",
    Status.CANCELLED: "status",
    Status.LAPSED: "status",
    Status.TRANSFERRED: "status",
    Status.REVOKED: "status",
    Status.DOCUMENT_MISMATCH: "document",
    Status.NOT_IN_LEDGER: "ledger",
    Status.HOLDER_MISMATCH: "holder",
}


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    qr_text: str
    status: Status
    kind: str | None  # license | stamp | None: not decodable
    validation_time: int = NOW
    revocations: bool = True
    document: bytes | None = None
    #: The node's answer to GET /v1/licenses/{id}/status (a stamp: /v1/seals/{id}/status).
    online: dict[str, Any] | None = None
    stops_at: str | None = None  # the failing step, when not STOP_STEP[status]
    unchecked: tuple[str, ...] = ()  # steps run but not passed, the verdict still valid
    warnings: tuple[str, ...] = ()
    #: No verdict: the verifier stops with this error (a node's answer that proves nothing,
    #: a presented holder id that is no id).
    error: str | None = None
    #: The id presented with the document (a window's check of the holder).
    holder_id: str | None = None
    #: The license that replaces this one, as the verdict names it (an online transfer's).
    replaced_by: str | None = None

    def steps(self) -> dict[str, bool]:
        """Each step of this kind: True if it passes; False if it fails, is not checked, or
        is not reached."""
        stop = self.stops_at or STOP_STEP.get(self.status)
        reached, out = True, {}
        steps = STAMP_STEPS if self.kind == "stamp" else LICENSE_STEPS
        steps = (*steps, "ledger") if self.online is not None else steps
        steps = (*steps, "holder") if self.holder_id is not None else steps
        for step in steps:
            reached = reached and step != stop
            out[step] = reached and step not in self.unchecked
        return out

    def to_json(self, png: str | None) -> dict[str, Any]:
        # "holder_id" only where a case presents one: the other cases' files stay as they were.
        holder = {} if self.holder_id is None else {"holder_id": self.holder_id}
        return holder | {
            "description": self.description,
            "qr_text": self.qr_text,
            "png": png,
            "bundle": BUNDLE_FILE,
            "revocations": REVOCATIONS_FILE if self.revocations else None,
            "online": self.online,
            "validation_time": self.validation_time,
            "validation_clock": clock(self.validation_time),
            "document": base64.b64encode(self.document).decode() if self.document else None,
            "expected": (
                {"error": self.error, "valid": False}
                if self.error is not None
                else {
                    "status": self.status.value,
                    "valid": self.status is Status.VALID,
                    "kind": self.kind,
                    "steps": self.steps(),
                    "warnings": list(self.warnings),
                }
                # Only where the verdict names one: the other cases' files stay as they were.
                | ({} if self.replaced_by is None else {"replaced_by": self.replaced_by})
            ),
        }


class _Cases:
    """Collects the cases and the (license id, status code) pairs the snapshot lists."""

    def __init__(self) -> None:
        self.cases: list[Case] = []
        self.issued: dict[str, str] = {}

    def add(self, case: Case) -> None:
        if any(c.name == case.name for c in self.cases):
            raise ValueError(f"two cases named {case.name}")
        self.cases.append(case)

    def license(
        self, claims: LicenseClaims, key: SigningKey = MARKET_KEY, code: str | None = "01"
    ) -> str:
        """Sign ``claims``; unless ``code`` is None, the snapshot lists it with ``code``."""
        if code is not None:
            if self.issued.setdefault(claims.license_id, code) != code:
                raise ValueError(f"{claims.license_id} listed with two status codes")
            if claims.issued_at > SNAPSHOT_AT:
                raise ValueError(f"{claims.license_id} is issued after the snapshot")
        return sign_license(claims, key).text


#: The online cases' ledger: their issuance entries, then other entries up to this size, so
#: that its checkpoint is newer than the bundle's (a client refuses an older one, as a
#: replay). The other entries are not published; their leaf hashes are made up.
ONLINE_LEDGER_SIZE = 1000


def online_answers(
    texts: list[str],
    *,
    time: int,
    recorded: dict[int, bytes] | None = None,
    changes: dict[int, tuple[str, str]] | None = None,
    transferred_to: dict[int, str] | None = None,
    seals: Sequence[tuple[str, str | None]] = (),
    seal_recorded: dict[int, bytes] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What the region's node answers to GET /v1/licenses/{id}/status for each of
    ``texts``, and to GET /v1/seals/{id}/status for each of ``seals`` (seal id, and the
    reason of its revocation or None), from a ledger holding the issuances (in order), then
    the seals' creations, then the status changes: the creating entry, its RFC 9162
    inclusion proof, the status change entry and its proof if there is one, and the
    checkpoint signed by the log key. ``recorded`` gives, by position, another digest than
    the document's for the issuance to record; ``changes``, by position, a status change
    (entry kind, reason) recorded a minute after the issuances; ``transferred_to``, by
    position, the new license a transfer among them names (``to``); ``seal_recorded``, by
    position, another signed key statement than the seal's for its creation to record."""
    tree, prev = MemoryTree(), ZERO_HASH

    def append(entry: Entry) -> tuple[Entry, int, bytes]:
        nonlocal prev
        data = entry.encode(prev)
        prev = leaf_hash(data)
        tree.append(prev)
        return entry, tree.size - 1, data

    issued = []
    for i, text in enumerate(texts):
        doc = decode(text)
        assert isinstance(doc.claims, LicenseClaims)
        digest = (recorded or {}).get(i, doc.digest())
        issued.append(
            append(Entry("license.issue", time, REGION, doc.claims.license_id, digest, doc.kid))
        )
    created = [
        append(
            Entry(
                "seal.create",
                time,
                REGION,
                seal_id,
                hashlib.sha256(statement).digest(),
                root_key_id(),
                body=statement,  # as a node records it
            )
        )
        for i, (seal_id, _) in enumerate(seals)
        for statement in [(seal_recorded or {}).get(i, _seal_statement(seal_id))]
    ]
    changed = {
        i: append(
            Entry(
                kind,
                time + 60,
                REGION,
                issued[i][0].subject,
                issued[i][0].digest,
                issued[i][0].key_id,
                reason=reason,
                to=(transferred_to or {}).get(i, ""),
            )
        )
        for i, (kind, reason) in sorted((changes or {}).items())
    }
    revoked = {
        i: append(
            Entry(
                SEAL_REVOCATION,
                time + 60,
                REGION,
                created[i][0].subject,
                created[i][0].digest,
                root_key_id(),
                reason=reason,
            )
        )
        for i, (_, reason) in enumerate(seals)
        if reason is not None
    }
    while tree.size < ONLINE_LEDGER_SIZE:
        tree.append(hashlib.sha256(b"eseal test vectors: other entry %d" % tree.size).digest())
    size = tree.size
    checkpoint = sign_checkpoint(Checkpoint(ORIGIN, size, root_hash(size, tree)), LOG_KEY)

    def proved(prefix: str, index: int, data: bytes) -> dict[str, Any]:
        hashes = inclusion_proof(index, size, tree)
        return {
            f"{prefix}index": index,
            f"{prefix}entry": base64.b64encode(data).decode(),
            f"{prefix}proof" if prefix else "inclusion_proof": [
                base64.b64encode(h).decode() for h in hashes
            ],
        }

    def ledger_part(made: tuple[Entry, int, bytes]) -> dict[str, Any]:
        _, index, data = made
        return {"checkpoint": checkpoint, "ledger_index": index} | {
            k: v for k, v in proved("", index, data).items() if k != "index"
        }

    licenses = []
    for i, made in enumerate(issued):
        body: dict[str, Any] = {
            "id": made[0].subject,
            "status": "01",
            "as_of": time + 120,
            "replaced_by": None,
            **ledger_part(made),
        }
        if i in changed:
            change, at, raw = changed[i]
            body |= {
                "status": CODE_OF_STATUS_KIND[change.kind],
                "status_since": change.time,
                "status_reason": change.reason,
                "replaced_by": change.to or None,  # as the node's row has it
                **proved("status_", at, raw),
            }
        licenses.append({"http_status": 200, "body": body})
    seal_answers = []
    for i, made in enumerate(created):
        body = {"id": made[0].subject, "status": "active", "revoked_at": None, **ledger_part(made)}
        if i in revoked:
            change, at, raw = revoked[i]
            body |= {"status": "revoked", "revoked_at": change.time, **proved("status_", at, raw)}
        seal_answers.append({"http_status": 200, "body": body})
    return licenses, seal_answers


def _seal_statement(seal_id: str) -> bytes:
    """A seal's signed key statement: a creation entry records its SHA-256 as the digest,
    and the statement itself as the body."""
    seal = next(s for s in trust_bundle().seals if s.id == seal_id)
    return seal.key.statement.to_bytes()


def add_online_cases(v: _Cases, valid: str) -> None:
    """Online cases: the status comes from the region's node, whose answer the verifier
    checks (checkpoint signature, issuance entry, inclusion proof) instead of trusting it."""
    L = "license"  # noqa: N806
    revoked = v.license(business_license("2025000901"), code=None)
    other = v.license(business_license("2025000902"), code=None)
    forged = v.license(business_license("2025000903"), code=None)
    answers, seal_answers = online_answers(
        [valid, revoked, other, forged],
        time=NOW - 600,
        recorded={3: hashlib.sha256(b"the document issued under this id").digest()},
        changes={1: ("license.revoke", "以欺骗手段取得 obtained by deception")},
        seals=[(SEAL_ID, None), (SEAL_LATE_ID, "印章遗失 seal lost")],
    )
    good, revoked_answer, other_answer, forged_answer = answers
    seal_active, seal_revoked = seal_answers
    stamp_active = sign_stamp(stamp("ST-2025-000901"), SEAL_KEY).text
    stamp_late = sign_stamp(stamp("ST-2025-000902", SEAL_LATE_ID), SEAL_LATE_KEY).text
    v.add(
        Case(
            "valid-stamp-online",
            "online: the node answers that the seal is active, with its proved creation entry "
            "(the ledger step is not run for a stamp: the stamp itself is not proved)",
            stamp_active,
            Status.VALID,
            "stamp",
            revocations=False,
            document=DOCUMENT,
            online=seal_active,
            unchecked=("ledger",),
        )
    )
    v.add(
        Case(
            "stamp-seal-revoked-online",
            "online: a seal active in the bundle, which the node answers is revoked, with its "
            "proved creation and revocation entries",
            stamp_late,
            Status.REVOKED,
            "stamp",
            revocations=False,
            document=DOCUMENT,
            online=seal_revoked,
        )
    )
    v.add(
        Case(
            "valid-license-online",
            "online: the node answers 01 with the issuance entry, proved in its checkpoint",
            valid,
            Status.VALID,
            L,
            revocations=False,
            online=good,
        )
    )
    v.add(
        Case(
            "revoked-license-online",
            "online: the node answers 07 (revoked) with the proved issuance entry and the "
            "proved revocation entry, whose time and reason the verdict shows",
            revoked,
            Status.REVOKED,
            L,
            revocations=False,
            online=revoked_answer,
        )
    )

    def status_part(answer: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in answer["body"].items() if k.startswith("status_")}

    zero = base64.b64encode(bytes(32)).decode()
    # Answers that do not check out: no verdict, the error node-answer-unproven.
    for name, description, text, kind, body in (
        (
            "node-answer-seal-revoked-unproven",
            "online: the node answers that an active seal is revoked, with no entry that "
            "records a revocation",
            stamp_active,
            "stamp",
            seal_active["body"] | {"status": "revoked"},
        ),
        (
            "node-answer-revoked-unproven",
            "online: the node answers 07 (revoked) for a valid license, with its proved "
            "issuance entry but no entry recording a revocation",
            valid,
            L,
            good["body"] | {"status": "07", "status_reason": "伪造 forged"},
        ),
        (
            "node-answer-bad-proof",
            "online: the node answers 01, but its inclusion proof does not lead to the root",
            valid,
            L,
            good["body"] | {"inclusion_proof": [zero] * len(good["body"]["inclusion_proof"])},
        ),
        (
            "node-answer-other-entry",
            "online: the node answers 01 with another license's (proved) issuance entry",
            valid,
            L,
            other_answer["body"] | {"id": good["body"]["id"]},
        ),
        (
            "node-answer-other-revocation",
            "online: the node answers 07 for a valid license, carrying another license's "
            "proved revocation entry as its status entry",
            valid,
            L,
            good["body"] | status_part(revoked_answer) | {"status": "07"},
        ),
        (
            "node-answer-seal-other-revocation",
            "online: the node answers that an active seal is revoked, carrying another "
            "seal's proved seal.revoke entry",
            stamp_active,
            "stamp",
            seal_active["body"] | status_part(seal_revoked) | {"status": "revoked"},
        ),
        (
            "node-answer-valid-with-revocation",
            "online: the node answers 01 for a revoked license, carrying its proved revocation "
            "entry as its status entry (the entry of a status 01 can only be a reinstatement)",
            revoked,
            L,
            revoked_answer["body"] | {"status": "01"},
        ),
        (
            "node-answer-seal-active-with-revocation",
            "online: the node answers that a revoked seal is active, carrying its proved "
            "seal.revoke entry",
            stamp_late,
            "stamp",
            seal_revoked["body"] | {"status": "active"},
        ),
        (
            "node-answer-seal-other-entry",
            "online: the node answers for a seal with another seal's proved creation entry",
            stamp_active,
            "stamp",
            seal_active["body"]
            | {k: seal_revoked["body"][k] for k in ("ledger_index", "entry", "inclusion_proof")},
        ),
    ):
        v.add(
            Case(
                name,
                description + "; proves nothing about the document: no verdict",
                text,
                Status.REVOKED,
                kind,
                revocations=False,
                document=DOCUMENT if kind == "stamp" else None,
                online={"http_status": 200, "body": body},
                error="node-answer-unproven",
            )
        )
    # A transfer naming its new license (another region's): a ledger of its own, so that the
    # other online cases' answers stay as they were.
    transferred = v.license(business_license("2025000904"), code=None)
    (transfer_answer,), _ = online_answers(
        [transferred],
        time=NOW - 600,
        changes={0: ("license.transfer", "迁往北京 moved to Beijing")},
        transferred_to={0: TRANSFERRED_TO},
    )
    v.add(
        Case(
            "transferred-license-online",
            "online: the node answers 06 (transferred out) with the proved issuance entry and "
            "the proved transfer entry, which names the license that replaces it (to)",
            transferred,
            Status.TRANSFERRED,
            L,
            revocations=False,
            online=transfer_answer,
            replaced_by=TRANSFERRED_TO,
        )
    )
    v.add(
        Case(
            "not-in-ledger-other-document",
            "online: the node proves the issuance entry of this license id, which records "
            "another document (this one was signed with the agency's key, but not issued)",
            forged,
            Status.NOT_IN_LEDGER,
            L,
            revocations=False,
            online=forged_answer,
            stops_at="status",
        )
    )
    (other_seal,) = online_answers(
        [],
        time=NOW - 600,
        seals=[(SEAL_ID, None)],
        seal_recorded={0: _seal_statement(SEAL_LATE_ID)},
    )[1]
    v.add(
        Case(
            "not-in-ledger-seal-other-key",
            "online: the node proves the creation entry of the stamp's seal, which records "
            "another signed key statement (another seal's key) than the bundle lists for it",
            stamp_active,
            Status.NOT_IN_LEDGER,
            "stamp",
            revocations=False,
            document=DOCUMENT,
            online=other_seal,
            stops_at="status",
        )
    )
    v.add(
        Case(
            "not-in-ledger-unknown-to-node",
            "online: the region's node does not know the license (its 404 problem answer "
            "unknown-license)",
            valid,
            Status.NOT_IN_LEDGER,
            L,
            revocations=False,
            online={"http_status": 404, "body": UNKNOWN_LICENSE},
            stops_at="status",
        )
    )
    v.add(
        Case(
            "not-in-ledger-seal-unknown-to-node",
            "online: the region's node does not know the stamp's seal, which the bundle "
            "lists (its 404 problem answer unknown-seal): the seal's creation was never "
            "recorded in the region's ledger",
            stamp_active,
            Status.NOT_IN_LEDGER,
            "stamp",
            revocations=False,
            document=DOCUMENT,
            online={"http_status": 404, "body": UNKNOWN_SEAL},
            stops_at="status",
        )
    )
    # Signed with the agency's key under an id whose check character is wrong: no id the
    # node could have recorded, which it says by its 400 problem.
    good_id = license_id("2025000905")
    bad_check = good_id[:-1] + ("A" if good_id[-1] != "A" else "B")
    malformed = v.license(replace(business_license("2025000905"), license_id=bad_check), code=None)
    v.add(
        Case(
            "not-in-ledger-malformed-id-to-node",
            "online: a license signed with the agency's key under an id whose check character "
            "is wrong: the region's node answers its 400 problem invalid-license-id, an id it "
            "never recorded",
            malformed,
            Status.NOT_IN_LEDGER,
            L,
            revocations=False,
            online={"http_status": 400, "body": MALFORMED_LICENSE_ID},
            stops_at="status",
        )
    )
    v.add(
        Case(
            "not-in-ledger-seal-malformed-id-to-node",
            "online: the region's node answers its 400 problem invalid-seal-id for the stamp's "
            "seal: an id it never recorded",
            stamp_active,
            Status.NOT_IN_LEDGER,
            "stamp",
            revocations=False,
            document=DOCUMENT,
            online={"http_status": 400, "body": MALFORMED_SEAL_ID},
            stops_at="status",
        )
    )
    v.add(
        Case(
            "node-unreachable-other-problem",
            "online: the node answers a 400 problem of another type (invalid-input), which "
            "does not say it never recorded the license: no verdict",
            valid,
            Status.NOT_IN_LEDGER,
            L,
            revocations=False,
            online={"http_status": 400, "body": INVALID_INPUT},
            error="node-unreachable",
        )
    )


#: The license that replaces the one of ``transferred-license-online``: of Beijing, where the
#: business registered anew.
TRANSFERRED_TO: Final = license_id("2025000001", issuer="110000")


#: A node's answer for a license it never issued: its RFC 9457 problem.
UNKNOWN_LICENSE = {
    "type": "https://eseal.invalid/problems/unknown-license",
    "title": "No license with this id was issued here.",
    "status": 404,
    "detail": "no such license",
}


#: A node's answer for a seal it never created: its RFC 9457 problem.
UNKNOWN_SEAL = {
    "type": "https://eseal.invalid/problems/unknown-seal",
    "title": "No seal with this id exists here.",
    "status": 404,
    "detail": "no such seal",
}


#: A node's answer for a license id it could not have recorded: its RFC 9457 problem.
MALFORMED_LICENSE_ID = {
    "type": "https://eseal.invalid/problems/invalid-license-id",
    "title": "A license id (电子证照标识) that is malformed or fails its check character.",
    "status": 400,
    "detail": "license id: its check character is wrong",
}


#: A node's answer for a seal id it could not have recorded: its RFC 9457 problem.
MALFORMED_SEAL_ID = {
    "type": "https://eseal.invalid/problems/invalid-seal-id",
    "title": "A seal id that is malformed or whose agency's credit code fails its check character.",
    "status": 400,
    "detail": "seal id: the part after the agency's credit code must be 12 hex digits",
}


#: A node's 400 problem of another type: it says nothing of the license.
INVALID_INPUT = {
    "type": "https://eseal.invalid/problems/invalid-input",
    "title": "Bad Request",
    "status": 400,
    "detail": "a request the node refused",
}


def build_cases() -> _Cases:
    v = _Cases()
    L, S = "license", "stamp"  # noqa: N806

    # -- valid ------------------------------------------------------------------------------
    valid_claims = business_license("2025000001")
    valid = v.license(valid_claims)
    claims_map = license_claims_map(valid_claims)
    v.add(Case("valid-license", "营业执照 without an end date, status 01", valid, Status.VALID, L))
    worker = v.license(worker_certificate("2025000101"), HOUSING_KEY)
    v.add(
        Case(
            "valid-license-natural-person",
            "a worker's certificate: id number masked but its check character, salted "
            "Argon2id id hash (ia), an end date",
            worker,
            Status.VALID,
            L,
        )
    )
    legacy_worker = v.license(worker_certificate("2025000103", legacy=True), HOUSING_KEY)
    v.add(
        Case(
            "valid-license-natural-person-legacy",
            "a worker's certificate as issued before Argon2id: region and last four shown, "
            "salted SHA-256 id hash (ih), an end date",
            legacy_worker,
            Status.VALID,
            L,
        )
    )
    stamp_text = sign_stamp(stamp("ST-2025-000001"), SEAL_KEY).text
    v.add(
        Case(
            "valid-stamp",
            "a seal stamp presented with the very file it sealed",
            stamp_text,
            Status.VALID,
            S,
            document=DOCUMENT,
        )
    )
    v.add(
        Case(
            "valid-stamp-without-document",
            "the same stamp with no file presented: valid, the document not compared (amber)",
            stamp_text,
            Status.VALID,
            S,
            warnings=(DOCUMENT_NOT_COMPARED,),
            unchecked=("document",),
        )
    )
    v.add(
        Case(
            "valid-license-stale-status",
            "validation time more than 7 days after the snapshot and the bundle: valid, "
            "status and trust stale",
            valid,
            Status.VALID,
            L,
            validation_time=STALE_NOW,
            warnings=(STALE_TRUST, STALE_STATUS),
        )
    )
    v.add(
        Case(
            "valid-license-no-status",
            "no revocation snapshot given: valid, status not checked",
            valid,
            Status.VALID,
            L,
            revocations=False,
            unchecked=("status",),
            warnings=(NO_STATUS,),
        )
    )
    after = business_license("2025000002", issued_at=at("2025-06-01T12:00:00"))
    v.add(
        Case(
            "valid-license-issued-after-snapshot",
            "issued after the snapshot was cut: the snapshot cannot say, status not checked",
            v.license(after, code=None),
            Status.VALID,
            L,
            unchecked=("status",),
            warnings=(NO_STATUS,),
        )
    )
    v.add(
        Case(
            "valid-license-clock-behind",
            "validation time before the snapshot's as_of: valid, the device clock is behind",
            valid,
            Status.VALID,
            L,
            validation_time=BEHIND_NOW,
            warnings=(CLOCK_BEHIND,),
        )
    )

    # The clock behind: the time checks are made at the newest signed time seen instead.
    signed_in = business_license("2025000033", issued_at=at("2025-05-28T09:00:00"))
    v.add(
        Case(
            "valid-license-clock-behind-not-before",
            "issued 2025-05-28, validated with the clock at 2025-05-25, before the snapshot "
            "(2025-06-01) that lists it: in effect by the signed times, valid, clock behind",
            v.license(signed_in),
            Status.VALID,
            L,
            validation_time=BEHIND_NOW,
            warnings=(CLOCK_BEHIND,),
        )
    )
    ended = business_license(
        "2024000034", issued_at=at("2024-05-29T09:00:00"), expires=at("2025-05-28T23:59:59")
    )
    v.add(
        Case(
            "expired-license-clock-behind",
            "valid until 2025-05-28, validated with the clock at 2025-05-25, before the "
            "snapshot (2025-06-01): expired by the signed times, whatever the clock says",
            v.license(ended),
            Status.EXPIRED,
            L,
            validation_time=BEHIND_NOW,
            warnings=(CLOCK_BEHIND,),
        )
    )

    # -- status codes 02-07 in the snapshot ---------------------------------------------------
    for serial, code, status, word in (
        ("2025000021", "02", Status.SUSPENDED, "suspended (暂停)"),
        ("2025000022", "03", Status.WITHDRAWN, "withdrawn (撤回)"),
        ("2025000023", "04", Status.CANCELLED, "cancelled (注销)"),
        ("2025000024", "05", Status.LAPSED, "lapsed (失效)"),
        ("2025000025", "06", Status.TRANSFERRED, "transferred out (转出)"),
        ("2025000026", "07", Status.REVOKED, "revoked (撤销)"),
    ):
        v.add(
            Case(
                f"{status.value.lower().replace('_', '-')}-license",
                f"营业执照 {word}: status {code} in the revocation snapshot",
                v.license(business_license(serial), code=code),
                status,
                L,
            )
        )

    # -- time ---------------------------------------------------------------------------------
    expired = business_license(
        "2024000031", issued_at=at("2024-03-01T09:00:00"), expires=at("2025-02-28T23:59:59")
    )
    v.add(
        Case(
            "expired-license",
            "valid until 2025-02-28, validated on 2025-06-02",
            v.license(expired),
            Status.EXPIRED,
            L,
        )
    )
    not_yet = business_license(
        "2025000032", issued_at=at("2025-05-20T09:00:00"), not_before=at("2025-07-01T00:00:00")
    )
    v.add(
        Case(
            "not-yet-valid-license",
            "valid from 2025-07-01, validated on 2025-06-02",
            v.license(not_yet),
            Status.NOT_YET_VALID,
            L,
        )
    )

    # -- signature ----------------------------------------------------------------------------
    doc = decode(valid)
    flipped = bytearray(doc.signature)
    flipped[10] ^= 0x01
    v.add(
        Case(
            "bad-signature-flipped-bit",
            "valid-license with one bit of the signature flipped",
            _text("EL1:", cose_sign1_bytes(doc.protected, doc.payload, bytes(flipped))),
            Status.BAD_SIGNATURE,
            L,
        )
    )
    v.add(
        Case(
            "bad-signature-other-key",
            "signed by a key outside the bundle, the header naming the agency's key id",
            _text("EL1:", _cose(claims_map, STRANGER_KEY, kid_of=MARKET_KEY)),
            Status.BAD_SIGNATURE,
            L,
        )
    )
    tampered = replace(
        valid_claims,
        body=replace(
            valid_claims.body,
            holder=Holder("重庆山城大面餐饮有限公司", "L", "91500103MA60ABCD1F"),
        ),
    )
    tampered_payload = cbor2.dumps(license_claims_map(tampered), canonical=True)
    v.add(
        Case(
            "bad-signature-altered-payload",
            "valid-license with the holder's name changed, the signature kept",
            _text("EL1:", cose_sign1_bytes(doc.protected, tampered_payload, doc.signature)),
            Status.BAD_SIGNATURE,
            L,
        )
    )

    # -- issuer -------------------------------------------------------------------------------
    v.add(
        Case(
            "unknown-issuer-key",
            "signed by a key whose id is not in the bundle",
            v.license(business_license("2025000041"), STRANGER_KEY, code=None),
            Status.UNKNOWN_ISSUER,
            L,
        )
    )
    v.add(
        Case(
            "unknown-issuer-agency",
            "signed with the market bureau's key but naming the housing commission as issuer",
            v.license(business_license("2025000042", issuer=HOUSING), code=None),
            Status.UNKNOWN_ISSUER,
            L,
        )
    )
    v.add(
        Case(
            "unknown-issuer-stamp-by-agency-key",
            "a seal stamp signed with an agency key, not a seal key",
            sign_stamp(stamp("ST-2025-000041"), MARKET_KEY).text,
            Status.UNKNOWN_ISSUER,
            S,
        )
    )

    # -- authority ----------------------------------------------------------------------------
    v.add(
        Case(
            "not-authorised-type-out-of-scope",
            "the market bureau's key signing a license type only the housing commission issues",
            v.license(business_license("2025000051", type_code=WORKER)),
            Status.ISSUER_NOT_AUTHORISED,
            L,
        )
    )
    v.add(
        Case(
            "not-authorised-outside-key-validity",
            "signed on 2025-03-03 with a key certified for 2019-01-01 to 2023-12-31",
            v.license(business_license("2025000052"), MARKET_EXPIRED_KEY),
            Status.ISSUER_NOT_AUTHORISED,
            L,
        )
    )
    v.add(
        Case(
            "not-authorised-retired-key",
            "signed on 2025-03-03 with a key retired on 2024-01-01",
            v.license(business_license("2025000053"), MARKET_RETIRED_KEY),
            Status.ISSUER_NOT_AUTHORISED,
            L,
        )
    )
    v.add(
        Case(
            "not-authorised-other-region",
            "a license of region 510000 signed by a key of region 500000",
            v.license(business_license("2025000054", region="510000")),
            Status.ISSUER_NOT_AUTHORISED,
            L,
        )
    )
    v.add(
        Case(
            "key-revoked",
            "signed with an agency key the bundle lists as revoked (on 2025-04-01)",
            v.license(business_license("2025000061"), MARKET_COMPROMISED_KEY),
            Status.KEY_REVOKED,
            L,
        )
    )
    v.add(
        Case(
            "key-revoked-statement",
            "signed with an agency key whose root-signed statement says revoked",
            v.license(business_license("2025000062"), MARKET_DECERTIFIED_KEY),
            Status.KEY_REVOKED,
            L,
        )
    )
    v.add(
        Case(
            "key-revoked-in-snapshot",
            "signed with an agency key active in the bundle, revoked in the newer snapshot",
            v.license(business_license("2025000063"), MARKET_LATE_KEY),
            Status.KEY_REVOKED,
            L,
            stops_at="status",
        )
    )

    # -- seal stamps --------------------------------------------------------------------------
    v.add(
        Case(
            "stamp-document-mismatch",
            "valid-stamp presented with another file of the same size",
            stamp_text,
            Status.DOCUMENT_MISMATCH,
            S,
            document=OTHER_DOCUMENT,
        )
    )
    v.add(
        Case(
            "stamp-seal-revoked",
            "stamped with a seal the bundle lists as revoked (a seal is its key)",
            sign_stamp(stamp("ST-2025-000071", SEAL_REVOKED_ID), SEAL_REVOKED_KEY).text,
            Status.REVOKED,
            S,
            document=DOCUMENT,
            stops_at="authority",
        )
    )
    v.add(
        Case(
            "stamp-seal-revoked-in-snapshot",
            "stamped with a seal active in the bundle but revoked in the newer snapshot",
            sign_stamp(stamp("ST-2025-000072", SEAL_LATE_ID), SEAL_LATE_KEY).text,
            Status.REVOKED,
            S,
            document=DOCUMENT,
        )
    )

    # -- unsupported --------------------------------------------------------------------------
    body = valid[4:]
    for name, description, text in (
        ("unsupported-prefix-hc1", "an EU DCC prefix (HC1:) on eseal content", "HC1:" + body),
        ("unsupported-prefix-lowercase", "the prefix in lower case (el1:)", "el1:" + body),
        ("unsupported-url", "a web address, not a document", "HTTPS://ZWFW.CQ.GOV.CN/ZZ/1234"),
        (
            "unsupported-algorithm-es256",
            "protected header alg -7 (ES256) instead of -8 (EdDSA)",
            _text("EL1:", _cose(claims_map, MARKET_KEY, alg=-7)),
        ),
        (
            "unsupported-critical-header",
            "a protected header marking a label critical (crit, 2), validly signed",
            _text("EL1:", _cose(claims_map, MARKET_KEY, header={1: -8, 2: [-70010], -70010: 1})),
        ),
        (
            "unsupported-header-label",
            "a protected header with a label besides alg and kid (content type, 3), validly signed",
            _text("EL1:", _cose(claims_map, MARKET_KEY, header={1: -8, 3: "application/cwt"})),
        ),
    ):
        v.add(Case(name, description, text, Status.UNSUPPORTED, None))

    # -- malformed ----------------------------------------------------------------------------
    cose = doc.cose_bytes()
    deflated = zlib.compress(cose, 9)
    length_cut = len(body) - (len(body) - 1) % 3  # the longest prefix of 3k+1 characters
    unprotected = cbor2.dumps(
        cbor2.CBORTag(18, [doc.protected, {4: doc.kid}, doc.payload, doc.signature]),
        canonical=True,
    )
    missing_nbf = {k: val for k, val in claims_map.items() if k != 5}
    both_hashes = license_claims_map(worker_certificate("2025000104"))
    person: Any = both_hashes[-70001]
    person["h"] = {**person["h"], "ih": holder_id_hash("500103198808081237", HOLDER_SALT)}
    wide_mask = license_claims_map(worker_certificate("2025000105"))
    masked: Any = wide_mask[-70001]
    masked["h"] = {**masked["h"], "id": "500103********1237"}
    for name, description, text in (
        ("malformed-empty", "the prefix and nothing after it", "EL1:"),
        ("malformed-too-long", "4,001 characters, over the 4,000 limit", "EL1:" + "0" * 3997),
        (
            "malformed-base45-character",
            "a lower-case letter inside the base45 text",
            valid[:20] + "a" + valid[21:],
        ),
        (
            "malformed-base45-length",
            "base45 text of 3k+1 characters",
            "EL1:" + body[:length_cut],
        ),
        (
            "malformed-base45-overflow",
            "a base45 triplet (:::) above 65535",
            "EL1::::" + body[3:],
        ),
        (
            "malformed-zlib-truncated",
            "the zlib stream cut short by 8 bytes",
            "EL1:" + b45encode(deflated[:-8]),
        ),
        (
            "malformed-zlib-trailing-data",
            "two bytes after the end of the zlib stream",
            "EL1:" + b45encode(deflated + b"\x00\x00"),
        ),
        (
            "malformed-not-cose",
            "zlib of a CBOR map, not a COSE_Sign1",
            "EL1:" + b45encode(zlib.compress(cbor2.dumps({"hello": "world"}), 9)),
        ),
        (
            "malformed-unprotected-header",
            "the kid in the unprotected header as well",
            _text("EL1:", unprotected),
        ),
        (
            "malformed-key-id",
            "a 7-byte kid in the protected header",
            _text("EL1:", _cose(claims_map, MARKET_KEY, header={1: -8, 4: doc.kid[:7]})),
        ),
        (
            "malformed-signature-truncated",
            "a 63-byte signature",
            _text("EL1:", cose_sign1_bytes(doc.protected, doc.payload, doc.signature[:63])),
        ),
        (
            "malformed-missing-claim",
            "claims without nbf (5), validly signed",
            _text("EL1:", _cose(missing_nbf, MARKET_KEY)),
        ),
        (
            "malformed-holder-both-hashes",
            "a natural person's certificate whose holder carries both id hashes, Argon2id (ia) "
            "and SHA-256 (ih), validly signed: one form or the other",
            _text("EL1:", _cose(both_hashes, HOUSING_KEY)),
        ),
        (
            "malformed-holder-argon2-wide-mask",
            "a natural person's certificate with an Argon2id id hash (ia) whose id number shows "
            "its region and last four (the legacy mask), validly signed: beside ia only the "
            "check character is shown",
            _text("EL1:", _cose(wide_mask, HOUSING_KEY)),
        ),
        (
            "malformed-wrong-kind",
            "license claims behind the seal stamp prefix ES1:",
            "ES1:" + body,
        ),
    ):
        v.add(Case(name, description, text, Status.MALFORMED, None))
    add_online_cases(v, valid)
    add_holder_cases(v, valid, worker, legacy_worker, stamp_text)
    return v


def add_holder_cases(
    v: _Cases, valid: str, worker: str, legacy_worker: str, stamp_text: str
) -> None:
    """A window compares the id presented with a license with its holder."""
    L = "license"  # noqa: N806
    no_id = worker_certificate("2025000102")
    no_id = replace(no_id, body=replace(no_id.body, holder=Holder("赵六", "N")))
    warned: tuple[str, ...] = ()
    for name, description, text, holder_id, status, warnings in (
        (
            "holder-match-legal",
            "valid-license with its holder's credit code presented, in lower case with a space",
            valid,
            "91500103 ma60abcd1f",
            Status.VALID,
            warned,
        ),
        (
            "holder-match-natural-person",
            "valid-license-natural-person with the holder's id number presented, spaced as "
            "printed on the card, its last digit full-width: it matches the salted Argon2id id "
            "hash (ia)",
            worker,
            "500103 19880808 123\uff17",
            Status.VALID,
            warned,
        ),
        (
            "holder-mismatch-natural-person",
            "valid-license-natural-person with another person's (well-formed) id number",
            worker,
            "11010519491231002X",
            Status.HOLDER_MISMATCH,
            warned,
        ),
        (
            "holder-match-natural-person-legacy",
            "valid-license-natural-person-legacy with the holder's id number presented, "
            "spaced, its last digit full-width: it matches the salted SHA-256 id hash (ih)",
            legacy_worker,
            "500103 19880808 123\uff17",
            Status.VALID,
            warned,
        ),
        (
            "holder-mismatch-natural-person-legacy",
            "valid-license-natural-person-legacy with another person's (well-formed) id number",
            legacy_worker,
            "11010519491231002X",
            Status.HOLDER_MISMATCH,
            warned,
        ),
        (
            "holder-mismatch-legal",
            "valid-license with another company's (well-formed) credit code",
            valid,
            "91500000MA60XXXX15",
            Status.HOLDER_MISMATCH,
            warned,
        ),
        (
            "holder-not-compared",
            "a natural person's certificate issued without an id number (no id, no id hash), "
            "an id number presented: valid, the holder not compared (amber)",
            v.license(no_id, HOUSING_KEY),
            "500103198808081237",
            Status.VALID,
            (HOLDER_NOT_COMPARED,),
        ),
        (
            "revoked-license-holder-mismatch",
            "revoked-license with another company's credit code: a revoked license keeps its "
            "own status (the holder is compared only when every other check passed)",
            v.license(business_license("2025000026"), code="07"),
            "91500000MA60XXXX15",
            Status.REVOKED,
            warned,
        ),
    ):
        unchecked = ("holder",) if warnings else ()
        v.add(
            Case(
                *(name, description, text, status, L),
                warnings=warnings,
                unchecked=unchecked,
                holder_id=holder_id,
            )
        )
    v.add(
        Case(
            "holder-id-malformed",
            "valid-license-natural-person with an id number whose check character is wrong: "
            "no verdict, the error invalid-holder-id",
            worker,
            Status.VALID,
            L,
            holder_id="500103198808081238",
            error="invalid-holder-id",
        )
    )
    v.add(
        Case(
            "holder-id-with-stamp",
            "valid-stamp with a credit code presented as its holder's: a seal stamp has no "
            "holder; no verdict, the error no-holder",
            stamp_text,
            Status.VALID,
            "stamp",
            document=DOCUMENT,
            holder_id="91500103MA60ABCD1F",
            error="no-holder",
        )
    )


def _filler() -> list[tuple[str, str]]:
    """Other licenses the region issued, some not valid, so the cascade is not trivial."""
    codes = ("01", "01", "01", "01", "07", "01", "02", "01", "04", "01")
    return [(license_id(f"2025F{i:05d}"), codes[i % len(codes)]) for i in range(60)]


def revocations(cases: _Cases) -> bytes:
    snapshot = build_snapshot(
        region=REGION,
        as_of=SNAPSHOT_AT,
        # Cut between the bundle (980) and the node's answers a day later (1,000): a window
        # holding both must not see the node's checkpoint as older than the snapshot's.
        checkpoint=_checkpoint(990),
        licenses=[*sorted(cases.issued.items()), *_filler()],
        seals_revoked=[SEAL_REVOKED_ID, SEAL_LATE_ID],
        keys_revoked=[ed25519.key_id(bytes(MARKET_LATE_KEY.verify_key)).hex()],
    )
    return sign_snapshot(snapshot, LOG_KEY)


def _png(text: str) -> bytes | None:
    try:
        return qr_png(text, scale=4)
    except QrTextInvalid:  # outside the QR alphanumeric set, or too long
        return None


def dump_json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def files() -> dict[str, bytes]:
    """Every file of the vectors, by path relative to the output directory."""
    cases = build_cases()
    out = {BUNDLE_FILE: sign_bundle(trust_bundle(), ROOT_KEY), REVOCATIONS_FILE: revocations(cases)}
    for case in cases.cases:
        png = _png(case.qr_text)
        png_name = f"{case.name}.png" if png is not None else None
        if png is not None:
            out[f"{CASES_DIR}/{png_name}"] = png
        out[f"{CASES_DIR}/{case.name}.json"] = dump_json(case.to_json(png_name))
    return out


def generate(out: Path) -> list[Path]:
    """Write the vectors under ``out``; remove case files that are no longer generated."""
    written = []
    (out / CASES_DIR).mkdir(parents=True, exist_ok=True)
    content = files()
    for name, data in content.items():
        path = out / name
        path.write_bytes(data)
        written.append(path)
    for path in (out / CASES_DIR).iterdir():
        if path.suffix in {".json", ".png"} and f"{CASES_DIR}/{path.name}" not in content:
            path.unlink()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=HERE, help="output directory")
    args = parser.parse_args()
    written = generate(args.out)
    print(f"wrote {len(written)} files under {args.out}")


if __name__ == "__main__":
    main()
