"""A witness's add-checkpoint decision and request body (c2sp.org/tlog-witness)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from nacl.signing import SigningKey

from keys.errors import InvalidInput
from ledger.checkpoint import (
    MAX_NOTE_BYTES,
    Checkpoint,
    NoteVerifier,
    open_note,
    sign_checkpoint,
    sign_note,
)
from ledger.cosignature import CosignatureVerifier, cosign, cosignature_time, verify_witnessed
from ledger.merkle import EMPTY_ROOT, MemoryTree, consistency_proof, leaf_hash, root_hash
from ledger.witness import (
    MAX_REQUEST_BYTES,
    TLOG_SIZE_CONTENT_TYPE,
    AddCheckpointMalformed,
    AddCheckpointRequest,
    Cosigned,
    Refusal,
    Refused,
    TreeSizeBodyMalformed,
    add_checkpoint,
    parse_size_body,
    size_body,
)

# filippo.io/torchwood, internal/witness/witness_test.go (TestRace, TestTooManyProofs): a
# Sigsum log's Ed25519 key and three add-checkpoint request bodies it signed. The first
# (old 0, size 1) is cosigned; then size 5 from 1 is; size 3 from 1, racing it, must be
# refused with a 409 once the witness holds size 5; and the held root is then 42bb57ad….
TW_ORIGIN = "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562"
TW_LOG_KEY = bytes.fromhex("ffdc2d4d98e4124d3feaf788c0c2f9abfd796083d1f0495437f302ec79cf100f")
TW_SIG_1 = (
    "UgIom7fPZTqpxWWhyjWduBvTvGVqsokMbqTArsQilegKoFBJQjUFAmQ0+YeSPM3wfUQMFSzVnnNuWRTYrajXpNUbIQY="
)
TW_SIG_3 = (
    "UgIom2VbtIcdFbwFAy1n7s6IkAxIY6J/GQOTuZF2ORV39d75cbAj2aQYwyJre36kezNobZs4SUUdrcawfAB8WVrx6go="
)
TW_SIG_5 = (
    "UgIomw/EOJmWi0i1FQsOj+etB7F8IccFam/jgd6wzRns4QPVmyEZtdvl1U2KEmLOZ/ASRcWJi0tW90dJWAShei7sDww="
)
TW_SIZE_1 = f"""old 0

{TW_ORIGIN}
1
KgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=

\u2014 {TW_ORIGIN} {TW_SIG_1}
"""
TW_SIZE_3 = f"""old 1
KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
KgIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=

{TW_ORIGIN}
3
RcCI1Nk56ZcSmIEfIn0SleqtV7uvrlXNccFx595Iwl0=

\u2014 {TW_ORIGIN} {TW_SIG_3}
"""
TW_SIZE_5 = f"""old 1
KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
+fUDV+k970B4I3uKrqJM4aP1lloPZP8mvr2Z4wRw2LI=
KgQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=

{TW_ORIGIN}
5
QrtXrQZCCvpIgsSmOsah7HdICzMLLyDfxToMql9WTjY=

\u2014 {TW_ORIGIN} {TW_SIG_5}
"""
TW_ROOT_5 = "42bb57ad06420afa4882c4a63ac6a1ec77480b330b2f20dfc53a0caa5f564e36"

ORIGIN = "eseal.example.gov.cn/500000/ledger"
WITNESS = "eseal.example.gov.cn/510000/witness"
TIME = 1_790_000_000


def _key(label: str) -> SigningKey:
    return SigningKey(hashlib.sha256(label.encode()).digest())


WITNESS_KEY = _key("witness")
WITNESS_VERIFIER = CosignatureVerifier(WITNESS, bytes(WITNESS_KEY.verify_key))
LOG_KEY = _key("log")
LOG_VERIFIER = NoteVerifier(ORIGIN, bytes(LOG_KEY.verify_key))


def _decide(
    request: AddCheckpointRequest,
    held: Checkpoint | None,
    log_key: NoteVerifier | None = LOG_VERIFIER,
) -> Cosigned | Refused:
    return add_checkpoint(
        request,
        log_key=log_key,
        held=held,
        witness_name=WITNESS,
        witness_key=WITNESS_KEY,
        time=TIME,
    )


def _cosigned(decision: Cosigned | Refused) -> Cosigned:
    assert isinstance(decision, Cosigned), decision
    return decision


def _refused(decision: Cosigned | Refused) -> Refused:
    assert isinstance(decision, Refused), decision
    return decision


class Log:
    """A log of n leaves with its tree, signing checkpoints and requests at any size."""

    def __init__(self, n: int, key: SigningKey = LOG_KEY, label: str = "leaf") -> None:
        self.key = key
        self.tree = MemoryTree(leaf_hash(f"{label} {i}".encode()) for i in range(n))

    def checkpoint(self, size: int) -> Checkpoint:
        return Checkpoint(ORIGIN, size, root_hash(size, self.tree))

    def note(self, size: int) -> str:
        return sign_checkpoint(self.checkpoint(size), self.key)

    def request(self, old: int, size: int) -> AddCheckpointRequest:
        proof = consistency_proof(old, size, self.tree) if 0 < old < size else []
        return AddCheckpointRequest(old, tuple(proof), self.note(size))


# --- reference vectors ----------------------------------------------------------------------


def test_torchwood_requests_round_trip() -> None:
    for body in (TW_SIZE_1, TW_SIZE_3, TW_SIZE_5):
        request = AddCheckpointRequest.parse(body.encode())
        assert request.body() == body
        assert request.origin == TW_ORIGIN
    assert len(AddCheckpointRequest.parse(TW_SIZE_5).proof) == 3


def test_torchwood_race_is_refused_with_a_conflict() -> None:
    log_key = NoteVerifier(TW_ORIGIN, TW_LOG_KEY)

    def decide(body: str, held: Checkpoint | None) -> Cosigned | Refused:
        return _decide(AddCheckpointRequest.parse(body), held, log_key)

    first = _cosigned(decide(TW_SIZE_1, None))
    assert first.checkpoint.size == 1
    # either racing request extends size 1 ...
    assert _cosigned(decide(TW_SIZE_3, first.checkpoint)).checkpoint.size == 3
    fifth = _cosigned(decide(TW_SIZE_5, first.checkpoint))
    assert fifth.checkpoint.root_hash.hex() == TW_ROOT_5
    # ... but once size 5 is held, size 3 would roll it back: 409 with the held size
    late = _refused(decide(TW_SIZE_3, fifth.checkpoint))
    assert (late.reason, late.status, late.known_size) == (Refusal.ROLLBACK, 409, 5)
    # the answer is a cosignature the log can append to its note
    note = AddCheckpointRequest.parse(TW_SIZE_5).note + fifth.cosignature
    witness = CosignatureVerifier(WITNESS, bytes(WITNESS_KEY.verify_key))
    opened = open_note(note, [log_key, witness])
    assert [s.name for s in opened.signatures] == [TW_ORIGIN, WITNESS]
    assert cosignature_time(opened.signatures[1]) == TIME


def test_torchwood_too_many_proofs_is_a_bad_request() -> None:
    head, _, note = TW_SIZE_1.partition("\n\n")
    lines = "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    assert AddCheckpointRequest.parse(f"{head}\n{lines * 63}\n{note}").proof
    with pytest.raises(AddCheckpointMalformed, match="64 proof lines"):
        AddCheckpointRequest.parse(f"{head}\n{lines * 64}\n{note}")


# torchwood's TestZeroSize table (its keys are random, so the cases are rebuilt here with
# fixed ones): (held size, old size, new size, root, proof) -> HTTP status.
EMPTY = EMPTY_ROOT
LEAF = leaf_hash(b"leaf")


@pytest.mark.parametrize(
    "case",
    [
        (0, 0, 0, EMPTY, (), 200),  # empty tree
        (0, 0, 0, LEAF, (), 422),  # invalid empty root
        (0, 0, 0, bytes(32), (), 422),  # zero empty root
        (0, 0, 0, EMPTY, (LEAF,), 422),  # empty tree with proof
        (0, 0, 1, LEAF, (), 200),  # first nonempty tree
        (0, 0, 1, LEAF, (LEAF,), 422),  # first nonempty tree with proof
        (1, 0, 1, LEAF, (LEAF,), 409),  # old size mismatch
        (1, 1, 0, EMPTY, (), 400),  # old size greater than new
    ],
)
def test_torchwood_zero_size_cases(
    case: tuple[int, int, int, bytes, tuple[bytes, ...], int],
) -> None:
    known, old, new, root, proof, status = case
    held = Checkpoint(ORIGIN, known, LEAF if known else EMPTY)
    note = sign_checkpoint(Checkpoint(ORIGIN, new, root), LOG_KEY)
    decision = _decide(AddCheckpointRequest(old, proof, note), held)
    if status == 200:
        cosigned = _cosigned(decision)
        assert (cosigned.checkpoint.size, cosigned.checkpoint.root_hash) == (new, root)
        # submitted again with the old size now matching, it is cosigned again
        again = _decide(AddCheckpointRequest(new, (), note), cosigned.checkpoint)
        assert _cosigned(again).checkpoint == cosigned.checkpoint
    else:
        assert _refused(decision).status == status
    # the same with nothing held, where what is held is the empty tree
    if known == 0:
        alone = _decide(AddCheckpointRequest(old, proof, note), None)
        assert (200 if isinstance(alone, Cosigned) else alone.status) == status


# --- the decision ---------------------------------------------------------------------------


def test_a_growing_log_is_cosigned_at_each_step_and_reaches_a_quorum() -> None:
    log = Log(100)
    held: Checkpoint | None = None
    for old, new in [(0, 0), (0, 3), (3, 3), (3, 4), (4, 7), (7, 8), (8, 64), (64, 100)]:
        cosigned = _cosigned(_decide(log.request(old, new), held))
        assert cosigned.checkpoint == log.checkpoint(new)
        held = cosigned.checkpoint
    other_key = _key("witness 2")
    other = add_checkpoint(
        log.request(0, 100),
        log_key=LOG_VERIFIER,
        held=None,
        witness_name="other.example/witness",
        witness_key=other_key,
        time=TIME + 1,
    )
    note = log.note(100) + cosigned.cosignature + _cosigned(other).cosignature
    witnesses = [
        WITNESS_VERIFIER,
        CosignatureVerifier("other.example/witness", bytes(other_key.verify_key)),
    ]
    assert verify_witnessed(note, LOG_VERIFIER, witnesses, 2).checkpoint.size == 100


def test_an_unknown_origin_is_not_found() -> None:
    refused = _refused(_decide(Log(3).request(0, 3), None, log_key=None))
    assert (refused.reason, refused.status, refused.checkpoint) == (
        Refusal.UNKNOWN_ORIGIN,
        404,
        None,
    )


def test_a_checkpoint_not_signed_by_the_log_key_is_forbidden() -> None:
    forged = Log(3, key=_key("not the log"))
    refused = _refused(_decide(forged.request(0, 3), None))
    assert (refused.reason, refused.status) == (Refusal.BAD_LOG_SIGNATURE, 403)
    # a false signature by the log key beside a good one: forbidden too
    good = Log(3).note(3)
    false = Log(4).note(4).rsplit("\n\n", 1)[1]
    refused = _refused(_decide(AddCheckpointRequest(0, (), good + false), None))
    assert (refused.reason, refused.status) == (Refusal.BAD_LOG_SIGNATURE, 403)


def test_signatures_by_other_keys_are_ignored() -> None:
    log = Log(3)
    stranger = sign_checkpoint(log.checkpoint(3), _key("stranger")).rsplit("\n\n", 1)[1]
    request = AddCheckpointRequest(0, (), log.note(3) + stranger)
    assert _cosigned(_decide(request, None)).checkpoint.size == 3


def test_a_note_with_no_room_for_the_witness_line_is_a_bad_request() -> None:
    # The witness keeps the note with its line added (and the log serves it so): that must
    # still open as a signed note, of at most MAX_SIGNATURES lines and MAX_NOTE_BYTES.
    log = Log(3)
    body = log.checkpoint(3).body()
    strangers = "".join(
        sign_note(body, f"stranger{i}", _key(f"stranger {i}"))[len(body) + 1 :] for i in range(99)
    )
    room = AddCheckpointRequest(0, (), log.note(3) + strangers[: strangers.rfind("\u2014")])
    kept = room.note + _cosigned(_decide(room, None)).cosignature
    assert len(verify_witnessed(kept, LOG_VERIFIER, [WITNESS_VERIFIER], 1).cosignatures) == 1
    full = AddCheckpointRequest(0, (), log.note(3) + strangers)  # 100 lines
    refused = _refused(_decide(full, None))
    assert (refused.reason, refused.status) == (Refusal.CHECKPOINT_MALFORMED, 400)
    assert "100 signatures" in refused.detail
    # One stranger's line so long that the witness's would take the note past its bytes.
    pad = MAX_NOTE_BYTES - len(log.note(3).encode()) - len("\u2014 stranger \n".encode()) - 60
    long_line = f"\u2014 stranger {base64.b64encode(bytes(pad // 4 * 3)).decode()}\n"
    big = AddCheckpointRequest(0, (), log.note(3) + long_line)
    assert len(big.note.encode()) <= MAX_NOTE_BYTES
    refused = _refused(_decide(big, None))
    assert (refused.reason, refused.status) == (Refusal.CHECKPOINT_MALFORMED, 400)
    assert "bytes" in refused.detail


def test_a_false_line_in_the_witness_own_name_is_a_bad_request() -> None:
    # A false line by a known key refuses a note: one in the witness's name that it did not
    # sign would leave the note it keeps unopenable. Its own true line (a checkpoint it
    # cosigned before) is no reason to refuse.
    log = Log(4)
    other = cosign(log.checkpoint(4).body(), WITNESS, WITNESS_KEY, TIME)  # another body
    refused = _refused(_decide(AddCheckpointRequest(0, (), log.note(3) + other), None))
    assert (refused.reason, refused.status) == (Refusal.CHECKPOINT_MALFORMED, 400)
    assert "witness's own key" in refused.detail
    again = log.note(3) + cosign(log.checkpoint(3).body(), WITNESS, WITNESS_KEY, TIME - 1)
    kept = again + _cosigned(_decide(AddCheckpointRequest(0, (), again), None)).cosignature
    assert len(verify_witnessed(kept, LOG_VERIFIER, [WITNESS_VERIFIER], 1).cosignatures) == 1


@pytest.mark.parametrize(
    "note",
    [
        f"{ORIGIN}\n3\n",  # no signatures
        f"{ORIGIN}\n3\n\n\u2014 {ORIGIN} not-base64\n",
        f"{ORIGIN}\n3\t\n\n\u2014 {ORIGIN} AAAAAAAA\n",  # a control character
    ],
)
def test_a_malformed_note_is_a_bad_request(note: str) -> None:
    refused = _refused(_decide(AddCheckpointRequest(0, (), note), None))
    assert (refused.reason, refused.status) == (Refusal.CHECKPOINT_MALFORMED, 400)


def test_a_signed_text_that_is_no_checkpoint_is_a_bad_request() -> None:
    from ledger.checkpoint import sign_note

    note = sign_note(f"{ORIGIN}\nnot a size\n", ORIGIN, LOG_KEY)
    refused = _refused(_decide(AddCheckpointRequest(0, (), note), None))
    assert (refused.reason, refused.status) == (Refusal.CHECKPOINT_MALFORMED, 400)


def test_a_smaller_checkpoint_is_a_rollback() -> None:
    log = Log(10)
    held = log.checkpoint(8)
    for old, status in [(8, 400), (5, 409), (0, 409)]:
        refused = _refused(_decide(log.request(old, 6), held))
        assert (refused.reason, refused.status) == (Refusal.ROLLBACK, status)
        assert refused.known_size == (8 if status == 409 else None)
        assert refused.checkpoint == log.checkpoint(6)


def test_the_same_size_with_another_root_is_a_fork() -> None:
    log, split = Log(10), Log(10, label="other leaf")
    held = log.checkpoint(8)
    refused = _refused(_decide(split.request(8, 8), held))
    assert (refused.reason, refused.status, refused.known_size) == (Refusal.FORK, 409, 8)
    assert refused.checkpoint == split.checkpoint(8)  # the log-signed evidence
    # named a fork whatever old size the log gives, with the status the spec gives it
    assert _refused(_decide(split.request(4, 8), held)).reason is Refusal.FORK
    # the honest log's same checkpoint is cosigned again
    assert _cosigned(_decide(log.request(8, 8), held)).checkpoint == held


def test_a_fork_past_the_held_size_has_no_proof() -> None:
    log, split = Log(10), Log(10, label="other leaf")
    held = log.checkpoint(4)
    proof = consistency_proof(4, 9, split.tree)  # proves the split tree's own history
    refused = _refused(_decide(AddCheckpointRequest(4, tuple(proof), split.note(9)), held))
    assert (refused.reason, refused.status) == (Refusal.BAD_CONSISTENCY_PROOF, 422)


def test_a_bad_consistency_proof_is_unprocessable() -> None:
    log = Log(10)
    held = log.checkpoint(3)
    good = log.request(3, 9)
    cases = [
        good.proof[:-1],  # too short
        (*good.proof, LEAF),  # too long
        (LEAF, *good.proof[1:]),  # altered
        (),  # empty between different sizes
        consistency_proof(4, 9, log.tree),  # from another size
    ]
    for proof in cases:
        request = AddCheckpointRequest(3, tuple(proof), good.note)
        refused = _refused(_decide(request, held))
        assert (refused.reason, refused.status) == (Refusal.BAD_CONSISTENCY_PROOF, 422)
    assert _cosigned(_decide(good, held))
    same_size = AddCheckpointRequest(3, (LEAF,), log.note(3))  # a proof where none belongs
    assert _refused(_decide(same_size, held)).status == 422


def test_an_old_size_other_than_the_held_one_is_a_conflict() -> None:
    log = Log(10)
    held = log.checkpoint(5)
    for old in (0, 4, 6):
        refused = _refused(_decide(log.request(old, 9), held))
        assert (refused.reason, refused.status, refused.known_size) == (
            Refusal.OLD_SIZE_CONFLICT,
            409,
            5,
        )
    refused = _refused(_decide(AddCheckpointRequest(10, (), log.note(9)), held))
    assert (refused.reason, refused.status) == (Refusal.OLD_SIZE_ABOVE_CHECKPOINT, 400)


def test_the_caller_must_give_keys_and_state_of_the_requests_origin() -> None:
    request = Log(3).request(0, 3)
    with pytest.raises(InvalidInput):
        _decide(request, None, log_key=NoteVerifier("other.example/log", bytes(LOG_KEY.verify_key)))
    with pytest.raises(InvalidInput):
        _decide(request, None, log_key=CosignatureVerifier(ORIGIN, bytes(LOG_KEY.verify_key)))
    with pytest.raises(InvalidInput):
        _decide(request, Checkpoint("other.example/log", 0, EMPTY_ROOT))


# --- the request body -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        "",  # no old line
        "old",
        "old ",
        "old 01",
        "old -1",
        "old +1",
        "old 1.0",
        "Old 1",
        "old  1",
        "old\t1",
        "old 1 ",
        "new 1",
        f"old {2**64}",
        "old 1\nnot base64!",
        "old 1\n" + base64.b64encode(bytes(31)).decode(),  # 31 bytes
        "old 1\n" + base64.b64encode(bytes(33)).decode(),
        "old 1\nKgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",  # non-canonical padding bits
        "old 1\nKgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # no padding
        "old 1\r",
    ],
)
def test_a_malformed_head_is_refused(head: str) -> None:
    with pytest.raises(AddCheckpointMalformed):
        AddCheckpointRequest.parse(f"{head}\n\n{Log(3).note(3)}")


@pytest.mark.parametrize(
    "body",
    [
        b"old 0\n",  # no empty line
        b"old 0\n" + Log(3).note(3).encode(),
        b"old 0\n\n",  # no note
        b"old 0\n\n\nx\n\n",  # the note's first line is empty
        b"old 0\n\n\xff\n",  # not UTF-8
        b"old 0\n\n" + b"x" * MAX_REQUEST_BYTES,
    ],
)
def test_a_malformed_body_is_refused(body: bytes) -> None:
    with pytest.raises(AddCheckpointMalformed):
        AddCheckpointRequest.parse(body)


def test_a_request_is_checked_when_built() -> None:
    note = Log(3).note(3)
    for old in (-1, 2**64, True):
        with pytest.raises(AddCheckpointMalformed):
            AddCheckpointRequest(old, (), note)
    with pytest.raises(AddCheckpointMalformed):
        AddCheckpointRequest(0, (bytes(31),), note)
    with pytest.raises(AddCheckpointMalformed):
        AddCheckpointRequest(0, (bytes(32),) * 64, note)
    with pytest.raises(AddCheckpointMalformed):
        AddCheckpointRequest(0, [bytes(32)], note)  # type: ignore[arg-type]


def test_a_request_round_trips() -> None:
    log = Log(100)
    for old, new in [(0, 0), (0, 5), (5, 5), (5, 100), (64, 100), (2**64 - 1, 100)]:
        request = AddCheckpointRequest(
            old, tuple(consistency_proof(5, 100, log.tree)) if old == 5 < new else (), log.note(new)
        )
        body = request.body()
        assert body.startswith(f"old {old}\n")
        assert AddCheckpointRequest.parse(body) == request
        assert AddCheckpointRequest.parse(body.encode()) == request


def test_the_conflict_body() -> None:
    assert TLOG_SIZE_CONTENT_TYPE == "text/x.tlog.size"
    assert size_body(20852163) == "20852163\n"
    assert parse_size_body(b"0\n") == 0
    assert parse_size_body(size_body(2**64 - 1)) == 2**64 - 1
    for bad in ("", "\n", "5", "05\n", "-5\n", "5\n\n", " 5\n", f"{2**64}\n", "5\r\n"):
        with pytest.raises(TreeSizeBodyMalformed):
            parse_size_body(bad)
    with pytest.raises(TreeSizeBodyMalformed):
        size_body(-1)
