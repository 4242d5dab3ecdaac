"""From stored licenses and seals to what is printed: the license sheet, the QR files and
the sealed copy of a document (the renderers are in :mod:`eseal.render`)."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

from eseal.agencies import agency
from eseal.catalog import load_catalog
from eseal.ids import province_name
from eseal.licenses import get_license
from eseal.models import LicenseRow
from eseal.node import Node
from eseal.render import (
    PrintableLicense,
    chinese_date,
    license_pdf,
    license_png,
    qr_png,
    qr_svg,
)
from eseal.seals import list_seals
from keys.errors import InvalidInput
from keys.keyfile import fsync_directory
from verifier.pipeline import beijing_day

#: What a license printed (or printed again) says across its page when it is no longer in
#: force (status codes as eseal.licenses.STATUS_NAMES); a valid one (01) says nothing.
STATUS_NOTES = {
    "02": "已暂停 SUSPENDED",
    "03": "已撤回 WITHDRAWN",
    "04": "已注销 CANCELLED",
    "05": "已失效 LAPSED",
    "06": "已转出 TRANSFERRED",
    "07": "已撤销 REVOKED",
}


def printable(node: Node, row: LicenseRow, *, now: int | None = None) -> PrintableLicense:
    """What the license sheet shows, from a stored license: a license no longer in force
    is marked so across the page, never printed as if it were valid."""
    ltype = load_catalog().get(row.type_code)
    owner = agency(node, row.agency_code)
    labels = {f.name: f.label for f in ltype.fields}
    dates = {f.name for f in ltype.fields if f.kind == "date"}
    values = json.loads(row.fields)
    seals = [s for s in list_seals(node, row.agency_code) if s.status == "active"]
    return PrintableLicense(
        title=ltype.name,
        license_id=row.id,
        holder_name=row.holder_name,
        holder_id_display=row.holder_id_display,
        fields=[
            (labels.get(k, k), chinese_date(str(v)) if k in dates else str(v))
            for k, v in values.items()
        ],
        agency_name=owner.name,
        issued_on=beijing_day(row.issued_at) or "",
        valid_until=beijing_day(row.expires),
        region_name=province_name(node.config.region),
        qr_text=row.document,
        seal_png=bytes(seals[0].image) if seals else None,
        status_note=_status_note(row, now),
        status_detail=_status_detail(row),
        title_en=ltype.name_en,
        labels_en={f.label: f.label_en for f in ltype.fields},
    )


#: The note of a license printed after it expired (still 01: an expiry is no status change).
EXPIRED_NOTE = "已过期 EXPIRED"


def _status_note(row: LicenseRow, now: int | None) -> str | None:
    """What a sheet says across it: the license's status when it is not in force, or, at
    ``now``, that it has expired."""
    if row.status == "01":
        expired = now is not None and row.expires is not None and now > row.expires
        return EXPIRED_NOTE if expired else None
    note = STATUS_NOTES.get(row.status, f"状态 {row.status} STATUS")
    if row.status == "05" and row.replaced_by:
        return f"{note} · 已换发新证 RENEWED"
    return note


def _status_detail(row: LicenseRow) -> str | None:
    """What a sheet says after its note: the id of the license that replaces a transferred
    one (perhaps of another region), which the holder presents from now on."""
    if row.status == "06" and row.replaced_by:
        return f"新证照 New license: {row.replaced_by}"
    return None


def _umask() -> int:
    """The process's umask, read without changing it where Linux reports it in /proc;
    elsewhere set and restored at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


#: The QR file formats, chosen by the file name's suffix.
QR_SUFFIXES = (".png", ".svg")


def output_path(path: Path | None, *, suffixes: tuple[str, ...] = ()) -> Path | None:
    """``path`` checked as a file to write: not a directory, in a directory that exists and
    may be written, with one of ``suffixes`` if given. Commands check their output files
    with it before they sign or record anything, so that a wrong path leaves nothing done."""
    if path is None:
        return None
    path = path.expanduser()
    try:
        path.stat()
    except OSError as e:  # a link loop (ELOOP): no file to write there, nor to resolve
        if e.errno == errno.ELOOP:
            raise InvalidInput(f"cannot write {path}: {e.strerror}") from e
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise InvalidInput(f"{parent} is not a directory: create it first")
    if not os.access(parent, os.W_OK):
        raise InvalidInput(f"cannot write files in {parent}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise InvalidInput(f"{path}: the file name must end in {' or '.join(suffixes)}")
    return path


def _entry(path: Path) -> Path:
    """The directory entry that writing ``path`` replaces (:func:`write_atomic` renames over
    it: a symbolic link there is replaced, not the file it names)."""
    return path.expanduser().parent.resolve() / path.name


def _same_file(output: Path, source: Path) -> bool:
    """Whether ``output`` is ``source`` under another name: a symbolic link to it (appended
    to, a link is followed), or a hard link (one file, however it is named)."""
    try:
        return os.path.samefile(output.expanduser(), source.expanduser())
    except OSError:  # not there (an output not written yet), or not to be followed: not it
        return False


def check_outputs(qr: Path | None, *files: Path | None, source: Path | None = None) -> None:
    """A command's output files (a QR file, and others), checked before it signs or records
    anything: none of them the ``source`` it reads (a sealed copy written over the original
    document would leave no file that its stamp matches, results appended to the CSV they
    come from spoil it), no two of them the same file (the second written over the first)."""
    output_path(qr, suffixes=QR_SUFFIXES)
    for path in files:
        output_path(path)
    seen: dict[Path, Path] = {}
    for path in (p for p in (qr, *files) if p is not None):
        entry = _entry(path)
        if source is not None and (entry == _entry(source) or _same_file(path, source)):
            raise InvalidInput(f"{path} is the file the command reads: write it elsewhere")
        if entry in seen:
            raise InvalidInput(f"{seen[entry]} and {path} name the same file: give each its own")
        seen[entry] = path


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole or not at all (temp file, fsync, rename). What is written here is
    public (licenses, QR codes, bundles, snapshots): readable by all, as the umask allows,
    not the owner-only mode of a temporary file."""
    _write(output_path(path) or path, data)


def _write(path: Path, data: bytes) -> None:
    """:func:`write_atomic` of a path already checked with :func:`output_path`."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:  # named by the file asked for, not by the temporary one
        raise OSError(e.errno, e.strerror, str(path)) from e
    try:
        # A file written before keeps its mode (its owner may have narrowed it on purpose).
        # (but never writable by others: a printed license or a bundle is not to be edited).
        mode = path.stat().st_mode & 0o755 if path.is_file() else 0o644 & ~_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)  # the rename itself durable: no old file after a power cut
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):  # named by the file asked for
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


#: Pixels a module of a QR image written to a file or answered by the API (a license's text,
#: version 19 to 21 with its quiet zone, is 808 to 872 pixels wide).
QR_FILE_SCALE = 8


def qr_image(text: str) -> bytes:
    """The QR of ``text`` as the PNG that ``--qr FILE.png`` writes and the API answers."""
    return qr_png(text, scale=QR_FILE_SCALE)


def write_qr(path: Path, text: str) -> None:
    """The QR of ``text`` as SVG (``.svg``) or PNG (``.png``, :func:`qr_image`)."""
    path = output_path(path, suffixes=QR_SUFFIXES) or path
    _write(path, qr_svg(text).encode() if path.suffix.lower() == ".svg" else qr_image(text))


def write_license(
    node: Node, license_id: str, *, pdf: Path | None, png: Path | None, now: int | None = None
) -> None:
    """The license's printable sheet as PDF and/or PNG, marked if it is not in force (at
    ``now``, expired too)."""
    lic = printable(node, get_license(node, license_id), now=now)
    if pdf is not None:
        write_atomic(pdf, license_pdf(lic))
    if png is not None:
        write_atomic(png, license_png(lic))
