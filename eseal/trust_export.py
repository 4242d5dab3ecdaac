"""The node's side of verification: its signed trust bundle, and its own status answers
(the license row and an inclusion proof of the issuance at the latest checkpoint)."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from eseal.agencies import agency_keys, list_agencies
from eseal.catalog import load_catalog
from eseal.etags import body_etag
from eseal.models import AgencyKeyRow, LicenseRow, SealRow
from eseal.node import Node
from eseal.peers import NO_PEERS, PeerTrust, load_peer_trust
from eseal.proofs import older_checkpoint
from eseal.seals import UnknownSeal, get_seal
from eseal.witness_ask import cosigned_checkpoint
from keys.errors import InvalidInput
from keys.statements import SignedStatement
from ledger.checkpoint import verify_checkpoint
from ledger.sql import error_reason
from ledger.store import StoreUnavailable
from verifier.document import DecodedDocument, LicenseClaims
from verifier.pipeline import StatusAnswer, status_reason
from verifier.revocation import build_snapshot, sign_snapshot
from verifier.trust import (
    AgencyRecord,
    KeyRecord,
    LicenseTypeInfo,
    SealRecord,
    TrustBundle,
    TrustStore,
    agency_of_region,
    sign_bundle,
)

_seal = SealRow.__table__  # type: ignore[attr-defined]
_agency_key = AgencyKeyRow.__table__  # type: ignore[attr-defined]
_license = LicenseRow.__table__  # type: ignore[attr-defined]
#: How long POST /v1/verify trusts its cached trust store. The node's own API drops it at
#: once when it creates or revokes a seal; a change made by another process (the CLI adds
#: agencies, rotates and revokes keys) is seen within this many seconds.
BUNDLE_CACHE_SECONDS = 5
#: How far the newest time the node has signed a bundle at may lead its clock before it is
#: taken for a clock that jumped ahead and came back, and forgotten (a set-back clock within
#: this is reported as behind; see :attr:`BundleCache.signed_at`).
MAX_CLOCK_LEAD = 86400
#: How long before the end of its age the trust store is rebuilt in the background.
BUNDLE_REFRESH_AHEAD = 1.0
#: After a background rebuild of the trust store fails, the next is tried this much later
#: (not at every request: a database that is down would be asked, and logged, thousands of
#: times a second).
REBUILD_RETRY_SECONDS = 1.0
_log = logging.getLogger(__name__)
_STATUS_SQL = (
    "SELECT l.status, l.digest, (SELECT h.size FROM ledger_head AS h), l.status_reason,"
    " l.updated_at, l.replaced_by,"
    " EXISTS (SELECT 1 FROM ledger_entry AS e WHERE e.idx = l.ledger_index)"
    " FROM license AS l WHERE l.id = {}"
)


#: Agencies of another province already reported as left out of the bundle (once a process).
_left_out: set[str] = set()


def _listable(agency_code: str, region: str) -> bool:
    """Whether the bundle may list this agency, or a seal of it. An agency of another
    province, registered before nodes refused one, is left out with a warning: windows
    refuse a bundle that lists one (its documents then have an unknown issuer)."""
    if agency_of_region(agency_code, region):
        return True
    if agency_code not in _left_out:
        _left_out.add(agency_code)
        _log.warning(
            "agency %s is not of region %s's province: it and its seals are left out of the "
            "trust bundle, which windows would refuse",
            agency_code,
            region,
        )
    return False


def build_bundle(node: Node, *, now: int, with_images: bool = False) -> TrustBundle:
    """The region's trust bundle as of now, cut at the latest checkpoint."""
    catalog = load_catalog()
    agencies = []
    types: set[str] = set()
    region = node.config.region
    for a in list_agencies(node):
        if not _listable(a.code, region):
            continue
        keys = tuple(
            KeyRecord(
                SignedStatement.from_bytes(bytes(k.statement)), k.status, k.revoked_at, k.retired_at
            )
            for k in agency_keys(node, a.code)
        )
        scope = tuple(json.loads(a.types))
        types.update(scope)
        agencies.append(AgencyRecord(a.code, a.name, scope, keys))
    with node.sql.read_engine.connect() as conn:
        seals = [SealRow.model_validate(r._mapping) for r in conn.execute(select(_seal))]
    seal_records = tuple(
        SealRecord(
            s.id,
            s.agency_code,
            s.name,
            s.seal_type,
            KeyRecord(
                SignedStatement.from_bytes(bytes(s.statement)),
                "revoked" if s.status == "revoked" else "active",
                s.revoked_at,
            ),
            bytes(s.image) if with_images else None,
        )
        for s in seals
        if _listable(s.agency_code, region)
    )
    license_types = tuple(
        LicenseTypeInfo(
            t.code,
            t.name,
            {f.name: f.label for f in t.fields},
            tuple(f.name for f in t.fields),
            t.name_en,
        )
        for t in catalog
        if t.code in types
    )
    return TrustBundle(
        region=node.config.region,
        name=node.config.name,
        root_public_key=node.config.root_public_key,
        log_verifier=node.config.log_verifier,
        issued_at=now,
        checkpoint=node.log.checkpoint(),
        agencies=tuple(agencies),
        seals=seal_records,
        license_types=license_types,
    )


def export_bundle(node: Node, *, now: int, with_images: bool = False) -> bytes:
    """The signed bundle (needs the root key)."""
    return sign_bundle(
        build_bundle(node, now=now, with_images=with_images), node.require_root_key()
    )


#: A snapshot speaks for licenses issued (``iat``) up to this long before it is made. A
#: license is signed before its ledger entry commits; one signed just before the cut but
#: committed after it is not in the snapshot's cascades, which could answer anything for
#: it. Sixty seconds more than SQLite's busy timeout covers the longest wait for the write
#: lock between signing and commit (a batch signs its licenses once their holders' Argon2id
#: hashes are derived, and dates them then: :func:`eseal.licenses.issue_many`).
SNAPSHOT_MARGIN = 120


def _cut(node: Node, *, witnessed: bool, at: int | None) -> tuple[str, int, int]:
    """(checkpoint note with its witnesses' lines, size) a snapshot is cut at, and the size
    of the latest checkpoint (its statuses are those of the log at that size): the latest,
    or the older one asked (``witnessed``, ``at``: :func:`eseal.proofs.older_checkpoint`,
    which a status answer adds alike; :class:`eseal.proofs.UnknownCheckpoint` if none of
    size ``at``)."""
    note = cosigned_checkpoint(node)
    latest = verify_checkpoint(note, node.log_verifier).size
    older = older_checkpoint(node, latest, witnessed=witnessed, at=at)
    return (note, latest, latest) if older is None else (*older, latest)


def export_snapshot(
    node: Node,
    *,
    now: int,
    margin: int = SNAPSHOT_MARGIN,
    witnessed: bool = False,
    at: int | None = None,
) -> bytes:
    """The signed revocation snapshot, cut at the latest checkpoint (needs the log key),
    whose note carries the cosignature lines the node's witnesses gave on that very
    checkpoint (:func:`eseal.witness_ask.cosigned_checkpoint`; a reader ignores the lines
    of keys it does not know). With ``witnessed`` (a peer that holds the region to a
    witness policy asks so), cut instead at the older checkpoint its witnesses cosigned
    most (:func:`eseal.witness_ask.witnessed_size`), where the latest carries fewer of
    their lines: the snapshot then speaks for fewer licenses, under a checkpoint the
    witnesses saw. With ``at`` (a peer that picked, from the checkpoints the node lists as
    cosigned, the newest its own policy's quorum cosigned), cut at the stored checkpoint of
    that size, alike (:class:`eseal.proofs.UnknownCheckpoint` if the log stores none; not with
    ``witnessed``).

    Its ``as_of`` is early enough that every license issued by then is in the cut:
    ``margin`` seconds before ``now`` (for licenses still on their way into the ledger),
    and before any license committed after the cut. A window gives later licenses no
    offline status rather than a guess."""
    if margin < 0:
        raise InvalidInput("the snapshot margin must not be negative")
    # One read transaction: the statuses are those the latest checkpoint speaks for (a
    # status change commits with its ledger entry), not ones committed after it was read.
    with node.sql.snapshot():
        note, cut, _ = _cut(node, witnessed=witnessed, at=at)
        return _snapshot_at(node, note, cut, now=now, margin=margin)[0]


def _snapshot_at(
    node: Node, note: str, cut: int, *, now: int, margin: int, covering: bool = False
) -> tuple[bytes, bool]:
    """The signed snapshot cut at ``note`` (of size ``cut``), its statuses read in the
    caller's read transaction (:meth:`ledger.sql.SqlStore.snapshot`), the one ``note`` was
    read in; with ``covering``, whether it speaks for every license in the cut (each issued
    by its ``as_of``: one more read), else False."""
    with node.sql.reading() as conn:
        rows = conn.execute(
            select(_license.c.id, _license.c.status).where(_license.c.ledger_index < cut)
        ).all()
        after_cut = conn.execute(
            select(func.min(_license.c.issued_at)).where(_license.c.ledger_index >= cut)
        ).scalar()
        revoked_seals = (
            conn.execute(select(_seal.c.id).where(_seal.c.status == "revoked")).scalars().all()
        )
        revoked_keys = (
            conn.execute(select(_agency_key.c.key_id).where(_agency_key.c.status == "revoked"))
            .scalars()
            .all()
        )
        newest = (
            conn.execute(
                select(func.max(_license.c.issued_at)).where(_license.c.ledger_index < cut)
            ).scalar()
            if covering
            else None
        )
    as_of = now - margin
    if after_cut is not None:
        as_of = min(as_of, int(after_cut) - 1)
    snapshot = build_snapshot(
        region=node.config.region,
        as_of=as_of,
        checkpoint=note,
        licenses=((r.id, r.status) for r in rows),
        seals_revoked=list(revoked_seals),
        keys_revoked=list(revoked_keys),
    )
    covers = covering and (newest is None or int(newest) <= as_of)
    return sign_snapshot(snapshot, node.require_log_key()), covers


#: How long ``GET /v1/revocations`` answers again with a snapshot it built, while the log's
#: checkpoint it was cut at is still the one asked (a new checkpoint, which every ledger
#: entry brings, revocations included, is a new snapshot at once): building one reads every
#: license row (about a second of CPU at 10^5 licenses), which no public GET should make a
#: node do on each request. Its ``as_of`` ages by as much, far below any reader's maximum age.
SNAPSHOT_CACHE_SECONDS = 30
#: How long instead while the snapshot speaks for every license in its cut (each issued by
#: its ``as_of``): built again then only to keep its ``as_of`` recent (a reader counts a
#: snapshot stale after days), and until then the same file, so that a reader naming it
#: (If-None-Match) is answered 304. A snapshot built before a license just issued was
#: covered (within :data:`SNAPSHOT_MARGIN`) keeps the short age, so that the next build
#: speaks for it.
SNAPSHOT_SETTLED_SECONDS = 3600
#: How many snapshots (cuts) :class:`SnapshotCache` keeps: the latest, the witnessed one and
#: the few sizes peers ask ``?at=``.
SNAPSHOT_CACHE_ENTRIES = 8


_K = TypeVar("_K")


@dataclass(frozen=True, slots=True)
class BuiltSnapshot:
    """A signed snapshot as :class:`SnapshotCache` keeps it."""

    data: bytes
    #: Its strong entity tag (RFC 9110 §8.8.3): a hash of the signed file, quoted.
    etag: str
    #: When it was built (the cache's monotonic clock).
    built: float
    #: Whether it speaks for every license in its cut (:data:`SNAPSHOT_SETTLED_SECONDS`).
    settled: bool = False


class SnapshotCache:
    """The signed revocation snapshots of ``GET /v1/revocations``: each cut (the latest
    checkpoint, the witnessed one, a size asked ``?at=``) built at most once per
    :data:`SNAPSHOT_CACHE_SECONDS` (:data:`SNAPSHOT_SETTLED_SECONDS` where it speaks for
    every license of its cut) while the checkpoint note it is cut at, witnesses' lines
    included, and the log's latest checkpoint both stay the same (an older cut holds the
    statuses of the log's latest state, which a revocation moves and leaves the older
    note as it was), and one at a time: concurrent requests for a snapshot not yet
    built wait for the one build rather than each reading every license row. Finding the
    cut is one small read; a request whose cut is built and fresh is answered with it
    without waiting for any build, and one that finds another snapshot being built is
    answered the last built of its cut, if any (:meth:`last`), without waiting: at 10^8
    licenses a build takes minutes, and windows go on being answered meanwhile.

    The statuses a cached snapshot holds are those read when it was built, and its
    ``as_of`` is at least :data:`SNAPSHOT_MARGIN` before that, so it never speaks for a
    moment after its statuses were read."""

    def __init__(
        self,
        node: Node,
        *,
        max_age: float = SNAPSHOT_CACHE_SECONDS,
        settled_age: float = SNAPSHOT_SETTLED_SECONDS,
        entries: int = SNAPSHOT_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.node = node
        self.max_age = max_age
        self.settled_age = settled_age
        self.entries = entries
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()  # guards _built
        self._building = threading.Lock()  # one build at a time
        #: By the checkpoint note a snapshot is cut at and the size of the latest checkpoint
        #: its statuses were read at, least recently used first.
        self._built: OrderedDict[tuple[str, int], BuiltSnapshot] = OrderedDict()
        #: The snapshot last built of each cut asked (``witnessed``, ``at``), fresh or not,
        #: that query's or another's of the same checkpoint answered to it, least recently
        #: answered first: what a request answers while another builds (:meth:`last`;
        #: :meth:`_keep_last` bounds it).
        self._last: OrderedDict[tuple[bool, int | None], BuiltSnapshot] = OrderedDict()
        #: How many snapshots this cache built (for tests and the operator's curiosity).
        self.builds = 0

    def get(self, *, witnessed: bool = False, at: int | None = None) -> BuiltSnapshot:
        """The snapshot cut as :func:`export_snapshot` cuts it
        (:class:`eseal.proofs.UnknownCheckpoint` and :class:`~keys.errors.InvalidInput`
        alike), from the cache when fresh."""
        found = self.cached(witnessed=witnessed, at=at)
        return found if found is not None else self.build(witnessed=witnessed, at=at)

    def cached(self, *, witnessed: bool = False, at: int | None = None) -> BuiltSnapshot | None:
        """The fresh snapshot of the cut asked, without building it (None if there is
        none): one small read, to find the cut."""
        with self.node.sql.snapshot():
            note, _, latest = _cut(self.node, witnessed=witnessed, at=at)
        return self._answered((witnessed, at), self._fresh((note, latest)))

    def build(self, *, witnessed: bool = False, at: int | None = None) -> BuiltSnapshot:
        """The snapshot of the cut asked, built now unless a fresh one is found once this
        build's turn comes (builds run one at a time)."""
        with self._building:
            # Read again: the log may have moved on while this request waited.
            with self.node.sql.snapshot():
                note, cut, latest = _cut(self.node, witnessed=witnessed, at=at)
                key = (note, latest)
                found = self._answered((witnessed, at), self._fresh(key))
                if found is not None:  # built by the request this one waited for
                    return found
                data, settled = _snapshot_at(
                    self.node,
                    note,
                    cut,
                    now=int(self._wall()),
                    margin=SNAPSHOT_MARGIN,
                    covering=True,
                )
            built = BuiltSnapshot(data, body_etag(data), self._clock(), settled)
            with self._lock:
                _keep(self._built, key, built, self.entries)
                self._keep_last((witnessed, at), built)
                self.builds += 1
            return built

    def last(self, *, witnessed: bool = False, at: int | None = None) -> BuiltSnapshot | None:
        """The snapshot last built of the cut asked (or answered to it: built for another
        query of the same checkpoint), however old (None if none is kept): a
        request answers it rather than wait while another snapshot is built. It is as
        honest as when it was built, a signed statement of the statuses as of its
        ``as_of``, at a checkpoint the log still extends; a reader that holds a newer one
        keeps that (:attr:`verifier.revocation.RevocationSnapshot.cut`), and an ``?at=SIZE``
        one is still cut at SIZE."""
        with self._lock:
            return self._last.get((witnessed, at))

    def _answered(
        self, asked: tuple[bool, int | None], found: BuiltSnapshot | None
    ) -> BuiltSnapshot | None:
        """``found``, a fresh snapshot answered to the cut ``asked``, kept as its
        :meth:`last` where built later than the one kept: it may have been built for another
        query of the same checkpoint (``?at=`` the latest size, ``?witnessed=1`` where the
        latest is the most cosigned), and a reader it was answered must never be answered
        an older one after (``eseal revocations fetch`` and peer sync refuse that as a
        replay, and a window naming its ETag would get 200 with the older file)."""
        if found is not None:
            with self._lock:
                kept = self._last.get(asked)
                if kept is None or kept.built <= found.built:
                    self._keep_last(asked, found)
        return found

    def _keep_last(self, asked: tuple[bool, int | None], built: BuiltSnapshot) -> None:
        """Keep ``built`` as the :meth:`last` of ``asked`` (the caller holds the lock): the
        latest and the witnessed cut always, the sizes asked ``?at=`` up to the cache's
        bound, least recently answered out first (any size the log stores may be asked,
        and a run of them must not take the plain cuts' last with them)."""
        self._last[asked] = built
        self._last.move_to_end(asked)
        sized = [kind for kind in self._last if kind[1] is not None]
        for kind in sized[: max(0, len(sized) - self.entries)]:
            del self._last[kind]

    def _fresh(self, key: tuple[str, int]) -> BuiltSnapshot | None:
        with self._lock:
            found = self._built.get(key)
            if found is None:
                return None
            age = self.settled_age if found.settled else self.max_age
            if self._clock() - found.built > age:
                del self._built[key]
                return None
            self._built.move_to_end(key)
            return found


def _keep(kept: OrderedDict[_K, BuiltSnapshot], key: _K, built: BuiltSnapshot, bound: int) -> None:
    """Keep ``built`` under ``key`` as the most recent, the least recent dropped past
    ``bound``."""
    kept[key] = built
    kept.move_to_end(key)
    while len(kept) > bound:
        kept.popitem(last=False)


class LocalStatus:
    """A node answering status questions from its own database and ledger (online)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        placeholder = "?" if node.sql.read_engine.dialect.paramstyle == "qmark" else "%s"
        self._sql = _STATUS_SQL.format(placeholder)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._own: weakref.WeakSet[Any] = weakref.WeakSet()  # each live thread's connection
        self._closed = False

    def license_status(self, bundle: TrustBundle, doc: DecodedDocument) -> StatusAnswer:
        now = int(time.time())
        if bundle.region != self.node.config.region:
            return StatusAnswer(None, "online", now, detail="license of another region")
        license_id = doc.claims.license_id if isinstance(doc.claims, LicenseClaims) else ""
        # One read: the license's status, the digest of the document issued under its id
        # and the head size. The row and the issuance entry recording that digest were
        # written in one transaction (and the node's status entries carry the row's
        # digest), so the document presented must have it (a remote asker gets the entry
        # and its inclusion proof from GET /v1/licenses/{id}/status and checks them, see
        # verifier.online).
        row = self._read_status(license_id)
        if row is None:
            return StatusAnswer(
                None, "online", now, ledger_included=False, detail="no such license issued here"
            )
        status, digest, size, reason, changed, replaced_by, recorded = row
        # The document issued under this id, and its entry in the ledger (absent only in a
        # damaged store: the audit names it).
        included = recorded and bytes(digest) == doc.digest()
        answer = StatusAnswer(
            status, "online", now, checkpoint_size=int(size), ledger_included=included
        )
        if status != "01":
            answer.since, answer.reason = changed, status_reason(reason)
            answer.replaced_by = status_reason(replaced_by)
        return answer

    def _read_status(
        self, license_id: str
    ) -> tuple[str, bytes, int, str | None, int, str | None, bool] | None:
        """(status, document digest, head size, status reason, time of the last status
        change, replacing license id, whether its issuance entry is stored) of a license,
        or None: one statement on
        a DB-API connection (the hot path of POST /v1/verify; SQLAlchemy's statement
        building and result processing cost ten times the read itself)."""
        engine = self.node.sql.read_engine
        dbapi_error = engine.dialect.loaded_dbapi.Error
        try:
            conn, own = self._connection()
        except (SQLAlchemyError, dbapi_error) as e:
            raise StoreUnavailable(f"cannot read license status: {error_reason(e)}") from e
        try:
            cursor = conn.cursor()
            cursor.execute(self._sql, (license_id,))
            row = cursor.fetchone()
            cursor.close()
        except dbapi_error as e:
            if own:  # this thread opens a new one next time
                self._local.__dict__.pop("conn", None)
                conn.close()
            else:
                conn.invalidate()  # the pool drops it
            raise StoreUnavailable(f"cannot read license status: {error_reason(e)}") from e
        finally:
            if not own:
                conn.close()  # back to the pool
        if row is None:
            return None
        return str(row[0]), row[1], int(row[2]), row[3], int(row[4]), row[5], bool(row[6])

    def _connection(self) -> tuple[Any, bool]:
        """A DB-API connection, and whether it is this thread's own. On SQLite each thread
        keeps one (reads never wait in WAL mode, and a pool checkout costs more than the
        read); a server database lends one from the engine's pool for each read."""
        engine = self.node.sql.read_engine
        if not self.node.sql.is_sqlite:
            return engine.raw_connection(), False
        conn = getattr(self._local, "conn", None)
        if conn is None or self._closed:
            with self._lock:
                if self._closed:
                    raise StoreUnavailable("the node's status reader is closed")
                conn = engine.raw_connection()
                conn.detach()  # this thread's from now on (closed with the thread, or close())
                self._own.add(conn)
            self._local.conn = conn
        # The driver's own connection: its cursor is one C call, the pool wrapper's is not.
        return conn.dbapi_connection, True

    def close(self) -> None:
        """Close every thread's connection (the app calls this when it shuts down)."""
        with self._lock:
            self._closed = True
            conns = list(self._own)
        for conn in conns:
            with contextlib.suppress(Exception):  # a connection already gone is closed
                conn.close()

    def seal_status(self, bundle: TrustBundle, seal_id: str) -> StatusAnswer | None:
        now = int(time.time())
        try:
            seal = get_seal(self.node, seal_id)
        except UnknownSeal:
            return None
        except SQLAlchemyError as e:
            raise StoreUnavailable(f"cannot read seal status: {error_reason(e)}") from e
        return StatusAnswer("07" if seal.status == "revoked" else "01", "online", now)


class BundleCache:
    """The node's trust store for ``POST /v1/verify``, never older than
    :data:`BUNDLE_CACHE_SECONDS`: keys and seals changed by another process (the CLI) are
    seen that soon, and changes made through the API invalidate it at once. It holds the
    node's own bundle and each peer region's stored one (:mod:`eseal.peers`): a peer's
    stored files are read and opened again only when ``eseal peer sync`` stored something
    new for that peer (:attr:`peers` holds them, with the peers' snapshots).

    A little before that age one background thread rebuilds it while it goes on
    answering, so that under steady traffic requests neither queue behind a rebuild nor
    each start a thread to wait for it. After an idle spell, the first request past the
    age finds no store (:meth:`cached` is None) and builds it (:meth:`store`)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._lock = threading.Lock()
        #: The store and when it was built, replaced together (a reader sees both or neither).
        self._current: tuple[TrustStore, float] | None = None
        self._refreshing = False
        self._retry_at = 0.0  # after a failed background rebuild, the next not before this
        #: The newest time this process has signed a bundle at, by region (its own): a
        #: high-water mark that a clock set back does not move back, so that verdicts say
        #: the clock is behind (each rebuild signs at the clock's time).
        self.signed_at: Mapping[str, int] = MappingProxyType({})
        #: The peers' bundles and snapshots as last read (their status source).
        self.peers: PeerTrust = NO_PEERS

    def store(self) -> TrustStore:
        """The store, built now if there is none or it is past its age."""
        with self._lock:
            current = self._current
            if current is None or time.monotonic() - current[1] > BUNDLE_CACHE_SECONDS:
                return self._rebuild()
            return current[0]

    def cached(self) -> TrustStore | None:
        """The store if there is one within its age, without building it (None otherwise);
        near the end of its age it starts the background rebuild."""
        current = self._current
        if current is None:
            return None
        age = time.monotonic() - current[1]
        if age > BUNDLE_CACHE_SECONDS:
            return None
        if age > BUNDLE_CACHE_SECONDS - BUNDLE_REFRESH_AHEAD:
            self._refresh_in_background(current)
        return current[0]

    def _rebuild(self) -> TrustStore:
        """Build the store (the caller holds the lock)."""
        own = build_bundle(self.node, now=int(time.time()))
        peers = load_peer_trust(self.node, self.peers)
        store = TrustStore([own, *peers.bundles])
        signed, region = own.issued_at, own.region
        mark = self.signed_at.get(region, 0)
        if mark - signed > MAX_CLOCK_LEAD:
            _log.warning(
                "the clock is %d s behind the newest bundle this node signed: taken for a "
                "clock that jumped ahead and came back, and forgotten",
                mark - signed,
            )
            mark = 0
        # The peers' times as stored (a sync never rolls them back), and this node's own.
        high = {**peers.newest, region: max(signed, mark)}
        self.signed_at = MappingProxyType(high)
        self.peers = peers
        self._current = (store, time.monotonic())
        return store

    def _refresh_in_background(self, current: tuple[TrustStore, float]) -> None:
        if self._refreshing or time.monotonic() < self._retry_at:
            return  # a rebuild is under way, or the last one failed a moment ago
        if not self._lock.acquire(blocking=False):
            return  # a rebuild is under way
        try:
            if self._refreshing or self._current is not current:
                return
            self._refreshing = True
        finally:
            self._lock.release()
        thread = threading.Thread(
            target=self._refresh, args=(current,), name="eseal-bundle-refresh", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no thread to be had (shutting down, or too many): next time
            self._refreshing = False

    def _refresh(self, current: tuple[TrustStore, float]) -> None:
        try:
            with self._lock:
                if self._current is current:  # not rebuilt nor invalidated meanwhile
                    self._rebuild()
        except Exception:  # the store answers until its age; then a request rebuilds it
            self._retry_at = time.monotonic() + REBUILD_RETRY_SECONDS
            _log.exception("rebuilding the trust store for POST /v1/verify failed")
        finally:
            self._refreshing = False

    def invalidate(self) -> None:
        with self._lock:
            self._current = None
