"""A region's node on disk: its data directory, node.json, encrypted root and log keys,
and the ledger store; ``init_node`` creates one, ``Node.open`` opens one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy.engine import make_url

from eseal.ids import validate_node_region, validate_region_code
from eseal.passphrase import exclusive_keys, hold_keys, release_keys
from keys import ed25519, keyfile
from keys.errors import ExternalFailure, InvalidInput, shown
from keys.statements import KeyStatement, KeyStatus, Role, certify
from keys.strictjson import MalformedJson, loads_strict
from ledger.checkpoint import NoteVerifier, origin_problem, parse_verifier_key, verifier_key
from ledger.entries import Entry, decode_entry, digest
from ledger.group_commit import GroupCommitter
from ledger.log import Log
from ledger.migrate import upgrade
from ledger.sql import SqlStore, holds_ledger, sqlite_url
from ledger.store import AlsoInTransaction, Appended, LedgerStore, OutcomeUnknown
from verifier.trust import displayable

NODE_FILE = "node.json"
NODE_FORMAT = "eseal-node/v1"
ROOT_KEY_FILE = "keys/root.key"
LOG_KEY_FILE = "keys/log.key"
#: node.json holds a few short fields (about 500 bytes): a larger file is no node's.
MAX_NODE_FILE = 64 * 1024
#: What to do with a damaged node.json: it never changes after ``eseal init`` wrote it.
RESTORE_NODE_FILE = (
    "copy it back from a backup of the node (nothing changes node.json once `eseal init` "
    "has written it)"
)
#: The fields of node.json that are text, each required.
_NODE_TEXT_FIELDS = ("region", "name", "origin", "root_public_key", "log_verifier")
KEY_LIFETIME = 20 * 365 * 86400
ISSUING_MIGRATIONS = Path(__file__).parent / "migrations"


class KeysLocked(InvalidInput):
    """An operation needs private keys and no passphrase was given."""

    code = "keys-locked"
    http_status = 503


class NotInitialised(InvalidInput):
    """The data directory holds no node yet."""

    code = "not-initialised"


class AlreadyInitialised(InvalidInput):
    """``eseal init`` on a data directory that already holds a node."""

    code = "already-initialised"


class LedgerMissing(InvalidInput):
    """The node's ledger database is missing, empty, or another node's."""

    code = "ledger-missing"


class KeyFileNotTheNodes(InvalidInput):
    """A key file opens with the passphrase but holds another key than the one it stands
    for (the root or log key node.json names, the key id it is named after)."""

    code = "key-file-not-the-nodes"


class SigningKeyUnusable(ExternalFailure):
    """A signing key's file (an agency's, a seal's, the witness's) is there but the node
    cannot use it: damaged, sealed under another passphrase, or holding another key. The
    node's failure, not its caller's: the operator restores the file from a backup."""

    code = "signing-key-unusable"


class BadNodeFile(InvalidInput):
    """node.json is unreadable or malformed."""

    code = "bad-node-file"


@dataclass(frozen=True)
class NodeConfig:
    """What node.json records: who this region is and where its ledger lives."""

    region: str
    name: str
    origin: str
    root_public_key: bytes
    log_verifier: str
    database_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": NODE_FORMAT,
            "region": self.region,
            "name": self.name,
            "origin": self.origin,
            "root_public_key": self.root_public_key.hex(),
            "root_key_id": ed25519.key_id(self.root_public_key).hex(),
            "log_verifier": self.log_verifier,
            "database_url": self.database_url,
        }

    @classmethod
    def from_json(
        cls, raw: Any, where: object = NODE_FILE, advice: str = RESTORE_NODE_FILE
    ) -> NodeConfig:
        """The configuration ``raw`` (node.json's value, read from ``where``) records, each
        field of its type and form; :class:`BadNodeFile` naming the first flaw otherwise,
        and ``advice``, what to do about it."""

        def bad(why: str) -> BadNodeFile:
            return BadNodeFile(f"{where} is damaged: {why}; {advice}")

        if not isinstance(raw, dict):
            raise bad("it is not a JSON object")
        if raw.get("format") != NODE_FORMAT:
            raise BadNodeFile(
                f"{where} is of format {shown(raw.get('format'))}, not {NODE_FORMAT}; run the "
                f"eseal that made it, or {advice}"
            )
        for name in _NODE_TEXT_FIELDS:
            if name not in raw:
                raise bad(f"it has no {name}")
            if type(raw[name]) is not str:
                raise bad(f"its {name} is {shown(raw[name])}, not text")
        database_url = raw.get("database_url")
        if database_url is not None and type(database_url) is not str:
            raise bad(f"its database_url is {shown(database_url)}, neither text nor null")
        try:
            root_public_key = bytes.fromhex(raw["root_public_key"])
        except ValueError:
            root_public_key = b""
        if len(root_public_key) != ed25519.PUBLIC_KEY_SIZE:
            raise bad(f"its root_public_key is not {ed25519.PUBLIC_KEY_SIZE} bytes in hex")
        try:
            cfg = cls(
                region=validate_region_code(raw["region"]),
                name=raw["name"],
                origin=raw["origin"],
                root_public_key=root_public_key,
                log_verifier=raw["log_verifier"],
                database_url=database_url,
            )
            parse_verifier_key(cfg.log_verifier)
        except InvalidInput as e:  # the region code, or the log's verifier key
            raise bad(e.message) from e
        return cfg


class Node:
    """An opened node: configuration, ledger, and (when unlocked) the root and log keys."""

    def __init__(
        self,
        data_dir: Path,
        config: NodeConfig,
        store: LedgerStore,
        *,
        root_key: SigningKey | None = None,
        log_key: SigningKey | None = None,
        passphrase: bytes | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        self.store = store
        self.root_key = root_key
        self.log_verifier: NoteVerifier = parse_verifier_key(config.log_verifier)
        self.log = Log(store, origin=config.origin, verifier=self.log_verifier, signing_key=log_key)
        self.passphrase = passphrase
        self.log_key = log_key
        self._key_cache: dict[str, SigningKey] = {}
        self._committer: GroupCommitter | None = None
        #: The keys lock's descriptor, held shared while an opened node holds the keys.
        self._keys_lock: int | None = None
        if isinstance(store, SqlStore):
            upgrade(store.write_engine, ISSUING_MIGRATIONS, "eseal_alembic_version")

    def append(self, drafts: Sequence[Entry], *, also: AlsoInTransaction | None = None) -> Appended:
        """Record acts in the ledger (with ``also`` in the same transaction); through the
        group committer when one runs (the HTTP server), so concurrent requests share
        transactions. A node opened without its passphrase records nothing: KeysLocked, the
        problem of every act of such a node (the ledger's own LogKeyLocked would name
        another cause for the same condition)."""
        self.require_log_key()
        if self._committer is not None:
            return self._committer.append(drafts, also=also)
        return self.log.append(drafts, also=also)

    def start_group_commit(self) -> None:
        if self._committer is None:
            self._committer = GroupCommitter(self.log.append)

    @property
    def sql(self) -> SqlStore:
        """The SQL store (the issuing service's tables live beside the ledger's)."""
        if not isinstance(self.store, SqlStore):
            raise InvalidInput("the issuing service needs a SQL store")
        return self.store

    @property
    def root_key_id(self) -> bytes:
        return ed25519.key_id(self.config.root_public_key)

    def key_add_entry(self, key_id: bytes, statement: bytes, now: int) -> Entry:
        """The ledger's ``key.add`` of a key the region root certified: subject its key id,
        body its signed statement, signed off by the root's key id."""
        return Entry(
            "key.add",
            now,
            self.config.region,
            key_id.hex(),
            digest(statement),
            self.root_key_id,
            body=statement,
        )

    def require_log_key(self) -> SigningKey:
        if self.log_key is None:
            raise KeysLocked("this needs the region's keys: set ESEAL_PASSPHRASE")
        return self.log_key

    def require_root_key(self) -> SigningKey:
        if self.root_key is None:
            raise KeysLocked("this needs the region's keys: set ESEAL_PASSPHRASE")
        return self.root_key

    def key_path(self, key_id: bytes) -> Path:
        return self.data_dir / "keys" / f"{key_id.hex()}.key"

    def store_key(self, key: SigningKey, *, label: str) -> bytes:
        """Encrypt and write a new signing key (agency or seal) under the node passphrase."""
        if self.passphrase is None:
            raise KeysLocked("this needs the region's keys: set ESEAL_PASSPHRASE")
        kid = ed25519.key_id(bytes(key.verify_key))
        keyfile.write_key_file(self.key_path(kid), key, self.passphrase, label=label)
        self._key_cache[kid.hex()] = key
        return kid

    def discard_key(self, key_id: bytes, error: BaseException) -> None:
        """Remove the file of a key whose act failed to be recorded with ``error``; but keep
        it where the act may be recorded all the same (a commit not confirmed, a wait given
        up, an interrupt): a recorded key without its file could sign nothing ever again,
        while a file no act records is harmless (sealed, never read)."""
        if isinstance(error, Exception) and not isinstance(error, OutcomeUnknown):
            self.key_path(key_id).unlink(missing_ok=True)
            self._key_cache.pop(key_id.hex(), None)

    def signing_key(self, key_id: bytes, public_key: bytes | None = None) -> SigningKey:
        """An agency's, seal's or the witness's signing key, decrypted once and kept in
        memory; its file must hold the key of ``key_id`` and, where the caller has the key
        recorded, of ``public_key`` itself (:class:`SigningKeyUnusable` otherwise)."""
        cached = self._key_cache.get(key_id.hex())
        if cached is not None:
            return cached
        if self.passphrase is None:
            raise KeysLocked("this needs the region's keys: set ESEAL_PASSPHRASE")
        path = self.key_path(key_id)
        try:
            key = keyfile.read_key_file(path, self.passphrase)
            _require_key(path, key, key_id, "key", public_key)
        except (keyfile.CorruptKeyFile, keyfile.WrongPassphrase, KeyFileNotTheNodes) as e:
            # Named within the data directory: an HTTP caller is told which key, not where
            # the server keeps its files.
            raise SigningKeyUnusable(
                f"the node cannot sign with key {key_id.hex()}: its file "
                f"{path.relative_to(self.data_dir)} {_UNUSABLE[type(e)]}; the operator "
                "restores it from a backup of this node"
            ) from e
        self._key_cache[key_id.hex()] = key
        return key

    @classmethod
    def open(
        cls, data_dir: Path, *, passphrase: bytes | None = None, database_url: str | None = None
    ) -> Node:
        """Open the node in ``data_dir``; with a passphrase, unlock its keys for writing."""
        config = read_config(data_dir)
        url = node_database_url(data_dir, config, database_url)
        root_key = log_key = None
        keys_lock = None
        if passphrase is not None:
            # Held while this node holds the keys: no passphrase change runs meanwhile.
            keys_lock = hold_keys(data_dir)
        try:
            if passphrase is not None:
                root_key = keyfile.read_key_file(data_dir / ROOT_KEY_FILE, passphrase)
                log_key = keyfile.read_key_file(data_dir / LOG_KEY_FILE, passphrase)
                _require_own_keys(data_dir, config, root_key, log_key)
            node = cls._open_store(
                data_dir, config, url, root_key=root_key, log_key=log_key, passphrase=passphrase
            )
        except BaseException:
            if keys_lock is not None:
                release_keys(keys_lock)
            raise
        node._keys_lock = keys_lock
        return node

    @classmethod
    def _open_store(
        cls,
        data_dir: Path,
        config: NodeConfig,
        url: str,
        *,
        root_key: SigningKey | None,
        log_key: SigningKey | None,
        passphrase: bytes | None,
    ) -> Node:
        _require_sqlite_file(url, data_dir)
        if not holds_ledger(url):  # asked first: migrating would make the tables in it
            raise LedgerMissing(
                f"the database at {shown_url(url)} holds no ledger, not the node's: give the "
                "node's --database-url, or restore its ledger"
            )
        store = SqlStore(url)
        try:
            _require_own_ledger(store, config, url)
            return cls(
                data_dir,
                config,
                store,
                root_key=root_key,
                log_key=log_key,
                passphrase=passphrase,
            )
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()
            self._committer = None
        self.store.close()
        if self._keys_lock is not None:
            release_keys(self._keys_lock)
            self._keys_lock = None

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Why a signing key's file cannot be used, by the error reading it raised.
_UNUSABLE: dict[type[Exception], str] = {
    keyfile.CorruptKeyFile: "is damaged",
    keyfile.WrongPassphrase: "does not open with the node's passphrase (or was altered)",
    KeyFileNotTheNodes: "holds another key than the one it is named after",
}


def _require_own_keys(
    data_dir: Path, config: NodeConfig, root_key: SigningKey, log_key: SigningKey
) -> None:
    """The root and log key files hold the keys node.json names (another node's, sealed
    under the same passphrase, would open too, and sign what no one can verify)."""
    log_public = parse_verifier_key(config.log_verifier).public_key
    for path, key, public, what in (
        (data_dir / ROOT_KEY_FILE, root_key, config.root_public_key, "root key"),
        (data_dir / LOG_KEY_FILE, log_key, log_public, "log key"),
    ):
        _require_key(path, key, ed25519.key_id(public), what, public)


def _require_key(
    path: Path, key: SigningKey, key_id: bytes, what: str, public_key: bytes | None = None
) -> None:
    """``key``, read from ``path``, is the key of ``key_id`` and, where it is known, of
    ``public_key`` (the whole key: a key id is a prefix of its hash, which another key may
    share)."""
    found = bytes(key.verify_key)
    if ed25519.key_id(found) != key_id or public_key not in (None, found):
        raise KeyFileNotTheNodes(
            f"{path} holds another key than the node's {what} (key id "
            f"{ed25519.key_id(found).hex()}, not {key_id.hex()}): it is no key file of this "
            "node; copy the node's own back from a backup of it"
        )


def node_database_url(data_dir: Path, config: NodeConfig, database_url: str | None) -> str:
    """The URL of the node's database: ``database_url`` if given, else node.json's, else
    SQLite in the data directory."""
    if database_url is None and config.database_url and _password_hidden(config.database_url):
        raise InvalidInput(
            "node.json keeps the database URL without its password: give --database-url "
            "(or ESEAL_DATABASE_URL) with the password"
        )
    return database_url or config.database_url or sqlite_url(data_dir)


def shown_url(url: str) -> str:
    """``url`` as a message shows it: its password hidden."""
    return _without_password(url) or url


def _require_sqlite_file(url: str, data_dir: Path) -> None:
    """A node's SQLite ledger must be there already: opening it must not make an empty one
    (on which the node would start another history under its origin and log key)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    if not Path(parsed.database).is_file():
        raise LedgerMissing(
            f"the node in {data_dir} has no ledger at {parsed.database}: restore it, or give "
            "the node's --database-url"
        )
    folder = Path(parsed.database).parent
    beside = [Path(parsed.database + suffix) for suffix in ("-wal", "-shm")]
    if not os.access(folder, os.W_OK) and not all(os.access(p, os.W_OK) for p in beside):
        # SQLite said only "unable to open database file" (it opens a read-only directory
        # only where the files it keeps beside the ledger are there, and writable).
        raise InvalidInput(
            f"cannot write in {folder}: SQLite (in WAL mode) writes beside the ledger even "
            "to read it, so run eseal as a user who may write there"
        )


def _require_own_ledger(store: SqlStore, config: NodeConfig, url: str) -> None:
    """The ledger opened is this node's: its first entry is the region's init with the
    node's root key (an empty database, or another region's, is refused before anything
    is appended to it)."""
    if store.head().size == 0:
        raise LedgerMissing(
            f"the ledger at {shown_url(url)} is empty, not the node's: give the node's "
            "--database-url, or restore its ledger"
        )
    first = decode_entry(store.read_entries(0, 1)[0])
    if (first.kind, first.region, first.body) != (
        "region.init",
        config.region,
        config.root_public_key,
    ):
        raise LedgerMissing(
            f"the ledger at {shown_url(url)} is not the one of this node "
            f"(region {config.region}, root key {ed25519.key_id(config.root_public_key).hex()})"
        )


def read_config(data_dir: Path, advice: str = RESTORE_NODE_FILE) -> NodeConfig:
    """The node.json in ``data_dir``; a damaged one is refused saying ``advice``, what to do
    about it."""
    path = data_dir / NODE_FILE
    if not path.exists():
        raise NotInitialised(
            f"no eseal node in {data_dir}: name the node's directory with --data or ESEAL_DATA,"
            " or create a node there with `eseal init`"
        )
    try:
        with path.open("rb") as f:
            data = f.read(MAX_NODE_FILE + 1)  # one byte more: a larger file is refused
    except OSError as e:
        raise BadNodeFile(f"cannot read {path}: {e.strerror or e}") from e
    try:
        raw = loads_strict(data, what=str(path), max_bytes=MAX_NODE_FILE)
    except MalformedJson as e:
        raise BadNodeFile(f"{e.message}; {advice}") from e
    return NodeConfig.from_json(raw, path, advice)


def init_node(
    data_dir: Path,
    *,
    region: str,
    name: str,
    passphrase: bytes,
    now: int,
    database_url: str | None = None,
    origin: str | None = None,
) -> Node:
    """Create a region's node: keys, the first ledger entries, then node.json (last: an init
    that died before its entries were recorded starts again; one that died after them is
    finished by the next init of the same region and origin in the same directory)."""
    region = validate_node_region(region)
    name = name.strip()
    if not name or len(name) > 100 or not displayable(name):
        raise InvalidInput("the region name must be 1 to 100 printable characters")
    origin = origin or f"eseal/{region}"
    if (problem := origin_problem(origin)) is not None:  # before anything is made on disk
        raise InvalidInput(f"cannot use the log origin: {problem}")
    if (data_dir / NODE_FILE).exists():
        raise AlreadyInitialised(f"{data_dir} already holds the node of a region")
    # The node's keys are sealed under it: a new passphrase, held to the rule for one (an
    # existing node opens with the passphrase it has, whatever its length).
    keyfile.check_new_passphrase(passphrase, "the passphrase (ESEAL_PASSPHRASE)")
    # What this call makes on disk: the data directory, and its parents that are missing.
    made = data_dir
    while not made.parent.exists():
        made = made.parent
    try:
        data_dir.mkdir(parents=True)
        created = True  # by this call, not another init running beside it
    except FileExistsError:
        created = False
    try:
        (data_dir / "keys").mkdir(mode=0o700, exist_ok=True)
    except BaseException:
        if created:
            shutil.rmtree(made, ignore_errors=True)
        raise
    # Held until node.json is written: a second init of the directory meanwhile would write
    # its keys over these (and, failing, remove a directory this one made).
    with exclusive_keys(
        data_dir,
        f"another eseal init (or eseal passphrase) is using {data_dir}: wait for it to end; "
        "nothing was changed",
    ):
        # Made by an init that took the lock first, even of a directory this call made:
        # that node is not this call's to remove.
        if (data_dir / NODE_FILE).exists():
            raise AlreadyInitialised(f"{data_dir} already holds the node of a region")
        try:
            return _create_node(
                data_dir,
                region=region,
                name=name,
                origin=origin,
                passphrase=passphrase,
                now=now,
                database_url=database_url,
            )
        except BaseException:
            if created:  # leave nothing behind of the directories this call made
                shutil.rmtree(made, ignore_errors=True)
            raise


def _create_private(path: Path) -> None:
    """Create ``path`` empty for its owner alone (0600), unless it is there: the SQLite
    ledger holds the licenses' holders and fields, and SQLite gives its -wal and -shm files
    the database file's mode (it would make the file 0644 under the usual umask)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)  # the umask may only narrow the mode; make it exact
    finally:
        os.close(fd)


def _create_node(
    data_dir: Path,
    *,
    region: str,
    name: str,
    origin: str,
    passphrase: bytes,
    now: int,
    database_url: str | None,
) -> Node:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "keys").mkdir(mode=0o700, exist_ok=True)
    if database_url is None:
        _create_private(data_dir / "ledger.db")
    url = database_url or sqlite_url(data_dir)
    store = SqlStore(url)
    if store.head().size:
        try:
            resumed = _finish_interrupted_init(
                data_dir,
                store,
                region=region,
                name=name,
                origin=origin,
                passphrase=passphrase,
                database_url=database_url,
            )
        except BaseException:
            store.close()
            raise
        if resumed is None:
            store.close()
            raise AlreadyInitialised(
                f"the ledger at {shown_url(url)} already has entries; use an empty one"
            )
        return resumed
    root_key, log_key = ed25519.generate(), ed25519.generate()
    root_pub, log_pub = bytes(root_key.verify_key), bytes(log_key.verify_key)
    keyfile.write_key_file(data_dir / ROOT_KEY_FILE, root_key, passphrase, overwrite=True)
    keyfile.write_key_file(data_dir / LOG_KEY_FILE, log_key, passphrase, overwrite=True)
    config, node = _unlocked_node(
        data_dir,
        store,
        region=region,
        name=name,
        origin=origin,
        root_key=root_key,
        log_key=log_key,
        passphrase=passphrase,
        database_url=database_url,
    )
    log_statement = certify(
        root_key,
        KeyStatement(
            role=Role.LOG,
            subject=origin,
            public_key=log_pub,
            scope=(),
            not_before=now,
            not_after=now + KEY_LIFETIME,
            status=KeyStatus.ACTIVE,
            issued_at=now,
            issuer_key_id=ed25519.key_id(root_pub),
        ),
    ).to_bytes()
    root_kid = ed25519.key_id(root_pub)
    from eseal import witness  # noqa: PLC0415 (it builds on Node: imported once made)

    _witness, witness_kid, witness_statement = witness.new_witness_key(node, now)
    node.log.append(
        [
            Entry("region.init", now, region, region, digest(root_pub), root_kid, body=root_pub),
            node.key_add_entry(ed25519.key_id(log_pub), log_statement, now),
            node.key_add_entry(witness_kid, witness_statement, now),
        ],
        also=_third(witness.record_witness_key(node, witness_kid, witness_statement, now)),
    )
    _write_json_atomic(data_dir / NODE_FILE, config.to_json())
    return node


def _third(record: AlsoInTransaction) -> AlsoInTransaction:
    """``record`` called with the index of the third entry of init's append (the witness
    key's ``key.add``) rather than the first."""

    def also(conn: object, first: int) -> None:
        record(conn, first + 2)

    return also


def _finish_interrupted_init(
    data_dir: Path,
    store: SqlStore,
    *,
    region: str,
    name: str,
    origin: str,
    passphrase: bytes,
    database_url: str | None,
) -> Node | None:
    """The node an init of this same region made up to its last step, node.json (the process
    died between the commit of the ledger's first two entries and the file): its keys in
    ``data_dir`` open with ``passphrase`` and are the ones those entries record, under
    ``origin``. Then node.json is written and the node returned; anything else is None (the
    ledger is not one this directory's init started, and is left alone)."""
    root_path, log_path = data_dir / ROOT_KEY_FILE, data_dir / LOG_KEY_FILE
    # Two entries by an eseal that made no witness key at init, three since.
    if store.head().size not in {2, 3} or not (root_path.is_file() and log_path.is_file()):
        return None
    root_key = keyfile.read_key_file(root_path, passphrase)
    log_key = keyfile.read_key_file(log_path, passphrase)
    root_pub, log_pub = bytes(root_key.verify_key), bytes(log_key.verify_key)
    first, second = (decode_entry(raw) for raw in store.read_entries(0, 2))
    note = store.checkpoint() or ""
    if (
        (first.kind, first.region, first.body) != ("region.init", region, root_pub)
        or (second.kind, second.subject) != ("key.add", ed25519.key_id(log_pub).hex())
        or note.split("\n", 1)[0] != origin
    ):
        return None
    if store.head().size == 3:  # the witness key's entry: its sealed key must be here
        third = decode_entry(store.read_entries(2, 3)[0])
        witness_file = data_dir / "keys" / f"{third.subject}.key"
        if third.kind != "key.add" or not witness_file.is_file():
            return None
        keyfile.read_key_file(witness_file, passphrase)
    config, node = _unlocked_node(
        data_dir,
        store,
        region=region,
        name=name,
        origin=origin,
        root_key=root_key,
        log_key=log_key,
        passphrase=passphrase,
        database_url=database_url,
    )
    _write_json_atomic(data_dir / NODE_FILE, config.to_json())
    return node


def _unlocked_node(
    data_dir: Path,
    store: SqlStore,
    *,
    region: str,
    name: str,
    origin: str,
    root_key: SigningKey,
    log_key: SigningKey,
    passphrase: bytes,
    database_url: str | None,
) -> tuple[NodeConfig, Node]:
    """The configuration of a node being made, and the node with its keys."""
    config = NodeConfig(
        region,
        name,
        origin,
        bytes(root_key.verify_key),
        verifier_key(origin, bytes(log_key.verify_key)),
        _without_password(database_url),
    )
    node = Node(data_dir, config, store, root_key=root_key, log_key=log_key, passphrase=passphrase)
    return config, node


_HIDDEN = "***"
#: Query parameters of a database URL that are secrets: libpq (and psycopg, to which
#: SQLAlchemy passes the query) takes ``?password=`` as the password, as it does the
#: userinfo's, and ``sslpassword`` opens the client's TLS key.
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


def _without_password(url: str | None) -> str | None:
    """The database URL as node.json keeps it, and as messages show it: a password (in the
    userinfo or the query) never reaches the disk or a message, ``***`` in its place."""
    if url is None:
        return None
    parsed = make_url(url)
    secrets_in_query = _SECRET_PARAMETERS & set(parsed.query)
    if parsed.password is None and not secrets_in_query:
        return url
    parsed = parsed.update_query_dict(dict.fromkeys(secrets_in_query, _HIDDEN))
    # The query's *** as written (render_as_string would percent-encode it: %2A%2A%2A).
    return parsed.render_as_string(hide_password=True).replace("=%2A%2A%2A", "=" + _HIDDEN)


def _password_hidden(url: str) -> bool:
    """Whether ``url`` is one :func:`_without_password` hid a password of."""
    parsed = make_url(url)
    query = parsed.query
    return parsed.password == _HIDDEN or any(query.get(n) == _HIDDEN for n in _SECRET_PARAMETERS)


def _write_json_atomic(path: Path, value: dict[str, Any]) -> None:
    """Write ``value`` to ``path`` in one step (a temp file fsynced, renamed over it), the
    directory fsynced after."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".node-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, ensure_ascii=False, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The rename itself durable: without it, a power cut after init answered could leave
    # the directory without node.json (and the next init finishing it, or a node that
    # will not open).
    keyfile.fsync_directory(path.parent)
