"""The public answers that the routes write straight (a verdict, a signed trust bundle or
revocation snapshot), as the OpenAPI document describes them: another region's window or
auditor reads the document to integrate, so it must say what the body holds. Nothing here
validates an answer (the routes encode them without a model, on the hot path); a test
checks that each description has exactly the answer's fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from eseal.catalog import TYPE_CODE_PATTERN, HolderKind
from eseal.catalog_fields import MAX_FIELD_LENGTH, MAX_INTEGER_DIGITS, MAX_MONEY_DIGITS, Kind
from verifier.verdict import WARNING_TEXT, Status

#: The warnings a verdict may carry (a JSON value for pydantic's schema).
_WARNINGS: list[JsonValue] = [*sorted(WARNING_TEXT)]
#: Unix seconds, as every time in an answer.
UNIX_TIME = "Unix time (seconds)"


class Signature(BaseModel):
    keyid: str = Field(
        pattern="^[0-9a-f]{16}$",
        description="The signing key's id: hex of the first 8 bytes of SHA-256 of its raw "
        "32-byte Ed25519 public key.",
    )
    sig: str = Field(
        description="Standard base64 of the Ed25519 signature over the DSSE pre-authentication "
        'encoding, "DSSEv1 " len(payloadType) " " payloadType " " len(payload) " " payload '
        "(lengths in decimal, payload the decoded bytes)."
    )


class DsseEnvelope(BaseModel):
    """A DSSE envelope (secure-systems-lab/dsse v1, JSON)."""

    payloadType: str = Field(  # noqa: N815 (DSSE's name)
        description="application/vnd.eseal.trust-bundle+json (a trust bundle, signed by the "
        "region's root key) or application/vnd.eseal.revocations+cbor (a revocation snapshot, "
        "signed by its log key)."
    )
    payload: str = Field(description="Standard base64 of the payload (docs/DESIGN.md, Formats).")
    signatures: list[Signature] = Field(min_length=1)


class VerdictCheck(BaseModel):
    step: str = Field(
        description="decode, issuer, signature, authority, time, status, ledger, document "
        "(a seal stamp's file) or holder (the id presented)."
    )
    ok: bool
    detail: str


class VerdictWitnessed(BaseModel):
    """How the checkpoint a status rests on was witnessed, under the witness policy the
    status source is held to (``Witnessing.to_json``)."""

    checkpoint_size: int = Field(
        description="The size of the checkpoint the witnesses cosigned (an older one than "
        "freshness.checkpoint_size where extended_to is set)."
    )
    cosigners: list[str] = Field(
        description="The names of the policy's witnesses (witness keys, under a policy file) "
        "that cosigned it, in the policy's order."
    )
    witnesses: int = Field(
        description="How many witnesses the policy names (under a policy file, how many "
        "witness keys its quorum holds)."
    )
    quorum: int = Field(
        description="The fewest cosigners that can meet the policy: its k of the witnesses "
        "(under a policy file, of its rule)."
    )
    rule: str | None = Field(
        description="A policy file's quorum rule, e.g. 'cq = 2 of (bj, sh, gz)' or 'none'; "
        "null for a policy of k of the witnesses."
    )
    met: bool = Field(
        description="The policy is met; if not, good news (status 01, a seal active) was "
        "withheld: status_source none, warning NO_STATUS."
    )
    extended_to: int | None = Field(
        description="Where the witnessed checkpoint is an older one: the size of the "
        "answer's checkpoint, which a consistency proof showed extends it; else null."
    )
    unwitnessed: str | None = Field(
        description="What the answer relies on that lies beyond the witnessed checkpoint "
        "(then met is false), in English; else null."
    )


class VerdictFreshness(BaseModel):
    status_source: Literal["offline", "online", "none"] = Field(
        description="Where the status came from: a revocation snapshot, the region's node "
        "(with ledger proofs), or nowhere (not checked: warning NO_STATUS)."
    )
    status_as_of: int | None = Field(description=f"{UNIX_TIME}: the time the status is of.")
    stale: bool = Field(description="The snapshot is older than the maximum status age.")
    checkpoint_size: int | None = Field(
        description="The size of the checkpoint the ledger evidence was proved under."
    )
    ledger_included: bool | None = Field(
        description="The license's issuance (a seal's creation) was proved in its region's "
        "ledger; null where not asked."
    )
    status_since: int | None = Field(
        description=f"{UNIX_TIME}: when the status last changed, from its ledger entry."
    )
    status_reason: str | None = Field(description="The agency's reason for the status.")
    replaced_by: str | None = Field(
        description="The id of the license that replaced this one (a renewal's, a transfer's)."
    )
    witnessed: VerdictWitnessed | None = Field(
        description="Under a witness policy: how the checkpoint the status rests on was "
        "witnessed, also where its good news was withheld (met false); null where no policy "
        "applied."
    )


class Verdict(BaseModel):
    """The verdict on one document (docs/DESIGN.md, Verdict): red unless ``valid``, amber
    when valid with warnings."""

    status: Status
    status_text: str = Field(description="The status in words, Chinese first.")
    valid: bool
    colour: Literal["green", "amber", "red"]
    reasons: list[str] = Field(
        description="Why the status is what it is, in English (an agency's reason quoted as "
        "it was given)."
    )
    warnings: list[str] = Field(
        description="What makes a valid verdict amber.",
        json_schema_extra={"items": {"type": "string", "enum": _WARNINGS}},
    )
    kind: Literal["license", "stamp"] | None = Field(
        description="What the QR code holds; null where it could not be decoded."
    )
    document: dict[str, Any] = Field(
        description="The decoded license or stamp as it says (empty where not decoded); not "
        "to be believed unless the verdict is valid."
    )
    issuer: dict[str, Any] = Field(
        description="The trusted agency or seal that signed it: region, region_name, "
        "agency_code, agency_name, key_id (empty where none was found)."
    )
    checks: list[VerdictCheck] = Field(description="Each step, in the order it ran.")
    freshness: VerdictFreshness
    checked_at: int = Field(description=f"{UNIX_TIME}: the time the checks were made at.")
    recognised: bool = Field(
        description="False for a QR code that is no eseal document at all (a web link, a "
        "payment code): UNSUPPORTED, but no sign of forgery."
    )


def _left_out_not_null(schema: dict[str, Any]) -> None:
    """A license field's answer leaves out what its kind has not (max_length but on a text
    field, choices but on an enum one): those properties are documented as optional, never
    null (pydantic would describe them as nullable, with a default of null)."""
    for name in ("max_length", "choices"):
        prop = schema["properties"][name]
        prop.pop("default", None)
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        prop.update(branches[0] if branches else {})


class LicenseFieldOut(BaseModel):
    """One field of a license type, as the catalogue defines it."""

    model_config = ConfigDict(json_schema_extra=_left_out_not_null)

    name: str = Field(
        description="The field's key (snake_case): its name in a license's fields, in "
        "POST /v1/licenses and a renewal."
    )
    label: str = Field(
        description="Its label in Chinese, as the printed license and the window show it."
    )
    label_en: str = Field(
        description="Its label in English, as the window's English mode shows it (a verdict "
        "carries the Chinese label only)."
    )
    kind: Kind = Field(
        description=f"What its value is, a string each: text (at most max_length "
        f"characters), date (YYYY-MM-DD), integer (digits only, at most {MAX_INTEGER_DIGITS}), "
        f"money (yuan, digits with at most 2 decimals, at most {MAX_MONEY_DIGITS} before the "
        "point), enum (one of choices), credit_code (a unified social credit code, GB 32100, "
        "its check character holding), region_code (an administrative division code, GB/T "
        "2260)."
    )
    required: bool = Field(
        description="Whether a license of the type must have it (a value left out, or only "
        "white space, is refused: 400 field-invalid)."
    )
    max_length: int | None = Field(
        default=None,
        description=f"A text field's most characters (at most {MAX_FIELD_LENGTH}); only on a "
        "text field.",
    )
    choices: list[str] | None = Field(
        default=None, description="The values an enum field takes; only on an enum field."
    )


class LicenseTypeOut(BaseModel):
    """A license type of the node's catalogue, with its fields."""

    code: str = Field(
        pattern=f"^{TYPE_CODE_PATTERN}$",
        description="The type's code, 21 characters: the defining ministry's credit code and "
        "3 digits; a license's type in POST /v1/licenses.",
    )
    name: str = Field(description="Its name in Chinese, e.g. 营业执照.")
    name_en: str = Field(description="Its name in English.")
    ministry: str = Field(description="The ministry that defines it, in Chinese.")
    holder_kind: HolderKind = Field(
        description="Whom it is issued to: legal, an organisation (its id the unified social "
        "credit code, shown on the license); natural, a person (the resident identity number, "
        "carried masked)."
    )
    validity_days: int | None = Field(
        description="Its usual validity in days from issuance, which a license issued without "
        "valid_until gets; null: no end (长期)."
    )
    fields: list[LicenseFieldOut] = Field(
        description="Its fields, in the order the printed license shows them."
    )
