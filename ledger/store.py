"""The ledger storage interface, the pure sequencing step every backend shares, and an
in-memory backend for tests.

A backend stores encoded entries, tiles and signed checkpoints, and serialises
appends (one sequencer: the head moves only under a lock, by compare-and-swap).
Everything else (proofs, audit) reads through this interface.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from keys.errors import ExternalFailure, InvalidInput
from ledger.entries import ZERO_HASH, Entry
from ledger.merkle import leaf_hash
from ledger.tiles import StoreCorrupt, TileAppender, TileKey, partial_tile_keys

__all__ = ["StoreCorrupt"]

CheckpointSigner = Callable[[int, bytes], str]
"""Signs the tree head (size, root hash) and returns the signed checkpoint note."""

AlsoInTransaction = Callable[[Any, int], None]
"""Work that must commit atomically with an append: called with the backend's open
connection (None for the memory backend) and the first index of the appended entries,
after the entries are written and before the commit. Raising aborts the append."""

MAX_BATCH = 100_000


class StoreUnavailable(ExternalFailure):
    """The database cannot be reached or refused the operation."""

    code = "store-unavailable"


class OutcomeUnknown(StoreUnavailable):
    """An append whose commit was not confirmed (the database lost at COMMIT, or the writer
    not done in time): it may be recorded, now or in a moment, or not at all."""

    code = "outcome-unknown"


class StoreBusy(StoreUnavailable):
    """The ledger is locked by another database session.

    It held a lock an append needed for longer than the node waits (a long transaction,
    VACUUM FULL, a schema change): nothing was written."""

    code = "store-busy"


class HeadMoved(ExternalFailure):
    """The ledger head changed under an append (compare-and-swap lost); nothing was written."""

    code = "head-moved"


class BadRange(InvalidInput):
    """An index, size or range outside the ledger."""

    code = "bad-range"


@dataclass(frozen=True, slots=True)
class Head:
    """The ledger head: how many entries, and the leaf hash of the last one."""

    size: int
    last_hash: bytes


@dataclass(frozen=True, slots=True)
class Appended:
    """What one durable append wrote (returned only after the commit)."""

    first_index: int
    entries: list[bytes]
    leaf_hashes: list[bytes]
    size: int
    root: bytes
    checkpoint: str


@dataclass(frozen=True, slots=True)
class Sequenced:
    """The rows an append must write, computed purely from the head and the partial tiles."""

    head: Head
    entries: list[bytes]
    leaf_hashes: list[bytes]
    tiles: dict[TileKey, bytes]
    root: bytes


def sequence(head: Head, partial: Mapping[TileKey, bytes], drafts: Sequence[Entry]) -> Sequenced:
    """Chain ``drafts`` after ``head`` and grow the tiles: the pure core of every append."""
    if not drafts:
        raise InvalidInput("nothing to append")
    if len(drafts) > MAX_BATCH:
        raise InvalidInput(f"a batch holds at most {MAX_BATCH} entries")
    appender = TileAppender(head.size, partial)
    prev = head.last_hash
    encoded: list[bytes] = []
    hashes: list[bytes] = []
    for draft in drafts:
        data = draft.encode(prev)
        prev = leaf_hash(data)
        encoded.append(data)
        hashes.append(prev)
    appender.extend(hashes)
    return Sequenced(
        head=Head(head.size + len(drafts), prev),
        entries=encoded,
        leaf_hashes=hashes,
        tiles=appender.dirty_tiles(),
        root=appender.root(),
    )


class LedgerStore(Protocol):
    """What the ledger needs of a storage backend."""

    def head(self) -> Head: ...

    def append(
        self,
        drafts: Sequence[Entry],
        sign: CheckpointSigner,
        *,
        also: AlsoInTransaction | None = None,
    ) -> Appended:
        """Sequence and durably commit ``drafts`` with a signed checkpoint (and ``also``),
        atomically."""
        ...

    def read_entries(self, start: int, end: int) -> list[bytes]:
        """Entries ``start`` ≤ i < ``end``, which must all exist."""
        ...

    def iter_entries(self, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """(index, bytes) of every stored row with ``start`` ≤ index < ``end``, in order,
        gaps included (the audit judges them)."""
        ...

    def read_tiles(self, keys: Sequence[TileKey]) -> dict[TileKey, bytes]: ...

    def checkpoint(self, size: int | None = None) -> str | None:
        """The signed checkpoint at ``size`` (the latest when None)."""
        ...

    def checkpoints(self) -> list[tuple[int, str]]:
        """Every stored checkpoint, by size."""
        ...

    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """A block in which every read of the calling thread sees the ledger as it was at
        its first read, whatever is appended meanwhile (the audit, beside a serving node)."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """An in-memory :class:`LedgerStore` for tests and simulations."""

    def __init__(self) -> None:
        self.entries: list[bytes] = []
        self.tiles: dict[TileKey, bytes] = {}
        self.notes: dict[int, str] = {}
        self._head = Head(0, ZERO_HASH)
        self._lock = threading.Lock()

    def head(self) -> Head:
        return self._head

    def append(
        self,
        drafts: Sequence[Entry],
        sign: CheckpointSigner,
        *,
        also: AlsoInTransaction | None = None,
    ) -> Appended:
        with self._lock:
            head = self._head
            partial = self.read_tiles([k for k, w in partial_tile_keys(head.size) if w])
            seq = sequence(head, partial, drafts)
            note = sign(seq.head.size, seq.root)
            if also is not None:
                also(None, head.size)
            self.entries.extend(seq.entries)
            self.tiles.update(seq.tiles)
            self.notes[seq.head.size] = note
            self._head = seq.head
        return Appended(head.size, seq.entries, seq.leaf_hashes, seq.head.size, seq.root, note)

    def read_entries(self, start: int, end: int) -> list[bytes]:
        if not 0 <= start <= end <= len(self.entries):
            raise BadRange(f"entries {start}..{end} are outside 0..{len(self.entries)}")
        return self.entries[start:end]

    def iter_entries(self, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        for i in range(start, min(end, len(self.entries))):
            yield i, self.entries[i]

    def read_tiles(self, keys: Sequence[TileKey]) -> dict[TileKey, bytes]:
        return {k: self.tiles[k] for k in keys if k in self.tiles}

    def checkpoint(self, size: int | None = None) -> str | None:
        if size is None:
            return self.notes[max(self.notes)] if self.notes else None
        return self.notes.get(size)

    def checkpoints(self) -> list[tuple[int, str]]:
        return sorted(self.notes.items())

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        with self._lock:  # appends wait
            yield

    def close(self) -> None:
        pass
