"""A verifier's witness policy (verifier.witnessing): its keys and quorum parsed strictly, and
how a checkpoint note was witnessed under it."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from nacl.signing import SigningKey

from keys.errors import InvalidInput
from ledger.checkpoint import (
    Checkpoint,
    NoteSignatureInvalid,
    NoteVerifier,
    UnverifiedNote,
    sign_checkpoint,
)
from ledger.cosignature import QuorumInvalid, cosign, cosigner_key
from verifier.witnessing import MAX_WITNESSES, Witnessing, WitnessKeyInvalid, WitnessPolicy

ORIGIN = "eseal/500000"
TIME = 1_790_000_000


def _key(label: str) -> SigningKey:
    return SigningKey(hashlib.sha256(label.encode()).digest())


LOG_KEY = _key("log")
LOG = NoteVerifier(ORIGIN, bytes(LOG_KEY.verify_key))


def _witness(i: int) -> tuple[str, SigningKey, str]:
    name = f"eseal/{i}/witness"
    key = _key(f"witness {i}")
    return name, key, cosigner_key(name, bytes(key.verify_key))


W1, W2, W3 = _witness(1), _witness(2), _witness(3)


def _note(size: int, *cosigners: tuple[str, SigningKey, str]) -> str:
    checkpoint = Checkpoint(ORIGIN, size, hashlib.sha256(str(size).encode()).digest())
    note = sign_checkpoint(checkpoint, LOG_KEY)
    body = checkpoint.body()
    return note + "".join(cosign(body, name, key, TIME) for name, key, _ in cosigners)


def test_the_quorum_defaults_to_all_the_keys_given() -> None:
    policy = WitnessPolicy.parse([W1[2], W2[2]])
    assert policy.quorum == 2
    assert [w.name for w in policy.witnesses] == [W1[0], W2[0]]
    assert WitnessPolicy.parse([W1[2], W2[2]], 1).quorum == 1


@pytest.mark.parametrize(
    ("keys", "quorum", "error", "said"),
    [
        ([], None, WitnessKeyInvalid, "0 witness keys given: 1 to 32"),
        ([W1[2]], 0, QuorumInvalid, "quorum 0 is not from 1 to the 1 witness keys"),
        ([W1[2], W2[2]], 3, QuorumInvalid, "quorum 3 is not from 1 to the 2 witness keys"),
        ([W1[2]], True, QuorumInvalid, "quorum True"),
        ([W1[2], W1[2]], None, WitnessKeyInvalid, "is given twice"),
        # one key under two names: a cosignature does not sign its name, so the one
        # key's line would verify under each and count twice toward the quorum
        (
            [W1[2], cosigner_key("eseal/9/witness", bytes(W1[1].verify_key))],
            None,
            WitnessKeyInvalid,
            "'eseal/1/witness' and 'eseal/9/witness' are one key",
        ),
        # one witness (its name) under two keys, its old and new, say: both its lines
        # would verify, and one witness would meet a quorum of two
        (
            [W1[2], cosigner_key(W1[0], bytes(_key("witness 1, rotated").verify_key)), W2[2]],
            2,
            WitnessKeyInvalid,
            "witness 'eseal/1/witness' is given with two keys",
        ),
        (["nonsense"], None, WitnessKeyInvalid, "not <name>+<hash>+<key>"),
        # the log's own key (type 0x01) is no witness key
        ([str(LOG)], None, WitnessKeyInvalid, "type 0x01 is not cosignature/v1"),
        # another name under the key hash of the first
        ([W1[2].replace(W1[0], "eseal/9/witness")], None, WitnessKeyInvalid, "does not match"),
        ([W1[2] + " "], None, WitnessKeyInvalid, "not base64"),
        ([W1[2]] * (MAX_WITNESSES + 1), None, WitnessKeyInvalid, "at most 32"),
    ],
)
def test_bad_keys_and_quorums_are_refused(
    keys: list[str], quorum: int | None, error: type[InvalidInput], said: str
) -> None:
    with pytest.raises(error, match=said.replace("+", r"\+").replace("(", r"\(")):
        WitnessPolicy.parse(keys, quorum)


def test_a_key_too_long_is_refused_and_not_echoed_whole() -> None:
    with pytest.raises(WitnessKeyInvalid) as refused:
        WitnessPolicy.parse(["x" * 10_000])
    assert len(refused.value.message) < 400


def test_a_checkpoint_is_witnessed_by_the_keys_that_cosigned_that_very_one() -> None:
    policy = WitnessPolicy.parse([W1[2], W2[2], W3[2]], 2)
    # Named in the policy's order, whatever the order of the lines; an unknown witness's
    # line is ignored.
    stranger = _witness(9)
    seen = policy.check(_note(12, W3, stranger, W1), LOG)
    assert seen == Witnessing(12, (W1[0], W3[0]), 3, 2)
    assert seen.met
    assert seen.describe() == (
        "checkpoint of size 12 cosigned by 2 of 3 witnesses (eseal/1/witness, "
        "eseal/3/witness), 2 required"
    )
    one = policy.check(_note(12, W2), LOG)
    assert (one.cosigners, one.met) == ((W2[0],), False)
    none = policy.check(_note(12), LOG)
    assert (none.cosigners, none.met) == ((), False)
    assert none.describe() == "checkpoint of size 12 cosigned by 0 of 3 witnesses, 2 required"


def test_an_older_witnessed_checkpoint_does_only_for_the_entries_below_it() -> None:
    """Cosigned by the quorum and extended by the answer's checkpoint, it is met; with an
    entry the answer relies on beyond it, it is not, whatever the cosigners."""
    seen = WitnessPolicy.parse([W1[2], W2[2]], 2).check(_note(12, W1, W2), LOG)
    extended = replace(seen, extended_to=20)
    assert extended.met
    assert extended.describe().endswith(
        "2 required, extended by the answer's checkpoint of size 20"
    )
    beyond = replace(extended, unwitnessed="its issuance entry 15 was recorded after it")
    assert not beyond.met
    assert beyond.describe().endswith("size 20; but its issuance entry 15 was recorded after it")


def test_a_cosignature_on_another_checkpoint_rejects_the_note() -> None:
    """A line by a known witness that does not verify on this checkpoint (its cosignature
    of an older one, moved onto a newer) is no missing cosignature but a false one: the
    note is refused whole (c2sp.org/signed-note)."""
    policy = WitnessPolicy.parse([W1[2]])
    old_line = _note(11, W1).split("\n\n", 1)[1].splitlines()[-1] + "\n"
    with pytest.raises(NoteSignatureInvalid):
        policy.check(_note(12) + old_line, LOG)
    # And a note the log did not sign is refused, whoever cosigned it.
    with pytest.raises(UnverifiedNote):
        policy.check(_note(12, W1), NoteVerifier(ORIGIN, bytes(_key("other").verify_key)))
