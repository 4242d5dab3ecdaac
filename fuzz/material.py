"""The region the targets verify against: a node with two agencies, licenses (some revoked
or suspended), a seal and a stamp, its signed trust bundle and revocation snapshot, its
ledger, and the private keys that signed them (so a target can sign what it mutates)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from eseal.agencies import Principal
from eseal.licenses import change_status, issue
from eseal.render import qr_png
from eseal.seals import create_seal, stamp
from eseal.trust_export import export_bundle, export_snapshot
from tests.eseal.conftest import (
    HOUSING,
    MARKET,
    NOW,
    business_request,
    make_region,
    worker_request,
)

#: When the region's bundle and snapshot are cut, and when its documents are verified.
CUT = NOW + 1000
VERIFY_AT = CUT + 60


@dataclass(frozen=True)
class Material:
    texts: tuple[str, ...]  # licenses (two revoked or suspended, one a person's) and a stamp
    document: bytes  # the stamped file
    bundle: bytes
    snapshot: bytes
    entries: tuple[bytes, ...]
    checkpoints: tuple[str, ...]
    log_verifier: str
    root: SigningKey
    log: SigningKey
    signers: tuple[SigningKey, ...]  # the agency and seal keys that signed the texts
    qr_png: bytes  # the first text's QR code


def build() -> Material:
    with tempfile.TemporaryDirectory(prefix="eseal-fuzz-") as scratch:
        region = make_region(Path(scratch) / "node")
        node = region.node
        try:
            market, housing = Principal("agency", MARKET), Principal("agency", HOUSING)
            issued = [
                issue(node, market, MARKET, business_request(f"测试公司{i}"), now=NOW + i)
                for i in range(4)
            ]
            issued.append(issue(node, housing, HOUSING, worker_request(), now=NOW + 10))
            change_status(node, market, issued[0].id, "revoke", reason="fuzz", now=NOW + 20)
            change_status(node, market, issued[1].id, "suspend", reason="fuzz", now=NOW + 21)
            seal = create_seal(
                node,
                market,
                agency_code=MARKET,
                name="合同专用章",
                seal_type="contract",
                image=None,
                now=NOW + 30,
            )
            document = b"%PDF-1.7 a document to stamp"
            stamped = stamp(
                node,
                market,
                seal.id,
                document=document,
                document_name="contract.pdf",
                media_type="application/pdf",
                now=NOW + 31,
            )
            texts = (*(i.qr_text for i in issued), stamped.qr_text)
            key_ids = (region.market.key_id, region.housing.key_id, seal.key_id)
            return Material(
                texts=texts,
                document=document,
                bundle=export_bundle(node, now=CUT),
                snapshot=export_snapshot(node, now=CUT),
                entries=tuple(node.log.entries(0)),
                checkpoints=tuple(note for _, note in node.store.checkpoints()),
                log_verifier=node.config.log_verifier,
                root=node.require_root_key(),
                log=node.require_log_key(),
                signers=tuple(node.signing_key(bytes.fromhex(k)) for k in key_ids),
                qr_png=qr_png(texts[0]),
            )
        finally:
            node.close()
