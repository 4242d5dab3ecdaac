"""E-seals: an agency's seal (name, type, image, its own root-certified key), stamps that
seal a document's SHA-256 and metadata (the ``ES1:`` document), and seal revocation."""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from eseal.agencies import Forbidden, Principal, agency, stated_reason, still_active
from eseal.idempotency import IdempotencyKey, committed_with
from eseal.ids import make_seal_id, make_stamp_id
from eseal.models import SealRow, StampRow
from eseal.node import Node
from eseal.seal_image import draw_seal
from keys import ed25519
from keys.errors import InvalidInput, shown
from keys.statements import KeyStatement, Role, certify
from ledger.entries import Entry, digest
from verifier.claims import MAX_MEDIA_TYPE, MEDIA_TYPE
from verifier.document import StampBody, StampClaims, sign_stamp
from verifier.trust import displayable
from verifier.verdict import SEAL_REVOCATION

SEAL_TYPES = {
    "official": "公章",
    "contract": "合同专用章",
    "finance": "财务专用章",
    "approval": "行政审批专用章",
    "invoice": "发票专用章",
    "business": "业务专用章",
}
SEAL_LIFETIME = 5 * 365 * 86400
MAX_IMAGE = 2 * 1024 * 1024
MAX_SEAL_IMAGE_PIXELS = 4_000_000
MAX_DOCUMENT = 20 * 1024 * 1024
_seal = SealRow.__table__  # type: ignore[attr-defined]
_stamp = StampRow.__table__  # type: ignore[attr-defined]


class UnknownSeal(InvalidInput):
    """No seal with this id exists here."""

    code = "unknown-seal"
    http_status = 404


class UnknownStamp(InvalidInput):
    """No stamp with this id was made here by the seal named."""

    code = "unknown-stamp"
    http_status = 404


class SealRevoked(InvalidInput):
    """The seal is revoked or expired: it can no longer stamp."""

    code = "seal-revoked"
    http_status = 409


@dataclass(frozen=True)
class SealCreated:
    id: str
    agency_code: str
    name: str
    seal_type: str
    key_id: str
    public_key: str
    ledger_index: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Stamped:
    id: str
    seal_id: str
    document_sha256: str
    qr_text: str
    ledger_index: int
    checkpoint: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _check_image(image: bytes) -> bytes:
    if len(image) > MAX_IMAGE:
        raise InvalidInput(f"a seal image must be at most {MAX_IMAGE // 1024} KiB")
    not_png = f"a seal image must be a PNG of at most {MAX_SEAL_IMAGE_PIXELS:,} pixels"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(image), formats=["PNG"]) as img:
                if img.width * img.height > MAX_SEAL_IMAGE_PIXELS:
                    raise InvalidInput(not_png)
                img.verify()  # the chunks and their checksums
            with Image.open(io.BytesIO(image), formats=["PNG"]) as img:
                img.load()  # the pixels too: the image is served to every window
    except InvalidInput:
        raise
    except UnidentifiedImageError as e:
        raise InvalidInput(not_png) from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InvalidInput(not_png) from e
    except Exception as e:  # Pillow's own failures on a hostile file (ValueError, OSError, …)
        raise InvalidInput(f"the seal image is not a readable PNG: {e}") from e
    return image


def create_seal(
    node: Node,
    principal: Principal,
    *,
    agency_code: str,
    name: str,
    seal_type: str,
    image: bytes | None,
    now: int,
    idempotency: IdempotencyKey | None = None,
) -> SealCreated:
    """Make a seal with its own key, certified by the region root as the seal maker (with
    ``idempotency``, the request's key recorded with it, and the answer)."""
    principal.require(agency_code)
    owner = agency(node, agency_code)
    if owner.status != "active":
        raise Forbidden(f"agency {agency_code} is not active")
    name = name.strip()
    if not name or len(name) > 16 or not displayable(name):
        raise InvalidInput("the seal name must be 1 to 16 printable characters")
    if seal_type not in SEAL_TYPES:
        raise InvalidInput(f"unknown seal type {seal_type!r}; one of {', '.join(SEAL_TYPES)}")
    if image is None:
        image = draw_seal(owner.name, name)
    image = _check_image(image)
    seal_id = make_seal_id(agency_code)
    key = ed25519.generate()
    public = bytes(key.verify_key)
    statement = certify(
        node.require_root_key(),
        KeyStatement(
            role=Role.SEAL,
            subject=seal_id,
            public_key=public,
            not_before=now,
            not_after=now + SEAL_LIFETIME,
            issued_at=now,
        ),
    ).to_bytes()
    kid = node.store_key(key, label=f"seal {seal_id}")

    def record(conn: Connection, first: int) -> None:
        still_active(conn, agency_code)
        conn.execute(
            insert(_seal).values(
                id=seal_id,
                agency_code=agency_code,
                name=name,
                seal_type=seal_type,
                key_id=kid.hex(),
                public_key=public,
                statement=statement,
                image=image,
                status="active",
                created_at=now,
                valid_until=now + SEAL_LIFETIME,
                ledger_index=first,
            )
        )
        if idempotency is not None:
            created = SealCreated(
                seal_id, agency_code, name, seal_type, kid.hex(), public.hex(), first
            )
            idempotency.record(conn, created.to_json(), ledger_last=first)

    try:
        appended = node.append(
            [
                Entry(
                    "seal.create",
                    now,
                    node.config.region,
                    seal_id,
                    digest(statement),
                    node.root_key_id,
                    reason=f"{SEAL_TYPES[seal_type]} of {agency_code}",
                    body=statement,
                )
            ],
            also=record,
        )
    except BaseException as e:
        node.discard_key(kid, e)
        raise
    return SealCreated(
        seal_id, agency_code, name, seal_type, kid.hex(), public.hex(), appended.first_index
    )


def get_seal(node: Node, seal_id: str) -> SealRow:
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(select(_seal).where(_seal.c.id == seal_id)).first()
    if row is None:
        raise UnknownSeal(f"no seal {seal_id} here")
    return SealRow.model_validate(row._mapping)


def list_seals(node: Node, agency_code: str | None = None) -> list[SealRow]:
    query = select(_seal).order_by(_seal.c.created_at)
    if agency_code is not None:
        query = query.where(_seal.c.agency_code == agency_code)
    with node.sql.read_engine.connect() as conn:
        return [SealRow.model_validate(r._mapping) for r in conn.execute(query)]


def _media_type(given: str | None) -> str | None:
    """The media type a stamp records for a Content-Type as sent: its type/subtype in lower
    case, without parameters (``text/plain; charset=utf-8`` is ``text/plain``)."""
    if given is None or not given.strip():
        return None
    essence = given.split(";", 1)[0].strip().lower()
    if len(essence) > MAX_MEDIA_TYPE or not MEDIA_TYPE.fullmatch(essence):
        raise InvalidInput(
            f"the file's media type (its Content-Type) {shown(given)} is not of the form "
            "type/subtype"
        )
    return essence


def stamp(
    node: Node,
    principal: Principal,
    seal_id: str,
    *,
    document: bytes,
    document_name: str,
    media_type: str | None = None,
    now: int,
    idempotency: IdempotencyKey | None = None,
) -> Stamped:
    """Seal a document: sign its SHA-256 and metadata with the seal's key (with
    ``idempotency``, the request's key recorded with it, and the answer but its
    checkpoint: :func:`stamped_again` reads that again)."""
    seal = get_seal(node, seal_id)
    principal.require(seal.agency_code)
    if seal.status != "active" or now > seal.valid_until:
        raise SealRevoked(f"seal {seal_id} is {seal.status}; it cannot stamp")
    if agency(node, seal.agency_code).status != "active":
        raise Forbidden(f"agency {seal.agency_code} is not active: its seals stamp no more")
    if len(document) > MAX_DOCUMENT:
        raise InvalidInput(f"a document must be at most {MAX_DOCUMENT // (1024 * 1024)} MiB")
    if not document:  # a stamp on no content attests nothing (a file not yet written, say)
        raise InvalidInput("the document is empty: there is nothing to seal")
    document_name = document_name.strip()[-200:] or "document"
    if not document_name.isprintable():  # a stamp holds printable text only (verifier.claims)
        raise InvalidInput(
            "the document name holds a control character, a line or paragraph separator, a "
            "bidirectional control or a space other than U+0020 (such as the ideographic "
            "space U+3000): a stamp holds printable text only; give the document a name "
            "without them"
        )
    media_type = _media_type(media_type)
    sha = hashlib.sha256(document).digest()
    stamp_id = make_stamp_id(seal_id)
    claims = StampClaims(
        issuer=seal.agency_code,
        issued_at=now,
        not_before=now,
        stamp_id=stamp_id,
        body=StampBody(
            seal_id=seal_id,
            document_sha256=sha,
            file_name=document_name,
            size=len(document),
            media_type=media_type,
        ),
    )
    signed = sign_stamp(claims, node.signing_key(bytes.fromhex(seal.key_id), seal.public_key))
    text = signed.text

    def record(conn: Connection, first: int) -> None:
        still_active(conn, seal.agency_code)
        conn.execute(
            insert(_stamp).values(
                id=stamp_id,
                seal_id=seal_id,
                document_sha256=sha,
                document_name=document_name,
                document_size=len(document),
                document=text,
                issued_at=now,
                ledger_index=first,
            )
        )
        if idempotency is not None:
            answer = {"id": stamp_id, "seal_id": seal_id, "document_sha256": sha.hex()}
            idempotency.record(conn, answer | {"ledger_index": first}, ledger_last=first)

    appended = node.append(
        [
            Entry(
                "seal.stamp",
                now,
                node.config.region,
                stamp_id,
                signed.digest,
                bytes.fromhex(seal.key_id),
            )
        ],
        also=record,
    )
    return Stamped(stamp_id, seal_id, sha.hex(), text, appended.first_index, appended.checkpoint)


def stamped_again(node: Node, recorded: Mapping[str, Any]) -> Stamped:
    """The answer :func:`stamp` gave for the stamp ``recorded`` (as its idempotency key
    keeps it): its QR text as stored, and the checkpoint it was committed with."""
    document = get_stamp(node, recorded["seal_id"], recorded["id"]).document
    index = int(recorded["ledger_index"])
    _, checkpoint = committed_with(node, index)
    return Stamped(
        recorded["id"],
        recorded["seal_id"],
        recorded["document_sha256"],
        document,
        index,
        checkpoint,
    )


def get_stamp(node: Node, seal_id: str, stamp_id: str) -> StampRow:
    """The stamp ``stamp_id`` made by the seal ``seal_id`` as stored (its QR text is its
    ``document``), or :class:`UnknownStamp`."""
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(
            select(_stamp).where(_stamp.c.id == stamp_id, _stamp.c.seal_id == seal_id)
        ).first()
    if row is None:
        raise UnknownStamp(f"no stamp {stamp_id} by seal {seal_id} here")
    return StampRow.model_validate(row._mapping)


def revoke_seal(
    node: Node, principal: Principal, seal_id: str, *, reason: str, now: int
) -> SealRow:
    seal = get_seal(node, seal_id)
    principal.require(seal.agency_code)
    if seal.status == "revoked":
        raise SealRevoked(f"seal {seal_id} is already revoked")
    reason = stated_reason(reason, missing="a seal revocation needs a reason")

    def record(conn: Connection, first: int) -> None:
        moved = conn.execute(
            update(_seal)
            .where(_seal.c.id == seal_id, _seal.c.status == "active")
            .values(status="revoked", revoked_at=now, status_index=first)
        )
        if moved.rowcount != 1:
            raise SealRevoked(f"seal {seal_id} is already revoked")

    node.append(
        [
            Entry(
                SEAL_REVOCATION,
                now,
                node.config.region,
                seal_id,
                digest(seal.statement),
                node.root_key_id,
                reason=reason,
            )
        ],
        also=record,
    )
    return get_seal(node, seal_id)
