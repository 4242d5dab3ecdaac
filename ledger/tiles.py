"""Merkle tree storage as tiles of 256 hashes: the pure arithmetic of reading and growing them.

A tile (L, N) holds the hashes of the tree's nodes at level 8·L with indexes
256·N … 256·N+255 (level 0 are the leaf hashes), as in Go's sumdb ``tlog``
tiles. A complete tile's 256 hashes fold into one node at level 8·(L+1),
which is appended to tile level L+1. Any complete subtree hash is then one
tile read plus at most 127 node hashes, so proofs read O(log n) stored
bytes and appends write one row per 256 entries per level.

The right-most tile of each level is partial (fewer than 256 hashes) and
grows in place; every node of the decomposition of the tree size lies in
those partial tiles, so the appender computes the root without a read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from keys.errors import ExternalFailure
from ledger.merkle import EMPTY_ROOT, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH_SIZE = 32
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE

TileKey = tuple[int, int]
"""(tile level L, tile index N)."""

TileFetcher = Callable[[Sequence[TileKey]], Mapping[TileKey, bytes]]
"""Reads the stored tiles with the given keys (missing ones are left out)."""


class StoreCorrupt(ExternalFailure):
    """The stored ledger is inconsistent (a missing row or tile); run the audit."""

    code = "store-corrupt"


class TileMissing(StoreCorrupt):
    """A tile the tree size says exists is not stored (a corrupt or truncated store)."""

    code = "tile-missing"


def tile_for_node(level: int, index: int) -> tuple[TileKey, int, int]:
    """Where a complete node's hash is found: (tile key, first hash in the tile, hash count).

    The node at ``level`` = 8·L + j covers 2^j consecutive hashes of tile level L.
    """
    tile_level, j = divmod(level, TILE_HEIGHT)
    base = index << j
    return (tile_level, base >> TILE_HEIGHT), base & (TILE_WIDTH - 1), 1 << j


def fold(hashes: bytes | bytearray, start: int, count: int) -> bytes:
    """The root of ``count`` (a power of two) consecutive hashes from ``start``: MTH of a
    complete subtree, node = SHA-256(0x01 ‖ left ‖ right) level by level."""
    level = [
        bytes(hashes[i * HASH_SIZE : (i + 1) * HASH_SIZE]) for i in range(start, start + count)
    ]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def size_nodes(size: int) -> list[tuple[int, int]]:
    """The complete subtrees (level, index) whose fold is the root of a tree of ``size``,
    largest (left-most) first: one per set bit of ``size``."""
    nodes: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


class TileReader:
    """A :class:`ledger.merkle.SubtreeReader` over stored tiles, with an optional overlay
    of tiles not yet stored (the appender's fresh ones)."""

    def __init__(
        self,
        fetch: TileFetcher,
        overlay: Mapping[TileKey, bytes] | None = None,
        *,
        keep: bool = False,
    ):
        self._fetch = fetch
        self._overlay = dict(overlay or {})
        self._keep = keep  # remember fetched tiles: many proofs against one tree size
        self.tiles_read = 0

    def subtree_hashes(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        where = [tile_for_node(level, index) for level, index in nodes]
        wanted = {key for key, _, _ in where if key not in self._overlay}
        tiles: dict[TileKey, bytes] = dict(self._overlay)
        if wanted:
            fetched = self._fetch(sorted(wanted))
            self.tiles_read += len(wanted)
            tiles.update(fetched)
            if self._keep:
                self._overlay.update(fetched)
        out = []
        for (key, start, count), node in zip(where, nodes, strict=True):
            tile = tiles.get(key)
            if tile is None or len(tile) < (start + count) * HASH_SIZE:
                raise TileMissing(f"tile {key} does not hold node {node}")
            out.append(fold(tile, start, count))
        return out


class TileAppender:
    """Grows the right edge of the tiles as leaf hashes are appended (pure, in memory).

    Start it from the tree size and the stored partial tiles (:func:`partial_tile_keys`
    names them), append leaf hashes, then store :meth:`dirty_tiles`.
    """

    def __init__(self, size: int, partial_tiles: Mapping[TileKey, bytes]):
        self.size = size
        self._edge: list[bytearray] = []
        for key, width in partial_tile_keys(size):
            if width == 0:
                self._edge.append(bytearray())
                continue
            tile = partial_tiles.get(key)
            if tile is None or len(tile) != width * HASH_SIZE:
                raise TileMissing(f"partial tile {key} of width {width} is not stored")
            self._edge.append(bytearray(tile))
        self._dirty: dict[TileKey, bytes] = {}
        self._dirty_levels: set[int] = set()

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash; a tile that fills up folds into the next level."""
        self.size += 1
        carry = leaf_hash
        level = 0
        while True:
            if level == len(self._edge):
                self._edge.append(bytearray())
            tile = self._edge[level]
            tile += carry
            self._dirty_levels.add(level)
            if len(tile) < FULL_TILE_BYTES:
                return
            index = ((self.size >> (TILE_HEIGHT * level)) >> TILE_HEIGHT) - 1
            self._dirty[(level, index)] = bytes(tile)
            carry = fold(tile, 0, TILE_WIDTH)
            self._edge[level] = bytearray()
            level += 1

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append many leaf hashes: whole runs join into the level-0 tile at once, and only
        the hash that completes a tile goes through :meth:`append` to fold upwards."""
        i, n = 0, len(leaf_hashes)
        while i < n:
            if not self._edge:
                self._edge.append(bytearray())
            room = TILE_WIDTH - len(self._edge[0]) // HASH_SIZE
            take = min(room, n - i)
            run = leaf_hashes[i : i + take]
            if take == room:  # the last hash completes the tile
                self._edge[0] += b"".join(run[:-1])
                self.size += take - 1
                self.append(run[-1])
            else:
                self._edge[0] += b"".join(run)
                self.size += take
                self._dirty_levels.add(0)
            i += take

    def partial_tiles(self) -> dict[TileKey, bytes]:
        """The current right-edge partial tiles, by key."""
        return {
            key: bytes(self._edge[level])
            for level, (key, _) in enumerate(partial_tile_keys(self.size))
            if level < len(self._edge) and self._edge[level]
        }

    def dirty_tiles(self) -> dict[TileKey, bytes]:
        """Every tile written since the start: completed ones and the grown partial ones."""
        out = dict(self._dirty)
        for key, tile in self.partial_tiles().items():
            if key[0] in self._dirty_levels:
                out[key] = tile
        return out

    def take_dirty_tiles(self) -> dict[TileKey, bytes]:
        """:meth:`dirty_tiles`, then forget them (for a long sweep such as the audit)."""
        out = self.dirty_tiles()
        self._dirty.clear()
        self._dirty_levels.clear()
        return out

    def root(self) -> bytes:
        """RFC 9162 MTH of the whole tree, from the right-edge tiles alone."""
        if self.size == 0:
            return EMPTY_ROOT
        reader = TileReader(_no_fetch, self.partial_tiles())
        hashes = reader.subtree_hashes(size_nodes(self.size))
        root = hashes[-1]
        for h in reversed(hashes[:-1]):
            root = node_hash(h, root)
        return root


def partial_tile_keys(size: int) -> list[tuple[TileKey, int]]:
    """For each tile level that has hashes, the key and width of its right-most partial
    tile (width 0 when the level's last tile is complete)."""
    out: list[tuple[TileKey, int]] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        out.append(((level, count >> TILE_HEIGHT), count & (TILE_WIDTH - 1)))
        level += 1
    return out


def _no_fetch(keys: Sequence[TileKey]) -> Mapping[TileKey, bytes]:
    return {}
