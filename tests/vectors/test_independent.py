"""An implementation from the published formats alone (``independent.py``, importing nothing
of eseal) gives every vector case its expected verdict: the README and the docstrings it
names are enough to write a verifier, and the vectors say what they say."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.vectors.independent import verify_case

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
