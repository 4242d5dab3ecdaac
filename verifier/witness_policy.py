"""A witness policy file: the logs it covers, the witnesses it trusts and the quorum of them
a checkpoint of those logs must carry, parsed strictly and evaluated, pure.

The format is the Sigsum policy file (sigsum-go ``doc/policy.md``) with C2SP verifier keys
for raw hex keys, as Filippo Valsorda's torchwood ``ParsePolicy`` reads it::

    # comments run from '#' to the end of the line
    log <vkey> [<url>]                        # a signed-note Ed25519 (0x01) log key
    witness <name> <vkey> [<url>]             # a cosignature/v1 (0x04) witness key
    group <name> <all|any|k> <name> …         # k of its members, witnesses or groups
    quorum <name|none>                        # exactly one

Items are separated by ASCII spaces and tabs; witnesses and groups share one namespace, in
which ``none`` is predefined; a group or the quorum names only what earlier lines defined
(so no cycle), each name is a member once in the whole file (so a witness counts at most
once), and no key is listed twice, nor two keys under one key name and key hash (which a
signature line names its key by). One file has one quorum, for every log it lists (as the
spec has it, and as its Appendix A advises for checkpoints: one policy a log); a window that
requires other witnesses of another log gives another file (:class:`WitnessPolicies`). A
witness that changed its key is listed twice, its old and its new key under two names, and
counted once by a group of ``any`` of them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from keys.errors import InvalidInput, shown
from ledger.checkpoint import MAX_NAME_BYTES, NoteVerifier, parse_verifier_key
from ledger.cosignature import CosignatureVerifier, parse_cosigner_key, witnessed_by
from verifier.urls import node_url
from verifier.witnessing import Group, Witnessing

#: A policy names a handful of logs and witnesses; the spec's Appendix B asks a parser to
#: take at least 32 logs, 32 witnesses and 32 groups.
MAX_POLICY_BYTES = 64 * 1024
MAX_POLICY_LINES = 1000
MAX_LOGS = 64
MAX_WITNESSES = 64
MAX_GROUPS = 64
#: The most ``--witness-policy`` files a verifier takes, one a quorum.
MAX_POLICY_FILES = 32
NONE = "none"

_SEPARATOR = re.compile(r"[ \t]+")
_THRESHOLD = re.compile(r"[1-9][0-9]{0,3}")


class WitnessPolicyInvalid(InvalidInput):
    """A witness policy file is not one: too large, a line malformed, a name or key
    undefined, defined twice or out of bounds, no quorum; or two files cover one log."""

    code = "witness-policy-invalid"


class WitnessPolicyUncovered(InvalidInput):
    """The witness policy names no quorum for the log asked about."""

    code = "witness-policy-uncovered"


@dataclass(frozen=True)
class PolicyLog:
    """A ``log`` line: the log's key (a trust bundle's ``log_verifier``), its URL if given
    (checked for form, not used: the nodes asked are named otherwise)."""

    key: NoteVerifier
    url: str | None = None


@dataclass(frozen=True)
class PolicyWitness:
    """A ``witness`` line: its name in the policy, its cosignature/v1 key, its URL if any."""

    name: str
    key: CosignatureVerifier
    url: str | None = None


@dataclass(frozen=True)
class PolicyFile:
    """A parsed policy file: its logs, its witnesses, its quorum; ``source`` names it in
    messages (a file's path)."""

    logs: tuple[PolicyLog, ...]
    witnesses: tuple[PolicyWitness, ...]
    quorum: Group
    source: str = field(default="the witness policy", compare=False)

    def covers(self, log: NoteVerifier) -> bool:
        return any(entry.key == log for entry in self.logs)

    def for_log(self, log: NoteVerifier) -> PolicyFile:
        """Itself, when it lists ``log``."""
        if not self.covers(log):
            raise WitnessPolicyUncovered(f"{self.source} names no log key {log}")
        return self

    def check(self, note: str, log: NoteVerifier) -> Witnessing:
        """How the checkpoint ``note`` of the log ``log`` (which this file must list) was
        witnessed: which of the witnesses its quorum holds cosigned that very checkpoint
        (:func:`ledger.cosignature.witnessed_by`: a line of theirs that does not verify
        rejects the note, one key that signed twice counts once, lines of other keys, the
        witnesses the quorum leaves out among them, are ignored), and the quorum."""
        self.for_log(log)
        counted = set(self.quorum.witnesses())
        witnesses = [w for w in self.witnesses if w.name in counted]
        witnessed = witnessed_by(note, log, [w.key for w in witnesses])
        signed = {(c.name, c.key_hash) for c in witnessed.cosignatures}
        return Witnessing(
            witnessed.checkpoint.size,
            tuple(w.name for w in witnesses if (w.key.name, w.key.key_hash) in signed),
            len(witnesses),
            self.quorum.fewest(),
            rule=self.quorum,
        )


@dataclass(frozen=True)
class WitnessPolicies:
    """Several policy files, one a quorum, each log listed by one of them at most."""

    files: tuple[PolicyFile, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.files) <= MAX_POLICY_FILES:
            raise WitnessPolicyInvalid(
                f"{len(self.files)} witness policy files given: 1 to {MAX_POLICY_FILES} are taken"
            )
        seen: dict[NoteVerifier, PolicyFile] = {}
        for policy in self.files:
            for entry in policy.logs:
                other = seen.setdefault(entry.key, policy)
                if other is not policy:
                    raise WitnessPolicyInvalid(
                        f"{other.source} and {policy.source} both name the log key "
                        f"{entry.key}: a log has one quorum"
                    )

    def for_log(self, log: NoteVerifier) -> PolicyFile:
        """The file that lists ``log``."""
        for policy in self.files:
            if policy.covers(log):
                return policy
        raise WitnessPolicyUncovered(f"no witness policy names the log key {log}")


def parse_policy(data: bytes, source: str = "the witness policy") -> PolicyFile:
    """The policy file ``data`` (UTF-8, at most :data:`MAX_POLICY_BYTES` and
    :data:`MAX_POLICY_LINES` lines), parsed strictly; a refusal names its line, and the
    caller the file. ``source`` names the file in what the policy later says."""
    if len(data) > MAX_POLICY_BYTES:
        raise WitnessPolicyInvalid(f"the policy is larger than {MAX_POLICY_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WitnessPolicyInvalid(f"the policy is not UTF-8 (byte {e.start})") from e
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if len(lines) > MAX_POLICY_LINES:
        raise WitnessPolicyInvalid(f"the policy has more than {MAX_POLICY_LINES} lines")
    parser = _Parser()
    for number, line in enumerate(lines, 1):
        try:
            parser.line(line)
        except WitnessPolicyInvalid as e:
            raise WitnessPolicyInvalid(f"line {number}: {e.message}") from e
    return parser.finish(source)


class _Parser:
    """The names and keys defined so far, line by line."""

    def __init__(self) -> None:
        self.logs: list[PolicyLog] = []
        self.witnesses: list[PolicyWitness] = []
        #: Every name defined, a witness's (its name) or a group; ``none`` predefined.
        self.names: dict[str, str | Group] = {}
        self.groups = 0
        self.members: set[str] = set()
        self.quorum: Group | None = None

    def line(self, line: str) -> None:
        bad = next((c for c in line if c != "\t" and unicodedata.category(c) == "Cc"), None)
        if bad is not None:
            what = "a carriage return (save the file with LF line ends)" if bad == "\r" else ""
            raise WitnessPolicyInvalid(
                f"holds {what or f'the control character U+{ord(bad):04X}'}: only tab and "
                "newline are taken"
            )
        content = line.split("#", 1)[0]
        space = next((c for c in content if c.isspace() and c not in " \t"), None)
        if space is not None:
            raise WitnessPolicyInvalid(
                f"holds the space U+{ord(space):04X}: separate items with ASCII spaces or tabs"
            )
        hidden = next((c for c in content if unicodedata.category(c) == "Cf"), None)
        if hidden is not None:  # a byte order mark, a zero-width space: names alike, not one
            raise WitnessPolicyInvalid(f"holds the invisible character U+{ord(hidden):04X}")
        items = [item for item in _SEPARATOR.split(content) if item]
        if not items:
            return
        keyword, args = items[0], items[1:]
        if keyword == "log":
            self.log(args)
        elif keyword == "witness":
            self.witness(args)
        elif keyword == "group":
            self.group(args)
        elif keyword == "quorum":
            self.set_quorum(args)
        else:
            raise WitnessPolicyInvalid(
                f"unknown keyword {shown(keyword)}: a line is log, witness, group or quorum"
            )

    def log(self, args: Sequence[str]) -> None:
        if len(args) not in (1, 2):
            raise WitnessPolicyInvalid("a log line is: log <vkey> [<url>]")
        if len(self.logs) >= MAX_LOGS:
            raise WitnessPolicyInvalid(f"more than {MAX_LOGS} logs")
        try:
            key = parse_verifier_key(args[0])
        except InvalidInput as e:
            raise WitnessPolicyInvalid(
                f"log key {shown(args[0], 120)} is not a signed-note Ed25519 verifier key "
                f"(<origin>+<key hash>+<base64 key>, as a trust bundle's log_verifier): "
                f"{e.message}"
            ) from e
        if any(entry.key.public_key == key.public_key for entry in self.logs):
            raise WitnessPolicyInvalid(f"log key {key} is listed twice")
        _unambiguous(key, "the log key", [(f"witness {w.name!r}", w.key) for w in self.witnesses])
        self.logs.append(PolicyLog(key, _url(args[1]) if len(args) == 2 else None))

    def witness(self, args: Sequence[str]) -> None:
        if len(args) not in (2, 3):
            raise WitnessPolicyInvalid("a witness line is: witness <name> <vkey> [<url>]")
        if len(self.witnesses) >= MAX_WITNESSES:
            raise WitnessPolicyInvalid(f"more than {MAX_WITNESSES} witnesses")
        name = self.new_name(args[0])
        try:
            key = parse_cosigner_key(args[1])
        except InvalidInput as e:
            raise WitnessPolicyInvalid(
                f"witness key {shown(args[1], 120)} is not a cosignature/v1 verifier key "
                f"(<name>+<key hash>+<base64 key>, as eseal witness key prints it): {e.message}"
            ) from e
        # A cosignature/v1 line does not sign its key's name: one key listed under two
        # names would have its one line count for both.
        twice = next((w for w in self.witnesses if w.key.public_key == key.public_key), None)
        if twice is not None:
            raise WitnessPolicyInvalid(
                f"witness {name!r} has the key of witness {twice.name!r}: a key is listed once"
            )
        _unambiguous(
            key,
            f"witness {name!r}",
            [(f"witness {w.name!r}", w.key) for w in self.witnesses]
            + [("the log key", entry.key) for entry in self.logs],
        )
        self.witnesses.append(PolicyWitness(name, key, _url(args[2]) if len(args) == 3 else None))
        self.names[name] = name

    def group(self, args: Sequence[str]) -> None:
        if len(args) < 3:
            raise WitnessPolicyInvalid(
                "a group line is: group <name> <all|any|k> <member> … (one member at least)"
            )
        if self.groups >= MAX_GROUPS:
            raise WitnessPolicyInvalid(f"more than {MAX_GROUPS} groups")
        name = self.new_name(args[0])
        threshold, members = args[1], args[2:]
        n = len(members)
        if threshold == "all":
            k = n
        elif threshold == "any":
            k = 1
        elif _THRESHOLD.fullmatch(threshold) and int(threshold) <= n:
            k = int(threshold)
        else:
            raise WitnessPolicyInvalid(
                f"group {name!r} threshold {shown(threshold)} is not all, any or a number "
                f"from 1 to its {n} members"
            )
        resolved: list[str | Group] = []
        for member in members:
            if member == NONE:
                raise WitnessPolicyInvalid(f"group {name!r}: none is no member, only a quorum")
            known = self.names.get(member)
            if known is None:
                raise WitnessPolicyInvalid(
                    f"group {name!r} names {shown(member)}, which no line before defines"
                )
            if member in self.members:
                raise WitnessPolicyInvalid(
                    f"group {name!r} names {member!r}, a member already: each name is a "
                    "member once, so that no witness counts twice"
                )
            self.members.add(member)
            resolved.append(known)
        self.names[name] = Group(name, k, tuple(resolved))
        self.groups += 1

    def set_quorum(self, args: Sequence[str]) -> None:
        if len(args) != 1:
            raise WitnessPolicyInvalid("a quorum line is: quorum <name|none>")
        if self.quorum is not None:
            raise WitnessPolicyInvalid("a second quorum line: a policy has one quorum")
        name = args[0]
        if name == NONE:
            self.quorum = Group(NONE, 0, ())
            return
        known = self.names.get(name)
        if known is None:
            raise WitnessPolicyInvalid(
                f"quorum {shown(name)} is no witness or group a line before defines"
            )
        self.quorum = known if isinstance(known, Group) else Group(name, 1, (name,))

    def new_name(self, name: str) -> str:
        if name == NONE:
            raise WitnessPolicyInvalid("none is a predefined name: name it otherwise")
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise WitnessPolicyInvalid(f"a name is at most {MAX_NAME_BYTES} bytes")
        if name in self.names:
            raise WitnessPolicyInvalid(f"{name!r} is defined twice")
        return name

    def finish(self, source: str) -> PolicyFile:
        if self.quorum is None:
            raise WitnessPolicyInvalid("the policy has no quorum line")
        if not self.logs:
            raise WitnessPolicyInvalid("the policy has no log line: it applies to no log")
        return PolicyFile(tuple(self.logs), tuple(self.witnesses), self.quorum, source)


def _unambiguous(key: NoteVerifier, what: str, others: Sequence[tuple[str, NoteVerifier]]) -> None:
    """Refuses ``key`` where another key of the file has its key name and key hash: a
    signature line names its key by those two alone (c2sp.org/signed-note), so a line by
    one would be taken for the other's. Two witnesses' keys would then count one line
    twice (the key hash is 4 bytes: found by chance once in 2^32, but a witness can grind
    a key whose hash is another's in minutes); a witness's and the log's would leave every
    note refused."""
    for other_what, other in others:
        if (other.name, other.key_hash) == (key.name, key.key_hash):
            raise WitnessPolicyInvalid(
                f"{what} has the key name {key.name!r} and key hash {key.key_hash.hex()} "
                f"of {other_what}, another key: a signature line names its key by the two "
                "alone, so one line would be taken for the other's"
            )


def _url(text: str) -> str:
    """A ``log`` or ``witness`` line's URL (not used): a node's base URL by the one rule of
    :func:`verifier.urls.node_url`."""
    try:
        return node_url(text, "the URL")
    except InvalidInput as e:
        raise WitnessPolicyInvalid(e.message) from e
