"""The document format's refusals: one root for damaged or forged text, one for what the
format does not support, and a leaf per failure, each with its own ``code``."""

from __future__ import annotations

from keys.errors import InvalidInput


class MalformedDocument(InvalidInput):
    """Text that is not a well-formed QR document: the data is damaged or forged."""

    code = "malformed-document"


class UnsupportedDocument(InvalidInput):
    """A document that uses something this format does not support (a newer version?)."""

    code = "unsupported-document"


class DocumentTooLong(MalformedDocument):
    """Text longer than :data:`MAX_TEXT_LENGTH`, refused before any work."""

    code = "document-too-long"


class UnknownPrefix(UnsupportedDocument):
    """Text that does not start with ``EL1:`` or ``ES1:`` (upper-case)."""

    code = "unknown-prefix"


class IllegalCharacter(MalformedDocument):
    """A character outside the base45 (QR alphanumeric) alphabet."""

    code = "illegal-character"


class InvalidBase45(MalformedDocument):
    """A base45 length of 3k+1, or a triplet above 65535."""

    code = "invalid-base45"


class BrokenCompression(MalformedDocument):
    """Not one intact zlib stream: bad header, data or checksum, or truncated."""

    code = "broken-compression"


class InflatedTooLarge(MalformedDocument):
    """A zlib stream that inflates beyond the limit (a zip bomb stops here)."""

    code = "inflated-too-large"


class TrailingData(MalformedDocument):
    """Bytes after the zlib stream or after a CBOR item."""

    code = "trailing-data"


class InvalidCbor(MalformedDocument):
    """Bytes that are not CBOR."""

    code = "invalid-cbor"


class NotCoseSign1(MalformedDocument):
    """Not tag 18 around [protected bstr, unprotected map, payload bstr, signature bstr]."""

    code = "not-cose-sign1"


class NonCanonicalCbor(MalformedDocument):
    """CBOR that is not deterministic: longer forms, unsorted keys, indefinite lengths."""

    code = "non-canonical-cbor"


class DuplicateKey(NonCanonicalCbor):
    """A CBOR map that repeats a key (a decoder could believe either value)."""

    code = "duplicate-key"


class UnprotectedHeader(MalformedDocument):
    """A non-empty unprotected header: every header must be under the signature."""

    code = "unprotected-header"


class UnsupportedAlgorithm(UnsupportedDocument):
    """A protected header whose alg (1) is not EdDSA (-8)."""

    code = "unsupported-algorithm"


class UnknownCriticalHeader(UnsupportedDocument):
    """A crit (2) header listing labels this format does not define."""

    code = "unknown-critical-header"


class UnknownHeader(UnsupportedDocument):
    """A protected header label other than alg (1) and kid (4)."""

    code = "unknown-header"


class InvalidKeyId(MalformedDocument):
    """kid (4) missing from the protected header, or not 8 bytes."""

    code = "invalid-key-id"


class InvalidSignatureLength(MalformedDocument):
    """A signature that is not 64 bytes."""

    code = "invalid-signature-length"


class UnknownClaim(MalformedDocument):
    """A claim or body key that the document kind does not define."""

    code = "unknown-claim"


class MissingClaim(MalformedDocument):
    """A required claim or body key that is absent."""

    code = "missing-claim"


class InvalidClaim(MalformedDocument):
    """A claim or body value of the wrong type, shape or size (values are not echoed)."""

    code = "invalid-claim"
