"""The node's own log witnessed (C2SP tlog-witness, the log's side): the witnesses its
operator names, asking each to cosign the node's current checkpoint (``eseal witness ask``,
from cron), and the checkpoint served with the cosignatures it was given.

Each witness is asked ``POST <url>/add-checkpoint`` with the old size the node believes it
holds (the size it last cosigned, 0 at first), the consistency proof from that size, and
the node's checkpoint. A 409 names the size the witness holds: the request is sent once
more from it. A cosignature line is stored only once it verifies under the witness's key
on this very checkpoint (:func:`ledger.cosignature.verify_witnessed`); nothing else the
witness answers is trusted. Each answer is bounded in size and time.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import (
    Connection,
    Integer,
    Row,
    Select,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from eseal.models import LogWitnessCosignatureRow, LogWitnessRow
from eseal.node import Node
from eseal.witness import witness_key
from keys.errors import CheckFailed, EsealError, ExternalFailure, InvalidInput, shown
from ledger.checkpoint import MAX_SIGNATURES, Checkpoint, NoteVerifier, verify_checkpoint
from ledger.cosignature import CosignatureVerifier, parse_cosigner_key, verify_witnessed
from ledger.sql import LedgerCheckpointRow
from ledger.witness import (
    ADD_CHECKPOINT_PATH,
    TLOG_SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    parse_size_body,
)
from verifier.deadline import client as deadline_client
from verifier.online import NodeUnreachable, bounded_request
from verifier.urls import base_url

_w = LogWitnessRow.__table__  # type: ignore[attr-defined]
_h = LogWitnessCosignatureRow.__table__  # type: ignore[attr-defined]
_checkpoint = LedgerCheckpointRow.__table__  # type: ignore[attr-defined]

#: The most cosignatures of one witness kept (its latest ones, by size): the checkpoints an
#: older cut can be served at with the lines of every witness that cosigned it. Asked every
#: few minutes, a witness's 64 latest cover hours of drift.
COSIGNATURE_HISTORY = 64

#: The most of a witness's answer read: a cosignature line is about 150 bytes; a refusal's
#: text a few hundred.
MAX_ANSWER = 4 * 1024
TIMEOUT = 10.0


class WitnessAlreadyAdded(InvalidInput):
    """``add-witness`` of a witness name the node has already."""

    code = "witness-already-added"
    http_status = 409


class UnknownWitness(InvalidInput):
    """No witness of this name is registered for the node's log."""

    code = "unknown-witness"
    http_status = 404


class NoWitnesses(InvalidInput):
    """``ask`` with no witness registered."""

    code = "no-witnesses"


class WitnessesRefused(CheckFailed):
    """A witness did not cosign the checkpoint: it refused, or answered a line that does
    not verify (exit 1)."""

    code = "witnesses-refused"


class WitnessesUnreachable(ExternalFailure):
    """No witness could be reached (exit 2)."""

    code = "witnesses-unreachable"


@dataclass(frozen=True)
class LogWitness:
    """A witness of the node's log and the latest checkpoint it cosigned."""

    name: str
    url: str
    verifier_key: str
    size: int
    root_hash: bytes | None
    cosignature: str | None
    cosigned_at: int | None
    added_at: int

    @property
    def verifier(self) -> CosignatureVerifier:
        return parse_cosigner_key(self.verifier_key)

    def to_json(self) -> dict[str, Any]:
        root = base64.b64encode(self.root_hash).decode("ascii") if self.root_hash else None
        return {
            "name": self.name,
            "url": self.url,
            "verifier_key": self.verifier_key,
            "size": self.size,
            "root_hash": root,
            "cosignature": self.cosignature,
            "cosigned_at": self.cosigned_at,
            "added_at": self.added_at,
        }


def _row(row: Any) -> LogWitness:
    return LogWitness(
        row.name,
        row.url,
        row.verifier_key,
        row.size,
        row.root_hash,
        row.cosignature,
        row.cosigned_at,
        row.added_at,
    )


def add_witness(node: Node, url: str, key: str, *, now: int) -> LogWitness:
    """Register the witness at ``url`` (the base of its ``POST /add-checkpoint``) whose
    cosignature/v1 verifier key is ``key``; named by its key's name, from size 0."""
    base = base_url(url, "the witness URL")
    verifier = parse_cosigner_key(key.strip())
    own = witness_key(node)
    if own is not None and own.public_key == verifier.public_key:
        raise InvalidInput("that is this node's own witness key: a witness is another party")
    try:
        with node.sql.write_engine.begin() as conn:
            conn.execute(
                insert(_w).values(
                    name=verifier.name,
                    url=base,
                    verifier_key=str(verifier),
                    size=0,
                    root_hash=None,
                    cosignature=None,
                    cosigned_at=None,
                    added_at=now,
                )
            )
    except IntegrityError as e:
        raise WitnessAlreadyAdded(
            f"a witness named {shown(verifier.name)} is registered already (eseal witness "
            "witnesses); remove it first to change its URL or key"
        ) from e
    return log_witness(node, verifier.name)


def log_witness(node: Node, name: str) -> LogWitness:
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(select(_w).where(_w.c.name == name)).first()
    if row is None:
        raise UnknownWitness(f"no witness named {shown(name)} is registered")
    return _row(row)


def list_witnesses(node: Node) -> list[LogWitness]:
    with node.sql.read_engine.connect() as conn:
        return [_row(r) for r in conn.execute(select(_w).order_by(_w.c.name))]


def remove_witness(node: Node, name: str) -> LogWitness:
    """Forget the witness ``name`` (and the cosignatures it gave: no longer served, nor
    counted for a witness added again under that name, which takes this first)."""
    with node.sql.write_engine.begin() as conn:
        row = conn.execute(select(_w).where(_w.c.name == name)).first()
        if row is None:
            raise UnknownWitness(f"no witness named {shown(name)} is registered")
        # The witness's row first: an ask storing a line of it holds that row's lock until
        # it commits the line to the history too (PostgreSQL, READ COMMITTED), so the
        # history is emptied after that line is in it, never before (where it would stay).
        conn.execute(delete(_w).where(_w.c.name == name))
        conn.execute(delete(_h).where(_h.c.name == name))
    return _row(row)


# --- asking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """What one witness did with the checkpoint: ``outcome`` is ``cosigned``, ``refused``
    (it said no, or answered a line that does not verify: nothing stored) or
    ``unreachable``; ``old_sizes`` the old sizes sent (two after a 409)."""

    name: str
    url: str
    size: int
    old_sizes: tuple[int, ...]
    outcome: str
    detail: str
    cosignature: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__) | {"old_sizes": list(self.old_sizes)}


def check_cosignature(
    note: str, answer: bytes, log: NoteVerifier, witness: CosignatureVerifier
) -> str | None:
    """The answer's cosignature line if it is one line that verifies under ``witness`` on
    the checkpoint ``note`` (signed by ``log``), else None."""
    try:
        line = answer.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not line.startswith("\u2014 ") or not line.endswith("\n") or line.count("\n") != 1:
        return None
    try:
        verify_witnessed(note + line, log, [witness], 1)
    except EsealError:
        return None
    return line


def _answer_text(body: bytes) -> str:
    return shown(body[:300].decode("utf-8", "replace").strip(), 300)


def _post(client: httpx.Client, url: str, request: AddCheckpointRequest) -> tuple[int, str, bytes]:
    return bounded_request(
        client,
        "POST",
        url + ADD_CHECKPOINT_PATH,
        MAX_ANSWER,
        TIMEOUT,
        content=request.body().encode("utf-8"),
        content_type="text/plain; charset=utf-8",
    )


def _request(node: Node, old: int, checkpoint: Checkpoint, note: str) -> AddCheckpointRequest:
    size = checkpoint.size
    proof = tuple(node.log.consistency_proof(old, size)) if 0 < old < size else ()
    return AddCheckpointRequest(old, proof, note)


def ask_one(
    node: Node,
    w: LogWitness,
    note: str,
    checkpoint: Checkpoint,
    *,
    client: httpx.Client,
    now: int,
) -> Asked:
    """Ask the witness ``w`` to cosign ``checkpoint`` (the node's ``note``), from the size it
    last cosigned, once more from the size it names on a 409; store a verified line."""
    old, sent = w.size, list[int]()
    size = checkpoint.size

    def done(outcome: str, detail: str, line: str | None = None) -> Asked:
        return Asked(w.name, w.url, size, tuple(sent), outcome, detail, line)

    while True:
        if old > size:
            return done(
                "refused",
                f"the witness holds size {old}, above this log's size {size}: it has a "
                "checkpoint of this log this node never signed at that size (a fork?)",
            )
        sent.append(old)
        try:
            status, media, answer = _post(client, w.url, _request(node, old, checkpoint, note))
        except NodeUnreachable as e:
            return done("unreachable", e.message)
        if status == 409 and media == TLOG_SIZE_CONTENT_TYPE and len(sent) == 1:
            try:
                old = parse_size_body(answer)
            except InvalidInput as e:
                return done("refused", f"409 with a malformed size: {e.message}")
            continue
        if status != 200:
            return done("refused", f"{status}: {_answer_text(answer)}")
        line = check_cosignature(note, answer, node.log_verifier, w.verifier)
        if line is None:
            return done(
                "refused",
                f"answered {_answer_text(answer)}, which is no cosignature/v1 line of "
                f"{w.name} on this checkpoint: not stored",
            )
        same = (_w.c.name == w.name, _w.c.verifier_key == w.verifier_key)
        with node.sql.write_engine.begin() as conn:
            moved = conn.execute(
                update(_w)
                .where(*same, _w.c.size <= size)
                .values(
                    size=size, root_hash=checkpoint.root_hash, cosignature=line, cosigned_at=now
                )
            )
            # A later cosignature stored meanwhile (another ask) leaves the latest row as it
            # is; this line is kept in the history all the same while the witness is there.
            there = select(_w.c.name).where(*same).with_for_update()  # no removal meanwhile
            kept = moved.rowcount == 1 or conn.execute(there).first()
            if kept:
                _keep(conn, w.name, size=size, root=checkpoint.root_hash, line=line, now=now)
        return done("cosigned", f"cosigned size {size} (from old size {old})", line)


def _keep(conn: Connection, name: str, *, size: int, root: bytes, line: str, now: int) -> None:
    """Add the cosignature to the witness's history (in place of one at that size), and
    forget its cosignatures older than its :data:`COSIGNATURE_HISTORY` latest."""
    conn.execute(delete(_h).where(_h.c.name == name, _h.c.size == size))
    conn.execute(
        insert(_h).values(name=name, size=size, root_hash=root, cosignature=line, cosigned_at=now)
    )
    oldest_kept = (
        select(_h.c.size)
        .where(_h.c.name == name)
        .order_by(_h.c.size.desc())
        .offset(COSIGNATURE_HISTORY - 1)
        .limit(1)
        .scalar_subquery()
    )
    conn.execute(delete(_h).where(_h.c.name == name, _h.c.size < oldest_kept))


def ask(
    node: Node,
    *,
    now: int,
    client_for: Callable[[str], httpx.Client] | None = None,
) -> list[Asked]:
    """Ask every registered witness to cosign the node's current checkpoint (one checkpoint
    for all); what each did. ``client_for`` gives the HTTP client of a witness's URL (a
    deadline-bounded one, closed after, unless given)."""
    witnesses = list_witnesses(node)
    if not witnesses:
        raise NoWitnesses(
            "no witness of this node's log is registered (eseal witness add-witness URL KEY)"
        )
    note = node.log.checkpoint()
    checkpoint = verify_checkpoint(note, node.log_verifier)
    out: list[Asked] = []
    for w in witnesses:
        client = client_for(w.url) if client_for else deadline_client(w.url, TIMEOUT)
        try:
            out.append(ask_one(node, w, note, checkpoint, client=client, now=now))
        finally:
            if client_for is None:
                client.close()
    return out


# --- serving -------------------------------------------------------------------------------

#: The most cosignature lines appended to the served checkpoint: with the log's own line,
#: within the signatures a signed-note verifier takes (:data:`ledger.checkpoint.MAX_SIGNATURES`).
MAX_SERVED_COSIGNATURES = MAX_SIGNATURES - 1


def _cosigned(stored: Select[int, str], lines: Table = _w) -> Select[str, bytes | None, str | None]:
    """The ``stored`` checkpoint's note with the rows of ``lines`` (the witnesses' latest
    cosignatures, or their histories) that have a line at its size (one row with no line
    when there are none), by witness name."""
    cp = stored.subquery()
    on_it = (lines.c.size == cp.c.size) & lines.c.cosignature.is_not(None)
    return (
        select(cp.c.note, lines.c.root_hash, lines.c.cosignature)
        .select_from(cp.outerjoin(lines, on_it))
        .order_by(lines.c.name)
    )


# Built once: a statement built at each status answer costs more than its execution. The
# latest checkpoint's lines are the witnesses' latest ones (no witness cosigned a later
# checkpoint), read from their own rows; an older checkpoint's from their histories.
_LATEST_COSIGNED = _cosigned(
    select(_checkpoint.c.size, _checkpoint.c.note).order_by(_checkpoint.c.size.desc()).limit(1)
)
_COSIGNED_AT = _cosigned(
    select(_checkpoint.c.size, _checkpoint.c.note).where(_checkpoint.c.size == bindparam("size")),
    _h,
)
#: A checkpoint the log does not store (its empty one), given in place of the row.
_COSIGNED_UNSTORED = _cosigned(
    select(
        bindparam("size", type_=Integer).label("size"), bindparam("note", type_=Text).label("note")
    )
)


def cosigned_checkpoint(node: Node, size: int | None = None) -> str:
    """The node's checkpoint note at ``size`` (the latest when None) with the stored
    cosignature lines of its witnesses on that very checkpoint (same size and root hash)
    appended, by witness name; lines on another checkpoint are left out. A verifier ignores
    the lines of keys it does not know (c2sp.org/signed-note). A ``size`` is that of a
    checkpoint the log stores (:func:`witnessed_size`); its lines are read from the
    witnesses' histories (each one's :data:`COSIGNATURE_HISTORY` latest), so a witness that
    has since cosigned a later checkpoint still has its line on this one served.

    The note and the lines are read in one statement (the checkpoint row joined with the
    witnesses' rows at its size): every status answer serves this, and a node without
    witnesses, or with witnesses in another process's hands (``eseal witness add``, ``ask``
    from cron), is then asked nothing more than the checkpoint it needs anyway, with
    nothing cached that another process could make stale. A log that stores no checkpoint
    yet serves its size-0 one, signed when asked, joined in the row's place."""
    if size is None:
        rows = _read(node, _LATEST_COSIGNED, {})
    else:
        rows = _read(node, _COSIGNED_AT, {"size": size})
        if not rows:
            raise ValueError(f"the log stores no checkpoint of size {size}")
    if not rows:  # a log that stores no checkpoint yet
        note = node.log.checkpoint()
        given = {"size": Checkpoint.of_note(note).size, "note": note}
        rows = _read(node, _COSIGNED_UNSTORED, given)
    return _with_lines(str(rows[0].note), rows)[0]


def _with_lines(note: str, rows: Sequence[Any]) -> tuple[str, int]:
    """The checkpoint ``note`` with the cosignature lines of ``rows`` (by witness name) on
    that very checkpoint appended (those on its root hash, at most
    :data:`MAX_SERVED_COSIGNATURES`), and how many lines were."""
    root = Checkpoint.of_note(note).root_hash
    lines = [
        str(r.cosignature)
        for r in rows
        if r.cosignature is not None and r.root_hash is not None and bytes(r.root_hash) == root
    ][:MAX_SERVED_COSIGNATURES]
    return note + "".join(lines), len(lines)


#: The most checkpoints :func:`cosigned_checkpoints` lists: as many as one witness's history
#: holds, the newest.
MAX_LISTED_CHECKPOINTS = COSIGNATURE_HISTORY

# The newest sizes of the witnesses' histories the log stores a checkpoint of, then those
# checkpoints' notes with every history line at their size: one statement.
_LISTED_SIZES = (
    select(_h.c.size)
    .join(_checkpoint, _checkpoint.c.size == _h.c.size)
    .where(_h.c.size >= 1)
    .group_by(_h.c.size)
    .order_by(_h.c.size.desc())
    .limit(MAX_LISTED_CHECKPOINTS)
    .subquery()
)
_LISTED = (
    select(_checkpoint.c.size, _checkpoint.c.note, _h.c.root_hash, _h.c.cosignature)
    .select_from(
        _LISTED_SIZES.join(_checkpoint, _checkpoint.c.size == _LISTED_SIZES.c.size).join(
            _h, _h.c.size == _LISTED_SIZES.c.size
        )
    )
    .order_by(_checkpoint.c.size.desc(), _h.c.name)
)


def cosigned_checkpoints(node: Node) -> list[tuple[int, str]]:
    """The checkpoints the node's witnesses cosigned, newest first, as (size, note): one per
    size of the witnesses' histories (each one's :data:`COSIGNATURE_HISTORY` latest; the
    :data:`MAX_LISTED_CHECKPOINTS` largest sizes) whose signed note the log stores, that
    note with the lines of the witnesses on that very checkpoint appended as
    :func:`cosigned_checkpoint` appends them; a size whose lines are all on another root
    (never the log's own: the stored note is the one the log signed) is left out. A peer
    held to a witness policy picks from these the newest its quorum cosigned, and asks for
    the snapshot cut there (``GET /v1/revocations?at=SIZE``). One statement."""
    with node.sql.reading() as conn:
        rows = conn.execute(_LISTED).all()
    out: list[tuple[int, str]] = []
    for size, group in itertools.groupby(rows, key=lambda row: int(row.size)):
        same = list(group)
        note, lines = _with_lines(str(same[0].note), same)
        if lines:
            out.append((size, note))
    return out


def _read(
    node: Node, query: Select[str, bytes | None, str | None], given: dict[str, object]
) -> Sequence[Row[str, bytes | None, str | None]]:
    with node.sql.reading() as conn:
        return conn.execute(query, given).all()


def witnessed_size(node: Node, latest: int) -> int | None:
    """The size of the checkpoint the most witnesses' stored cosignature lines are on, read
    from their histories (each one's :data:`COSIGNATURE_HISTORY` latest; of two as many,
    the larger), if it is below ``latest`` (the size of the checkpoint an answer is proved
    under, which then carries no more lines than it), the log stores its signed note, and
    that note's root hash is the one the witnesses cosigned and the log's own tree root at
    that size; else None (the latest checkpoint's own lines are all there is)."""
    query = (
        select(_h.c.size, _h.c.root_hash)
        .where(_h.c.size >= 1, _h.c.size <= latest)
        .group_by(_h.c.size, _h.c.root_hash)
        .order_by(func.count(_h.c.name.distinct()).desc(), _h.c.size.desc())
        .limit(1)
    )
    with node.sql.reading() as conn:
        best = conn.execute(query).first()
    if best is None or int(best.size) >= latest:
        return None
    size, root = int(best.size), bytes(best.root_hash)
    note = node.log.store.checkpoint(size)
    if note is None:
        return None
    stored = verify_checkpoint(note, node.log_verifier)
    if stored.root_hash != root or node.log.root_hash(size) != root:
        return None  # never a line on a root the log does not have
    return size
