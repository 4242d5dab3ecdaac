"""A witness's decision on a C2SP tlog-witness ``add-checkpoint`` request, and the request's
body, pure: no storage, no HTTP.

Spec: https://c2sp.org/tlog-witness. The request body is an old size line (``old <size>``),
at most 63 consistency proof lines (each one base64 hash), an empty line, then the log's
signed checkpoint note. The witness keeps, per log origin, the latest checkpoint it
cosigned, and cosigns a new one only if it extends that one: :func:`add_checkpoint` decides,
given what the witness holds, and answers either the cosignature and the checkpoint to hold
next (:class:`Cosigned`), or a refusal with its reason and the HTTP status the spec gives
it (:class:`Refused`). Whoever stores the held checkpoint must replace it only if it still
has the request's old size, in the same transaction (the spec's rollback race).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from enum import StrEnum

from nacl.signing import SigningKey

from keys.errors import InvalidInput, shown
from ledger.checkpoint import (
    ED25519_TYPE,
    KEY_HASH_SIZE,
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    NoteSignatureInvalid,
    NoteVerifier,
    UnverifiedNote,
    open_note,
    signature_line,
)
from ledger.cosignature import COSIGNATURE_SIZE, CosignatureVerifier, cosign
from ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TREE_SIZE,
    ConsistencyProofInvalid,
    verify_consistency,
)

#: "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES = 63
#: Where a witness takes add-checkpoint requests, under its base URL.
ADD_CHECKPOINT_PATH = "/add-checkpoint"
#: The media type of a 409 answer's body: the witness's tree size, in decimal, and a newline.
TLOG_SIZE_CONTENT_TYPE = "text/x.tlog.size"
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")  # ASCII decimal, no leading zeroes
_HASH_LINE_CHARS = 44  # base64 of 32 bytes
MAX_REQUEST_BYTES = len("old \n\n") + 20 + MAX_PROOF_LINES * (_HASH_LINE_CHARS + 1) + MAX_NOTE_BYTES


class AddCheckpointMalformed(InvalidInput):
    """An add-checkpoint request body breaks the tlog-witness format (HTTP 400)."""

    code = "add-checkpoint-malformed"


class TreeSizeBodyMalformed(InvalidInput):
    """A text/x.tlog.size body is not one decimal tree size and a newline."""

    code = "tree-size-body-malformed"


def _size(text: str) -> int | None:
    """A tree size in ASCII decimal without leading zeroes, below 2^64, or None."""
    if not _SIZE.fullmatch(text):
        return None
    size = int(text)
    return size if size <= MAX_TREE_SIZE else None


def hash_line(line: str) -> bytes | None:
    """One hash in canonical standard base64, or None."""
    try:
        raw = base64.b64decode(line.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode("ascii") != line:
        return None
    return raw


@dataclass(frozen=True)
class AddCheckpointRequest:
    """The old size the log says the witness holds, a consistency proof from it to the
    checkpoint's size, and the log's signed checkpoint note (signatures included)."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def __post_init__(self) -> None:
        size = self.old_size
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
            raise AddCheckpointMalformed(f"old size {shown(size)} is not in [0, 2^64)")
        if not isinstance(self.proof, tuple) or len(self.proof) > MAX_PROOF_LINES:
            raise AddCheckpointMalformed(f"at most {MAX_PROOF_LINES} proof hashes, as a tuple")
        if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in self.proof):
            raise AddCheckpointMalformed(f"each proof hash is {HASH_SIZE} bytes")
        if not isinstance(self.note, str) or not self.note.partition("\n")[0]:
            raise AddCheckpointMalformed("the checkpoint note's first line (origin) is empty")

    @property
    def origin(self) -> str:
        """The checkpoint's first line: which log's key and held checkpoint apply."""
        return self.note.partition("\n")[0]

    def body(self) -> str:
        """old <size>\\n, each proof hash in base64 and \\n, \\n, then the note."""
        proof = "".join(base64.b64encode(h).decode("ascii") + "\n" for h in self.proof)
        return f"old {self.old_size}\n{proof}\n{self.note}"

    @classmethod
    def parse(cls, body: str | bytes) -> AddCheckpointRequest:
        """Parse a request body strictly: UTF-8; ``old`` and one space and a decimal size
        without leading zeroes; at most 63 canonical base64 hashes of 32 bytes, one a line;
        an empty line; a note whose first line is not empty. The note is opened later."""
        if len(body) > MAX_REQUEST_BYTES:
            raise AddCheckpointMalformed(f"request body is over {MAX_REQUEST_BYTES} bytes")
        if isinstance(body, bytes):
            try:
                body = body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise AddCheckpointMalformed("request body is not valid UTF-8") from e
        head, sep, note = body.partition("\n\n")
        if not sep:
            raise AddCheckpointMalformed("no empty line between the proof and the checkpoint")
        old_line, *proof_lines = head.split("\n")
        keyword, space, size_text = old_line.partition(" ")
        old_size = _size(size_text)
        if keyword != "old" or not space or old_size is None:
            raise AddCheckpointMalformed(
                f"first line {shown(old_line)} is not 'old' and a decimal tree size"
            )
        if len(proof_lines) > MAX_PROOF_LINES:
            raise AddCheckpointMalformed(
                f"{len(proof_lines)} proof lines, at most {MAX_PROOF_LINES} allowed"
            )
        proof: list[bytes] = []
        for i, line in enumerate(proof_lines):
            h = hash_line(line)
            if h is None:
                raise AddCheckpointMalformed(f"proof line {i + 1} is not a base64 32-byte hash")
            proof.append(h)
        return cls(old_size, tuple(proof), note)


def size_body(size: int) -> str:
    """A 409 answer's body (text/x.tlog.size): the witness's tree size and a newline."""
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
        raise TreeSizeBodyMalformed(f"tree size {shown(size)} is not in [0, 2^64)")
    return f"{size}\n"


def parse_size_body(body: str | bytes) -> int:
    """The tree size of a 409 answer's body, strictly (what a log reads to try again)."""
    if len(body) > 21:
        raise TreeSizeBodyMalformed("tree size body is too long")
    text = body.decode("ascii", "replace") if isinstance(body, bytes) else body
    size = _size(text[:-1]) if text.endswith("\n") else None
    if size is None:
        raise TreeSizeBodyMalformed(f"{shown(text)} is not a decimal tree size and a newline")
    return size


class Refusal(StrEnum):
    """Why a witness refuses to cosign."""

    #: The witness follows no log of the checkpoint's origin (404).
    UNKNOWN_ORIGIN = "unknown-origin"
    #: No signature by the log's key verifies, or one by it is false (403).
    BAD_LOG_SIGNATURE = "bad-log-signature"
    #: The note or its checkpoint body is malformed (400).
    CHECKPOINT_MALFORMED = "checkpoint-malformed"
    #: The old size is above the checkpoint's size (400).
    OLD_SIZE_ABOVE_CHECKPOINT = "old-size-above-checkpoint"
    #: The old size is not the size of the checkpoint the witness holds (409).
    OLD_SIZE_CONFLICT = "old-size-conflict"
    #: The checkpoint is smaller than the one the witness holds (400 or 409, as the old size
    #: is above the checkpoint's or not the witness's).
    ROLLBACK = "rollback"
    #: The checkpoint has the size of the one the witness holds and another root hash (409;
    #: 400 if the old size is above it).
    FORK = "fork"
    #: The consistency proof does not lead from the held checkpoint to this one, or is not
    #: empty where it must be, or a size-0 checkpoint's root is not SHA-256() (422).
    BAD_CONSISTENCY_PROOF = "bad-consistency-proof"


@dataclass(frozen=True)
class Refused:
    """No cosignature: the reason, the HTTP status tlog-witness requires, and a message.

    ``known_size`` is set on a 409: the answer's body is :func:`size_body` of it. When the
    log's signature verified, ``checkpoint`` is what the log signed: with the request, the
    evidence of a fork or rollback a witness may keep.
    """

    reason: Refusal
    status: int
    detail: str
    known_size: int | None = None
    checkpoint: Checkpoint | None = None


@dataclass(frozen=True)
class Cosigned:
    """The cosignature line (the 200 answer's body) and the checkpoint to hold next for the
    origin: store it in place of the held one only if that one still has the old size."""

    checkpoint: Checkpoint
    cosignature: str


def add_checkpoint(
    request: AddCheckpointRequest,
    *,
    log_key: NoteVerifier | None,
    held: Checkpoint | None,
    witness_name: str,
    witness_key: SigningKey,
    time: int,
) -> Cosigned | Refused:
    """Decide an add-checkpoint request as c2sp.org/tlog-witness says, in its order.

    ``log_key`` is the key the witness trusts for ``request.origin`` (named after it), None
    if it follows no log of that origin; ``held`` is the latest checkpoint it cosigned for
    that origin, None if none (as a tree of size 0). ``time`` (Unix seconds) goes into the
    cosignature.
    """
    origin = request.origin
    if log_key is None:
        return Refused(Refusal.UNKNOWN_ORIGIN, 404, f"no log of origin {shown(origin)} is known")
    if log_key.signature_type != ED25519_TYPE or log_key.name != origin:
        raise InvalidInput(f"the log key must be an Ed25519 note key named {shown(origin)}")
    if held is not None and held.origin != origin:
        raise InvalidInput(f"the held checkpoint is of {held.origin!r}, not of {shown(origin)}")
    try:
        checkpoint = Checkpoint.parse(open_note(request.note, [log_key]).text)
    except (UnverifiedNote, NoteSignatureInvalid) as e:
        return Refused(Refusal.BAD_LOG_SIGNATURE, 403, e.message)
    except InvalidInput as e:  # the note's or the checkpoint's format
        return Refused(Refusal.CHECKPOINT_MALFORMED, 400, e.message)
    known = held.size if held is not None else 0
    found = _old_size_problem(request.old_size, checkpoint, held) or _proof_problem(
        request, checkpoint, held
    )
    if found is not None:
        reason, status, why = found
        sizes = f"old size {request.old_size}, checkpoint size {checkpoint.size}, held {known}"
        known_size = known if status == 409 else None
        return Refused(reason, status, f"{why} ({sizes})", known_size, checkpoint)
    # Only a checkpoint it would cosign need leave room for its line: a fork or a rollback
    # in a note that leaves none is one all the same, refused as one (and kept as evidence).
    own = CosignatureVerifier(witness_name, bytes(witness_key.verify_key))
    if unkept := _unkeepable(request.note, log_key, own):
        return Refused(Refusal.CHECKPOINT_MALFORMED, 400, unkept)
    line = cosign(checkpoint.body(), witness_name, witness_key, time)
    return Cosigned(checkpoint, line)


def _unkeepable(note: str, log_key: NoteVerifier, own: CosignatureVerifier) -> str:
    """Why ``note`` (opened already) with the witness's line added would no longer open
    as a signed note, or "": the note a witness keeps as what it cosigned, and the log
    serves with the line, must still be one. It would not with :data:`MAX_SIGNATURES`
    lines already, past :data:`MAX_NOTE_BYTES`, or with a line in the witness's own name
    and key hash that the witness did not sign (a false line by a known key refuses it)."""
    held = note[note.rfind("\n\n") + 2 :].count("\n")  # its signature lines
    if held >= MAX_SIGNATURES:
        return (
            f"the note holds {held} signatures: the witness's would be one over "
            f"the {MAX_SIGNATURES} a signed note may hold"
        )
    line = signature_line(own.name, bytes(KEY_HASH_SIZE), bytes(COSIGNATURE_SIZE))
    if len(note.encode("utf-8")) + len(line.encode("utf-8")) > MAX_NOTE_BYTES:
        return f"the note with the witness's line would be over {MAX_NOTE_BYTES} bytes"
    try:
        open_note(note, [log_key, own])
    except NoteSignatureInvalid as e:
        return f"a line by the witness's own key that it did not sign ({e.message})"
    except InvalidInput as e:  # the log key and the witness's sharing a name and key hash
        return e.message
    return ""


Problem = tuple[Refusal, int, str]
"""A refusal's reason, HTTP status and message."""


def _old_size_problem(old: int, checkpoint: Checkpoint, held: Checkpoint | None) -> Problem | None:
    """400 if the old size is above the checkpoint's, 409 if it is not the held size; named
    rollback or fork when the checkpoint is smaller than the held one, or as large with
    another root."""
    new, known = checkpoint.size, (held.size if held is not None else 0)
    against_held: Refusal | None = None
    if new < known:
        against_held = Refusal.ROLLBACK
    elif held is not None and 0 < new == known and checkpoint.root_hash != held.root_hash:
        against_held = Refusal.FORK  # (a size-0 root other than SHA-256() is no tree: 422)
    if old > new:
        why = "the old size is above the checkpoint's size"
        return against_held or Refusal.OLD_SIZE_ABOVE_CHECKPOINT, 400, why
    if old != known:
        why = "the old size is not the size of the checkpoint the witness holds"
        return against_held or Refusal.OLD_SIZE_CONFLICT, 409, why
    if against_held is Refusal.FORK:  # old == new == known
        return Refusal.FORK, 409, "another root hash for the size the witness holds"
    return None


def _proof_problem(
    request: AddCheckpointRequest, checkpoint: Checkpoint, held: Checkpoint | None
) -> Problem | None:
    """422 unless the proof leads from the held checkpoint (of the old size) to this one:
    empty from size 0 or to the same size, and a size-0 root is SHA-256()."""
    old, new, proof = request.old_size, checkpoint.size, request.proof
    bad = Refusal.BAD_CONSISTENCY_PROOF
    if old in {0, new}:
        if proof:
            return bad, 422, "the consistency proof must be empty from size 0 or to the same size"
        if new == 0 and checkpoint.root_hash != EMPTY_ROOT:
            return bad, 422, "the root hash of a tree of size 0 is SHA-256 of nothing"
        return None
    held_root = held.root_hash if held is not None else EMPTY_ROOT  # held: old == known > 0
    try:
        verify_consistency(old, new, proof, held_root, checkpoint.root_hash)
    except (ConsistencyProofInvalid, InvalidInput) as e:
        return bad, 422, e.message
    return None
