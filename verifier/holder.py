"""Whether the person presenting a license is its holder: the number on the ID card (居民
身份证号码, GB 11643) or the company's unified social credit code (GB 32100) they present,
compared with the holder the license names (body key "h", :mod:`verifier.document`).

A legal person's license carries its credit code in clear ("id"); a natural person's only
a masked number and, to match a presented card, "ia" = Argon2id of the normalised number
with "is" the salt (:func:`verifier.claims.holder_id_argon2`, about 22 ms of CPU: only
:func:`compare` runs it, when an id is presented), or, in a license issued before that
form, "ih" = SHA-256(salt ‖ normalised number)[:16] (:func:`verifier.claims.holder_id_hash`).

The presented number is personal data: no message here names it, nor any of its characters.
"""

from __future__ import annotations

import hmac
from typing import Final

from keys.errors import InvalidInput
from verifier.claims import Holder, holder_id_argon2, holder_id_hash, normalise_id

#: The longest presented id read at all (an 18-character number with spaces between its
#: groups, written in full-width characters, is well under it).
MAX_PRESENTED: Final = 64
ID_LENGTH: Final = 18

_DIGITS: Final = "0123456789"
#: GB 11643: W_i = 2^(18−i) mod 11; the check character by Σ a_i · W_i mod 11 (ISO 7064
#: MOD 11-2; 10 is written 'X').
_IDENTITY_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
IDENTITY_CHECK_CHARS: Final = "10X98765432"
#: GB 32100: 31 characters (digits and upper-case letters but I, O, S, V, Z), value = index;
#: W_i = 3^(i−1) mod 31.
CREDIT_CODE_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUE: Final = {ch: i for i, ch in enumerate(CREDIT_CODE_ALPHABET)}
_CREDIT_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def identity_check_char(first17: str) -> str:
    """The check character of an identity number whose first 17 characters are digits."""
    total = sum(int(c) * w for c, w in zip(first17, _IDENTITY_WEIGHTS, strict=True))
    return IDENTITY_CHECK_CHARS[total % 11]


def credit_check_char(first17: str) -> str:
    """The check character of a credit code whose first 17 characters are of its alphabet:
    C18 = 31 − (Σ C_i · W_i mod 31), 31 written as '0' (GB 32100-2015 §5)."""
    total = sum(_CREDIT_VALUE[c] * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


class InvalidHolderId(InvalidInput):
    """The presented holder id is not an identity number or a credit code.

    Its message never names the number: it is personal data.
    """

    code = "invalid-holder-id"


class HolderNotApplicable(InvalidInput):
    """A holder id was presented with a document that has no holder (a seal stamp)."""

    code = "no-holder"


def _is_identity_number(s: str) -> bool:
    if len(s) != ID_LENGTH or any(c not in _DIGITS for c in s[:17]):
        return False
    return s[17] == identity_check_char(s[:17])


def is_credit_code(s: str) -> bool:
    """Whether ``s`` is a unified social credit code (GB 32100): 18 characters of its
    alphabet, the check character holding."""
    if len(s) != ID_LENGTH or any(c not in _CREDIT_VALUE for c in s):
        return False
    return s[17] == credit_check_char(s[:17])


def presented_id(raw: str) -> str:
    """The presented id, normalised (:func:`~verifier.claims.normalise_id`), if it is an
    18-character identity number or credit code whose check character holds; else
    :class:`InvalidHolderId`."""
    if len(raw) > MAX_PRESENTED:
        raise InvalidHolderId(
            f"the holder id to compare is over {MAX_PRESENTED} characters: give the "
            "18-character identity number or unified social credit code"
        )
    s = normalise_id(raw)
    if not s:
        raise InvalidHolderId("the holder id to compare is empty")
    if not (_is_identity_number(s) or is_credit_code(s)):
        raise InvalidHolderId(
            "the holder id to compare is not an identity number (18 characters, its "
            "check character holding) nor a unified social credit code: check how it was "
            "typed"
        )
    return s


def _could_be(holder: Holder, presented: str) -> bool:
    """Whether ``presented`` could be a natural person's number, by what the license shows:
    it is an identity number (a credit code is not), and its check character is the one
    shown. What cannot be the number is then told apart without a derivation."""
    if not _is_identity_number(presented):
        return False
    shown_check = holder.id_display[-1:] if holder.id_display else ""
    return not shown_check or presented[-1] == shown_check


def compare(holder: Holder, presented: str) -> bool | None:
    """Whether the normalised ``presented`` id is the holder's: True, False, or None when
    the license carries nothing to compare it with (a legal person's without "id", a
    natural person's without "ia" or "ih"). Constant time in the presented id beyond what
    the license shows; a license with "ia" costs one Argon2id derivation (about 22 ms),
    unless the presented id is no identity number or its check character is not the one
    shown, which cannot be the holder's."""
    if holder.kind == "L":
        if holder.id_display is None:
            return None
        shown = normalise_id(holder.id_display).encode()
        return hmac.compare_digest(shown, presented.encode())
    if holder.id_salt is None:
        return None
    if holder.id_argon2 is not None:
        return _could_be(holder, presented) and hmac.compare_digest(
            holder_id_argon2(presented, holder.id_salt), holder.id_argon2
        )
    if holder.id_hash is not None:
        return hmac.compare_digest(holder_id_hash(presented, holder.id_salt), holder.id_hash)
    return None
