"""``eseal peer``: the other regions whose licenses this node verifies (跨省通办), each
pinned by its root key id, and ``peer sync`` (cron) to keep their bundles and revocation
snapshots current (see :mod:`eseal.peers`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eseal.cli_common import (
    DataOpt,
    DbOpt,
    JsonOpt,
    command_group,
    emit,
    now,
    open_node,
    utc_time,
    want_json,
)

if TYPE_CHECKING:
    from eseal.peers import Peer

peer_app = command_group(
    help="Other regions whose licenses this node verifies: add, policy, list, remove, sync.",
    no_args_is_help=True,
)


def _when(ts: int | None) -> str:
    return utc_time(ts) if ts is not None else "never"


def _held_to(peer: Peer) -> str:
    policy = peer.policy
    return "" if policy is None else f", witnesses: quorum {policy.quorum.describe()}"


@peer_app.command("add")
def peer_add(
    url: Annotated[
        str,
        typer.Argument(metavar="URL", help="The other region's node, e.g. https://node.example."),
    ],
    pin: Annotated[
        str,
        typer.Option(
            metavar="ROOT_KEY_ID",
            help="The other region's root key id (its `eseal bundle export` prints it).",
        ),
    ],
    witness_policy: Annotated[
        Path | None,
        typer.Option(
            "--witness-policy",
            help="Hold the peer to witnesses: a witness policy file (as for `eseal verify "
            "--witness-policy`) naming the peer's log key; each snapshot synced must be cut "
            "at a checkpoint its quorum cosigned, or nothing is stored.",
            metavar="FILE",
        ),
    ] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify the licenses of the region whose node is at URL: its bundle is fetched and
    must be signed by the pinned root; its snapshot comes with `eseal peer sync`."""
    from eseal.cli_common import read_file
    from eseal.peer_sync import add_peer
    from verifier.witness_policy import MAX_POLICY_BYTES

    policy = None
    if witness_policy is not None:
        what = f"--witness-policy {witness_policy}"
        policy = (read_file(witness_policy, "witness policy", MAX_POLICY_BYTES), what)
    with open_node(data, database_url) as node:
        peer = add_peer(node, url, pin, now=now(), witness_policy=policy)
    emit(
        peer.to_json(),
        as_json,
        lambda: typer.echo(
            f"peer {peer.region} {peer.name} at {peer.url} added (root {peer.root_key_id}, "
            f"bundle signed {_when(peer.bundle_issued_at)}{_held_to(peer)}); run eseal peer "
            "sync for its revocation snapshot"
        ),
    )


@peer_app.command("policy")
def peer_policy_command(
    region: Annotated[str, typer.Argument(metavar="REGION", help="The peer's region code.")],
    witness_policy: Annotated[
        Path | None,
        typer.Option(
            "--witness-policy",
            help="Hold the peer to the witnesses of this policy file (as for `peer add`).",
            metavar="FILE",
        ),
    ] = None,
    none: Annotated[
        bool, typer.Option("--none", help="Hold the peer to no witnesses any more.")
    ] = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the witnesses REGION is held to; the files held stay (the next sync asks
    for its snapshot as the policy needs it)."""
    from eseal.cli_common import read_file
    from eseal.peer_sync import set_peer_policy
    from keys.errors import InvalidInput
    from verifier.witness_policy import MAX_POLICY_BYTES

    if (witness_policy is None) == (not none):
        raise InvalidInput("give --witness-policy FILE or --none (one of them)")
    policy = None
    if witness_policy is not None:
        what = f"--witness-policy {witness_policy}"
        policy = (read_file(witness_policy, "witness policy", MAX_POLICY_BYTES), what)
    with open_node(data, database_url) as node:
        peer = set_peer_policy(node, region, policy)
    held = _held_to(peer).removeprefix(", witnesses: ")
    emit(
        peer.to_json(),
        as_json,
        lambda: typer.echo(
            f"peer {peer.region} {peer.name} "
            + (f"held to witnesses: {held}" if held else "held to no witnesses")
            + "; run eseal peer sync for a snapshot under it"
        ),
    )


@peer_app.command("list")
def peer_list(data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List the peers, with when each was last synced and its last error."""
    from eseal.peers import list_peers

    with open_node(data, database_url) as node:
        peers = list_peers(node)

    def human() -> None:
        if not peers:
            typer.echo("no peer (eseal peer add URL --pin ROOT_KEY_ID)")
        for p in peers:
            typer.echo(
                f"{p.region} {p.name}  {p.url}  root {p.root_key_id}  bundle "
                f"{_when(p.bundle_issued_at)}  snapshot {_when(p.snapshot_as_of)}  synced "
                f"{_when(p.synced_at)}{_held_to(p)}"
                + (f"  last error: {p.error}" if p.error else "")
            )

    emit([p.to_json() for p in peers], as_json, human)


@peer_app.command("remove")
def peer_remove(
    region: Annotated[str, typer.Argument(metavar="REGION", help="The peer's region code.")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop verifying REGION's licenses (its bundle and snapshot are forgotten)."""
    from eseal.peers import remove_peer

    with open_node(data, database_url) as node:
        peer = remove_peer(node, region)
    emit(peer.to_json(), as_json, lambda: typer.echo(f"peer {peer.region} {peer.name} removed"))


@peer_app.command("sync")
def peer_sync(data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Fetch each peer's bundle and snapshot, check them as `eseal verify --bundle --pin
    --revocations` does, and store them if neither is older than the one held. Exit 0 when
    every peer synced, 1 when one failed (the others are synced all the same). For cron."""
    from eseal.peer_sync import sync_peers
    from eseal.peers import PeerSyncFailed

    with open_node(data, database_url) as node:
        done = sync_peers(node, now=now())
    if want_json(as_json):
        emit([s.to_json() for s in done], as_json, lambda: None)
    else:
        if not done:
            typer.echo("no peer (eseal peer add URL --pin ROOT_KEY_ID)")
        for s in done:
            if s.error is not None:
                typer.echo(f"{s.region} FAILED: {s.error}", err=True)
                continue
            if s.superseded:
                typer.echo(
                    f"{s.region} ok: another sync stored newer files meanwhile, held "
                    f"(bundle signed {_when(s.bundle_issued_at)}, status as of "
                    f"{_when(s.snapshot_as_of)})" + ("; stored bundle" if s.bundle_stored else "")
                )
                continue
            said = [
                ("stored" if s.bundle_stored else "unchanged") + " bundle",
                ("stored" if s.snapshot_stored else "unchanged")
                + " snapshot"
                + (
                    " (not modified: the peer's current one is the one held)"
                    if s.snapshot_not_modified
                    else ""
                ),
            ]
            typer.echo(
                f"{s.region} ok: {', '.join(said)} (signed {_when(s.bundle_issued_at)}, "
                f"status as of {_when(s.snapshot_as_of)})"
                + (f"; {s.witnessed}" if s.witnessed else "")
            )
    failed = [s.region for s in done if s.error is not None]
    if failed:
        raise PeerSyncFailed(f"{len(failed)} of {len(done)} peers failed: {', '.join(failed)}")
