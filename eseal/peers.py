"""Peer regions (跨省通办): other regions' nodes whose licenses this node verifies at its
window and in ``POST /v1/verify``, offline, from the latest trust bundle and revocation
snapshot synced from each.

Peers are added and synced by :mod:`eseal.peer_sync` (``eseal peer add``, ``eseal peer
sync``); this module holds what the web app needs too: the table, and the peers' trust
opened again from it. The verify cache (:class:`eseal.trust_export.BundleCache`) reads
:func:`load_peer_trust`, which opens a peer's stored files again only when a sync stored
something new for that peer."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from types import MappingProxyType
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from eseal.models import PeerRow
from eseal.node import Node
from keys.errors import CheckFailed, EsealError, InvalidInput, shown
from ledger.checkpoint import parse_verifier_key
from ledger.sql import error_reason
from ledger.store import StoreUnavailable
from verifier.document import DecodedDocument
from verifier.pipeline import StatusAnswer, StatusSource
from verifier.revocation import RevocationSnapshot, SnapshotStatus, open_snapshot
from verifier.trust import TrustBundle, TrustStore, open_bundle
from verifier.witness_policy import PolicyFile, parse_policy
from verifier.witnessing import Witnessing

PEER_TABLE = PeerRow.__table__  # type: ignore[attr-defined]
_log = logging.getLogger(__name__)


class PeerAlreadyAdded(InvalidInput):
    """``peer add`` of a region this node peers with already."""

    code = "peer-already-added"
    http_status = 409


class UnknownPeer(InvalidInput):
    """No peer of this region."""

    code = "unknown-peer"
    http_status = 404


class PeerRefused(InvalidInput):
    """``peer add`` of a node that is no peer: this node's own region, or its own root."""

    code = "peer-refused"


class PeerFileRefused(InvalidInput):
    """A peer's bundle or snapshot is refused: older than the one held, or not its region's."""

    code = "peer-file-refused"


class PeerNotWitnessed(PeerFileRefused):
    """A peer's snapshot is cut at a checkpoint the quorum of the peer's witness policy has
    not cosigned: refused, nothing stored."""

    code = "peer-not-witnessed"


class PeerSyncFailed(CheckFailed):
    """``peer sync`` failed for one peer or more (each is named; the others were synced)."""

    code = "peer-sync-failed"


@dataclass(frozen=True)
class Peer:
    region: str
    name: str
    url: str
    root_key_id: str
    bundle_issued_at: int
    snapshot_as_of: int | None
    added_at: int
    synced_at: int | None
    tried_at: int | None
    error: str | None
    #: The text of the witness policy file the peer is held to (None: no witnesses).
    witness_policy: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def policy(self) -> PolicyFile | None:
        """The witness policy the peer is held to, parsed (it was when stored)."""
        return peer_policy(self.region, self.witness_policy)


def peer_policy(region: str, text: str | None) -> PolicyFile | None:
    """A peer's stored witness policy text, parsed; None for none."""
    if text is None:
        return None
    return parse_policy(text.encode("utf-8"), f"the witness policy of peer {region}")


#: The peer table's columns a :class:`Peer` is read from: its fields, by name.
_COLUMNS = tuple(PEER_TABLE.c[f.name] for f in fields(Peer))


def _peer_of(row: Any) -> Peer:
    return Peer(**row._mapping)


def get_peer(node: Node, region: str) -> Peer:
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(select(*_COLUMNS).where(PEER_TABLE.c.region == region)).first()
    if row is None:
        raise UnknownPeer(f"region {shown(region)} is no peer of this node (eseal peer list)")
    return _peer_of(row)


def list_peers(node: Node) -> list[Peer]:
    with node.sql.read_engine.connect() as conn:
        return [_peer_of(r) for r in conn.execute(select(*_COLUMNS).order_by(PEER_TABLE.c.region))]


def peer_regions(node: Node) -> list[str]:
    """The peers' region codes, in order."""
    with node.sql.read_engine.connect() as conn:
        return list(
            conn.execute(select(PEER_TABLE.c.region).order_by(PEER_TABLE.c.region)).scalars()
        )


def remove_peer(node: Node, region: str) -> Peer:
    peer = get_peer(node, region)
    with node.sql.write_engine.begin() as conn:
        conn.execute(delete(PEER_TABLE).where(PEER_TABLE.c.region == region))
    return peer


@dataclass(frozen=True)
class OpenedPeer:
    """One peer's stored bundle and snapshot as opened (None: absent, or it did not open),
    and the fingerprint of the row they were read from."""

    fingerprint: tuple[Any, ...]
    bundle: TrustBundle | None = None
    snapshot: RevocationSnapshot | None = None
    #: How the snapshot's checkpoint was witnessed, under the peer's witness policy.
    witnessing: Witnessing | None = None


@dataclass(frozen=True)
class PeerTrust:
    """The peers' stored bundles and snapshots, opened; ``fingerprint`` says which stores of
    the peer table they are (reopened only when it changes), and ``opened`` holds each
    peer's by region, so that a change reopens only the peers whose row changed."""

    fingerprint: tuple[tuple[Any, ...], ...] = ()
    bundles: tuple[TrustBundle, ...] = ()
    snapshots: SnapshotStatus = field(default_factory=lambda: SnapshotStatus([]))
    #: The newest signed time of each peer region (its bundle's or its snapshot's).
    newest: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    opened: Mapping[str, OpenedPeer] = field(default_factory=lambda: MappingProxyType({}))


NO_PEERS = PeerTrust()
#: What says a peer's row was stored anew: the counter a sync bumps (which a peer added
#: again starts at another random value), and what tells a peer removed and added again
#: (its root, when it was added, its files' times).
_WATCHED = tuple(
    PEER_TABLE.c[name]
    for name in (
        "region",
        "root_key_id",
        "added_at",
        "changes",
        "bundle_issued_at",
        "snapshot_as_of",
    )
)


def _fingerprint(row: Any) -> tuple[Any, ...]:
    return tuple(row._mapping[c.name] for c in _WATCHED)


def load_peer_trust(node: Node, known: PeerTrust = NO_PEERS) -> PeerTrust:
    """The peers' trust as stored, ``known`` itself when nothing was stored since. Only the
    peers whose row changed since ``known`` (synced anew, added, or removed and added
    again) are read and opened again: a stored file is up to 32 MiB, and the others' are
    kept as opened. A stored file that does not open again (it did when stored) is left out
    and logged."""
    try:
        with node.sql.read_engine.connect() as conn:
            watched = [
                _fingerprint(r)
                for r in conn.execute(select(*_WATCHED).order_by(PEER_TABLE.c.region))
            ]
            if tuple(watched) == known.fingerprint:
                return known
            opened = {
                fp[0]: held
                for fp in watched
                if (held := known.opened.get(fp[0])) is not None and held.fingerprint == fp
            }
            changed = [fp[0] for fp in watched if fp[0] not in opened]
            rows = (
                conn.execute(select(PEER_TABLE).where(PEER_TABLE.c.region.in_(changed))).all()
                if changed
                else []
            )
    except SQLAlchemyError as e:
        raise StoreUnavailable(f"cannot read the peers: {error_reason(e)}") from e
    for r in rows:
        opened[r.region] = _open_peer(r)
    peers = [opened[region] for region in sorted(opened)]
    bundles, snapshots, newest, witnessed = [], [], {}, {}
    for peer in peers:
        if peer.bundle is None:
            continue
        bundles.append(peer.bundle)
        newest[peer.bundle.region] = peer.bundle.issued_at
        if peer.witnessing is not None:
            witnessed[peer.bundle.region] = peer.witnessing
        if peer.snapshot is not None:
            snapshots.append(peer.snapshot)
            newest[peer.bundle.region] = max(peer.bundle.issued_at, peer.snapshot.as_of)
    return PeerTrust(
        tuple(p.fingerprint for p in peers),
        tuple(bundles),
        SnapshotStatus(snapshots, witnessed),
        MappingProxyType(newest),
        MappingProxyType(opened),
    )


def _open_peer(row: Any) -> OpenedPeer:
    """A peer's row's stored bundle and snapshot, opened (what does not open is logged)."""
    fingerprint = _fingerprint(row)
    try:
        bundle = open_bundle(bytes(row.bundle), pinned_roots={bytes.fromhex(row.root_key_id)})
        if bundle.region != row.region:
            raise PeerFileRefused(f"the bundle stored is of region {bundle.region}")
    except EsealError as e:
        _log.error("the stored bundle of peer %s does not open: %s", row.region, e.message)
        return OpenedPeer(fingerprint)
    if row.snapshot is None:
        return OpenedPeer(fingerprint, bundle)
    try:
        snapshot = open_snapshot(bytes(row.snapshot), TrustStore([bundle]))
    except EsealError as e:
        _log.error("the stored snapshot of peer %s does not open: %s", row.region, e.message)
        return OpenedPeer(fingerprint, bundle)
    try:
        witnessing = snapshot_witnessing(row.region, row.witness_policy, bundle, snapshot)
    except EsealError as e:  # a sync checked it: only a policy set since it can fail so
        _log.error("the witness policy of peer %s does not apply: %s", row.region, e.message)
        return OpenedPeer(fingerprint, bundle)
    return OpenedPeer(fingerprint, bundle, snapshot, witnessing)


def snapshot_witnessing(
    region: str, policy_text: str | None, bundle: TrustBundle, snapshot: RevocationSnapshot
) -> Witnessing | None:
    """How the checkpoint of a peer's ``snapshot`` (checked already against ``bundle``) was
    witnessed under the peer's witness policy (None without one). Raises where the policy
    names no quorum for the bundle's log key, or a line of a witness it counts does not
    verify."""
    policy = peer_policy(region, policy_text)
    if policy is None:
        return None
    log = parse_verifier_key(bundle.log_verifier)
    return policy.for_log(log).check(snapshot.checkpoint, log)


class WithPeers:
    """The node's status source with peers: its own region's licenses and seals from its
    database (online), each peer region's from that peer's snapshot (offline)."""

    def __init__(self, region: str, own: StatusSource, peers: SnapshotStatus) -> None:
        self.region = region
        self.own = own
        self.peers = peers

    def license_status(self, bundle: TrustBundle, doc: DecodedDocument) -> StatusAnswer:
        if bundle.region == self.region:
            return self.own.license_status(bundle, doc)
        return self.peers.license_status(bundle, doc)

    def seal_status(self, bundle: TrustBundle, seal_id: str) -> StatusAnswer | None:
        if bundle.region == self.region:
            return self.own.seal_status(bundle, seal_id)
        return self.peers.seal_status(bundle, seal_id)
