"""``eseal witness sync``: witness another region's log by pulling its latest checkpoint and
a consistency proof from the checkpoint held, then deciding as ``POST /add-checkpoint``
does (:func:`eseal.witness.witness_checkpoint`). The other node is asked over HTTP, each
answer bounded in size and time; nothing it says is trusted but what the log's key signed
and what the proof proves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from eseal.node import Node
from eseal.witness import (
    SYNC_EVIDENCE,
    WitnessedLog,
    witness_checkpoint,
    witnessed_log,
)
from keys.errors import CheckFailed, ExternalFailure, InvalidInput, shown
from keys.strictjson import MalformedJson, loads_strict
from ledger.checkpoint import MAX_NOTE_BYTES, Checkpoint
from ledger.witness import AddCheckpointRequest, Cosigned, Refusal, Refused, hash_line
from verifier.deadline import client as deadline_client
from verifier.online import NodeAnswerMalformed, NodeUnreachable, bounded_get

CHECKPOINT_PATH = "/v1/ledger/checkpoint"
CONSISTENCY_PATH = "/v1/ledger/proof/consistency"
#: A consistency proof's JSON: at most 64 hashes of 44 characters, and its sizes.
MAX_PROOF_ANSWER = 16 * 1024
TIMEOUT = 10.0


class LogRefused(CheckFailed):
    """The log's checkpoint is refused: not signed by its key, a fork or a rollback of the
    checkpoint held, or not proved consistent with it (exit 1)."""

    code = "log-refused"


@dataclass(frozen=True)
class Synced:
    """What a sync did: the log as it was, the checkpoint the log served, and the outcome."""

    before: WitnessedLog
    checkpoint_note: str
    outcome: Cosigned | Refused

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "origin": self.before.origin,
            "held_size": self.before.size,
            "held_note": self.before.note,
            "served_note": self.checkpoint_note,
        }
        if isinstance(self.outcome, Cosigned):
            out |= {
                "cosigned": True,
                "size": self.outcome.checkpoint.size,
                "cosignature": self.outcome.cosignature,
            }
        else:
            out |= {
                "cosigned": False,
                "reason": str(self.outcome.reason),
                "detail": self.outcome.detail,
            }
        return out


def _get(client: httpx.Client, url: str, limit: int) -> bytes:
    status, _media, body = bounded_get(client, url, limit)
    if status != 200:
        raise NodeUnreachable(
            f"{url} answered {status}: {shown(body[:200].decode('utf-8', 'replace'))}"
        )
    return body


def fetch_checkpoint(client: httpx.Client, base_url: str) -> str:
    """The log's latest signed checkpoint note, as served (checked later)."""
    body = _get(client, base_url + CHECKPOINT_PATH, MAX_NOTE_BYTES)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NodeAnswerMalformed(f"{base_url}{CHECKPOINT_PATH} is not UTF-8 text") from e


def fetch_consistency(
    client: httpx.Client, base_url: str, first: int, second: int
) -> tuple[bytes, ...]:
    """The log's consistency proof from ``first`` to ``second`` (hashes, not yet checked)."""
    url = f"{base_url}{CONSISTENCY_PATH}?first={first}&second={second}"
    body = _get(client, url, MAX_PROOF_ANSWER)
    try:
        raw = loads_strict(body, what=f"{url}'s answer", max_bytes=MAX_PROOF_ANSWER)
    except MalformedJson as e:
        raise NodeAnswerMalformed(e.message) from e
    try:
        if raw["first"] != first or raw["second"] != second:
            raise NodeAnswerMalformed(f"{url} answered a proof of other sizes")
        hashes = [hash_line(h) if isinstance(h, str) else None for h in raw["proof"]]
    except (ValueError, KeyError, TypeError) as e:
        raise NodeAnswerMalformed(f"{url} answered no consistency proof: {shown(e)}") from e
    if any(h is None for h in hashes):
        raise NodeAnswerMalformed(f"{url} answered a proof hash that is no base64 32-byte hash")
    return tuple(h for h in hashes if h is not None)


#: How many times a sync decides, when the checkpoint held changes while it runs (another
#: sync, or the log's own request, stored one meanwhile).
MAX_ROUNDS = 3


class HeldKeptChanging(ExternalFailure):
    """The checkpoint held of the log changed during every round of a sync."""

    code = "held-checkpoint-kept-changing"


def _request(
    client: httpx.Client, base_url: str, log: WitnessedLog, note: str
) -> AddCheckpointRequest:
    """The request of ``note`` (served by the log at ``base_url``) from the checkpoint held,
    ``log``: the consistency proof from its size fetched."""
    try:
        served = Checkpoint.of_note(note)
    except InvalidInput as e:
        raise NodeAnswerMalformed(
            f"{base_url}{CHECKPOINT_PATH} is no checkpoint: {e.message}"
        ) from e
    proof: tuple[bytes, ...] = ()
    if 0 < log.size < served.size:
        proof = fetch_consistency(client, base_url, log.size, served.size)
    return AddCheckpointRequest(log.size, proof, note)


def sync(node: Node, base_url: str, *, now: int, client: httpx.Client | None = None) -> Synced:
    """Pull the log's checkpoint at ``base_url`` and witness it (see module doc).

    Another sync of the log, or its own request, may store a checkpoint while this one runs:
    a refusal decided against a checkpoint held that is not the one the request was made
    from, and a rollback of one held that may have been stored after the log's checkpoint
    was fetched (the first fetch, made to learn the origin), says nothing of the log. Then
    the checkpoint held is read again, and the log's fetched after it, and decided anew;
    only a refusal of what the log served after the checkpoint held was read is evidence.
    What the log can bring about by pushing meanwhile hides nothing: a fork of the
    checkpoint held is one whenever that was stored, and the request is decided against the
    checkpoint it was made from too (a fork or a rollback of it, or a proof that does not
    lead from it, holds against it however far the checkpoint held moved since:
    :func:`eseal.witness.refused_against`); the refusal names the checkpoint it holds
    against."""
    base_url = base_url.rstrip("/")
    own = client or deadline_client(base_url, TIMEOUT)
    try:
        note = fetch_checkpoint(own, base_url)
        origin = note.partition("\n")[0]
        log = witnessed_log(node, origin)  # unknown: refused before anything more is asked
        for round_ in range(MAX_ROUNDS):
            fetched_after = round_ > 0  # ``note`` fetched after ``log`` was read
            request = _request(own, base_url, log, note)
            evidence = SYNC_EVIDENCE if fetched_after else SYNC_EVIDENCE - {Refusal.ROLLBACK}
            outcome, against = witness_checkpoint(
                node, request, now=now, evidence=evidence, made_from=log
            )
            if isinstance(outcome, Cosigned):
                return Synced(log, note, outcome)
            if against is not None and (fetched_after or outcome.reason is not Refusal.ROLLBACK):
                return Synced(against, note, outcome)
            if round_ + 1 < MAX_ROUNDS:
                log = witnessed_log(node, origin)
                note = fetch_checkpoint(own, base_url)
    finally:
        if client is None:
            own.close()
    raise HeldKeptChanging(
        f"the checkpoint held of {shown(origin)} changed during each of {MAX_ROUNDS} tries "
        "(other syncs, or the log's requests, storing one meanwhile): try again later"
    )
