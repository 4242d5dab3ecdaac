"""The whole-ledger audit: recompute the chain, the tiles and every signed checkpoint from
the stored entries, and name the first entry that does not hold.

Edited, deleted, inserted or reordered rows all surface as the lowest index
whose row is missing, malformed, chained to the wrong predecessor, or whose
leaf hash differs from the stored tree; a checkpoint whose signature or root
does not match the recomputed tree is reported with its size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import sha256

from keys.errors import EsealError
from ledger.checkpoint import NoteVerifier, verify_checkpoint
from ledger.entries import ZERO_HASH, stored_entry_prev
from ledger.store import LedgerStore
from ledger.tiles import HASH_SIZE, TILE_HEIGHT, TileAppender, TileKey

CHUNK = 65_536
_END = 2**62


@dataclass
class AuditReport:
    """What the audit found. ``first_bad_index`` is None when the ledger holds."""

    size: int = 0
    entries_checked: int = 0
    checkpoints_checked: int = 0
    first_bad_index: int | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, index: int | None, problem: str) -> None:
        if index is not None and (self.first_bad_index is None or index < self.first_bad_index):
            self.first_bad_index = index
        self.problems.append(problem)


Progress = Callable[[int], None]


def audit(
    store: LedgerStore, log_key: NoteVerifier, *, progress: Progress | None = None
) -> AuditReport:
    """Check every stored entry, tile and checkpoint against each other, from scratch."""
    started = time.perf_counter()
    # One state of the ledger throughout: read in separate transactions, entries appended
    # after the head was read (by a node serving meanwhile) would look like tampering.
    with store.snapshot():
        sweep = _Sweep(store, log_key)
        sweep.run(progress)
        sweep.finish()
    if progress is not None:
        progress(sweep.expected)
    sweep.report.seconds = time.perf_counter() - started
    return sweep.report


class _Sweep:
    """One pass over the stored rows in index order, rebuilding chain, tiles and roots."""

    def __init__(self, store: LedgerStore, log_key: NoteVerifier) -> None:
        self.store = store
        self.log_key = log_key
        self.head = store.head()
        self.report = AuditReport(size=self.head.size)
        self.checkpoints = store.checkpoints()
        self.cp_pos = 0
        self.appender = TileAppender(0, {})
        self.prev = ZERO_HASH
        self.expected = 0

    def run(self, progress: Progress | None) -> None:
        """The hot loop (kept flat: it is what the audit rate measures). Leaf hashes are
        checked against the stored leaf tiles and the chain one by one, and fed to the
        tile appender in runs that end at each checkpoint and each chunk."""
        report, checkpoints = self.report, self.checkpoints
        next_cp = checkpoints[0][0] if checkpoints else -1
        pending: list[bytes] = []
        expected, last = 0, ZERO_HASH
        level0: dict[int, bytes] = {}
        for index, data in self.store.iter_entries(0, _END):
            if index != expected:
                report.fail(expected, f"entry {expected} is missing")
                break
            try:
                prev = stored_entry_prev(data)
            except EsealError as e:
                report.fail(index, f"entry {index} is malformed: {e.message}")
                break
            leaf = sha256(b"\x00" + data).digest()  # RFC 9162 leaf hash, inlined
            if index % CHUNK == 0:
                level0 = _level0_tiles(self.store, index, self.head.size)
            offset = (index & 255) * HASH_SIZE
            stored_leaf = level0.get(index >> TILE_HEIGHT, b"")[offset : offset + HASH_SIZE]
            if stored_leaf and stored_leaf != leaf:
                report.fail(index, f"entry {index} differs from the stored tree (edited)")
                break
            if prev != last:
                report.fail(index, f"entry {index} does not chain to entry {index - 1}")
                break
            last = leaf
            pending.append(leaf)
            expected += 1
            if expected == next_cp or expected % CHUNK == 0:
                self.appender.extend(pending)
                pending.clear()
                next_cp = self._checkpoints_at(expected)
                if expected % CHUNK == 0:
                    dirty = self.appender.take_dirty_tiles()
                    if not _compare_tiles(report, self.store, dirty, final=False):
                        break
                    if progress is not None:
                        progress(expected)
        self.appender.extend(pending)
        self.expected, self.prev = expected, last

    def _checkpoints_at(self, size: int) -> int:
        """Check the stored checkpoints of this tree size; the next checkpoint size."""
        checkpoints = self.checkpoints
        while self.cp_pos < len(checkpoints) and checkpoints[self.cp_pos][0] <= size:
            stored = checkpoints[self.cp_pos]
            if stored[0] == size:
                _check_checkpoint(self.report, self.log_key, stored, self.appender.root())
            self.cp_pos += 1
        return checkpoints[self.cp_pos][0] if self.cp_pos < len(checkpoints) else -1

    def finish(self) -> None:
        report, head, expected = self.report, self.head, self.expected
        report.entries_checked = expected
        if report.ok:
            _compare_tiles(report, self.store, self.appender.take_dirty_tiles(), final=True)
        if report.ok and expected != head.size:
            if expected > head.size:
                report.fail(head.size, f"entry {head.size} lies beyond the head ({head.size})")
            else:
                report.fail(expected, f"entry {expected} is missing (head says {head.size})")
        if report.ok and head.size and self.prev != head.last_hash:
            report.fail(head.size - 1, "the head's last hash does not match the last entry")
        if report.ok:
            for size, _note in self.checkpoints[self.cp_pos :]:
                report.fail(None, f"checkpoint at size {size} is beyond the audited entries")


def _check_checkpoint(
    report: AuditReport, log_key: NoteVerifier, stored: tuple[int, str], root: bytes
) -> None:
    size, note = stored
    report.checkpoints_checked += 1
    try:
        cp = verify_checkpoint(note, log_key)
    except EsealError as e:
        report.fail(None, f"checkpoint at size {size} does not verify: {e.message}")
        return
    if cp.size != size:
        report.fail(None, f"checkpoint stored at size {size} says size {cp.size}")
    elif cp.root_hash != root:
        report.fail(
            None,
            f"checkpoint at size {size} does not match the entries: an entry before it changed",
        )


def _compare_tiles(
    report: AuditReport, store: LedgerStore, ours: dict[TileKey, bytes], *, final: bool
) -> bool:
    """Compare recomputed tiles with the stored ones; a stored partial tile may be ahead of
    the sweep (``final`` demands equality)."""
    if not ours:
        return True
    stored = store.read_tiles(sorted(ours))
    for key in sorted(ours):
        mine, theirs = ours[key], stored.get(key)
        level, index = key
        span = 1 << (TILE_HEIGHT * (level + 1))  # leaves covered by one full tile
        if theirs is None:
            report.fail(index * span, f"tile {key} is missing")
            return False
        same = theirs == mine if final or len(mine) == len(theirs) else theirs.startswith(mine)
        if not same:
            first = _first_difference(mine, theirs)
            report.fail(
                index * span + first * (span >> TILE_HEIGHT),
                f"entry hash at level {TILE_HEIGHT * level} index {index * 256 + first} "
                "differs from the stored tree",
            )
            return False
    return True


def _level0_tiles(store: LedgerStore, start: int, size: int) -> dict[int, bytes]:
    """The stored leaf-hash tiles for entries ``start`` … ``start + CHUNK`` (within the head)."""
    first, last = start >> TILE_HEIGHT, min(start + CHUNK, size + 255) >> TILE_HEIGHT
    keys = [(0, n) for n in range(first, last)]
    return {k[1]: v for k, v in store.read_tiles(keys).items()}


def _first_difference(a: bytes, b: bytes) -> int:
    for i in range(0, max(len(a), len(b)), HASH_SIZE):
        if a[i : i + HASH_SIZE] != b[i : i + HASH_SIZE]:
            return i // HASH_SIZE
    return 0
