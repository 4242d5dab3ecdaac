"""The error roots every room shares: bad input, a failed check, a failing outside world.

Each room defines one leaf class per distinct failure under one of these roots;
the CLI and the HTTP layer map the roots to exit codes and RFC 9457 problems in
one place (``eseal.problems``).
"""

from __future__ import annotations


class EsealError(Exception):
    """Root of every error eseal raises on purpose."""

    #: A short stable machine name for the failure, used as the problem type.
    code: str = "error"
    #: Which item of a batch was refused (0-based), when a batch was: a caller may name it
    #: in its own terms (a CSV line).
    item: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(EsealError):
    """The input from outside is bad: malformed, oversized, out of range (exit 2, HTTP 4xx)."""

    code = "invalid-input"


class CheckFailed(EsealError):
    """Well-formed input that does not hold: a bad signature, proof or audit (exit 1)."""

    code = "check-failed"


#: What reading hostile data (JSON, CBOR, base64, numbers, nested containers) raises from
#: the standard library and the parsers, besides their own decode errors: each parser's
#: edge turns these into its one refusal.
PARSE_ERRORS: tuple[type[Exception], ...] = (
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    ArithmeticError,  # cbor2 builds decimals, fractions and big numbers for some tags
    RecursionError,  # nested deeper than the parser's stack
)


class ExternalFailure(EsealError):
    """The outside world failed: database unreachable, disk error, network (exit 2, HTTP 503)."""

    code = "external-failure"


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` for an error message about outside data: at most ``limit``
    characters, and never an error itself (an integer of 4,300 digits or more cannot be
    printed, and a forged document may hold one where a message names the value)."""
    try:
        text = repr(value)
    except ValueError:  # the interpreter's limit on integer-to-text conversion
        return f"<{type(value).__name__} too long to show>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
