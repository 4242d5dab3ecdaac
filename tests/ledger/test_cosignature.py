"""Witness cosignatures (c2sp.org/tlog-cosignature cosignature/v1) and quorums of them."""

from __future__ import annotations

import base64
import hashlib

import pytest
from nacl.signing import SigningKey, VerifyKey

from keys.errors import InvalidInput
from ledger.checkpoint import (
    Checkpoint,
    CheckpointMalformed,
    CheckpointOriginMismatch,
    KeyNameInvalid,
    NoteSignature,
    NoteSignatureInvalid,
    NoteVerifier,
    UnverifiedNote,
    VerifierKeyInvalid,
    open_note,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    signature_line,
    verify_checkpoint,
)
from ledger.cosignature import (
    COSIGNATURE_V1_TYPE,
    MAX_TIMESTAMP,
    CosignatureMalformed,
    CosignatureTimeInvalid,
    CosignatureVerifier,
    QuorumInvalid,
    QuorumNotMet,
    cosign,
    cosignature_time,
    cosigner_key,
    parse_cosigner_key,
    signed_message,
    verify_witnessed,
    witnessed_by,
)
from ledger.merkle import leaf_hash

# c2sp.org/tlog-cosignature, the example checkpoint, its cosignature line, and the signed
# message the spec shows for it ("cosignature/v1\ntime 1679315147\n" + the body).
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_COSIGNATURE = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
    "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
SPEC_MESSAGE = b"cosignature/v1\ntime 1679315147\n" + SPEC_BODY.encode()

# github.com/transparency-dev/formats, note/note_cosigv1_test.go: a witness's native
# cosignature/v1 (0x04) verifier key, an Ed25519 (0x01) one, one of type 0x03, and a
# cosignature whose timestamp is 1727964367 (TestCoSigV1Timestamp "works"), beside a
# signature of another type ("wrong type of signature").
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
TEST_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
TYPE3_VKEY = "rekor.sigstore.dev+12345678+AwEB"
TD_COSIGNATURE = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gx"
    "EHWWOworDcFiEBYJXORmnFBOBA=="
)
TD_OTHER_TYPE = (
    "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY="
)

ORIGIN = "eseal.example.gov.cn/500000/ledger"
TIME = 1_790_000_000


def _key(label: str) -> SigningKey:
    return SigningKey(hashlib.sha256(label.encode()).digest())


def _witness(i: int) -> tuple[str, SigningKey, CosignatureVerifier]:
    name = f"witness{i}.example/w"
    key = _key(f"witness {i}")
    return name, key, CosignatureVerifier(name, bytes(key.verify_key))


def _signature(line_base64: str, name: str = "w") -> NoteSignature:
    raw = base64.b64decode(line_base64)
    return NoteSignature(name, raw[:4], raw[4:])


@pytest.fixture
def log_key() -> SigningKey:
    return _key("log")


@pytest.fixture
def log_verifier(log_key: SigningKey) -> NoteVerifier:
    return NoteVerifier(ORIGIN, bytes(log_key.verify_key))


@pytest.fixture
def checkpoint() -> Checkpoint:
    return Checkpoint(ORIGIN, 1234, leaf_hash(b"root"), ("ext one",))


@pytest.fixture
def signed(log_key: SigningKey, checkpoint: Checkpoint) -> str:
    return sign_checkpoint(checkpoint, log_key)


# --- spec and reference vectors -----------------------------------------------------------


def test_the_signed_message_is_the_specs() -> None:
    assert signed_message(SPEC_BODY, 1679315147) == SPEC_MESSAGE


def test_the_spec_examples_cosignature_carries_the_time_of_its_message() -> None:
    sig = _signature(SPEC_COSIGNATURE, "witness.example.com/w1")
    assert len(sig.signature) == 8 + 64
    assert cosignature_time(sig) == 1679315147


def test_transparency_dev_cosignature_timestamp() -> None:
    assert cosignature_time(_signature(TD_COSIGNATURE)) == 1727964367
    with pytest.raises(CosignatureMalformed):
        cosignature_time(_signature(TD_OTHER_TYPE))


def test_a_native_witness_verifier_key_parses_and_round_trips() -> None:
    witness = parse_cosigner_key(REMORA_VKEY)
    assert witness.name == "remora.n621.de"
    assert witness.key_hash.hex() == "da77ade7"  # SHA-256(name || 0x0A || 0x04 || key)[:4]
    assert str(witness) == REMORA_VKEY
    assert cosigner_key(witness.name, witness.public_key) == REMORA_VKEY
    with pytest.raises(VerifierKeyInvalid, match="0x04 is not Ed25519"):
        parse_verifier_key(REMORA_VKEY)  # a log key must be of type 0x01


def test_other_key_types_are_not_witness_keys() -> None:
    assert str(parse_verifier_key(TEST_VKEY)) == TEST_VKEY
    with pytest.raises(VerifierKeyInvalid, match="0x01 is not cosignature/v1 \\(0x04\\)"):
        parse_cosigner_key(TEST_VKEY)
    with pytest.raises(VerifierKeyInvalid):
        parse_cosigner_key(TYPE3_VKEY)  # "invalid algo": type 0x03, and no 32-byte key
    with pytest.raises(VerifierKeyInvalid, match="does not match"):
        parse_cosigner_key(REMORA_VKEY.replace("da77ade7", "00000000"))


# --- cosign ---------------------------------------------------------------------------------


def test_a_cosignature_line_is_built_as_the_spec_says(checkpoint: Checkpoint) -> None:
    name, key, _ = _witness(1)
    line = cosign(checkpoint.body(), name, key, TIME)
    prefix = f"\u2014 {name} "
    assert line.startswith(prefix)
    assert line.endswith("\n")
    raw = base64.b64decode(line[len(prefix) : -1], validate=True)
    public = bytes(key.verify_key)
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    assert raw[4:12] == TIME.to_bytes(8, "big")
    message = f"cosignature/v1\ntime {TIME}\n{checkpoint.body()}".encode()
    VerifyKey(public).verify(message, raw[12:])  # raises if not
    assert len(raw) == 4 + 8 + 64


def test_a_cosignature_verifies_with_open_note_beside_the_log_signature(
    signed: str, log_verifier: NoteVerifier
) -> None:
    name, key, witness = _witness(1)
    body = signed.split("\n\n", 1)[0] + "\n"
    note = signed + cosign(body, name, key, TIME)
    opened = open_note(note, [log_verifier, witness])
    assert [s.name for s in opened.signatures] == [ORIGIN, name]
    assert cosignature_time(opened.signatures[1]) == TIME
    # and a log verifier alone ignores it, as a line by a key it does not know
    assert verify_checkpoint(note, log_verifier).size == 1234
    assert [s.name for s in open_note(note, [log_verifier]).unverified] == [name]


def test_the_same_ed25519_key_as_witness_and_log_stays_apart(
    log_key: SigningKey, signed: str, log_verifier: NoteVerifier
) -> None:
    """Type 0x04 gives the witness key another key hash: a witness line signed with the log's
    own key, under the log's name, is no log signature, nor the reverse."""
    body = signed.split("\n\n", 1)[0]
    line = cosign(body + "\n", ORIGIN, log_key, TIME)
    same = CosignatureVerifier(ORIGIN, bytes(log_key.verify_key))
    assert same.key_hash != log_verifier.key_hash
    with pytest.raises(UnverifiedNote):
        verify_checkpoint(body + "\n\n" + line, log_verifier)
    with pytest.raises(UnverifiedNote):
        open_note(signed, [same])
    assert [s.key_hash for s in open_note(signed + line, [same]).signatures] == [same.key_hash]


def test_the_cosignature_covers_extension_lines_and_the_time(
    log_key: SigningKey, checkpoint: Checkpoint, log_verifier: NoteVerifier
) -> None:
    name, key, witness = _witness(1)
    line = cosign(checkpoint.body(), name, key, TIME)
    altered = Checkpoint(ORIGIN, 1234, checkpoint.root_hash, ("ext two",))
    with pytest.raises(NoteSignatureInvalid):
        open_note(sign_checkpoint(altered, log_key) + line, [log_verifier, witness])
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[11] ^= 1  # another time
    forged = signature_line(name, bytes(raw[:4]), bytes(raw[4:]))
    with pytest.raises(NoteSignatureInvalid):
        open_note(sign_checkpoint(checkpoint, log_key) + forged, [log_verifier, witness])


def test_a_time_past_2_63_never_verifies(
    log_key: SigningKey, checkpoint: Checkpoint, log_verifier: NoteVerifier
) -> None:
    name, key, witness = _witness(1)
    late = MAX_TIMESTAMP + 1
    body = checkpoint.body()
    signature = key.sign(f"cosignature/v1\ntime {late}\n{body}".encode()).signature
    line = signature_line(name, witness.key_hash, late.to_bytes(8, "big") + signature)
    with pytest.raises(NoteSignatureInvalid):
        open_note(sign_checkpoint(checkpoint, log_key) + line, [log_verifier, witness])
    assert cosign(body, name, key, MAX_TIMESTAMP)  # the last time allowed


@pytest.mark.parametrize("time", [-1, MAX_TIMESTAMP + 1, True, 1.0, "1"])
def test_cosign_refuses_a_bad_time(time: object, checkpoint: Checkpoint) -> None:
    name, key, _ = _witness(1)
    with pytest.raises(CosignatureTimeInvalid):
        cosign(checkpoint.body(), name, key, time)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [
        "just text\n",
        SPEC_BODY[:-1],  # no final newline
        SPEC_BODY.replace("20852163", "020852163"),
        SPEC_BODY + "\n",  # an empty extension line
    ],
)
def test_cosign_refuses_what_is_no_checkpoint(body: str) -> None:
    name, key, _ = _witness(1)
    with pytest.raises(CheckpointMalformed):
        cosign(body, name, key, TIME)


def test_a_verifier_refuses_a_cosignature_on_a_non_checkpoint(log_key: SigningKey) -> None:
    name, key, witness = _witness(1)
    text = "not a checkpoint\n"
    signature = key.sign(f"cosignature/v1\ntime {TIME}\n{text}".encode()).signature
    line = signature_line(name, witness.key_hash, TIME.to_bytes(8, "big") + signature)
    with pytest.raises(NoteSignatureInvalid):
        open_note(text + "\n" + line, [witness])


@pytest.mark.parametrize("name", ["", "with space", "with+plus"])
def test_cosign_refuses_a_bad_name(name: str, checkpoint: Checkpoint) -> None:
    with pytest.raises(KeyNameInvalid):
        cosign(checkpoint.body(), name, _key("w"), TIME)


def test_the_cosignature_type_byte() -> None:
    assert COSIGNATURE_V1_TYPE == 0x04
    assert CosignatureVerifier.signature_type == 0x04
    assert NoteVerifier.signature_type == 0x01


# --- quorum ---------------------------------------------------------------------------------


def _cosigned(signed: str, *signers: tuple[str, SigningKey], time: int = TIME) -> str:
    body = signed.split("\n\n", 1)[0] + "\n"
    return signed + "".join(cosign(body, name, key, time) for name, key in signers)


def test_a_quorum_of_distinct_witnesses_is_met(signed: str, log_verifier: NoteVerifier) -> None:
    (n1, k1, w1), (n2, k2, w2), (_, _, w3) = _witness(1), _witness(2), _witness(3)
    note = _cosigned(signed, (n1, k1), (n2, k2))
    witnessed = verify_witnessed(note, log_verifier, [w1, w2, w3], 2)
    assert witnessed.checkpoint.size == 1234
    assert [(c.name, c.time) for c in witnessed.cosignatures] == [(n1, TIME), (n2, TIME)]
    with pytest.raises(QuorumNotMet, match="2 of the 3"):
        verify_witnessed(note, log_verifier, [w1, w2, w3], 3)
    # Without a quorum: the same note opened, with whoever cosigned it (none, or too few).
    assert witnessed_by(note, log_verifier, [w1, w2, w3, w1]) == witnessed
    assert witnessed_by(signed, log_verifier, [w1]).cosignatures == ()
    assert witnessed_by(signed, log_verifier, [w1]).checkpoint == witnessed.checkpoint


def test_one_witness_cosigning_twice_counts_once(signed: str, log_verifier: NoteVerifier) -> None:
    (n1, k1, w1), (_, _, w2) = _witness(1), _witness(2)
    note = _cosigned(_cosigned(signed, (n1, k1)), (n1, k1), time=TIME + 60)
    assert note.count(n1) == 2
    witnessed = verify_witnessed(note, log_verifier, [w1, w2], 1)
    assert [(c.name, c.time) for c in witnessed.cosignatures] == [(n1, TIME)]
    with pytest.raises(QuorumNotMet, match="1 of the 2"):
        verify_witnessed(note, log_verifier, [w1, w2], 2)


def test_one_key_under_two_names_is_refused(signed: str, log_verifier: NoteVerifier) -> None:
    """A cosignature/v1 signature does not cover the witness's name: the one key's line,
    named twice, would verify under both names and meet a quorum of two alone."""
    (n1, k1, w1), (_, _, w2) = _witness(1), _witness(2)
    alias = CosignatureVerifier("alias.example/w", bytes(k1.verify_key))
    note = _cosigned(signed, (n1, k1), ("alias.example/w", k1))
    with pytest.raises(InvalidInput, match="are one key"):
        verify_witnessed(note, log_verifier, [w1, alias, w2], 2)
    with pytest.raises(InvalidInput, match="are one key"):
        witnessed_by(note, log_verifier, [w1, alias])


def test_two_keys_of_one_name_and_key_hash_are_refused(
    signed: str, log_verifier: NoteVerifier
) -> None:
    """Two keys under one name whose 4-byte key hashes collide (found by a birthday search
    over these seeds; a witness can grind one against another's in minutes): a line names
    its key by name and hash alone, so neither key's line can be told from the other's.
    Refused, not one of them silently kept (which credited the other's name with its line,
    or refused a good line as a bad one)."""
    name = "eseal/330000/witness"
    keys = [
        SigningKey(hashlib.sha256(b"eseal witness policy collision %d" % i).digest())
        for i in (35838, 97104)
    ]
    one, other = (CosignatureVerifier(name, bytes(k.verify_key)) for k in keys)
    assert one.key_hash == other.key_hash
    assert one.public_key != other.public_key
    note = _cosigned(signed, (name, keys[0]))
    for witnesses in ([one, other], [other, one]):
        with pytest.raises(InvalidInput, match="share the key hash"):
            witnessed_by(note, log_verifier, witnesses)
        with pytest.raises(InvalidInput, match="share the key hash"):
            verify_witnessed(note, log_verifier, witnesses, 1)
    assert len(witnessed_by(note, log_verifier, [one, one]).cosignatures) == 1


def test_unknown_witnesses_are_ignored(signed: str, log_verifier: NoteVerifier) -> None:
    (n1, k1, w1), (n2, k2, _), (_, _, w3) = _witness(1), _witness(2), _witness(3)
    note = _cosigned(signed, (n1, k1), (n2, k2))  # witness 2 is not one this verifier knows
    assert len(verify_witnessed(note, log_verifier, [w1, w3], 1).cosignatures) == 1
    with pytest.raises(QuorumNotMet):
        verify_witnessed(note, log_verifier, [w1, w3], 2)
    # a known witness's name with another key is an unknown key too
    impostor = CosignatureVerifier(n2, bytes(_key("impostor").verify_key))
    with pytest.raises(QuorumNotMet):
        verify_witnessed(note, log_verifier, [w1, impostor], 2)


def test_a_bad_cosignature_from_a_known_witness_rejects_the_note(
    signed: str, log_verifier: NoteVerifier
) -> None:
    """c2sp.org/signed-note: a known key's signature that fails SHOULD reject the whole note;
    so it does, even when the other witnesses meet the quorum."""
    (n1, k1, w1), (n2, k2, w2), (n3, _, w3) = _witness(1), _witness(2), _witness(3)
    other = Checkpoint(ORIGIN, 1235, leaf_hash(b"other")).body()
    bad = cosign(other, n3, _witness(3)[1], TIME)  # witness 3's line, on another checkpoint
    note = _cosigned(signed, (n1, k1), (n2, k2)) + bad
    with pytest.raises(NoteSignatureInvalid):
        verify_witnessed(note, log_verifier, [w1, w2, w3], 2)
    with pytest.raises(NoteSignatureInvalid):
        witnessed_by(note, log_verifier, [w3])  # no quorum asked: still a false line
    assert verify_witnessed(note, log_verifier, [w1, w2], 2)  # w3 unknown: ignored


def test_witnesses_alone_are_not_enough(
    log_key: SigningKey, checkpoint: Checkpoint, log_verifier: NoteVerifier
) -> None:
    (n1, k1, w1), (n2, k2, w2) = _witness(1), _witness(2)
    body = checkpoint.body()
    note = body + "\n" + cosign(body, n1, k1, TIME) + cosign(body, n2, k2, TIME)
    with pytest.raises(UnverifiedNote, match="log key"):
        verify_witnessed(note, log_verifier, [w1, w2], 1)
    with pytest.raises(UnverifiedNote, match="log key"):
        witnessed_by(note, log_verifier, [w1, w2])


def test_the_origin_must_be_the_log_keys_name(log_key: SigningKey) -> None:
    n1, k1, w1 = _witness(1)
    other_log = NoteVerifier("other.example/log", bytes(log_key.verify_key))
    body = Checkpoint(ORIGIN, 1, leaf_hash(b"x")).body()
    note = sign_note(body, "other.example/log", log_key) + cosign(body, n1, k1, TIME)
    with pytest.raises(CheckpointOriginMismatch):
        verify_witnessed(note, other_log, [w1], 1)


def test_a_quorum_must_be_between_one_and_the_distinct_witnesses(
    signed: str, log_verifier: NoteVerifier
) -> None:
    (n1, k1, w1), (_, _, w2) = _witness(1), _witness(2)
    note = _cosigned(signed, (n1, k1))
    for quorum in (0, 3, -1, True):
        with pytest.raises(QuorumInvalid):
            verify_witnessed(note, log_verifier, [w1, w2], quorum)
    with pytest.raises(QuorumInvalid):  # one witness listed twice is one witness
        verify_witnessed(note, log_verifier, [w1, w1], 2)


def test_keys_of_the_wrong_kind_are_refused(signed: str, log_verifier: NoteVerifier) -> None:
    n1, k1, w1 = _witness(1)
    note = _cosigned(signed, (n1, k1))
    with pytest.raises(InvalidInput, match="not a cosignature/v1 key"):
        verify_witnessed(note, log_verifier, [NoteVerifier(n1, w1.public_key)], 1)  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="log key"):
        verify_witnessed(note, w1, [w1], 1)
