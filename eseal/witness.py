"""The node as a witness of other regions' logs (C2SP tlog-witness, tlog-cosignature): its
witness key, the logs it witnesses, and the add-checkpoint decision with the checkpoint it
holds of each log stored by compare-and-swap.

The decision itself is :func:`ledger.witness.add_checkpoint` (pure); here it is given the
log's key and the held checkpoint from the database, and its cosignature is answered only
once the new checkpoint is stored in place of the one it was decided against: the row's
size is replaced only where it is still the size read (one UPDATE … WHERE size = old, in
one transaction). Of two requests decided against the same held checkpoint, one stores
and answers its cosignature; the other decides again against what the first stored.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from eseal.models import WitnessedLogRow, WitnessEvidenceRow, WitnessKeyRow
from eseal.node import KEY_LIFETIME, Node
from keys import ed25519
from keys.errors import InvalidInput, shown
from keys.statements import KeyStatement, KeyStatus, Role, SignedStatement, certify
from ledger.checkpoint import Checkpoint, NoteVerifier, origin_problem, parse_verifier_key
from ledger.cosignature import cosigner_key
from ledger.store import StoreBusy
from ledger.witness import (
    AddCheckpointRequest,
    Cosigned,
    Refusal,
    Refused,
)
from ledger.witness import add_checkpoint as decide

_key = WitnessKeyRow.__table__  # type: ignore[attr-defined]
_log = WitnessedLogRow.__table__  # type: ignore[attr-defined]
_evidence = WitnessEvidenceRow.__table__  # type: ignore[attr-defined]

#: How many times a request decided against a held checkpoint that another request replaced
#: meanwhile is decided again, before the node answers busy (each time, another request
#: stored a checkpoint of the same log: the log itself sends them one after the other).
MAX_DECISIONS = 8
#: Refusals that show a log signed two histories: a checkpoint as large as the held one with
#: another root (fork), kept as evidence wherever it comes from (both notes bear the log's
#: signature). Sync keeps also what the log itself served: a smaller checkpoint, or one its
#: own consistency proof does not lead to.
FORK_EVIDENCE = frozenset({Refusal.FORK})
#: Of one log, at most this many refused checkpoints are kept as evidence (the first ones):
#: one proves the log signed two histories, and a log whose key signs whatever it likes
#: must not fill the witness's database with more.
MAX_EVIDENCE_PER_LOG = 256
SYNC_EVIDENCE = frozenset({Refusal.FORK, Refusal.ROLLBACK, Refusal.BAD_CONSISTENCY_PROOF})


class NoWitnessKey(InvalidInput):
    """The node has no witness key yet (``eseal witness init`` makes it)."""

    code = "no-witness-key"
    http_status = 503


class UnknownLog(InvalidInput):
    """The node witnesses no log of this origin."""

    code = "unknown-log"
    http_status = 404


class LogAlreadyWitnessed(InvalidInput):
    """``add-log`` of an origin the node witnesses already."""

    code = "log-already-witnessed"
    http_status = 409


def witness_name(node: Node) -> str:
    """The name of the node's witness key in its cosignature lines: ``<origin>/witness``."""
    return f"{node.config.origin}/witness"


@dataclass(frozen=True)
class WitnessKey:
    """The node's witness key as recorded: name, key id, public key, signed statement."""

    name: str
    key_id: str
    public_key: bytes
    statement: bytes
    created_at: int
    ledger_index: int

    @property
    def verifier_key(self) -> str:
        """Its cosignature/v1 verifier key string: <name>+<key hash>+base64(0x04 || key)."""
        return cosigner_key(self.name, self.public_key)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key_id": self.key_id,
            "verifier_key": self.verifier_key,
            "statement": base64.b64encode(self.statement).decode("ascii"),
            "created_at": self.created_at,
            "ledger_index": self.ledger_index,
        }


def new_witness_key(node: Node, now: int) -> tuple[SigningKey, bytes, bytes]:
    """A new witness key sealed in the node's keys directory, and its key statement
    (role witness, certified by the region root): (key, key id, signed statement)."""
    key = ed25519.generate()
    public = bytes(key.verify_key)
    root = node.require_root_key()
    statement = certify(
        root,
        KeyStatement(
            role=Role.WITNESS,
            subject=witness_name(node),
            public_key=public,
            scope=(),
            not_before=now,
            not_after=now + KEY_LIFETIME,
            status=KeyStatus.ACTIVE,
            issued_at=now,
            issuer_key_id=ed25519.key_id(bytes(root.verify_key)),
        ),
    ).to_bytes()
    kid = node.store_key(key, label="witness")
    return key, kid, statement


def record_witness_key(
    node: Node, kid: bytes, statement: bytes, now: int
) -> Callable[[Connection, int], None]:
    """The row of the witness key, written in the transaction of its ``key.add`` entry
    (whose index is the ``first`` given, or ``first + offset``)."""

    def record(conn: Connection, index: int) -> None:
        conn.execute(
            insert(_key).values(
                name=witness_name(node),
                key_id=kid.hex(),
                public_key=SignedStatement.from_bytes(statement).statement.public_key,
                statement=statement,
                created_at=now,
                ledger_index=index,
            )
        )

    return record


def witness_key(node: Node) -> WitnessKey | None:
    """The node's witness key as recorded, or None (a node made before witnessing)."""
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(select(_key).where(_key.c.name == witness_name(node))).first()
    if row is None:
        return None
    return WitnessKey(
        row.name, row.key_id, row.public_key, row.statement, row.created_at, row.ledger_index
    )


def require_witness_key(node: Node) -> WitnessKey:
    found = witness_key(node)
    if found is None:
        raise NoWitnessKey("this node has no witness key yet: run `eseal witness init`")
    return found


def add_witness_key(node: Node, *, now: int) -> tuple[WitnessKey, bool]:
    """The node's witness key, made (sealed, certified, recorded in the ledger) if it has
    none: (the key, whether it was made now). Idempotent; of two made at once, one is
    recorded and the other's key file removed."""
    found = witness_key(node)
    if found is not None:
        return found, False
    _key_made, kid, statement = new_witness_key(node, now)
    try:
        node.append(
            [node.key_add_entry(kid, statement, now)],
            also=record_witness_key(node, kid, statement, now),
        )
    except IntegrityError as e:  # another made it first
        node.discard_key(kid, e)
        return require_witness_key(node), False
    except BaseException as e:
        node.discard_key(kid, e)
        raise
    return require_witness_key(node), True


# --- the logs witnessed ------------------------------------------------------------------


@dataclass(frozen=True)
class WitnessedLog:
    """A log this node witnesses, and the latest checkpoint of it the node cosigned."""

    origin: str
    verifier_key: str
    size: int
    root_hash: bytes | None
    note: str | None
    added_at: int
    updated_at: int

    @property
    def held(self) -> Checkpoint | None:
        """The checkpoint held (None before the first: as a tree of size 0)."""
        if self.note is None:
            return None
        return Checkpoint.of_note(self.note)

    def to_json(self) -> dict[str, Any]:
        root = base64.b64encode(self.root_hash).decode("ascii") if self.root_hash else None
        return {
            "origin": self.origin,
            "verifier_key": self.verifier_key,
            "size": self.size,
            "root_hash": root,
            "note": self.note,
            "added_at": self.added_at,
            "updated_at": self.updated_at,
        }


def _witnessed(row: Any) -> WitnessedLog:
    return WitnessedLog(
        row.origin,
        row.verifier_key,
        row.size,
        row.root_hash,
        row.note,
        row.added_at,
        row.updated_at,
    )


def parse_log_key(origin: str, key: str) -> NoteVerifier:
    """The log's signed-note verifier key, checked to be named ``origin``."""
    if (problem := origin_problem(origin)) is not None:
        raise InvalidInput(f"the origin {shown(origin)} is no log origin: {problem}")
    verifier = parse_verifier_key(key.strip())
    if verifier.name != origin:
        raise InvalidInput(
            f"the verifier key is named {shown(verifier.name)}, not the origin {shown(origin)}: "
            "a log's key is named after its checkpoints' origin"
        )
    return verifier


def add_log(node: Node, origin: str, key: str, *, now: int) -> WitnessedLog:
    """Witness the log of ``origin`` under the verifier key ``key`` (from size 0)."""
    verifier = parse_log_key(origin, key)
    if origin == node.config.origin:
        raise InvalidInput(f"{shown(origin)} is this node's own log: a witness is another party")
    try:
        with node.sql.write_engine.begin() as conn:
            conn.execute(
                insert(_log).values(
                    origin=origin,
                    verifier_key=str(verifier),
                    size=0,
                    root_hash=None,
                    note=None,
                    added_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError as e:
        raise LogAlreadyWitnessed(
            f"the log {shown(origin)} is witnessed already (eseal witness logs); remove it "
            "first to trust another key for it"
        ) from e
    return witnessed_log(node, origin)


def witnessed_log(node: Node, origin: str) -> WitnessedLog:
    found = _find_log(node, origin)
    if found is None:
        raise UnknownLog(f"this node witnesses no log of origin {shown(origin)}")
    return found


def _find_log(node: Node, origin: str) -> WitnessedLog | None:
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(select(_log).where(_log.c.origin == origin)).first()
    return None if row is None else _witnessed(row)


def list_logs(node: Node) -> list[WitnessedLog]:
    with node.sql.read_engine.connect() as conn:
        return [_witnessed(r) for r in conn.execute(select(_log).order_by(_log.c.origin))]


def remove_log(node: Node, origin: str) -> WitnessedLog:
    """Stop witnessing the log of ``origin`` (what it held is forgotten; evidence is kept)."""
    with node.sql.write_engine.begin() as conn:
        row = conn.execute(select(_log).where(_log.c.origin == origin)).first()
        if row is None:
            raise UnknownLog(f"this node witnesses no log of origin {shown(origin)}")
        conn.execute(delete(_log).where(_log.c.origin == origin))
    return _witnessed(row)


# --- add-checkpoint ----------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """A refused checkpoint kept: the log's note and the one held."""

    id: int
    origin: str
    reason: str
    held_note: str | None
    note: str
    detail: str
    seen_at: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_evidence(node: Node, origin: str | None = None) -> list[Evidence]:
    query = select(_evidence).order_by(_evidence.c.id)
    if origin is not None:
        query = query.where(_evidence.c.origin == origin)
    with node.sql.read_engine.connect() as conn:
        return [
            Evidence(r.id, r.origin, r.reason, r.held_note, r.note, r.detail, r.seen_at)
            for r in conn.execute(query)
        ]


def _keep_evidence(
    node: Node, log: WitnessedLog, request: AddCheckpointRequest, refused: Refused, now: int
) -> None:
    """Keep a refused checkpoint as evidence, once: a note whose signed checkpoint is one
    kept already (the same text, other keys' lines added or left out) is not kept again,
    nor any past :data:`MAX_EVIDENCE_PER_LOG` of the log."""
    note_hash = hashlib.sha256(request.note.encode("utf-8")).digest()
    text = _checkpoint_text(request.note)
    try:
        with node.sql.write_engine.begin() as conn:
            kept = conn.execute(
                select(_evidence.c.note)
                .where(_evidence.c.origin == log.origin)
                .limit(MAX_EVIDENCE_PER_LOG)
            ).scalars()
            notes = list(kept)
            if len(notes) >= MAX_EVIDENCE_PER_LOG or text in map(_checkpoint_text, notes):
                return
            conn.execute(
                insert(_evidence).values(
                    origin=log.origin,
                    reason=str(refused.reason),
                    held_note=log.note,
                    note=request.note,
                    note_sha256=note_hash,
                    detail=refused.detail,
                    seen_at=now,
                )
            )
    except IntegrityError:  # kept by another request meanwhile
        return


def _checkpoint_text(note: str) -> str:
    """A signed note's text, its signature lines left out (a note refused as evidence
    verified, so it has them after its last empty line)."""
    return note[: note.rfind("\n\n") + 1]


def refused_against(
    refused: Refused,
    decided: WitnessedLog,
    made_from: WitnessedLog | None,
    decide_from: Callable[[WitnessedLog], Cosigned | Refused],
) -> tuple[Refused, WitnessedLog] | None:
    """The refusal of a request that shows the log's note at odds with a checkpoint held, and
    that checkpoint; or None where the refusal shows nothing of the log (the checkpoint held
    moved since the request was made). ``refused`` was decided against ``decided``; the
    request was made from ``made_from`` (None for one that names its own old size: its
    refusal holds against what it was decided against); ``decide_from`` decides the request
    against another checkpoint held. A fork of the checkpoint decided against is one
    whenever that was stored (both notes bear the log's signature). Else the request is
    decided against the checkpoint it was made from, its proof asked from that one: a
    refusal there (a rollback or a fork of it, or a proof that does not lead from it) holds
    against it however far the checkpoint held has moved since."""
    if made_from is None or refused.reason is Refusal.FORK:
        return refused, decided
    if (decided.origin, decided.verifier_key) != (made_from.origin, made_from.verifier_key):
        return None  # the log removed meanwhile, and added again under another key
    first = decide_from(made_from)
    return None if isinstance(first, Cosigned) else (first, made_from)


def _decide_from(
    request: AddCheckpointRequest,
    witness_name: str,
    witness_key: SigningKey,
    now: int,
    held: WitnessedLog,
) -> Cosigned | Refused:
    """The decision of ``request`` against the checkpoint ``held`` of its log."""
    return decide(
        request,
        log_key=parse_verifier_key(held.verifier_key),
        held=held.held,
        witness_name=witness_name,
        witness_key=witness_key,
        time=now,
    )


#: Called between a decision and the write of what it decided (tests make two requests
#: meet there).
_decided: Callable[[], None] = lambda: None  # noqa: E731


def witness_checkpoint(
    node: Node,
    request: AddCheckpointRequest,
    *,
    now: int,
    evidence: frozenset[Refusal] = FORK_EVIDENCE,
    made_from: WitnessedLog | None = None,
) -> tuple[Cosigned | Refused, WitnessedLog | None]:
    """Decide ``request`` against the checkpoint held of its origin and, when cosigned,
    store the new checkpoint in its place (only if the held one is still there): the
    decision, and the checkpoint held it was decided against, or for a refusal the one it
    holds against (:func:`refused_against`; None where it shows nothing of the log, and for
    an unknown origin). With ``made_from``, the log as read when the request was made (a
    sync), a refusal is the one that holds against a checkpoint held, if any. A refusal of
    a reason in ``evidence`` is kept as evidence beside the checkpoint it holds against."""
    for _ in range(MAX_DECISIONS):
        log = _find_log(node, request.origin)
        if log is None:
            return decide(
                request,
                log_key=None,
                held=None,
                witness_name="-",
                witness_key=_NO_KEY,
                time=now,
            ), None
        wkey = require_witness_key(node)
        signing = node.signing_key(bytes.fromhex(wkey.key_id), wkey.public_key)
        decide_from = functools.partial(_decide_from, request, wkey.name, signing, now)
        result = decide_from(log)
        if isinstance(result, Refused):
            judged = refused_against(result, log, made_from, decide_from)
            if judged is None:
                return result, None
            refused, against = judged
            if refused.reason in evidence and refused.checkpoint is not None:
                _keep_evidence(node, against, request, refused, now)
            return refused, against
        _decided()
        held_note = request.note + result.cosignature
        with node.sql.write_engine.begin() as conn:
            moved = conn.execute(
                update(_log)
                .where(
                    _log.c.origin == log.origin,
                    _log.c.size == log.size,
                    _log.c.verifier_key == log.verifier_key,
                )
                .values(
                    size=result.checkpoint.size,
                    root_hash=result.checkpoint.root_hash,
                    note=held_note,
                    updated_at=now,
                )
            )
        if moved.rowcount == 1:
            return result, log
        # Another request stored a checkpoint of this log since it was read: decide again.
    raise StoreBusy(
        f"the checkpoint held of {shown(request.origin)} kept changing; try again later"
    )


#: A key that signs nothing: the decision asks for one even where it refuses first.
_NO_KEY = SigningKey(bytes(32))
