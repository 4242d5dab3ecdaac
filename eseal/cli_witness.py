"""The witness commands of the CLI: the node's witness key, the other regions' logs it
witnesses (C2SP tlog-witness), and pulling a log's checkpoint to witness it (cron)."""

from __future__ import annotations

from typing import Annotated

import typer

from eseal.cli_common import (
    DataOpt,
    DbOpt,
    JsonOpt,
    command_group,
    emit,
    now,
    open_node,
    want_json,
)

witness_app = command_group(
    help="Witness other regions' logs: the witness key, the logs, sync.", no_args_is_help=True
)

OriginArg = Annotated[
    str, typer.Argument(metavar="ORIGIN", help="The log's origin, e.g. eseal/110000.")
]


@witness_app.command("init")
def witness_init(
    data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Make the node's witness key if it has none (certified by the root, recorded in the
    ledger, sealed by ESEAL_PASSPHRASE); print its verifier key either way."""
    from eseal.witness import add_witness_key

    with open_node(data, database_url, unlock=True) as node:
        key, made = add_witness_key(node, now=now())
    out = key.to_json() | {"made": made}
    said = "made the witness key" if made else "the node has its witness key already"
    emit(
        out,
        as_json,
        lambda: typer.echo(
            f"{said}\n  name:         {key.name}\n  key id:       {key.key_id}\n"
            f"  verifier key: {key.verifier_key}"
        ),
    )


@witness_app.command("key")
def witness_key_command(
    data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Print the node's witness key: its cosignature/v1 verifier key and key statement."""
    from eseal.witness import require_witness_key

    with open_node(data, database_url) as node:
        key = require_witness_key(node)
    out = key.to_json()
    emit(
        out,
        as_json,
        lambda: typer.echo(
            f"name:         {key.name}\nkey id:       {key.key_id}\n"
            f"verifier key: {key.verifier_key}\nstatement:    {out['statement']}"
        ),
    )


@witness_app.command("add-log")
def witness_add_log(
    origin: OriginArg,
    verifier_key: Annotated[
        str,
        typer.Argument(
            metavar="VERIFIER_KEY",
            help="The log's signed-note verifier key (its node's `eseal init` or bundle "
            "prints it as log_verifier).",
        ),
    ],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Witness the log of ORIGIN, whose checkpoints VERIFIER_KEY signs."""
    from eseal.witness import add_log

    with open_node(data, database_url) as node:
        log = add_log(node, origin, verifier_key, now=now())
    emit(
        log.to_json(),
        as_json,
        lambda: typer.echo(f"witnessing {log.origin} ({log.verifier_key}) from size 0"),
    )


@witness_app.command("logs")
def witness_logs(
    data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """List the logs the node witnesses, with the size of the checkpoint held of each."""
    from eseal.witness import list_logs

    with open_node(data, database_url) as node:
        logs = list_logs(node)

    def human() -> None:
        if not logs:
            typer.echo("no log is witnessed (eseal witness add-log ORIGIN VERIFIER_KEY)")
        for log in logs:
            typer.echo(f"{log.origin}  size {log.size}  {log.verifier_key}")

    emit([log.to_json() for log in logs], as_json, human)


@witness_app.command("remove-log")
def witness_remove_log(
    origin: OriginArg, data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Stop witnessing the log of ORIGIN (the checkpoint held is forgotten; any evidence of
    a fork is kept)."""
    from eseal.witness import remove_log

    with open_node(data, database_url) as node:
        log = remove_log(node, origin)
    emit(
        log.to_json(),
        as_json,
        lambda: typer.echo(f"no longer witnessing {log.origin} (held size {log.size})"),
    )


@witness_app.command("evidence")
def witness_evidence(
    origin: Annotated[
        str | None,
        typer.Argument(
            metavar="ORIGIN", help="Only the evidence on this log (its origin); all if left out."
        ),
    ] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the checkpoints refused as a fork or rollback, with the one held then."""
    from eseal.witness import list_evidence

    with open_node(data, database_url) as node:
        found = list_evidence(node, origin)

    def human() -> None:
        if not found:
            typer.echo("no evidence kept")
        for e in found:
            typer.echo(
                f"#{e.id} {e.origin} {e.reason} at {e.seen_at}: {e.detail}\n"
                f"--- held:\n{e.held_note or '(none)'}--- refused:\n{e.note}"
            )

    emit([e.to_json() for e in found], as_json, human)


@witness_app.command("sync")
def witness_sync(
    url: Annotated[
        str,
        typer.Argument(metavar="URL", help="The other region's node, e.g. https://node.example."),
    ],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch the log's checkpoint at URL and a consistency proof from the size held, and
    cosign it if it extends the checkpoint held (exit 0); exit 1 if refused (a fork or a
    rollback is kept as evidence), 2 on bad input or an unreachable node. For cron."""
    from eseal.witness import SYNC_EVIDENCE
    from eseal.witness_sync import LogRefused, sync
    from ledger.witness import Cosigned
    from verifier.urls import node_url

    node_url(url, "the node")
    with open_node(data, database_url, unlock=True) as node:
        done = sync(node, url, now=now())
    out = done.to_json()
    outcome = done.outcome
    if isinstance(outcome, Cosigned):
        emit(
            out,
            as_json,
            lambda: typer.echo(
                f"cosigned {done.before.origin} at size {outcome.checkpoint.size} "
                f"(held {done.before.size})"
            ),
        )
        return
    if want_json(as_json):
        emit(out, as_json, lambda: None)
    else:
        typer.echo(
            f"!!! REFUSED the checkpoint of {done.before.origin}: {outcome.reason}\n"
            f"!!! {outcome.detail}\n"
            f"--- held checkpoint (size {done.before.size}):\n{done.before.note or '(none)'}\n"
            f"--- served by {url}:\n{done.checkpoint_note}",
            err=True,
        )
    evidence = outcome.checkpoint is not None and outcome.reason in SYNC_EVIDENCE
    kept = " (kept as evidence: eseal witness evidence)" if evidence else ""
    raise LogRefused(f"the log {done.before.origin} is refused: {outcome.reason}{kept}")


# --- this node's own log, witnessed by others ----------------------------------------------


@witness_app.command("add-witness")
def witness_add_witness(
    url: Annotated[
        str,
        typer.Argument(
            metavar="URL",
            help="The witness's base URL: it takes POST URL/add-checkpoint "
            "(another eseal node: https://node.example).",
        ),
    ],
    verifier_key: Annotated[
        str,
        typer.Argument(
            metavar="VERIFIER_KEY",
            help="The witness's cosignature/v1 verifier key (an eseal node's `eseal witness "
            "key` or GET /v1/witness prints it).",
        ),
    ],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Have the witness at URL, whose cosignatures VERIFIER_KEY verifies, witness this
    node's log (`eseal witness ask` asks it; named by its key's name)."""
    from eseal.witness_ask import add_witness

    with open_node(data, database_url) as node:
        w = add_witness(node, url, verifier_key, now=now())
    emit(
        w.to_json(),
        as_json,
        lambda: typer.echo(f"witness {w.name} at {w.url} added ({w.verifier_key}), from size 0"),
    )


@witness_app.command("witnesses")
def witness_witnesses(
    data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """List the witnesses of this node's log, with the size each last cosigned."""
    from eseal.witness_ask import list_witnesses

    with open_node(data, database_url) as node:
        found = list_witnesses(node)

    def human() -> None:
        if not found:
            typer.echo("no witness of this log (eseal witness add-witness URL VERIFIER_KEY)")
        for w in found:
            typer.echo(f"{w.name}  {w.url}  cosigned size {w.size}  {w.verifier_key}")

    emit([w.to_json() for w in found], as_json, human)


@witness_app.command("remove-witness")
def witness_remove_witness(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The witness's key name.")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop asking the witness NAME (its cosignature is no longer served)."""
    from eseal.witness_ask import remove_witness

    with open_node(data, database_url) as node:
        w = remove_witness(node, name)
    emit(
        w.to_json(),
        as_json,
        lambda: typer.echo(f"removed the witness {w.name} (cosigned size {w.size})"),
    )


@witness_app.command("ask")
def witness_ask(data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Ask each witness of this node's log to cosign its current checkpoint, from the size
    it last cosigned (with a consistency proof), and store each cosignature that verifies.
    Exit 0 if every witness cosigned, 1 if any refused (or answered a line that does not
    verify), 2 on bad input, when no witness is registered, or when none could be reached.
    For cron."""
    from eseal.witness_ask import WitnessesRefused, WitnessesUnreachable, ask

    with open_node(data, database_url) as node:
        done = ask(node, now=now())

    def human() -> None:
        for a in done:
            mark = "ok " if a.outcome == "cosigned" else "!!!"
            typer.echo(
                f"{mark} {a.name} ({a.url}): {a.outcome}: {a.detail}",
                err=a.outcome != "cosigned",
            )

    emit([a.to_json() for a in done], as_json, human)
    failed = [a for a in done if a.outcome != "cosigned"]
    if failed and all(a.outcome == "unreachable" for a in done):
        raise WitnessesUnreachable(
            "no witness could be reached: " + "; ".join(f"{a.name}: {a.detail}" for a in failed)
        )
    if failed:
        raise WitnessesRefused(
            f"{len(failed)} of {len(done)} witnesses did not cosign: "
            + "; ".join(f"{a.name}: {a.outcome}" for a in failed)
        )
