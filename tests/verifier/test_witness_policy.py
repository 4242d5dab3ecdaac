"""Witness policy files (verifier.witness_policy): the Sigsum policy format with C2SP verifier
keys, parsed strictly, and a checkpoint held to the quorum of the file that lists its log."""

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
from ledger.cosignature import cosign, cosigner_key, parse_cosigner_key
from verifier.witness_policy import (
    MAX_GROUPS,
    MAX_LOGS,
    MAX_POLICY_BYTES,
    MAX_POLICY_LINES,
    MAX_WITNESSES,
    PolicyFile,
    PolicyLog,
    PolicyWitness,
    WitnessPolicies,
    WitnessPolicyInvalid,
    WitnessPolicyUncovered,
    parse_policy,
)
from verifier.witnessing import Group, Witnessing

TIME = 1_790_000_000


def _key(label: str) -> SigningKey:
    return SigningKey(hashlib.sha256(label.encode()).digest())


class Log:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.signer = _key(origin)
        self.key = NoteVerifier(origin, bytes(self.signer.verify_key))

    def note(self, size: int, *cosigners: Witness) -> str:
        checkpoint = Checkpoint(self.origin, size, hashlib.sha256(str(size).encode()).digest())
        body = checkpoint.body()
        lines = "".join(cosign(body, w.key_name, w.signer, TIME) for w in cosigners)
        return sign_checkpoint(checkpoint, self.signer) + lines


class Witness:
    def __init__(self, key_name: str, label: str = "") -> None:
        self.key_name = key_name
        self.signer = _key(label or key_name)
        self.vkey = cosigner_key(key_name, bytes(self.signer.verify_key))


BJ_LOG, SH_LOG, CQ_LOG = Log("eseal/110000"), Log("eseal/310000"), Log("eseal/500000")
A, B, C, D = (Witness(f"eseal/{code}/witness") for code in ("440000", "320000", "330000", "350000"))
# Witness A, having changed its key: the same key name, another key.
A2 = Witness(A.key_name, "a new key for A")


def _parse(text: str) -> PolicyFile:
    return parse_policy(text.encode())


def test_the_specs_example_with_its_nested_groups() -> None:
    """sigsum-go doc/policy.md's example, vkeys for its keys: at least two of the X
    witnesses and one of the Y witnesses."""
    x = [Witness(f"x{i}.example/w") for i in (1, 2, 3)]
    y = [Witness(f"y{i}.example/w") for i in (1, 2, 3)]
    policy = _parse(
        f"log {BJ_LOG.key}\n"
        + "".join(f"witness X{i} {w.vkey}\n" for i, w in enumerate(x, 1))
        + "group X-witnesses 2 X1 X2 X3\n\n"
        + "".join(f"witness Y{i} {w.vkey}\n" for i, w in enumerate(y, 1))
        + "group Y-witnesses any Y1 Y2 Y3\n\n"
        "group X-and-Y all X-witnesses Y-witnesses\n"
        "quorum X-and-Y\n"
    )
    assert policy.quorum.describe() == (
        "X-and-Y = all of (X-witnesses = 2 of (X1, X2, X3), Y-witnesses = any of (Y1, Y2, Y3))"
    )
    assert policy.quorum.fewest() == 3
    met = policy.check(BJ_LOG.note(9, x[0], x[2], y[1]), BJ_LOG.key)
    assert (met.cosigners, met.witnesses, met.quorum, met.met) == (("X1", "X3", "Y2"), 6, 3, True)
    assert met.describe() == (
        "checkpoint of size 9 cosigned by 3 of 6 witness keys (X1, X3, Y2), required: quorum "
        "X-and-Y = all of (X-witnesses = 2 of (X1, X2, X3), Y-witnesses = any of (Y1, Y2, Y3))"
    )
    # Three X witnesses and no Y: not met; two Y and one X: not met.
    assert not policy.check(BJ_LOG.note(9, *x), BJ_LOG.key).met
    assert not policy.check(BJ_LOG.note(9, x[1], y[0], y[2]), BJ_LOG.key).met


def test_syntax_comments_tabs_urls_and_blank_lines() -> None:
    policy = _parse(
        "# Beijing's log, as its bundle's log_verifier holds it\n"
        f"log\t{BJ_LOG.key}   https://node.bj.example  # its node\n"
        "\n   \t\n"
        f"witness  gd {A.vkey} https://node.gd.example/\n"
        f"witness js\t{B.vkey}\n"
        "group both all gd js\n"
        "quorum both # the two\n"
    )
    assert [(entry.key, entry.url) for entry in policy.logs] == [
        (BJ_LOG.key, "https://node.bj.example")
    ]
    assert [(w.name, w.key.name, w.url) for w in policy.witnesses] == [
        ("gd", A.key_name, "https://node.gd.example/"),
        ("js", B.key_name, None),
    ]
    assert policy.quorum == Group("both", 2, ("gd", "js"))


def test_a_quorum_of_one_witness_and_quorum_none() -> None:
    one = _parse(f"log {BJ_LOG.key}\nwitness gd {A.vkey}\nquorum gd\n")
    assert one.quorum.describe() == "gd"
    assert one.check(BJ_LOG.note(3, A), BJ_LOG.key).met
    assert not one.check(BJ_LOG.note(3, B), BJ_LOG.key).met
    # No cosignature required: the log's signature alone (still checked).
    none = _parse(f"log {BJ_LOG.key}\nquorum none\n")
    seen = none.check(BJ_LOG.note(3), BJ_LOG.key)
    assert (seen.met, seen.witnesses, seen.quorum) == (True, 0, 0)
    assert seen.describe() == (
        "checkpoint of size 3 cosigned by 0 of 0 witness keys, none required (quorum none)"
    )
    forged = Log(BJ_LOG.origin)
    forged.signer = _key("a key that is not Beijing's log key")
    with pytest.raises(UnverifiedNote):
        none.check(forged.note(3), BJ_LOG.key)


def test_a_rotated_witness_counts_once_under_any() -> None:
    """A's old and new keys, under one key name, are two witness lines; a group of `any` of
    them is A, whichever key cosigned: with both lines on the note, still one witness."""
    policy = _parse(
        f"log {SH_LOG.key}\n"
        f"witness gd-2024 {A.vkey}\n"
        f"witness gd-2025 {A2.vkey}\n"
        f"witness js {B.vkey}\n"
        f"witness zj {C.vkey}\n"
        "group gd any gd-2024 gd-2025\n"
        "group sh 2 gd js zj\n"
        "quorum sh\n"
    )
    assert policy.quorum.fewest() == 2
    by_old = policy.check(SH_LOG.note(5, A, B), SH_LOG.key)
    by_new = policy.check(SH_LOG.note(5, A2, B), SH_LOG.key)
    assert by_old.met
    assert by_new.met
    assert by_new.cosigners == ("gd-2025", "js")
    both_keys = policy.check(SH_LOG.note(5, A, A2), SH_LOG.key)
    assert both_keys.cosigners == ("gd-2024", "gd-2025")
    assert not both_keys.met  # one witness, A, of the two required
    assert both_keys.describe().endswith(
        "required: quorum sh = 2 of (gd = any of (gd-2024, gd-2025), js, zj)"
    )


def test_which_lines_count() -> None:
    """A key that signed twice counts once; a line by a key the policy does not count (a
    stranger's, or a listed witness the quorum leaves out) is ignored; a line by a counted
    key that does not verify on this checkpoint rejects the note."""
    policy = _parse(
        f"log {CQ_LOG.key}\n"
        f"witness gd {A.vkey}\nwitness js {B.vkey}\nwitness spare {D.vkey}\n"
        "group cq 2 gd js\nquorum cq\n"
    )
    twice = policy.check(CQ_LOG.note(7, A, A), CQ_LOG.key)
    assert (twice.cosigners, twice.met) == (("gd",), False)
    stranger = Witness("eseal/stranger/witness")
    ignored = policy.check(CQ_LOG.note(7, stranger, D, A), CQ_LOG.key)
    assert (ignored.cosigners, ignored.witnesses) == (("gd",), 2)
    # D's line, moved from another checkpoint, is ignored too: D is not counted.
    moved_d = CQ_LOG.note(6, D).split("\n\n", 1)[1].splitlines()[-1] + "\n"
    assert policy.check(CQ_LOG.note(7, A, B) + moved_d, CQ_LOG.key).met
    moved_b = CQ_LOG.note(6, B).split("\n\n", 1)[1].splitlines()[-1] + "\n"
    with pytest.raises(NoteSignatureInvalid):
        policy.check(CQ_LOG.note(7, A) + moved_b, CQ_LOG.key)


def test_a_policy_applies_only_to_the_logs_it_lists() -> None:
    bj = _parse(
        f"log {BJ_LOG.key}\nwitness gd {A.vkey}\nwitness js {B.vkey}\ngroup q any gd js\nquorum q\n"
    )
    sh = _parse(
        f"log {SH_LOG.key}\nwitness js {B.vkey}\nwitness zj {C.vkey}\nwitness fj {D.vkey}\n"
        "group q 2 js zj fj\nquorum q\n"
    )
    policies = WitnessPolicies((bj, sh))
    assert policies.for_log(BJ_LOG.key) is bj
    assert policies.for_log(SH_LOG.key) is sh
    # B alone: enough for Beijing's log (1 of A, B), not Shanghai's (2 of B, C, D).
    assert policies.for_log(BJ_LOG.key).check(BJ_LOG.note(4, B), BJ_LOG.key).met
    assert not policies.for_log(SH_LOG.key).check(SH_LOG.note(4, B), SH_LOG.key).met
    with pytest.raises(WitnessPolicyUncovered, match="names the log key eseal/500000"):
        policies.for_log(CQ_LOG.key)
    with pytest.raises(WitnessPolicyUncovered):
        bj.check(SH_LOG.note(4, B), SH_LOG.key)
    # Another key under Beijing's origin is another log.
    with pytest.raises(WitnessPolicyUncovered):
        policies.for_log(NoteVerifier(BJ_LOG.origin, bytes(_key("forged").verify_key)))
    # One log in two files: which quorum would it meet?
    again = parse_policy(f"log {BJ_LOG.key}\nquorum none\n".encode(), "b.policy")
    with pytest.raises(WitnessPolicyInvalid, match=r"and b\.policy both name the log key"):
        WitnessPolicies((bj, again))
    with pytest.raises(WitnessPolicyInvalid, match="0 witness policy files"):
        WitnessPolicies(())


_HEAD = f"log {BJ_LOG.key}\nwitness gd {A.vkey}\nwitness js {B.vkey}\n"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # the keywords and their arguments
        ("lgo x\nquorum none\n", "line 1: unknown keyword 'lgo'"),
        ("LOG x\n", "unknown keyword 'LOG'"),
        ("log\nquorum none\n", "line 1: a log line is: log <vkey> [<url>]"),
        (f"log {BJ_LOG.key} https://a.example extra\n", "a log line is"),
        ("log eseal/110000\n", "is not a signed-note Ed25519 verifier key"),
        (f"log {A.vkey}\n", "type 0x04 is not Ed25519"),  # a witness key as a log's
        (f"log {BJ_LOG.key} ftp://a.example\n", "is not an http:// or https:// URL"),
        (f"log {BJ_LOG.key} https://user@a.example\n", "has a user name, a password"),
        (f"log {BJ_LOG.key} https://a.example/?x=1\n", "has spaces, a query or a fragment"),
        (f"log {BJ_LOG.key} https://:80/\n", "names no host"),
        (f"log {BJ_LOG.key}\nlog {BJ_LOG.key}\n", "line 2: log key eseal/110000+"),
        (f"log {BJ_LOG.key}\nwitness gd\n", "a witness line is: witness <name> <vkey>"),
        (f"log {BJ_LOG.key}\nwitness gd {BJ_LOG.key}\n", "type 0x01 is not cosignature/v1"),
        (f"log {BJ_LOG.key}\nwitness gd {A.vkey[:-2]}\n", "is not a cosignature/v1"),
        (f"log {BJ_LOG.key}\nwitness none {A.vkey}\n", "none is a predefined name"),
        (_HEAD + f"witness gd {C.vkey}\n", "line 4: 'gd' is defined twice"),
        (_HEAD + "group gd any js\n", "'gd' is defined twice"),  # one namespace
        (f"log {BJ_LOG.key}\nwitness {'n' * 257} {A.vkey}\n", "a name is at most 256 bytes"),
        # the same key twice: under another name, or another key name
        (_HEAD + f"witness gd2 {A.vkey}\n", "'gd2' has the key of witness 'gd'"),
        (
            _HEAD + f"witness other {cosigner_key('x/w', bytes(A.signer.verify_key))}\n",
            "'other' has the key of witness 'gd'",
        ),
        # groups
        (_HEAD + "group g any\n", "a group line is: group <name> <all|any|k> <member>"),
        (_HEAD + "group g 0 gd js\n", "threshold '0' is not all, any or a number from 1 to"),
        (_HEAD + "group g 3 gd js\n", "threshold '3' is not"),
        (_HEAD + "group g 01 gd js\n", "threshold '01'"),
        (_HEAD + "group g +1 gd js\n", "threshold '+1'"),
        (_HEAD + "group g most gd js\n", "threshold 'most'"),
        (_HEAD + "group g any gd zj\n", "names 'zj', which no line before defines"),
        (_HEAD + "group g any gd g\n", "names 'g', which no line before defines"),  # itself
        (_HEAD + "group g any gd none\n", "none is no member, only a quorum"),
        (_HEAD + "group g 2 gd gd\n", "names 'gd', a member already"),
        (_HEAD + "group g any gd\ngroup h any gd js\n", "line 5: group 'h' names 'gd', a member"),
        (_HEAD + "group g any gd\ngroup h all g g\n", "names 'g', a member already"),
        # groups defined before use: no cycle can be written
        (_HEAD + "group g any gd h\ngroup h any js g\n", "line 4: group 'g' names 'h', which"),
        # the quorum
        (_HEAD, "the policy has no quorum line"),
        (_HEAD + "quorum\n", "a quorum line is: quorum <name|none>"),
        (_HEAD + "quorum gd js\n", "a quorum line is"),
        (_HEAD + "quorum g\ngroup g any gd js\n", "line 4: quorum 'g' is no witness or group"),
        (_HEAD + "quorum gd\nquorum js\n", "line 5: a second quorum line"),
        (f"witness gd {A.vkey}\nquorum gd\n", "the policy has no log line"),
        # characters
        (_HEAD.replace("\n", "\r\n") + "quorum gd\r\n", "line 1: holds a carriage return"),
        (_HEAD + "quorum\x0bgd\n", "control character U+000B"),
        (_HEAD + "quorum gd # \x00\n", "control character U+0000"),
        (_HEAD + "quorum\u3000gd\n", "holds the space U+3000"),
        ("\ufeff" + _HEAD + "quorum gd\n", "line 1: holds the invisible character U+FEFF"),
        (_HEAD + "quorum g\u200bd\n", "invisible character U+200B"),
    ],
)
def test_a_malformed_policy_is_refused_naming_its_line(text: str, said: str) -> None:
    with pytest.raises(WitnessPolicyInvalid) as refused:
        _parse(text)
    assert said in refused.value.message


def _collided(name: str, label: bytes, seed: int) -> Witness:
    """A witness of one of the keys a birthday search found whose key hashes collide."""
    witness = Witness(name)
    witness.signer = SigningKey(hashlib.sha256(b"%s %d" % (label, seed)).digest())
    witness.vkey = cosigner_key(name, bytes(witness.signer.verify_key))
    return witness


def test_two_keys_whose_name_and_key_hash_collide_are_refused() -> None:
    """A signature line names its key by key name and 4-byte key hash alone. A witness that
    grinds a key with another's name and hash (minutes of work) would have the other's line
    counted for itself too: one cosignature meeting a quorum of two. Refused, naming the
    line; so is a witness key that collides with the log key (every note refused after)."""
    honest, grinder = (
        _collided("eseal/330000/witness", b"eseal witness policy collision", seed)
        for seed in (35838, 97104)
    )
    assert honest.vkey.split("+")[:2] == grinder.vkey.split("+")[:2]
    assert honest.vkey != grinder.vkey
    for first, second in ((honest, grinder), (grinder, honest)):
        with pytest.raises(WitnessPolicyInvalid) as refused:
            _parse(
                f"log {BJ_LOG.key}\nwitness zj {first.vkey}\nwitness evil {second.vkey}\n"
                "group q 2 zj evil\nquorum q\n"
            )
        assert refused.value.message.startswith(
            "line 3: witness 'evil' has the key name 'eseal/330000/witness' and key hash "
            f"{honest.vkey.split('+')[1]} of witness 'zj', another key"
        )
    # Held together without the parser, the two are refused when a note is checked.
    direct = PolicyFile(
        (PolicyLog(BJ_LOG.key),),
        tuple(
            PolicyWitness(name, parse_cosigner_key(w.vkey))
            for name, w in (("zj", honest), ("evil", grinder))
        ),
        Group("q", 2, ("zj", "evil")),
    )
    with pytest.raises(InvalidInput, match="share the key hash"):
        direct.check(BJ_LOG.note(3, honest), BJ_LOG.key)
    # A witness key colliding with the log key (another type, so only by such a search).
    log = Log("eseal/110000")
    log.signer = SigningKey(hashlib.sha256(b"eseal log witness collision 48995").digest())
    log.key = NoteVerifier(log.origin, bytes(log.signer.verify_key))
    witness = _collided(log.origin, b"eseal log witness collision", 5153)
    assert str(log.key).split("+")[:2] == witness.vkey.split("+")[:2]
    with pytest.raises(WitnessPolicyInvalid, match="line 2: witness 'w' has the key name"):
        _parse(f"log {log.key}\nwitness w {witness.vkey}\nquorum w\n")
    with pytest.raises(WitnessPolicyInvalid, match="line 2: the log key has the key name"):
        _parse(f"witness w {witness.vkey}\nlog {log.key}\nquorum w\n")


def test_unicode_names_and_comments_are_taken() -> None:
    policy = _parse(
        f"log {BJ_LOG.key}  # 北京市的账本\nwitness 广东 {A.vkey}\nwitness 江苏 {B.vkey}\n"
        "group 两省 all 广东 江苏\nquorum 两省\n"
    )
    assert policy.check(BJ_LOG.note(2, A, B), BJ_LOG.key).cosigners == ("广东", "江苏")


def test_bounds() -> None:
    with pytest.raises(WitnessPolicyInvalid, match="larger than 64 KiB"):
        parse_policy(b"#" * (MAX_POLICY_BYTES + 1))
    with pytest.raises(WitnessPolicyInvalid, match=f"more than {MAX_POLICY_LINES} lines"):
        parse_policy(b"\n" * (MAX_POLICY_LINES + 1))
    with pytest.raises(WitnessPolicyInvalid, match="not UTF-8"):
        parse_policy(_HEAD.encode() + b"quorum \xff\n")
    logs = "".join(f"log {Log(f'eseal/log{i}').key}\n" for i in range(MAX_LOGS + 1))
    with pytest.raises(WitnessPolicyInvalid, match=f"line {MAX_LOGS + 1}: more than 64 logs"):
        _parse(logs)
    witnesses = "".join(
        f"witness w{i} {Witness(f'w{i}/witness').vkey}\n" for i in range(MAX_WITNESSES + 1)
    )
    with pytest.raises(WitnessPolicyInvalid, match="more than 64 witnesses"):
        _parse(f"log {BJ_LOG.key}\n" + witnesses)
    groups = "group g0 any gd\n" + "".join(
        f"group g{i} any g{i - 1}\n" for i in range(1, MAX_GROUPS + 1)
    )
    with pytest.raises(WitnessPolicyInvalid, match="more than 64 groups"):
        _parse(_HEAD + groups)
    # At the bounds: 64 nested groups, each of the one before; met by gd alone.
    deep = _parse(_HEAD + groups.rsplit("group", 1)[0] + f"quorum g{MAX_GROUPS - 1}\n")
    assert deep.check(BJ_LOG.note(1, A), BJ_LOG.key).met
    assert not deep.check(BJ_LOG.note(1, B), BJ_LOG.key).met


def test_a_refusal_does_not_echo_a_long_key_whole() -> None:
    with pytest.raises(WitnessPolicyInvalid) as refused:
        _parse(f"log {'x' * 20_000}\n")
    assert len(refused.value.message) < 400


def test_the_witnessing_under_a_rule_is_met_by_the_rule() -> None:
    rule = Group("q", 2, (Group("a", 1, ("a1", "a2")), "b", "c"))
    assert Witnessing(4, ("a1", "a2"), 4, 2, rule=rule).met is False
    assert Witnessing(4, ("a2", "c"), 4, 2, rule=rule).met is True
    assert Witnessing(4, ("a2", "c"), 4, 2, rule=rule, unwitnessed="x").met is False


def test_every_byte_changed_is_refused_cleanly_or_changes_no_key() -> None:
    """Mangling: each byte of a good policy replaced (by a space, a '#', a newline, a NUL,
    0xff, or the next byte value), or the policy cut short: refused as a policy (no other
    error), or read with the same keys and quorum (a changed URL, say), never another."""
    good = (
        f"log {BJ_LOG.key} https://node.bj.example # log\n"
        f"witness gd {A.vkey}\nwitness js {B.vkey}\ngroup g 2 gd js\nquorum g\n"
    ).encode()
    policy = _parse(good.decode())

    def same_or_refused(data: bytes) -> bool:
        try:
            read = parse_policy(data)
        except WitnessPolicyInvalid:
            return False
        assert [entry.key for entry in read.logs] == [entry.key for entry in policy.logs]
        assert [w.key for w in read.witnesses] == [w.key for w in policy.witnesses]
        assert read.quorum == policy.quorum
        return True

    read = [
        same_or_refused(good[:at] + new + good[at + 1 :])
        for at in range(len(good))
        for new in (b" ", b"#", b"\n", b"\x00", b"\xff", bytes([(good[at] + 1) % 256]))
    ]
    assert 0 < sum(read) < len(read) // 10  # a few: the URL's and the comment's bytes
    assert not any(same_or_refused(good[:cut]) for cut in range(len(good) - 1))


def test_an_older_checkpoint_under_a_rule_says_what_it_extends_and_what_lies_beyond() -> None:
    policy = _parse(f"log {BJ_LOG.key}\nwitness gd {A.vkey}\nquorum gd\n")
    extended = replace(policy.check(BJ_LOG.note(12, A), BJ_LOG.key), extended_to=20)
    assert extended.met
    assert extended.describe() == (
        "checkpoint of size 12 cosigned by 1 of 1 witness keys (gd), required: quorum gd, "
        "extended by the answer's checkpoint of size 20"
    )
    beyond = replace(extended, unwitnessed="its issuance entry 15 was recorded after it")
    assert not beyond.met
