"""``eseal demo``: a region's main job end to end on the embedded default (SQLite)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from eseal.node import NODE_FILE, Node, init_node
from keys import ed25519
from keys.keyfile import passphrase_from_env
from keys.statements import KeyStatement, KeyStatus, Role, certify
from ledger.audit import audit
from ledger.entries import Entry, digest
from ledger.log import LogKeyLocked
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion

DEMO_REGION = ("500000", "重庆市")
#: Sample agencies: (unified social credit code, license types they may issue).
DEMO_AGENCIES = (
    ("11500000MB16135217", ("11100000000013338W032",)),
    ("115000000093416394", ("11100000000013338W001", "11100000000013338W002")),
)
YEAR = 365 * 86400


@dataclass
class DemoResult:
    data_dir: str
    region: str
    size: int = 0
    checkpoint: str = ""
    agency_key_ids: dict[str, str] = field(default_factory=dict)
    proofs_verified: int = 0
    audit_ok: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def print_human(self) -> None:
        typer.echo(f"eseal demo — region {self.region}, data in {self.data_dir}")
        for code, kid in self.agency_key_ids.items():
            typer.echo(f"  agency {code}: key {kid}")
        typer.echo(f"  ledger size {self.size}; {self.proofs_verified} proofs verified")
        typer.echo(f"  audit: {'OK' if self.audit_ok else 'FAILED'}")
        typer.echo("")
        typer.echo(self.checkpoint, nl=False)


def run_demo(data_dir: Path, *, database_url: str | None, now: int) -> DemoResult:
    passphrase = passphrase_from_env()
    if (data_dir / NODE_FILE).exists():
        node = Node.open(data_dir, passphrase=passphrase, database_url=database_url)
    else:
        node = init_node(
            data_dir,
            region=DEMO_REGION[0],
            name=DEMO_REGION[1],
            passphrase=passphrase,
            now=now,
            database_url=database_url,
        )
    with node:
        if node.root_key is None:
            raise LogKeyLocked("the demo needs the root key (set ESEAL_PASSPHRASE)")
        result = DemoResult(data_dir=str(data_dir), region=node.config.region)
        before = node.log.size()
        drafts = []
        for code, scope in DEMO_AGENCIES:
            key = ed25519.generate()
            statement = certify(
                node.root_key,
                KeyStatement(
                    role=Role.AGENCY,
                    subject=code,
                    public_key=bytes(key.verify_key),
                    scope=scope,
                    not_before=now,
                    not_after=now + 5 * YEAR,
                    status=KeyStatus.ACTIVE,
                    issued_at=now,
                    issuer_key_id=ed25519.key_id(bytes(node.root_key.verify_key)),
                ),
            ).to_bytes()
            kid = ed25519.key_id(bytes(key.verify_key))
            result.agency_key_ids[code] = kid.hex()
            drafts.append(
                Entry(
                    "agency.add",
                    now,
                    node.config.region,
                    code,
                    digest(statement),
                    ed25519.key_id(bytes(node.root_key.verify_key)),
                    body=statement,
                )
            )
        appended = node.log.append(drafts)
        size = appended.size
        for index in range(size):
            n, proof = node.log.inclusion_proof(index)
            verify_inclusion(leaf_hash(node.log.entry(index)), index, n, proof, appended.root)
            result.proofs_verified += 1
        if before:
            proof = node.log.consistency_proof(before, size)
            verify_consistency(before, size, proof, node.log.root_hash(before), appended.root)
            result.proofs_verified += 1
        report = audit(node.store, node.log_verifier)
        result.size = size
        result.checkpoint = node.log.checkpoint()
        result.audit_ok = report.ok
        return result


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
