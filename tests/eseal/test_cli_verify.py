"""Pieces of the command line (``eseal verify``'s most) that need no node."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from eseal.cli_verify import TrustRefused, refusing
from keys.errors import CheckFailed, InvalidInput
from ledger.checkpoint import NoteVerifier
from ledger.cosignature import cosigner_key
from tests.eseal.conftest import run_eseal
from verifier.trust import MalformedBundle


def test_a_refused_file_is_named_and_the_refusal_left_as_raised() -> None:
    """The error names the file and keeps its own code; the exception raised by the check
    is not changed (a cached refusal passed through twice would get two names)."""
    refusal = MalformedBundle("expected a bundle envelope")

    def check() -> None:
        raise refusal

    for _ in range(2):
        with pytest.raises(MalformedBundle) as raised:
            refusing("bundle b.json", check)
        assert raised.value.message == "bundle b.json: expected a bundle envelope"
        assert str(raised.value) == raised.value.message
        assert raised.value.code == refusal.code
        assert raised.value.__cause__ is refusal
    assert refusal.message == "expected a bundle envelope"


def test_a_bad_signature_on_a_trust_file_is_no_verdict() -> None:
    def check() -> None:
        raise CheckFailed("signature does not verify")

    with pytest.raises(TrustRefused, match=r"snapshot s\.json: signature does not verify"):
        refusing("snapshot s.json", check)


def test_help_shows_flags_as_flags_and_values_by_what_they_are() -> None:
    """``--json`` takes no value, so the help must not show one (``--json <bool>`` reads as if
    ``--json true`` were the way to say it; ``true`` would be taken for the QR text)."""
    from typer.testing import CliRunner

    from eseal.cli import app

    shown = CliRunner().invoke(app, ["verify", "--help"], terminal_width=100)
    assert shown.exit_code == 0, shown.output
    lines = {line.split()[0]: line for line in shown.output.splitlines() if line.startswith("  --")}
    assert lines["--json"].split()[1] == "Machine-readable", lines["--json"]
    assert lines["--help"].split()[1] == "Show", lines["--help"]
    assert "<bool>" not in shown.output
    assert lines["--bundle"].split()[1] == "FILE"
    assert lines["--online"].split()[1] == "URL"
    assert lines["--max-status-age"].split()[1] == "DAYS"


@pytest.mark.parametrize("command", [["license", "issue"], ["license", "renew"]])
def test_help_shows_what_a_field_and_a_date_look_like(command: list[str]) -> None:
    """``--field NAME=VALUE`` and ``--valid-until YYYY-MM-DD``, not Python's ``<list[str]>``."""
    from typer.testing import CliRunner

    from eseal.cli import app

    shown = CliRunner().invoke(app, [*command, "--help"], terminal_width=100)
    assert shown.exit_code == 0, shown.output
    lines = {line.split()[0]: line for line in shown.output.splitlines() if line.startswith("  --")}
    assert lines["--field"].split()[1] == "NAME=VALUE", lines["--field"]
    assert lines["--valid-until"].split()[1] == "YYYY-MM-DD", lines["--valid-until"]
    assert "list[str]" not in shown.output


@pytest.mark.parametrize("args", [[], ["ledger"]])
def test_a_command_group_alone_prints_its_help(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``eseal`` (or ``eseal ledger``) alone: its help, as help (not "error: Usage: …"), exit 2."""
    from eseal import cli

    monkeypatch.setattr("sys.argv", ["eseal", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    said = capsys.readouterr().err
    assert said.startswith(f"Usage: eseal {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND"), said
    assert "Commands:" in said
    assert "error" not in said.lower()


def test_a_groups_help_lists_each_command_whole() -> None:
    """Each command with the whole first sentence of its help, wrapped at the width, not
    cut with "..." ('licenses signed with the old one stay valid' is the point of it)."""
    from typer.testing import CliRunner

    from eseal.cli import app

    shown = CliRunner().invoke(app, ["agency", "--help"], terminal_width=80)
    assert shown.exit_code == 0, shown.output
    listed = shown.output.split("Commands:")[1]
    assert "one stay valid." in " ".join(listed.split()), listed
    assert not any(line.rstrip().endswith("...") for line in listed.splitlines()), listed
    assert max(len(line) for line in shown.output.splitlines()) <= 80


def test_the_demo_on_another_regions_node_says_so_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo registers Chongqing's agencies: on a node of another province (which
    registers only its own) it says what to do instead, before recording anything."""
    from eseal.demo import run_demo
    from eseal.node import Node, init_node
    from tests.eseal.conftest import NOW, PASSPHRASE

    init_node(tmp_path, region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW).close()
    with Node.open(tmp_path, passphrase=PASSPHRASE) as node:
        before = node.log.size()
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    with pytest.raises(InvalidInput, match=r"this node is of region 110000: run it on a new"):
        run_demo(tmp_path, database_url=None, now=NOW)
    with Node.open(tmp_path, passphrase=PASSPHRASE) as node:
        assert node.log.size() == before  # nothing of the demo's recorded


def test_ctrl_c_says_interrupted_and_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in any command: one line saying so (Typer alone exits 130 in silence, which
    reads as a crash), and the shell's code for an interrupt."""
    from eseal import catalog, cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(catalog, "load_catalog", interrupted)
    monkeypatch.setattr("sys.argv", ["eseal", "license", "types"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 130
    assert capsys.readouterr().err == "error: interrupted\n"


def test_the_catalogue_lists_what_an_enum_field_may_say() -> None:
    """``eseal license types`` is where an operator learns what ``--field NAME=VALUE`` takes:
    an enum field's choices are listed under it, not left to a refused issue to tell."""
    from typer.testing import CliRunner

    from eseal.catalog import load_catalog
    from eseal.cli import app

    shown = CliRunner().invoke(app, ["license", "types"])
    assert shown.exit_code == 0, shown.output
    food = next(t for t in load_catalog() if t.code == "111000000000PH001J002")
    (main_business,) = (f for f in food.fields if f.name == "main_business")
    assert main_business.choices
    lines = shown.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(food.code))
    listed = lines[at : at + 2 * len(food.fields)]
    below = listed[next(i for i, line in enumerate(listed) if "main_business" in line) + 1]
    assert below.split("one of: ")[1] == ", ".join(main_business.choices)


def test_the_catalogue_names_types_and_fields_in_english_too() -> None:
    """``eseal license types`` gives each type's English name beside its Chinese one, and
    each field's English label beside its Chinese label."""
    from typer.testing import CliRunner

    from eseal.cli import app

    shown = CliRunner().invoke(app, ["license", "types"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("111000000000PH001J001"))
    assert "营业执照 · Business licence" in lines[at]
    listed = lines[at + 1 : at + 8]
    (capital,) = (line for line in listed if line.split()[0] == "registered_capital")
    assert "注册资本（元） · Registered capital (CNY)  [money, optional]" in capital


@pytest.mark.parametrize("days", ["nan", "inf", "1e3", "-1", "3651", "7,5", "０"])
def test_a_max_status_age_is_a_plain_number_of_days(
    days: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--max-status-age takes plain decimal days from 0 to 3650: click's float took "nan"
    and "inf" and then called them over 3650."""
    from eseal import cli
    from eseal.cli_common import plain_days

    monkeypatch.setattr("sys.argv", ["eseal", "verify", "EL1:X", "--max-status-age", days])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    said = capsys.readouterr().err
    assert f"{days!r} is not a number of days from 0 to 3650 in plain decimal digits" in said
    assert [plain_days(3650)(v) for v in ("0", "0.5", "7", "3650")] == [0.0, 0.5, 7.0, 3650.0]


_WITNESS = cosigner_key("eseal/110000/witness", bytes(range(32)))
#: A log's key (type 0x01), no witness's.
_LOG_KEY = str(NoteVerifier("eseal/500000", bytes(range(32))))
_OTHER = cosigner_key("eseal/310000/witness", bytes(range(1, 33)))
#: The first witness's name with another key (its new one, say).
_ROTATED = cosigner_key("eseal/110000/witness", bytes(range(2, 34)))
#: Nothing listens there: a refusal must come before any node is asked.
_NOWHERE = ["--online", "http://127.0.0.1:9"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([*_NOWHERE, "--witness", "nonsense"], "is not a cosignature/v1 verifier key"),
        ([*_NOWHERE, "--witness", _LOG_KEY], "type 0x01 is not cosignature/v1 (0x04)"),
        ([*_NOWHERE, "--witness", _WITNESS, "--witness", _WITNESS], "is given twice"),
        (
            [*_NOWHERE, "--witness", _WITNESS, "--witness", _ROTATED, "--quorum", "2"],
            "witness 'eseal/110000/witness' is given with two keys",
        ),
        ([*_NOWHERE, "--witness", _WITNESS, "--quorum", "0"], "0 is not in the range 1 to 32"),
        ([*_NOWHERE, "--witness", _WITNESS, "--quorum", "x"], "not an integer"),
        (
            [*_NOWHERE, "--witness", _WITNESS, "--witness", _OTHER, "--quorum", "3"],
            "quorum 3 is not from 1 to the 2 witness keys given",
        ),
        ([*_NOWHERE, *["--witness", _WITNESS] * 33], "at most 32 are taken"),
        ([*_NOWHERE, "--quorum", "1"], "--quorum needs the witnesses it counts"),
        (["--witness", _WITNESS], "--witness applies to the checkpoints of nodes asked online"),
    ],
)
def test_bad_witness_options_are_refused_before_any_node_is_asked(
    args: list[str],
    said: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = run_eseal(["verify", "EL1:X", *args], capsys, monkeypatch)
    assert code == 2, (out, err)
    assert said in " ".join(err.split()), err
    assert "cannot reach" not in err


@pytest.fixture
def environ_file() -> Iterator[tuple[Path, bytes]]:
    """/proc/PID/environ of a process started with 100 KiB of environment: a regular file
    whose size says 0 bytes, as a file that grows after it was checked would say too few."""
    value = "x" * 100 * 1024
    child = subprocess.Popen(["sleep", "60"], env={"BIG": value})
    try:
        path = Path(f"/proc/{child.pid}/environ")
        assert path.is_file()
        assert path.stat().st_size == 0
        yield path, f"BIG={value}\0".encode()
    finally:
        child.kill()
        child.wait()


def test_a_file_is_read_no_further_than_its_limit_whatever_its_size_says(
    environ_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    """The size checked is the opened file's, and the read stops one byte past the limit:
    a file reading longer than its size said is refused, not read whole; a FIFO is refused
    unread (not waited on)."""
    from eseal.cli_common import read_file

    path, content = environ_file
    with pytest.raises(InvalidInput, match=rf"^policy {path} is larger than 64 KiB$"):
        read_file(path, "policy", 64 * 1024)
    assert read_file(path, "policy", len(content)) == content
    with pytest.raises(InvalidInput, match=rf"^policy {path} is larger than 100 KiB$"):
        read_file(path, "policy", len(content) - 1)  # one byte more than the limit
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match=rf"^image {fifo} is not a file$"):
        read_file(fifo, "image", 1024)
    with pytest.raises(InvalidInput, match=rf"^image {tmp_path} is not a file$"):
        read_file(tmp_path, "image", 1024)
    missing = tmp_path / "missing.png"
    with pytest.raises(InvalidInput, match=rf"^image {missing} does not exist$"):
        read_file(missing, "image", 1024)
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(missing)
    with pytest.raises(InvalidInput, match=rf"^image {dangling} is not a file$"):
        read_file(dangling, "image", 1024)


def test_a_witness_policy_reading_past_its_limit_is_refused_at_the_limit(
    environ_file: tuple[Path, bytes],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``eseal verify --witness-policy`` given a file that reads longer than its size says:
    exit 2, the file and its limit named (in KiB: a limit under 1 MiB was said as 0 MiB)."""
    path, _ = environ_file
    args = ["verify", "EL1:X", "--online", "http://127.0.0.1:9", "--witness-policy", str(path)]
    code, out, err = run_eseal(args, capsys, monkeypatch)
    assert (code, out) == (2, "")
    assert err == f"error: witness policy {path} is larger than 64 KiB\n"


def test_a_file_whose_reads_wait_is_read_whole_not_cut_at_the_first_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O_NONBLOCK is for the open (a FIFO put in the file's place is not waited on), not the
    reads: a regular file whose reads wait for what comes next (/proc/kmsg, a file system
    that honours the flag) was cut short at its first wait and taken whole, or, nothing
    read yet, ended in a TypeError. Here the file's descriptor is a pipe said to be a
    regular file, its second half written a moment after the first."""
    import stat
    import threading
    import time

    from eseal.cli_common import read_file

    path = tmp_path / "slow"
    path.write_bytes(b"")
    r, w = os.pipe()
    pipe = os.fstat(r)
    real_open, real_fstat = os.open, os.fstat

    def opened(file: object, flags: int, *args: int, **kwargs: int) -> int:
        if file != path:
            return real_open(file, flags, *args, **kwargs)  # type: ignore[arg-type]
        fd = os.dup(r)
        os.set_blocking(fd, not flags & os.O_NONBLOCK)
        return fd

    def status(fd: int) -> os.stat_result:
        found = real_fstat(fd)
        if (found.st_dev, found.st_ino) != (pipe.st_dev, pipe.st_ino):
            return found
        return os.stat_result((stat.S_IFREG | 0o644, pipe.st_ino, pipe.st_dev, 1, 0, 0, 0, 0, 0, 0))

    def write_later() -> None:
        time.sleep(0.3)
        os.write(w, b"cd")
        os.close(w)

    monkeypatch.setattr(os, "open", opened)
    monkeypatch.setattr(os, "fstat", status)
    os.write(w, b"ab")
    later = threading.Thread(target=write_later)
    later.start()
    try:
        assert read_file(path, "document", 1024) == b"abcd"
    finally:
        later.join()
        os.close(r)


@pytest.mark.parametrize("newer_first", [True, False])
def test_of_two_snapshots_as_of_one_second_the_later_cut_speaks_whatever_the_order(
    tmp_path: Path, newer_first: bool
) -> None:
    """Two snapshots of one region as of the same second, the later cut at a larger
    checkpoint (a revocation recorded in between): ``eseal verify`` given both keeps the
    later cut (:attr:`RevocationSnapshot.cut`, the one rule of snapshot order), not
    whichever file came first, so an older file cannot take back the revocation."""
    from eseal.cli_verify import window_trust
    from tests.vectors import generate as g
    from verifier.document import sign_license
    from verifier.pipeline import VerifyContext, verify_text
    from verifier.revocation import build_snapshot, sign_snapshot
    from verifier.trust import sign_bundle
    from verifier.verdict import Status

    claims = g.business_license("2025009001")
    text = sign_license(claims, g.MARKET_KEY).text

    def snapshot(size: int, code: str) -> Path:
        built = build_snapshot(
            region=g.REGION,
            as_of=g.SNAPSHOT_AT,
            checkpoint=g._checkpoint(size),
            licenses=[(claims.license_id, code), *g._filler()],
        )
        path = tmp_path / f"revocations-{size}.json"
        path.write_bytes(sign_snapshot(built, g.LOG_KEY))
        return path

    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(sign_bundle(g.trust_bundle(), g.ROOT_KEY))
    older, newer = snapshot(990, "01"), snapshot(995, "07")
    given = [newer, older] if newer_first else [older, newer]
    store, status, _newest = window_trust([bundle], [], [], given)
    verdict = verify_text(text, VerifyContext(store, g.NOW, status=status))
    assert verdict.status is Status.REVOKED, verdict.reasons
    assert verdict.freshness.status_as_of == g.SNAPSHOT_AT
