"""The e-seal commands of the CLI: create a seal, stamp a document (its QR and the sealed
copy), revoke, list."""

from __future__ import annotations

from pathlib import Path
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
    outside_node,
    read_file,
    with_note,
)
from keys.errors import EsealError

seal_app = command_group(help="E-seals: create, stamp documents, revoke.", no_args_is_help=True)


def _seal_id(text: str) -> str:
    """A seal id as given, once :func:`eseal.ids.parse_seal_id` takes it: one that is no
    seal id is refused naming its flaw, as the API's 400 invalid-seal-id, before the node
    is opened, not looked up as unknown."""
    from eseal.ids import parse_seal_id

    return parse_seal_id(text)


#: The seal id a command acts on.
SealIdArg = Annotated[str, typer.Argument(help="Seal id.", parser=_seal_id)]


@seal_app.command("create")
def seal_create(
    agency: Annotated[str, typer.Option(help="Owning agency's credit code.")],
    name: Annotated[str, typer.Option(help="Seal name, e.g. 行政审批专用章.")],
    seal_type: Annotated[
        str,
        typer.Option("--type", help="official, contract, finance, approval, invoice or business."),
    ] = "official",
    image: Annotated[Path | None, typer.Option(help="Seal image (PNG); default: drawn.")] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an e-seal with its own key, certified by the region root."""
    from eseal.agencies import OPERATOR
    from eseal.seals import MAX_IMAGE, create_seal

    raw = None
    if image is not None:
        raw = read_file(image, "seal image", MAX_IMAGE)
    with open_node(data, database_url, unlock=True) as node:
        seal = create_seal(
            node,
            OPERATOR,
            agency_code=agency,
            name=name,
            seal_type=seal_type,
            image=raw,
            now=now(),
        )
    emit(
        seal.to_json(),
        as_json,
        lambda: typer.echo(f"seal {seal.id} ({seal.name}), key {seal.key_id}"),
    )


@seal_app.command("stamp")
def seal_stamp(
    seal_id: SealIdArg,
    file: Annotated[Path, typer.Argument(help="The document to seal.")],
    qr: Annotated[Path | None, typer.Option(help="Write the stamp QR (.png or .svg).")] = None,
    pdf: Annotated[Path | None, typer.Option(help="Write the sealed copy (PDF).")] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Seal a document: sign its SHA-256 and metadata with the seal (an ES1: QR)."""
    from eseal.agencies import OPERATOR
    from eseal.printing import check_outputs, write_atomic, write_qr
    from eseal.sealed_copy import check_sealable, sealed_copy_pdf
    from eseal.seals import MAX_DOCUMENT, get_seal, stamp

    document = read_file(file, "document", MAX_DOCUMENT)
    check_outputs(qr, pdf, source=file)  # before the stamp is signed and recorded
    outside_node(data, qr, pdf)
    if pdf is not None:  # a document of which no sealed copy can be made: refused unstamped
        check_sealable(document)
    with open_node(data, database_url, unlock=True) as node:
        stamped = stamp(
            node, OPERATOR, seal_id, document=document, document_name=file.name, now=now()
        )
        try:
            if qr is not None:
                write_qr(qr, stamped.qr_text)
            if pdf is not None:
                seal = get_seal(node, seal_id)
                write_atomic(
                    pdf,
                    sealed_copy_pdf(
                        document,
                        document_name=file.name,
                        seal_png=bytes(seal.image),
                        qr_text=stamped.qr_text,
                        caption=seal.name,
                    ),
                )
        except (EsealError, OSError) as e:  # the stamp is recorded: say so, and give its QR
            raise with_note(
                e,
                f"the stamp {stamped.id} was recorded all the same (ledger index "
                f"{stamped.ledger_index}); its QR text: {stamped.qr_text}",
            ) from e
    out = stamped.to_json() | {"files": [str(p) for p in (qr, pdf) if p]}
    emit(
        out,
        as_json,
        lambda: typer.echo(
            f"stamped {file.name} as {stamped.id}\n  QR: {stamped.qr_text}"
            + "".join(f"\n  wrote {p}" for p in (qr, pdf) if p)
        ),
    )


@seal_app.command("revoke")
def seal_revoke(
    seal_id: SealIdArg,
    reason: Annotated[str, typer.Option(help="Why (recorded in the ledger).")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a seal: it stamps no more, and its stamps no longer verify as valid."""
    from eseal.agencies import OPERATOR
    from eseal.seals import revoke_seal

    with open_node(data, database_url, unlock=True) as node:
        row = revoke_seal(node, OPERATOR, seal_id, reason=reason, now=now())
    emit(
        {"id": row.id, "status": row.status}, as_json, lambda: typer.echo(f"seal {row.id} revoked")
    )


@seal_app.command("list")
def seal_list(
    agency: Annotated[str | None, typer.Option(help="Only this agency's seals.")] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List seals."""
    from eseal.seals import list_seals

    with open_node(data, database_url) as node:
        rows = [
            s.model_dump(exclude={"image", "statement", "public_key"})
            for s in list_seals(node, agency)
        ]

    def human() -> None:
        for r in rows:
            typer.echo(f"{r['id']}  {r['name']}  {r['seal_type']}  [{r['status']}]")

    emit(rows, as_json, human)
