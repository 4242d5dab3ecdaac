"""The SQL ledger backend (SQLModel): SQLite in WAL mode by default, PostgreSQL by URL.

Appends are serialised by the database itself, so the chain cannot fork even
with many processes writing: SQLite takes the write lock up front
(``BEGIN IMMEDIATE``), PostgreSQL locks the head row (``SELECT … FOR UPDATE``);
the head then moves by compare-and-swap in the same transaction as the
entries, tiles and signed checkpoint. Nothing is acknowledged before commit.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlmodel import Field, SQLModel, create_engine

from ledger.entries import ZERO_HASH, Entry
from ledger.migrate import current_revisions, require_current, upgrade
from ledger.store import (
    AlsoInTransaction,
    Appended,
    BadRange,
    CheckpointSigner,
    Head,
    HeadMoved,
    OutcomeUnknown,
    StoreBusy,
    StoreUnavailable,
    sequence,
)
from ledger.tiles import TileKey, partial_tile_keys

MIGRATIONS = Path(__file__).parent / "migrations"
_BIGINT = BigInteger().with_variant(Integer, "sqlite")
HEAD_ID = 1
#: How long a statement on PostgreSQL waits for a lock another session holds (a long
#: transaction, VACUUM FULL, ALTER or LOCK TABLE) before it fails, in milliseconds: without
#: it, every request reading a locked table waited for as long as the lock was held, each
#: holding a server thread, and appends were queued past their callers' wait. Set on each
#: connection unless the operator sets a lock_timeout of its own (0 included).
LOCK_TIMEOUT_MS = 15_000
#: PostgreSQL's SQLSTATE for "lock not available" (a lock_timeout or NOWAIT).
_LOCK_NOT_AVAILABLE = "55P03"
#: PostgreSQL's SQLSTATE for "invalid schema name": among others, a table made where the
#: search_path names no schema that exists ("no schema has been selected to create in").
_INVALID_SCHEMA_NAME = "3F000"


class LedgerEntryRow(SQLModel, table=True):
    __tablename__ = "ledger_entry"
    idx: int = Field(sa_column=Column(_BIGINT, primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LedgerTileRow(SQLModel, table=True):
    __tablename__ = "ledger_tile"
    level: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(_BIGINT, primary_key=True, autoincrement=False))
    hashes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LedgerHeadRow(SQLModel, table=True):
    __tablename__ = "ledger_head"
    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    size: int = Field(sa_column=Column(_BIGINT, nullable=False))
    last_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LedgerCheckpointRow(SQLModel, table=True):
    __tablename__ = "ledger_checkpoint"
    size: int = Field(sa_column=Column(_BIGINT, primary_key=True, autoincrement=False))
    note: str


_entry = LedgerEntryRow.__table__  # type: ignore[attr-defined]
_tile = LedgerTileRow.__table__  # type: ignore[attr-defined]
_head = LedgerHeadRow.__table__  # type: ignore[attr-defined]
_checkpoint = LedgerCheckpointRow.__table__  # type: ignore[attr-defined]


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'ledger.db'}"


def sqlite_read_only_url(database: Path) -> str:
    """A URL that opens the SQLite file ``database`` to read only, as a file nothing
    changes (SQLite's ``immutable``: no lock taken, no -wal or -shm made beside it), as a
    backup's copy is read."""
    return f"sqlite:///file:{quote(str(database.resolve()))}?mode=ro&immutable=1&uri=true"


def make_engine(url: str, *, immediate: bool = False) -> Engine:
    """An engine for ``url``; on SQLite, WAL, full fsync, a busy timeout, and (when
    ``immediate``) write transactions that take the lock at BEGIN."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    engine = create_engine(
        _driver_url(url), pool_pre_ping=True, connect_args={"connect_timeout": 10}
    )
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "connect")
        def _lock_timeout(dbapi_connection: Any, _record: Any) -> None:
            cur = dbapi_connection.cursor()
            # Set by the operator (the role, the database, the server's configuration, the
            # client's PGOPTIONS), 0 too: theirs stands. Only PostgreSQL's default is replaced.
            cur.execute("SELECT source FROM pg_settings WHERE name = 'lock_timeout'")
            row = cur.fetchone()
            if row is not None and str(row[0]) == "default":
                cur.execute(f"SET lock_timeout = {int(LOCK_TIMEOUT_MS)}")
            cur.close()
            dbapi_connection.commit()  # a SET rolled back with its transaction is undone

    return engine


def _driver_url(url: str) -> str:
    """``url`` with its driver named (PostgreSQL through psycopg 3)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def holds_ledger(url: str) -> bool:
    """Whether the database at ``url`` holds a ledger's tables, asked without changing it
    (no migration, no pragma: a plain connection that only reads the catalogue)."""
    sqlite = url.startswith("sqlite")
    args: dict[str, Any] = {"timeout": 60} if sqlite else {"connect_timeout": 10}
    engine = create_engine(_driver_url(url), connect_args=args)
    try:
        with engine.connect() as conn:
            return inspect(conn).has_table(_entry.name)
    except SQLAlchemyError as e:
        raise StoreUnavailable(f"cannot open the ledger database: {error_reason(e)}") from e
    finally:
        engine.dispose()


@dataclass(frozen=True)
class StoredHead:
    """The ledger's size and latest checkpoint as one transaction reads them, and the schema
    revisions the version tables asked for record."""

    size: int
    checkpoint: str | None
    revisions: dict[str, tuple[str, ...]]


def read_head(url: str, version_tables: Sequence[str] = ()) -> StoredHead:
    """The ledger's head in the database at ``url``, read in one transaction without
    changing anything (no migration, no pragma), whatever its schema revision."""
    sqlite = url.startswith("sqlite")
    args: dict[str, Any] = {"timeout": 60} if sqlite else {"connect_timeout": 10}
    engine = create_engine(_driver_url(url), connect_args=args)
    if not sqlite:  # the head and the checkpoint of one state
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn, conn.begin():
            return _head_in(conn, version_tables)
    except SQLAlchemyError as e:
        raise StoreUnavailable(f"cannot read the ledger database: {error_reason(e)}") from e
    finally:
        engine.dispose()


def _head_in(conn: Connection, version_tables: Sequence[str]) -> StoredHead:
    """The ledger's head as the transaction of ``conn`` sees it."""
    size = conn.execute(select(_head.c.size).where(_head.c.id == HEAD_ID)).scalar()
    note = conn.execute(
        select(_checkpoint.c.note).order_by(_checkpoint.c.size.desc()).limit(1)
    ).scalar()
    revisions = {t: current_revisions(conn, t) for t in version_tables}
    return StoredHead(int(size or 0), None if note is None else str(note), revisions)


@dataclass(frozen=True)
class ExportedSnapshot:
    """A PostgreSQL snapshot held open and exported: its id (for ``pg_dump --snapshot``),
    the ledger's head in it, and the server's major version."""

    id: str
    head: StoredHead
    server_major: int


@contextlib.contextmanager
def exported_snapshot(url: str, version_tables: Sequence[str] = ()) -> Iterator[ExportedSnapshot]:
    """Hold a read-only REPEATABLE READ transaction on the PostgreSQL database at ``url``
    while the block runs, its snapshot exported (``pg_export_snapshot()``) so that another
    session (``pg_dump --snapshot``) reads the very state this one does, as long as the
    block lasts. Nothing is changed."""
    engine = create_engine(_driver_url(url), connect_args={"connect_timeout": 10})
    engine = engine.execution_options(isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn, conn.begin():
            try:
                conn.execute(text("SET TRANSACTION READ ONLY"))
                snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
                major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
                head = _head_in(conn, version_tables)
            except SQLAlchemyError as e:
                raise StoreUnavailable(f"cannot read the ledger database: {error_reason(e)}") from e
            yield ExportedSnapshot(snapshot, head, major)
    except SQLAlchemyError as e:  # connecting, or ending the transaction
        raise StoreUnavailable(f"cannot read the ledger database: {error_reason(e)}") from e
    finally:
        engine.dispose()


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy the SQLite database ``source`` (in WAL mode, perhaps written meanwhile by a
    serving node) into the new file ``target``, consistently: SQLite's online backup API in
    one step, so in one read transaction, which sees one committed state of the database
    and lets writers go on (WAL). The copy is one file, without a -wal beside it (rollback
    journal mode: the node puts it back in WAL mode when it opens it), readable by its
    owner alone, and durable when this returns. ``source`` is opened to read only."""
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may only narrow the mode; make it exact
    finally:
        os.close(fd)
    try:
        src = sqlite3.connect(f"file:{quote(str(source))}?mode=ro", uri=True, timeout=60)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)  # pages=-1: the whole database in one step
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
        finally:
            src.close()
        fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except sqlite3.Error as e:
        raise StoreUnavailable(f"cannot copy the ledger database {source}: {e}") from e


class SqlStore:
    """A :class:`ledger.store.LedgerStore` in a SQL database; ``read_only``: one read as it
    is, which must be at this eseal's schema revision (nothing migrated, nothing written)."""

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        try:
            self._read = make_engine(url)
            writes = self.is_sqlite and not read_only
            self._write = make_engine(url, immediate=True) if writes else self._read
            self._pinned = threading.local()  # a thread's snapshot connection, see snapshot()
            if read_only:
                with self._read.connect() as conn:
                    require_current(conn, MIGRATIONS, "ledger_alembic_version")
            else:
                upgrade(self._write, MIGRATIONS, "ledger_alembic_version")
                self._ensure_head()
        except SQLAlchemyError as e:
            self._dispose()
            raise StoreUnavailable(f"cannot open the ledger database: {error_reason(e)}") from e
        except BaseException:
            self._dispose()
            raise

    def _dispose(self) -> None:
        """Close the engines made so far (a store that failed to open)."""
        for name in ("_read", "_write"):
            engine: Engine | None = getattr(self, name, None)
            if engine is not None:
                engine.dispose()

    @property
    def read_engine(self) -> Engine:
        """The engine for reads (on SQLite, transactions that take no write lock)."""
        return self._read

    @property
    def write_engine(self) -> Engine:
        """The engine whose transactions take the write lock at once (SQLite)."""
        return self._write

    def _ensure_head(self) -> None:
        with contextlib.suppress(IntegrityError), self._write.begin() as conn:
            if conn.execute(select(_head.c.id)).first() is None:
                conn.execute(insert(_head).values(id=HEAD_ID, size=0, last_hash=ZERO_HASH))

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read this thread makes in the block sees one state of the ledger, however
        others append meanwhile: the reads share one transaction (PostgreSQL: REPEATABLE
        READ; SQLite: one read transaction, which WAL mode keeps at its first read)."""
        if getattr(self._pinned, "conn", None) is not None:
            yield  # already in one
            return
        try:
            conn = self._read.connect()
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            conn.begin()
        except (DBAPIError, SQLAlchemyError) as e:
            raise StoreUnavailable(f"ledger database error: {error_reason(e)}") from e
        self._pinned.conn = conn
        try:
            yield
        finally:
            self._pinned.conn = None
            with contextlib.suppress(DBAPIError, SQLAlchemyError):  # only read: rolled back
                conn.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection to read on: inside :meth:`snapshot`, its one transaction (so that
        reads of the service's tables beside the ledger's see the same state), else a new
        one; a database error is :class:`StoreUnavailable`."""
        pinned: Connection | None = getattr(self._pinned, "conn", None)
        try:
            if pinned is not None:
                yield pinned
                return
            with self._read.connect() as conn:
                yield conn
        except (DBAPIError, SQLAlchemyError) as e:
            raise StoreUnavailable(f"ledger database error: {error_reason(e)}") from e

    def head(self) -> Head:
        with self.reading() as conn:
            row = conn.execute(select(_head.c.size, _head.c.last_hash)).one()
        return Head(int(row.size), bytes(row.last_hash))

    def append(
        self,
        drafts: Sequence[Entry],
        sign: CheckpointSigner,
        *,
        also: AlsoInTransaction | None = None,
    ) -> Appended:
        in_also = False
        try:
            with self._write.connect() as conn, _committed_or_unknown(conn):
                row = conn.execute(
                    select(_head.c.size, _head.c.last_hash)
                    .where(_head.c.id == HEAD_ID)
                    .with_for_update()
                ).one()
                head = Head(int(row.size), bytes(row.last_hash))
                keys = [k for k, width in partial_tile_keys(head.size) if width]
                seq = sequence(head, _read_tiles(conn, keys), drafts)
                note = sign(seq.head.size, seq.root)
                conn.execute(
                    insert(_entry),
                    [{"idx": head.size + i, "data": d} for i, d in enumerate(seq.entries)],
                )
                _write_tiles(conn, seq.tiles)
                if also is not None:
                    in_also = True
                    also(conn, head.size)
                    in_also = False
                conn.execute(insert(_checkpoint).values(size=seq.head.size, note=note))
                moved = conn.execute(
                    update(_head)
                    .where(_head.c.id == HEAD_ID, _head.c.size == head.size)
                    .values(size=seq.head.size, last_hash=seq.head.last_hash)
                )
                if moved.rowcount != 1:
                    raise HeadMoved("the ledger head moved during the append")
        except (DBAPIError, SQLAlchemyError) as e:
            if lock_timed_out(e) and not in_also:  # the ledger's own tables: every caller's
                raise StoreBusy(
                    f"append failed, nothing written: {error_reason(e)}; try again later"
                ) from e
            raise StoreUnavailable(f"append failed, nothing written: {error_reason(e)}") from e
        return Appended(head.size, seq.entries, seq.leaf_hashes, seq.head.size, seq.root, note)

    def read_entries(self, start: int, end: int) -> list[bytes]:
        with self.reading() as conn:
            rows = conn.execute(
                select(_entry.c.idx, _entry.c.data)
                .where(_entry.c.idx >= start, _entry.c.idx < end)
                .order_by(_entry.c.idx)
            ).all()
        if len(rows) != end - start or (rows and rows[-1].idx != end - 1):
            raise BadRange(f"entries {start}..{end} are not all stored")
        return [bytes(r.data) for r in rows]

    def iter_entries(
        self, start: int, end: int, chunk: int = 50_000
    ) -> Iterator[tuple[int, bytes]]:
        """(index, bytes) of every stored row in ``start`` ≤ index < ``end``, in order,
        without demanding contiguity (the audit judges the gaps). It reads through the
        driver's own cursor: this is the audit's hot path."""
        mark = "?" if self._read.dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"SELECT idx, data FROM ledger_entry WHERE idx >= {mark} AND idx < {mark} "  # noqa: S608
            f"ORDER BY idx LIMIT {int(chunk)}"
        )
        with self.reading() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                lo = start
                while lo < end:
                    cursor.execute(sql, (lo, end))
                    rows = cursor.fetchall()
                    if not rows:
                        return
                    for idx, data in rows:
                        yield idx, bytes(data)
                    lo = int(rows[-1][0]) + 1
            except Exception as e:
                raise StoreUnavailable(f"ledger database error: {error_reason(e)}") from e
            finally:
                cursor.close()

    def read_tiles(self, keys: Sequence[TileKey]) -> dict[TileKey, bytes]:
        with self.reading() as conn:
            return _read_tiles(conn, keys)

    def checkpoint(self, size: int | None = None) -> str | None:
        query = select(_checkpoint.c.note)
        if size is None:
            query = query.order_by(_checkpoint.c.size.desc()).limit(1)
        else:
            query = query.where(_checkpoint.c.size == size)
        with self.reading() as conn:
            note = conn.execute(query).scalar()
        return None if note is None else str(note)

    def checkpoint_after(self, index: int) -> tuple[int, str] | None:
        """(size, note) of the checkpoint committed with the append that recorded entry
        ``index``: each append stores one, at its new size, so it is the first stored above
        ``index`` (None while no append recorded it)."""
        query = (
            select(_checkpoint.c.size, _checkpoint.c.note)
            .where(_checkpoint.c.size > index)
            .order_by(_checkpoint.c.size)
            .limit(1)
        )
        with self.reading() as conn:
            row = conn.execute(query).first()
        return None if row is None else (int(row.size), str(row.note))

    def checkpoints(self) -> list[tuple[int, str]]:
        with self.reading() as conn:
            rows = conn.execute(
                select(_checkpoint.c.size, _checkpoint.c.note).order_by(_checkpoint.c.size)
            ).all()
        return [(int(r.size), str(r.note)) for r in rows]

    def close(self) -> None:
        self._read.dispose()
        if self._write is not self._read:
            self._write.dispose()


@contextlib.contextmanager
def _committed_or_unknown(conn: Connection) -> Iterator[None]:
    """A transaction on ``conn``, committed at the end of the block (rolled back on an
    error in it); an error at COMMIT itself (the connection lost on the way, say) leaves
    unknown whether the database committed: it is :class:`OutcomeUnknown`, not the
    "nothing written" of an append refused."""
    transaction = conn.begin()
    try:
        yield
    except BaseException:
        transaction.rollback()
        raise
    try:
        transaction.commit()
    except (DBAPIError, SQLAlchemyError) as e:
        raise OutcomeUnknown(
            f"the database did not confirm the append's commit ({error_reason(e)}): it may "
            "be recorded or not; look before doing it again"
        ) from e


def _read_tiles(conn: Connection, keys: Sequence[TileKey]) -> dict[TileKey, bytes]:
    if not keys:
        return {}
    out: dict[TileKey, bytes] = {}
    for level in sorted({k[0] for k in keys}):
        indexes = [k[1] for k in keys if k[0] == level]
        rows = conn.execute(
            select(_tile.c.idx, _tile.c.hashes).where(
                _tile.c.level == level, _tile.c.idx.in_(indexes)
            )
        ).all()
        for r in rows:
            out[(level, int(r.idx))] = bytes(r.hashes)
    return out


def _write_tiles(conn: Connection, tiles: dict[TileKey, bytes]) -> None:
    """Upsert: a partial tile grows in place; a delete-then-insert works on every backend."""
    if not tiles:
        return
    for level in {k[0] for k in tiles}:
        conn.execute(
            _tile.delete().where(
                _tile.c.level == level, _tile.c.idx.in_([k[1] for k in tiles if k[0] == level])
            )
        )
    conn.execute(
        insert(_tile), [{"level": k[0], "idx": k[1], "hashes": v} for k, v in tiles.items()]
    )


def lock_timed_out(e: BaseException) -> bool:
    """Whether ``e`` is PostgreSQL giving up waiting for a lock another session holds."""
    orig = getattr(e, "orig", e)
    return getattr(orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE


def error_reason(e: Exception) -> str:
    """The database's own first line about ``e`` (never SQLAlchemy's, which quotes the SQL
    and its parameters): what a StoreUnavailable may tell a client."""
    if lock_timed_out(e):
        return "another database session holds a lock this needs, and held it too long"
    orig = getattr(e, "orig", None)
    said = str(orig or e).strip().splitlines()[0] if str(orig or e).strip() else type(e).__name__
    if getattr(orig, "sqlstate", None) == _INVALID_SCHEMA_NAME:
        said += (
            " (the schema the database URL's search_path names does not exist: create it "
            "first, CREATE SCHEMA name)"
        )
    return said
