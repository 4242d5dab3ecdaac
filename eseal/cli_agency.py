"""The agency commands of the CLI: register agencies, rotate and revoke their keys, issue
API credentials (on the node's own command line the operator acts)."""

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
    utc_time,
)

agency_app = command_group(
    help="Register agencies, rotate and revoke their keys.", no_args_is_help=True
)


@agency_app.command("add")
def agency_add(
    code: Annotated[str, typer.Option(help="Unified social credit code of the agency.")],
    name: Annotated[str, typer.Option(help="The agency's name, e.g. 重庆市市场监督管理局.")],
    types: Annotated[str, typer.Option(help="License type codes it may issue, comma separated.")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register an agency: its signing key, certified by the region root, and a credential."""
    from eseal.agencies import add_agency

    with open_node(data, database_url, unlock=True) as node:
        created = add_agency(node, code=code, name=name, types=types.split(","), now=now())
    emit(
        created.to_json(),
        as_json,
        lambda: typer.echo(
            f"agency {created.code} {created.name}\n"
            f"  types:      {', '.join(created.types)}\n"
            f"  key id:     {created.key_id}\n"
            f"  public key: {created.public_key}\n"
            f"  credential: {created.credential}\n"
            "  (the credential is shown only now; it is stored hashed)"
        ),
    )


@agency_app.command("list")
def agency_list(data: DataOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List agencies and their keys."""
    from eseal.agencies import agency_keys, list_agencies

    with open_node(data, database_url) as node:
        rows = [
            {
                **a.model_dump(),
                "keys": [
                    {"key_id": k.key_id, "status": k.status} for k in agency_keys(node, a.code)
                ],
            }
            for a in list_agencies(node)
        ]

    def human() -> None:
        for r in rows:
            keys = ", ".join(f"{k['key_id']} ({k['status']})" for k in r["keys"])
            typer.echo(f"{r['code']}  {r['name']}  [{r['status']}]  keys: {keys}")

    emit(rows, as_json, human)


@agency_app.command("rotate")
def agency_rotate(
    code: Annotated[str, typer.Argument(help="The agency's credit code.")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give the agency a new signing key; licenses signed with the old one stay valid."""
    from eseal.agencies import rotate_key

    with open_node(data, database_url, unlock=True) as node:
        key = rotate_key(node, code, now=now())
    out = {"code": code, "key_id": key.key_id.hex(), "public_key": key.public_key.hex()}
    emit(out, as_json, lambda: typer.echo(f"agency {code}: new key {out['key_id']}"))


@agency_app.command("deactivate")
def agency_deactivate(
    code: Annotated[str, typer.Argument(help="The agency's credit code.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the ledger with each key).")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop an agency (merged, dissolved): its keys are retired, so what it signed stays
    valid and nothing signed after is; its API credentials are revoked; it issues and
    stamps no more. Its licenses and seals are left as they are."""
    from eseal.agencies import deactivate_agency

    with open_node(data, database_url, unlock=True) as node:
        done = deactivate_agency(node, code, reason=reason, now=now())
    emit(
        done.to_json(),
        as_json,
        lambda: typer.echo(
            f"agency {code} deactivated: {len(done.keys_retired)} key(s) retired, "
            f"{done.credentials_revoked} credential(s) revoked"
        ),
    )


@agency_app.command("revoke-key")
def agency_revoke_key(
    code: Annotated[str, typer.Argument(help="The agency's credit code.")],
    key_id: Annotated[str, typer.Argument(help="Key id (hex) to revoke.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the ledger).")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an agency key: documents it signed are no longer valid."""
    from eseal.agencies import revoke_key

    with open_node(data, database_url, unlock=True) as node:
        revoke_key(node, code, key_id, reason=reason, now=now())
    emit(
        {"code": code, "key_id": key_id, "status": "revoked"},
        as_json,
        lambda: typer.echo(f"key {key_id} of {code} revoked"),
    )


@agency_app.command("credential")
def agency_credential(
    code: Annotated[str, typer.Argument(help="The agency's credit code, or 'operator'.")],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a new API credential for an agency (or, with 'operator', for the operator)."""
    from eseal.agencies import new_credential

    with open_node(data, database_url) as node:
        if code == "operator":
            token = new_credential(node, role="operator", agency_code=None, now=now())
        else:
            token = new_credential(node, role="agency", agency_code=code, now=now())
    emit({"for": code, "credential": token}, as_json, lambda: typer.echo(token))


@agency_app.command("credentials")
def agency_credentials(
    code: Annotated[
        str | None,
        typer.Argument(help="Only this agency's credentials (a credit code), or 'operator'."),
    ] = None,
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the API credentials issued: ids, whose, when issued and revoked (no secrets)."""
    from eseal.agencies import list_credentials

    with open_node(data, database_url) as node:
        rows = [c.to_json() for c in list_credentials(node, code)]

    def human() -> None:
        for r in rows:
            revoked = r["revoked_at"]
            state = "active" if revoked is None else f"revoked at {utc_time(revoked)}"
            whose = r["agency_code"] or "operator"
            typer.echo(f"esk_{r['id']}  {whose}  issued at {utc_time(r['created_at'])}  {state}")

    emit(rows, as_json, human)


@agency_app.command("revoke-credential")
def agency_revoke_credential(
    credential: Annotated[
        str,
        typer.Argument(
            help="The credential's id as `eseal agency credentials` lists it (esk_ and 12 hex "
            "digits); not the secret itself, which would stay in the shell's history."
        ),
    ],
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API credential (one leaked, or of someone who left): the API refuses it
    from its next request on."""
    from eseal.agencies import revoke_credential

    with open_node(data, database_url) as node:
        info = revoke_credential(node, credential, now=now())
    emit(
        info.to_json(),
        as_json,
        lambda: typer.echo(f"credential esk_{info.id} of {info.agency_code or 'operator'} revoked"),
    )
