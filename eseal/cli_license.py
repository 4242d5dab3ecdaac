"""The license commands of the CLI: the catalogue, issue (one, or in bulk from CSV:
:mod:`eseal.cli_bulk`), show, print, status changes and renewal (on the node's own command
line the operator acts)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from eseal.cli_bulk import license_bulk
from eseal.cli_common import (
    DataOpt,
    DbOpt,
    JsonOpt,
    command_group,
    emit,
    holder_id_option,
    now,
    open_node,
    outside_node,
    with_note,
)
from keys.errors import EsealError, InvalidInput

license_app = command_group(help="Issue licenses and change their status.", no_args_is_help=True)


def _license_id(text: str) -> str:
    """A license id as given, once :meth:`eseal.ids.LicenseId.parse` takes it: one that is
    no license id (a bad character, a wrong check character) is refused naming its flaw, as
    the API's 400 invalid-license-id, before the node is opened, not looked up as unknown."""
    from eseal.ids import LicenseId

    LicenseId.parse(text)
    return text


#: The license id a command acts on.
LicenseIdArg = Annotated[str, typer.Argument(help="License id.", parser=_license_id)]


def parse_fields(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--field {pair!r} must look like name=value")
        if name.strip() in out:
            raise InvalidInput(f"--field {name.strip()} given twice")
        out[name.strip()] = value
    return out


@license_app.command("types")
def license_types(as_json: JsonOpt = False) -> None:
    """The license types this node knows, with their fields."""
    from eseal.catalog import load_catalog

    catalog = load_catalog()

    def human() -> None:
        for t in catalog:
            typer.echo(f"{t.code}  {t.name} · {t.name_en}  ({t.ministry}; {t.holder_kind})")
            for f in t.fields:
                req = "required" if f.required else "optional"
                typer.echo(f"    {f.name:28} {f.label} · {f.label_en}  [{f.kind}, {req}]")
                if f.choices:  # what --field NAME=VALUE may say
                    typer.echo(f"    {'':28} one of: {', '.join(f.choices)}")

    emit([t.to_json() for t in catalog], as_json, human)


def _write_outputs(
    node: Any, license_id: str, qr_text: str, qr: Path | None, pdf: Path | None, png: Path | None
) -> None:
    from eseal.printing import write_license, write_qr

    if qr is not None:
        write_qr(qr, qr_text)
    if pdf is not None or png is not None:
        write_license(node, license_id, pdf=pdf, png=png, now=now())


def _check_printing(pdf: Path | None, png: Path | None) -> None:
    """A printed license needs the CJK font: looked for before anything is signed."""
    from eseal.render import cjk_font_path

    if pdf is not None or png is not None:
        cjk_font_path()


def _write_issued(
    node: Any, issued: Any, qr: Path | None, pdf: Path | None, png: Path | None
) -> None:
    """The new license's files; if they cannot be written, the error says that the license
    was recorded all the same (issuing it again would issue another)."""
    try:
        _write_outputs(node, issued.id, issued.qr_text, qr, pdf, png)
    except (EsealError, OSError) as e:
        raise with_note(
            e,
            f"the license {issued.id} was issued all the same (ledger index "
            f"{issued.ledger_index}): write its files with `eseal license print {issued.id}`",
        ) from e


@license_app.command("issue")
def license_issue(
    agency: Annotated[str, typer.Option(help="Issuing agency's credit code.")],
    type_code: Annotated[str, typer.Option("--type", help="License type code.")],
    holder: Annotated[str, typer.Option(help="Holder's name (person or organisation).")],
    holder_id: Annotated[
        str | None,
        typer.Option(
            help="Identity number or credit code. '-' reads it from standard input (asked "
            "for, unechoed, in a terminal), so that a person's number stays out of the "
            "shell's history.",
            metavar="ID",
        ),
    ] = None,
    field: Annotated[
        list[str] | None, typer.Option(help="A field (repeat).", metavar="NAME=VALUE")
    ] = None,
    valid_until: Annotated[
        str | None,
        typer.Option(
            help="Last valid day (default: the type's usual validity from today, or none).",
            metavar="YYYY-MM-DD",
        ),
    ] = None,
    qr: Annotated[Path | None, typer.Option(help="Write the QR (.png or .svg).")] = None,
    pdf: Annotated[Path | None, typer.Option(help="Write the printable license PDF.")] = None,
    png: Annotated[Path | None, typer.Option(help="Write the printable license PNG.")] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a license: sign the QR document and record it in the ledger."""
    from eseal.agencies import OPERATOR
    from eseal.licenses import IssueRequest, end_of_day, issue
    from eseal.printing import check_outputs

    req = IssueRequest(
        type_code,
        holder,
        holder_id_option(holder_id),
        parse_fields(field or []),
        end_of_day(valid_until),
    )
    check_outputs(qr, pdf, png)
    outside_node(data, qr, pdf, png)
    _check_printing(pdf, png)
    with open_node(data, database_url, unlock=True) as node:
        issued = issue(node, OPERATOR, agency, req, now=now())
        _write_issued(node, issued, qr, pdf, png)
    _say_issued("issued", issued, [qr, pdf, png], as_json)


def _say_issued(verb: str, issued: Any, files: list[Path | None], as_json: bool) -> None:
    """What ``issue`` and ``renew`` print: the new license's id, ledger index and QR text
    (what reaches its holder), and the files written."""
    written = [str(p) for p in files if p]
    emit(
        issued.to_json() | {"files": written},
        as_json,
        lambda: typer.echo(
            f"{verb} {issued.id}\n  ledger index {issued.ledger_index} of {issued.tree_size}\n"
            f"  QR: {issued.qr_text}" + "".join(f"\n  wrote {p}" for p in written)
        ),
    )


license_app.command("bulk")(license_bulk)


@license_app.command("show")
def license_show(
    license_id: LicenseIdArg,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a license as stored here (type, status, validity, ledger index)."""
    from eseal.catalog import load_catalog
    from eseal.licenses import CST, STATUS_NAMES, get_license
    from verifier.verdict import renewed_as

    with open_node(data, database_url) as node:
        row = get_license(node, license_id)
    # The QR text under the name the API gives it (qr_text), as well as the row's (document).
    out = row.model_dump(exclude={"digest"}) | {
        "digest": bytes(row.digest).hex(),
        "qr_text": row.document,
    }

    def day(t: int) -> str:
        return datetime.fromtimestamp(t, CST).date().isoformat()

    def human() -> None:
        type_name = load_catalog().by_code.get(row.type_code)
        status = f"{row.status} {STATUS_NAMES[row.status]}"
        # A renewal's reason is its successor's id, said on the line after.
        if row.status_reason and row.status_reason != renewed_as(row.replaced_by or ""):
            status += f": {row.status_reason}"
        holder = row.holder_name + (f" ({row.holder_id_display})" if row.holder_id_display else "")
        until = day(row.expires) if row.expires is not None else "长期 (no end date)"
        lines = [
            row.id,
            f"  type {row.type_code}" + (f" {type_name.name}" if type_name else ""),
            f"  status {status}",
            *([f"  replaced by {row.replaced_by}"] if row.replaced_by else []),
            *([f"  replaces {row.replaces}"] if row.replaces else []),
            f"  holder {holder}",
            f"  agency {row.agency_code}",
            f"  issued {day(row.issued_at)}, valid until {until}",
            f"  ledger index {row.ledger_index}",
        ]
        typer.echo("\n".join(lines))

    emit(out, as_json, human)


def _change(
    action: str,
    license_id: str,
    reason: str,
    to: str | None,
    data: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """A status change, recorded, and what it says: the license's new status (and for a
    transfer, the license that replaces it)."""
    from eseal.agencies import OPERATOR
    from eseal.licenses import STATUS_NAMES, change_status

    with open_node(data, database_url, unlock=True) as node:
        row = change_status(node, OPERATOR, license_id, action, reason=reason, to=to, now=now())
    out: dict[str, Any] = {"id": row.id, "status": row.status}
    said = f"{row.id}: {row.status} {STATUS_NAMES[row.status]}"
    if to is not None:
        out["replaced_by"] = row.replaced_by
        said += f"\n  新证照 new license: {row.replaced_by}"
    emit(out, as_json, lambda: typer.echo(said))


def _lifecycle(action: str) -> Any:
    def command(
        license_id: LicenseIdArg,
        reason: Annotated[str, typer.Option(help="Why (recorded in the ledger).")] = "",
        data: DataOpt = None,
        database_url: DbOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        _change(action, license_id, reason, None, data, database_url, as_json)

    command.__doc__ = f"{action.capitalize()} a license (recorded in the ledger)."
    return command


for _action in ("suspend", "reinstate", "revoke", "withdraw", "cancel"):
    license_app.command(_action)(_lifecycle(_action))


@license_app.command("transfer")
def license_transfer(
    license_id: LicenseIdArg,
    to: Annotated[
        str | None,
        typer.Option(
            help="The id of the license that replaces it (required; perhaps of another region;"
            " one recorded here must be in force).",
            metavar="NEW_LICENSE_ID",
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded in the ledger).")] = "",
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Transfer a license out (转出) to the license that replaces it (recorded in the
    ledger)."""
    if not to:
        raise InvalidInput(
            "to transfer a license, give --to NEW_LICENSE_ID: the license that replaces it"
        )
    _change("transfer", license_id, reason, to, data, database_url, as_json)


@license_app.command("renew")
def license_renew(
    license_id: LicenseIdArg,
    valid_until: Annotated[
        str | None,
        typer.Option(
            help="The new version's last valid day (default: the type's usual validity "
            "from today, not the old version's day).",
            metavar="YYYY-MM-DD",
        ),
    ] = None,
    field: Annotated[
        list[str] | None, typer.Option(help="A changed field (repeat).", metavar="NAME=VALUE")
    ] = None,
    holder_id: Annotated[
        str | None,
        typer.Option(
            help="The holder's id again, checked against the old version's: a person's "
            "number is then masked and hashed as issued now (Argon2id). Left out, the holder "
            "is kept as it is. '-' reads it from standard input (asked for, unechoed, in a "
            "terminal), so that it stays out of the shell's history.",
            metavar="ID",
        ),
    ] = None,
    qr: Annotated[Path | None, typer.Option(help="Write the new QR (.png or .svg).")] = None,
    pdf: Annotated[Path | None, typer.Option(help="Write the new license PDF.")] = None,
    png: Annotated[Path | None, typer.Option(help="Write the new license PNG.")] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue the next version of a license; the old version lapses."""
    from eseal.agencies import OPERATOR
    from eseal.licenses import end_of_day, renew
    from eseal.printing import check_outputs

    check_outputs(qr, pdf, png)
    outside_node(data, qr, pdf, png)
    _check_printing(pdf, png)
    holder_id = holder_id_option(holder_id)
    with open_node(data, database_url, unlock=True) as node:
        issued = renew(
            node,
            OPERATOR,
            license_id,
            now=now(),
            valid_until=end_of_day(valid_until),
            fields=parse_fields(field or []),
            holder_id=holder_id,
        )
        _write_issued(node, issued, qr, pdf, png)
    _say_issued("renewed as", issued, [qr, pdf, png], as_json)


@license_app.command("print")
def license_print(
    license_id: LicenseIdArg,
    qr: Annotated[Path | None, typer.Option(help="Write the QR (.png or .svg).")] = None,
    pdf: Annotated[Path | None, typer.Option(help="Write the license PDF.")] = None,
    png: Annotated[Path | None, typer.Option(help="Write the license PNG.")] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Render a stored license again: QR, PDF, PNG."""
    from eseal.licenses import get_license
    from eseal.printing import check_outputs

    if qr is None and pdf is None and png is None:
        raise InvalidInput("nothing to write: give --qr FILE, --pdf FILE or --png FILE")
    check_outputs(qr, pdf, png)
    outside_node(data, qr, pdf, png)
    with open_node(data, database_url) as node:
        row = get_license(node, license_id)
        _write_outputs(node, row.id, row.document, qr, pdf, png)
    written = [str(p) for p in (qr, pdf, png) if p]
    emit(
        {"id": row.id, "files": written},
        as_json,
        lambda: typer.echo("\n".join(f"wrote {p}" for p in written)),
    )
