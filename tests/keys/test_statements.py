"""Key statements: golden encoding, strict decoding, and the attacks a statement chain must stop."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cbor2
import nacl.signing
import pytest

from keys import ed25519
from keys.ed25519 import WeakPublicKey
from keys.errors import CheckFailed, InvalidInput
from keys.statements import (
    DOMAIN,
    KeyExpired,
    KeyNotValidAt,
    KeyNotYetValid,
    KeyRevoked,
    KeyStatement,
    KeyStatus,
    MalformedChain,
    MalformedStatement,
    OutOfScope,
    Role,
    RoleMismatch,
    SignedStatement,
    StatementSignatureInvalid,
    WrongIssuer,
    certify,
    verify_statement_chain,
)

NOW = 1_750_000_000
NOT_BEFORE = 1_700_000_000
NOT_AFTER = 1_900_000_000
LICENSE_TYPE = "11100000000013338W032"
OTHER_TYPE = "11100000000013338W033"
AGENCY_CODE = "91500000MA5U1234X1"

# Fixed keys make the golden encoding reproducible (Ed25519 signatures are deterministic).
ROOT = nacl.signing.SigningKey(bytes(range(32)))
ROOT_PUBLIC = ROOT.verify_key.encode()
AGENCY = nacl.signing.SigningKey(bytes(range(1, 33)))
GOLDEN_STATEMENT = bytes.fromhex(
    "aa"  # map(10), keys in deterministic order: shorter first, then bytewise
    "617601"  # "v": 1
    "62706b5820"  # "pk": bstr(32), the public key of AGENCY
    "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"
    "62737466616374697665"  # "st": "active"
    "636578701a713fb300"  # "exp": 1900000000
    "636961741a6553f100"  # "iat": 1700000000
    "636973734856475aa75463474c"  # "iss": bstr(8), the key id of ROOT
    "636e62661a6553f100"  # "nbf": 1700000000
    "637375627239313530303030304d413555313233345831"  # "sub": "91500000MA5U1234X1"
    "64726f6c65666167656e6379"  # "role": "agency"
    "6573636f70658175313131303030303030303030313333333857303332"  # "scope": [LICENSE_TYPE]
)


def _statement(**changes: Any) -> KeyStatement:
    fields: dict[str, Any] = {
        "role": Role.AGENCY,
        "subject": AGENCY_CODE,
        "public_key": AGENCY.verify_key.encode(),
        "scope": (LICENSE_TYPE,),
        "not_before": NOT_BEFORE,
        "not_after": NOT_AFTER,
        "issued_at": NOT_BEFORE,
    }
    return KeyStatement(**(fields | changes))


def _check(chain: list[SignedStatement], **kwargs: Any) -> KeyStatement:
    options: dict[str, Any] = {"at": NOW, "role": Role.AGENCY, "license_type": LICENSE_TYPE}
    return verify_statement_chain(chain, ROOT_PUBLIC, **(options | kwargs))


def _signed_map(signer: nacl.signing.SigningKey, fields: dict[str, Any]) -> SignedStatement:
    body = cbor2.dumps(fields, canonical=True)
    return SignedStatement(body, ed25519.sign(signer, DOMAIN + body))


def test_golden_encoding() -> None:
    signed = certify(ROOT, _statement())
    assert signed.statement_bytes == GOLDEN_STATEMENT
    assert signed.to_bytes()[:3] == bytes.fromhex("82589b")  # [bstr(155), ...]
    assert signed.statement.issuer_key_id == ed25519.key_id(ROOT_PUBLIC)


def test_round_trip() -> None:
    statement = _statement(scope=(LICENSE_TYPE, OTHER_TYPE))
    signed = certify(ROOT, statement)
    decoded = SignedStatement.from_bytes(signed.to_bytes())
    assert decoded == signed
    assert decoded.statement == replace(statement, issuer_key_id=ed25519.key_id(ROOT_PUBLIC))
    assert KeyStatement.from_bytes(signed.statement_bytes) == decoded.statement
    assert decoded.statement.key_id == ed25519.key_id(AGENCY.verify_key.encode())
    assert _check([decoded]) == decoded.statement


def test_valid_two_link_chain() -> None:
    seal = ed25519.generate()
    seal_statement = _statement(
        role=Role.SEAL, subject="seal-0001", public_key=seal.verify_key.encode()
    )
    chain = [certify(ROOT, _statement()), certify(AGENCY, seal_statement)]
    leaf = _check(chain, role=Role.SEAL)
    assert leaf.public_key == seal.verify_key.encode()
    assert leaf.issuer_key_id == ed25519.key_id(AGENCY.verify_key.encode())


def test_statement_signed_by_other_key_is_refused() -> None:
    impostor = ed25519.generate()
    with pytest.raises(WrongIssuer):
        _check([certify(impostor, _statement())])
    # The impostor claims the root's key id: the signature check must catch it.
    root_id = ed25519.key_id(ROOT_PUBLIC)
    body = replace(_statement(), issuer_key_id=root_id).to_bytes()
    forged = SignedStatement(body, ed25519.sign(impostor, DOMAIN + body))
    with pytest.raises(StatementSignatureInvalid):
        _check([forged])


def test_signature_without_domain_separation_is_refused() -> None:
    body = replace(_statement(), issuer_key_id=ed25519.key_id(ROOT_PUBLIC)).to_bytes()
    with pytest.raises(StatementSignatureInvalid):
        _check([SignedStatement(body, ed25519.sign(ROOT, body))])


def test_signature_moved_to_another_statement_is_refused() -> None:
    genuine = certify(ROOT, _statement())
    widened = certify(ROOT, _statement(scope=(LICENSE_TYPE, OTHER_TYPE)))
    with pytest.raises(StatementSignatureInvalid):
        _check([SignedStatement(widened.statement_bytes, genuine.signature)])


def test_links_out_of_order_are_refused() -> None:
    seal = _statement(
        role=Role.SEAL, subject="seal-1", public_key=ed25519.generate().verify_key.encode()
    )
    chain = [certify(AGENCY, seal), certify(ROOT, _statement())]
    with pytest.raises(WrongIssuer):
        _check(chain, role=Role.SEAL)


def test_revoked_key_is_refused() -> None:
    with pytest.raises(KeyRevoked):
        _check([certify(ROOT, _statement(status=KeyStatus.REVOKED))])
    signed = certify(ROOT, _statement())
    with pytest.raises(KeyRevoked):
        _check([signed], revoked_key_ids={signed.statement.key_id})
    with pytest.raises(KeyRevoked):
        _check([signed], revoked_key_ids=[ed25519.key_id(ROOT_PUBLIC)])
    assert _check([signed], revoked_key_ids={bytes(8)}) == signed.statement


def test_key_certified_by_a_revoked_key_is_refused() -> None:
    seal = _statement(
        role=Role.SEAL, subject="seal-1", public_key=ed25519.generate().verify_key.encode()
    )
    agency = certify(ROOT, _statement())
    chain = [agency, certify(AGENCY, seal)]
    with pytest.raises(KeyRevoked):
        _check(chain, role=Role.SEAL, revoked_key_ids={agency.statement.key_id})


def test_expired_key_is_refused() -> None:
    signed = certify(ROOT, _statement())
    assert _check([signed], at=NOT_AFTER) == signed.statement
    with pytest.raises(KeyExpired):
        _check([signed], at=NOT_AFTER + 1)


def test_not_yet_valid_key_is_refused() -> None:
    signed = certify(ROOT, _statement())
    assert _check([signed], at=NOT_BEFORE) == signed.statement
    with pytest.raises(KeyNotYetValid):
        _check([signed], at=NOT_BEFORE - 1)


def test_expired_intermediate_key_is_refused() -> None:
    seal = _statement(
        role=Role.SEAL, subject="seal-1", public_key=ed25519.generate().verify_key.encode()
    )
    chain = [certify(ROOT, _statement(not_after=NOW - 1)), certify(AGENCY, seal)]
    with pytest.raises(KeyNotValidAt):
        _check(chain, role=Role.SEAL)


def test_type_outside_scope_is_refused() -> None:
    signed = certify(ROOT, _statement())
    with pytest.raises(OutOfScope, match=OTHER_TYPE):
        _check([signed], license_type=OTHER_TYPE)
    assert _check([signed], license_type=None) == signed.statement


def test_seal_wider_than_its_agency_is_refused() -> None:
    seal = _statement(
        role=Role.SEAL,
        subject="seal-1",
        public_key=ed25519.generate().verify_key.encode(),
        scope=(LICENSE_TYPE, OTHER_TYPE),
    )
    chain = [certify(ROOT, _statement()), certify(AGENCY, seal)]
    with pytest.raises(OutOfScope):
        _check(chain, role=Role.SEAL, license_type=OTHER_TYPE)


def test_role_confusion_is_refused() -> None:
    signed = certify(ROOT, _statement())
    for role in (Role.SEAL, Role.LOG, Role.WITNESS):
        with pytest.raises(RoleMismatch):
            _check([signed], role=role, license_type=None)
    # A witness key may not certify a seal key, even one the root would accept.
    witness = nacl.signing.SigningKey(bytes(range(2, 34)))
    witness_statement = _statement(
        role=Role.WITNESS, subject="peer", public_key=witness.verify_key.encode(), scope=()
    )
    seal = _statement(
        role=Role.SEAL, subject="seal-1", public_key=ed25519.generate().verify_key.encode()
    )
    chain = [certify(ROOT, witness_statement), certify(witness, seal)]
    with pytest.raises(RoleMismatch):
        _check(chain, role=Role.SEAL)


def test_chain_length_is_bounded() -> None:
    with pytest.raises(MalformedChain):
        _check([])
    with pytest.raises(MalformedChain):
        _check([certify(ROOT, _statement())] * 5)


def test_certify_refuses_weak_subject_key() -> None:
    with pytest.raises(WeakPublicKey):
        certify(ROOT, _statement(public_key=bytes([1]) + bytes(31)))


def test_unsigned_statement_has_no_encoding() -> None:
    with pytest.raises(MalformedStatement, match="certify"):
        _statement().to_bytes()


@pytest.mark.parametrize(
    "changes",
    [
        {"version": 2},
        {"version": True},
        {"role": "agency"},
        {"status": "active"},
        {"subject": ""},
        {"subject": "x" * 257},
        {"public_key": bytes(31)},
        {"scope": [LICENSE_TYPE]},
        {"scope": ("",)},
        {"scope": (LICENSE_TYPE, LICENSE_TYPE)},
        {"role": Role.LOG},
        {"not_before": NOT_AFTER + 1},
        {"not_after": -1},
        {"issued_at": 1.5},
        {"issued_at": 2**63},
        {"issuer_key_id": bytes(7)},
    ],
    ids=repr,
)
def test_malformed_statement_values_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(MalformedStatement):
        _statement(**changes)


def _fields() -> dict[str, Any]:
    decoded: dict[str, Any] = cbor2.loads(GOLDEN_STATEMENT)
    return decoded


@pytest.mark.parametrize(
    "changes",
    [
        {"v": 2},
        {"role": "root"},
        {"role": 1},
        {"st": "suspended"},
        {"pk": bytes(33)},
        {"pk": "text"},
        {"iss": bytes(7)},
        {"iss": b""},
        {"scope": LICENSE_TYPE},
        {"scope": [1]},
        {"nbf": -5},
        {"exp": 2**64},
        {"sub": b"bytes"},
        {"extra": 1},
    ],
    ids=repr,
)
def test_malformed_encoded_statement_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(MalformedStatement):
        _signed_map(ROOT, _fields() | changes)


def test_missing_field_is_refused() -> None:
    fields = _fields()
    del fields["scope"]
    with pytest.raises(MalformedStatement):
        _signed_map(ROOT, fields)


def test_non_canonical_cbor_is_refused() -> None:
    good = certify(ROOT, _statement())
    fields = _fields()
    reordered = cbor2.dumps(dict(reversed(list(fields.items()))))  # keys out of order
    long_int = GOLDEN_STATEMENT.replace(bytes.fromhex("617601"), bytes.fromhex("61761801"), 1)
    indefinite = bytes.fromhex("bf") + GOLDEN_STATEMENT[1:] + bytes.fromhex("ff")
    for body in (reordered, long_int, indefinite, GOLDEN_STATEMENT + b"\x00"):
        assert cbor2.loads(body) == fields
        with pytest.raises(MalformedStatement, match="deterministic"):
            SignedStatement(body, ed25519.sign(ROOT, DOMAIN + body))
    wrapper = good.to_bytes()
    # [bstr(155)] written with a 2-byte length instead of 1.
    long_length = bytes.fromhex("8259009b") + wrapper[3:]
    for data in (long_length, wrapper + b"\x00", bytes.fromhex("9f") + wrapper[1:] + b"\xff"):
        with pytest.raises(MalformedStatement):
            SignedStatement.from_bytes(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80",
        cbor2.dumps([b"x"]),
        cbor2.dumps([b"x", b"y", b"z"]),
        cbor2.dumps({"a": 1}),
        cbor2.dumps([GOLDEN_STATEMENT, bytes(63)]),
        cbor2.dumps([GOLDEN_STATEMENT, "sig"]),
        cbor2.dumps([b"\x00" * 5000, bytes(64)]),
        cbor2.dumps(cbor2.CBORTag(55799, [GOLDEN_STATEMENT, bytes(64)])),
        b"\x5b" + b"\xff" * 8,  # a byte string claiming 2^64 - 1 bytes
    ],
    ids=lambda d: d[:8].hex(),
)
def test_malformed_signed_statement_is_refused(data: bytes) -> None:
    with pytest.raises(MalformedStatement):
        SignedStatement.from_bytes(data)


def test_zero_signature_decodes_but_fails_the_check() -> None:
    signed = SignedStatement.from_bytes(cbor2.dumps([GOLDEN_STATEMENT, bytes(64)]))
    with pytest.raises(StatementSignatureInvalid):
        _check([signed])


def test_size_is_bounded() -> None:
    data = certify(ROOT, _statement()).to_bytes()
    with pytest.raises(MalformedStatement):
        SignedStatement.from_bytes(data, max_size=len(data) - 1)
    assert SignedStatement.from_bytes(data, max_size=len(data)).to_bytes() == data


def test_every_single_bit_change_fails() -> None:
    seal = _statement(
        role=Role.SEAL, subject="seal-1", public_key=ed25519.generate().verify_key.encode()
    )
    chain = [certify(ROOT, _statement()), certify(AGENCY, seal)]
    for link in range(len(chain)):
        data = chain[link].to_bytes()
        mangled_inputs = [data[:cut] for cut in range(len(data))] + [data + b"\x00"]
        for i in range(len(data) * 8):
            mangled = bytearray(data)
            mangled[i // 8] ^= 1 << (i % 8)
            mangled_inputs.append(bytes(mangled))
        for mangled_data in mangled_inputs:
            try:
                mangled_link = SignedStatement.from_bytes(mangled_data)
            except InvalidInput:
                continue
            attempt = list(chain)
            attempt[link] = mangled_link
            with pytest.raises(CheckFailed):
                _check(attempt, role=Role.SEAL)


def test_error_codes_are_distinct() -> None:
    classes = (
        MalformedStatement,
        MalformedChain,
        WrongIssuer,
        StatementSignatureInvalid,
        KeyNotValidAt,
        KeyNotYetValid,
        KeyExpired,
        KeyRevoked,
        RoleMismatch,
        OutOfScope,
    )
    assert len({cls.code for cls in classes}) == len(classes)
    assert issubclass(MalformedStatement, InvalidInput)
    assert issubclass(MalformedChain, InvalidInput)
    assert all(issubclass(cls, CheckFailed) for cls in classes[2:])
