"""Encrypted private key files (Argon2id + XSalsa20-Poly1305): the only place keys touch disk.

A key file is a small JSON object; the 32-byte seed is sealed with a key derived from a
passphrase. The label and the other fields are not authenticated: only the seed is secret.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ctypes
import functools
import itertools
import json
import os
import resource
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.secret
import nacl.signing
import nacl.utils
from nacl.pwhash import argon2id

from keys.ed25519 import InvalidPublicKey, check_public_key, key_id
from keys.errors import ExternalFailure, InvalidInput
from keys.strictjson import MalformedJson, loads_strict

FORMAT = "eseal-key/v1"
KDF = "argon2id"
MAX_KEY_FILE_SIZE = 64 * 1024
MAX_LABEL_LENGTH = 256
SEED_SIZE = 32
#: A new passphrase (``eseal init``, ``eseal passphrase``) has at least this many
#: characters, and at least :data:`MIN_DIGITS_PASSPHRASE_LENGTH` if it is only digits, at
#: least :data:`MIN_DISTINCT_CHARACTERS` different ones, and is neither a shorter sequence
#: repeated nor a run of consecutive characters (:func:`weak_passphrase_problem`).
MIN_PASSPHRASE_LENGTH = 12
MIN_DIGITS_PASSPHRASE_LENGTH = 16
MIN_DISTINCT_CHARACTERS = 5
#: What a new passphrase needs, as a refusal says it.
PASSPHRASE_RULE = (
    f"at least {MIN_PASSPHRASE_LENGTH} characters, at least {MIN_DISTINCT_CHARACTERS} "
    "different ones, no shorter sequence repeated, no run of consecutive characters, and at "
    f"least {MIN_DIGITS_PASSPHRASE_LENGTH} if it is only digits"
)
_FIELDS = frozenset(
    {"format", "kdf", "opslimit", "memlimit", "salt", "nonce", "ciphertext"}
    | {"public_key", "key_id", "label"}
)


class KeyFileNotFound(InvalidInput):
    """No key file at the given path."""

    code = "key-file-not-found"


class KeyFileExists(InvalidInput):
    """Writing would replace an existing key file, and overwriting was not asked for."""

    code = "key-file-exists"


class CorruptKeyFile(InvalidInput):
    """The key file is not a well-formed eseal-key/v1 file, or its fields disagree."""

    code = "corrupt-key-file"


class WrongPassphrase(InvalidInput):
    """The passphrase does not open the key file."""

    code = "wrong-passphrase"


class PassphraseMissing(InvalidInput):
    """No passphrase (empty, or the environment variable is unset)."""

    code = "passphrase-missing"


class WeakPassphrase(InvalidInput):
    """A new passphrase too easy to guess to seal a node's private keys with."""

    code = "weak-passphrase"


class InvalidKeyFileOptions(InvalidInput):
    """Options for writing a key file out of range: KDF limits or label length."""

    code = "invalid-key-file-options"


class KeyFileUnavailable(ExternalFailure):
    """The operating system failed us: permission denied, disk full, out of memory."""

    code = "key-file-unavailable"


@dataclass(frozen=True, slots=True)
class _Sealed:
    opslimit: int
    memlimit: int
    salt: bytes
    nonce: bytes
    ciphertext: bytes
    public_key: bytes
    label: str


def _require_passphrase(passphrase: bytes) -> None:
    if not isinstance(passphrase, bytes) or not passphrase:
        raise PassphraseMissing("a non-empty passphrase (bytes) is required for a key file")


def _limits_ok(opslimit: int, memlimit: int) -> bool:
    return (
        type(opslimit) is int
        and type(memlimit) is int
        and argon2id.OPSLIMIT_MIN <= opslimit <= argon2id.OPSLIMIT_SENSITIVE
        and argon2id.MEMLIMIT_MIN <= memlimit <= argon2id.MEMLIMIT_SENSITIVE
    )


def _derive(passphrase: bytes, sealed: _Sealed, where: object) -> nacl.secret.SecretBox:
    try:
        key = argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE,
            passphrase,
            sealed.salt,
            opslimit=sealed.opslimit,
            memlimit=sealed.memlimit,
        )
    except nacl.exceptions.RuntimeError as e:
        raise KeyFileUnavailable(
            f"could not derive the key for {where}: argon2id needs {sealed.memlimit} bytes "
            "of free memory"
        ) from e
    return nacl.secret.SecretBox(key)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _seal(
    signing_key: nacl.signing.SigningKey,
    passphrase: bytes,
    *,
    label: str,
    opslimit: int,
    memlimit: int,
) -> bytes:
    public_key = signing_key.verify_key.encode()
    sealed = _Sealed(
        opslimit=opslimit,
        memlimit=memlimit,
        salt=nacl.utils.random(argon2id.SALTBYTES),
        nonce=nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE),
        ciphertext=b"",
        public_key=public_key,
        label=label,
    )
    box = _derive(passphrase, sealed, "a new key file")
    ciphertext = box.encrypt(signing_key.encode(), sealed.nonce).ciphertext
    document = {
        "format": FORMAT,
        "kdf": KDF,
        "opslimit": opslimit,
        "memlimit": memlimit,
        "salt": _b64(sealed.salt),
        "nonce": _b64(sealed.nonce),
        "ciphertext": _b64(ciphertext),
        "public_key": _b64(public_key),
        "key_id": key_id(public_key).hex(),
        "label": label,
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _parse(data: bytes, where: object) -> _Sealed:
    """Strictly parse a key file's bytes: exact fields, types, lengths and bounds."""

    def corrupt(why: str) -> CorruptKeyFile:
        return CorruptKeyFile(f"key file {where} is corrupt: {why}; restore it from a backup")

    try:
        doc = loads_strict(data, what="its text", max_bytes=MAX_KEY_FILE_SIZE)
    except MalformedJson as e:
        raise corrupt(e.message) from e
    if not isinstance(doc, dict) or doc.keys() != _FIELDS:
        raise corrupt(f"expected exactly the fields {sorted(_FIELDS)}")
    if doc["format"] != FORMAT or doc["kdf"] != KDF:
        raise corrupt(f"format must be {FORMAT!r} with kdf {KDF!r}")
    if not _limits_ok(doc["opslimit"], doc["memlimit"]):
        raise corrupt(
            "opslimit/memlimit must be integers between the argon2id minimum and the "
            f"SENSITIVE limits ({argon2id.OPSLIMIT_SENSITIVE}, {argon2id.MEMLIMIT_SENSITIVE})"
        )

    def binary(name: str, size: int) -> bytes:
        text = doc[name]
        try:
            value = base64.b64decode(text, validate=True) if isinstance(text, str) else None
        except (binascii.Error, ValueError) as e:
            raise corrupt(f"{name} is not base64") from e
        if value is None or len(value) != size or _b64(value) != text:
            raise corrupt(f"{name} must be {size} bytes in canonical base64")
        return value

    public_key = binary("public_key", 32)
    if doc["key_id"] != key_id(public_key).hex():
        raise corrupt("key_id does not match public_key")
    if not isinstance(doc["label"], str):
        raise corrupt("label must be a string")
    return _Sealed(
        opslimit=doc["opslimit"],
        memlimit=doc["memlimit"],
        salt=binary("salt", argon2id.SALTBYTES),
        nonce=binary("nonce", nacl.secret.SecretBox.NONCE_SIZE),
        ciphertext=binary("ciphertext", SEED_SIZE + nacl.secret.SecretBox.MACBYTES),
        public_key=public_key,
        label=doc["label"],
    )


def _read_bounded(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(MAX_KEY_FILE_SIZE + 1)
    except FileNotFoundError as e:
        raise KeyFileNotFound(f"no key file at {path}; create one or fix the path") from e
    except OSError as e:
        raise KeyFileUnavailable(f"cannot read key file {path}: {e.strerror}") from e


def fsync_directory(directory: Path) -> None:
    """Make the entries of ``directory`` (a file created, renamed or removed) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write a 0600 temp file beside ``path``, fsync it, then publish it in one step."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        try:
            try:
                os.fchmod(fd, 0o600)  # the umask may only narrow the mode; make it exact
                with os.fdopen(fd, "wb", closefd=False) as f:
                    f.write(data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if overwrite:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)  # unlike os.replace, refuses an existing path (no race)
        except FileExistsError as e:
            raise KeyFileExists(
                f"key file {path} already exists; move it away or pass overwrite=True"
            ) from e
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # gone after os.replace; left by os.link or by a failure
        fsync_directory(path.parent)
    except OSError as e:
        raise KeyFileUnavailable(f"cannot write key file {path}: {e.strerror}") from e


def write_key_file(
    path: Path,
    signing_key: nacl.signing.SigningKey,
    passphrase: bytes,
    *,
    label: str = "",
    overwrite: bool = False,
    opslimit: int = argon2id.OPSLIMIT_INTERACTIVE,
    memlimit: int = argon2id.MEMLIMIT_INTERACTIVE,
) -> None:
    """Encrypt ``signing_key`` under ``passphrase`` into a new 0600 file at ``path``, atomically."""
    _require_passphrase(passphrase)
    no_core_dumps()
    if not _limits_ok(opslimit, memlimit):
        raise InvalidKeyFileOptions(
            f"opslimit must be in [{argon2id.OPSLIMIT_MIN}, {argon2id.OPSLIMIT_SENSITIVE}] and "
            f"memlimit in [{argon2id.MEMLIMIT_MIN}, {argon2id.MEMLIMIT_SENSITIVE}]"
        )
    if not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH:
        raise InvalidKeyFileOptions(f"label must be a string of at most {MAX_LABEL_LENGTH} chars")
    if not overwrite and os.path.lexists(path):
        raise KeyFileExists(f"key file {path} already exists; move it away or pass overwrite=True")
    data = _seal(signing_key, passphrase, label=label, opslimit=opslimit, memlimit=memlimit)
    _write_atomically(path, data, overwrite=overwrite)


@functools.cache
def no_core_dumps() -> None:
    """From now on this process writes no core dump, which would put the private keys it
    holds on disk in clear: the core file size limit is 0 (soft and hard), and on Linux the
    process is not dumpable (``PR_SET_DUMPABLE`` 0, as ssh-agent and gpg-agent do), which
    also covers a core_pattern that pipes to a collector, and keeps other users' debuggers
    from attaching. Called by whatever seals or unseals a key; once a process is enough."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


_PR_SET_DUMPABLE = 4


def read_key_file(path: Path, passphrase: bytes) -> nacl.signing.SigningKey:
    """Decrypt the signing key in the key file at ``path``."""
    _require_passphrase(passphrase)
    no_core_dumps()
    sealed = _parse(_read_bounded(path), path)
    box = _derive(passphrase, sealed, path)
    try:
        seed = box.decrypt(sealed.ciphertext, sealed.nonce)
    except nacl.exceptions.CryptoError as e:
        raise WrongPassphrase(
            f"wrong passphrase for key file {path} (or its salt, nonce or ciphertext were altered)"
        ) from e
    signing_key = nacl.signing.SigningKey(seed)
    if signing_key.verify_key.encode() != sealed.public_key:
        raise CorruptKeyFile(
            f"key file {path} is corrupt: the sealed key does not match its public_key; "
            "restore it from a backup"
        )
    return signing_key


def rewrap_key_file(path: Path, signing_key: nacl.signing.SigningKey, passphrase: bytes) -> None:
    """Seal the key file at ``path``, which holds ``signing_key``, under ``passphrase``
    instead, atomically: the same key, label and Argon2id limits, a fresh salt and nonce.
    The file is either the old one or the new one whatever happens (a crash, a full disk)."""
    _require_passphrase(passphrase)
    sealed = _parse(_read_bounded(path), path)
    if signing_key.verify_key.encode() != sealed.public_key:
        raise CorruptKeyFile(f"key file {path} does not hold the key given: not rewritten")
    data = _seal(
        signing_key,
        passphrase,
        label=sealed.label,
        opslimit=sealed.opslimit,
        memlimit=sealed.memlimit,
    )
    _write_atomically(path, data, overwrite=True)


def read_public_key(path: Path) -> bytes:
    """The raw 32-byte public key recorded in the key file at ``path`` (no passphrase needed)."""
    public_key = _parse(_read_bounded(path), path).public_key
    try:
        check_public_key(public_key)
    except InvalidPublicKey as e:
        raise CorruptKeyFile(f"key file {path} is corrupt: {e.message}") from e
    return public_key


def passphrase_from_env(
    var: str = "ESEAL_PASSPHRASE", environ: Mapping[str, str] | None = None
) -> bytes:
    """The passphrase from environment variable ``var`` (``os.environ`` unless given)."""
    passphrase = passphrase_if_set(var, environ)
    if passphrase is None:
        raise PassphraseMissing(f"set the environment variable {var} to the key file passphrase")
    return passphrase


def passphrase_if_set(
    var: str = "ESEAL_PASSPHRASE", environ: Mapping[str, str] | None = None
) -> bytes | None:
    """The passphrase from environment variable ``var``, or None when it is unset or empty
    (a node served read-only)."""
    value = (os.environ if environ is None else environ).get(var, "")
    return os.fsencode(value) if value else None


def _repeats(text: str) -> bool:
    """Whether ``text`` is a shorter sequence written at least twice over, the last time
    perhaps cut short ("abcabcabcabc", "abcabcab"): its smallest period, from the prefix
    function (linear, however long the text), is at most half its length."""
    n = len(text)
    border = [0] * n  # border[i]: the longest proper prefix of text[: i + 1] that ends it
    for i in range(1, n):
        k = border[i - 1]
        while k and text[i] != text[k]:
            k = border[k - 1]
        border[i] = k + 1 if text[i] == text[k] else 0
    return n > 0 and 2 * (n - border[-1]) <= n


def _step(a: str, b: str) -> int:
    """``b``'s code point less ``a``'s; 1 from a digit 9 to the 0 of its script, and -1
    from 0 to 9 (the digits go round)."""
    step = ord(b) - ord(a)
    if abs(step) == 9 and a.isdecimal() and b.isdecimal():
        return -step // 9  # 9 → 0 is -9 code points, counted as one up; 0 → 9 one down
    return step


def _is_run(text: str) -> bool:
    """Whether ``text`` counts up or down one character at a time ("abcdefghijkl",
    "123456789012", "987654321098"), by code point, digits going round from 9 to 0."""
    steps = {_step(a, b) for a, b in itertools.pairwise(text)}
    return steps in ({1}, {-1})


def weak_passphrase_problem(passphrase: bytes) -> str | None:
    """Why ``passphrase`` may not become a node's passphrase, or None if it may: fewer than
    :data:`MIN_PASSPHRASE_LENGTH` characters (not bytes: 12 Chinese characters are enough),
    one character repeated, only digits and fewer than
    :data:`MIN_DIGITS_PASSPHRASE_LENGTH`, a shorter sequence repeated, a run of consecutive
    characters, or fewer than :data:`MIN_DISTINCT_CHARACTERS` different ones. Only a
    passphrase being set is held to this; a key file opens with whatever passphrase sealed
    it."""
    text = os.fsdecode(passphrase)  # as it was given: os.fsencode of the environment's text
    n = len(text)
    if n < MIN_PASSPHRASE_LENGTH:
        return f"it has {n} characters, and needs at least {MIN_PASSPHRASE_LENGTH}"
    distinct = len(set(text))
    refusals = (  # in this order: the first that applies is said
        (distinct == 1, "it is one character repeated"),
        (
            text.isdigit() and n < MIN_DIGITS_PASSPHRASE_LENGTH,
            f"it is only digits, {n} of them, and a passphrase of digits alone needs at least"
            f" {MIN_DIGITS_PASSPHRASE_LENGTH}",
        ),
        (_repeats(text), "it is a shorter sequence of characters repeated"),
        (_is_run(text), "it is a run of consecutive characters, counting up or down"),
        (
            distinct < MIN_DISTINCT_CHARACTERS,
            f"it has only {distinct} different characters, and needs at least "
            f"{MIN_DISTINCT_CHARACTERS}",
        ),
    )
    return next((why for applies, why in refusals if applies), None)


def check_new_passphrase(passphrase: bytes, what: str) -> None:
    """Refuse (:class:`WeakPassphrase`) a new passphrase that :func:`weak_passphrase_problem`
    finds too weak; ``what`` names it in the message (e.g. its environment variable)."""
    if (problem := weak_passphrase_problem(passphrase)) is not None:
        raise WeakPassphrase(
            f"{what} is too weak to seal the node's keys: {problem} (a new passphrase needs"
            f" {PASSPHRASE_RULE})"
        )
