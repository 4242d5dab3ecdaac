"""Where a license's or seal's latest status change sits in the ledger (``status_index``).

A status answer proves that entry, so a row's ``status_index`` must name an entry that
records the row's status. It does unless a process without this column's code changed
the row (during an upgrade, before every old worker stopped): then the entry is found
again by reading the ledger back from its end, and the row is put right.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Set

from sqlalchemy import text, update
from sqlalchemy.engine import Connection

from eseal.models import LicenseRow, SealRow
from eseal.node import Node
from keys.errors import EsealError
from ledger.entries import MalformedEntry, stored_entry_act
from verifier.verdict import CODE_OF_STATUS_KIND

log = logging.getLogger(__name__)

#: Entry kinds that change a status, per table.
STATUS_KINDS: dict[str, frozenset[str]] = {
    "license": frozenset(CODE_OF_STATUS_KIND),
    "seal": frozenset({"seal.revoke"}),
}
#: Ledger entries read per query while looking back.
CHUNK = 10_000
_license = LicenseRow.__table__  # type: ignore[attr-defined]
_seal = SealRow.__table__  # type: ignore[attr-defined]


class StatusUnrecorded(EsealError):
    """The node's ledger holds no entry recording a row's current status: its database
    and its ledger disagree (an operator's matter; the status cannot be proved)."""

    code = "status-unrecorded"
    http_status = 500


def latest_status_entries(
    conn: Connection, wanted: Mapping[str, Set[str]]
) -> dict[str, dict[str, int]]:
    """table ("license" or "seal") → subject → index of its latest status entry, for the
    ``wanted`` subjects of each table: the ledger read from its end back until each is
    found (or its start). Subjects with no status entry are left out."""
    found: dict[str, dict[str, int]] = {table: {} for table in wanted}
    left = {table: set(ids) for table, ids in wanted.items()}
    end = conn.execute(text("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_entry")).scalar_one()
    while end > 0 and any(left.values()):
        start = max(0, end - CHUNK)
        rows = conn.execute(
            text("SELECT idx, data FROM ledger_entry WHERE idx >= :s AND idx < :e"),
            {"s": start, "e": end},
        ).all()
        for idx, data in sorted(rows, reverse=True):
            kind, subject = stored_entry_act(bytes(data))
            for table, kinds in STATUS_KINDS.items():
                if kind in kinds and subject in left.get(table, ()):
                    left[table].discard(subject)
                    found[table][subject] = idx
        end = start
    return found


def _records(raw: bytes, table: str, subject: str, status: str) -> bool:
    """Whether the stored entry ``raw`` records ``subject``'s status ``status``."""
    try:
        kind, about = stored_entry_act(raw)
    except MalformedEntry:
        return False
    if about != subject or kind not in STATUS_KINDS[table]:
        return False
    return CODE_OF_STATUS_KIND[kind] == status if table == "license" else status == "revoked"


def checked_status_index(
    node: Node, table: str, subject: str, status: str, index: int | None
) -> int | None:
    """A row's ``status_index`` once checked against the ledger: the entry there records
    the row's ``status`` (01 or active may have none). Otherwise the latest status entry of
    ``subject`` is looked up, written back to the row, and returned; StatusUnrecorded if
    the ledger has none that records ``status``."""
    unchanged = status in ("01", "active")
    if index is None and unchanged:
        return None
    if index is not None and _records(node.log.entry(index), table, subject, status):
        return index
    with node.sql.read_engine.connect() as conn:
        found = latest_status_entries(conn, {table: {subject}})[table].get(subject)
    if found is None and unchanged:
        return None
    if found is None or not _records(node.log.entry(found), table, subject, status):
        raise StatusUnrecorded(f"the ledger records no change of {subject} to status {status}")
    rows = _license if table == "license" else _seal
    with node.sql.write_engine.begin() as conn:
        conn.execute(
            update(rows)
            .where(rows.c.id == subject, rows.c.status == status)
            .values(status_index=found)
        )
    log.warning("%s %s: status_index %s put right to %s", table, subject, index, found)
    return found
