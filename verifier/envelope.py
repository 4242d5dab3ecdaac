"""Signed envelopes for the offline material (trust bundles, revocation snapshots): DSSE
(in-toto's Dead Simple Signing Envelope) with Ed25519, the key id being eseal's 8-byte
key id in hex.

    {"payloadType": "...", "payload": base64(bytes),
     "signatures": [{"keyid": "<16 hex>", "sig": base64(Ed25519(PAE(type, payload)))}]}

PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body (lengths in ASCII
decimal), per https://github.com/secure-systems-lab/dsse/blob/master/protocol.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from nacl.signing import SigningKey

from keys import ed25519
from keys.errors import PARSE_ERRORS, CheckFailed, InvalidInput, shown
from keys.strictjson import MalformedJson, loads_strict

MAX_ENVELOPE = 64 * 1024 * 1024
MAX_SIGNATURES = 8
#: The payload types of the envelopes eseal signs (:mod:`verifier.trust`,
#: :mod:`verifier.revocation`), and what each is in words: a file of one given where the
#: other is asked for is refused naming both, not their media types.
BUNDLE_TYPE = "application/vnd.eseal.trust-bundle+json"
SNAPSHOT_TYPE = "application/vnd.eseal.revocations+cbor"
PAYLOAD_NAMES = {BUNDLE_TYPE: "a trust bundle", SNAPSHOT_TYPE: "a revocation snapshot"}
#: The objects and lists of an envelope: itself, its signatures and one object for each.
#: Their brackets (in no string of an envelope: base64 and hex have none) are counted
#: before the JSON is parsed, so that megabytes of empty lists cannot cost gigabytes.
MAX_CONTAINERS = 2 + MAX_SIGNATURES


def file_etag(data: bytes) -> str:
    """The strong ETag (RFC 9110 §8.8.3) a node answers a signed file with, and so the name
    of the file ``data`` a reader holds: its SHA-256, 128 bits of it in hex, quoted. Being
    the file's own hash, a reader names the file it holds (``If-None-Match``) without
    having kept the ETag it was answered (:func:`verifier.online.fetch_revocations`)."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def json_containers(data: bytes) -> int:
    """The objects and lists of JSON ``data`` at most: its brackets, without parsing it
    (any in its strings counted too), so that a bound on them is checked first."""
    return data.count(b"{") + data.count(b"[")


def json_values(data: bytes) -> int:
    """The values of JSON ``data`` at most (objects and lists included, an object's keys
    not), without parsing it: one, and one more for each comma and each object or list (a
    container of n values holds n - 1 commas), any in its strings counted too. Each value
    parses to an object of some 30 to 200 bytes, whatever the few bytes it is written in."""
    return 1 + data.count(b",") + json_containers(data)


class MalformedEnvelope(InvalidInput):
    """Not a well-formed signed envelope."""

    code = "malformed-envelope"


class EnvelopeSignatureInvalid(CheckFailed):
    """The envelope is not signed by the expected key."""

    code = "envelope-signature-invalid"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def seal_envelope(payload_type: str, payload: bytes, key: SigningKey) -> bytes:
    """Sign ``payload`` as a DSSE envelope (JSON bytes)."""
    signature = ed25519.sign(key, pae(payload_type, payload))
    envelope = {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {
                "keyid": ed25519.key_id(bytes(key.verify_key)).hex(),
                "sig": base64.b64encode(signature).decode(),
            }
        ],
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def read_envelope(data: bytes, payload_type: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Parse (not verify) an envelope of ``payload_type``: the payload and (key id,
    signature) pairs."""
    if len(data) > MAX_ENVELOPE:
        raise MalformedEnvelope(f"envelope of {len(data)} bytes exceeds {MAX_ENVELOPE}")
    if json_containers(data) > MAX_CONTAINERS:
        raise MalformedEnvelope(
            f"an envelope is one object with a list of 1 to {MAX_SIGNATURES} signatures"
        )
    try:
        # Each key once: a second payload, which a parser keeping the other one would read,
        # would put two signed things under one envelope.
        env: Any = loads_strict(data, what="the envelope", max_bytes=MAX_ENVELOPE)
    except MalformedJson as e:
        raise MalformedEnvelope(e.message) from e
    try:
        if not isinstance(env, dict) or set(env) != {"payloadType", "payload", "signatures"}:
            raise MalformedEnvelope("an envelope has exactly payloadType, payload, signatures")
        if env["payloadType"] != payload_type:
            raise MalformedEnvelope(_not_of_type(payload_type, env["payloadType"]))
        payload = base64.b64decode(env["payload"], validate=True)
        sigs = env["signatures"]
        if not isinstance(sigs, list) or not 1 <= len(sigs) <= MAX_SIGNATURES:
            raise MalformedEnvelope(f"an envelope carries 1 to {MAX_SIGNATURES} signatures")
        pairs = [
            (bytes.fromhex(s["keyid"]), base64.b64decode(s["sig"], validate=True)) for s in sigs
        ]
    except MalformedEnvelope:
        raise
    except PARSE_ERRORS as e:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise MalformedEnvelope(f"envelope is malformed: {shown(e, 200)}") from e
    return payload, pairs


def _not_of_type(payload_type: str, given: object) -> str:
    """Why an envelope whose payload type is ``given`` is not one of ``payload_type``."""
    wanted = PAYLOAD_NAMES.get(payload_type)
    found = PAYLOAD_NAMES.get(given) if isinstance(given, str) else None
    if wanted and found:
        return f"this is {found}, not {wanted}"
    return f"expected a {payload_type} envelope, got {shown(given)}"


def require_signature(
    payload_type: str, payload: bytes, signatures: list[tuple[bytes, bytes]], public_key: bytes
) -> None:
    """Nothing when one of ``signatures`` is ``public_key``'s over the payload, else an
    error naming the key."""
    if not signed_by(payload_type, payload, signatures, public_key):
        kid = ed25519.key_id(public_key)
        raise EnvelopeSignatureInvalid(
            f"the {payload_type} envelope is not signed by key {kid.hex()}"
        )


def signed_by(
    payload_type: str, payload: bytes, signatures: list[tuple[bytes, bytes]], public_key: bytes
) -> bool:
    """Whether one of ``signatures`` (as :func:`read_envelope` gives them) is
    ``public_key``'s over the payload."""
    kid = ed25519.key_id(public_key)
    message = pae(payload_type, payload)
    return any(
        keyid == kid and ed25519.verify(public_key, message, sig) for keyid, sig in signatures
    )


def open_envelope(data: bytes, payload_type: str, public_key: bytes) -> bytes:
    """The payload of an envelope signed by ``public_key``, or an error."""
    payload, signatures = read_envelope(data, payload_type)
    require_signature(payload_type, payload, signatures, public_key)
    return payload
