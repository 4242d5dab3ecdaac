"""Pieces of ``eseal verify``'s command line that need no node."""

from __future__ import annotations

import pytest

from eseal.cli_verify import TrustRefused, _refusing
from keys.errors import CheckFailed
from verifier.trust import MalformedBundle


def test_a_refused_file_is_named_and_the_refusal_left_as_raised() -> None:
    """The error names the file and keeps its own code; the exception raised by the check
    is not changed (a cached refusal passed through twice would get two names)."""
    refusal = MalformedBundle("expected a bundle envelope")

    def check() -> None:
        raise refusal

    for _ in range(2):
        with pytest.raises(MalformedBundle) as raised:
            _refusing("bundle b.json", check)
        assert raised.value.message == "bundle b.json: expected a bundle envelope"
        assert str(raised.value) == raised.value.message
        assert raised.value.code == refusal.code
        assert raised.value.__cause__ is refusal
    assert refusal.message == "expected a bundle envelope"


def test_a_bad_signature_on_a_trust_file_is_no_verdict() -> None:
    def check() -> None:
        raise CheckFailed("signature does not verify")

    with pytest.raises(TrustRefused, match=r"snapshot s\.json: signature does not verify"):
        _refusing("snapshot s.json", check)
