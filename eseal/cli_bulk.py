"""``eseal license bulk``: many licenses from a CSV file, in durable batches, with a report
of which CSV lines were issued when it stops early (an error, Ctrl-C)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Annotated, Any

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
    stop_on_ctrl_c,
    with_note,
)
from eseal.ids import first_repeated
from keys.errors import EsealError, ExternalFailure, InvalidInput

MAX_CSV = 64 * 1024 * 1024
BULK_CHUNK = 500


def _read_csv(path: Path) -> list[Any]:
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")
    if path.stat().st_size > MAX_CSV:
        raise InvalidInput(f"{path} is larger than {MAX_CSV // (1024 * 1024)} MiB")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:  # Excel's "CSV" is in the system's code page (GBK)
        raise InvalidInput(
            f"{path} is not UTF-8 text (byte {e.start} is not): save it as UTF-8 "
            "(in Excel: CSV UTF-8)"
        ) from e
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e}") from e
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _csv_requests(path, reader)
    except csv.Error as e:  # a field over the csv module's limit, a NUL, a stray quote
        # line_num counts the lines read whole: the failing one is the next.
        raise InvalidInput(f"{path}:{reader.line_num + 1}: not a readable CSV row: {e}") from e


def _csv_requests(path: Path, reader: csv.DictReader[str]) -> list[Any]:
    from eseal.licenses import IssueRequest, end_of_day

    if not reader.fieldnames or not {"type", "holder"} <= set(reader.fieldnames):
        raise InvalidInput("the CSV needs a header with at least the columns type and holder")
    if (name := first_repeated(list(reader.fieldnames))) is not None:
        raise InvalidInput(f"{path}:1: the column {name!r} is given more than once")
    fixed = {"type", "holder", "holder_id", "valid_until"}
    out = []
    errors: list[tuple[int, str]] = []
    for line, row in enumerate(reader, start=2):
        if None in row:
            errors.append((line, "more values than header columns"))
            continue
        try:
            out.append(
                IssueRequest(
                    row["type"],
                    row["holder"],
                    row.get("holder_id") or None,
                    {k: v for k, v in row.items() if k not in fixed and v not in (None, "")},
                    end_of_day(row.get("valid_until") or None),
                )
            )
        except InvalidInput as e:
            errors.append((line, e.message))
    refuse_rows(path, errors)
    if not out:
        raise InvalidInput(f"{path} has no rows")
    return out


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
    from eseal.printing import output_path

    output_path(out)  # appended to: it may exist, but not be a directory or nowhere
    outside_node(data, out)
    requests = _read_csv(csv_file)
    issued = 0
    with open_node(data, database_url, unlock=True) as node:
        owner, started = agency_row(node, agency), now()
        errors: list[tuple[int, str]] = []
        for i, req in enumerate(requests):  # validate every row before issuing any
            try:
                validate_request(node, OPERATOR, agency, req, now=started, owner=owner)
            except InvalidInput as e:
                errors.append((i + 2, e.message))
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
                    raise Interrupted(
                        f"interrupted: {_bulk_report(issued, len(requests), csv_file, out)}"
                    )
                chunk = requests[start : start + BULK_CHUNK]
                try:
                    results = issue_many(
                        node, OPERATOR, agency, chunk, now=now(), with_proofs=False
                    )
                except (EsealError, OSError) as e:  # its transaction recorded none of it
                    raise _bulk_failed(e, issued, len(requests), csv_file, out) from e
                try:
                    for r in results:
                        writer.writerow([r.id, r.ledger_index, r.qr_text])
                    f.flush()
                    os.fsync(f.fileno())
                except OSError as e:
                    first, last = results[0].ledger_index, results[-1].ledger_index
                    before = _bulk_report(issued, len(requests), csv_file, out)
                    raise ResultsNotWritten(
                        f"cannot write {out}: {e.strerror or e}; the licenses of CSV lines "
                        f"{start + 2} to {start + len(chunk) + 1} were issued (ledger indexes "
                        f"{first} to {last}) but are not listed there; before them, {before}"
                    ) from e
                issued += len(chunk)
                bar.update(len(chunk))
    emit(
        {"issued": issued, "results": str(out)},
        as_json,
        lambda: typer.echo(f"issued {issued} licenses; results in {out}"),
    )


class ResultsNotWritten(ExternalFailure):
    """A bulk issue's batch was recorded, but its results could not be written."""

    code = "results-not-written"


def _bulk_report(issued: int, total: int, csv_file: Path, out: Path) -> str:
    """Which CSV lines a stopped bulk issue issued (listed in ``out``) and which it did not."""
    if issued == 0:
        return f"no license was issued (of {total} in {csv_file})"
    return (
        f"{issued} of {total} licenses were issued, CSV lines 2 to {issued + 1} of {csv_file} "
        f"(listed in {out}); lines {issued + 2} to {total + 1} were not"
    )


def _bulk_failed(
    error: EsealError | OSError, issued: int, total: int, csv_file: Path, out: Path
) -> EsealError | OSError:
    """``error`` (of the same class, so its exit code), saying which lines were issued."""
    if issued == 0:
        return error
    return with_note(error, _bulk_report(issued, total, csv_file, out))
