"""An implementation from the published formats alone (``independent.py``, importing nothing
of eseal) gives every vector case its expected verdict: the README and the docstrings it
names are enough to write a verifier, and the vectors say what they say."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.vectors.independent import note_key, verify_case

HERE = Path(__file__).resolve().parent
CASES = sorted((HERE / "cases").glob("*.json"))
#: The root key id to pin, as the README gives it (read from there, not from eseal).
PINNED = re.findall(r"root key\s+with key id\s+`([0-9a-f]{16})`", (HERE / "README.md").read_text())


def test_the_readme_names_one_root_key_to_pin() -> None:
    assert len(PINNED) == 1


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_an_independent_verifier_agrees_with_each_case(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    assert verify_case(case, HERE, PINNED[0]) == case["expected"]


def test_a_log_key_whose_base64_holds_a_plus_is_read() -> None:
    """A verifier key splits at its first two "+" only: the base64 of a key holds "+" about
    every other time (a node's random log key did, in a test that read its checkpoints)."""
    from ledger.checkpoint import verifier_key

    public_key = next(k for k in (bytes([i]) * 32 for i in range(256)) if "+" in _b64(k))
    name, raw = note_key(verifier_key("eseal/500000", public_key))
    assert (name, raw) == ("eseal/500000", public_key)


def _b64(public_key: bytes) -> str:
    import base64

    return base64.b64encode(b"\x01" + public_key).decode()
