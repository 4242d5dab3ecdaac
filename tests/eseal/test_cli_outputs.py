"""The files a command writes are checked against what it reads and against each other
before anything is signed or recorded: a sealed copy never takes the place of the document
it seals, and no two outputs share one file."""

from __future__ import annotations

import dataclasses
import json
from itertools import product
from pathlib import Path

import pytest

from eseal.agencies import OPERATOR
from eseal.licenses import issue
from eseal.seals import create_seal
from tests.eseal.conftest import MARKET, NOW, PASSPHRASE, business_request, make_region, run_eseal


@dataclasses.dataclass(frozen=True)
class Made:
    data: Path
    license_id: str
    seal: str


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    data = tmp_path_factory.mktemp("cli-outputs")
    region = make_region(data)
    node = region.node
    license_id = issue(node, OPERATOR, MARKET, business_request(), now=NOW).id
    seal = create_seal(
        node,
        OPERATOR,
        agency_code=MARKET,
        name="行政审批专用章",
        seal_type="approval",
        image=None,
        now=NOW,
    ).id
    node.close()
    return Made(data, license_id, seal)


def _size(made: Made, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch) -> int:
    code, out, err = run_eseal(
        ["--data", str(made.data), "--json", "ledger", "checkpoint"], capsys, mp
    )
    assert code == 0, err
    size = json.loads(out)["size"]
    assert isinstance(size, int)
    return size


#: How ``seal stamp`` is given a document and an output that is that very file.
SAME_FILE = ["same-path", "spelled-otherwise", "document-by-symlink"]


@pytest.mark.parametrize("case", list(product(SAME_FILE, ["--pdf", "--qr"])), ids="-".join)
def test_seal_stamp_never_writes_over_the_document_it_seals(
    made: Made,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, str],
) -> None:
    """``seal stamp SEAL notice.pdf --pdf notice.pdf`` wrote the sealed copy over the
    original, after the stamp was recorded: the stamp covers the original's SHA-256, which
    no file kept then matched (``verify --document`` said DOCUMENT_MISMATCH of every one).
    Refused before the stamp is signed: exit 2, one line, the document and the ledger as
    they were."""
    how, option = case
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    original = b"\x89PNG not really an image, sealed all the same"
    real = tmp_path / "notice.png"  # a .png, that --qr may name too
    real.write_bytes(original)
    document, output = {
        "same-path": (real, real),
        "spelled-otherwise": (real, Path("notice.png")),  # relative, in tmp_path
        "document-by-symlink": (tmp_path / "link.png", real),
    }[how]
    if how == "document-by-symlink":
        document.symlink_to(real)
    monkeypatch.chdir(tmp_path)
    size = _size(made, capsys, monkeypatch)
    code, out, err = run_eseal(
        ["--data", str(made.data), "seal", "stamp", made.seal, str(document), option, str(output)],
        capsys,
        monkeypatch,
    )
    assert (code, out) == (2, ""), err
    assert err == f"error: {output} is the file the command reads: write it elsewhere\n"
    assert real.read_bytes() == original
    assert _size(made, capsys, monkeypatch) == size


@pytest.mark.parametrize("command", ["print", "issue", "stamp"])
def test_two_outputs_naming_one_file_are_refused(
    made: Made,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    """``--qr x.png --png x.png`` wrote the sheet over the QR and said it wrote both (an
    issuance recorded all the same, its QR file lost). Refused before anything is done."""
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    out_file = tmp_path / "x.png"
    document = tmp_path / "通知.txt"
    document.write_text("关于准予行政许可的通知", encoding="utf-8")
    request = business_request()
    issuing = [
        *("license", "issue", "--agency", MARKET, "--type", request.type_code),
        *("--holder", request.holder_name, "--holder-id", str(request.holder_id)),
        *(arg for name, value in request.fields.items() for arg in ("--field", f"{name}={value}")),
    ]
    args = {
        "print": ["license", "print", made.license_id, "--qr", str(out_file)],
        "issue": [*issuing, "--qr", str(out_file)],
        "stamp": ["seal", "stamp", made.seal, str(document), "--qr", str(out_file)],
    }[command]
    monkeypatch.chdir(tmp_path)
    second = ["--pdf", "x.png"]  # the same file, spelled relative to the directory it is in
    size = _size(made, capsys, monkeypatch)
    code, out, err = run_eseal(["--data", str(made.data), *args, *second], capsys, monkeypatch)
    assert (code, out) == (2, ""), err
    assert err == f"error: {out_file} and {second[1]} name the same file: give each its own\n"
    assert not out_file.exists()
    assert _size(made, capsys, monkeypatch) == size


@pytest.mark.parametrize("how", ["same-path", "out-by-symlink", "out-by-hard-link"])
def test_bulk_results_are_never_appended_to_the_csv_they_come_from(
    made: Made,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    """``license bulk rows.csv --out rows.csv`` issued the rows and appended their results
    (id, ledger index, QR text) to rows.csv, which no longer read as the CSV it was. Refused
    before the node is opened: exit 2, the CSV and the ledger as they were."""
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    request = business_request()
    rows = tmp_path / "rows.csv"
    columns = ["type", "holder", "holder_id", *request.fields]
    values = [request.type_code, request.holder_name, str(request.holder_id)]
    rows.write_text(
        ",".join(columns) + "\n" + ",".join([*values, *request.fields.values()]) + "\n",
        encoding="utf-8",
    )
    original = rows.read_bytes()
    out = rows
    if how == "out-by-symlink":
        out = tmp_path / "results.csv"
        out.symlink_to(rows)
    if how == "out-by-hard-link":  # appended to, it is the CSV: one file under two names
        out = tmp_path / "results.csv"
        out.hardlink_to(rows)
    size = _size(made, capsys, monkeypatch)
    code, said, err = run_eseal(
        [
            *("--data", str(made.data), "license", "bulk", "--agency", MARKET, str(rows)),
            *("--out", str(out)),
        ],
        capsys,
        monkeypatch,
    )
    assert (code, said) == (2, ""), err
    assert err == f"error: {out} is the file the command reads: write it elsewhere\n"
    assert rows.read_bytes() == original
    assert _size(made, capsys, monkeypatch) == size


@pytest.mark.parametrize("command", ["bulk", "stamp"])
def test_an_output_that_is_a_symbolic_link_loop_is_refused(
    made: Made,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    """An output that is a symbolic link naming itself (a loop) crashed the output checks
    with a traceback (Path.resolve's RuntimeError), exit 1. Refused as the other output
    paths no file can be written at: exit 2, one line, nothing issued or stamped."""
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop.name)
    document = tmp_path / "通知.txt"
    document.write_text("关于准予行政许可的通知", encoding="utf-8")
    request = business_request()
    rows = tmp_path / "rows.csv"
    rows.write_text(f"type,holder\n{request.type_code},{request.holder_name}\n", encoding="utf-8")
    args = {
        "bulk": ["license", "bulk", "--agency", MARKET, str(rows), "--out", str(loop)],
        "stamp": ["seal", "stamp", made.seal, str(document), "--qr", str(loop)],
    }[command]
    size = _size(made, capsys, monkeypatch)
    code, out, err = run_eseal(["--data", str(made.data), *args], capsys, monkeypatch)
    assert (code, out) == (2, ""), err
    assert err == f"error: cannot write {loop}: Too many levels of symbolic links\n"
    assert _size(made, capsys, monkeypatch) == size
