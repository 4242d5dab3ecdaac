"""Ledger entries: the kinds of act recorded, and their one deterministic CBOR encoding.

An entry is a CBOR map with small integer keys, encoded deterministically
(RFC 8949 §4.2.1: shortest forms, keys sorted), so its bytes, its leaf hash
and the hash chain are reproducible by any implementation:

====  ========  ===========================================================
key   name      value
====  ========  ===========================================================
0     prev      bstr(32): leaf hash of the previous entry (zeros for the first)
1     kind      tstr: one of :data:`KINDS` (below)
2     time      uint: Unix seconds when the act was recorded
3     region    tstr: GB/T 2260 region code of the recording node
4     subject   tstr: the id the act is about (license id, seal id, key id hex)
5     digest    bstr(32): SHA-256 of the signed object the act concerns
6     key       bstr(8): key id of the acting key
7     reason    tstr (optional, absent rather than empty): why, for revocations and
                suspensions
8     body      bstr (optional): a public signed object, e.g. a key statement
9     to        tstr (optional, absent rather than empty; ``license.transfer`` only): the
                id of the license that replaces the subject, perhaps of another region
====  ========  ===========================================================

``prev`` is the RFC 9162 leaf hash of the previous entry, so the chain and the
Merkle tree share one hash per entry. Key 0 sorts first, so ``prev`` sits at
a fixed offset (bytes 4..36) of every encoded entry. No personal data is ever
an entry field: ids and digests only, because the ledger is shared.

The kinds: ``region.init``, ``agency.add``, ``key.add``, ``key.retire``, ``key.revoke``;
``license.issue`` and ``license.renew`` (the subject the license id, the digest SHA-256 of the
document's COSE_Sign1 bytes); the status changes of a license, about the same subject and
digest as its issuance: ``license.reinstate`` (status 01), ``license.suspend`` (02),
``license.withdraw`` (03), ``license.cancel`` (04), ``license.lapse`` (05; a renewal's reason
is ``renewed as <new license id>``), ``license.transfer`` (06; ``to`` names the license
that replaces it, absent from transfers recorded before they named one), ``license.revoke``
(07); ``seal.create`` (the subject the seal id, the digest SHA-256 of the seal's signed key
statement, the body that statement), ``seal.revoke`` (same subject and digest), and
``seal.stamp``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import cbor2

from keys import cbor as strict_cbor
from keys.errors import InvalidInput, shown

ZERO_HASH = bytes(32)
MAX_ENTRY_SIZE = 8192
MAX_BODY_SIZE = 6144
MAX_TEXT = 256

KINDS = frozenset(
    {
        "region.init",
        "agency.add",
        "key.add",
        "key.retire",
        "key.revoke",
        "license.issue",
        "license.renew",
        "license.reinstate",
        "license.suspend",
        "license.withdraw",
        "license.cancel",
        "license.lapse",
        "license.transfer",
        "license.revoke",
        "seal.create",
        "seal.revoke",
        "seal.stamp",
    }
)

_PREV, _KIND, _TIME, _REGION, _SUBJECT, _DIGEST, _KEY, _REASON, _BODY, _TO = range(10)
_REQUIRED = frozenset({_PREV, _KIND, _TIME, _REGION, _SUBJECT, _DIGEST, _KEY})
_ALLOWED = _REQUIRED | {_REASON, _BODY, _TO}
#: The one kind whose entries may name the license that replaces their subject (``to``).
TRANSFER = "license.transfer"
#: Every encoded entry starts with a map header then ``0x00 0x58 0x20`` (key 0, bstr 32).
_PREV_MARKER = b"\x00\x58\x20"


class MalformedEntry(InvalidInput):
    """Bytes that are not a well-formed, deterministic ledger entry."""

    code = "malformed-entry"


@dataclass(frozen=True, slots=True)
class Entry:
    """One recorded act. Build drafts with ``prev=ZERO_HASH``; the sequencer sets ``prev``."""

    kind: str
    time: int
    region: str
    subject: str
    digest: bytes
    key_id: bytes
    reason: str = ""
    body: bytes | None = None
    prev: bytes = ZERO_HASH
    #: A transfer's new license (key 9), "" for none.
    to: str = ""

    def __post_init__(self) -> None:
        _check_fields(self)

    def with_prev(self, prev: bytes) -> Entry:
        """The same act chained after the entry whose leaf hash is ``prev``."""
        return replace(self, prev=prev)

    def encode(self, prev: bytes | None = None) -> bytes:
        """The deterministic CBOR encoding (the bytes that are hashed and stored), chained
        after ``prev`` when given (the sequencer's fast path) instead of ``self.prev``."""
        if prev is not None and len(prev) != 32:
            raise MalformedEntry("entry prev must be 32 bytes")
        m: dict[int, Any] = {
            _PREV: self.prev if prev is None else prev,
            _KIND: self.kind,
            _TIME: self.time,
            _REGION: self.region,
            _SUBJECT: self.subject,
            _DIGEST: self.digest,
            _KEY: self.key_id,
        }
        if self.reason:
            m[_REASON] = self.reason
        if self.body is not None:
            m[_BODY] = self.body
        if self.to:
            m[_TO] = self.to
        return cbor2.dumps(m, canonical=True)

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly view (hashes as hex) for the CLI and the API."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "time": self.time,
            "region": self.region,
            "subject": self.subject,
            "digest": self.digest.hex(),
            "key_id": self.key_id.hex(),
            "prev": self.prev.hex(),
        }
        if self.reason:
            out["reason"] = self.reason
        if self.body is not None:
            out["body"] = self.body.hex()
        if self.to:
            out["to"] = self.to
        return out


def _check_fields(e: Entry) -> None:
    # Text first: a kind decoded from outside may be anything (a list, a tag of one, which
    # cannot be hashed, or an integer too long to print).
    if type(e.kind) is not str or e.kind not in KINDS:
        raise MalformedEntry(f"unknown entry kind {shown(e.kind)}")
    if type(e.time) is not int or not 0 <= e.time < 2**63:
        raise MalformedEntry("entry time must be a non-negative integer (Unix seconds)")
    texts = (("region", e.region), ("subject", e.subject), ("reason", e.reason), ("to", e.to))
    for name, text in texts:
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise MalformedEntry(f"entry {name} must be text of at most {MAX_TEXT} characters")
    if not e.region or not e.subject:
        raise MalformedEntry("entry region and subject must not be empty")
    if e.to and e.kind != TRANSFER:
        raise MalformedEntry(f"only a {TRANSFER} entry names a license it was transferred to")
    for name, raw, size in (("prev", e.prev, 32), ("digest", e.digest, 32), ("key", e.key_id, 8)):
        if not isinstance(raw, bytes) or len(raw) != size:
            raise MalformedEntry(f"entry {name} must be {size} bytes")
    if e.body is not None and (not isinstance(e.body, bytes) or len(e.body) > MAX_BODY_SIZE):
        raise MalformedEntry(f"entry body must be at most {MAX_BODY_SIZE} bytes")


def decode_entry(data: bytes, *, strict: bool = True) -> Entry:
    """Parse stored or received entry bytes.

    ``strict`` also re-encodes and demands the same bytes (deterministic form);
    the audit, which checks the bytes through their hashes, may skip that.
    """
    if len(data) > MAX_ENTRY_SIZE:
        raise MalformedEntry(f"entry of {len(data)} bytes exceeds {MAX_ENTRY_SIZE}")
    if data[1:4] != _PREV_MARKER:
        raise MalformedEntry("entry does not start with its prev hash")
    try:
        m = strict_cbor.loads(data)
    except cbor2.CBORDecodeError as e:
        raise MalformedEntry(f"entry is not valid CBOR: {e}") from e
    if not isinstance(m, dict) or not _REQUIRED <= m.keys() <= _ALLOWED:
        raise MalformedEntry("entry map has missing or unknown keys")
    reason = m.get(_REASON, "")
    if _REASON in m and not reason:
        raise MalformedEntry("an empty reason must be omitted")
    to = m.get(_TO, "")
    if _TO in m and not to:
        raise MalformedEntry("an empty to must be omitted")
    entry = Entry(
        kind=m[_KIND],
        time=m[_TIME],
        region=m[_REGION],
        subject=m[_SUBJECT],
        digest=m[_DIGEST],
        key_id=m[_KEY],
        reason=reason,
        body=m.get(_BODY),
        prev=m[_PREV],
        to=to,
    )
    if strict and entry.encode() != data:
        raise MalformedEntry("entry is not in deterministic CBOR form")
    return entry


def _stored_map(data: bytes) -> dict[Any, Any]:
    """The map of stored entry bytes, checked as far as a node's own rows need: a CBOR map
    with the entry's keys, a known kind, a bytes digest and an integer time (the audit
    checks the rest, through the chain and the tree). MalformedEntry otherwise."""
    if len(data) > MAX_ENTRY_SIZE or data[1:4] != _PREV_MARKER:
        raise MalformedEntry("not an entry: wrong size or no leading prev hash")
    try:
        m = strict_cbor.loads(data)
    except cbor2.CBORDecodeError as e:
        raise MalformedEntry(f"entry is not valid CBOR: {e}") from e
    if (
        type(m) is not dict
        or not _REQUIRED <= m.keys() <= _ALLOWED
        or type(m[_KIND]) is not str
        or m[_KIND] not in KINDS
        or type(m[_DIGEST]) is not bytes
        or type(m[_TIME]) is not int
    ):
        raise MalformedEntry("entry map has missing, unknown or mistyped keys")
    return m


class Act(NamedTuple):
    """What a stored entry records, as a node reads its own ledger for a subject."""

    kind: str
    subject: str
    time: int


def stored_entry_act(data: bytes) -> Act:
    """The act stored entry bytes record (see :func:`_stored_map`): what a node reads when
    it looks through its own ledger for a subject's entries. MalformedEntry for bytes that
    are not an entry."""
    m = _stored_map(data)
    subject = m[_SUBJECT]
    if type(subject) is not str:
        raise MalformedEntry("entry subject is not text")
    return Act(m[_KIND], subject, m[_TIME])


def stored_entry_prev(data: bytes) -> bytes:
    """The audit's check of stored bytes (see :func:`_stored_map`), and their ``prev``
    hash. Lighter than :func:`decode_entry`, because the audit verifies the bytes
    themselves through the chain and the tree."""
    prev: bytes = _stored_map(data)[_PREV]
    return prev


def entry_prev(data: bytes) -> bytes:
    """The ``prev`` hash of encoded entry bytes, read at its fixed offset."""
    if data[1:4] != _PREV_MARKER:
        raise MalformedEntry("entry does not start with its prev hash")
    return data[4:36]


def digest(data: bytes) -> bytes:
    """SHA-256 of a signed object, as recorded in an entry's ``digest``."""
    return hashlib.sha256(data).digest()
