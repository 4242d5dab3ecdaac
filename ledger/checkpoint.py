"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes with Ed25519 keys, pure.

Specs: https://c2sp.org/tlog-checkpoint and https://c2sp.org/signed-note (signature type 0x01).
Witness cosignatures (signature type 0x04) are in :mod:`ledger.cosignature`, on this note code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from nacl.exceptions import CryptoError
from nacl.signing import SigningKey, VerifyKey

from keys.errors import CheckFailed, InvalidInput, shown
from ledger.merkle import HASH_SIZE, MAX_TREE_SIZE

#: The signed-note signature type byte of Ed25519 keys.
ED25519_TYPE = 0x01
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
KEY_HASH_SIZE = 4

MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100
MAX_NAME_BYTES = 256
MAX_EXTENSIONS = 32
MAX_EXTENSION_BYTES = 1024

#: A signature line starts with an em dash (U+2014) and a space.
SIGNATURE_PREFIX = "\u2014 "

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls other than newline
_TREE_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")  # ASCII decimal, no leading zeroes
_KEY_HASH_HEX = re.compile(r"[0-9a-f]{8}")


class KeyNameInvalid(InvalidInput):
    """A key name to sign with is empty, too long, or holds a space, plus or control character."""

    code = "note-key-name-invalid"


class VerifierKeyInvalid(InvalidInput):
    """A verifier key string is malformed, of an unknown type, or its key hash does not match."""

    code = "note-verifier-key-invalid"


class NoteMalformed(InvalidInput):
    """A signed note breaks the signed-note format (encoding, separator, signature lines)."""

    code = "note-malformed"


class NoteTooLarge(InvalidInput):
    """A signed note is over 1 MiB or carries more than 100 signature lines."""

    code = "note-too-large"


class CheckpointMalformed(InvalidInput):
    """A checkpoint body breaks the tlog-checkpoint format."""

    code = "checkpoint-malformed"


class NoteSignatureInvalid(CheckFailed):
    """A signature from a known key does not verify: the note is rejected whole."""

    code = "note-signature-invalid"


class UnverifiedNote(CheckFailed):
    """No signature on the note comes from a known key."""

    code = "note-unverified"


class CheckpointOriginMismatch(CheckFailed):
    """The checkpoint's origin line is not the name of the log key that signed it."""

    code = "checkpoint-origin-mismatch"


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a key name (non-empty, no Unicode spaces, no plus), or None."""
    if not name:
        return "key name is empty"
    if "+" in name or any(ch.isspace() for ch in name):
        return f"key name {shown(name)} contains a space or a plus"
    if _CONTROL.search(name) or "\x7f" in name:
        return f"key name {shown(name)} contains a control character"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return f"key name {shown(name)} is not valid Unicode"
    if size > MAX_NAME_BYTES:
        return f"key name is {size} bytes, at most {MAX_NAME_BYTES} allowed"
    return None


def key_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a note key name, or None."""
    return _name_problem(name)


def strict_b64(value: str) -> bytes | None:
    """Standard padded base64 in its one canonical spelling, or None."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == value else None


def key_hash(name: str, public_key: bytes, signature_type: int = ED25519_TYPE) -> bytes:
    """key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]; the type is
    0x01 for a note's Ed25519 signature, 0x04 for a cosignature/v1."""
    data = name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key
    return hashlib.sha256(data).digest()[:KEY_HASH_SIZE]


def origin_problem(origin: str) -> str | None:
    """Why ``origin`` cannot be a log's origin (its checkpoints' first line, and its log
    key's name), or None."""
    problem = _name_problem(origin)
    return None if problem is None else problem.replace("key name", "origin", 1)


@dataclass(frozen=True)
class NoteVerifier:
    """A known Ed25519 note key: its name, public key and the derived 4-byte key hash.

    A subclass may use an Ed25519 key under another signature type byte (so another key
    hash) with its own signed message: :class:`ledger.cosignature.CosignatureVerifier`.
    """

    #: The signed-note signature type byte, in the key hash and the verifier key string.
    signature_type: ClassVar[int] = ED25519_TYPE
    #: What a verifier key string of another type is told it is not.
    type_label: ClassVar[str] = "Ed25519"

    name: str
    public_key: bytes
    key_hash: bytes = field(init=False)

    def __post_init__(self) -> None:
        problem = _name_problem(self.name)
        if problem:
            raise VerifierKeyInvalid(problem)
        if not isinstance(self.public_key, bytes) or len(self.public_key) != ED25519_KEY_SIZE:
            raise VerifierKeyInvalid(f"an Ed25519 public key is {ED25519_KEY_SIZE} bytes")
        digest = key_hash(self.name, self.public_key, self.signature_type)
        object.__setattr__(self, "key_hash", digest)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            VerifyKey(self.public_key).verify(message, signature)
        except CryptoError:
            return False
        return True

    def __str__(self) -> str:
        """<name>+<key hash, 8 hex digits>+<base64(signature type || public key)>."""
        encoded = base64.b64encode(bytes([self.signature_type]) + self.public_key)
        return f"{self.name}+{self.key_hash.hex()}+{encoded.decode('ascii')}"


def verifier_key(name: str, public_key: bytes) -> str:
    """<name>+<key hash, 8 hex digits>+<base64(0x01 || public key)>."""
    return str(NoteVerifier(name, public_key))


V = TypeVar("V", bound=NoteVerifier)


def parse_verifier_key(text: str) -> NoteVerifier:
    """Parse an Ed25519 (0x01) verifier key string strictly; its key hash must match its
    name and key."""
    return parse_typed_key(text, NoteVerifier)


def parse_typed_key(text: str, kind: type[V]) -> V:
    """Parse a verifier key string strictly as a ``kind`` key: its type byte must be
    ``kind.signature_type``, and its key hash must match its name and key."""
    if len(text) > MAX_NAME_BYTES + 64:
        raise VerifierKeyInvalid("verifier key is too long")
    name, sep1, rest = text.partition("+")
    hash_hex, sep2, encoded = rest.partition("+")
    if not (sep1 and sep2):
        raise VerifierKeyInvalid("verifier key is not <name>+<hash>+<key>")
    if not _KEY_HASH_HEX.fullmatch(hash_hex):
        raise VerifierKeyInvalid("verifier key hash is not 8 lowercase hex digits")
    raw = strict_b64(encoded)
    if raw is None or len(raw) != 1 + ED25519_KEY_SIZE:
        raise VerifierKeyInvalid("verifier key is not base64 of a type byte and 32 key bytes")
    if raw[0] != kind.signature_type:
        wanted = f"{kind.type_label} (0x{kind.signature_type:02x})"
        raise VerifierKeyInvalid(f"verifier key type 0x{raw[0]:02x} is not {wanted}")
    verifier = kind(name, raw[1:])
    if verifier.key_hash.hex() != hash_hex:
        raise VerifierKeyInvalid(f"verifier key hash {hash_hex} does not match {name}'s key")
    return verifier


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key hash and the signature bytes after it."""

    name: str
    key_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedNote:
    """An opened note: its text, the signatures that verified, and those from unknown keys."""

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...] = ()


def _text_bytes(text: str) -> bytes:
    """UTF-8 of note text with no ASCII control character other than newline."""
    if len(text) > MAX_NOTE_BYTES:
        raise NoteTooLarge(f"note is over {MAX_NOTE_BYTES} bytes")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise NoteMalformed("note is not valid UTF-8") from e
    if len(data) > MAX_NOTE_BYTES:
        raise NoteTooLarge(f"note is {len(data)} bytes, at most {MAX_NOTE_BYTES} allowed")
    if _CONTROL.search(text):
        raise NoteMalformed("note contains an ASCII control character other than newline")
    return data


def sign_note(text: str, name: str, signing_key: SigningKey) -> str:
    """Sign ``text`` (ending in a newline) as ``name``: text, blank line, signature line."""
    if not text.endswith("\n"):
        raise NoteMalformed("note text must end with a newline")
    message = _text_bytes(text)
    problem = _name_problem(name)
    if problem:
        raise KeyNameInvalid(problem)
    public_key = bytes(signing_key.verify_key)
    signature = signing_key.sign(message).signature
    note = f"{text}\n{signature_line(name, key_hash(name, public_key), signature)}"
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise NoteTooLarge(f"signed note would be over {MAX_NOTE_BYTES} bytes")
    return note


def signature_line(name: str, key_hash: bytes, signature: bytes) -> str:
    """— <key name> base64(32-bit key ID || signature), and its newline."""
    encoded = base64.b64encode(key_hash + signature).decode("ascii")
    return f"{SIGNATURE_PREFIX}{name} {encoded}\n"


def _parse_signature_line(line: str) -> NoteSignature:
    """— <key name> base64(32-bit key ID || signature)."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteMalformed("signature line does not start with an em dash and a space")
    name, sep, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not sep:
        raise NoteMalformed("signature line has no space between key name and signature")
    problem = _name_problem(name)
    if problem:
        raise NoteMalformed(f"signature line: {problem}")
    raw = strict_b64(encoded)
    if raw is None or len(raw) <= KEY_HASH_SIZE:
        raise NoteMalformed(f"signature by {name!r} is not base64 of a key hash and a signature")
    return NoteSignature(name, raw[:KEY_HASH_SIZE], raw[KEY_HASH_SIZE:])


def _index(verifiers: Sequence[NoteVerifier]) -> dict[tuple[str, bytes], NoteVerifier]:
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        other = known.setdefault((v.name, v.key_hash), v)
        if other.public_key != v.public_key:
            raise VerifierKeyInvalid(f"two verifier keys share name {v.name!r} and key hash")
    return known


def _decode_note(note: str | bytes) -> str:
    if len(note) > MAX_NOTE_BYTES:
        raise NoteTooLarge(f"note is over {MAX_NOTE_BYTES} bytes")
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NoteMalformed("note is not valid UTF-8") from e
    _text_bytes(note)
    return note


def open_note(note: str | bytes, verifiers: Sequence[NoteVerifier]) -> SignedNote:
    """Parse a signed note and verify it: at least one known key signed it, none falsely.

    Signatures from unknown keys (name and key hash not both known) are ignored. A known key
    may sign more than once (a witness cosigning the same checkpoint at two times): each of
    its signatures must verify, and the key is listed once, by its first.
    """
    known = _index(verifiers)
    decoded = _decode_note(note)
    split = decoded.rfind("\n\n")  # the text is separated by the last empty line
    if split < 0:
        raise NoteMalformed("no blank line separates the text from the signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block.endswith("\n"):
        raise NoteMalformed("the signature block is empty or does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteTooLarge(f"note has {len(lines)} signatures, at most {MAX_SIGNATURES} allowed")
    message = text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for line in lines:
        sig = _parse_signature_line(line)
        verifier = known.get((sig.name, sig.key_hash))
        if verifier is None:
            unverified.append(sig)
            continue
        if not verifier.verify(message, sig.signature):
            raise NoteSignatureInvalid(f"the signature by known key {sig.name!r} does not verify")
        if not any(v.name == sig.name and v.key_hash == sig.key_hash for v in verified):
            verified.append(sig)
    if not verified:
        raise UnverifiedNote("no signature on the note is from a known key")
    return SignedNote(text, tuple(verified), tuple(unverified))


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, RFC 9162 root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problem = _name_problem(self.origin)
        if problem:  # the origin is also the name of the log key that signs it
            raise CheckpointMalformed(f"origin: {problem}")
        size = self.size
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
            raise CheckpointMalformed(f"tree size {size!r} is not in [0, 2^64)")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise CheckpointMalformed(f"root hash must be {HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple) or len(self.extensions) > MAX_EXTENSIONS:
            raise CheckpointMalformed(f"at most {MAX_EXTENSIONS} extension lines, as a tuple")
        for line in self.extensions:
            if not line or "\n" in line or _CONTROL.search(line):
                raise CheckpointMalformed("extension lines must be non-empty single lines")
            try:
                length = len(line.encode("utf-8"))
            except UnicodeEncodeError as e:
                raise CheckpointMalformed("extension line is not valid Unicode") from e
            if length > MAX_EXTENSION_BYTES:
                raise CheckpointMalformed(f"extension line over {MAX_EXTENSION_BYTES} bytes")

    def body(self) -> str:
        """<origin>\\n<size>\\n<base64 root hash>\\n then each extension line and \\n."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        head = f"{self.origin}\n{self.size}\n{root}\n"
        return head + "".join(f"{line}\n" for line in self.extensions)

    @classmethod
    def of_note(cls, note: str) -> Checkpoint:
        """The checkpoint a signed note carries (the text before its last blank line),
        parsed strictly, its signatures not checked: a note verified before it was stored,
        or one whose origin must be read to know which key to check it with."""
        return cls.parse(note[: note.rfind("\n\n") + 1])

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body strictly: three or more non-empty lines, each ending in \\n."""
        limit = MAX_NAME_BYTES + 64 + MAX_EXTENSIONS * (MAX_EXTENSION_BYTES + 1)
        if len(text) > limit:
            raise CheckpointMalformed("checkpoint is too long")
        if not text.endswith("\n"):
            raise CheckpointMalformed("checkpoint must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointMalformed("checkpoint needs origin, tree size and root hash lines")
        origin, size_line, root_line, *extensions = lines
        if not _TREE_SIZE.fullmatch(size_line):
            raise CheckpointMalformed(f"tree size {size_line!r} is not a plain decimal")
        root = strict_b64(root_line)
        if root is None:
            raise CheckpointMalformed("root hash is not canonical standard base64")
        if any(not line for line in extensions):
            raise CheckpointMalformed("extension lines must be non-empty")
        return cls(origin, int(size_line), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signing_key: SigningKey) -> str:
    """The checkpoint body as a note signed by the log key named after its origin."""
    return sign_note(checkpoint.body(), checkpoint.origin, signing_key)


def verify_checkpoint(note: str | bytes, verifier: NoteVerifier) -> Checkpoint:
    """Open a checkpoint note signed by ``verifier`` and parse it; origin must be the key name."""
    checkpoint = Checkpoint.parse(open_note(note, [verifier]).text)
    if checkpoint.origin != verifier.name:
        raise CheckpointOriginMismatch(
            f"checkpoint origin {checkpoint.origin!r} is not the log key name {verifier.name!r}"
        )
    return checkpoint
