"""``eseal license bulk``: many licenses from a CSV file, in durable batches, with a report
of which CSV lines were issued when it stops early (an error, Ctrl-C)."""

from __future__ import annotations

import codecs
import contextlib
import csv
import difflib
import functools
import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eseal.cli_common import (
    DataOpt,
    DbOpt,
    Interrupted,
    JsonOpt,
    emit,
    now,
    open_node,
    outside_node,
    progress_bar,
    read_file,
    stop_on_ctrl_c,
    with_note,
)
from eseal.ids import first_repeated
from keys.errors import EsealError, ExternalFailure, InvalidInput, shown
from keys.strictjson import MalformedJson, loads_strict
from ledger.store import OutcomeUnknown

if TYPE_CHECKING:
    import _csv

    from eseal.licenses import IssueRequest
    from eseal.node import Node

MAX_CSV = 64 * 1024 * 1024
BULK_CHUNK = 500


@dataclass(frozen=True)
class CsvRow:
    """A row of the CSV as a request, and the lines of the file it is on, as an editor
    numbers them: blank lines are skipped, and a quoted field may break over several."""

    request: IssueRequest
    first: int
    last: int


def _read_csv(path: Path) -> list[CsvRow]:
    try:
        raw = read_file(path, "CSV", MAX_CSV)
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror or e}") from e
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:  # Excel's "CSV" is in the system's code page (GBK)
        # The offset is counted after a byte-order mark: the file's counts it.
        at = e.start + (len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0)
        raise InvalidInput(
            f"{path} is not UTF-8 text (byte {at} is not): save it as UTF-8 (in Excel: CSV UTF-8)"
        ) from e
    reader = csv.reader(io.StringIO(text, newline=None))  # newlines as read_text's
    return _csv_requests(path, _records(path, reader))


def _records(path: Path, reader: _csv.Reader) -> Iterator[tuple[int, int, list[str]]]:
    """The records ``reader`` reads (a blank line as one of no values), each with the first
    and last lines of the file it is on, counted as the reader reads them (not from the line
    breaks its values hold: a quote left open holds the one that ends the file too). One
    that cannot be read is refused, named by the line it begins on."""
    while True:
        first = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # a field over the csv module's limit
            raise InvalidInput(f"{path}:{first}: not a readable CSV row: {e}") from e
        yield first, reader.line_num, values


def _csv_requests(path: Path, records: Iterator[tuple[int, int, list[str]]]) -> list[CsvRow]:
    from eseal.licenses import IssueRequest, end_of_day

    columns = next(records, (1, 1, []))[2]  # line 1, even blank: the header is there or not
    if not columns or not {"type", "holder"} <= set(columns):
        raise InvalidInput("the CSV needs a header with at least the columns type and holder")
    if (name := first_repeated(columns)) is not None:
        raise InvalidInput(f"{path}:1: the column {name!r} is given more than once")
    fixed = {"type", "holder", "holder_id", "valid_until"}
    _refuse_unknown_columns(path, columns, fixed)
    out = []
    errors: list[tuple[int, str]] = []
    for line, last, values in records:
        if not values:  # a blank line
            continue
        if len(values) > len(columns):
            errors.append((line, "more values than header columns"))
            continue
        row = dict.fromkeys(columns, "") | dict(zip(columns, values, strict=False))  # as if empty
        try:
            request = IssueRequest(
                row["type"],
                row["holder"],
                row.get("holder_id") or None,
                {k: v for k, v in row.items() if k not in fixed and v},
                end_of_day(row.get("valid_until") or None, "valid_until"),
            )
            out.append(CsvRow(request, line, last))
        except InvalidInput as e:
            errors.append((line, e.message))
    refuse_rows(path, errors)
    if not out:
        raise InvalidInput(f"{path} has no rows")
    return out


def _refuse_unknown_columns(path: Path, columns: Sequence[str], fixed: set[str]) -> None:
    """A column that is neither one of ``fixed`` nor a field of any license type is a typo
    (valid_untl): named once, with what it may have meant, rather than on every row as an
    unknown field of that row's type."""
    from eseal.catalog import load_catalog

    known = fixed | {f.name for t in load_catalog() for f in t.fields}
    for column in columns:
        if column not in known:
            close = difflib.get_close_matches(column, sorted(known), n=1)
            meant = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidInput(
                f"{path}:1: the column {column!r} is neither one of {', '.join(sorted(fixed))} "
                f"nor a field of any license type{meant}"
            )


#: The most invalid rows one refusal lists (the rest are counted).
MAX_ROW_ERRORS = 20


def refuse_rows(path: Path, errors: list[tuple[int, str]]) -> None:
    """Refuse the CSV for every invalid row at once (line, what is wrong), so that a file
    with many takes one run to correct, not one run a row; nothing is issued."""
    if not errors:
        return
    if len(errors) == 1:
        line, message = errors[0]
        raise InvalidInput(f"{path}:{line}: {message}")
    listed = "\n".join(f"  {path}:{line}: {message}" for line, message in errors[:MAX_ROW_ERRORS])
    more = len(errors) - MAX_ROW_ERRORS
    tail = f"\n  and {more} more" if more > 0 else ""
    raise InvalidInput(
        f"{len(errors)} rows of {path} are invalid, so none was issued:\n{listed}{tail}"
    )


def license_bulk(
    agency: Annotated[str, typer.Option(help="Issuing agency's credit code.")],
    csv_file: Annotated[
        Path,
        typer.Argument(
            help="CSV (UTF-8): type,holder,holder_id,valid_until,<fields…>", metavar="CSV_FILE"
        ),
    ],
    out: Annotated[Path, typer.Option(help="Results CSV (id, ledger index, QR text).")] = Path(
        "issued.csv"
    ),
    data: DataOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue many licenses from a CSV file, in durable batches. A result row is written only
    after its batch is committed, so the results file never lists a license that was lost.
    Ctrl-C stops after the batch in progress; an interruption or an error says which CSV
    lines were issued."""
    from eseal.agencies import OPERATOR
    from eseal.agencies import agency as agency_row
    from eseal.licenses import issue_many, validate_request
    from eseal.printing import check_outputs

    # Appended to: it may exist, but not be a directory or nowhere, nor the CSV itself.
    check_outputs(None, out, source=csv_file)
    outside_node(data, out)
    rows = _read_csv(csv_file)
    requests = [row.request for row in rows]
    issued = 0
    pending = pending_path(out)
    with open_node(data, database_url, unlock=True) as node:
        if (recovered := _recover(node, out, pending)) is not None:
            raise InvalidInput(recovered)
        owner, started = agency_row(node, agency), now()
        errors: list[tuple[int, str]] = []
        for i, req in enumerate(requests):  # validate every row before issuing any
            try:
                validate_request(node, OPERATOR, agency, req, now=started, owner=owner)
            except InvalidInput as e:
                errors.append((rows[i].first, e.message))
        refuse_rows(csv_file, errors)
        fresh = not out.exists()
        with (
            out.open("a", newline="", encoding="utf-8") as f,
            progress_bar(len(requests), "issuing") as bar,
            stop_on_ctrl_c("stopping after the batch in progress…") as stop,
        ):
            writer = csv.writer(f)
            if fresh:
                writer.writerow(["id", "ledger_index", "qr_text"])
            for start in range(0, len(requests), BULK_CHUNK):
                if stop.requested:
                    raise Interrupted(f"interrupted: {_bulk_report(issued, rows, csv_file, out)}")
                chunk = requests[start : start + BULK_CHUNK]
                lines = (rows[start].first, rows[start + len(chunk) - 1].last)
                try:
                    results = issue_many(
                        node,
                        OPERATOR,
                        agency,
                        chunk,
                        now=now(),
                        with_proofs=False,
                        before_recording=functools.partial(_note_batch, pending, csv_file, lines),
                    )
                except OutcomeUnknown as e:  # recorded, or not: the note says which next run
                    raise _bulk_failed(e, issued, rows, csv_file, out, start) from e
                except (EsealError, OSError) as e:  # its transaction recorded none of it
                    pending.unlink(missing_ok=True)
                    raise _bulk_failed(e, issued, rows, csv_file, out, start) from e
                try:
                    for r in results:
                        writer.writerow([r.id, r.ledger_index, r.qr_text])
                    f.flush()
                    os.fsync(f.fileno())
                    pending.unlink()
                except OSError as e:
                    first, last = results[0].ledger_index, results[-1].ledger_index
                    before = _bulk_report(issued, rows, csv_file, out)
                    raise ResultsNotWritten(
                        f"cannot write {out}: {e.strerror or e}; the licenses of CSV lines "
                        f"{lines[0]} to {lines[1]} were issued (ledger indexes "
                        f"{first} to {last}) but are not listed there (the next run into {out} "
                        f"lists them); before them, {before}"
                    ) from e
                issued += len(chunk)
                bar.update(len(chunk))
    emit(
        {"issued": issued, "results": str(out)},
        as_json,
        lambda: typer.echo(f"issued {issued} licenses; results in {out}"),
    )


def pending_path(out: Path) -> Path:
    """The note of the batch a run is recording, kept until that batch is listed in
    ``out``: a run killed in between (``kill -9``, a power cut) leaves it for the next."""
    return out.with_name(f"{out.name}.pending")


def _note_batch(
    pending: Path, csv_file: Path, lines: tuple[int, int], made: list[tuple[str, str]]
) -> None:
    """Note the batch of CSV ``lines`` about to be recorded: its licenses' ids."""
    from eseal.printing import write_atomic

    ids = [license_id for license_id, _ in made]
    note = {"format": PENDING_FORMAT, "csv": str(csv_file), "lines": list(lines), "ids": ids}
    write_atomic(pending, json.dumps(note, ensure_ascii=False).encode())


PENDING_FORMAT = "eseal-bulk-pending/v1"
MAX_PENDING = 4 * 1024 * 1024  # 500 ids of at most 128 bytes, and the CSV's path


def _read_note(pending: Path) -> tuple[str, int, int, list[str]]:
    """The CSV, its batch's first and last lines, and the license ids of ``pending``."""

    def refused(why: str) -> InvalidInput:
        return InvalidInput(
            f"{pending} is not the note of an interrupted `license bulk` ({why}): move it away"
        )

    try:
        with pending.open("rb") as f:
            raw = f.read(MAX_PENDING + 1)  # one byte more: a larger file is refused
    except OSError as e:
        raise refused(f"cannot read it: {e.strerror or e}") from e
    try:
        note = loads_strict(raw, what="its text", max_bytes=MAX_PENDING)
    except MalformedJson as e:
        raise refused(e.message) from e
    try:
        csv_name, (first, last), ids = note["csv"], note["lines"], note["ids"]
        if (
            note["format"] != PENDING_FORMAT
            or type(csv_name) is not str
            or not (type(first) is int and type(last) is int and 2 <= first <= last)
            or type(ids) is not list
            or not all(type(i) is str for i in ids)
        ):
            raise ValueError("not the note's layout")
    except (ValueError, KeyError, TypeError) as e:
        raise refused(str(e)) from e
    return csv_name, first, last, ids


def _listed(out: Path) -> set[str]:
    """The license ids ``out`` lists, after cutting a row a kill left half written."""
    if not out.exists():
        return set()
    with out.open("rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)
            os.fsync(f.fileno())
    with out.open(encoding="utf-8", newline="") as f:
        return {row[0] for row in csv.reader(f) if len(row) == 3}


def _recover(node: Node, out: Path, pending: Path) -> str | None:
    """List in ``out`` the batch a killed run recorded before it listed it (the note at
    ``pending``); what the operator must be told, or None when no run was cut short."""
    from eseal.licenses import UnknownLicense, get_license

    if not pending.exists():
        return None
    csv_name, first, last, ids = _read_note(pending)
    _refuse_malformed_ids(pending, ids)
    rows = []
    for license_id in ids:
        with contextlib.suppress(UnknownLicense):
            rows.append(get_license(node, license_id))
    listed = _listed(out)
    missing = [r for r in rows if r.id not in listed]
    if missing:
        fresh = not out.exists()
        with out.open("a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if fresh:
                writer.writerow(["id", "ledger_index", "qr_text"])
            for r in missing:
                writer.writerow([r.id, r.ledger_index, r.document])
            f.flush()
            os.fsync(f.fileno())
    pending.unlink()
    before = f"lines 2 to {first - 1}" if first > 2 else "no line"
    if rows:  # a batch is recorded whole or not at all
        said = (
            f"issued lines 2 to {last} of {csv_name} before it stopped, all listed in {out} "
            f"now ({len(missing)} of them just added); the lines after {last} were not issued"
        )
    else:
        said = (
            f"issued {before} of {csv_name} before it stopped (listed in {out}); its batch of "
            f"lines {first} to {last} was not recorded, nor anything after it"
        )
    return (
        f"an earlier `license bulk` into {out} was cut short: it {said}. Nothing was issued "
        "this time: run it on the lines not issued, not on the whole file again"
    )


def _refuse_malformed_ids(pending: Path, ids: list[str]) -> None:
    """Refuse the note at ``pending`` for every id in it that is no license id, each named
    with its flaw (in the API's invalid-license-id words), at once, as a CSV's invalid rows
    are refused (:func:`refuse_rows`): nothing is recovered or issued, and the note is kept.
    A run notes only ids it made, so such an id was changed since; looked up, it would be
    taken for a license of a batch never recorded, and the note's batch for unrecorded."""
    from eseal.ids import MAX_LICENSE_ID_LENGTH, InvalidLicenseId, LicenseId

    errors: list[str] = []
    for n, license_id in enumerate(ids, start=1):
        try:
            LicenseId.parse(license_id)
        except InvalidLicenseId as e:  # shown whole up to the longest id (and its quotes)
            errors.append(f"id {n} {shown(license_id, MAX_LICENSE_ID_LENGTH + 2)}: {e.message}")
    if not errors:
        return
    what = "correct it" if len(errors) == 1 else "correct them"
    advice = f"nothing was recovered or issued: {what}, or move the note away"
    if len(errors) == 1:
        raise InvalidInput(f"{pending}: {errors[0]}; {advice}")
    listed = "\n".join(f"  {e}" for e in errors[:MAX_ROW_ERRORS])
    more = len(errors) - MAX_ROW_ERRORS
    tail = f"\n  and {more} more" if more > 0 else ""
    raise InvalidInput(
        f"{len(errors)} ids of {pending} are no license ids ({advice}):\n{listed}{tail}"
    )


class ResultsNotWritten(ExternalFailure):
    """A bulk issue's batch was recorded, but its results could not be written."""

    code = "results-not-written"


def _bulk_report(issued: int, rows: list[CsvRow], csv_file: Path, out: Path) -> str:
    """Which CSV lines a stopped bulk issue issued (its first ``issued`` rows, listed in
    ``out``) and which it did not."""
    total = len(rows)
    if issued == 0:
        return f"no license was issued (of {total} in {csv_file})"
    return (
        f"{issued} of {total} licenses were issued, CSV lines 2 to {rows[issued - 1].last} of "
        f"{csv_file} (listed in {out}); lines {rows[issued].first} to {rows[-1].last} were not"
    )


def _bulk_failed(
    error: EsealError | OSError,
    issued: int,
    rows: list[CsvRow],
    csv_file: Path,
    out: Path,
    start: int,
) -> EsealError | OSError:
    """``error`` (of the same class, so its exit code), saying which lines were issued, and
    which CSV line was refused when the batch from row ``start`` refused one of its rows
    (one found only when signed: a license too long for a QR code)."""
    if isinstance(error, EsealError) and error.item is not None:
        error = with_note(error, f"at {csv_file}:{rows[start + error.item].first}")
    if issued == 0:
        return error
    return with_note(error, _bulk_report(issued, rows, csv_file, out))
