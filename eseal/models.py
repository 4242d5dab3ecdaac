"""The issuing service's tables (SQLModel): agencies, their keys and API credentials,
licenses, seals and stamps, and the idempotency keys of issuing requests. They live
beside the ledger tables, and every row that records an act is written in the same
transaction as its ledger entry.

Personal identity numbers are never stored: a holder's number is kept masked, plus
the salted hash that the QR document carries.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

_BIGINT = BigInteger().with_variant(Integer, "sqlite")


class AgencyRow(SQLModel, table=True):
    __tablename__ = "agency"
    code: str = Field(sa_column=Column(String(18), primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    types: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of type codes
    status: str = Field(sa_column=Column(String(16), nullable=False))  # active | revoked
    created_at: int = Field(sa_column=Column(_BIGINT, nullable=False))


class AgencyKeyRow(SQLModel, table=True):
    __tablename__ = "agency_key"
    key_id: str = Field(sa_column=Column(String(16), primary_key=True))  # hex
    agency_code: str = Field(sa_column=Column(String(18), nullable=False, index=True))
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    statement: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))  # active|retired|revoked
    created_at: int = Field(sa_column=Column(_BIGINT, nullable=False))
    retired_at: int | None = Field(default=None, sa_column=Column(_BIGINT))
    revoked_at: int | None = Field(default=None, sa_column=Column(_BIGINT))
    ledger_index: int = Field(sa_column=Column(_BIGINT, nullable=False))


class CredentialRow(SQLModel, table=True):
    __tablename__ = "api_credential"
    id: str = Field(sa_column=Column(String(16), primary_key=True))
    secret_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))  # agency | operator
    agency_code: str | None = Field(default=None, sa_column=Column(String(18), index=True))
    created_at: int = Field(sa_column=Column(_BIGINT, nullable=False))
    revoked_at: int | None = Field(default=None, sa_column=Column(_BIGINT))


class LicenseRow(SQLModel, table=True):
    __tablename__ = "license"
    id: str = Field(sa_column=Column(String(128), primary_key=True))
    type_code: str = Field(sa_column=Column(String(21), nullable=False, index=True))
    agency_code: str = Field(sa_column=Column(String(18), nullable=False, index=True))
    serial: str = Field(sa_column=Column(String(20), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    holder_name: str = Field(sa_column=Column(String(200), nullable=False))
    holder_id_display: str | None = Field(default=None, sa_column=Column(String(32)))
    fields: str = Field(sa_column=Column(Text, nullable=False))  # JSON object
    status: str = Field(sa_column=Column(String(2), nullable=False))  # 01 … 07
    issued_at: int = Field(sa_column=Column(_BIGINT, nullable=False))
    not_before: int = Field(sa_column=Column(_BIGINT, nullable=False))
    expires: int | None = Field(default=None, sa_column=Column(_BIGINT))
    key_id: str = Field(sa_column=Column(String(16), nullable=False))
    document: str = Field(sa_column=Column(Text, nullable=False))  # the EL1: QR text
    digest: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ledger_index: int = Field(sa_column=Column(_BIGINT, nullable=False))
    replaces: str | None = Field(default=None, sa_column=Column(String(128)))
    replaced_by: str | None = Field(default=None, sa_column=Column(String(128)))
    status_reason: str | None = Field(default=None, sa_column=Column(String(256)))
    updated_at: int = Field(sa_column=Column(_BIGINT, nullable=False))
    #: The ledger entry of the latest status change (None while there was none).
    status_index: int | None = Field(default=None, sa_column=Column(_BIGINT))


class SealRow(SQLModel, table=True):
    __tablename__ = "seal"
    id: str = Field(sa_column=Column(String(64), primary_key=True))
    agency_code: str = Field(sa_column=Column(String(18), nullable=False, index=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    seal_type: str = Field(sa_column=Column(String(32), nullable=False))
    key_id: str = Field(sa_column=Column(String(16), nullable=False))
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    statement: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    image: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))  # active | revoked
    created_at: int = Field(sa_column=Column(_BIGINT, nullable=False))
    valid_until: int = Field(sa_column=Column(_BIGINT, nullable=False))
    revoked_at: int | None = Field(default=None, sa_column=Column(_BIGINT))
    ledger_index: int = Field(sa_column=Column(_BIGINT, nullable=False))
    #: The ledger entry of its revocation (None while active).
    status_index: int | None = Field(default=None, sa_column=Column(_BIGINT))


class StampRow(SQLModel, table=True):
    __tablename__ = "stamp"
    id: str = Field(sa_column=Column(String(64), primary_key=True))
    seal_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    document_sha256: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    document_name: str = Field(sa_column=Column(String(200), nullable=False))
    document_size: int = Field(sa_column=Column(_BIGINT, nullable=False))
    document: str = Field(sa_column=Column(Text, nullable=False))  # the ES1: QR text
    issued_at: int = Field(sa_column=Column(_BIGINT, nullable=False))
    ledger_index: int = Field(sa_column=Column(_BIGINT, nullable=False))


class IdempotencyKeyRow(SQLModel, table=True):
    """An issuing request made with an ``Idempotency-Key`` (:mod:`eseal.idempotency`),
    written in the transaction of what it issued: a request sent again with the key gets
    this answer, and issues nothing more, until the row expires."""

    __tablename__ = "idempotency_key"
    #: Whose key: an agency's code, or "operator".
    principal: str = Field(sa_column=Column(String(32), primary_key=True))
    #: Which operation (license.issue, license.batch, seal.create, seal.stamp).
    operation: str = Field(sa_column=Column(String(32), primary_key=True))
    idem_key: str = Field(sa_column=Column(String(128), primary_key=True))
    #: HMAC-SHA256 of the request under a key of the node's (never a plain hash of a body
    #: that may hold an identity number).
    fingerprint: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: int = Field(sa_column=Column(Integer, nullable=False))
    #: The answer's own part, JSON (ids, indexes; never an identity number): the proofs and
    #: checkpoint are read again from the ledger at the size the act was committed at.
    response: str = Field(sa_column=Column(Text, nullable=False))
    #: The last ledger entry of the act (its transaction's checkpoint is the first after it).
    ledger_last: int = Field(sa_column=Column(_BIGINT, nullable=False))
    created_at: int = Field(sa_column=Column(_BIGINT, nullable=False))
    expires_at: int = Field(sa_column=Column(_BIGINT, nullable=False, index=True))


class WitnessKeyRow(SQLModel, table=True):
    """The node's witness key (C2SP tlog-cosignature ``cosignature/v1``): its name, public key
    and key statement (role ``witness``, certified by the region root and recorded in the
    ledger by a ``key.add`` entry). The private key is sealed in ``keys/<key id>.key``."""

    __tablename__ = "witness_key"
    #: The key's name in its cosignature lines: ``<origin>/witness``; one key a node.
    name: str = Field(sa_column=Column(String(256), primary_key=True))
    key_id: str = Field(sa_column=Column(String(16), nullable=False))  # hex
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    statement: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: int = Field(sa_column=Column(_BIGINT, nullable=False))
    ledger_index: int = Field(sa_column=Column(_BIGINT, nullable=False))


class WitnessedLogRow(SQLModel, table=True):
    """A log this node witnesses (C2SP tlog-witness): its origin, the signed-note verifier
    key it trusts for it, and the latest checkpoint it cosigned (size 0 and no note until
    the first). ``size`` moves only by compare-and-swap (:mod:`eseal.witness`)."""

    __tablename__ = "witnessed_log"
    origin: str = Field(sa_column=Column(String(256), primary_key=True))
    verifier_key: str = Field(sa_column=Column(Text, nullable=False))
    size: int = Field(sa_column=Column(_BIGINT, nullable=False))
    root_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    #: The checkpoint as the log signed it, with this node's cosignature line after.
    note: str | None = Field(default=None, sa_column=Column(Text))
    added_at: int = Field(sa_column=Column(_BIGINT, nullable=False))
    updated_at: int = Field(sa_column=Column(_BIGINT, nullable=False))


class WitnessEvidenceRow(SQLModel, table=True):
    """A checkpoint signed by a witnessed log that this node refused as a fork of (or a
    rollback from) the one it held: both notes kept, the log's own signatures on each."""

    __tablename__ = "witness_evidence"
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    origin: str = Field(sa_column=Column(String(256), nullable=False, index=True))
    reason: str = Field(sa_column=Column(String(32), nullable=False))
    held_note: str | None = Field(default=None, sa_column=Column(Text))
    note: str = Field(sa_column=Column(Text, nullable=False))
    #: SHA-256 of ``note``: one row a refused note.
    note_sha256: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    detail: str = Field(sa_column=Column(Text, nullable=False))
    seen_at: int = Field(sa_column=Column(_BIGINT, nullable=False))


class LogWitnessRow(SQLModel, table=True):
    """A witness of this node's own log (C2SP tlog-witness, the log's side): the base URL of
    its ``POST /add-checkpoint``, its cosignature/v1 verifier key (named ``name``), and the
    latest checkpoint it cosigned (size 0 and no line until the first): the size the node
    sends it as the old size, and the line appended to that checkpoint when it is served."""

    __tablename__ = "log_witness"
    name: str = Field(sa_column=Column(String(256), primary_key=True))
    url: str = Field(sa_column=Column(Text, nullable=False))
    verifier_key: str = Field(sa_column=Column(Text, nullable=False))
    size: int = Field(sa_column=Column(_BIGINT, nullable=False))
    root_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    #: The cosignature/v1 line (with its newline), verified before it is stored.
    cosignature: str | None = Field(default=None, sa_column=Column(Text))
    cosigned_at: int | None = Field(default=None, sa_column=Column(_BIGINT))
    added_at: int = Field(sa_column=Column(_BIGINT, nullable=False))


class LogWitnessCosignatureRow(SQLModel, table=True):
    """A cosignature a witness of this node's log gave (its latest ones, at most
    ``eseal.witness_ask.COSIGNATURE_HISTORY`` per witness): what lets the node serve an
    older checkpoint with the lines of every witness that cosigned it after they drifted
    apart. ``name`` is that of a ``log_witness`` row; its history goes with it."""

    __tablename__ = "log_witness_cosignature"
    name: str = Field(sa_column=Column(String(256), primary_key=True))
    size: int = Field(sa_column=Column(_BIGINT, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    #: The cosignature/v1 line (with its newline), verified before it is stored.
    cosignature: str = Field(sa_column=Column(Text, nullable=False))
    cosigned_at: int = Field(sa_column=Column(_BIGINT, nullable=False))


class PeerRow(SQLModel, table=True):
    """Another region's node whose licenses this node verifies (跨省通办): its base URL, its
    pinned root key id, and the latest bundle and revocation snapshot fetched from it that
    verified under that root (never an older one after a newer)."""

    __tablename__ = "peer"
    region: str = Field(sa_column=Column(String(6), primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    url: str = Field(sa_column=Column(Text, nullable=False))
    root_key_id: str = Field(sa_column=Column(String(16), nullable=False))
    bundle: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    bundle_issued_at: int = Field(sa_column=Column(_BIGINT, nullable=False))
    snapshot: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    snapshot_as_of: int | None = Field(default=None, sa_column=Column(_BIGINT))
    #: Bumped at each store of a new bundle or snapshot: what the verify cache watches. It
    #: starts at a random value (``eseal.peer_sync.first_change_count``), never the count of a
    #: row removed before.
    changes: int = Field(sa_column=Column(_BIGINT, nullable=False))
    added_at: int = Field(sa_column=Column(_BIGINT, nullable=False))
    #: The last sync that stored or found up to date; the last tried, and why it failed.
    synced_at: int | None = Field(default=None, sa_column=Column(_BIGINT))
    tried_at: int | None = Field(default=None, sa_column=Column(_BIGINT))
    error: str | None = Field(default=None, sa_column=Column(Text))
    #: The witness policy file (its text, Sigsum format) whose quorum must have cosigned
    #: the checkpoint of each snapshot synced from the peer; None: no witnesses required.
    witness_policy: str | None = Field(default=None, sa_column=Column(Text))


ESEAL_TABLES = (
    AgencyRow,
    AgencyKeyRow,
    CredentialRow,
    LicenseRow,
    SealRow,
    StampRow,
    IdempotencyKeyRow,
    WitnessKeyRow,
    WitnessedLogRow,
    WitnessEvidenceRow,
    LogWitnessRow,
    LogWitnessCosignatureRow,
    PeerRow,
)
