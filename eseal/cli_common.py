"""What every CLI command shares: the --data/--database-url/--json options (before or
after the command name), JSON or human output, and opening the node."""

from __future__ import annotations

import base64
import copy
import getpass
import json
import os
import re
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from typer.core import TyperGroup

from eseal.problems import size_text
from keys.errors import EsealError, ExternalFailure, InvalidInput
from keys.keyfile import passphrase_from_env

if TYPE_CHECKING:
    from eseal.node import Node


class CommandGroup(TyperGroup):
    """A command group whose help lists each command with the whole first sentence of its
    help, wrapped (click cuts it at the terminal's width with "...")."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [
            (name, command.get_short_help_str(limit=1000))
            for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def command_group(**options: Any) -> typer.Typer:
    """A Typer app of commands, as every group of the ``eseal`` command line is made."""
    return typer.Typer(cls=CommandGroup, **options)


DATA_ENV = "ESEAL_DATA"
DATABASE_URL_ENV = "ESEAL_DATABASE_URL"


def _given_on_the_command_line(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """The option's value when the command line gave it, else None: the environment's value
    is read last (:func:`data_dir`, :func:`db_url`), so that ``eseal --data X COMMAND`` is
    not overridden by the command's own reading of ESEAL_DATA."""
    source = ctx.get_parameter_source(param.name) if param.name else None
    return value if source is not None and source.name == "COMMANDLINE" else None


DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        envvar=DATA_ENV,
        help="Data directory of the node.",
        show_default=False,
        callback=_given_on_the_command_line,
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar=DATABASE_URL_ENV,
        help="PostgreSQL URL (default: SQLite in the data directory).",
        callback=_given_on_the_command_line,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]

DEFAULT_DATA = Path("eseal-data")
#: The exit code of a command interrupted by Ctrl-C (SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


class Interrupted(Exception):
    """A command stopped by Ctrl-C at a point where it can say what it did (exit 130)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


#: Options given before the command name (set by the root callback).
GLOBALS: dict[str, Any] = {}


def now() -> int:
    """The time of the command, in Unix seconds (the only clock the CLI reads)."""
    return int(time.time())


def data_dir(data: Path | None) -> Path:
    """The data directory: --data after the command, else before it, else ESEAL_DATA, else
    ./eseal-data."""
    env = os.environ.get(DATA_ENV)
    return data or GLOBALS.get("data") or (Path(env) if env else DEFAULT_DATA)


def db_url(url: str | None) -> str | None:
    """The database URL: --database-url after the command, else before it, else
    ESEAL_DATABASE_URL, else None (the node's own)."""
    return url or GLOBALS.get("database_url") or os.environ.get(DATABASE_URL_ENV) or None


def want_json(flag: bool) -> bool:
    return flag or bool(GLOBALS.get("json"))


def emit(value: Any, as_json: bool, human: Callable[[], None]) -> None:
    if want_json(as_json):
        typer.echo(json.dumps(value, ensure_ascii=False, indent=2))
    else:
        human()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def with_note(error: EsealError | OSError, note: str) -> EsealError:
    """``error`` as eseal reports it (its class kept, so its exit code), ``note`` added: what
    was done all the same before it (a license recorded whose files were not written)."""
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        return ExternalFailure(f"cannot use{where}: {error.strerror or error}; {note}")
    told = copy.copy(error)  # the error as raised stays as it was
    told.message = f"{error.message}; {note}"
    told.args = (told.message,)
    return told


#: The most a file given to a command is read to, unless it says less.
MAX_FILE = 64 * 1024 * 1024


def read_file(path: Path, what: str, limit: int = MAX_FILE) -> bytes:
    """The bytes of the file ``path`` a command was given (``what`` names it in a refusal),
    at most ``limit`` of them. Its size is checked on the descriptor opened, and at most one
    byte past ``limit`` is read: a file that grows after it was checked, or one that says
    it is smaller than it reads (/proc's), is refused, not read whole; a FIFO or a device
    (named, or put in its place) is not a file, and is refused unread."""
    if not path.is_file():
        if not path.exists() and not path.is_symlink():
            raise InvalidInput(f"{what} {path} does not exist")
        raise InvalidInput(f"{what} {path} is not a file")
    too_large = InvalidInput(f"{what} {path} is larger than {size_text(limit)}")
    # O_NONBLOCK: opening a FIFO put in the file's place does not wait for a writer.
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as f:
        found = os.fstat(f.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise InvalidInput(f"{what} {path} is not a file")
        if found.st_size > limit:
            raise too_large
        # A regular file's reads wait again, as any file's: one that waits for what comes
        # next (/proc/kmsg) would otherwise be read up to its first wait and taken whole.
        os.set_blocking(f.fileno(), True)
        data = f.read(found.st_size + 1)  # a read takes the memory it asks for: no more
        if len(data) > found.st_size:  # it reads longer than its size said
            data += f.read(limit + 1 - len(data))
    if len(data) > limit:
        raise too_large
    return data


def outside_node(data: Path | None, *outputs: Path | None) -> None:
    """Output files (a QR, a PDF, a bundle, results) must not be the node's own: node.json,
    its key files, its ledger database. Writing one of them over would break the node (its
    ledger replaced by a bundle, a results CSV appended to it)."""
    from eseal.node import NODE_FILE

    root = data_dir(data).resolve()
    for path in outputs:
        if path is None:
            continue
        target = path.resolve()
        if not target.is_relative_to(root):
            continue
        inside = target.relative_to(root).parts
        if inside[:1] == ("keys",) or (
            len(inside) == 1 and (inside[0] == NODE_FILE or inside[0].startswith("ledger.db"))
        ):
            raise InvalidInput(f"{path} is a file of the node in {data_dir(data)}: write elsewhere")


@contextmanager
def open_node(
    data: Path | None, database_url: str | None, *, unlock: bool = False
) -> Iterator[Node]:
    """The node in the data directory; ``unlock`` decrypts its keys with ESEAL_PASSPHRASE."""
    from eseal.node import Node

    passphrase = passphrase_from_env() if unlock else None
    node = Node.open(data_dir(data), passphrase=passphrase, database_url=db_url(database_url))
    try:
        yield node
    finally:
        node.close()


#: Plain decimal digits, but more than :data:`eseal.ids.PLAIN_DECIMAL` takes.
_TOO_LONG = re.compile(r"-?[1-9][0-9]{19,}", re.ASCII)


def plain_int(low: int | None = None, high: int | None = None) -> Callable[[Any], int]:
    """A parser for a command-line integer in plain decimal digits
    (:data:`eseal.ids.PLAIN_DECIMAL`) from ``low`` to ``high``: click's own would take
    ``1_0`` as 10 and ``+1`` as 1."""

    def parse(value: Any) -> int:
        from eseal.ids import PLAIN_DECIMAL

        if isinstance(value, int):  # a default
            return value
        if isinstance(value, str) and _TOO_LONG.fullmatch(value):
            raise typer.BadParameter(f"{value} has more than 19 digits")
        if not isinstance(value, str) or not PLAIN_DECIMAL.fullmatch(value):
            raise typer.BadParameter(f"{value!r} is not an integer in plain decimal digits")
        number = int(value)
        if (low is not None and number < low) or (high is not None and number > high):
            lo = "…" if low is None else str(low)
            hi = "…" if high is None else str(high)
            raise typer.BadParameter(f"{number} is not in the range {lo} to {hi}")
        return number

    return parse


#: Days as a command line takes them: digits, and a fraction of at most six digits.
_DAYS = re.compile(r"[0-9]{1,5}(?:\.[0-9]{1,6})?")


def plain_days(high: int) -> Callable[[Any], float]:
    """A parser for a command-line number of days from 0 to ``high``, in plain decimal
    digits (click's own float takes "nan" and "inf", then calls them out of range)."""

    def parse(value: Any) -> float:
        if isinstance(value, float):  # a default
            return value
        text = value if isinstance(value, str) else repr(value)
        if not _DAYS.fullmatch(text) or float(text) > high:
            raise typer.BadParameter(
                f"{text!r} is not a number of days from 0 to {high} in plain decimal digits"
            )
        return float(text)

    return parse


def plain_seconds(high: float) -> Callable[[Any], float]:
    """A parser for a command-line duration in seconds, in plain decimal digits to the
    millisecond (:func:`eseal.api.timeouts.parse_seconds`), up to ``high``."""

    def parse(value: Any) -> float:
        from eseal.api.timeouts import parse_seconds

        if isinstance(value, float):  # a default
            return value
        try:
            return parse_seconds(value if isinstance(value, str) else repr(value), high)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None

    return parse


class StopRequest:
    """Whether Ctrl-C asked a long command to stop at its next safe point."""

    requested = False


@contextmanager
def stop_on_ctrl_c(saying: str) -> Iterator[StopRequest]:
    """Ctrl-C (SIGINT) asks the command to stop at its next safe point (it says ``saying``
    once) rather than where it happens to be: a batch recorded and listed, a key file
    written whole."""
    stop = StopRequest()

    def ask(signum: int, frame: object) -> None:
        if not stop.requested:
            typer.echo(saying, err=True)
        stop.requested = True

    try:
        previous = signal.signal(signal.SIGINT, ask)
    except ValueError:  # not the main thread (an embedding caller): Ctrl-C is theirs
        yield stop
        return
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


class _NullBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self) -> _NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(total: int, label: str) -> Any:
    """A progress bar on stderr when it is a terminal (else one that shows nothing)."""
    if sys.stderr.isatty():
        return click.progressbar(length=total, label=label, file=sys.stderr)
    return _NullBar()


def utc_time(ts: int) -> str:
    """Unix time ``ts`` as a person reads it in a terminal: ISO 8601 in UTC."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def holder_id_option(value: str | None) -> str | None:
    """A ``--holder-id`` as given, or for ``-`` the id number read from standard input:
    asked for without echo in a terminal, else its first line. ``-`` keeps the number out
    of the shell's history and the process list."""
    from verifier.holder import MAX_PRESENTED

    if value != "-":
        return value
    if sys.stdin.isatty():
        try:
            line = getpass.getpass("holder's id number: ")
        except EOFError:  # Ctrl-D: no number, as an empty pipe (Ctrl-C still interrupts)
            line = ""
    else:
        line = sys.stdin.readline(MAX_PRESENTED + 2).rstrip("\r\n")
        if len(line) > MAX_PRESENTED:  # the rest of the line was left unread: not cut short
            raise InvalidInput(
                f"the holder's id number on standard input (--holder-id -) is over "
                f"{MAX_PRESENTED} characters: give the 18-character number on a line of its own"
            )
    if not line.strip():
        # Closed, empty or a blank line, or nothing but spaces typed at the prompt: taken
        # as "no number", an issuance would go without it and a renewal keep the old form,
        # as if made with the number.
        raise InvalidInput("no holder's id number on standard input (--holder-id -)")
    return line
