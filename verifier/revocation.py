"""Revocation snapshots: the offline status of every license a region issued, exact and
compact (one Bloom-filter cascade per non-valid status code, as CRLite does), signed by
the region's log key and cut at a signed checkpoint.

Payload (deterministic CBOR, in a DSSE envelope of type
``application/vnd.eseal.revocations+cbor``)::

    {"format": "eseal-revocations/v1", "region": "500000", "as_of": <unix s>,
     "checkpoint": "<signed note>", "issued": <count>,
     "statuses": {"02": <cascade bytes>, …, "07": <cascade bytes>},
     "seals_revoked": ["<seal id>", …], "keys_revoked": ["<agency key id, hex>", …]}

``keys_revoked`` (absent from snapshots made before it was listed) names the agency signing
keys revoked as of the cut: key revocations otherwise travel only in the trust bundle, which
a window may sync less often.

``checkpoint`` may carry, after the log's own signature line, the cosignature lines of the
region's witnesses on that very checkpoint (C2SP tlog-cosignature): a reader that does not
know their keys ignores them, as a signed-note verifier does; one holding the region to a
witness policy counts them (:class:`SnapshotStatus`, ``eseal peer add --witness-policy``).

The envelope carries a signature by the region's log key (the bundle's ``log_verifier``, its
``keyid`` that key's eseal key id), checked before the payload is decoded; the payload is
deterministic CBOR (RFC 8949 §4.2.1, no tags), its ``region`` the bundle's, ``as_of`` a Unix
time, ``checkpoint`` a signed note the log key signed, ``issued`` the number of licenses the
cascades were built over, ``statuses`` keyed by the codes ``"02"`` to ``"07"`` (a code no
license has is left out). A verifier reads it for a license whose signature verified: its
signing key's id (16 lower-case hex digits) in ``keys_revoked`` gives ``KEY_REVOKED``; else,
issued (``iat``) after ``as_of``, it has no offline status; else the cascades are asked in
the order ``"02"`` to ``"07"`` about the license id (the ``cti`` as text), the first that
holds it giving its status, none ``"01"``. A seal is revoked if its id is in
``seals_revoked``, whenever its stamp was made (``keys_revoked`` lists agency keys only).

A cascade answers exactly for licenses issued before the cut; a document issued after
``as_of`` gets no offline status (the verdict says so) rather than a guess.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cbor2
from nacl.signing import SigningKey

from keys import cbor as strict_cbor
from keys.errors import EsealError, InvalidInput, shown
from ledger.checkpoint import (
    Checkpoint,
    VerifierKeyInvalid,
    parse_verifier_key,
    verify_checkpoint,
)
from verifier.cascade import Cascade, build_cascade_from_digests, id_digest
from verifier.claims import MAX_TIME, REGION_CODE, is_time
from verifier.cose import CBOR_ERRORS, require_canonical
from verifier.document import DecodedDocument, LicenseClaims
from verifier.envelope import SNAPSHOT_TYPE as SNAPSHOT_TYPE  # noqa: PLC0414 (re-exported: its format's name)
from verifier.envelope import (
    EnvelopeSignatureInvalid,
    read_envelope,
    seal_envelope,
    signed_by,
)
from verifier.pipeline import StatusAnswer
from verifier.trust import TrustBundle, TrustStore
from verifier.witnessing import Witnessing

SNAPSHOT_FORMAT = "eseal-revocations/v1"
NON_VALID = ("02", "03", "04", "05", "06", "07")
MAX_SEALS = 1_000_000
#: The CBOR items a snapshot holds at most: its fields, up to six cascades (one byte string
#: each), and the seal and key ids revoked. Counted before the payload is decoded (a signed
#: one too): a few megabytes of one-byte items would decode to gigabytes.
MAX_SNAPSHOT_ITEMS = 2 * MAX_SEALS + 64
#: A signed snapshot file (the envelope) at most, refused by its length before anything of
#: it is read. A snapshot is compact: 10^6 licenses revoked among 10^8 issued make a cascade
#: of 1.72 MB (BENCHMARKS.md), 2.3 MB in the envelope's base64. Where a large share of the
#: licenses is not valid (the lapsed versions of renewed licenses pile up), a status's
#: cascade takes 0.20 bytes per license issued at a quarter of them, 0.27 at half
#: (``bench.cascade`` at 10^6 issued): the 24 MiB of payload this holds is some 60 million
#: licenses with two statuses of a quarter each, 90 million with one of half. A file of
#: this size signed by no trusted key costs a window some 100 MB and a third of a second.
MAX_SNAPSHOT = 32 * 1024 * 1024
_KEY_ID = re.compile(r"[0-9a-f]{16}")


class MalformedSnapshot(InvalidInput):
    """The revocation snapshot is not well formed."""

    code = "malformed-snapshot"


class SnapshotTooLarge(EsealError):
    """The node's revocation snapshot would be larger than windows accept."""

    code = "snapshot-too-large"


@dataclass(frozen=True)
class RevocationSnapshot:
    region: str
    as_of: int
    checkpoint: str
    issued: int
    statuses: Mapping[str, Cascade] = field(hash=False)
    seals_revoked: frozenset[str] = frozenset()
    #: Agency signing keys (hex key ids) revoked as of the cut: a window that syncs snapshots
    #: more often than bundles learns of a compromised key with the next snapshot.
    keys_revoked: frozenset[str] = frozenset()
    #: The cascades held, in :data:`NON_VALID`'s order (each verification walks them).
    _in_order: tuple[tuple[str, Cascade], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        held = tuple((code, self.statuses[code]) for code in NON_VALID if code in self.statuses)
        object.__setattr__(self, "_in_order", held)

    @property
    def cut(self) -> tuple[int, int]:
        """What orders two snapshots of one region, newest last: ``as_of``, then the size
        of the checkpoint they were cut at. A snapshot cut at the checkpoint the witnesses
        cosigned (``?witnessed=1``) is as of the same second each time it is made until they
        cosign a later one, while its statuses are those when it is made: of two with the
        same cut nothing tells which is newer, so a reader keeps the one it holds (a replay
        of the older must not take back a revocation the newer brought)."""
        return self.as_of, Checkpoint.of_note(self.checkpoint).size

    def status_of(self, license_id: str) -> str:
        """The status code of a license issued before the cut ("01" when in no cascade)."""
        digest = id_digest(license_id)
        for code, cascade in self._in_order:
            if cascade.contains_digest(digest):
                return code
        return "01"

    def payload(self) -> bytes:
        return cbor2.dumps(
            {
                "format": SNAPSHOT_FORMAT,
                "region": self.region,
                "as_of": self.as_of,
                "checkpoint": self.checkpoint,
                "issued": self.issued,
                "statuses": {c: self.statuses[c].to_bytes() for c in sorted(self.statuses)},
                "seals_revoked": sorted(self.seals_revoked),
                "keys_revoked": sorted(self.keys_revoked),
            },
            canonical=True,
        )


def build_snapshot(
    *,
    region: str,
    as_of: int,
    checkpoint: str,
    licenses: Iterable[tuple[str, str]],
    seals_revoked: Collection[str] = (),
    keys_revoked: Collection[str] = (),
) -> RevocationSnapshot:
    """From (license id, status code) pairs of every license issued before the cut."""
    issued: list[bytes] = []
    by_code: dict[str, list[bytes]] = {}
    for license_id, code in licenses:
        digest = id_digest(license_id)  # hashed once, whatever the number of statuses
        issued.append(digest)
        if code != "01":
            by_code.setdefault(code, []).append(digest)
    cascades = {
        code: build_cascade_from_digests(issued, set(digests)) for code, digests in by_code.items()
    }
    return RevocationSnapshot(
        region,
        as_of,
        checkpoint,
        len(issued),
        cascades,
        frozenset(seals_revoked),
        frozenset(keys_revoked),
    )


def sign_snapshot(snapshot: RevocationSnapshot, log_key: SigningKey) -> bytes:
    """The signed snapshot; refused when windows would refuse it for its size."""
    signed = seal_envelope(SNAPSHOT_TYPE, snapshot.payload(), log_key)
    if len(signed) > MAX_SNAPSHOT:
        raise SnapshotTooLarge(
            f"the revocation snapshot would be {len(signed) / 2**20:.1f} MiB, over the "
            f"{MAX_SNAPSHOT // 2**20} MiB windows accept"
        )
    return signed


def open_snapshot(data: bytes, store: TrustStore) -> RevocationSnapshot:
    """The snapshot in ``data``, checked against the log key of its region (which must be
    in ``store``) and against that region's signed checkpoint.

    The signature is checked before the payload is decoded: CBOR that no trusted key
    signed is not decoded at all (a few megabytes of empty arrays decode to gigabytes).
    So the log keys of every trusted bundle are tried, and the region is read after. A
    file larger than any snapshot (:data:`MAX_SNAPSHOT`) is refused before it is read."""
    if len(data) > MAX_SNAPSHOT:
        raise MalformedSnapshot(
            f"a revocation snapshot is at most {MAX_SNAPSHOT // 2**20} MiB: this one is "
            f"{len(data) / 2**20:.1f} MiB"
        )
    payload, signatures = read_envelope(data, SNAPSHOT_TYPE)
    if not store.bundles:
        raise MalformedSnapshot("a snapshot needs the trust bundle of its region: none given")
    signers = []  # every trusted bundle whose log key signed it (a region may have two)
    unreadable: dict[str, VerifierKeyInvalid] = {}  # by region: its snapshots go unchecked
    for bundle in store.bundles:
        try:  # a bundle's log key is read only here: one region's must not stop another's
            verifier_key = parse_verifier_key(bundle.log_verifier)
        except VerifierKeyInvalid as e:
            unreadable[bundle.region] = e
            continue
        if signed_by(SNAPSHOT_TYPE, payload, signatures, verifier_key.public_key):
            signers.append((bundle, verifier_key))
    if not signers:
        broken = "".join(
            f"; the log key in the bundle of region {region} is unreadable ({e.message})"
            for region, e in sorted(unreadable.items())
        )
        raise EnvelopeSignatureInvalid(
            "the snapshot is not signed by the log key of any region trusted "
            f"({', '.join(sorted(store.signed_at))}): is its region's bundle given?{broken}"
        )
    snapshot = _parse(payload)
    for bundle, verifier_key in signers:
        if bundle.region == snapshot.region:
            verify_checkpoint(snapshot.checkpoint, verifier_key)
            return snapshot
    raise EnvelopeSignatureInvalid(
        f"the snapshot of region {snapshot.region} is not signed by that region's log key "
        f"(but by that of {', '.join(sorted({b.region for b, _ in signers}))})"
    )


def _check_head(raw: Any) -> None:
    """The snapshot's format, and its fields there and of their types and ranges."""
    if type(raw) is not dict or raw.get("format") != SNAPSHOT_FORMAT:
        raise MalformedSnapshot(f"not a snapshot of format {SNAPSHOT_FORMAT}")
    fields = ("region", str), ("as_of", int), ("checkpoint", str), ("issued", int)
    required = ("statuses", "seals_revoked", *(name for name, _ in fields))
    if missing := [name for name in required if name not in raw]:
        raise MalformedSnapshot(f"snapshot field {missing[0]!r} is missing")
    if wrong := [name for name, kind in fields if type(raw[name]) is not kind]:
        raise MalformedSnapshot(f"snapshot field {wrong[0]!r} has the wrong type")
    if not is_time(raw["as_of"]):
        raise MalformedSnapshot(f"snapshot as_of is not a Unix time up to {MAX_TIME}")
    if raw["issued"] < 0:
        raise MalformedSnapshot("snapshot issued is a count, not negative")
    if not REGION_CODE.fullmatch(raw["region"]):
        # As a bundle's (whose log key must have signed it), and named in refusals.
        raise MalformedSnapshot("snapshot region is not a GB/T 2260 code of six digits")


def _parse(payload: bytes) -> RevocationSnapshot:
    try:
        raw: Any = strict_cbor.loads(payload, max_items=MAX_SNAPSHOT_ITEMS)
        _check_head(raw)
        raw_statuses = raw["statuses"]
        if type(raw_statuses) is not dict or not all(
            type(c) is str and type(b) is bytes for c, b in raw_statuses.items()
        ):
            raise MalformedSnapshot("snapshot statuses must map status codes to cascade bytes")
        statuses = {c: Cascade.from_bytes(b) for c, b in raw_statuses.items()}
        if not set(statuses) <= set(NON_VALID):
            raise MalformedSnapshot("snapshot lists an unknown status code")
        seals = raw["seals_revoked"]
        if not isinstance(seals, list) or len(seals) > MAX_SEALS:
            raise MalformedSnapshot("seals_revoked must be a bounded list")
        keys = raw.get("keys_revoked", [])  # absent from snapshots made before it was listed
        if not isinstance(keys, list) or len(keys) > MAX_SEALS:
            raise MalformedSnapshot("keys_revoked must be a bounded list")
        if not all(type(k) is str and _KEY_ID.fullmatch(k) for k in keys):
            raise MalformedSnapshot("keys_revoked lists key ids as 16 lower-case hex digits")
        if not all(type(s) is str for s in seals):
            raise MalformedSnapshot("seals_revoked lists seal ids as text")
        try:  # the one encoding (no repeated key another verifier could read otherwise)
            require_canonical(payload, raw, "revocation snapshot")
        except InvalidInput as e:
            raise MalformedSnapshot(e.message) from e
        return RevocationSnapshot(
            raw["region"],
            raw["as_of"],
            raw["checkpoint"],
            raw["issued"],
            statuses,
            frozenset(seals),
            frozenset(keys),
        )
    except MalformedSnapshot:
        raise
    except CBOR_ERRORS as e:
        raise MalformedSnapshot(f"revocation snapshot is malformed: {shown(e, 200)}") from e


class SnapshotStatus:
    """Offline status from the signed snapshots of the trusted regions. ``witnessing`` says,
    by region, how the checkpoint of that region's snapshot was witnessed under a witness
    policy the region is held to (a node's peers, :mod:`eseal.peers`): each answer carries
    it, and, where the quorum is not met, good news (status 01, a seal not revoked) is not
    believed, as of an online answer (:class:`verifier.online.OnlineStatus`)."""

    def __init__(
        self,
        snapshots: Sequence[RevocationSnapshot],
        witnessing: Mapping[str, Witnessing] | None = None,
    ) -> None:
        self.snapshots = list(snapshots)
        self._by_region = {s.region: s for s in snapshots}
        self._witnessing = dict(witnessing or {})

    def _witnessed(self, region: str, answer: StatusAnswer) -> StatusAnswer:
        witnessing = self._witnessing.get(region)
        if witnessing is None:
            return answer
        if witnessing.met or answer.code != "01":  # (a key revoked has no code: adverse)
            return replace(answer, witnessing=witnessing)
        return StatusAnswer(
            None,
            "offline",
            answer.as_of,
            detail="the snapshot's checkpoint is not witnessed as required: "
            + witnessing.describe(),
            witnessing=witnessing,
        )

    def license_status(self, bundle: TrustBundle, doc: DecodedDocument) -> StatusAnswer:
        snapshot = self._by_region.get(bundle.region)
        claims = doc.claims
        if snapshot is None or not isinstance(claims, LicenseClaims):
            return StatusAnswer(
                None,
                "offline",
                int(time.time()),
                detail=f"no revocation snapshot of region {bundle.region}",
            )
        if snapshot.keys_revoked and doc.kid.hex() in snapshot.keys_revoked:
            # Adverse news: it counts met or not, and says how the checkpoint was witnessed.
            revoked = StatusAnswer(
                None,
                "offline",
                snapshot.as_of,
                key_revoked=True,
                detail=f"the signing key {doc.kid.hex()} is revoked",
            )
            return self._witnessed(bundle.region, revoked)
        if claims.issued_at > snapshot.as_of:
            return StatusAnswer(
                None,
                "offline",
                snapshot.as_of,
                detail="issued after the snapshot: status unknown offline",
            )
        answer = StatusAnswer(snapshot.status_of(claims.license_id), "offline", snapshot.as_of)
        return self._witnessed(bundle.region, answer)

    def seal_status(self, bundle: TrustBundle, seal_id: str) -> StatusAnswer | None:
        snapshot = self._by_region.get(bundle.region)
        if snapshot is None:
            return None
        code = "07" if seal_id in snapshot.seals_revoked else "01"
        return self._witnessed(bundle.region, StatusAnswer(code, "offline", snapshot.as_of))
