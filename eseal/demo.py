"""``eseal demo``: a region's main job end to end on the embedded default (SQLite):
register agencies, issue licenses of several types, seal a document, write their QR
codes and printable files; then verify them at a window, revoke one, verify a second
region's license (:mod:`eseal.demo_window`), prove the ledger and audit it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from eseal.agencies import OPERATOR, AgencyExists, active_key, add_agency
from eseal.catalog import load_catalog
from eseal.demo_window import Window, at_the_window, open_region
from eseal.licenses import IssueRequest, issue
from eseal.printing import write_atomic, write_license, write_qr
from eseal.sealed_copy import sealed_copy_pdf
from eseal.seals import create_seal, list_seals, stamp
from keys.errors import InvalidInput
from ledger.audit import audit
from ledger.merkle import leaf_hash, verify_inclusion
from verifier.trust import agency_of_region

DEMO_REGION = ("500000", "重庆市")
MARKET = "11500000MB16135217"  # a market-regulation bureau (placeholder code)
HOUSING = "115000000093416394"  # a housing and construction commission (placeholder code)
DEMO_AGENCIES = (
    (MARKET, "重庆市市场监督管理局", ["111000000000PH001J001", "111000000000PH001J002"]),
    (HOUSING, "重庆市住房和城乡建设委员会", ["11100000000013338W032", "11100000000013338W001"]),
)
DEMO_LICENSES = (
    (
        MARKET,
        IssueRequest(
            "111000000000PH001J001",
            "重庆山城小面餐饮有限公司",
            "91500000MA60XXXX15",
            {
                "company_type": "有限责任公司",
                "legal_representative": "张三",
                "registered_capital": "1000000",
                "established": "2021-03-15",
                "address": "重庆市渝中区解放碑民族路1号",
                "business_scope": "餐饮服务；食品销售",
            },
        ),
    ),
    (
        MARKET,
        IssueRequest(
            "111000000000PH001J002",
            "重庆山城小面餐饮有限公司",
            "91500000MA60XXXX15",
            {
                "license_number": "JY15001030012345",
                "legal_representative": "张三",
                "address": "重庆市渝中区解放碑民族路1号",
                "premises": "重庆市渝中区解放碑民族路1号",
                "main_business": "餐饮服务经营者",
                "business_items": "热食类食品制售",
            },
        ),
    ),
    (
        HOUSING,
        IssueRequest(
            "11100000000013338W032",
            "李四",
            "11010519491231002X",
            {
                "certificate_number": "渝建安A(2024)0012345",
                "operation_category": "建筑电工",
                "first_issued": "2024-05-20",
                "employer": "重庆建工集团股份有限公司",
            },
        ),
    ),
)


@dataclass
class DemoResult:
    data_dir: str
    region: str
    agency_key_ids: dict[str, str] = field(default_factory=dict)
    licenses: list[dict[str, Any]] = field(default_factory=list)
    stamp: dict[str, Any] = field(default_factory=dict)
    size: int = 0
    checkpoint: str = ""
    proofs_verified: int = 0
    audit_ok: bool = False
    window: Window | None = None

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "window"}
        return out | (self.window.to_json() if self.window is not None else {})

    def print_human(self) -> None:
        typer.echo(f"eseal demo — region {self.region} {DEMO_REGION[1]}, data in {self.data_dir}")
        for code, kid in self.agency_key_ids.items():
            typer.echo(f"  agency {code}: signing key {kid}")
        for lic in self.licenses:
            typer.echo(f"  issued {lic['type_name']}: {lic['id']}")
            typer.echo(f"      QR {lic['qr_png']}  license {lic['pdf']}")
        typer.echo(f"  sealed {self.stamp['document']} with {self.stamp['seal_id']}")
        typer.echo(f"      QR {self.stamp['qr_png']}  sealed copy {self.stamp['pdf']}")
        if self.window is not None:
            self.window.print_human()
        typer.echo(
            f"  ledger: {self.size} entries, {self.proofs_verified} inclusion proofs "
            f"verified, audit {'OK' if self.audit_ok else 'FAILED'}"
        )
        typer.echo("")
        typer.echo(self.checkpoint, nl=False)


def run_demo(data_dir: Path, *, database_url: str | None, now: int) -> DemoResult:
    out_dir = data_dir / "out"
    with open_region(data_dir, DEMO_REGION, database_url=database_url, now=now) as node:
        if not agency_of_region(MARKET, node.config.region):
            raise InvalidInput(
                f"the demo registers agencies of {DEMO_REGION[1]} ({DEMO_REGION[0]}), and this "
                f"node is of region {node.config.region}: run it on a new data directory "
                "(eseal --data DIR demo)"
            )
        out_dir.mkdir(exist_ok=True)  # once there is a node: a refused init leaves nothing
        result = DemoResult(data_dir=str(data_dir), region=node.config.region)
        for code, name, types in DEMO_AGENCIES:
            with contextlib.suppress(AgencyExists):
                add_agency(node, code=code, name=name, types=types, now=now)
            result.agency_key_ids[code] = active_key(node, code).key_id.hex()
            if not list_seals(node, code):
                create_seal(
                    node,
                    OPERATOR,
                    agency_code=code,
                    name="行政审批专用章",
                    seal_type="approval",
                    image=None,
                    now=now,
                )
        catalog = load_catalog()
        for n, (code, request) in enumerate(DEMO_LICENSES, start=1):
            issued = issue(node, OPERATOR, code, request, now=now)
            qr, pdf = out_dir / f"license-{n}.qr.png", out_dir / f"license-{n}.pdf"
            write_qr(qr, issued.qr_text)
            write_license(node, issued.id, pdf=pdf, png=None)
            result.licenses.append(
                {
                    "id": issued.id,
                    "type": request.type_code,
                    "type_name": catalog.get(request.type_code).name,
                    "agency": code,
                    "qr_text": issued.qr_text,
                    "qr_png": str(qr),
                    "pdf": str(pdf),
                    "ledger_index": issued.ledger_index,
                }
            )
        seal = list_seals(node, MARKET)[0]
        document = "重庆市市场监督管理局\n关于食品经营许可的通知\n（示例文件）\n".encode()
        stamped = stamp(
            node,
            OPERATOR,
            seal.id,
            document=document,
            document_name="notice.txt",
            media_type="text/plain",
            now=now,
        )
        qr, pdf = out_dir / "stamp.qr.png", out_dir / "notice.sealed.pdf"
        original = out_dir / "notice.txt"  # the file as stamped: what --document compares
        write_atomic(original, document)
        write_qr(qr, stamped.qr_text)
        write_atomic(
            pdf,
            sealed_copy_pdf(
                document,
                document_name="notice.txt",
                seal_png=bytes(seal.image),
                qr_text=stamped.qr_text,
                caption=seal.name,
            ),
        )
        result.stamp = {
            "id": stamped.id,
            "seal_id": seal.id,
            "document": str(original),
            "qr_text": stamped.qr_text,
            "qr_png": str(qr),
            "pdf": str(pdf),
        }
        result.window = at_the_window(
            node, result.licenses, result.stamp, data_dir=data_dir, out_dir=out_dir, now=now
        )
        checkpoint = node.log.latest()
        for lic in result.licenses:
            index = int(lic["ledger_index"])
            size, proof = node.log.inclusion_proof(index, checkpoint.size)
            verify_inclusion(
                leaf_hash(node.log.entry(index)), index, size, proof, checkpoint.root_hash
            )
            result.proofs_verified += 1
        result.size = checkpoint.size
        result.checkpoint = node.log.checkpoint()
        result.audit_ok = audit(node.store, node.log_verifier).ok
        return result
