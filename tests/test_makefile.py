"""The interpreter the Makefile makes the venv from: Debian's ``/usr/bin/python3`` where it
can make one that eseal runs on (3.11 or later, with venv and ensurepip), else the
``python3`` on PATH. An older system Python (Debian 11's 3.9, Ubuntu 22.04's 3.10) made a
venv that uv then replaced with another interpreter, losing the uv installed in it, so that
every ``make`` made the venv and synced it anew."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _chosen(system_python: Path | str, *given: str) -> str:
    """The PYTHON the Makefile picks with ``SYSTEM_PYTHON`` set so, and the variables
    ``given`` on the command line (nothing is run)."""
    done = subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "--eval",
            "print-python: ; @echo $(PYTHON)",
            "print-python",
            f"SYSTEM_PYTHON={system_python}",
            *given,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    return done.stdout.strip()


def _python_reporting(tmp_path: Path, version: tuple[int, int], *, venv: bool = True) -> Path:
    """An interpreter that runs ``-c CODE`` as this one does, but says it is ``version``
    (and, unless ``venv``, has no venv module)."""
    hide = "sys.modules['venv'] = None; " if not venv else ""
    fake = tmp_path / f"python{version[0]}.{version[1]}"
    said = (*version, 0, "final", 0)
    code = f"import sys; sys.version_info = {said!r}; {hide}exec(sys.argv[1])"
    fake.write_text(f'#!/bin/sh\nexec {sys.executable} -c "{code}" "$2"\n')
    fake.chmod(0o755)
    return fake


def test_a_system_python_of_311_or_later_with_venv_is_chosen(tmp_path: Path) -> None:
    for version in ((3, 11), (3, 13)):
        fake = _python_reporting(tmp_path, version)
        assert _chosen(fake) == str(fake)


def test_an_older_system_python_or_none_gives_the_python3_on_path(tmp_path: Path) -> None:
    assert _chosen("/nonexistent/python3") == "python3"
    assert _chosen(_python_reporting(tmp_path, (3, 11), venv=False)) == "python3"
    assert _chosen(_python_reporting(tmp_path, (3, 10))) == "python3"
    assert _chosen(_python_reporting(tmp_path, (3, 9))) == "python3"


def test_python_given_on_the_command_line_is_taken_as_it_is(tmp_path: Path) -> None:
    fake = _python_reporting(tmp_path, (3, 12))
    assert _chosen(fake, "PYTHON=/opt/python3.12") == "/opt/python3.12"
