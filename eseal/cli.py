"""The ``eseal`` command line: the operator's edge over the node (exit 0 ok, 1 a check
failed, 2 bad input or error; ``--json`` for machine output)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import click
import typer
from typer._click import exceptions as typer_click

from eseal import cli_fetch  # noqa: F401 (registers bundle fetch and revocations fetch)
from eseal.api import timeouts
from eseal.cli_agency import agency_app
from eseal.cli_common import (
    EXIT_INTERRUPTED,
    GLOBALS,
    DataOpt,
    DbOpt,
    Interrupted,
    JsonOpt,
    b64,
    command_group,
    data_dir,
    db_url,
    emit,
    open_node,
    plain_int,
    plain_seconds,
    progress_bar,
    stop_on_ctrl_c,
    want_json,
)
from eseal.cli_license import license_app
from eseal.cli_peer import peer_app
from eseal.cli_seal import seal_app
from eseal.cli_verify import bundle_app, revocations_app, verify_command
from eseal.cli_witness import witness_app
from eseal.problems import EXIT_CHECK_FAILED, EXIT_ERROR, exit_code
from keys.errors import EsealError, ExternalFailure
from keys.keyfile import PassphraseMissing, passphrase_from_env, passphrase_if_set

app = command_group(
    name="eseal",
    help="Electronic licenses and seals on a witnessed ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
ledger_app = command_group(help="Read, prove and audit the ledger.", no_args_is_help=True)
proof_app = command_group(help="Merkle proofs (RFC 9162).", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(agency_app, name="agency")
app.add_typer(license_app, name="license")
app.add_typer(seal_app, name="seal")
app.add_typer(bundle_app, name="bundle")
app.add_typer(revocations_app, name="revocations")
app.add_typer(witness_app, name="witness")
app.add_typer(peer_app, name="peer")
app.command("verify")(verify_command)
ledger_app.add_typer(proof_app, name="proof")

_globals = GLOBALS
_READ_TIMEOUTS = timeouts.ReadTimeouts()  # the defaults


@app.callback()
def _root(data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Options given before the command apply to every command."""
    GLOBALS.update(data=data, database_url=database_url, json=as_json)


@app.command()
def init(
    region: Annotated[str, typer.Option(help="GB/T 2260 region code, e.g. 500000.")],
    name: Annotated[str, typer.Option(help="The region's name, e.g. 重庆市.")],
    origin: Annotated[
        str | None, typer.Option(help="Checkpoint origin (default eseal/REGION).")
    ] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a region's node: root, log and witness keys (sealed by ESEAL_PASSPHRASE), its
    ledger."""
    from eseal.node import init_node
    from eseal.witness import require_witness_key
    from keys.ed25519 import key_id

    passphrase = passphrase_from_env()
    node = init_node(
        data_dir(data),
        region=region,
        name=name,
        passphrase=passphrase,
        now=int(time.time()),
        database_url=db_url(database_url),
        origin=origin,
    )
    try:
        cfg = node.config
        out = {
            "data": str(node.data_dir),
            "region": cfg.region,
            "name": cfg.name,
            "origin": cfg.origin,
            "root_key_id": key_id(cfg.root_public_key).hex(),
            "log_verifier_key": cfg.log_verifier,
            "witness_verifier_key": require_witness_key(node).verifier_key,
            "checkpoint": node.log.checkpoint(),
        }
        emit(
            out,
            as_json,
            lambda: typer.echo(
                f"Initialised region {cfg.region} {cfg.name} in {node.data_dir}\n"
                f"root key id:      {out['root_key_id']}\n"
                f"log verifier key: {cfg.log_verifier}\n"
                f"witness key:      {out['witness_verifier_key']}\n\n{out['checkpoint']}",
            ),
        )
    finally:
        node.close()


NEW_PASSPHRASE_ENV = "ESEAL_NEW_PASSPHRASE"  # noqa: S105 (a variable name)


def _new_passphrase() -> bytes:
    """The new passphrase: ESEAL_NEW_PASSPHRASE, or asked for twice in a terminal."""
    new = passphrase_if_set(NEW_PASSPHRASE_ENV)
    if new is not None:
        return new
    if not sys.stdin.isatty():
        raise PassphraseMissing(f"set {NEW_PASSPHRASE_ENV} to the new passphrase")
    said = typer.prompt(
        "new passphrase", hide_input=True, confirmation_prompt=True, err=True, default=""
    )
    if not said:
        raise PassphraseMissing("the new passphrase is empty")
    return os.fsencode(said)


@app.command("passphrase")
def passphrase_command(data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Change the passphrase that seals the node's keys: ESEAL_PASSPHRASE is the current
    one, ESEAL_NEW_PASSPHRASE the new one (asked for twice in a terminal when unset).

    Stop `eseal serve` and every other eseal command using the node first (it refuses to
    run beside them), and start them again with ESEAL_PASSPHRASE set to the new one.
    Nothing is written until every key file has opened; a change cut short (a crash,
    Ctrl-C) is finished by running it again with the same two passphrases."""
    from eseal.node import read_config
    from eseal.passphrase import ChangeInterrupted, change_passphrase, key_files

    directory = data_dir(data)
    read_config(directory)  # a node's data directory, or a clear error
    current = passphrase_from_env()
    new = _new_passphrase()
    steps = 2 * len(key_files(directory))
    with (
        progress_bar(steps, "re-sealing keys") as bar,
        stop_on_ctrl_c("stopping after the key file being written…") as stop,
    ):
        try:
            done = change_passphrase(
                directory, current, new, progress=bar.update, stop=lambda: stop.requested
            )
        except ChangeInterrupted as e:
            if stop.requested:
                raise Interrupted(e.message) from e
            raise
    out = {
        "data": str(directory),
        "rewrapped": [str(p) for p in done.rewrapped],
        "already": [str(p) for p in done.already],
    }
    emit(
        out,
        as_json,
        lambda: typer.echo(
            f"sealed {len(done.rewrapped)} key file(s) under the new passphrase"
            + (f" ({len(done.already)} already were)" if done.already else "")
            + "; start the node's commands with ESEAL_PASSPHRASE set to it"
        ),
    )


@ledger_app.command("checkpoint")
def ledger_checkpoint(
    data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Print the latest signed checkpoint (C2SP signed note), with the cosignature lines
    its witnesses gave for it (eseal witness ask)."""
    from eseal.witness_ask import cosigned_checkpoint
    from ledger.checkpoint import verify_checkpoint

    with open_node(data, database_url) as node:
        note = cosigned_checkpoint(node)
        cp = verify_checkpoint(note, node.log_verifier)
    out = {"origin": cp.origin, "size": cp.size, "root_hash": b64(cp.root_hash), "note": note}
    emit(out, as_json, lambda: typer.echo(note, nl=False))


@ledger_app.command("entry")
def ledger_entry(
    index: Annotated[int, typer.Argument(help="Entry index, from 0.", parser=plain_int())],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one ledger entry, decoded."""
    from ledger.entries import decode_entry
    from ledger.merkle import leaf_hash

    with open_node(data, database_url) as node:
        raw = node.log.entry(index)
    entry = decode_entry(raw)
    out = {
        "index": index,
        "leaf_hash": b64(leaf_hash(raw)),
        "data": b64(raw),
        "entry": entry.to_json(),
    }

    def human() -> None:
        typer.echo(f"entry {index}  leaf {leaf_hash(raw).hex()}")
        for k, v in entry.to_json().items():
            typer.echo(f"  {k:8} {v}")

    emit(out, as_json, human)


@proof_app.command("inclusion")
def proof_inclusion(
    index: Annotated[int, typer.Argument(help="Entry index.", parser=plain_int())],
    size: Annotated[
        int | None,
        typer.Option(help="Tree size (default: the latest).", parser=plain_int()),
    ] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the RFC 9162 inclusion proof of entry INDEX, verified against the tree root."""
    from ledger.merkle import leaf_hash, verify_inclusion

    with open_node(data, database_url) as node:
        n, proof = node.log.inclusion_proof(index, size)
        leaf = leaf_hash(node.log.entry(index))
        root = node.log.root_hash(n)
    verify_inclusion(leaf, index, n, proof, root)
    out = {
        "index": index,
        "size": n,
        "leaf_hash": b64(leaf),
        "root_hash": b64(root),
        "proof": [b64(h) for h in proof],
    }
    emit(
        out,
        as_json,
        lambda: typer.echo(
            f"inclusion of entry {index} in tree {n} (root {b64(root)}):\n"
            + "\n".join(b64(h) for h in proof)
        ),
    )


@proof_app.command("consistency")
def proof_consistency(
    first: Annotated[int, typer.Argument(help="Older tree size.", parser=plain_int())],
    second: Annotated[int, typer.Argument(help="Newer tree size.", parser=plain_int())],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the RFC 9162 consistency proof between two tree sizes, verified."""
    from ledger.merkle import verify_consistency

    with open_node(data, database_url) as node:
        proof = node.log.consistency_proof(first, second)
        root1, root2 = node.log.root_hash(first), node.log.root_hash(second)
    verify_consistency(first, second, proof, root1, root2)
    out = {
        "first": first,
        "second": second,
        "first_root": b64(root1),
        "second_root": b64(root2),
        "proof": [b64(h) for h in proof],
    }
    emit(
        out,
        as_json,
        lambda: typer.echo(
            f"consistency {first} -> {second}:\n" + "\n".join(b64(h) for h in proof)
        ),
    )


@ledger_app.command("verify")
def ledger_verify(
    data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Audit the whole ledger from scratch: chain, Merkle tiles and every checkpoint."""
    from ledger.audit import audit

    with open_node(data, database_url) as node:
        size = node.store.head().size
        if want_json(as_json) or not sys.stderr.isatty():
            report = audit(node.store, node.log_verifier)
        else:
            with click.progressbar(length=size, label="auditing", file=sys.stderr) as bar:
                done = [0]

                def step(n: int) -> None:
                    bar.update(n - done[0])
                    done[0] = n

                report = audit(node.store, node.log_verifier, progress=step)
    out = {
        "ok": report.ok,
        "size": report.size,
        "entries_checked": report.entries_checked,
        "checkpoints_checked": report.checkpoints_checked,
        "first_bad_index": report.first_bad_index,
        "problems": report.problems,
        "seconds": round(report.seconds, 3),
    }

    def human() -> None:
        if report.ok:
            typer.echo(
                f"ledger OK: {report.entries_checked} entries, "
                f"{report.checkpoints_checked} checkpoint"
                f"{'' if report.checkpoints_checked == 1 else 's'} in {report.seconds:.2f}s"
            )
        else:
            typer.echo(f"ledger FAILED at entry {report.first_bad_index}:", err=True)
            for p in report.problems:
                typer.echo(f"  {p}", err=True)

    emit(out, as_json, human)
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
def backup(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="The directory to back the node up into: new, or empty. With --check, the "
            "backup to check.",
            show_default=False,
        ),
    ],
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Check the backup in DIR instead: every file against its manifest, the "
            "SQLite ledger audited (no node is opened, nothing is written).",
        ),
    ] = False,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Back the node up, while it may be serving: its ledger (SQLite's copy, or PostgreSQL's
    pg_dump in one snapshot), node.json and its key files, still sealed, with a manifest.

    The backup is written under a temporary name and renamed to DIR once complete. Restore
    it by copying its files back into a data directory (on PostgreSQL, pg_restore its
    ledger.pgdump too); `eseal backup --check DIR` checks it first, `eseal ledger verify`
    after."""
    from eseal.backup import check_backup, take_backup

    if check:
        report = check_backup(directory)
        ledger = report.manifest["ledger"]
        sqlite = report.manifest["database"] == "sqlite"
        out = {
            "ok": report.ok,
            "path": str(directory),
            "database": report.manifest["database"],
            "size": ledger["size"],
            "root_hash": ledger["root_hash"],
            "files_checked": report.files_checked,
            "entries_audited": report.entries_audited,
            "problems": report.problems,
        }

        def said() -> None:
            if not report.ok:
                typer.echo(f"backup FAILED: {directory}", err=True)
                for p in report.problems:
                    typer.echo(f"  {p}", err=True)
                return
            typer.echo(
                f"backup OK: {report.files_checked} files as its manifest lists them; "
                + (
                    f"ledger audited, {ledger['size']} entries, root hash {ledger['root_hash']}"
                    if sqlite
                    else "the ledger's PostgreSQL dump is as backed up (pg_restore checks the "
                    f"rest): restored, `eseal ledger verify` must find {ledger['size']} "
                    f"entries, root hash {ledger['root_hash']}"
                )
            )

        emit(out, as_json, said)
        if not report.ok:
            raise typer.Exit(EXIT_CHECK_FAILED)
        return
    made = take_backup(
        data_dir(data), directory, database_url=db_url(database_url), now=int(time.time())
    )
    ledger = made.manifest["ledger"]
    out = {
        "path": str(made.path),
        "database": made.manifest["database"],
        "size": ledger["size"],
        "root_hash": ledger["root_hash"],
        "files": made.manifest["files"],
    }

    def human() -> None:
        typer.echo(
            f"backed up the node of {made.manifest['region']} {made.manifest['name']} "
            f"into {made.path}\n"
            f"ledger:    {ledger['size']} entries, root hash {ledger['root_hash']}\n"
            f"key files: {made.key_files}, copied as they are (sealed by the passphrase)"
        )
        if "dump" in made.manifest:
            typer.echo(
                f"database:  PostgreSQL, dumped by pg_dump {made.manifest['dump']['pg_dump']} "
                f"into {made.manifest['dump']['file']} in the same snapshot"
            )
        typer.echo(f"check it with: eseal backup --check {made.path}")

    emit(out, as_json, human)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on.", parser=plain_int(1, 65535))
    ] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes; each opens the node, and they share its database.",
            parser=plain_int(1, 64),
        ),
    ] = 1,
    header_timeout: Annotated[
        float,
        typer.Option(
            envvar=timeouts.HEADER_ENV,
            help="Seconds a client has to send a request's head (request line and headers).",
            parser=plain_seconds(timeouts.MAX_HEADER),
        ),
    ] = _READ_TIMEOUTS.header,
    body_idle_timeout: Annotated[
        float,
        typer.Option(
            envvar=timeouts.BODY_IDLE_ENV,
            help="Seconds a request body may stall (no bytes) while the node reads it.",
            parser=plain_seconds(timeouts.MAX_BODY_IDLE),
        ),
    ] = _READ_TIMEOUTS.body_idle,
    body_timeout: Annotated[
        float,
        typer.Option(
            envvar=timeouts.BODY_ENV,
            help="Seconds a client has to send a whole request body.",
            parser=plain_seconds(timeouts.MAX_BODY),
        ),
    ] = _READ_TIMEOUTS.body_total,
    send_timeout: Annotated[
        float,
        typer.Option(
            envvar=timeouts.SEND_ENV,
            help="Seconds a client may take none of its response, while the node waits for "
            "it to read, before the connection is reset.",
            parser=plain_seconds(timeouts.MAX_SEND),
        ),
    ] = _READ_TIMEOUTS.send_idle,
    data: DataOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    import uvicorn

    from eseal.api.app import SERVER_OPTIONS, create_app
    from eseal.api.server import protocol_for
    from eseal.node import Node

    read_timeouts = timeouts.ReadTimeouts(
        header=header_timeout,
        body_idle=body_idle_timeout,
        body_total=body_timeout,
        send_idle=send_timeout,
    )
    passphrase = passphrase_if_set()
    node = Node.open(data_dir(data), passphrase=passphrase, database_url=db_url(database_url))
    backend = "SQLite" if node.sql.write_engine.dialect.name == "sqlite" else "PostgreSQL"
    typer.echo(
        f"eseal node of region {node.config.region} {node.config.name}: ledger on {backend}, "
        f"data in {data_dir(data)}; the window page at /, the API's documentation at /docs",
        err=True,
    )
    if passphrase is None:
        typer.echo("ESEAL_PASSPHRASE is not set: serving read-only (no issuing)", err=True)
    if workers > 1:
        # Opened above only to refuse a bad directory, URL or passphrase before any worker
        # starts; each worker opens its own (eseal.api.app.app_from_environment).
        node.close()
        os.environ["ESEAL_DATA"] = str(data_dir(data).resolve())
        if (url := db_url(database_url)) is not None:
            os.environ["ESEAL_DATABASE_URL"] = url
        os.environ.update(read_timeouts.environment())  # each worker reads them back
        target = "eseal.api.app:app_from_environment"
        with _server_start(host, port):
            uvicorn.run(
                target,
                factory=True,
                workers=workers,
                host=host,
                port=port,
                log_level="info",
                **SERVER_OPTIONS,
            )
        return
    node.start_group_commit()
    try:
        options = {**SERVER_OPTIONS, "http": protocol_for(read_timeouts)}
        with _server_start(host, port):
            uvicorn.run(create_app(node), host=host, port=port, log_level="info", **options)
    finally:
        node.close()


class ServerNotStarted(ExternalFailure):
    """uvicorn could not start serving (the address is taken, the host unknown, …)."""

    code = "server-not-started"


@contextlib.contextmanager
def _server_start(host: str, port: int) -> Iterator[None]:
    """uvicorn's exit on a failed start (status 3, after it has logged why) as eseal's
    error: exit 2, as the README promises, with one line naming the address."""
    try:
        yield
    except SystemExit as e:
        if e.code in (None, 0):
            raise
        raise ServerNotStarted(
            f"the server could not start on {host}:{port} (uvicorn said why above)"
        ) from e


@app.command()
def demo(data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Run eseal's main job end to end on this data directory and report what it did."""
    from eseal.demo import run_demo

    result = run_demo(data_dir(data), database_url=db_url(database_url), now=int(time.time()))
    emit(result.to_json(), as_json, result.print_human)


def main() -> None:
    """Entry point: map eseal errors to a message and an exit code in one place."""
    try:
        rv = app(standalone_mode=False, prog_name="eseal")  # also as `python -m eseal`
    except Interrupted as e:  # it says what was done
        typer.echo(f"error: {e.message}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except EsealError as e:
        typer.echo(f"error: {e.message}", err=True)
        sys.exit(exit_code(e))
    except OSError as e:  # a file that cannot be read or written (a path too long, EIO, …)
        where = f" {e.filename}" if e.filename else ""
        typer.echo(f"error: cannot use{where}: {e.strerror or e}", err=True)
        sys.exit(EXIT_ERROR)
    except (click.exceptions.Abort, typer.Abort):
        typer.echo("aborted", err=True)
        sys.exit(EXIT_ERROR)
    except typer_click.NoArgsIsHelpError as e:  # `eseal` alone, `eseal ledger`: the help
        e.show()
        sys.exit(EXIT_ERROR)
    except (click.ClickException, typer_click.ClickException) as e:
        # Typer bundles its own click: its usage errors are not click's classes.
        typer.echo(f"error: {e.format_message()}", err=True)
        sys.exit(EXIT_ERROR)
    if rv == EXIT_INTERRUPTED:  # Typer's answer to Ctrl-C (KeyboardInterrupt), said nothing
        typer.echo("error: interrupted", err=True)
    sys.exit(rv if isinstance(rv, int) else 0)
