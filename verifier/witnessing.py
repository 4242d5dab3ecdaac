"""A verifier's witness policy: the witnesses it trusts and how many of them must have
cosigned a node's checkpoint before it believes what the node proves under it, pure.

A region's node signs its checkpoints with its log key alone; nothing in that signature
stops it from showing one window a checkpoint (a branch of its ledger, say one without a
revocation) that it shows no one else. Witnesses (other regions' nodes, docs/DESIGN.md
"Checkpoint") cosign a checkpoint only when it extends the one they cosigned before, so a
checkpoint that k independent witnesses cosigned is one that k parties also saw. The policy
names each witness by its C2SP cosignature/v1 verifier key string (as ``eseal witness key``
prints it and ``GET /v1/witness`` gives it) and a quorum k; a checkpoint meets it when it
carries valid cosignatures, on that very checkpoint, of at least k of those keys
(:func:`ledger.cosignature.verify_witnessed`'s rule; :func:`~ledger.cosignature.witnessed_by`
opens the note, so that a verdict can say who cosigned when too few did). A policy file
(:mod:`verifier.witness_policy`) says more: per log, a quorum of nested groups
(:class:`Group`), which is how a witness's old and new keys count as one witness.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from keys.errors import InvalidInput
from ledger.checkpoint import NoteVerifier
from ledger.cosignature import (
    CosignatureVerifier,
    QuorumInvalid,
    parse_cosigner_key,
    witnessed_by,
)

#: The most witnesses a policy names: a region has a handful of peers to ask; the
#: signed-note parser takes at most 100 signature lines on a note anyway.
MAX_WITNESSES = 32


class WitnessKeyInvalid(InvalidInput):
    """A witness key given to a policy is not a cosignature/v1 verifier key string, or is
    given twice (or its witness's name is, with another key), or too many are given."""

    code = "witness-key-invalid"


@dataclass(frozen=True)
class Group:
    """A group of a witness policy file (the Sigsum policy format): met when at least ``k``
    of its ``members`` are, each a witness (its name in the policy, met when it cosigned) or
    another group. A policy's quorum is a group: ``quorum none`` the empty one, met by no
    cosignature at all; a quorum naming one witness, the group of that witness alone under
    its name. The parser makes each name a member once in all, so no witness counts twice."""

    name: str
    k: int
    members: tuple[str | Group, ...]

    def met(self, cosigned: Collection[str]) -> bool:
        """Whether the witnesses named ``cosigned`` meet it."""
        return (
            sum(
                1
                for m in self.members
                if (m.met(cosigned) if isinstance(m, Group) else m in cosigned)
            )
            >= self.k
        )

    def witnesses(self) -> tuple[str, ...]:
        """The names of the witnesses it holds, at any depth, in order."""
        return tuple(
            name for m in self.members for name in (m.witnesses() if isinstance(m, Group) else (m,))
        )

    def fewest(self) -> int:
        """The fewest cosigning witnesses that can meet it."""
        least = sorted(m.fewest() if isinstance(m, Group) else 1 for m in self.members)
        return sum(least[: self.k])

    def describe(self) -> str:
        """E.g. ``cq = 2 of (bj = any of (bj-2024, bj-2025), sh, gz)``; ``none``."""
        if not self.members:
            return "none"
        if self.members == (self.name,):
            return self.name
        n = len(self.members)
        count = "all" if self.k == n else "any" if self.k == 1 else str(self.k)
        inner = ", ".join(m.describe() if isinstance(m, Group) else m for m in self.members)
        return f"{self.name} = {count} of ({inner})"


@dataclass(frozen=True)
class Witnessing:
    """How a checkpoint was witnessed under a policy: its size, the names of the policy's
    witnesses that cosigned it (in the policy's order), how many the policy names and the
    quorum it requires: k of them, or, under a policy file, its quorum ``rule`` (then
    ``quorum`` is the fewest cosigners that can meet it). Where it is an older checkpoint
    than the one an answer is proved under (docs/DESIGN.md, Online status):
    ``extended_to``, the size of that one, which a consistency proof showed extends it;
    ``unwitnessed``, what the answer relies on that lies beyond it (then the witnessing
    does not do for the answer)."""

    size: int
    cosigners: tuple[str, ...]
    witnesses: int
    quorum: int
    extended_to: int | None = None
    unwitnessed: str = ""
    rule: Group | None = None

    @property
    def met(self) -> bool:
        if self.rule is not None:
            enough = self.rule.met(self.cosigners)
        else:
            enough = len(self.cosigners) >= self.quorum
        return enough and not self.unwitnessed

    def to_json(self) -> dict[str, Any]:
        """As a verdict's ``freshness.witnessed`` gives it (docs/DESIGN.md, Verdict): what a
        window shows a clerk, in its own words, where :meth:`describe` is English."""
        return {
            "checkpoint_size": self.size,
            "cosigners": list(self.cosigners),
            "witnesses": self.witnesses,
            "quorum": self.quorum,
            "rule": None if self.rule is None else self.rule.describe(),
            "met": self.met,
            "extended_to": self.extended_to,
            "unwitnessed": self.unwitnessed or None,
        }

    def describe(self) -> str:
        """E.g. ``checkpoint of size 12 cosigned by 1 of 2 witnesses (eseal/500000/witness),
        2 required``; under a policy file, ``…, required: quorum cq = 2 of (bj, sh, gz)``."""
        who = f" ({', '.join(self.cosigners)})" if self.cosigners else ""
        if self.rule is None:
            required = f"{self.quorum} required"
        elif not self.rule.members:
            required = "none required (quorum none)"
        else:
            required = f"required: quorum {self.rule.describe()}"
        extended = (
            f", extended by the answer's checkpoint of size {self.extended_to}"
            if self.extended_to is not None
            else ""
        )
        beyond = f"; but {self.unwitnessed}" if self.unwitnessed else ""
        # A policy file counts its witness lines: keys, a witness's old and new one two.
        counted = "witnesses" if self.rule is None else "witness keys"
        return (
            f"checkpoint of size {self.size} cosigned by {len(self.cosigners)} of "
            f"{self.witnesses} {counted}{who}, {required}{extended}{beyond}"
        )


class CheckpointPolicy(Protocol):
    """What a checkpoint of one log must carry: :meth:`WitnessPolicy.check`, or a policy
    file's (:class:`verifier.witness_policy.PolicyFile`)."""

    def check(self, note: str, log: NoteVerifier) -> Witnessing:
        """How the checkpoint ``note``, signed by ``log``, was witnessed; raises where it
        is not signed by ``log`` or a line of a witness counted does not verify."""
        ...


class WitnessRequirement(Protocol):
    """What a verifier requires of the checkpoints of each log it asks about: one policy
    for every log (:class:`WitnessPolicy`), or one a log
    (:class:`verifier.witness_policy.WitnessPolicies`)."""

    def for_log(self, log: NoteVerifier) -> CheckpointPolicy:
        """The policy for the checkpoints of the log whose key is ``log``; raises
        InvalidInput where it has none."""
        ...


@dataclass(frozen=True)
class WitnessPolicy:
    """The witnesses a verifier trusts (distinct cosignature/v1 keys of distinct names, 1 to
    :data:`MAX_WITNESSES`) and the quorum k of them (1 ≤ k ≤ their number) that must have
    cosigned a checkpoint."""

    witnesses: tuple[CosignatureVerifier, ...]
    quorum: int

    def __post_init__(self) -> None:
        if not 1 <= len(self.witnesses) <= MAX_WITNESSES:
            raise WitnessKeyInvalid(
                f"{len(self.witnesses)} witness keys given: 1 to {MAX_WITNESSES} are taken"
            )
        seen: dict[bytes, CosignatureVerifier] = {}
        for w in self.witnesses:
            if not isinstance(w, CosignatureVerifier):
                raise WitnessKeyInvalid(f"witness key {w!r} is not a cosignature/v1 key")
            # A cosignature/v1 signature does not cover the witness's name: one key's line
            # verifies under every name it is given, and would count once for each.
            if w.public_key in seen:
                raise WitnessKeyInvalid(
                    f"witness key {w} is given twice"
                    if seen[w.public_key].name == w.name
                    else f"witness keys {seen[w.public_key].name!r} and {w.name!r} are one key"
                )
            seen[w.public_key] = w
        # The name is the witness: its two keys (an old and a new one, say) would each have
        # a line that verifies, and one witness would count twice.
        names = [w.name for w in self.witnesses]
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            raise WitnessKeyInvalid(
                f"witness {twice!r} is given with two keys: a witness counts once, by the "
                "key it cosigns with"
            )
        n, k = len(self.witnesses), self.quorum
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
            raise QuorumInvalid(f"quorum {k!r} is not from 1 to the {n} witness keys given")

    @classmethod
    def parse(cls, keys: Sequence[str], quorum: int | None = None) -> WitnessPolicy:
        """A policy of the verifier key strings ``keys``, each parsed strictly (type 0x04,
        key hash matching its name and key); ``quorum`` None requires them all."""
        if len(keys) > MAX_WITNESSES:
            raise WitnessKeyInvalid(
                f"{len(keys)} witness keys given: at most {MAX_WITNESSES} are taken"
            )
        parsed: list[CosignatureVerifier] = []
        for text in keys:
            try:
                parsed.append(parse_cosigner_key(text))
            except InvalidInput as e:
                shown_key = text if len(text) <= 120 else text[:120] + "…"
                raise WitnessKeyInvalid(
                    f"witness key {shown_key!r} is not a cosignature/v1 verifier key "
                    f"(<name>+<key hash>+<base64 key>, as eseal witness key prints it): "
                    f"{e.message}"
                ) from e
        return cls(tuple(parsed), len(parsed) if quorum is None else quorum)

    def for_log(self, log: NoteVerifier) -> WitnessPolicy:
        """The policy for every log: itself."""
        return self

    def check(self, note: str, log: NoteVerifier) -> Witnessing:
        """How the checkpoint ``note`` (a signed note, with its cosignature lines) was
        witnessed. Raises as :func:`~ledger.cosignature.verify_witnessed` does where the
        note is not signed by ``log`` or a line by one of the witnesses does not verify
        (:func:`~ledger.cosignature.witnessed_by`); a quorum not met is no error here
        (:attr:`Witnessing.met`)."""
        witnessed = witnessed_by(note, log, self.witnesses)
        signed = {(c.name, c.key_hash) for c in witnessed.cosignatures}
        return Witnessing(
            witnessed.checkpoint.size,
            tuple(w.name for w in self.witnesses if (w.name, w.key_hash) in signed),
            len(self.witnesses),
            self.quorum,
        )
