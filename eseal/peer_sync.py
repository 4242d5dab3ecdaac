"""Adding and syncing peer regions (``eseal peer add``, ``eseal peer sync``; see
:mod:`eseal.peers`).

``peer sync`` (cron) fetches each peer's bundle and snapshot with the verifier's bounded
fetchers and checks them exactly as ``eseal verify --bundle FILE --pin ROOT_KEY_ID
--revocations FILE`` checks files (:func:`eseal.cli_verify.open_pinned`,
:func:`verifier.revocation.open_snapshot`), then stores both in one transaction, only if
neither is older than what is stored: a node whose clock went back, or a replayed old file,
must not take back a key or license revocation. Of two snapshots as of the same second, the
one cut at the larger checkpoint is the newer; of two cut at the same checkpoint, the one
held stays (:func:`_snapshot_newer`). One peer failing does not stop the others; its error is
recorded on its row.

A peer added with a witness policy (``peer add --witness-policy FILE``, the Sigsum format of
:mod:`verifier.witness_policy`, naming the peer's log key) has its snapshot cut
at the newest checkpoint the peer lists as cosigned (``GET /v1/ledger/cosigned``) that the
policy's quorum cosigned (``?at=SIZE``; a peer of before the list is asked ``?witnessed=1``,
the checkpoint its witnesses cosigned most), and stored only when that checkpoint carries
the cosignatures of the policy's quorum.

The snapshot stored is named to the peer (``If-None-Match``, its hash,
:func:`verifier.envelope.file_etag`): a 304 says the peer's snapshot of the cut asked is
that very file, checked then as if answered anew and not stored again (unchanged)."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from eseal.cli_common import utc_time
from eseal.cli_verify import (
    TrustRefused,
    newest_per_root,
    open_pinned,
    parse_pins,
    refusing,
)
from eseal.node import Node
from eseal.peers import (
    PEER_TABLE,
    Peer,
    PeerAlreadyAdded,
    PeerFileRefused,
    PeerNotWitnessed,
    PeerRefused,
    UnknownPeer,
    get_peer,
    list_peers,
    peer_policy,
    snapshot_witnessing,
)
from eseal.trust_export import MAX_CLOCK_LEAD
from keys.errors import EsealError, InvalidInput, shown
from ledger.checkpoint import Checkpoint, parse_verifier_key
from ledger.sql import error_reason
from verifier import online
from verifier.revocation import RevocationSnapshot, open_snapshot
from verifier.trust import TrustBundle, TrustStore, open_bundle
from verifier.urls import base_url
from verifier.witness_policy import PolicyFile, parse_policy
from verifier.witnessing import Witnessing


def _pin(pin: str) -> bytes:
    if "=" in pin:
        raise InvalidInput(f"--pin {shown(pin)}: give the root key id alone (16 hex digits)")
    return parse_pins([pin])[None]


def _checked_bundle(url: str, data: bytes, region: str | None, pin: bytes) -> TrustBundle:
    """The bundle ``data`` fetched from ``url``, checked as ``eseal verify --bundle FILE
    --pin ROOT_KEY_ID`` checks a file: signed by the pinned root (of ``region``, if given)."""
    pins: dict[str | None, bytes] = {region: pin}
    return refusing(f"the bundle of {url}", functools.partial(open_pinned, data, pins))


def _checked_snapshot(url: str, data: bytes, bundle: TrustBundle) -> RevocationSnapshot:
    """The snapshot ``data`` fetched from ``url``, checked as ``eseal verify --revocations``
    checks a file against the region's bundle (its log key and signed checkpoint)."""
    store = TrustStore(newest_per_root([bundle]))
    snapshot = refusing(f"the snapshot of {url}", functools.partial(open_snapshot, data, store))
    if snapshot.region != bundle.region:  # only its log key signed it: never, but said
        raise TrustRefused(f"the snapshot of {url} is of region {snapshot.region}")
    return snapshot


def _not_ahead(what: str, signed: int, now: int) -> None:
    """Refuse a peer's file signed more than :data:`MAX_CLOCK_LEAD` after ``now``: stored,
    no later file (signed at the right time) would ever replace it, since none may be older
    than the one held, and its time would stand for that region's clock in every verdict."""
    if signed - now > MAX_CLOCK_LEAD:
        raise PeerFileRefused(
            f"{what} was signed at {utc_time(signed)}, more than a day after this node's clock "
            f"({utc_time(now)}): refused (a clock set ahead, on that node or behind on this one)"
        )


def _witnessed(
    url: str, peer: Peer, bundle: TrustBundle, snapshot: RevocationSnapshot
) -> str | None:
    """Refuse the ``snapshot`` of ``url`` (checked already against ``bundle``) unless its
    checkpoint carries the cosignatures of the quorum of the peer's witness policy, if it
    has one; a line of a witness the quorum counts that does not verify refuses it too."""
    what = f"the snapshot of {url}"
    witnessing = refusing(
        what,
        functools.partial(snapshot_witnessing, peer.region, peer.witness_policy, bundle, snapshot),
    )
    if witnessing is not None and not witnessing.met:
        raise PeerNotWitnessed(
            f"{what} is cut at a checkpoint not witnessed as required: "
            f"{witnessing.describe()} (the peer's witnesses have not cosigned it yet, or "
            "the peer shows this node a checkpoint they never saw)"
        )
    return None if witnessing is None else witnessing.describe()


def _witnessed_cut(url: str, peer: Peer, bundle: TrustBundle) -> int | None:
    """The size of the newest checkpoint the node at ``url`` lists as cosigned
    (:func:`verifier.online.fetch_cosigned`, each note verified under the log key of its
    ``bundle``) that the quorum of the peer's witness policy cosigned: the snapshot is asked
    cut there. None where the node has no list (answers 404: a node of before it, asked
    ``?witnessed=1`` then). Refused (:class:`PeerNotWitnessed`, nothing stored) where no
    listed checkpoint meets the quorum; and where a line of a witness the quorum counts
    does not verify."""
    log = parse_verifier_key(bundle.log_verifier)
    listed = online.fetch_cosigned(url, log)
    if listed is None:
        return None
    policy = peer_policy(peer.region, peer.witness_policy)
    if policy is None:  # never: a peer without a policy is not asked for a witnessed cut
        return None
    what = f"the checkpoints {url} lists as cosigned"
    best: Witnessing | None = None
    for size, note in listed:  # newest first
        witnessing = refusing(what, functools.partial(policy.for_log(log).check, note, log))
        if witnessing.met:
            return size
        if best is None or len(witnessing.cosigners) > len(best.cosigners):
            best = witnessing
    said = "none" if best is None else f"the most cosigned, {best.describe()}"
    raise PeerNotWitnessed(
        f"{what} are not witnessed as required: {len(listed)} listed, {said} (the peer's "
        "witnesses have not cosigned a checkpoint as the policy needs yet, or the peer "
        "shows this node checkpoints they never saw)"
    )


def _fetch_snapshot(
    url: str, peer: Peer, bundle: TrustBundle, held: bytes | None
) -> tuple[bytes, int | None, bool]:
    """The snapshot of the node at ``url`` as the peer's policy needs it, the size it was
    asked cut at (None for none), and whether the node answered 304: cut at its latest
    checkpoint without a policy; else at the newest listed checkpoint the quorum cosigned
    (:func:`_witnessed_cut`), or, from a node of before the list, ``?witnessed=1``. The
    snapshot ``held`` (stored), if any, is named (``If-None-Match``, its hash): a 304 says
    the node's snapshot of that cut is ``held`` itself, which is then returned, to be
    checked as if answered anew. It is named whatever the cut asked: one of another cut has
    another hash, and is merely answered in full."""
    at = None if peer.witness_policy is None else _witnessed_cut(url, peer, bundle)
    witnessed = peer.witness_policy is not None and at is None
    if held is None:
        return online.fetch_revocations(url, witnessed=witnessed, at=at), at, False
    answered = online.fetch_revocations(url, witnessed=witnessed, at=at, held=held)
    return (held, at, True) if answered is None else (answered, at, False)


def _cut_as_asked(url: str, snapshot: RevocationSnapshot, at: int | None) -> None:
    """Refuse a snapshot asked ``?at=SIZE`` that is cut elsewhere: the node (or a cache
    before it that drops the query) answered another cut than the one the peer's policy
    was checked on from the list; nothing is stored."""
    if at is None:
        return
    size = Checkpoint.of_note(snapshot.checkpoint).size
    if size != at:
        raise PeerFileRefused(
            f"the snapshot of {url} was asked cut at the checkpoint of size {at} and is cut "
            f"at size {size}: refused (a node or a cache before it ignoring ?at=)"
        )


def _snapshot_newer(held: bytes, snapshot: RevocationSnapshot, bundle: TrustBundle) -> bool:
    """Whether ``snapshot`` (checked already against ``bundle``), as of the same second as the
    ``held`` one and not the same file, replaces it: only when cut at a larger checkpoint
    (:attr:`RevocationSnapshot.cut`); the one held stays until the peer's next snapshot is
    as of a later second or cut at a later checkpoint. A held file that does not open under
    ``bundle`` (signed by the log key the peer had before) is replaced."""
    try:
        before = open_snapshot(held, TrustStore(newest_per_root([bundle])))
    except EsealError:
        return True
    return snapshot.cut > before.cut


def _why_older(held: bytes, snapshot: RevocationSnapshot, bundle: TrustBundle, peer: Peer) -> str:
    """Why a peer's ``snapshot`` is as of a time before the ``held`` one's: for a peer held
    to witnesses, one cut at a checkpoint below the held one's is the witnessed cut while
    the one held was stored under no policy or another (``eseal peer policy``), and the
    held one stays until the witnesses cosign a checkpoint as large; else a clock or a
    replay."""
    plain = "a node whose clock went back, or an old snapshot replayed"
    if peer.witness_policy is None:
        return plain
    try:
        before = open_snapshot(held, TrustStore(newest_per_root([bundle])))
    except EsealError:
        return plain
    size, held_size = snapshot.cut[1], before.cut[1]
    if size >= held_size:
        return plain
    return (
        f"cut at the checkpoint of size {size} the witnesses cosigned, below the one held, "
        f"of size {held_size}, stored under another witness policy or none: it stays, its "
        "good news withheld, until the witnesses cosign a checkpoint of that size or more; "
        f"or {plain}"
    )


def _older_snapshot(
    url: str,
    held: tuple[bytes, int],
    snapshot: RevocationSnapshot,
    bundle: TrustBundle,
    peer: Peer,
) -> PeerFileRefused:
    """The refusal of the ``snapshot`` of ``url``, as of a time before the one ``held``
    (the file and its time), and why (:func:`_why_older`)."""
    file, as_of = held
    return PeerFileRefused(
        f"the snapshot of {url} is as of {utc_time(snapshot.as_of)}, before the one held "
        f"({utc_time(as_of)}): refused (" + _why_older(file, snapshot, bundle, peer) + ")"
    )


def read_policy(data: bytes, source: str, bundle: TrustBundle) -> str:
    """The witness policy file ``data`` (named ``source`` in refusals) as stored with a
    peer: parsed strictly, and naming a quorum for the log key of the peer's ``bundle``."""
    policy: PolicyFile = refusing(source, functools.partial(parse_policy, data, source))
    policy.for_log(parse_verifier_key(bundle.log_verifier))  # its refusal names ``source``
    return data.decode("utf-8")


def first_change_count() -> int:
    """The change counter of a peer's new row: random (62 bits, room for every sync's +1 in
    a BIGINT), not 1, so that a peer removed and added again, whose row may then have the
    times it had (added in the same second, files signed in the same seconds), never
    repeats a count the verify cache saw with the files stored before: it opens them anew
    (:func:`eseal.peers.load_peer_trust`)."""
    return secrets.randbits(62)


def add_peer(
    node: Node,
    url: str,
    pin: str,
    *,
    now: int,
    witness_policy: tuple[bytes, str] | None = None,
) -> Peer:
    """Peer with the node at ``url`` whose region's root key id is ``pin``: its bundle is
    fetched and checked once (its snapshot comes with the first sync). ``witness_policy``,
    a policy file's bytes and what to call it, holds the peer's snapshots to its quorum:
    it must name the log key of the peer's bundle."""
    base = base_url(url, "the peer URL")
    root = _pin(pin)
    region = node.config.region
    data = online.fetch_bundle(base)
    bundle = _checked_bundle(base, data, None, root)
    if bundle.region == region or bundle.root_public_key == node.config.root_public_key:
        raise PeerRefused(
            f"{base} is a node of this node's own region {region}: a peer is another region"
        )
    _not_ahead(f"the bundle of {base}", bundle.issued_at, now)
    policy = None if witness_policy is None else read_policy(*witness_policy, bundle)
    try:
        with node.sql.write_engine.begin() as conn:
            conn.execute(
                insert(PEER_TABLE).values(
                    region=bundle.region,
                    name=bundle.name,
                    url=base,
                    root_key_id=bundle.root_key_id.hex(),
                    bundle=data,
                    bundle_issued_at=bundle.issued_at,
                    snapshot=None,
                    snapshot_as_of=None,
                    changes=first_change_count(),
                    added_at=now,
                    synced_at=now,
                    tried_at=now,
                    error=None,
                    witness_policy=policy,
                )
            )
    except IntegrityError as e:
        raise PeerAlreadyAdded(
            f"region {bundle.region} is a peer already (eseal peer list); remove it first "
            "to change its URL or pin"
        ) from e
    return get_peer(node, bundle.region)


def set_peer_policy(node: Node, region: str, witness_policy: tuple[bytes, str] | None) -> Peer:
    """Hold the peer of ``region`` to ``witness_policy`` (a policy file's bytes and what to
    call it; it must name the log key of the peer's stored bundle), or to no witnesses
    (None). The files held stay: the verify cache reopens the peer under the new policy
    (a stored snapshot its quorum does not meet has its good news withheld), and the next
    sync asks for the snapshot as the policy needs it. The policy is stored only beside the
    bundle it was checked against: one a sync stored meanwhile (its log key perhaps another)
    refuses the change."""
    peer = get_peer(node, region)
    where = [PEER_TABLE.c.region == peer.region, PEER_TABLE.c.root_key_id == peer.root_key_id]
    policy = None
    if witness_policy is not None:
        with node.sql.read_engine.connect() as conn:
            stored = conn.execute(select(PEER_TABLE.c.bundle).where(*where)).scalar()
        if stored is None:
            raise UnknownPeer(f"region {peer.region} was removed or re-pinned meanwhile")
        root = bytes.fromhex(peer.root_key_id)
        try:
            bundle = open_bundle(bytes(stored), pinned_roots={root})
        except EsealError as e:
            raise PeerFileRefused(
                f"the stored bundle of peer {peer.region} does not open ({e.message}): "
                "run eseal peer sync first"
            ) from e
        policy = read_policy(*witness_policy, bundle)
        where.append(PEER_TABLE.c.bundle == bytes(stored))
    with node.sql.write_engine.begin() as conn:
        moved = conn.execute(
            update(PEER_TABLE)
            .where(*where)
            .values(witness_policy=policy, changes=PEER_TABLE.c.changes + 1)
        )
        if moved.rowcount != 1:
            held = conn.execute(select(PEER_TABLE.c.region).where(*where[:2])).first()
            if held is None:
                raise UnknownPeer(f"region {peer.region} was removed or re-pinned meanwhile")
            raise PeerFileRefused(
                f"the stored bundle of peer {peer.region} was replaced meanwhile (a sync): "
                "run eseal peer policy again, to check the policy against the new one"
            )
    return get_peer(node, peer.region)


@dataclass(frozen=True)
class Synced:
    """One peer's sync: whether its bundle and snapshot were stored (new) or already held,
    or why nothing was stored."""

    region: str
    url: str
    bundle_stored: bool = False
    snapshot_stored: bool = False
    bundle_issued_at: int | None = None
    snapshot_as_of: int | None = None
    error: str | None = None
    #: Under the peer's witness policy: how the snapshot's checkpoint was witnessed.
    witnessed: str | None = None
    #: The peer answered 304 to the snapshot held: it is the peer's current one (unchanged).
    snapshot_not_modified: bool = False
    #: Another sync of the peer stored newer files while this one ran: they are the ones held
    #: (the dates above are theirs); this sync's, not newer, were dropped.
    superseded: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "url": self.url,
            "ok": self.ok,
            "bundle_stored": self.bundle_stored,
            "snapshot_stored": self.snapshot_stored,
            "bundle_issued_at": self.bundle_issued_at,
            "snapshot_as_of": self.snapshot_as_of,
            "witnessed": self.witnessed,
            "snapshot_not_modified": self.snapshot_not_modified,
            "superseded": self.superseded,
            "error": self.error,
        }


@dataclass(frozen=True)
class _Held:
    """The files stored for a peer when its sync starts (None for none): what its answers
    must not be older than, and whether another sync stored files meanwhile."""

    bundle: bytes | None = None
    bundle_issued_at: int | None = None
    snapshot: bytes | None = None
    snapshot_as_of: int | None = None

    def replayed_bundle(self, data: bytes, bundle: TrustBundle) -> bool:
        """Whether ``bundle`` (``data``) is older than the one held, or another of its
        second: a replay, whatever another sync stored since."""
        if self.bundle_issued_at is None:
            return False
        return bundle.issued_at < self.bundle_issued_at or (
            bundle.issued_at == self.bundle_issued_at and data != self.bundle
        )

    def snapshot_after(self, snapshot: RevocationSnapshot) -> tuple[bytes, int] | None:
        """The snapshot held and its time, if ``snapshot`` is as of a time before it: a
        replay, whatever another sync stored since; else None."""
        if self.snapshot is None or self.snapshot_as_of is None:
            return None
        if snapshot.as_of >= self.snapshot_as_of:
            return None
        return self.snapshot, self.snapshot_as_of


def _files_of(peer: Peer) -> Select[Any]:
    """The query of the files stored for ``peer`` (its row, while of the same root key), with
    their times and the witness policy they were checked under."""
    return (
        select(PEER_TABLE.c.bundle, PEER_TABLE.c.bundle_issued_at, PEER_TABLE.c.snapshot)
        .add_columns(PEER_TABLE.c.snapshot_as_of, PEER_TABLE.c.witness_policy)
        .where(PEER_TABLE.c.region == peer.region, PEER_TABLE.c.root_key_id == peer.root_key_id)
    )


def _held_files(node: Node, peer: Peer) -> _Held:
    """The files stored for ``peer`` when its sync starts: the snapshot is named to the peer
    when it is asked; the files tell, when the sync stores, whether another sync stored
    files meanwhile, and whether an answer is older than what was held before it was
    asked (a replay, refused even where another sync stored newer files since)."""
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(_files_of(peer)).first()
    if row is None:
        return _Held()
    snapshot = None if row.snapshot is None else bytes(row.snapshot)
    return _Held(bytes(row.bundle), row.bundle_issued_at, snapshot, row.snapshot_as_of)


def _bundle_overtaken(
    url: str,
    row: Any,
    *,
    start: _Held,
    data: bytes,
    bundle: TrustBundle,
    snapshot: RevocationSnapshot,
    peer: Peer,
) -> bool:
    """Whether the ``bundle`` of ``url`` (``data``, another than the one held, ``row``) was
    overtaken by one another sync stored since this one read ``start``: then it is dropped
    and the ``snapshot`` checked under it too (unless older than the one held at
    ``start``: a replay, refused). False when it is newer than the one held; refused when
    older than it, or signed in its second, and not overtaken so."""
    if bundle.issued_at > row.bundle_issued_at:
        return False
    if bytes(row.bundle) != start.bundle and not start.replayed_bundle(data, bundle):
        if (held_then := start.snapshot_after(snapshot)) is not None:
            raise _older_snapshot(url, held_then, snapshot, bundle, peer)
        return True
    if bundle.issued_at < row.bundle_issued_at:
        raise PeerFileRefused(
            f"the bundle of {url} was signed at {utc_time(bundle.issued_at)}, before the one "
            f"held ({utc_time(row.bundle_issued_at)}): refused (a node whose clock went back, "
            "or an old bundle replayed)"
        )
    # Of two bundles signed in one second, the one held stays: a replay (over plain HTTP)
    # must not bring back the other; the peer's next bundle is newer.
    raise PeerFileRefused(
        f"the bundle of {url} differs from the one held but was signed in the same second "
        f"({utc_time(bundle.issued_at)}): refused until a newer one"
    )


def _sync_one(node: Node, peer: Peer, *, now: int) -> Synced:
    base, region, root = peer.url, peer.region, bytes.fromhex(peer.root_key_id)
    start = _held_files(node, peer)  # before anything is fetched
    held = start.snapshot
    data = online.fetch_bundle(base)
    bundle = _checked_bundle(base, data, region, root)
    # On a 304, ``raw`` is the snapshot held, checked as if answered anew (under the bundle
    # fetched, the policy, the cut asked), and not stored again: unchanged.
    raw, at, not_modified = _fetch_snapshot(base, peer, bundle, held)
    snapshot = _checked_snapshot(base, raw, bundle)
    witnessed = _witnessed(base, peer, bundle, snapshot)
    _cut_as_asked(base, snapshot, at)  # an unwitnessed cut is refused for that first
    _not_ahead(f"the bundle of {base}", bundle.issued_at, now)
    _not_ahead(f"the snapshot of {base}", snapshot.as_of, now)
    with node.sql.write_engine.begin() as conn:  # one transaction: both stored, or neither
        row = conn.execute(_files_of(peer).with_for_update()).first()
        if row is None:
            raise UnknownPeer(f"region {region} was removed or re-pinned meanwhile")
        if row.witness_policy != peer.witness_policy:
            raise PeerFileRefused(
                f"the witness policy of region {region} was changed meanwhile: sync again"
            )
        values: dict[str, Any] = {"synced_at": now, "tried_at": now, "error": None}
        where = PEER_TABLE.c.region == region
        # A file another sync of the peer stored after this one read the files held was
        # checked as this sync's are: one of this sync's not newer than it is no replay (as
        # it would be were that file held before), and is dropped, not refused; unless it
        # is older than the one held before this sync asked: that is a replay all the same.
        bundle_new = bytes(row.bundle) != data
        if bundle_new and _bundle_overtaken(
            base, row, start=start, data=data, bundle=bundle, snapshot=snapshot, peer=peer
        ):
            conn.execute(update(PEER_TABLE).where(where).values(**values))
            return Synced(
                region,
                base,
                bundle_issued_at=row.bundle_issued_at,
                snapshot_as_of=row.snapshot_as_of,
                superseded=True,
            )
        held_now = None if row.snapshot is None else bytes(row.snapshot)
        superseded = False
        if row.snapshot_as_of is not None and snapshot.as_of < row.snapshot_as_of:
            if held_now == held or start.snapshot_after(snapshot) is not None:
                raise _older_snapshot(
                    base, (bytes(row.snapshot), row.snapshot_as_of), snapshot, bundle, peer
                )
            superseded = True  # stored by another sync meanwhile
        snapshot_new = not superseded and held_now != raw
        if snapshot_new and held_now is not None and snapshot.as_of == row.snapshot_as_of:
            snapshot_new = _snapshot_newer(held_now, snapshot, bundle)
        if bundle_new:
            values |= {"bundle": data, "bundle_issued_at": bundle.issued_at, "name": bundle.name}
        if snapshot_new:
            values |= {"snapshot": raw, "snapshot_as_of": snapshot.as_of}
        if bundle_new or snapshot_new:
            values["changes"] = PEER_TABLE.c.changes + 1
        conn.execute(update(PEER_TABLE).where(where).values(**values))
    if superseded:
        return Synced(
            region,
            base,
            bundle_new,
            bundle_issued_at=bundle.issued_at,
            snapshot_as_of=row.snapshot_as_of,
            superseded=True,
        )
    return Synced(
        region,
        base,
        bundle_new,
        snapshot_new,
        bundle.issued_at,
        snapshot.as_of,
        witnessed=witnessed,
        snapshot_not_modified=not_modified,
    )


def sync_peers(node: Node, *, now: int) -> list[Synced]:
    """Sync every peer (see the module doc); a peer that fails has its error recorded and
    does not stop the others."""
    done = []
    for peer in list_peers(node):
        try:
            done.append(_sync_one(node, peer, now=now))
        except (EsealError, SQLAlchemyError) as e:
            error = e.message if isinstance(e, EsealError) else error_reason(e)
            try:
                with node.sql.write_engine.begin() as conn:
                    conn.execute(
                        update(PEER_TABLE)
                        .where(PEER_TABLE.c.region == peer.region)
                        .values(tried_at=now, error=error[:4000])
                    )
            except SQLAlchemyError as db:  # the error is still reported
                error += f" (not recorded: {error_reason(db)})"
            done.append(Synced(peer.region, peer.url, error=error))
    return done
