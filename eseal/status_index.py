"""Where a license's or seal's latest status change sits in the ledger (``status_index``).

A status answer proves that entry, so a row's ``status_index`` must name the entry that
records the row's latest change: its status, at the row's time of change. It does unless
a process without this column's code changed the row (during an upgrade, before every
old worker stopped): then the entry is found again by reading the ledger back from its
end (no further than the row's creation), and the row is put right.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence, Set
from typing import TYPE_CHECKING, Literal, TypeVar

from sqlalchemy import update

from eseal.models import LicenseRow, SealRow
from keys.errors import EsealError
from ledger.entries import MalformedEntry, stored_entry_act
from verifier.verdict import CODE_OF_STATUS_KIND, SEAL_REVOCATION

if TYPE_CHECKING:
    from eseal.node import Node

log = logging.getLogger(__name__)

StatusTable = Literal["license", "seal"]
#: Entry kinds that change a status, per table.
STATUS_KINDS: dict[StatusTable, frozenset[str]] = {
    "license": frozenset(CODE_OF_STATUS_KIND),
    "seal": frozenset({SEAL_REVOCATION}),
}
#: The statuses no entry need record (a row never changed is in them).
UNCHANGED = {"license": "01", "seal": "active"}
#: Ledger entries read at a time while looking back.
CHUNK = 10_000
#: The column of each table that holds the time of the latest change.
_CHANGED_AT = {"license": "updated_at", "seal": "revoked_at"}
_ROWS = {"license": LicenseRow.__table__, "seal": SealRow.__table__}  # type: ignore[attr-defined]

#: Reads the stored entries in ``start`` ≤ index < ``end``, in order.
EntryReader = Callable[[int, int], Sequence[bytes]]


class StatusUnrecorded(EsealError):
    """The node's ledger holds no entry recording a row's current status: its database
    and its ledger disagree (an operator's matter; the status cannot be proved)."""

    code = "status-unrecorded"
    http_status = 500


def latest_status_entries(
    read: EntryReader, *, end: int, floor: int, wanted: Mapping[StatusTable, Set[str]]
) -> dict[StatusTable, dict[str, int]]:
    """table → subject → index of its latest status entry, for the ``wanted`` subjects of
    each table: the ledger read by ``read`` from ``end`` back to ``floor`` (a status change
    is never before its subject's creation) until each is found. Subjects without one are
    left out, as are entries that are not well formed (the audit reports those)."""
    found: dict[StatusTable, dict[str, int]] = {table: {} for table in wanted}
    left = {table: set(ids) for table, ids in wanted.items()}
    while end > floor and any(left.values()):
        start = max(floor, end - CHUNK)
        entries = read(start, end)  # all of them: the reader refuses a gap
        for idx, data in zip(range(end - 1, start - 1, -1), reversed(entries), strict=True):
            try:
                act = stored_entry_act(data)
            except MalformedEntry:
                continue
            for table, ids in left.items():
                if act.subject in ids and act.kind in STATUS_KINDS[table]:
                    ids.discard(act.subject)
                    found[table][act.subject] = idx
        end = start
    return found


def _records(raw: bytes, table: StatusTable, subject: str, status: str, at: int | None) -> bool:
    """Whether the stored entry ``raw`` records ``subject``'s change to ``status`` at
    time ``at``."""
    try:
        act = stored_entry_act(raw)
    except MalformedEntry:
        return False
    if (act.subject, act.time) != (subject, at) or act.kind not in STATUS_KINDS[table]:
        return False
    return CODE_OF_STATUS_KIND[act.kind] == status if table == "license" else status == "revoked"


def checked_status_index(
    node: Node,
    table: StatusTable,
    subject: str,
    *,
    status: str,
    index: int | None,
    changed_at: int | None,
    created_at_index: int,
) -> int | None:
    """A row's ``status_index`` once checked against the ledger: the entry there records
    the row's change to ``status`` at ``changed_at`` (a row in an unchanged status may
    have none). Otherwise the subject's latest status entry is looked up (back to its
    creation entry at ``created_at_index``), written back to the row, and returned;
    StatusUnrecorded if none records the row's status."""
    unchanged = status == UNCHANGED[table]
    if index is None and unchanged:
        return None
    if index is not None and _records(node.log.entry(index), table, subject, status, changed_at):
        return index
    size = node.log.size()
    known = (table, subject, status, changed_at, index, created_at_index, size)
    with _UNRECORDED_LOCK:
        remembered = _UNRECORDED.get(known)
    if remembered is not None and time.monotonic() - remembered[1] < UNRECORDED_SECONDS:
        # Looked back already, within the last minute, and the ledger has not grown since.
        raise StatusUnrecorded(remembered[0])
    found = latest_status_entries(
        node.store.read_entries,
        end=size,
        floor=created_at_index + 1,
        wanted={table: {subject}},
    )[table].get(subject)
    if found is None and not unchanged:
        raise _unrecorded(known, f"the ledger records no change of {subject} to status {status}")
    if found is not None and not _records(
        node.log.entry(found), table, subject, status, changed_at
    ):
        raise _unrecorded(
            known, f"the ledger's latest status change of {subject} is not its change to {status}"
        )
    rows = _ROWS[table]
    with node.sql.write_engine.begin() as conn:
        moved = conn.execute(
            update(rows)
            .where(
                rows.c.id == subject,
                rows.c.status == status,
                rows.c[_CHANGED_AT[table]] == changed_at,
                rows.c.status_index.is_(None) if index is None else rows.c.status_index == index,
            )
            .values(status_index=found)
        ).rowcount
    if moved:
        log.warning("%s %s: status_index %s put right to %s", table, subject, index, found)
    return found


#: Rows found unrecorded (with everything the look-back read from the row, and the
#: ledger's size): a public GET asking about one again within UNRECORDED_SECONDS is refused
#: without reading the ledger back again, unless the row or the ledger changed (the newest
#: 1,024 kept, per process). A repair of the ledger's bytes shows after at most that long.
UNRECORDED_SECONDS = 60.0
_UNRECORDED: dict[tuple[object, ...], tuple[str, float]] = {}
_UNRECORDED_KEPT = 1024
_UNRECORDED_LOCK = threading.Lock()


def _unrecorded(known: tuple[object, ...], message: str) -> StatusUnrecorded:
    """The error for a row the ledger does not record, remembered under ``known``."""
    with _UNRECORDED_LOCK:
        _UNRECORDED.pop(known, None)  # kept in the order remembered: the oldest go first
        _UNRECORDED[known] = (message, time.monotonic())
        while len(_UNRECORDED) > _UNRECORDED_KEPT:
            del _UNRECORDED[next(iter(_UNRECORDED))]
    return StatusUnrecorded(message)


Row = TypeVar("Row", LicenseRow, SealRow)


def with_status_index(
    node: Node, table: StatusTable, read: Callable[[], Row]
) -> tuple[Row, int | None]:
    """The row ``read`` gives and its checked status index (:func:`checked_status_index`),
    read again once if the ledger disagrees with it: a status change that lands between the
    row's read and the look-back is the row's news, not a fault."""

    def checked(row: Row) -> int | None:
        return checked_status_index(
            node,
            table,
            row.id,
            status=row.status,
            index=row.status_index,
            changed_at=getattr(row, _CHANGED_AT[table]),
            created_at_index=row.ledger_index,
        )

    row = read()
    try:
        return row, checked(row)
    except StatusUnrecorded:
        fresh = read()
        if _state(fresh, table) == _state(row, table):
            raise
    return fresh, checked(fresh)


def _state(row: LicenseRow | SealRow, table: StatusTable) -> tuple[object, ...]:
    return row.status, row.status_index, getattr(row, _CHANGED_AT[table])
