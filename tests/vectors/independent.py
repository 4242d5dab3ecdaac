"""An independent verifier of the test vectors, written from the published formats only:
``tests/vectors/README.md`` and the module docstrings it names (the QR document, the trust
bundle, key statements, the DSSE envelope, the snapshot and its cascades, checkpoints and
ledger entries), as another region's implementer would write one.

It imports nothing from eseal: cbor2 and PyNaCl directly, and RFC 9162 inclusion from the
independent :mod:`tests.e2e.rfc9162_independent`. :func:`verify_case` gives each case's
``expected`` object, so a test compares it with the committed one; where this module and
the docs disagree, one of them is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
from nacl.exceptions import BadSignatureError
from nacl.pwhash import argon2id
from nacl.signing import VerifyKey

from tests.e2e.rfc9162_independent import verify_inclusion

SKEW = 300
MAX_AGE = 7 * 86400
ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
STATEMENT_DOMAIN = b"eseal/key-statement/v1\n"
BUNDLE_TYPE = "application/vnd.eseal.trust-bundle+json"
SNAPSHOT_TYPE = "application/vnd.eseal.revocations+cbor"
#: The status codes 01 to 07, and the ledger entry kinds that record them, in turn.
STATUSES = ["VALID", "SUSPENDED", "WITHDRAWN", "CANCELLED", "LAPSED", "TRANSFERRED", "REVOKED"]
CHANGES = ["reinstate", "suspend", "withdraw", "cancel", "lapse", "transfer", "revoke"]
STATUS_OF_CODE = {f"0{i}": status for i, status in enumerate(STATUSES, 1)}
CODE_OF_KIND = {f"license.{change}": f"0{i}" for i, change in enumerate(CHANGES, 1)}
LICENSE_STEPS = ("decode", "issuer", "signature", "authority", "time", "status")


class Stop(Exception):
    """A verdict other than VALID."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class NoVerdict(Exception):
    """The verifier stops with an error (a node's answer that proves nothing)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def key_id(public_key: bytes) -> bytes:
    return sha256(public_key)[:8]


def signed(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError):
        return False
    return True


def _plain(value: object) -> bool:
    if value is None or isinstance(value, bool | int | bytes | str):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return isinstance(value, dict) and all(_plain(k) and _plain(v) for k, v in value.items())


def strict_cbor(data: bytes) -> Any:
    """Deterministic CBOR without tags: decoded, re-encoded, and the bytes compared."""
    value = cbor2.loads(data)
    if not _plain(value) or cbor2.dumps(value, canonical=True) != data:
        raise ValueError("not deterministic CBOR")
    return value


def open_envelope(raw: bytes, payload_type: str, public_key: bytes) -> bytes:
    """A DSSE envelope's payload, signed by ``public_key`` (keyid: its key id in hex)."""
    envelope = json.loads(raw)
    if envelope["payloadType"] != payload_type:
        raise ValueError("wrong payload type")
    payload = base64.b64decode(envelope["payload"], validate=True)
    pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)
    for s in envelope["signatures"]:
        sig = base64.b64decode(s["sig"], validate=True)
        if s["keyid"] == key_id(public_key).hex() and signed(public_key, pae, sig):
            return payload
    raise ValueError("envelope not signed by the key")


def note_key(verifier_key: str) -> tuple[str, bytes]:
    """(name, raw Ed25519 key) of a C2SP signed-note verifier key (split at the first two
    "+": its base64 may hold "+" too)."""
    name, key_hash, encoded = verifier_key.split("+", 2)
    raw = base64.b64decode(encoded, validate=True)
    if (
        raw[:1] != b"\x01"
        or len(raw) != 33
        or sha256(name.encode() + b"\n" + raw)[:4].hex() != key_hash
    ):
        raise ValueError("not an Ed25519 verifier key")
    return name, raw[1:]


def open_checkpoint(note: str, verifier_key: str) -> tuple[int, bytes]:
    """(size, root hash) of a C2SP checkpoint signed by ``verifier_key``; ValueError if not."""
    name, public_key = note_key(verifier_key)
    body, _, signatures = note.partition("\n\n")
    body += "\n"
    origin, size, root = body.split("\n")[:3]
    want = sha256(name.encode() + b"\n\x01" + public_key)[:4]
    for line in signatures.splitlines():
        dash, signer, encoded = line.split(" ")
        sig = base64.b64decode(encoded, validate=True)
        ours = (dash, signer, origin, sig[:4]) == ("—", name, name, want)
        if ours and signed(public_key, body.encode(), sig[4:]):
            return int(size), base64.b64decode(root, validate=True)
    raise ValueError("checkpoint not signed by the log key")


@dataclass(frozen=True)
class Key:
    """A signing key as a bundle lists it: whose, its record and its statement."""

    holder: str  # agency code or seal id
    is_seal: bool
    record: dict[str, Any]
    statement_bytes: bytes
    signature: bytes
    statement: dict[str, Any]


class Bundle:
    def __init__(self, raw: bytes, pinned_root_key_id: str) -> None:
        payload = json.loads(base64.b64decode(json.loads(raw)["payload"], validate=True))
        self.root = bytes.fromhex(payload["root_public_key"])
        if key_id(self.root).hex() != pinned_root_key_id:
            raise ValueError("bundle root key is not the pinned one")
        p = json.loads(open_envelope(raw, BUNDLE_TYPE, self.root).decode())
        if p["format"] != "eseal-trust-bundle/v1":
            raise ValueError("not a trust bundle")
        self.region: str = p["region"]
        self.issued_at: int = p["issued_at"]
        self.log_verifier: str = p["log_verifier"]
        self.checkpoint_size = open_checkpoint(p["checkpoint"], self.log_verifier)[0]
        self.seal_agency = {s["id"]: s["agency_code"] for s in p["seals"]}
        self.seal_statement = {s["id"]: base64.b64decode(s["key"]["statement"]) for s in p["seals"]}
        listed = [(a["code"], False, k) for a in p["agencies"] for k in a["keys"]]
        listed += [(s["id"], True, s["key"]) for s in p["seals"]]
        self.keys: dict[bytes, list[Key]] = {}
        for holder, is_seal, record in listed:
            statement_bytes, signature = strict_cbor(base64.b64decode(record["statement"]))
            statement = strict_cbor(statement_bytes)
            key = Key(holder, is_seal, record, statement_bytes, signature, statement)
            self.keys.setdefault(key_id(statement["pk"]), []).append(key)


class Snapshot:
    def __init__(self, raw: bytes, bundle: Bundle) -> None:
        log_key = note_key(bundle.log_verifier)[1]
        p = strict_cbor(open_envelope(raw, SNAPSHOT_TYPE, log_key))
        if p["format"] != "eseal-revocations/v1" or p["region"] != bundle.region:
            raise ValueError("not this region's snapshot")
        open_checkpoint(p["checkpoint"], bundle.log_verifier)
        self.as_of: int = p["as_of"]
        self.statuses: dict[str, bytes] = p["statuses"]
        self.seals_revoked: list[str] = p["seals_revoked"]
        self.keys_revoked: list[str] = p.get("keys_revoked", [])

    def status_of(self, license_id: str) -> str:
        for code in sorted(self.statuses):
            if cascade_holds(self.statuses[code], license_id):
                return code
        return "01"


def cascade_holds(cascade: bytes, ident: str) -> bool:
    """Whether the CRLite cascade (``verifier/cascade.py``'s format) holds ``ident``."""
    if cascade[:4] != b"ESC1":
        raise ValueError("not a cascade")
    levels, at, digest = cascade[4], 5, sha256(ident.encode())[:16]
    for level in range(1, levels + 1):
        m, k = int.from_bytes(cascade[at : at + 4], "big"), cascade[at + 4]
        bits, at = cascade[at + 5 : at + 5 + (m + 7) // 8], at + 5 + (m + 7) // 8
        x = int.from_bytes(sha256(bytes([level]) + digest)[:8], "little")
        h1, h2 = ((x % 2**32) * m) >> 32, 1 + (((x >> 32) * (m - 1)) >> 32)
        positions = [(h1 + i * h2) % m for i in range(k)]
        if not all(bits[b // 8] >> (b % 8) & 1 for b in positions):
            return level % 2 == 0
    return levels % 2 == 1


@dataclass(frozen=True)
class Document:
    kind: str  # license | stamp
    kid: bytes
    protected: bytes
    payload: bytes
    signature: bytes
    claims: dict[int, Any]
    cose: bytes

    @property
    def body(self) -> dict[str, Any]:
        return self.claims[-70001 if self.kind == "license" else -70002]  # type: ignore[no-any-return]


def b45decode(text: str) -> bytes:
    if len(text) % 3 == 1 or any(c not in ALPHANUMERIC for c in text):
        raise ValueError("not base45")
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = text[i : i + 3]
        n = sum(ALPHANUMERIC.index(c) * 45**e for e, c in enumerate(chunk))
        if n >= 256 ** (len(chunk) - 1):
            raise ValueError("base45 value too large")
        out += n.to_bytes(len(chunk) - 1, "big")
    return bytes(out)


def inflate(data: bytes, limit: int = 16 * 1024) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, limit + 1)
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail or len(out) > limit:
        raise ValueError("not one zlib stream of at most 16 KiB")
    return out


def check_header(protected: bytes) -> bytes:
    """The kid of a protected header, in the docstring's order of refusals."""
    header = strict_cbor(protected)
    if 2 in header or header.get(1) != -8:
        raise Stop("UNSUPPORTED")
    kid = header.get(4)
    if not isinstance(kid, bytes) or len(kid) != 8:
        raise ValueError("kid")
    if set(header) != {1, 4}:
        raise Stop("UNSUPPORTED")
    return kid


def check_claims(kind: str, claims: dict[int, Any]) -> None:
    body_key, body_keys = (
        (-70001, {"t", "r", "v", "h", "f"}) if kind == "license" else (-70002, {"s", "d", "n", "z"})
    )
    required, optional = {1, 5, 6, 7, body_key}, {4} if kind == "license" else set()
    if not required <= set(claims) <= required | optional:
        raise ValueError("claims")
    times = [claims[k] for k in (4, 5, 6) if k in claims]
    if not all(type(t) is int and 0 <= t <= 253402300799 for t in times):
        raise ValueError("times")
    if claims.get(4, claims[5]) < claims[5] or not isinstance(claims[7], bytes):
        raise ValueError("exp or cti")
    if not isinstance(claims[body_key], dict) or not body_keys <= set(claims[body_key]):
        raise ValueError("body")
    if kind == "license":
        check_holder_hash(claims[body_key]["h"])


def check_holder_hash(holder: Any) -> None:
    """A holder's id hash: Argon2id "ia" or legacy SHA-256 "ih", not both, either with its
    salt "is"; each 16 bytes. "ia" is a natural person's, whose "id" then shows the check
    character alone (17 asterisks and a digit or X)."""
    if not isinstance(holder, dict):
        raise ValueError("holder")
    hashes = [k for k in ("ia", "ih") if k in holder]
    if len(hashes) > 1 or bool(hashes) != ("is" in holder):
        raise ValueError("holder id hash")
    for key in (*hashes, "is"):
        if key in holder and (type(holder[key]) is not bytes or len(holder[key]) != 16):
            raise ValueError("holder id hash size")
    if "ia" in holder and holder.get("k") != "N":
        raise ValueError("an Argon2id holder hash on a legal person")
    shown = holder.get("id")
    if "ia" in holder and shown is not None:
        if not (isinstance(shown, str) and len(shown) == 18 and shown[:17] == "*" * 17):
            raise ValueError("an Argon2id holder's number shows more than its check character")
        if shown[17] not in "0123456789X":
            raise ValueError("an Argon2id holder's check character")


def decode(text: str) -> Document:
    """The document of a QR text (its signature unchecked), or Stop(MALFORMED/UNSUPPORTED)."""
    if len(text) > 4000:
        raise Stop("MALFORMED")
    kind = {"EL1:": "license", "ES1:": "stamp"}.get(text[:4])
    if kind is None:
        raise Stop("UNSUPPORTED")
    try:
        cose = inflate(b45decode(text[4:]))
        item = cbor2.loads(cose)
        if not isinstance(item, cbor2.CBORTag) or item.tag != 18 or not _plain(item.value):
            raise ValueError("not a COSE_Sign1")
        if cbor2.dumps(item, canonical=True) != cose:
            raise ValueError("not deterministic")
        protected, unprotected, payload, signature = item.value
        if unprotected != {} or not isinstance(protected, bytes):
            raise ValueError("unprotected header")
        kid = check_header(protected)
        if not isinstance(signature, bytes) or len(signature) != 64:
            raise ValueError("signature")
        claims = strict_cbor(payload)
        check_claims(kind, claims)
    except (ValueError, TypeError, KeyError, EOFError, cbor2.CBORDecodeError):
        raise Stop("MALFORMED") from None
    return Document(kind, kid, protected, payload, signature, claims, cose)


@dataclass
class Run:
    doc: Document
    bundle: Bundle
    snapshot: Snapshot | None
    online: dict[str, Any] | None
    now: int
    steps: dict[str, bool]
    warnings: list[str] = field(default_factory=list)
    #: The license that replaces this one, as a proved status entry names it.
    replaced_by: str | None = None

    def passed(self, step: str) -> None:
        self.steps[step] = True


def find_key(run: Run) -> Key:
    doc, claims = run.doc, run.doc.claims
    holder = claims[1] if doc.kind == "license" else doc.body["s"]
    keys = [
        k
        for k in run.bundle.keys.get(doc.kid, [])
        if k.holder == holder
        and k.is_seal == (doc.kind == "stamp")
        and (not k.is_seal or run.bundle.seal_agency[holder] == claims[1])
    ]
    if not keys:
        raise Stop("UNKNOWN_ISSUER")
    run.passed("issuer")
    sig_structure = cbor2.dumps(["Signature1", doc.protected, b"", doc.payload])
    for key in keys:
        if signed(key.statement["pk"], sig_structure, doc.signature):
            run.passed("signature")
            return key
    raise Stop("BAD_SIGNATURE")


def check_authority(run: Run, key: Key) -> None:
    """``verifier/trust.py``'s rules, in their order."""
    iat, s, record = run.doc.claims[6], key.statement, key.record
    if record["status"] == "revoked":
        raise Stop("REVOKED" if key.is_seal else "KEY_REVOKED")
    if record["status"] == "retired" and iat > record["retired_at"]:
        raise Stop("ISSUER_NOT_AUTHORISED")
    root_signed = signed(run.bundle.root, STATEMENT_DOMAIN + key.statement_bytes, key.signature)
    if s["iss"] != key_id(run.bundle.root) or not root_signed:
        raise Stop("ISSUER_NOT_AUTHORISED")
    if s["st"] != "active":
        raise Stop("KEY_REVOKED")
    license = run.doc.kind == "license"
    if s["role"] != ("agency" if license else "seal") or (
        license and run.doc.body["t"] not in s["scope"]
    ):
        raise Stop("ISSUER_NOT_AUTHORISED")
    if not s["nbf"] <= iat <= s["exp"]:
        raise Stop("ISSUER_NOT_AUTHORISED")
    if license and run.doc.body["r"] != run.bundle.region:
        raise Stop("ISSUER_NOT_AUTHORISED")
    run.passed("authority")


def check_time(run: Run) -> None:
    newest = max(run.bundle.issued_at, run.snapshot.as_of if run.snapshot else 0)
    if run.now + SKEW < newest:
        run.warnings.append("CLOCK_BEHIND")
        run.now = newest
    if run.now + SKEW < run.doc.claims[5]:
        raise Stop("NOT_YET_VALID")
    if run.doc.kind == "license" and run.now - SKEW > run.doc.claims.get(4, run.now):
        raise Stop("EXPIRED")
    run.passed("time")


def check_status_offline(run: Run, snapshot: Snapshot) -> None:
    doc = run.doc
    if doc.kind == "stamp":
        code = "07" if doc.body["s"] in snapshot.seals_revoked else "01"
    elif doc.kid.hex() in snapshot.keys_revoked:
        raise Stop("KEY_REVOKED")
    elif doc.claims[6] > snapshot.as_of:
        run.warnings.append("NO_STATUS")
        return
    else:
        code = snapshot.status_of(doc.claims[7].decode())
    if run.now - snapshot.as_of > MAX_AGE:
        run.warnings.append("STALE_STATUS")
    if code != "01":
        raise Stop(STATUS_OF_CODE[code])
    run.passed("status")


def _proved(answer: dict[str, Any], checkpoint: tuple[int, bytes], prefix: str) -> dict[int, Any]:
    """The entry at ``<prefix>index`` of a node's answer, proved under its checkpoint."""
    size, root = checkpoint
    raw = base64.b64decode(answer[f"{prefix}entry"], validate=True)
    index = answer[f"{prefix}index" if prefix else "ledger_index"]
    proof = answer[f"{prefix}proof" if prefix else "inclusion_proof"]
    path = [base64.b64decode(h, validate=True) for h in proof]
    if not verify_inclusion(sha256(b"\x00" + raw), index, size, path, root):
        raise NoVerdict("node-answer-unproven")
    value: dict[int, Any] = strict_cbor(raw)
    return value


def _unknown_to_node(run: Run, online: dict[str, Any]) -> bool:
    """Whether the node answered with its problem for a license or seal it never recorded
    (404 unknown-…, or 400 invalid-…-id for an id it could not have recorded): it is then
    NOT_IN_LEDGER. Any other answer but 200 is an error."""
    kind = "license" if run.doc.kind == "license" else "seal"
    problem = online["body"].get("type", "") if isinstance(online["body"], dict) else ""
    never = {404: f"/unknown-{kind}", 400: f"/invalid-{kind}-id"}.get(online["http_status"])
    if never is not None and str(problem).endswith(never):
        raise Stop("NOT_IN_LEDGER")
    if online["http_status"] != 200:
        raise NoVerdict("node-unreachable")
    return False


def replaced_by(code: str, change: dict[int, Any], answer: dict[str, Any]) -> str | None:
    """The license that replaces this one: a transfer's as its entry names it (``to``, 9),
    whatever the answer says; a renewal's, the answer's where the lapse's reason (7) names it."""
    if code == "06":
        return change.get(9)
    new = answer.get("replaced_by")
    if code == "05" and isinstance(new, str) and change.get(7) == f"renewed as {new}":
        return new
    return None


def check_status_online(run: Run, online: dict[str, Any]) -> None:
    if _unknown_to_node(run, online):
        return
    license, answer = run.doc.kind == "license", online["body"]
    try:
        checkpoint = open_checkpoint(answer["checkpoint"], run.bundle.log_verifier)
    except ValueError:
        raise NoVerdict("node-answer-unproven") from None
    if checkpoint[0] < run.bundle.checkpoint_size:
        raise NoVerdict("node-answer-unproven")
    subject = run.doc.claims[7].decode() if license else run.doc.body["s"]
    created = _proved(answer, checkpoint, "")
    kinds = ("license.issue", "license.renew") if license else ("seal.create",)
    if created[1] not in kinds or created[4] != subject:
        raise NoVerdict("node-answer-unproven")
    recorded, change = "01", {}
    if answer.get("status_index") is not None:
        change = _proved(answer, checkpoint, "status_")
        change_codes = CODE_OF_KIND if license else {"seal.revoke": "07"}
        if change[1] not in change_codes or (change[4], change[5]) != (created[4], created[5]):
            raise NoVerdict("node-answer-unproven")
        recorded = change_codes[change[1]]
    code = answer["status"] if license else {"active": "01", "revoked": "07"}[answer["status"]]
    if recorded != code:
        raise NoVerdict("node-answer-unproven")
    run.replaced_by = replaced_by(code, change, answer)
    if license and created[5] != sha256(run.doc.cose):
        raise Stop("NOT_IN_LEDGER")
    if not license and created[5] != sha256(run.bundle.seal_statement[subject]):
        raise Stop("NOT_IN_LEDGER")  # the region recorded another key under the seal's id
    if code != "01":
        raise Stop(STATUS_OF_CODE[code])
    run.passed("status")
    if license:
        run.passed("ledger")


def check_document(run: Run, document: bytes | None) -> None:
    if document is None:
        run.warnings.append("DOCUMENT_NOT_COMPARED")
        return
    if sha256(document) != run.doc.body["d"] or len(document) != run.doc.body["z"]:
        raise Stop("DOCUMENT_MISMATCH")
    run.passed("document")


#: GB 11643 (identity numbers) and GB 32100 (credit codes): the check character of the
#: first 17 characters.
ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def presented_holder_id(raw: str) -> str:
    """The presented id normalised (NFKC, white space removed, upper case), if it is an
    identity number or a credit code whose check character holds."""
    s = "".join(unicodedata.normalize("NFKC", raw).split()).upper()
    head = s[:17]
    if len(s) == 18 and head.isascii() and head.isdigit():
        total = sum(int(c) * w for c, w in zip(head, ID_WEIGHTS, strict=True))
        if "10X98765432"[total % 11] == s[17]:
            return s
    if len(s) == 18 and all(c in CREDIT_CHARS for c in s):
        total = sum(CREDIT_CHARS.index(c) * w for c, w in zip(head, CREDIT_WEIGHTS, strict=True))
        if CREDIT_CHARS[-total % 31] == s[17]:
            return s
    raise NoVerdict("invalid-holder-id")


def check_holder(run: Run, presented: str) -> None:
    holder = run.doc.body["h"]
    if holder["k"] == "L" and "id" in holder:
        same = hmac.compare_digest(holder["id"].upper().encode(), presented.encode())
    elif holder["k"] == "N" and "ia" in holder:
        # Argon2id (RFC 9106): t = 2, m = 19 MiB, p = 1, a 16-byte tag, "is" the salt.
        digest = argon2id.kdf(16, presented.encode(), holder["is"], opslimit=2, memlimit=19 << 20)
        same = hmac.compare_digest(digest, holder["ia"])
    elif holder["k"] == "N" and "ih" in holder:
        digest = sha256(holder["is"] + presented.encode())[:16]
        same = hmac.compare_digest(digest, holder["ih"])
    else:
        run.warnings.append("HOLDER_NOT_COMPARED")
        return
    if not same:
        raise Stop("HOLDER_MISMATCH")
    run.passed("holder")


def verify_case(case: dict[str, Any], here: Path, pinned_root_key_id: str) -> dict[str, Any]:
    """The ``expected`` object of a case, as this verifier finds it."""
    bundle = Bundle((here / case["bundle"]).read_bytes(), pinned_root_key_id)
    revocations = case["revocations"]
    snapshot = Snapshot((here / revocations).read_bytes(), bundle) if revocations else None
    try:
        # A presented holder id is checked before the document is: one that is no id is
        # an error whatever the document.
        holder_id = case.get("holder_id")
        presented = presented_holder_id(holder_id) if holder_id is not None else None
    except NoVerdict as no:
        return {"error": no.error, "valid": False}
    try:
        doc = decode(case["qr_text"])
    except Stop as stop:
        steps = dict.fromkeys(LICENSE_STEPS, False)
        return {"status": stop.status, "valid": False, "kind": None, "steps": steps, "warnings": []}
    names = [*LICENSE_STEPS, *(["document"] if doc.kind == "stamp" else [])]
    names += ["ledger"] if case["online"] is not None else []
    if presented is not None and doc.kind == "stamp":
        return {"error": "no-holder", "valid": False}  # a seal stamp has no holder
    names += ["holder"] if presented is not None else []
    run = Run(
        doc, bundle, snapshot, case["online"], case["validation_time"], dict.fromkeys(names, False)
    )
    run.passed("decode")
    document = base64.b64decode(case["document"]) if case["document"] is not None else None
    status = "VALID"
    try:
        check_authority(run, find_key(run))
        check_time(run)
        if run.now - bundle.issued_at > MAX_AGE:
            run.warnings.append("STALE_TRUST")
        if run.online is not None:
            check_status_online(run, run.online)
        elif snapshot is not None:
            check_status_offline(run, snapshot)
        else:
            run.warnings.append("NO_STATUS")
        if doc.kind == "stamp":
            check_document(run, document)
        if presented is not None:
            check_holder(run, presented)
    except Stop as stop:
        status = stop.status
    except NoVerdict as no:
        return {"error": no.error, "valid": False}
    replaced = {} if run.replaced_by is None else {"replaced_by": run.replaced_by}
    return {
        "status": status,
        "valid": status == "VALID",
        "kind": doc.kind,
        "steps": run.steps,
        "warnings": run.warnings,
    } | replaced
