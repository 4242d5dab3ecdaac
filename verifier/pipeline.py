"""The verification pipeline: QR text (or a decoded image) to a :class:`Verdict`, through
a fixed sequence of named steps, each able to stop with its own status.

decode → find_issuer → check_signature → check_authority → check_time → check_status
→ check_ledger, and for a seal stamp check_document; for a license, when the window gives
the id presented with it, check_holder last (a forged or revoked license keeps its own
status). Time is a parameter; the status source (an offline snapshot or a node online) is
passed in.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol

from keys.errors import CheckFailed, EsealError, ExternalFailure, InvalidInput
from keys.statements import KeyRevoked, Role
from verifier.document import (
    DecodedDocument,
    LicenseClaims,
    StampClaims,
    UnknownPrefix,
    UnsupportedDocument,
    decode,
)
from verifier.holder import (
    HolderNotApplicable,
    InvalidHolderId,
    compare,
    is_credit_code,
    presented_id,
)
from verifier.trust import (
    CENTRAL_REGION,
    PROVINCES,
    Signer,
    TrustBundle,
    TrustStore,
    displayable,
)
from verifier.verdict import (
    CLOCK_BEHIND,
    DOCUMENT_NOT_COMPARED,
    HOLDER_NOT_COMPARED,
    NO_STATUS,
    STALE_STATUS,
    STALE_TRUST,
    STATUS_OF_CODE,
    VALID,
    Check,
    Freshness,
    Status,
    Verdict,
    renewed_as,
)
from verifier.witnessing import Witnessing

DEFAULT_SKEW = 300
DEFAULT_MAX_STATUS_AGE = 7 * 86400


@dataclass(slots=True)
class StatusAnswer:
    """What a status source says of one license or seal."""

    code: str | None  # "01" … "07"; None: the source does not know it
    source: str  # offline | online
    as_of: int
    checkpoint_size: int | None = None
    ledger_included: bool | None = None  # online: issuance entry proved in a checkpoint
    detail: str = ""
    since: int | None = None  # online: when the status last changed
    reason: str | None = None  # online: the agency's reason for it (printable, ≤ 256 chars)
    replaced_by: str | None = None  # online: the license that replaced it (same rule)
    key_revoked: bool = False  # the source knows the signing key was revoked
    #: under a witness policy: how the answer's checkpoint (online) or the snapshot's was
    #: witnessed
    witnessing: Witnessing | None = None


MAX_REASON = 256


def status_reason(raw: object) -> str | None:
    """An agency's reason for a status as a verdict may carry it: text of at most
    :data:`MAX_REASON` characters, white space collapsed, nothing unprintable (a node's
    answer must not drive a terminal); anything else is no reason."""
    if type(raw) is not str:
        return None
    text = " ".join(raw.split())
    return text if 0 < len(text) <= MAX_REASON and displayable(text) else None


class StatusSource(Protocol):
    def license_status(self, bundle: TrustBundle, doc: DecodedDocument) -> StatusAnswer: ...

    def seal_status(self, bundle: TrustBundle, seal_id: str) -> StatusAnswer | None: ...


@dataclass
class VerifyContext:
    store: TrustStore
    now: int
    status: StatusSource | None = None
    skew: int = DEFAULT_SKEW
    max_status_age: int = DEFAULT_MAX_STATUS_AGE
    #: By region, the newest time that region signed that this device has seen (its
    #: bundle's ``issued_at``, its snapshot's ``as_of``): the time is at least that late.
    #: A document's time is checked against its own region's only, so that no other
    #: region's clock (one running ahead, say) has a say in it.
    newest_seen: Mapping[str, int] | None = None


class Stop(Exception):
    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(slots=True)
class _Run:
    ctx: VerifyContext
    verdict: Verdict
    doc: DecodedDocument | None = None
    signer: Signer | None = None
    candidates: list[Signer] = field(default_factory=list)
    kid_hex: str = ""
    #: The time checks are made at: the device's clock, or the newest signed time it has
    #: seen when the clock is behind that (the time is at least that late).
    now: int = 0

    def passed(self, step: str, detail: str) -> None:
        self.verdict.checks.append(Check(step, True, detail))

    def decoded(self) -> DecodedDocument:
        if self.doc is None:
            raise RuntimeError("steps run out of order: nothing decoded")
        return self.doc

    def signed(self) -> tuple[DecodedDocument, Signer]:
        if self.signer is None:
            raise RuntimeError("steps run out of order: no signer")
        return self.decoded(), self.signer


#: Dates in verdicts are calendar days in China Standard Time (UTC+8), the time of the
#: licenses: a license issued at 00:30 in Beijing is dated that day, not the day before.
CST_OFFSET = 8 * 3600


def beijing_day(ts: int | None) -> str | None:
    """The calendar day (YYYY-MM-DD) of Unix time ``ts`` in China Standard Time."""
    return None if ts is None else _date((ts + CST_OFFSET) // 86400)


#: Days in 400 Gregorian years: the calendar repeats after them.
_GREGORIAN_CYCLE = 146_097


@functools.lru_cache(maxsize=4096)
def _date(day: int) -> str:
    # The last second a claim may hold (9999-12-31T23:59:59Z) is 10000-01-01 in Beijing,
    # past Python's dates: such a day is named from the same day some 400-year cycles
    # earlier, counted at once (a key statement may hold times up to 2^63 - 1, and a loop
    # of cycles would take minutes over them).
    cycles = max(0, -(-(day - _LAST_PYTHON_DAY) // _GREGORIAN_CYCLE))
    day, years = day - cycles * _GREGORIAN_CYCLE, cycles * 400
    date = datetime.fromtimestamp(day * 86400, UTC)
    return f"{date.year + years:04d}-{date.month:02d}-{date.day:02d}"


_LAST_PYTHON_DAY = (datetime(9999, 12, 31, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days


def decode_step(run: _Run, text: str) -> None:
    try:
        run.doc = decode(text)
    except UnsupportedDocument as e:
        run.verdict.recognised = not isinstance(e, UnknownPrefix)
        raise Stop(Status.UNSUPPORTED, e.message) from e
    except InvalidInput as e:
        raise Stop(Status.MALFORMED, e.message) from e
    run.verdict.kind = run.doc.kind
    run.kid_hex = run.doc.kid.hex()
    run.passed("decode", f"{run.doc.kind} document, key id {run.kid_hex}")


def find_issuer(run: _Run) -> None:
    doc = run.decoded()
    issuer = doc.claims.issuer
    if doc.kind == "license":
        want = "agency"
        run.candidates = [
            s for s in run.ctx.store.signers(doc.kid) if s.agency and s.agency.code == issuer
        ]
    else:
        # A stamp is signed by the key of the very seal it names (of the issuing agency):
        # another seal's key, even the same agency's, must not vouch for it.
        want = "seal"
        seal_id = doc.claims.body.seal_id if isinstance(doc.claims, StampClaims) else ""
        run.candidates = [
            s
            for s in run.ctx.store.signers(doc.kid)
            if s.seal and s.seal.agency_code == issuer and s.seal.id == seal_id
        ]
    if not run.candidates:
        raise Stop(Status.UNKNOWN_ISSUER, _unknown_issuer(run, want))
    if len(run.candidates) > 1:
        run.candidates = _own_region_first(run.candidates, doc.claims)
    run.passed("issuer", f"{len(run.candidates)} trusted key(s) with id {run.kid_hex}")


def _own_region_first(
    candidates: list[Signer], claims: LicenseClaims | StampClaims
) -> list[Signer]:
    """The candidates listed by the document's own region first, else in the store's order
    (a stable sort). Two regions' bundles may list one key (a central agency's seal, or a
    region's stale copy of another's): the signature step takes the first that verifies,
    and its listing decides the verdict, so it is the own region's whatever the order the
    bundles were loaded in. A license's own region is the one it names; a stamp's, its
    agency's province by its credit code (:func:`seal_region`): a seal its own region
    revoked is revoked though another region's copy lists it active."""
    if isinstance(claims, LicenseClaims):
        region = claims.body.region
        return sorted(candidates, key=lambda s: s.bundle.region != region)
    registered = seal_region(claims.issuer)
    if registered is None:
        return candidates
    province = registered[:2]
    return sorted(candidates, key=lambda s: s.bundle.region[:2] != province)


def covers(region: str, code: str) -> bool:
    """Whether the division ``code`` (GB/T 2260, six digits) lies in ``region``: a province
    (``xx0000``) holds its cities and counties, a city (``xxxx00``) its counties."""
    if region.endswith("0000"):
        return code[:2] == region[:2]
    if region.endswith("00"):
        return code[:4] == region[:4]
    return code == region


def seal_region(agency_code: str) -> str | None:
    """The region a seal stamp's agency names by its credit code (GB 32100: positions 3-8,
    where the agency is registered), or None where the code is none an agency could have
    (eseal.ids.validate_credit_code refuses it: its check character does not hold, or
    positions 3-8 are not a region code of a known province nor the central government's).
    A stamp names no region of its own; this is the best the window knows of whose trusted
    list would hold the seal (the central government's ``100000``: any region's may). It is
    what the stamp says, not to be believed: a seal no list holds may be forged whatever
    region its stamp names."""
    if not is_credit_code(agency_code):
        return None
    region = agency_code[2:8]
    if not (region.isascii() and region.isdigit()):
        return None
    return region if region == CENTRAL_REGION or region[:2] in PROVINCES else None


def unheld_seal_region(verdict: Verdict, trusted: Iterable[str]) -> str | None:
    """The region whose trusted list a stamp of an unknown seal would be on, by its
    agency's credit code, where none of the ``trusted`` regions holds it, or None: then its
    seal is unknown to its own region's list, and may be forged. One of a central
    government agency is named ``100000`` (any region's list may hold it)."""
    agency = verdict.document.get("agency_code") if verdict.kind == "stamp" else None
    if verdict.status is not Status.UNKNOWN_ISSUER or not isinstance(agency, str):
        return None
    registered = seal_region(agency)
    if registered is None or (
        registered != CENTRAL_REGION and any(covers(r, registered) for r in trusted)
    ):
        return None
    return registered


def _unknown_issuer(run: _Run, want: str) -> str:
    """Why no trusted key signed the document, with what the trust store may lack: a
    region it does not hold, or a key newer than its newest bundle."""
    doc, store = run.decoded(), run.ctx.store
    claims = doc.claims
    why = f"no trusted {want} key {run.kid_hex} of issuer {claims.issuer}"
    region = claims.body.region if isinstance(claims, LicenseClaims) else None
    # Its own region's newest bundle (a stamp names no region: any region's).
    newest = store.signed_at.get(region) if region else max(store.signed_at.values(), default=None)
    trusted = ", ".join(sorted(store.signed_at)) or "none"
    registered = seal_region(claims.issuer) if region is None else None
    held = region is None or newest is not None
    if not held:
        why += f"; a license of region {region} (regions trusted: {trusted})"
    elif registered == CENTRAL_REGION:
        why += (
            f"; a seal of a central government agency ({registered}), which any region's "
            f"bundle may list (regions trusted: {trusted})"
        )
    elif registered is not None and not any(covers(r, registered) for r in store.signed_at):
        held = False
        why += f"; a seal of an agency of region {registered} (regions trusted: {trusted})"
    if held and newest is not None and claims.issued_at > newest:
        why += (
            f"; signed on {beijing_day(claims.issued_at)}, after the newest trust bundle "
            f"({beijing_day(newest)}): a newer bundle may list its key"
        )
    return why


def check_signature(run: _Run) -> None:
    doc = run.decoded()
    for signer in run.candidates:
        if doc.verify_with(signer.key.public_key):
            run.signer = signer
            break
    else:
        raise Stop(Status.BAD_SIGNATURE, "the signature does not verify with the issuer's key")
    agency = run.signer.agency
    seal = run.signer.seal
    run.verdict.issuer = {
        "region": run.signer.bundle.region,
        "region_name": run.signer.bundle.name,
        "agency_code": agency.code if agency else seal.agency_code if seal else None,
        "agency_name": agency.name if agency else _agency_name(run.signer.bundle, seal),
        "key_id": run.kid_hex,
    }
    run.passed("signature", "Ed25519 signature verifies")


def _agency_name(bundle: TrustBundle, seal: object) -> str | None:
    code = getattr(seal, "agency_code", None)
    return next((a.name for a in bundle.agencies if a.code == code), None)


#: The roles read once: an enum member read off its class costs a descriptor call.
_AGENCY: Final = Role.AGENCY
_SEAL: Final = Role.SEAL


def check_authority(run: _Run) -> None:
    doc, signer = run.signed()
    claims = doc.claims
    if signer.key.status == "revoked":
        if signer.seal is not None:  # a seal is its key: revoking it revokes the seal
            raise Stop(Status.REVOKED, f"seal {signer.seal.id} ({signer.seal.name}) is revoked")
        raise Stop(Status.KEY_REVOKED, f"the signing key {doc.kid.hex()} has been revoked")
    retired = signer.key.retired_at
    if signer.key.status == "retired" and retired is not None and claims.issued_at > retired:
        raise Stop(
            Status.ISSUER_NOT_AUTHORISED,
            f"signed after its key {doc.kid.hex()} was retired on {beijing_day(retired)}",
        )
    license_type = claims.body.type_code if isinstance(claims, LicenseClaims) else None
    role = _AGENCY if doc.kind == "license" else _SEAL
    statement = signer.key.statement.statement
    try:
        run.ctx.store.check_chain(signer, role=role, license_type=license_type)
    except KeyRevoked as e:
        raise Stop(Status.KEY_REVOKED, e.message) from e
    except (CheckFailed, InvalidInput) as e:
        raise Stop(Status.ISSUER_NOT_AUTHORISED, e.message) from e
    if not statement.not_before <= claims.issued_at <= statement.not_after:
        raise Stop(
            Status.ISSUER_NOT_AUTHORISED,
            f"signed on {beijing_day(claims.issued_at)}, outside its key's validity "
            f"({beijing_day(statement.not_before)} to {beijing_day(statement.not_after)})",
        )
    if isinstance(claims, LicenseClaims) and claims.body.region != signer.bundle.region:
        raise Stop(
            Status.ISSUER_NOT_AUTHORISED,
            f"license says region {claims.body.region}, key is of {signer.bundle.region}",
        )
    scope = f", type {license_type} in scope" if license_type else ""
    run.passed("authority", f"key certified by region {signer.bundle.region} root{scope}")


def check_time(run: _Run) -> None:
    (doc, signer), ctx = run.signed(), run.ctx
    claims = doc.claims
    now, behind = ctx.now, ""
    signed = ctx.newest_seen.get(signer.bundle.region) if ctx.newest_seen else None
    if signed is not None and ctx.now + ctx.skew < signed:
        # The clock is wrong, and the document's own region says by its signature how late
        # it is at least: checked at that time, a license in effect is valid (amber, for the
        # clock) and one that has expired is expired, whatever the clock says.
        run.verdict.warnings.append(CLOCK_BEHIND)
        now = run.now = signed
        behind = f" (this device's clock is behind {beijing_day(now)}: set it and verify again)"
    if now + ctx.skew < claims.not_before:
        raise Stop(Status.NOT_YET_VALID, f"valid from {beijing_day(claims.not_before)}{behind}")
    if not isinstance(claims, LicenseClaims):  # a stamp has no end: it dates its document
        run.passed("time", f"stamped on {beijing_day(claims.issued_at)}, in effect")
        return
    expires = claims.expires
    if expires is not None and now - ctx.skew > expires:
        raise Stop(Status.EXPIRED, f"expired on {beijing_day(expires)}{behind}")
    until = beijing_day(expires)
    run.passed("time", f"valid until {until}" if until else "valid with no end date")


def check_status(run: _Run) -> None:
    (doc, signer), ctx = run.signed(), run.ctx
    verdict = run.verdict
    if signer.seal is not None and signer.key.status == "revoked":
        raise Stop(Status.REVOKED, f"seal {signer.seal.id} is revoked")
    if run.now - signer.bundle.issued_at > ctx.max_status_age:
        verdict.warnings.append(STALE_TRUST)
    source = ctx.status
    if source is None:
        verdict.warnings.append(NO_STATUS)
        verdict.checks.append(Check("status", False, "no status source: not checked"))
        return
    claims = doc.claims
    if isinstance(claims, StampClaims):
        answer = source.seal_status(signer.bundle, claims.body.seal_id)
    else:
        answer = source.license_status(signer.bundle, doc)
    if answer is not None and answer.key_revoked:
        raise _key_revoked(verdict, answer)
    if answer is not None and answer.ledger_included is False:
        # The region's own node does not know this document, or the ledger records another
        # document under its license id: nothing proves this one's issuance (unknown is not
        # fine), and the status of the license issued under that id is not its status (a
        # forger must not be sent off to have "his" suspended license reinstated).
        verdict.freshness = Freshness(
            answer.source,
            answer.as_of,
            False,
            answer.checkpoint_size,
            ledger_included=False,
            witnessing=answer.witnessing,
        )
        raise Stop(
            Status.NOT_IN_LEDGER,
            (answer.detail or "the ledger does not record this document under its license id")
            + _witnessed(answer),
        )
    if answer is None or answer.code is None:
        verdict.warnings.append(NO_STATUS)
        detail = answer.detail if answer else "status unknown"
        verdict.checks.append(Check("status", False, detail))
        if answer is not None and answer.witnessing is not None:
            # Good news withheld short of the quorum: the status source stays "none", and
            # the verdict says how its checkpoint was witnessed.
            verdict.freshness.witnessing = answer.witnessing
        return
    as_of = answer.as_of
    verdict.freshness = Freshness(
        answer.source,
        as_of,
        False,
        answer.checkpoint_size,
        answer.ledger_included,
        answer.since,
        answer.reason,
        answer.replaced_by,
        answer.witnessing,
    )
    if answer.source == "offline" and run.now - as_of > ctx.max_status_age:
        verdict.freshness.stale = True
        verdict.warnings.append(STALE_STATUS)
    if answer.code != "01":
        status = STATUS_OF_CODE.get(answer.code, Status.REVOKED)
        since = f", since {beijing_day(answer.since)}" if answer.since is not None else ""
        why = f": {answer.reason}" if answer.reason else ""
        if answer.replaced_by and answer.reason != renewed_as(answer.replaced_by):
            why += f"; replaced by {answer.replaced_by}"  # (a renewal's reason names it)
        day = beijing_day(as_of)
        said = f"status {answer.code} ({answer.source}, as of {day}{since}){why}"
        raise Stop(status, said + _witnessed(answer))
    said = f"{answer.source} status 01 as of {beijing_day(as_of)}"
    verdict.checks.append(Check("status", True, said + _witnessed(answer)))


def _key_revoked(verdict: Verdict, answer: StatusAnswer) -> Stop:
    """The stop of a signing key the source knows was revoked, newer than the bundle (the
    region revoked it since the bundle was cut). The verdict's freshness says whose word it
    is and as of when, as of any adverse status (not "none", which says the status was not
    checked). Under a witness policy (a peer's snapshot held to one) it counts met or not,
    and the verdict says how the checkpoint was witnessed, as of any adverse status: in its
    reason and ``freshness.witnessed``."""
    verdict.freshness = Freshness(
        answer.source,
        answer.as_of,
        checkpoint_size=answer.checkpoint_size,
        witnessing=answer.witnessing,
    )
    return Stop(
        Status.KEY_REVOKED,
        f"{answer.detail or 'the signing key is revoked'} "
        f"({answer.source}, as of {beijing_day(answer.as_of)})" + _witnessed(answer),
    )


def _witnessed(answer: StatusAnswer) -> str:
    """How the checkpoint of an online answer (or of a peer's snapshot, offline) was
    witnessed, for its check's detail, when the source was given a witness policy: a
    proved status other than 01 counts without a quorum (the region's signed ledger
    records it), and the detail says so."""
    if answer.witnessing is None:
        return ""
    return f"; {answer.witnessing.describe()}"


def check_ledger(run: _Run) -> None:
    fresh = run.verdict.freshness
    if not fresh.ledger_included:  # not asked (a document not proved stopped at status)
        return
    run.passed("ledger", f"issuance entry included in checkpoint of size {fresh.checkpoint_size}")


def check_document(run: _Run, document: bytes | None) -> None:
    doc = run.decoded()
    if not isinstance(doc.claims, StampClaims):
        return
    body = doc.claims.body
    if document is None:
        run.verdict.warnings.append(DOCUMENT_NOT_COMPARED)
        run.verdict.checks.append(Check("document", False, "no document given to compare"))
        return
    if hashlib.sha256(document).digest() != body.document_sha256 or len(document) != body.size:
        raise Stop(Status.DOCUMENT_MISMATCH, f"the file is not the sealed {body.file_name}")
    run.passed("document", f"SHA-256 of the file matches the sealed {body.file_name}")


def check_holder(run: _Run, presented: str | None) -> None:
    """The presented id (normalised, well-formed) against the license's holder."""
    doc = run.decoded()
    if presented is None or not isinstance(doc.claims, LicenseClaims):
        return
    holder = doc.claims.body.holder
    what = "credit code" if holder.kind == "L" else "identity number"
    same = compare(holder, presented)
    if same is None:
        run.verdict.warnings.append(HOLDER_NOT_COMPARED)
        carried = "no holder id" if holder.kind == "L" else "no hash of the holder's id number"
        run.verdict.checks.append(
            Check("holder", False, f"the license carries {carried} to compare")
        )
        return
    if not same:
        raise Stop(Status.HOLDER_MISMATCH, f"the presented id is not the holder's {what}")
    run.passed("holder", f"the presented id is the holder's {what}")


def _describe(run: _Run) -> None:
    doc = run.doc
    if doc is None:
        return
    claims = doc.claims
    if isinstance(claims, LicenseClaims):
        body = claims.body
        info = run.ctx.store.license_type(body.type_code, body.region)
        labels = info.labels if info else {}
        fields = body.fields
        # The catalogue's order, as on the printed license (the QR keeps CBOR's order).
        names = info.in_order(tuple(fields)) if info is not None and info.fields else fields
        run.verdict.document = {
            "id": claims.license_id,
            "type_code": body.type_code,
            "type_name": info.name if info else None,
            "type_name_en": info.name_en or None if info else None,
            "holder": body.holder.name,
            "holder_id": body.holder.id_display,
            "fields": [{"name": k, "label": labels.get(k, k), "value": fields[k]} for k in names],
            "issued": beijing_day(claims.issued_at),
            "valid_until": beijing_day(claims.expires),
            "version": body.version,
            "previous": body.previous,
            "seal_id": body.seal_id,
            "region": body.region,
        }
    else:
        stamp = claims.body
        seal = run.signer.seal if run.signer else None
        run.verdict.document = {
            "id": claims.stamp_id,
            "seal_id": stamp.seal_id,
            "seal_name": seal.name if seal else None,
            # The seal's agency as the stamp names it (its issuer) and, by its credit code,
            # the region whose trusted list would hold the seal (seal_region; None for a
            # code no agency could have). What the stamp says, like the rest.
            "agency_code": claims.issuer,
            "agency_region": seal_region(claims.issuer),
            "file_name": stamp.file_name,
            "size": stamp.size,
            "sha256": stamp.document_sha256.hex(),
            "stamped": beijing_day(claims.issued_at),
        }


Step = Callable[[_Run], None]
STEPS: tuple[Step, ...] = (
    find_issuer,
    check_signature,
    check_authority,
    check_time,
    check_status,
    check_ledger,
)
#: Each step with the name its check carries (decode and document run around them).
_NAMED_STEPS: tuple[tuple[str, Step], ...] = tuple(
    zip(("issuer", "signature", "authority", "time", "status", "ledger"), STEPS, strict=True)
)


def verify_text(
    text: str,
    ctx: VerifyContext,
    *,
    document: bytes | None = None,
    holder_id: str | None = None,
) -> Verdict:
    """The verdict on a QR text (and, for a seal stamp, the presented file; for a license,
    the id number or credit code presented with it, compared with its holder's).

    A ``holder_id`` that is no identity number or credit code is refused
    (:class:`~verifier.holder.InvalidHolderId`), as is one given with a seal stamp
    (:class:`~verifier.holder.HolderNotApplicable`): bad input, not a verdict."""
    presented = presented_id(holder_id) if holder_id is not None else None
    run = _Run(ctx, Verdict(VALID, checked_at=ctx.now), now=ctx.now)
    name = "decode"
    try:
        decode_step(run, text)
        if presented is not None and run.decoded().kind != "license":
            raise HolderNotApplicable("a seal stamp has no holder: give no holder id with it")
        for name, step in _NAMED_STEPS:  # noqa: B007 (the except clause reads the name)
            step(run)
        name = "document"
        check_document(run, document)
        name = "holder"
        check_holder(run, presented)
    except Stop as stop:
        run.verdict.status = stop.status
        run.verdict.reasons.append(stop.reason)
        run.verdict.checks.append(Check(name, False, stop.reason))
    except (ExternalFailure, HolderNotApplicable, InvalidHolderId):
        raise  # the network or a database failed, or bad input: an error, not a verdict
    except EsealError as e:  # a source failed in a way no step anticipated
        run.verdict.status = Status.MALFORMED
        run.verdict.reasons.append(e.message)
        run.verdict.checks.append(Check(name, False, e.message))
    _conclude(run)
    return run.verdict


def _conclude(run: _Run) -> None:
    """The verdict's document description, and its reason when nothing stopped it."""
    _describe(run)
    verdict = run.verdict
    if verdict.valid and not verdict.reasons:
        warned = verdict.warnings
        verdict.reasons.append(
            f"valid, with warnings: {', '.join(warned)}" if warned else "all checks passed"
        )
