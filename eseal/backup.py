"""Backing a node up while it serves, and checking a backup (``eseal backup``).

A backup is a directory: ``node.json``, the key files as they are (sealed under the node's
passphrase: never opened here), the ledger database (SQLite: a consistent copy made with
SQLite's online backup API, beside a serving node's appends), and ``backup.json``, the
manifest: each file's size and SHA-256, and the ledger's size, root hash and signed
checkpoint at the copy, with the schema revisions. It is made under a temporary name beside
its destination (``OUT.incomplete-…``), each file fsynced, the manifest written last, and
renamed to ``OUT`` only once whole: a directory named ``OUT`` is a complete backup, and one
cut short (a crash, kill -9) leaves a directory named incomplete, with no manifest.

The database is copied before the key files: a signing key's file is written before the
act that records the key commits, so every key the copy records has its file in the backup
(a key recorded after the copy is an extra file, sealed and harmless). The keys lock is held
shared meanwhile, so no passphrase change rewrites the files under the copy.

A PostgreSQL database is dumped by ``pg_dump`` (custom format, ``ledger.pgdump``), in a
snapshot this holds: a read-only REPEATABLE READ transaction exports its snapshot, reads the
ledger's head in it (the manifest's size and root), and stays open until ``pg_dump
--snapshot`` has read the same state; the key files are copied after, in the same order as
for SQLite. The password reaches pg_dump through its environment (``PGPASSWORD``), never its
command line. A pg_dump missing, or older than the server, is refused before anything is
written.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from sqlalchemy import inspect, select, union
from sqlalchemy.engine import make_url

from eseal.models import AgencyKeyRow, SealRow, WitnessKeyRow
from eseal.node import (
    ISSUING_MIGRATIONS,
    LOG_KEY_FILE,
    NODE_FILE,
    ROOT_KEY_FILE,
    LedgerMissing,
    NodeConfig,
    node_database_url,
    read_config,
    shown_url,
)
from eseal.passphrase import KEYS_DIR, hold_keys, release_keys
from keys import ed25519
from keys.errors import PARSE_ERRORS, CheckFailed, ExternalFailure, InvalidInput, shown
from keys.keyfile import fsync_directory
from keys.strictjson import MalformedJson, loads_strict
from ledger.audit import audit
from ledger.checkpoint import Checkpoint, parse_verifier_key, verify_checkpoint
from ledger.migrate import require_known
from ledger.sql import (
    ExportedSnapshot,
    SqlStore,
    copy_sqlite,
    exported_snapshot,
    read_head,
    sqlite_read_only_url,
)

MANIFEST = "backup.json"
BACKUP_FORMAT = "eseal-backup/v1"
LEDGER_FILE = "ledger.db"
#: The dump of a PostgreSQL node's database (pg_dump's custom format).
PG_DUMP_FILE = "ledger.pgdump"
#: How a pg_dump archive of the custom format begins.
_PG_DUMP_MAGIC = b"PGDMP"
_INSTALL_PG_DUMP = (
    "install PostgreSQL's client programs, of the server's major version or newer "
    "(Debian, Ubuntu: apt-get install postgresql-client)"
)
VERSION_TABLES = ("ledger_alembic_version", "eseal_alembic_version")
_agency_key = AgencyKeyRow.__table__  # type: ignore[attr-defined]
_seal = SealRow.__table__  # type: ignore[attr-defined]
_witness_key = WitnessKeyRow.__table__  # type: ignore[attr-defined]
#: A manifest lists a few files per signing key: this bounds it before it is parsed.
MAX_MANIFEST = 64 * 1024 * 1024
#: What to do with a backup whose manifest is damaged: the manifest is what it is checked
#: against, so nothing of it can be trusted.
_DAMAGED_MANIFEST = "the backup cannot be checked without it: use another backup, or take a new one"
#: What to do with a backup whose node.json is refused (its manifest's hash of it checked):
#: not what a node's own is told (copy it back from a backup), which this is.
_BACKUP_NODE_FILE = "use another backup of the node, or take a new one"
#: The files a backup may hold, by their path in it.
_BACKUP_PATH = re.compile(
    r"node\.json|ledger\.db|ledger\.pgdump|keys/(?:root|log|[0-9a-f]{16})\.key"
)


class NotABackup(InvalidInput):
    """The directory holds no complete eseal backup (no manifest, or an unreadable one)."""

    code = "not-a-backup"


class BackupTargetInUse(InvalidInput):
    """The backup's destination exists and is not an empty directory."""

    code = "backup-target-in-use"


class PgDumpUnavailable(InvalidInput):
    """A PostgreSQL node is to be backed up and pg_dump is missing, or older than the
    server (it refuses to dump a newer one)."""

    code = "pg-dump-unavailable"


class PgDumpFailed(ExternalFailure):
    """pg_dump ran and failed (the database refused it, the disk is full, …)."""

    code = "pg-dump-failed"


@dataclass(frozen=True)
class PgDump:
    """The pg_dump program found: its path, its version as it says it, its major version."""

    path: str
    version: str
    major: int


@dataclass(frozen=True)
class FileRecord:
    """A file of a backup as its manifest lists it."""

    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"bytes": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class Backup:
    """A backup made: where, and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def key_files(self) -> int:
        return sum(1 for name in self.manifest["files"] if name.startswith(KEYS_DIR + "/"))


@dataclass
class BackupReport:
    """What checking a backup found (``problems`` empty: it holds)."""

    path: Path
    manifest: dict[str, Any]
    files_checked: int = 0
    entries_audited: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _sha256_of(path: Path) -> FileRecord:
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256")
    return FileRecord(path.stat().st_size, digest.hexdigest())


def _write_private(target: Path, data: bytes) -> FileRecord:
    """Write ``data`` into the new file ``target`` (0600), fsynced."""
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return FileRecord(len(data), hashlib.sha256(data).hexdigest())


def _copy_private(source: Path, target: Path) -> FileRecord:
    """Copy the small file ``source`` byte for byte into the new file ``target`` (0600),
    fsynced."""
    return _write_private(target, source.read_bytes())


def _require_new_target(out: Path, data_dir: Path) -> None:
    """``out`` may be made: it is not there, or is an empty directory; its parent is a
    directory; it is not inside the node's data directory (lost with it, and copied into
    itself)."""
    if out.resolve().is_relative_to(data_dir.resolve()):
        raise InvalidInput(
            f"{out} is inside the node's data directory {data_dir}: back up elsewhere "
            "(another disk, or another machine)"
        )
    if out.is_symlink() or out.is_file() or (out.is_dir() and any(out.iterdir())):
        raise BackupTargetInUse(
            f"{out} exists and is not an empty directory: name a new directory for the "
            "backup (nothing was written)"
        )
    if not out.parent.is_dir():
        raise InvalidInput(f"{out.parent} is not a directory: make it first")
    if os.path.ismount(out):
        raise BackupTargetInUse(
            f"{out} is a mount point: the backup is written beside it and then renamed to it, "
            f"which cannot cross filesystems; name a new directory in it, e.g. "
            f"{out / 'eseal-backup'} (nothing was written)"
        )


def _checked_head(note: str | None, size: int, config: NodeConfig, where: str) -> Checkpoint:
    """The latest checkpoint ``note`` of a ledger of ``size`` entries, which must be this
    node's (its log key's signature, its origin) and the ledger's head."""
    if note is None or size == 0:
        raise LedgerMissing(f"the ledger at {where} is empty, not the node's: nothing to back up")
    checkpoint = verify_checkpoint(note, parse_verifier_key(config.log_verifier))
    if checkpoint.origin != config.origin:
        raise LedgerMissing(f"the ledger at {where} is not the one of this node ({config.origin})")
    if checkpoint.size != size:
        raise CheckFailed(
            f"the ledger at {where} has {size} entries but its latest checkpoint "
            f"{checkpoint.size}: audit it with `eseal ledger verify`"
        )
    return checkpoint


#: A search path of one schema, as libpq's ``options`` in a database URL sets it.
_SEARCH_PATH = re.compile(r"-c\s*search_path=([A-Za-z_][A-Za-z0-9_$]*)(?=\s|$)")
_SECRET_PARAMETERS = ("password", "sslpassword")


def find_pg_dump() -> PgDump:
    """The pg_dump on PATH and its version, or :class:`PgDumpUnavailable`."""
    path = shutil.which("pg_dump")
    if path is None:
        raise PgDumpUnavailable(
            "pg_dump is not installed (none on PATH): a PostgreSQL node's backup holds the "
            f"dump of its database; {_INSTALL_PG_DUMP} (nothing was written)"
        )
    try:
        run = subprocess.run(  # noqa: S603 - the pg_dump on PATH, no shell
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise PgDumpUnavailable(
            f"{path} cannot be run ({e}): {_INSTALL_PG_DUMP} (nothing was written)"
        ) from e
    said = run.stdout.strip()
    version = re.search(r"\b(\d+)(?:\.\d+)*\b", said)
    if run.returncode != 0 or version is None:
        raise PgDumpUnavailable(
            f"{path} --version does not say a version ({shown(said)}): {_INSTALL_PG_DUMP} "
            "(nothing was written)"
        )
    return PgDump(path, version.group(0), int(version.group(1)))


def _require_dump_of(pg_dump: PgDump, server_major: int) -> None:
    if pg_dump.major < server_major:
        raise PgDumpUnavailable(
            f"{pg_dump.path} is pg_dump {pg_dump.version}, older than the database server "
            f"(PostgreSQL {server_major}), which it cannot dump: {_INSTALL_PG_DUMP} "
            "(nothing was written)"
        )


@dataclass(frozen=True)
class _DumpTarget:
    """What pg_dump is told of the database: the URL without its password, the password
    apart (for its environment), and the one schema the URL's ``options`` select, if any."""

    url: str
    password: str | None
    schema: str | None


def _dump_target(url: str) -> _DumpTarget:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]  # postgresql+psycopg: libpq's is postgresql
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == "sslpassword" for k, _ in query):
        raise InvalidInput(
            "the database URL holds an sslpassword, which pg_dump could only be given on its "
            "command line: give the client key without a passphrase, or take the dump "
            "yourself (nothing was written)"
        )
    password = make_url(url).password
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}"
    kept = [(k, v) for k, v in query if k != "password"]
    in_query = [v for k, v in query if k == "password"]
    if password is None and in_query:
        password = in_query[-1]
    text = parts.query if len(kept) == len(query) else urlencode(kept, quote_via=quote)
    schemas = [m for k, v in kept if k == "options" for m in _SEARCH_PATH.findall(v)]
    # Not urlunsplit: "postgresql:///db" (no host: the local socket) would lose its "//".
    target = f"{scheme}://{netloc}{parts.path}" + (f"?{text}" if text else "")
    return _DumpTarget(target, password, schemas[0] if len(schemas) == 1 else None)


def _dump_database(
    target: Path, url: str, pg_dump: PgDump, snapshot: ExportedSnapshot
) -> dict[str, Any]:
    """Dump the database at ``url`` into the new file ``target`` (0600, fsynced), as the
    exported ``snapshot`` sees it; what the manifest records of the dump."""
    dump = _dump_target(url)
    command = [
        pg_dump.path,
        "--format=custom",
        f"--file={target}",
        f"--snapshot={snapshot.id}",
        "--no-password",  # never a prompt: the password comes from the environment
    ]
    if dump.schema is not None:
        command.append(f"--schema={dump.schema}")
    command.append(f"--dbname={dump.url}")
    env = dict(os.environ)
    if dump.password is not None:
        env["PGPASSWORD"] = dump.password
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # pg_dump truncates it and writes; the mode stays
    finally:
        os.close(fd)
    run = subprocess.run(  # noqa: S603 - the pg_dump on PATH, no shell; no secret in it
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, check=False
    )
    if run.returncode != 0:
        said = run.stderr.strip()
        if dump.password:
            said = said.replace(dump.password, "***")
        raise PgDumpFailed(
            f"pg_dump failed (exit {run.returncode}): {said[-2000:] or 'it said nothing'}"
        )
    fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return {
        "file": PG_DUMP_FILE,
        "format": "custom",
        "pg_dump": pg_dump.version,
        "schema": dump.schema,
    }


def take_backup(data_dir: Path, out: Path, *, database_url: str | None, now: int) -> Backup:
    """Back the node in ``data_dir`` up into the new directory ``out`` (see the module's
    docstring), reading its database as it is (no migration: a backup taken before an
    upgrade keeps the older schema)."""
    config = read_config(data_dir)
    url = node_database_url(data_dir, config, database_url)
    out = Path(os.path.abspath(out))
    _require_new_target(out, data_dir)
    sqlite = make_url(url).get_backend_name() == "sqlite"
    source = Path(make_url(url).database or "") if sqlite else None
    if source is not None and not source.is_file():
        raise LedgerMissing(f"the node in {data_dir} has no ledger at {source}: nothing to back up")
    pg_dump = None if sqlite else find_pg_dump()
    with contextlib.ExitStack() as held:
        snapshot = None
        if pg_dump is not None:  # held until the backup is whole: pg_dump reads it
            snapshot = held.enter_context(exported_snapshot(url, VERSION_TABLES))
            _require_dump_of(pg_dump, snapshot.server_major)
        lock = hold_keys(data_dir)  # no passphrase change rewrites the key files meanwhile
        if lock is not None:
            held.callback(release_keys, lock)
        work = out.with_name(f"{out.name}.incomplete-{secrets.token_hex(4)}")
        work.mkdir(mode=0o700)
        try:
            backup = _fill(
                work,
                out=out,
                data_dir=data_dir,
                config=config,
                url=url,
                source=source,
                pg=None if pg_dump is None or snapshot is None else (pg_dump, snapshot),
                now=now,
            )
            _publish(work, out)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return backup


def _fill(
    work: Path,
    *,
    out: Path,
    data_dir: Path,
    config: NodeConfig,
    url: str,
    source: Path | None,
    pg: tuple[PgDump, ExportedSnapshot] | None,
    now: int,
) -> Backup:
    """Write the backup into ``work``: the database (SQLite's copy, or PostgreSQL's dump in
    the snapshot ``pg`` holds), then node.json and the key files, then the manifest."""
    files: dict[str, FileRecord] = {}
    dump: dict[str, Any] | None = None
    if source is not None:
        copy_sqlite(source, work / LEDGER_FILE)
        files[LEDGER_FILE] = _sha256_of(work / LEDGER_FILE)
        head = read_head(sqlite_read_only_url(work / LEDGER_FILE), VERSION_TABLES)
        where = str(source)
    elif pg is not None:
        pg_dump, snapshot = pg
        head, where = snapshot.head, shown_url(url)
        _checked_head(head.checkpoint, head.size, config, where)  # before the dump is taken
        dump = _dump_database(work / PG_DUMP_FILE, url, pg_dump, snapshot)
        files[PG_DUMP_FILE] = _sha256_of(work / PG_DUMP_FILE)
    else:
        raise AssertionError("a PostgreSQL backup is taken in an exported snapshot")
    checkpoint = _checked_head(head.checkpoint, head.size, config, where)
    # After the database: every key the copy records has its file by now.
    files[NODE_FILE] = _copy_private(data_dir / NODE_FILE, work / NODE_FILE)
    (work / KEYS_DIR).mkdir(mode=0o700)
    for path in sorted((data_dir / KEYS_DIR).iterdir()):
        name = f"{KEYS_DIR}/{path.name}"
        if not _BACKUP_PATH.fullmatch(name) or not path.is_file():
            continue  # the lock, a key file being written (.NAME.tmp)
        try:
            files[name] = _copy_private(path, work / name)
        except FileNotFoundError:
            continue  # removed since listed: the key of an act that failed
    for required in (ROOT_KEY_FILE, LOG_KEY_FILE):
        if required not in files:
            raise InvalidInput(f"the node in {data_dir} has no {required}: it cannot be restored")
    fsync_directory(work / KEYS_DIR)
    manifest = {
        "format": BACKUP_FORMAT,
        "created_at": now,
        "region": config.region,
        "name": config.name,
        "origin": config.origin,
        "root_key_id": ed25519.key_id(config.root_public_key).hex(),
        "database": "sqlite" if source is not None else "postgresql",
        "ledger": {
            "size": checkpoint.size,
            "root_hash": _b64(checkpoint.root_hash),
            "checkpoint": head.checkpoint,
        },
        "schema": {table: list(revs) for table, revs in head.revisions.items()},
        "files": {name: record.to_json() for name, record in sorted(files.items())},
    }
    if dump is not None:
        manifest["dump"] = dump
    _write_manifest(work / MANIFEST, manifest)
    fsync_directory(work)
    return Backup(out, manifest)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    _write_private(path, (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode())


def _publish(work: Path, out: Path) -> None:
    """Rename the whole backup ``work`` to ``out`` (which may be an empty directory: it is
    replaced), and make the rename durable."""
    try:
        os.rename(work, out)
    except OSError as e:
        if e.errno in (errno.EXDEV, errno.EBUSY):  # a mount point os.path.ismount missed
            raise BackupTargetInUse(
                f"{out} cannot be replaced by the backup ({e.strerror}): it is a mount point, "
                "or in use; name a new directory in it (the backup was not kept)"
            ) from e
        if out.exists():
            raise BackupTargetInUse(
                f"{out} was made, or written in, while the backup ran: the backup was not "
                "kept; name a new directory"
            ) from e
        raise
    fsync_directory(out.parent)


# --- checking a backup ------------------------------------------------------------------


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the backup in ``path``, checked for form."""
    file = path / MANIFEST
    if not path.is_dir():
        raise NotABackup(f"{path} is not a directory")
    if not file.is_file():
        hint = " (a backup cut short: remove it)" if ".incomplete-" in path.name else ""
        raise NotABackup(f"{path} holds no {MANIFEST}: it is no complete eseal backup{hint}")
    with file.open("rb") as f:
        data = f.read(MAX_MANIFEST + 1)  # one byte more: a larger file is refused
    try:
        manifest = loads_strict(data, what=str(file), max_bytes=MAX_MANIFEST)
    except MalformedJson as e:
        raise NotABackup(f"{e.message}; {_DAMAGED_MANIFEST}") from e
    try:
        if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
            raise NotABackup(f"{file} is not an {BACKUP_FORMAT} manifest")
        ledger, files = manifest["ledger"], manifest["files"]
        ok = (
            all(isinstance(manifest[k], str) for k in ("region", "origin", "root_key_id"))
            and manifest["database"] in ("sqlite", "postgresql")
            and isinstance(ledger["size"], int)
            and isinstance(ledger["root_hash"], str)
            and isinstance(ledger["checkpoint"], str)
            and isinstance(files, dict)
            and all(
                isinstance(name, str)
                and _BACKUP_PATH.fullmatch(name)
                and isinstance(record["bytes"], int)
                and isinstance(record["sha256"], str)
                for name, record in files.items()
            )
        )
    except PARSE_ERRORS as e:  # not of this form
        raise NotABackup(f"{file} is malformed: {shown(e)}; {_DAMAGED_MANIFEST}") from e
    if not ok:
        raise NotABackup(f"{file} is malformed; {_DAMAGED_MANIFEST}")
    return manifest


def check_backup(path: Path) -> BackupReport:
    """Check the backup in ``path`` without changing it, nor opening any node: every file the
    manifest lists, as it lists it; node.json, the node the manifest names; the ledger
    (SQLite) audited whole, at the manifest's size and checkpoint; a key file for every
    signing key the database records."""
    manifest = read_manifest(path)
    report = BackupReport(path, manifest)
    for name, record in manifest["files"].items():
        file = path / name
        if file.is_symlink():
            report.problems.append(f"{name} is a symbolic link, not a file of the backup")
            continue
        if not file.is_file():
            report.problems.append(f"{name} is missing")
            continue
        found = _sha256_of(file)
        if (found.size, found.sha256) != (record["bytes"], record["sha256"]):
            report.problems.append(f"{name} is not the file backed up (its size or SHA-256)")
        report.files_checked += 1
    for required in (NODE_FILE, ROOT_KEY_FILE, LOG_KEY_FILE):
        if required not in manifest["files"]:
            report.problems.append(f"the manifest lists no {required}")
    report.problems += _unlisted(path, manifest)
    if report.problems:
        return report  # nothing more is worth reading
    config = read_config(path, _BACKUP_NODE_FILE)
    if (config.region, config.origin, ed25519.key_id(config.root_public_key).hex()) != (
        manifest["region"],
        manifest["origin"],
        manifest["root_key_id"],
    ):
        report.problems.append("node.json is not the node the manifest names")
    report.problems += _ledger_problems(manifest, config)
    if manifest["database"] == "sqlite":
        _check_ledger(path, config, manifest, report)
    else:
        _check_dump(path, manifest, report)
    return report


def _ledger_problems(manifest: dict[str, Any], config: NodeConfig) -> list[str]:
    """The manifest's ledger (the size and root hash a restore is checked against) must be
    its checkpoint's, signed by the node's log key under its origin."""
    ledger = manifest["ledger"]
    try:
        checkpoint = verify_checkpoint(
            ledger["checkpoint"], parse_verifier_key(config.log_verifier)
        )
    except (InvalidInput, CheckFailed) as e:
        return [f"the manifest's checkpoint is not one the node's log key signed: {e.message}"]
    if checkpoint.origin != config.origin:
        return [f"the manifest's checkpoint is not of the node's log ({config.origin})"]
    if (checkpoint.size, _b64(checkpoint.root_hash)) != (ledger["size"], ledger["root_hash"]):
        return ["the manifest's ledger size or root hash is not its checkpoint's"]
    return []


def _unlisted(path: Path, manifest: dict[str, Any]) -> list[str]:
    """What the backup in ``path`` holds beside the files its manifest lists: each a problem,
    since a restore copies it into the node (a ``ledger.db-wal`` or ``-journal`` there is read
    by SQLite as part of the ledger, which the check, reading the file alone, never saw)."""
    listed = {*manifest["files"], MANIFEST}
    folders = {name.rpartition("/")[0] for name in listed if "/" in name} | {KEYS_DIR}
    problems = []
    for top, dirs, files in os.walk(path):  # links are not followed
        for entry in sorted([*dirs, *files]):
            found = Path(top) / entry
            name = found.relative_to(path).as_posix()
            if name in listed:
                continue  # a link in its place is named with the listed files
            if name in folders and found.is_symlink():
                problems.append(f"{name} is a symbolic link, not a folder of the backup")
                continue
            if name in folders and found.is_dir():
                continue
            problems.append(
                f"{name} is not in the manifest: no file of the backup, yet a restore would "
                "copy it into the node; remove it, or use another backup"
            )
    return problems


def _check_dump(path: Path, manifest: dict[str, Any], report: BackupReport) -> None:
    """The dump of a PostgreSQL node is there, as the manifest lists it (its hash and size,
    checked above), and is a pg_dump archive; restoring it (pg_restore) is the operator's."""
    if PG_DUMP_FILE not in manifest["files"]:
        report.problems.append(
            f"the manifest lists no {PG_DUMP_FILE}: the backup holds no dump of the database"
        )
        return
    with (path / PG_DUMP_FILE).open("rb") as f:
        if f.read(len(_PG_DUMP_MAGIC)) != _PG_DUMP_MAGIC:
            report.problems.append(f"{PG_DUMP_FILE} is not a pg_dump archive (custom format)")


def _check_ledger(
    path: Path, config: NodeConfig, manifest: dict[str, Any], report: BackupReport
) -> None:
    if LEDGER_FILE not in manifest["files"]:
        report.problems.append(f"the manifest lists no {LEDGER_FILE}")
        return
    store = SqlStore(sqlite_read_only_url(path / LEDGER_FILE), read_only=True)
    try:
        with store.read_engine.connect() as conn:
            require_known(conn, ISSUING_MIGRATIONS, "eseal_alembic_version")
        audited = audit(store, parse_verifier_key(config.log_verifier))
        report.entries_audited = audited.entries_checked
        report.problems += audited.problems
        latest = store.checkpoint()
        if audited.size != manifest["ledger"]["size"] or latest != manifest["ledger"]["checkpoint"]:
            report.problems.append(
                f"the ledger holds {audited.size} entries under another checkpoint than the "
                f"manifest's ({manifest['ledger']['size']} entries)"
            )
        with store.read_engine.connect() as conn:
            kinds = [select(_agency_key.c.key_id), select(_seal.c.key_id)]
            if inspect(conn).has_table(_witness_key.name):  # eseal_0004 on
                kinds.append(select(_witness_key.c.key_id))
            recorded = conn.execute(union(*kinds)).scalars()
            missing = sorted(k for k in recorded if f"{KEYS_DIR}/{k}.key" not in manifest["files"])
    finally:
        store.close()
    if missing:
        shown = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        report.problems.append(f"no key file for signing keys the database records: {shown}")
