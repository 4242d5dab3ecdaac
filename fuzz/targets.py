"""The fuzz targets: each takes the fuzzer's bytes and raises only where eseal fails its
promise (an exception that is not one of its documented errors; :func:`tags_still_hash`).
Their first byte picks what the rest is (see each target), the seeds say it for the real
files. No atheris here: ``provider`` makes the structured reader of a target's bytes."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import zlib
from collections.abc import Callable, Collection, Iterator
from typing import Any, ClassVar

import cbor2
from nacl.signing import SigningKey
from PIL import Image

from fuzz.material import VERIFY_AT, Material
from fuzz.values import Provider, json_mutate, mutate
from keys import cbor as strict_cbor
from keys import ed25519
from keys.errors import EsealError, ExternalFailure
from keys.statements import DOMAIN, KeyStatement, Role, SignedStatement, verify_statement_chain
from ledger.checkpoint import (
    Checkpoint,
    NoteVerifier,
    open_note,
    parse_verifier_key,
    sign_note,
    verify_checkpoint,
)
from ledger.cosignature import cosign, cosigner_key, parse_cosigner_key, witnessed_by
from ledger.entries import decode_entry, stored_entry_act, stored_entry_prev
from ledger.merkle import EMPTY_ROOT, MemoryTree, consistency_proof, leaf_hash, verify_consistency
from ledger.witness import (
    AddCheckpointMalformed,
    AddCheckpointRequest,
    Cosigned,
    Refusal,
    add_checkpoint,
)
from verifier.base45 import b45decode, b45encode
from verifier.cascade import Cascade
from verifier.cose import cose_sign1_bytes, sig_structure
from verifier.document import DecodedDocument, decode
from verifier.envelope import seal_envelope
from verifier.holder import HolderNotApplicable, InvalidHolderId
from verifier.pipeline import StatusSource, VerifyContext, verify_text
from verifier.revocation import SNAPSHOT_TYPE, SnapshotStatus, open_snapshot
from verifier.scan import read_qr
from verifier.trust import BUNDLE_TYPE, TrustBundle, TrustStore, open_bundle
from verifier.witness_policy import (
    PolicyFile,
    WitnessPolicyInvalid,
    WitnessPolicyUncovered,
    parse_policy,
)

Target = Callable[[bytes], None]
MakeProvider = Callable[[bytes], Provider]
#: What verify_text may raise: bad input given with the text, or a failing status source.
VERIFY_ERRORS = (ExternalFailure, HolderNotApplicable, InvalidHolderId)
PREFIX = {"license": "EL1:", "stamp": "ES1:"}


class Broken(Exception):
    """eseal broke a promise the target checks beyond raising."""


def tags_still_hash() -> None:
    """cbor2 5.9's C tag, once hashing one fails (its value a list), refuses for good to
    hash any tag later made at the same address: fresh tags must still hash."""
    for i in range(64):
        try:
            hash(cbor2.CBORTag(6, i))
        except RuntimeError as e:
            raise Broken(f"cbor2 no longer hashes tags: {e}") from e


def _verify(text: str, ctx: VerifyContext, **given: Any) -> None:
    try:
        verdict = verify_text(text, ctx, **given)
    except VERIFY_ERRORS:
        return
    json.dumps(verdict.to_json(), ensure_ascii=False)


def _sign(kind: str, protected: bytes, payload: bytes, key: SigningKey) -> str:
    signature = key.sign(sig_structure(protected, payload)).signature
    return PREFIX[kind] + b45encode(zlib.compress(cose_sign1_bytes(protected, payload, signature)))


def _canonical(value: object, fdp: Provider, limit: int = 20_000) -> bytes | None:
    """``value`` in CBOR (deterministic, but for one time in eight), None when it cannot be
    encoded or is larger than any format takes."""
    try:
        data = cbor2.dumps(value, canonical=fdp.ConsumeIntInRange(0, 7) != 0)
    except (cbor2.CBOREncodeError, ValueError, TypeError, RecursionError):
        return None
    return data if len(data) <= limit else None


class Verify:
    """``verify_text`` on outside text. First byte, the layer the rest is at: 0 the text,
    1 the zlib bytes, 2 the COSE_Sign1, 3 a claims payload signed with the real document's
    key, 4 a structured mutation of a real document's claims (signed), 5 a protected header
    (signed), 6 the id a clerk types, with a real document, 7 a structured mutation of a
    real document's COSE_Sign1 (its four parts, its tag). Second byte: which document,
    which verifier (with the snapshot, without status, with a clock far behind), which
    holder id, with the stamped file, another file or none, and (bit 6) the other kind's
    prefix."""

    def __init__(self, material: Material, provider: MakeProvider) -> None:
        self.m, self.provider = material, provider
        store = TrustStore([open_bundle(material.bundle)])
        status = SnapshotStatus([open_snapshot(material.snapshot, store)])
        self.contexts = (
            VerifyContext(store, VERIFY_AT, status=status),
            VerifyContext(store, VERIFY_AT),
            VerifyContext(store, 0, status=status, newest_seen=dict(store.signed_at)),
        )
        self.docs = [decode(text) for text in material.texts]
        self.keys = {ed25519.key_id(bytes(k.verify_key)): k for k in material.signers}
        self.holder_ids = (None, "91500000MA60XXXX15", "11010519491231002X", "x")

    def seeds(self) -> Iterator[bytes]:
        for i, (text, doc) in enumerate(zip(self.m.texts, self.docs, strict=True)):
            yield from (bytes([0, i]) + text.encode(), bytes([0, i | 16]) + text.encode())
            yield bytes([1, i]) + b45decode(text[4:])
            yield bytes([2, i]) + doc.cose
            yield bytes([3, i]) + doc.payload
            yield bytes([4, i]) + os.urandom(16)
            yield bytes([5, i]) + doc.protected
            yield bytes([6, i]) + b"110105 19491231 002x"
            yield bytes([7, i]) + os.urandom(16)

    def __call__(self, data: bytes) -> None:
        if len(data) < 2:
            return
        mode, options, rest = data[0] % 8, data[1], data[2:]
        doc = self.docs[options % len(self.docs)]
        kind = doc.kind
        if options & 64:
            kind = "stamp" if kind == "license" else "license"
        ctx = self.contexts[options % len(self.contexts)]
        given: dict[str, Any] = {
            "holder_id": self.holder_ids[(options >> 2) % len(self.holder_ids)],
            "document": (None, self.m.document, b"another file", b"")[(options >> 4) & 3],
        }
        key = self.keys[doc.kid]
        if mode == 0:
            text = rest.decode("utf-8", "replace")
        elif mode == 1:
            text = PREFIX[kind] + b45encode(rest)
        elif mode == 2:
            text = PREFIX[kind] + b45encode(zlib.compress(rest))
        elif mode == 3:
            text = _sign(kind, doc.protected, rest, key)
        elif mode == 4:
            text = self._mutated(doc, kind, key, self.provider(rest)) or ""
        elif mode == 5:
            text = _sign(kind, rest, doc.payload, key)
        elif mode == 6:
            text, given = doc.text, {"holder_id": rest.decode("utf-8", "replace")}
        else:
            fdp = self.provider(rest)
            parts = cbor2.loads(doc.cose).value  # [protected, unprotected, payload, signature]
            for _ in range(fdp.ConsumeIntInRange(1, 3)):
                parts = mutate(fdp, parts)
            tag = fdp.PickValueInList([18, 18, 18, 17, 98, 6])
            cose = _canonical(cbor2.CBORTag(tag, parts), fdp)
            text = "" if cose is None else PREFIX[kind] + b45encode(zlib.compress(cose))
        _verify(text, ctx, **given)
        tags_still_hash()

    def _mutated(
        self, doc: DecodedDocument, kind: str, key: SigningKey, fdp: Provider
    ) -> str | None:
        claims = cbor2.loads(doc.payload)
        for _ in range(fdp.ConsumeIntInRange(1, 3)):
            claims = mutate(fdp, claims)
        payload = _canonical(claims, fdp)
        return None if payload is None else _sign(kind, doc.protected, payload, key)


class Trust:
    """Trust bundles and revocation snapshots. First byte: 0 a bundle file (opened pinned
    and not), 1 ``TrustBundle.from_json`` of JSON, 2 a structured mutation of the real
    bundle signed by the root, 3 a bundle payload signed by the root, 4 a snapshot file,
    5 a snapshot payload signed by the log key, 6 a structured mutation of the real
    snapshot (signed), 7 a mutation of the bundle file's envelope, 8 a key statement of the
    bundle mutated and certified by the root. Whatever opens, the region's documents are
    verified with it."""

    def __init__(self, material: Material, provider: MakeProvider) -> None:
        self.m, self.provider = material, provider
        self.pin = ed25519.key_id(bytes(material.root.verify_key))
        self.bundle = open_bundle(material.bundle)
        self.store = TrustStore([self.bundle])
        self.snapshot = open_snapshot(material.snapshot, self.store)
        self.envelope = json.loads(material.bundle)
        self.payload = json.loads(base64.b64decode(self.envelope["payload"]))
        self.snapshot_map = cbor2.loads(base64.b64decode(json.loads(material.snapshot)["payload"]))

    def seeds(self) -> Iterator[bytes]:
        bundle_payload = base64.b64decode(self.envelope["payload"])
        snapshot_payload = base64.b64decode(json.loads(self.m.snapshot)["payload"])
        yield from (b"\0" + self.m.bundle, b"\1" + bundle_payload, b"\3" + bundle_payload)
        yield from (b"\4" + self.m.snapshot, b"\5" + snapshot_payload)
        for mode in (2, 6, 7, 8) * 6:
            yield bytes([mode]) + os.urandom(24)

    def __call__(self, data: bytes) -> None:  # noqa: PLR0912 - one branch a mode
        if not data:
            return
        mode, rest = data[0] % 9, data[1:]
        if mode == 0:
            _open_bundle(rest, self.pin)
        elif mode == 1:
            try:
                raw = json.loads(rest)
            except (ValueError, RecursionError):
                return
            _refused_or(lambda: TrustBundle.from_json(raw))
        elif mode == 2:
            fdp = self.provider(rest)
            payload = json.loads(json.dumps(self.payload))
            for _ in range(fdp.ConsumeIntInRange(1, 4)):
                payload = json_mutate(fdp, payload)
            text = json.dumps(payload, ensure_ascii=fdp.ConsumeBool())
            self._bundle(text.encode("utf-8", "surrogatepass"))
        elif mode == 3:
            self._bundle(rest)
        elif mode == 4:
            _refused_or(lambda: open_snapshot(rest, self.store))
        elif mode == 5:
            self._snapshot(rest)
        elif mode == 6:
            fdp = self.provider(rest)
            snapshot = cbor2.loads(cbor2.dumps(self.snapshot_map))
            for _ in range(fdp.ConsumeIntInRange(1, 3)):
                snapshot = mutate(fdp, snapshot)
            if (payload := _canonical(snapshot, fdp, 100_000)) is not None:
                self._snapshot(payload)
        elif mode == 7:
            fdp = self.provider(rest)
            envelope = json.loads(json.dumps(self.envelope))
            for _ in range(fdp.ConsumeIntInRange(1, 3)):
                envelope = json_mutate(fdp, envelope)
            _open_bundle(json.dumps(envelope).encode("utf-8", "surrogatepass"), self.pin)
        else:
            self._certified(self.provider(rest))
        tags_still_hash()

    def _certified(self, fdp: Provider) -> None:
        payload = json.loads(json.dumps(self.payload))
        records = [k for a in payload["agencies"] for k in a["keys"]]
        records += [s["key"] for s in payload["seals"]]
        record = records[fdp.ConsumeIntInRange(0, len(records) - 1)]
        statement = cbor2.loads(cbor2.loads(base64.b64decode(record["statement"]))[0])
        for _ in range(fdp.ConsumeIntInRange(1, 3)):
            statement = mutate(fdp, statement)
        if (body := _canonical(statement, fdp)) is None:
            return
        signed = [body, self.m.root.sign(DOMAIN + body).signature]
        record["statement"] = base64.b64encode(cbor2.dumps(signed)).decode()
        if fdp.ConsumeBool():
            record["status"] = fdp.PickValueInList(["active", "retired", "revoked"])
            when = fdp.PickValueInList([None, 0, 1, VERIFY_AT, 253402300799, 253402300800, -1])
            record[fdp.PickValueInList(["retired_at", "revoked_at"])] = when
        self._bundle(json.dumps(payload, ensure_ascii=False).encode())

    def _bundle(self, payload: bytes) -> None:
        """Open ``payload`` signed by the root, pinned; verify the documents with it."""
        envelope = seal_envelope(BUNDLE_TYPE, payload, self.m.root)
        try:
            bundle = open_bundle(envelope, pinned_root_key_id=self.pin)
        except EsealError:
            return
        store = TrustStore([bundle])
        try:
            status: StatusSource | None = SnapshotStatus([open_snapshot(self.m.snapshot, store)])
        except EsealError:
            status = None
        self._verify_all(store, status)
        self._verify_all(TrustStore([self.bundle, bundle]), SnapshotStatus([self.snapshot]))

    def _snapshot(self, payload: bytes) -> None:
        try:
            snapshot = open_snapshot(seal_envelope(SNAPSHOT_TYPE, payload, self.m.log), self.store)
        except EsealError:
            return
        self._verify_all(self.store, SnapshotStatus([snapshot]))

    def _verify_all(self, store: TrustStore, status: StatusSource | None) -> None:
        ctx = VerifyContext(store, VERIFY_AT, status=status)
        for text in self.m.texts:
            _verify(text, ctx, document=self.m.document)


class Ledger:
    """The ledger's and the keys' parsers. First byte: 0 ``keys.cbor.loads`` (and with
    ``max_items``), 1 entry bytes (decoded strictly and not, read as stored), 2 a
    structured mutation of a real entry, 3 a signed note (text and bytes) opened and read
    as a checkpoint, 4 a checkpoint body signed by the log key, 5 ``Checkpoint.parse``,
    6 a verifier key, 7 a key statement (signed and not), 8 a structured mutation of a real
    key statement certified by the root, its chain checked, 9 a cascade."""

    def __init__(self, material: Material, provider: MakeProvider) -> None:
        self.m, self.provider = material, provider
        self.verifier = parse_verifier_key(material.log_verifier)
        self.bundle = open_bundle(material.bundle)
        self.statements = [k.statement for a in self.bundle.agencies for k in a.keys]
        self.statements += [s.key.statement for s in self.bundle.seals]
        store = TrustStore([self.bundle])
        self.cascades = list(open_snapshot(material.snapshot, store).statuses.values())

    def seeds(self) -> Iterator[bytes]:
        for entry in self.m.entries:
            yield from (b"\0" + entry, b"\1" + entry, b"\2" + os.urandom(12))
        for note in self.m.checkpoints[-3:]:
            body = open_note(note, [self.verifier]).text
            yield from (b"\3" + note.encode(), b"\4" + body.encode(), b"\5" + body.encode())
        yield b"\6" + self.m.log_verifier.encode()
        for signed in self.statements:
            yield from (b"\7" + signed.to_bytes(), b"\7" + signed.statement_bytes)
            yield b"\x08" + os.urandom(12)
        yield from (b"\x09" + cascade.to_bytes() for cascade in self.cascades)

    def __call__(self, data: bytes) -> None:  # noqa: PLR0912 - one branch a mode
        if not data:
            return
        mode, rest = data[0] % 10, data[1:]
        if mode == 0:
            for limit in (None, 1000):
                with contextlib.suppress(cbor2.CBORDecodeError):
                    strict_cbor.loads(rest, max_items=limit)
        elif mode == 1:
            self._entry(rest)
        elif mode == 2:
            fdp = self.provider(rest)
            entry = cbor2.loads(self.m.entries[fdp.ConsumeIntInRange(0, len(self.m.entries) - 1)])
            for _ in range(fdp.ConsumeIntInRange(1, 3)):
                entry = mutate(fdp, entry)
            if (raw := _canonical(entry, fdp)) is not None:
                self._entry(raw)
        elif mode == 3:
            for note in (rest, rest.decode("utf-8", "replace")):
                with contextlib.suppress(EsealError):
                    verify_checkpoint(note, self.verifier)
                with contextlib.suppress(EsealError):
                    open_note(note, [self.verifier])
        elif mode == 4:
            try:
                note = sign_note(rest.decode("utf-8", "replace"), self.verifier.name, self.m.log)
            except EsealError:
                return
            _refused_or(lambda: verify_checkpoint(note, self.verifier))
        elif mode == 5:
            _refused_or(lambda: Checkpoint.parse(rest.decode("utf-8", "replace")))
        elif mode == 6:
            _refused_or(lambda: parse_verifier_key(rest.decode("utf-8", "replace")))
        elif mode == 7:
            _refused_or(lambda: SignedStatement.from_bytes(rest).statement)
            _refused_or(lambda: KeyStatement.from_bytes(rest))
        elif mode == 8:
            self._certified(self.provider(rest))
        else:
            try:
                cascade = Cascade.from_bytes(rest)
            except EsealError:
                return
            cascade.contains_digest(bytes(16))
        tags_still_hash()

    def _entry(self, data: bytes) -> None:
        _refused_or(lambda: decode_entry(data))
        _refused_or(lambda: decode_entry(data, strict=False))
        _refused_or(lambda: stored_entry_act(data))
        _refused_or(lambda: stored_entry_prev(data))

    def _certified(self, fdp: Provider) -> None:
        signed = self.statements[fdp.ConsumeIntInRange(0, len(self.statements) - 1)]
        statement = cbor2.loads(signed.statement_bytes)
        for _ in range(fdp.ConsumeIntInRange(1, 3)):
            statement = mutate(fdp, statement)
        if (body := _canonical(statement, fdp)) is None:
            return
        raw = cbor2.dumps([body, self.m.root.sign(DOMAIN + body).signature])
        _refused_or(
            lambda: verify_statement_chain(
                [SignedStatement.from_bytes(raw)],
                self.bundle.root_public_key,
                at=fdp.ConsumeIntInRange(0, 2**40),
                role=fdp.PickValueInList(list(Role)),
                license_type=fdp.PickValueInList([None, "111000000000PH001J001", "x"]),
            )
        )


class Scan:
    """``read_qr`` on image files (seeds: the first text's QR code in each format read)."""

    def __init__(self, material: Material, provider: MakeProvider) -> None:
        self.m = material

    def seeds(self) -> Iterator[bytes]:
        image = Image.open(io.BytesIO(self.m.qr_png))
        for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"):
            for mode in ("L", "1", "RGB"):
                out = io.BytesIO()
                image.convert(mode).save(out, fmt)
                yield out.getvalue()

    def __call__(self, data: bytes) -> None:
        _refused_or(lambda: read_qr(data))


class Policy:
    """Witness policy files (``verifier.witness_policy.parse_policy``). First byte: 0 the
    bytes as a file; 1 a file of lines the fuzzer builds (log, witness, group and quorum
    lines over the region's log key, another log's and four witness keys, two of them one
    witness's old and new keys under one key name; names, thresholds, separators, line
    ends, comments and URLs from lists of good and bad ones). A refusal must be a
    WitnessPolicyInvalid naming its line (or the file's size, encoding or missing lines). A
    file taken is checked against the region's last checkpoint cosigned by the witnesses
    the fuzzer picks: the cosigners are exactly the quorum's witnesses whose keys cosigned,
    each once; all of them meet the quorum, none of them only ``quorum none``; a cosigner
    added never unmeets it, and a quorum met has at least its fewest cosigners."""

    KEY_NAMES = (
        "eseal/440000/witness",
        "eseal/320000/witness",
        "eseal/330000/witness",
        "eseal/330000/witness",
    )
    NAMES = ("gd", "js", "zj-old", "zj-new", "zj", "south", "q", "广东", "all", "2", "+")
    BAD_NAMES = ("none", "a#b", "x" * 257, "g\u200b", "q\x00")
    THRESHOLDS = ("all", "any", "1", "2", "3", "0", "01", "+1", "-1", "9999", "most")
    URLS = ("https://node.example", "http://[::1]:8080/", "ftp://x", "http://[::1", "http://a:x")
    SPACES = (" ", " ", "\t", "  \t", "\u3000", "\u00a0")

    def __init__(self, material: Material, provider: MakeProvider) -> None:
        self.m, self.provider = material, provider
        self.log = parse_verifier_key(material.log_verifier)
        self.note = material.checkpoints[-1]
        self.body = open_note(self.note, [self.log]).text
        self.signers = [
            SigningKey(hashlib.sha256(b"fuzz witness %d" % i).digest()) for i in range(4)
        ]
        self.keys = [
            cosigner_key(name, bytes(k.verify_key))
            for name, k in zip(self.KEY_NAMES, self.signers, strict=True)
        ]
        other = SigningKey(hashlib.sha256(b"fuzz another log").digest())
        self.log_keys = (
            material.log_verifier,
            str(NoteVerifier("eseal/310000", bytes(other.verify_key))),
        )

    def seeds(self) -> Iterator[bytes]:
        log = self.m.log_verifier
        gd, js, zj, zj2 = self.keys
        yield (
            b"\0"
            + (
                f"# a region's log\nlog {log} https://node.example\nwitness gd {gd}\n"
                f"witness js\t{js}\nwitness zj-old {zj}\nwitness zj-new {zj2}\n"
                "group zj any zj-old zj-new\ngroup south any gd zj\ngroup q all js south\n"
                "quorum q\n"
            ).encode()
        )
        yield b"\0" + f"log {log}\nquorum none\n".encode()
        yield b"\0" + f"log {log}\nwitness gd {gd}\nquorum gd\n".encode()
        for _ in range(8):
            yield b"\1" + os.urandom(64)

    def __call__(self, data: bytes) -> None:
        if not data:
            return
        if data[0] % 2 == 0:
            self._parsed(data[1:])
            tags_still_hash()
            return
        fdp = self.provider(data[1:])
        policy = self._parsed(self._built(fdp).encode())
        if policy is not None:
            self._checked(policy, fdp)
        tags_still_hash()

    def _parsed(self, data: bytes) -> PolicyFile | None:
        try:
            return parse_policy(data)
        except WitnessPolicyInvalid as e:
            if not e.message.startswith(("line ", "the policy ")):
                raise Broken(f"a refusal that names no line: {e.message!r}") from e
            return None

    def _built(self, fdp: Provider) -> str:
        """A file mostly well formed (names defined before use, each a member once), then
        a few lines of it replaced, added or moved as the fuzzer says."""
        lines = [["log", fdp.PickValueInList(list(self.log_keys))]]
        names = list(self.NAMES)
        odd = fdp.ConsumeIntInRange(0, 7) == 0  # a file with odd spaces and line ends
        free: list[str] = []  # the names defined, not yet a member
        keys = list(self.keys)
        for _ in range(fdp.ConsumeIntInRange(0, len(keys))):
            name = names.pop(fdp.ConsumeIntInRange(0, len(names) - 1))
            key = keys.pop(fdp.ConsumeIntInRange(0, len(keys) - 1))
            lines.append(["witness", name, key])
            free.append(name)
        for _ in range(fdp.ConsumeIntInRange(0, 4)):
            members = [m for m in free if fdp.ConsumeBool()]
            if not members or not names:
                break
            free = [m for m in free if m not in members]
            n = len(members)
            threshold = fdp.PickValueInList(["all", "any", *map(str, range(1, n + 1))])
            name = names.pop(fdp.ConsumeIntInRange(0, len(names) - 1))
            lines.append(["group", name, threshold, *members])
            free.append(name)
        lines.append(["quorum", fdp.PickValueInList([*free, "none"]) if free else "none"])
        for _ in range(fdp.ConsumeIntInRange(0, 3) if fdp.ConsumeBool() else 0):
            at = fdp.ConsumeIntInRange(0, len(lines))
            change = fdp.ConsumeIntInRange(0, 3)
            if change == 0 and at < len(lines):
                lines.insert(fdp.ConsumeIntInRange(0, len(lines) - 1), lines.pop(at))
            elif change == 1 and at < len(lines):
                item = fdp.ConsumeIntInRange(0, len(lines[at]) - 1)
                lines[at][item] = self._item(fdp)
            elif change == 2 and at < len(lines):
                lines[at].append(self._item(fdp))
            else:
                lines.insert(at, self._line(fdp))
        out = []
        for items in lines:
            spaces = self.SPACES if odd else self.SPACES[:3]
            line = fdp.PickValueInList(list(spaces)).join(items)
            comment = fdp.ConsumeIntInRange(0, 7)
            if comment == 0:
                line += "  # 注释 a comment"
            elif comment == 1 and odd:
                line += " # " + fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 20))
            out.append(line + ("\r\n" if odd and fdp.ConsumeBool() else "\n"))
        return "".join(out)

    def _line(self, fdp: Provider) -> list[str]:
        kind = fdp.PickValueInList(["log", "witness", "group", "quorum", "", "lgo"])
        return [kind, *(self._item(fdp) for _ in range(fdp.ConsumeIntInRange(0, 4)))]

    def _item(self, fdp: Provider) -> str:
        choice = fdp.ConsumeIntInRange(0, 5)
        if choice == 0:
            return fdp.PickValueInList([*self.log_keys, *self.keys])
        if choice == 1:
            return fdp.PickValueInList(list(self.THRESHOLDS))
        if choice == 2:
            return fdp.PickValueInList(list(self.URLS))
        if choice == 3:
            return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12))
        return fdp.PickValueInList([*self.NAMES, *self.BAD_NAMES])

    def _cosigned(self, which: Collection[int]) -> str:
        return self.note + "".join(
            cosign(self.body, self.KEY_NAMES[i], self.signers[i], VERIFY_AT) for i in sorted(which)
        )

    def _checked(self, policy: PolicyFile, fdp: Provider) -> None:
        if not policy.covers(self.log):
            try:
                policy.check(self._cosigned(range(4)), self.log)
            except WitnessPolicyUncovered:
                return
            raise Broken("a policy that names no quorum for the log checked its checkpoint")
        chosen = {i for i in range(4) if fdp.ConsumeBool()}
        seen = policy.check(self._cosigned(chosen), self.log)
        counted = set(policy.quorum.witnesses())
        signed = {bytes(self.signers[i].verify_key) for i in chosen}
        expected = tuple(
            w.name for w in policy.witnesses if w.name in counted and w.key.public_key in signed
        )
        if seen.cosigners != expected or len(set(seen.cosigners)) != len(seen.cosigners):
            raise Broken(f"cosigners {seen.cosigners}, expected {expected}")
        if seen.met and len(seen.cosigners) < policy.quorum.fewest():
            raise Broken(f"{policy.quorum.describe()} met by {seen.cosigners}")
        if not policy.check(self._cosigned(range(4)), self.log).met:
            raise Broken(f"{policy.quorum.describe()} not met by every witness")
        if policy.check(self.note, self.log).met != (not policy.quorum.members):
            raise Broken(f"{policy.quorum.describe()} met by no witness")
        more = chosen | {fdp.ConsumeIntInRange(0, 3)}
        if seen.met and not policy.check(self._cosigned(more), self.log).met:
            raise Broken(f"{policy.quorum.describe()} unmet by one more cosigner")
        seen.describe()


class Witness:
    """The tlog-witness ``POST /add-checkpoint`` body a node takes from anyone
    (``AddCheckpointRequest.parse``), decided against the region's log
    (``ledger.witness.add_checkpoint``, as the node does, holding one of its checkpoints or
    none). First byte: 0 the body's bytes; 1 a request built from the log's real
    checkpoints and consistency proofs (the held one, the new one, the old size, the proof
    and the note each maybe changed as the fuzzer says), its body maybe cut or spliced;
    2 a checkpoint body the fuzzer writes, signed by the log key, with a real proof. A
    refusal to parse must be an AddCheckpointMalformed; a body parsed must be the request's
    own body (one spelling); the decision must not raise, its HTTP status must be the
    spec's for its reason (409 with the witness's size); a cosignature only for a
    checkpoint the log signed, of the held size with the held root or larger and proved
    consistent with it; and an honest request (the held size, its real proof) cosigned."""

    STATUSES: ClassVar[dict[Refusal, frozenset[int]]] = {
        Refusal.UNKNOWN_ORIGIN: frozenset({404}),
        Refusal.BAD_LOG_SIGNATURE: frozenset({403}),
        Refusal.CHECKPOINT_MALFORMED: frozenset({400}),
        Refusal.OLD_SIZE_ABOVE_CHECKPOINT: frozenset({400}),
        Refusal.OLD_SIZE_CONFLICT: frozenset({409}),
        Refusal.ROLLBACK: frozenset({400, 409}),
        Refusal.FORK: frozenset({400, 409}),
        Refusal.BAD_CONSISTENCY_PROOF: frozenset({422}),
    }

    def __init__(self, material: Material, provider: MakeProvider) -> None:
        self.m, self.provider = material, provider
        self.log = parse_verifier_key(material.log_verifier)
        self.tree = MemoryTree(leaf_hash(e) for e in material.entries)
        self.notes = list(material.checkpoints)
        self.checkpoints = [verify_checkpoint(n, self.log) for n in self.notes]
        self.witness = SigningKey(hashlib.sha256(b"fuzz witness").digest())
        self.verifier = parse_cosigner_key(
            cosigner_key("eseal/990000/witness", bytes(self.witness.verify_key))
        )

    def seeds(self) -> Iterator[bytes]:
        last = len(self.checkpoints) - 1
        for old in (0, last // 2, last - 1):
            cp = self.checkpoints[old]
            proof = consistency_proof(cp.size, self.checkpoints[last].size, self.tree)
            yield (
                b"\0"
                + AddCheckpointRequest(cp.size, tuple(proof), self.notes[last]).body().encode()
            )
        for mode in (1, 2) * 6:
            yield bytes([mode]) + os.urandom(24)

    def __call__(self, data: bytes) -> None:
        if not data:
            return
        mode, rest = data[0] % 3, data[1:]
        held = None
        if mode == 0:
            body, honest = rest, False
        else:
            fdp = self.provider(rest)
            held = self._held(fdp)
            body, honest = self._body(fdp, held, mode)
        try:
            request = AddCheckpointRequest.parse(body)
        except AddCheckpointMalformed:
            if honest:
                raise Broken("an honest request's body was refused") from None
            return
        if (request.body().encode() if isinstance(body, bytes) else request.body()) != body:
            raise Broken(f"{body!r} parsed as the request of another body {request.body()!r}")
        if mode == 0 and (i := len(rest) % (len(self.checkpoints) + 1)):
            held = self.checkpoints[i - 1]
        self._decided(request, held, honest)
        tags_still_hash()

    def _held(self, fdp: Provider) -> Checkpoint | None:
        i = fdp.ConsumeIntInRange(0, len(self.checkpoints))
        return self.checkpoints[i - 1] if i else None

    def _body(self, fdp: Provider, held: Checkpoint | None, mode: int) -> tuple[bytes, bool]:
        known = held.size if held is not None else 0
        later = [i for i, cp in enumerate(self.checkpoints) if cp.size >= known]
        new = self.checkpoints[fdp.PickValueInList(later)] if later else self.checkpoints[-1]
        note = self.notes[self.checkpoints.index(new)]
        honest = True
        if mode == 2:
            written = self._written(fdp, new)
            try:
                note = sign_note(written, self.log.name, self.m.log)
            except EsealError:
                note = written
            honest = False
        old = known
        if fdp.ConsumeIntInRange(0, 3) == 0:
            old = fdp.PickValueInList([0, 1, known - 1, known + 1, 2**64 - 1, 2**64, -1])
            honest = False
        try:
            target = Checkpoint.of_note(note).size
        except EsealError:
            target = known
        try:
            proof = consistency_proof(old, target, self.tree) if 0 < old < target else []
        except (EsealError, ValueError, IndexError):
            proof = []
        if fdp.ConsumeIntInRange(0, 3) == 0:
            proof, honest = self._changed(fdp, list(proof)), False
        if fdp.ConsumeIntInRange(0, 3) == 0:
            with contextlib.suppress(EsealError):  # cosign or sign_note refusing the body
                note = self._note(fdp, note)
            honest = False
        proof_text = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
        text = f"old {old}\n{proof_text}\n{note}"
        if fdp.ConsumeIntInRange(0, 7) == 0:
            at = fdp.ConsumeIntInRange(0, len(text))
            cut = fdp.ConsumeIntInRange(0, 8)
            text = text[:at] + fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 4)) + text[at + cut :]
            honest = False
        return text.encode("utf-8", "surrogatepass"), honest

    def _written(self, fdp: Provider, real: Checkpoint) -> str:
        """A checkpoint body near ``real`` (size, root, extension lines, line ends)."""
        lines = real.body().split("\n")[:-1]
        for _ in range(fdp.ConsumeIntInRange(1, 3)):
            at = fdp.ConsumeIntInRange(0, len(lines))
            choice = fdp.ConsumeIntInRange(0, 4)
            if choice == 0:
                lines.insert(at, fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 30)))
            elif choice == 1 and at < len(lines):
                del lines[at]
            elif choice == 2:
                lines[min(at, len(lines) - 1)] = str(
                    fdp.PickValueInList([0, 1, real.size - 1, real.size + 1, 2**64 - 1, 2**64])
                )
            elif choice == 3:
                root = fdp.PickValueInList([EMPTY_ROOT, bytes(32), real.root_hash])
                lines[min(at, len(lines) - 1)] = base64.b64encode(root).decode()
            else:
                lines.append("— x" * fdp.ConsumeIntInRange(1, 3))
        return "\n".join(lines) + "\n"

    def _changed(self, fdp: Provider, proof: list[bytes]) -> list[bytes]:
        choice = fdp.ConsumeIntInRange(0, 4)
        if choice == 0 and proof:
            del proof[fdp.ConsumeIntInRange(0, len(proof) - 1)]
        elif choice == 1:
            proof.append(fdp.ConsumeBytes(32).ljust(32, b"\0"))
        elif choice == 2 and proof:
            i = fdp.ConsumeIntInRange(0, len(proof) - 1)
            proof[i] = bytes([proof[i][0] ^ 1]) + proof[i][1:]
        elif choice == 3:
            proof = proof * fdp.ConsumeIntInRange(2, 40)
        else:
            proof.reverse()
        return proof

    def _note(self, fdp: Provider, note: str) -> str:
        """``note`` with a signature line added (another key's, the witness's own, a false
        one by the log's key), its signature block changed, or another note's block."""
        choice = fdp.ConsumeIntInRange(0, 5)
        body = note[: note.rfind("\n\n") + 1] if "\n\n" in note else note
        if choice == 0:
            return note + cosign(body, "eseal/990000/witness", self.witness, VERIFY_AT)
        if choice == 1:
            other = SigningKey(hashlib.sha256(b"fuzz other").digest())
            return sign_note(body, self.log.name, other) if body.endswith("\n") else note
        if choice == 2:
            return note + self.notes[0][self.notes[0].rfind("\n\n") + 2 :]
        if choice == 3:
            return note * fdp.ConsumeIntInRange(1, 3)
        if choice == 4:
            lines = note.split("\n")
            lines.insert(fdp.ConsumeIntInRange(0, len(lines)), "— " + fdp.ConsumeUnicode(20))
            return "\n".join(lines)
        return note[: fdp.ConsumeIntInRange(0, len(note))]

    def _decided(
        self, request: AddCheckpointRequest, held: Checkpoint | None, honest: bool
    ) -> None:
        known = self.log if request.origin == self.log.name else None
        result = add_checkpoint(
            request,
            log_key=known,
            held=held if known is not None else None,
            witness_name=self.verifier.name,
            witness_key=self.witness,
            time=VERIFY_AT,
        )
        size = held.size if held is not None and known is not None else 0
        if not isinstance(result, Cosigned):
            if result.status not in self.STATUSES[result.reason]:
                raise Broken(f"{result.reason} answered {result.status}")
            if (result.status == 409) != (result.known_size is not None):
                raise Broken(f"a {result.status} with the witness's size {result.known_size}")
            if result.known_size is not None and result.known_size != size:
                raise Broken(f"a 409 says size {result.known_size}, the witness holds {size}")
            if honest:
                raise Broken(f"an honest request refused: {result.reason} {result.detail}")
            return
        cp = verify_checkpoint(request.note, self.log)  # the log signed it
        if cp != result.checkpoint or request.old_size != size or cp.size < size:
            raise Broken(f"cosigned {cp} from old size {request.old_size}, holding {size}")
        root = held.root_hash if held is not None else EMPTY_ROOT
        if request.old_size in (0, cp.size):
            if request.proof or (cp.size == size and cp.root_hash != root and size > 0):
                raise Broken(f"cosigned {cp} with proof {request.proof} holding {held}")
        else:
            verify_consistency(size, cp.size, list(request.proof), root, cp.root_hash)
        witnessed_by(request.note + result.cosignature, self.log, [self.verifier])


def _refused_or(call: Callable[[], object]) -> None:
    """``call()``, which may refuse its input with one of eseal's errors."""
    with contextlib.suppress(EsealError):
        call()


def _open_bundle(data: bytes, pin: bytes) -> None:
    for pinned in (None, pin):
        with contextlib.suppress(EsealError):
            open_bundle(data, pinned_root_key_id=pinned)


TARGETS: dict[
    str, Callable[[Material, MakeProvider], Verify | Trust | Ledger | Scan | Policy | Witness]
] = {
    "verify": Verify,
    "trust": Trust,
    "ledger": Ledger,
    "scan": Scan,
    "policy": Policy,
    "witness": Witness,
}
