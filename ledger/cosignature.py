"""Witness cosignatures: C2SP tlog-cosignature ``cosignature/v1`` (Ed25519), and a quorum of
them on a checkpoint, pure.

Spec: https://c2sp.org/tlog-cosignature. A cosignature is a signed-note signature line on a
checkpoint (:mod:`ledger.checkpoint` parses and verifies the note): key ID
SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4], and, after it, the
``timestamped_signature``: the time as a big-endian u64 (at most 2^63 - 1) and the 64-byte
Ed25519 signature of ``cosignature/v1\\ntime <time>\\n`` followed by the whole checkpoint
body. A witness key's verifier key string is ``<name>+<key ID>+base64(0x04 || public key)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from nacl.exceptions import CryptoError
from nacl.signing import SigningKey, VerifyKey

from keys.errors import CheckFailed, InvalidInput
from ledger.checkpoint import (
    ED25519_SIGNATURE_SIZE,
    ED25519_TYPE,
    Checkpoint,
    CheckpointMalformed,
    CheckpointOriginMismatch,
    KeyNameInvalid,
    NoteSignature,
    NoteVerifier,
    UnverifiedNote,
    key_hash,
    key_name_problem,
    open_note,
    parse_typed_key,
    signature_line,
)

#: The signed-note signature type byte of cosignature/v1 (Ed25519) keys.
COSIGNATURE_V1_TYPE = 0x04
TIMESTAMP_SIZE = 8
#: The timestamp is a u64 that MUST NOT exceed 2^63 - 1.
MAX_TIMESTAMP = 2**63 - 1
COSIGNATURE_SIZE = TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE
HEADER = "cosignature/v1"


class CosignatureTimeInvalid(InvalidInput):
    """A cosignature's time is not an integer in [0, 2^63)."""

    code = "cosignature-time-invalid"


class CosignatureMalformed(InvalidInput):
    """A signature line is not a cosignature/v1: not a key ID, a timestamp and 64 bytes."""

    code = "cosignature-malformed"


class QuorumInvalid(InvalidInput):
    """A cosignature quorum is not between 1 and the number of distinct witness keys given."""

    code = "cosignature-quorum-invalid"


class QuorumNotMet(CheckFailed):
    """Fewer distinct known witnesses than the quorum cosigned the checkpoint."""

    code = "cosignature-quorum-not-met"


def _check_time(time: int) -> None:
    if isinstance(time, bool) or not isinstance(time, int) or not 0 <= time <= MAX_TIMESTAMP:
        raise CosignatureTimeInvalid(f"cosignature time {time!r} is not in [0, 2^63)")


def signed_message(body: str, time: int) -> bytes:
    """What a cosignature/v1 signs: ``cosignature/v1\\ntime <time>\\n`` + the checkpoint body.

    The body must be a checkpoint body in its one spelling (with its extension lines, if
    any, and the final newline): a witness cosigns checkpoints only.
    """
    _check_time(time)
    if Checkpoint.parse(body).body() != body:
        raise CheckpointMalformed("checkpoint body is not in its canonical spelling")
    return f"{HEADER}\ntime {time}\n{body}".encode()


@dataclass(frozen=True)
class CosignatureVerifier(NoteVerifier):
    """A witness's cosignature/v1 key: its name and Ed25519 public key; key hash of type 0x04.

    :func:`ledger.checkpoint.open_note` verifies its lines beside the log key's.
    """

    signature_type: ClassVar[int] = COSIGNATURE_V1_TYPE
    type_label: ClassVar[str] = "cosignature/v1"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (timestamp and Ed25519 signature) cosigns the checkpoint
        body ``message``; never for a time over 2^63 - 1 or a text that is no checkpoint."""
        if len(signature) != COSIGNATURE_SIZE:
            return False
        time = int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
        try:
            signed = signed_message(message.decode("utf-8"), time)
        except (UnicodeDecodeError, InvalidInput):
            return False
        try:
            VerifyKey(self.public_key).verify(signed, signature[TIMESTAMP_SIZE:])
        except CryptoError:
            return False
        return True


def cosigner_key(name: str, public_key: bytes) -> str:
    """A witness's verifier key string: <name>+<key hash>+<base64(0x04 || public key)>."""
    return str(CosignatureVerifier(name, public_key))


def parse_cosigner_key(text: str) -> CosignatureVerifier:
    """Parse a witness's verifier key string strictly: type 0x04, key hash matching."""
    return parse_typed_key(text, CosignatureVerifier)


def cosign(body: str, name: str, signing_key: SigningKey, time: int) -> str:
    """The cosignature/v1 line (with its newline) by witness ``name`` on a checkpoint body,
    at ``time`` (Unix seconds): append it to the checkpoint's signed note."""
    problem = key_name_problem(name)
    if problem:
        raise KeyNameInvalid(problem)
    message = signed_message(body, time)
    public_key = bytes(signing_key.verify_key)
    signature = signing_key.sign(message).signature
    payload = time.to_bytes(TIMESTAMP_SIZE, "big") + signature
    return signature_line(name, key_hash(name, public_key, COSIGNATURE_V1_TYPE), payload)


def cosignature_time(signature: NoteSignature) -> int:
    """The time a cosignature/v1 line says it was made (read, not verified)."""
    if len(signature.signature) != COSIGNATURE_SIZE:
        raise CosignatureMalformed(f"the signature by {signature.name!r} is no cosignature/v1")
    time = int.from_bytes(signature.signature[:TIMESTAMP_SIZE], "big")
    if time > MAX_TIMESTAMP:
        raise CosignatureMalformed(f"the cosignature by {signature.name!r} is after 2^63 - 1")
    return time


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: the witness key's name and hash, and the time it signed at."""

    name: str
    key_hash: bytes
    time: int


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """A checkpoint signed by its log key and the cosignatures of known witnesses on it
    (:func:`verify_witnessed` returns one only with a quorum of them); one cosignature per
    witness key (its first line, when it cosigned more than once)."""

    checkpoint: Checkpoint
    cosignatures: tuple[Cosignature, ...]


def _distinct(
    witnesses: Sequence[CosignatureVerifier],
) -> dict[tuple[str, bytes], CosignatureVerifier]:
    distinct: dict[tuple[str, bytes], CosignatureVerifier] = {}
    keys: dict[bytes, str] = {}
    for w in witnesses:
        if not isinstance(w, CosignatureVerifier):
            raise InvalidInput(f"witness key {w.name!r} is not a cosignature/v1 key")
        # A cosignature/v1 signature does not cover the witness's name: one key under two
        # names would have its one line verify under both, and count twice.
        if keys.setdefault(w.public_key, w.name) != w.name:
            raise InvalidInput(
                f"witness keys {keys[w.public_key]!r} and {w.name!r} are one key: a key counts once"
            )
        # A line names its key by name and key hash alone: two keys sharing both (a 4-byte
        # hash, which a witness can grind) would have one key's line credited to the other.
        if distinct.setdefault((w.name, w.key_hash), w).public_key != w.public_key:
            raise InvalidInput(
                f"witness keys named {w.name!r} share the key hash {w.key_hash.hex()}: "
                "a line by one would be taken for the other's"
            )
    return distinct


def witnessed_by(
    note: str | bytes, log: NoteVerifier, witnesses: Sequence[CosignatureVerifier]
) -> WitnessedCheckpoint:
    """Open a checkpoint note signed by the log key ``log``, with the cosignatures of
    ``witnesses`` it carries, however many: :func:`verify_witnessed` without the quorum,
    for a caller that says how many cosigned whether or not it is enough. Raises as
    :func:`verify_witnessed` does but for :class:`QuorumNotMet`."""
    return _opened(note, log, _distinct(witnesses))


def verify_witnessed(
    note: str | bytes,
    log: NoteVerifier,
    witnesses: Sequence[CosignatureVerifier],
    quorum: int,
) -> WitnessedCheckpoint:
    """Open a checkpoint note signed by the log key ``log`` and cosigned by at least
    ``quorum`` distinct keys of ``witnesses``.

    As c2sp.org/signed-note requires, lines by keys neither the log's nor a witness's are
    ignored, and a line by a known key that does not verify rejects the whole note
    (NoteSignatureInvalid), whatever the other lines. A witness key that cosigned twice
    counts once.
    """
    distinct = _distinct(witnesses)
    if isinstance(quorum, bool) or not isinstance(quorum, int) or not 1 <= quorum <= len(distinct):
        raise QuorumInvalid(f"quorum {quorum!r} is not in [1, {len(distinct)}] distinct witnesses")
    witnessed = _opened(note, log, distinct)
    if len(witnessed.cosignatures) < quorum:
        raise QuorumNotMet(
            f"{len(witnessed.cosignatures)} of the {len(distinct)} known witnesses cosigned "
            f"the checkpoint, {quorum} needed"
        )
    return witnessed


def _opened(
    note: str | bytes, log: NoteVerifier, distinct: dict[tuple[str, bytes], CosignatureVerifier]
) -> WitnessedCheckpoint:
    if log.signature_type != ED25519_TYPE:
        raise InvalidInput("the log key must be an Ed25519 (0x01) note key")
    opened = open_note(note, [log, *distinct.values()])
    if not any(s.name == log.name and s.key_hash == log.key_hash for s in opened.signatures):
        raise UnverifiedNote(f"the log key {log.name!r} did not sign the checkpoint")
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != log.name:
        raise CheckpointOriginMismatch(
            f"checkpoint origin {checkpoint.origin!r} is not the log key name {log.name!r}"
        )
    cosignatures = tuple(
        Cosignature(s.name, s.key_hash, cosignature_time(s))
        for s in opened.signatures
        if (s.name, s.key_hash) in distinct
    )
    return WitnessedCheckpoint(checkpoint, cosignatures)
