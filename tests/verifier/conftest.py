"""Shared verifier fixtures: a fixed agency key, typical license and stamp claims, the
peak of memory a block allocates, and forged trust bundles."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import nacl.signing
import pytest

from verifier.document import (
    Holder,
    LicenseBody,
    LicenseClaims,
    StampBody,
    StampClaims,
    holder_id_argon2,
    holder_id_hash,
)
from verifier.envelope import seal_envelope
from verifier.trust import BUNDLE_TYPE

ISSUER = "11500103MB0000000X"
TYPE_CODE = "11100000000013338W032"
LICENSE_ID = f"1.2.156.3005.2.{TYPE_CODE}.{ISSUER}.000123.001.K"
SALT = bytes(range(16))


@dataclass
class Peak:
    """The most memory a block allocated at once, in bytes (set when it ends)."""

    bytes: int = 0


@contextmanager
def traced() -> Iterator[Peak]:
    """Trace the block's allocations (tracemalloc); its peak is in the yielded
    :class:`Peak` once it ends, however it ends."""
    peak = Peak()
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def fixed_key(label: str) -> nacl.signing.SigningKey:
    """A deterministic Ed25519 key: signatures made with it are reproducible."""
    return nacl.signing.SigningKey(hashlib.sha256(f"eseal test key: {label}".encode()).digest())


@pytest.fixture
def agency_key() -> nacl.signing.SigningKey:
    return fixed_key("agency")


@pytest.fixture
def license_claims() -> LicenseClaims:
    """A sole trader's business license (个体工商户营业执照): 8 fields, a legal-person holder."""
    fields: dict[str, str | int] = {
        "name": "山城小面馆",
        "type": "个体工商户",
        "operator": "张三",
        "form": "个人经营",
        "founded": "2019-03-12",
        "address": "渝中区民族路188号",
        "scope": "餐饮服务",
        "term": "长期",
    }
    holder = Holder("山城小面馆", "L", "92500103MA5U7XYZ1P")
    body = LicenseBody(TYPE_CODE, "500103", 1, holder, fields)
    return LicenseClaims(ISSUER, 1_700_000_000, 1_700_000_000, None, LICENSE_ID, body)


@pytest.fixture
def person_license_claims() -> LicenseClaims:
    """A natural person's license: masked id number, salted id hash, expiry, renewal link."""
    holder = Holder(
        "张三",
        "N",
        "500103********002X",
        holder_id_hash("50010319900101002X", SALT),
        SALT,
    )
    fields: dict[str, str | int] = {"class": "C1", "points": 12, "issued_by": "重庆市公安局"}
    body = LicenseBody(
        "11100000000012345X001",
        "500000",
        2,
        holder,
        fields,
        previous=LICENSE_ID,
        seal_id="S500000000001",
    )
    return LicenseClaims(ISSUER, 1_700_000_000, 1_690_000_000, 1_890_000_000, LICENSE_ID, body)


@pytest.fixture
def argon2_person_license_claims(person_license_claims: LicenseClaims) -> LicenseClaims:
    """The natural person's license as issued now: only the check character shown, and the
    id number hashed by Argon2id ("ia") instead of SHA-256 ("ih")."""
    holder = dataclasses.replace(
        person_license_claims.body.holder,
        id_display="*****************X",
        id_hash=None,
        id_argon2=holder_id_argon2("50010319900101002X", SALT),
    )
    body = dataclasses.replace(person_license_claims.body, holder=holder)
    return dataclasses.replace(person_license_claims, body=body)


@pytest.fixture
def stamp_claims() -> StampClaims:
    body = StampBody(
        "S500103000001",
        hashlib.sha256(b"%PDF-1.7 contract").digest(),
        "合同-2024-001.pdf",
        123_456,
        "application/pdf",
    )
    return StampClaims(ISSUER, 1_700_000_000, 1_700_000_000, "ST-2024-000001", body)


def values_bomb(values: int, root_hex: str | None = None) -> bytes:
    """A bundle payload of ``values`` two-letter strings in one list (one container, so
    under any count of objects and lists), naming ``root_hex`` as its root if given."""
    root = b'"root_public_key":"%s",' % root_hex.encode() if root_hex else b""
    return (
        b'{"format":"eseal-trust-bundle/v1",'
        + root
        + b'"agencies":['
        + b'"ab",' * (values - 1)
        + b'"ab"]}'
    )


def forged_bundle(payload: bytes, keyid: bytes) -> bytes:
    """``payload`` in a bundle envelope signed by a key of the forger's, whose signature
    claims the key id ``keyid``."""
    raw = json.loads(seal_envelope(BUNDLE_TYPE, payload, nacl.signing.SigningKey.generate()))
    raw["signatures"][0]["keyid"] = keyid.hex()
    return json.dumps(raw, separators=(",", ":")).encode()
