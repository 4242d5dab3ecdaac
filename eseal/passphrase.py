"""Changing the passphrase that seals a node's private keys (``eseal passphrase``).

Every key file in ``DATA/keys`` (the root and log keys, each agency's and seal's) is sealed
again under the new passphrase, one atomic file replacement at a time. Nothing is written
until every file has opened with the current passphrase (or, from an earlier run that was
cut short, with the new one): a file that opens with neither stops the change before it
starts. While it runs it holds the node's keys lock exclusively, so no node process that
holds the keys (``eseal serve``, a command issuing a license) runs beside it and seals a
new key under the old passphrase; and a mark in ``DATA/keys`` says a change is under way,
so that a change cut short (a crash, Ctrl-C, a full disk) is named as such by the next
command, and finished by running it again with the same two passphrases.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from keys import keyfile
from keys.errors import InvalidInput

KEYS_DIR = "keys"
#: The file a node process holds a shared lock on while it holds the keys, and a
#: passphrase change an exclusive one.
KEYS_LOCK = "keys/.lock"
#: Present while a passphrase change is under way (and after one was cut short).
CHANGE_MARK = "keys/.passphrase-change"


class NodeInUse(InvalidInput):
    """A node process holds the keys, or a passphrase change runs."""

    code = "node-in-use"


class ChangeInterrupted(InvalidInput):
    """A passphrase change was cut short: some key files are sealed under each passphrase."""

    code = "passphrase-change-interrupted"


class NeitherPassphrase(InvalidInput):
    """A key file opens with neither the current passphrase nor the new one."""

    code = "wrong-passphrase"


def _open_lock(data_dir: Path) -> int:
    return os.open(data_dir / KEYS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def hold_keys(data_dir: Path) -> int | None:
    """Take the node's keys lock shared, for a process that will hold its keys: the open
    descriptor (release it with :func:`release_keys`), or None where the keys directory
    may not be written and holds no lock file (no passphrase change can run there either).
    Refused while a passphrase change runs, or after one was cut short."""
    try:
        fd = _open_lock(data_dir)
    except OSError:  # a read-only keys directory: an existing lock file is opened to read
        try:
            fd = os.open(data_dir / KEYS_LOCK, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            fd = None
    if fd is None:
        _refuse_if_cut_short(data_dir)
        return None
    try:
        _lock(
            fd,
            fcntl.LOCK_SH,
            "the node's passphrase is being changed (eseal passphrase): wait for it to finish",
        )
        _refuse_if_cut_short(data_dir)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_if_cut_short(data_dir: Path) -> None:
    if (data_dir / CHANGE_MARK).exists():
        raise ChangeInterrupted(
            "a change of the node's passphrase was cut short, and its key files are sealed "
            "partly under each passphrase: run `eseal passphrase` again with the same two "
            "(ESEAL_PASSPHRASE the current one, ESEAL_NEW_PASSPHRASE the new one) to finish it"
        )


def _lock(fd: int, how: int, refused: str) -> None:
    """Take the keys lock (``fcntl.LOCK_SH`` or ``LOCK_EX``) at once, or :class:`NodeInUse`."""
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        raise NodeInUse(refused) from None


def release_keys(fd: int) -> None:
    os.close(fd)  # closing the descriptor releases its lock


@contextlib.contextmanager
def exclusive_keys(
    data_dir: Path,
    refused: str = "the node is in use: stop `eseal serve` and any other eseal command using "
    "its keys, then change the passphrase",
) -> Iterator[None]:
    """Hold the node's keys lock exclusively while the block runs (a passphrase change, an
    ``eseal init`` making the keys), or :class:`NodeInUse` saying ``refused``."""
    fd = _open_lock(data_dir)
    try:
        _lock(fd, fcntl.LOCK_EX, refused)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class PassphraseChange:
    """What a change did: the key files sealed again, and those already under the new
    passphrase (from a run cut short)."""

    rewrapped: list[Path]
    already: list[Path]


def key_files(data_dir: Path) -> list[Path]:
    """The node's key files, in a fixed order (not the temporary files of a write)."""
    return sorted(p for p in (data_dir / KEYS_DIR).glob("*.key") if not p.name.startswith("."))


def change_passphrase(
    data_dir: Path,
    current: bytes,
    new: bytes,
    *,
    progress: Callable[[int], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> PassphraseChange:
    """Seal every key file of the node in ``data_dir`` under ``new`` instead of ``current``.

    ``progress`` is told of each step (2 per key file: opened, then written); ``stop`` is
    asked before each write, and True stops the change there (the mark stays: running it
    again finishes it)."""
    if not new:
        raise InvalidInput("the new passphrase is empty")
    if new == current:
        raise InvalidInput("the new passphrase is the current one: nothing to change")
    keyfile.check_new_passphrase(new, "the new passphrase (ESEAL_NEW_PASSPHRASE)")
    step = progress or (lambda _: None)
    with exclusive_keys(data_dir):
        # Listed under the lock: a node process that held the keys until just now may have
        # written a key file (a new seal's) under the current passphrase.
        files = key_files(data_dir)
        if not files:
            raise InvalidInput(
                f"{data_dir / KEYS_DIR} holds no key files: not a node's data directory"
            )
        opened: list[tuple[Path, SigningKey, bool]] = []
        for path in files:
            opened.append((path, *_open_either(path, current, new)))
            step(1)
        mark = data_dir / CHANGE_MARK
        _write_mark(mark)
        rewrapped: list[Path] = []
        for path, key, under_current in opened:
            if stop is not None and stop():
                raise ChangeInterrupted(
                    f"stopped after sealing {len(rewrapped)} of the key files under the new "
                    "passphrase: run `eseal passphrase` again with the same two to finish it"
                )
            if under_current:
                keyfile.rewrap_key_file(path, key, new)
                rewrapped.append(path)
            step(1)
        mark.unlink()
        keyfile.fsync_directory(mark.parent)
    return PassphraseChange(rewrapped, [p for p, _, under in opened if not under])


def _open_either(path: Path, current: bytes, new: bytes) -> tuple[SigningKey, bool]:
    """The key in ``path``, and whether it is sealed under ``current`` (else ``new``)."""
    try:
        return keyfile.read_key_file(path, current), True
    except keyfile.WrongPassphrase:
        pass
    try:
        return keyfile.read_key_file(path, new), False
    except keyfile.WrongPassphrase:
        raise NeitherPassphrase(
            f"key file {path} opens with neither the current passphrase (ESEAL_PASSPHRASE) "
            "nor the new one: nothing changed"
        ) from None


def _write_mark(mark: Path) -> None:
    fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, b"a passphrase change is under way: see `eseal passphrase --help`\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    keyfile.fsync_directory(mark.parent)
