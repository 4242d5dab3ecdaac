"""A process that holds a private key writes no core dump: the key would reach the disk in
clear (a crash, a signal, a debugger's gcore). Each case runs in a fresh interpreter, as
the change is for the rest of a process's life."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_PROBE = textwrap.dedent(
    """
    import ctypes, resource, sys
    from pathlib import Path
    import nacl.signing
    from keys import keyfile

    PR_GET_DUMPABLE = 3
    libc = ctypes.CDLL(None, use_errno=True)

    def state():
        return resource.getrlimit(resource.RLIMIT_CORE)[1], libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)

    before = state()
    path = Path(sys.argv[1]) / "k.key"
    key = nacl.signing.SigningKey.generate()
    if sys.argv[2] == "write":
        keyfile.write_key_file(path, key, b"a passphrase long enough", opslimit=1, memlimit=8192)
    else:
        keyfile.read_key_file(path, b"a passphrase long enough")
    print(*before, *state())
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="prctl is Linux's")
def test_a_process_that_writes_or_reads_a_key_file_makes_no_core_dump(tmp_path: Path) -> None:
    import nacl.signing

    from keys import keyfile

    key = nacl.signing.SigningKey.generate()
    keyfile.write_key_file(
        tmp_path / "k.key", key, b"a passphrase long enough", opslimit=1, memlimit=8192
    )
    for how, where in (("write", tmp_path / "w"), ("read", tmp_path)):
        where.mkdir(exist_ok=True)
        said = subprocess.run(
            [sys.executable, "-c", _PROBE, str(where), how],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parents[2],
        ).stdout.split()
        _, dumpable_before, hard_after, dumpable_after = map(int, said)
        assert dumpable_before == 1, how  # the probe could fail: a plain process may dump
        assert (hard_after, dumpable_after) == (0, 0), how
