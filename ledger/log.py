"""A region's ledger: appends signed by the log key, bounded reads, and O(log n) proofs
over any :class:`ledger.store.LedgerStore`."""

from __future__ import annotations

from collections.abc import Sequence

from nacl.signing import SigningKey

from keys.errors import InvalidInput
from ledger import merkle
from ledger.checkpoint import Checkpoint, NoteVerifier, sign_checkpoint, verify_checkpoint
from ledger.entries import Entry
from ledger.store import AlsoInTransaction, Appended, BadRange, LedgerStore
from ledger.tiles import TileReader

MAX_PAGE = 1000


class LogKeyLocked(InvalidInput):
    """An append needs the log's signing key, and it was not unlocked."""

    code = "log-key-locked"
    #: The node's condition (served without its passphrase), not the request's fault.
    http_status = 503


class Log:
    """The ledger of one region: its store, its origin and its log key."""

    def __init__(
        self,
        store: LedgerStore,
        *,
        origin: str,
        verifier: NoteVerifier,
        signing_key: SigningKey | None = None,
    ) -> None:
        self.store = store
        self.origin = origin
        self.verifier = verifier
        self._signing_key = signing_key

    def _sign(self, size: int, root: bytes) -> str:
        if self._signing_key is None:
            raise LogKeyLocked("appending needs the log key (set ESEAL_PASSPHRASE)")
        return sign_checkpoint(Checkpoint(self.origin, size, root), self._signing_key)

    def append(self, drafts: Sequence[Entry], *, also: AlsoInTransaction | None = None) -> Appended:
        """Chain, store and checkpoint ``drafts`` (and run ``also``) in one durable
        transaction."""
        if self._signing_key is None:
            raise LogKeyLocked("appending needs the log key (set ESEAL_PASSPHRASE)")
        return self.store.append(drafts, self._sign, also=also)

    def size(self) -> int:
        return self.store.head().size

    def checkpoint(self) -> str:
        """The latest signed checkpoint note."""
        note = self.store.checkpoint()
        if note is None:
            return self._sign(0, merkle.EMPTY_ROOT)
        return note

    def latest(self) -> Checkpoint:
        return verify_checkpoint(self.checkpoint(), self.verifier)

    def entry(self, index: int) -> bytes:
        size = self.size()
        if not 0 <= index < size:
            raise BadRange(f"entry index {index} is outside the ledger (size {size})")
        return self.store.read_entries(index, index + 1)[0]

    def entries(self, start: int, end: int | None = None) -> list[bytes]:
        """A bounded page of entries: at most :data:`MAX_PAGE`, clipped to the size."""
        size = self.size()
        if start < 0 or start >= max(size, 1) or (end is not None and end <= start):
            raise BadRange(f"no entries in {start}..{end} (ledger size {size})")
        stop = min(size, start + MAX_PAGE, end if end is not None else size)
        return self.store.read_entries(start, stop)

    def _tree_size(self, size: int | None) -> int:
        current = self.size()
        if size is None:
            return current
        if not 1 <= size <= current:
            raise BadRange(f"tree size {size} is outside 1..{current}")
        return size

    def inclusion_proof(self, index: int, size: int | None = None) -> tuple[int, list[bytes]]:
        """(tree size, audit path) proving entry ``index`` is in the tree of ``size``."""
        n = self._tree_size(size)
        if not 0 <= index < n:
            raise BadRange(f"entry index {index} is outside a tree of size {n}")
        return n, merkle.inclusion_proof(index, n, TileReader(self.store.read_tiles))

    def inclusion_proofs(self, indexes: Sequence[int], size: int) -> list[list[bytes]]:
        """Proofs of many entries in one tree, reading each tile once (a batch's answer)."""
        n = self._tree_size(size)
        if any(not 0 <= i < n for i in indexes):
            raise BadRange(f"an entry index is outside a tree of size {n}")
        reader = TileReader(self.store.read_tiles, keep=True)
        return [merkle.inclusion_proof(i, n, reader) for i in indexes]

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """Proof that the tree of size ``first`` is a prefix of the tree of size ``second``."""
        n = self._tree_size(second)
        if not 1 <= first <= n:
            raise BadRange(f"first size {first} is outside 1..{n}")
        return merkle.consistency_proof(first, n, TileReader(self.store.read_tiles))

    def root_hash(self, size: int | None = None) -> bytes:
        n = self._tree_size(size) if size else self.size()
        if n == 0:
            return merkle.EMPTY_ROOT
        return merkle.root_hash(n, TileReader(self.store.read_tiles))
