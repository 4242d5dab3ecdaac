"""``eseal demo``'s second half: what a service window (窗口) and another region make of what
the demo issued, offline, as ``eseal verify --image F --bundle B --revocations R`` does.
Every verdict must be the one expected, or the demo fails (exit 1)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from eseal.agencies import OPERATOR, AgencyExists, add_agency
from eseal.catalog import load_catalog
from eseal.cli_common import read_file
from eseal.cli_verify import qr_of_image, window_trust
from eseal.licenses import IssueRequest, change_status, issue
from eseal.node import NODE_FILE, Node, init_node, read_config
from eseal.printing import write_atomic, write_qr
from eseal.trust_export import export_bundle, export_snapshot
from keys.errors import CheckFailed, InvalidInput
from keys.keyfile import passphrase_from_env
from verifier.pipeline import VerifyContext, verify_text
from verifier.verdict import STATUS_TEXT, Status

#: The second region (跨省通办): its node lives in the demo's data directory, on SQLite.
PEER_REGION = ("510000", "四川省")
PEER_MARKET = "11510000MB1520063Q"  # a market-regulation bureau (placeholder code)
PEER_LICENSE = IssueRequest(
    "111000000000PH001J001",
    "四川蜀味火锅餐饮有限公司",
    "91510100MA62XXXX1K",
    {
        "company_type": "有限责任公司",
        "legal_representative": "王五",
        "registered_capital": "2000000",
        "established": "2020-08-08",
        "address": "四川省成都市锦江区春熙路1号",
        "business_scope": "餐饮服务",
    },
)
REVOKE_REASON = "以欺骗手段取得许可（演示）"


class DemoVerdictUnexpected(CheckFailed):
    """A verdict at the demo's window is not the one expected (exit 1)."""

    code = "demo-verdict-unexpected"


def said(status: Status) -> str:
    """A status as the demo prints it, Chinese first: 有效 VALID."""
    return f"{STATUS_TEXT[status].split(' ', 1)[0]} {status.value}"


def open_region(
    data_dir: Path, region: tuple[str, str], *, database_url: str | None, now: int
) -> Node:
    """The node in ``data_dir``, made for ``region`` (code, name) if there is none."""
    passphrase = passphrase_from_env()
    if (data_dir / NODE_FILE).exists():
        return Node.open(data_dir, passphrase=passphrase, database_url=database_url)
    return init_node(
        data_dir,
        region=region[0],
        name=region[1],
        passphrase=passphrase,
        now=now,
        database_url=database_url,
    )


def write_bundle(node: Node, out_dir: Path, *, now: int) -> str:
    """Write the region's signed trust bundle into ``out_dir`` (``eseal bundle export``)."""
    path = out_dir / f"bundle-{node.config.region}.json"
    write_atomic(path, export_bundle(node, now=now))
    return str(path)


def write_snapshot(node: Node, path: Path, *, now: int) -> str:
    """Write the region's signed revocation snapshot (``eseal revocations export``). It
    speaks for every license issued until now (a margin of 0): the demo has committed all
    it issued before it cuts one."""
    write_atomic(path, export_snapshot(node, now=now, margin=0))
    return str(path)


@dataclass
class Window:
    """The window's offline verdicts, each with what it was given."""

    region: str
    now: int
    trust: dict[str, str] = field(default_factory=dict)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    revoked: dict[str, Any] = field(default_factory=dict)
    peer: dict[str, Any] = field(default_factory=dict)

    def check(
        self,
        step: str,
        label: str,
        qr: Path,
        expected: Status,
        *,
        text: str,
        trust: dict[str, list[str]],
        document: Path | None = None,
    ) -> None:
        """Read the QR image ``qr`` back and verify it with the ``trust`` files (its
        "bundles" and "revocations"), and ``document`` for a stamp, as ``eseal verify
        --image`` does; refuse any verdict but ``expected`` (and a VALID one with
        warnings)."""
        read = qr_of_image(qr)
        if read != text:
            raise DemoVerdictUnexpected(f"{qr} reads back as another text than was written")
        bundles, revocations = trust["bundles"], trust["revocations"]
        store, status, newest = window_trust(
            [Path(b) for b in bundles], [], [], [Path(r) for r in revocations]
        )
        ctx = VerifyContext(store, self.now, status=status, newest_seen=newest)
        given = read_file(document, "document") if document is not None else None
        verdict = verify_text(read, ctx, document=given)
        if verdict.status is not expected or (verdict.valid and verdict.warnings):
            why = "; ".join(verdict.reasons + verdict.warnings)
            raise DemoVerdictUnexpected(
                f"{label}: the window said {verdict.status.value}"
                + (f" ({why})" if why else "")
                + f", not {expected.value}"
            )
        self.verdicts.append(
            {
                "step": step,
                "label": label,
                "qr_png": str(qr),
                "document": str(document) if document is not None else None,
                "bundles": bundles,
                "revocations": revocations,
                "status": verdict.status.value,
                "status_text": STATUS_TEXT[verdict.status],
            }
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "trust": self.trust,
            "window": self.verdicts,
            "revoked": self.revoked,
            "peer": self.peer,
        }

    def print_human(self) -> None:
        def lines(step: str) -> None:
            shown = [v for v in self.verdicts if v["step"] == step]
            width = max(len(v["label"]) for v in shown)
            for v in shown:
                typer.echo(f"      {v['label']:<{width}}  {said(Status(v['status']))}")

        typer.echo(f"  exported trust bundle {self.trust['bundle']}")
        typer.echo(f"      and revocations {self.trust['revocations']}")
        typer.echo("  window 窗口 offline (eseal verify --image QR --bundle --revocations):")
        lines("issued")
        typer.echo(f"  revoked {self.revoked['qr_png']} ({self.revoked['reason']})")
        typer.echo(f"      new revocations {self.revoked['revocations']}")
        lines("revoked")
        typer.echo("  stamp with its document (--document):")
        lines("document")
        p = self.peer
        typer.echo(f"  跨省通办: region {p['region']} {p['name']}, node in {p['data_dir']}")
        typer.echo(f"      issued {p['type_name']}: {p['id']}")
        lines("cross-region")


def at_the_window(
    node: Node,
    licenses: list[dict[str, Any]],
    stamp: dict[str, Any],
    *,
    data_dir: Path,
    out_dir: Path,
    now: int,
) -> Window:
    """Export the region's trust, verify every license at the window, revoke one, verify
    the stamp with its document, and a license of another region with both regions'
    bundles."""
    region = node.config.region
    bundle = write_bundle(node, out_dir, now=now)
    first = write_snapshot(node, out_dir / f"revocations-{region}.json", now=now)
    window = Window(region, now, trust={"bundle": bundle, "revocations": first})
    for lic in licenses:
        qr = Path(lic["qr_png"])
        trust = {"bundles": [bundle], "revocations": [first]}
        window.check("issued", qr.name, qr, Status.VALID, text=lic["qr_text"], trust=trust)
    lic = licenses[1]
    change_status(node, OPERATOR, lic["id"], "revoke", reason=REVOKE_REASON, now=now)
    after = write_snapshot(node, out_dir / f"revocations-{region}-revoked.json", now=now)
    window.revoked = {
        "id": lic["id"],
        "qr_png": lic["qr_png"],
        "reason": REVOKE_REASON,
        "revocations": after,
    }
    trust = {"bundles": [bundle], "revocations": [after]}
    qr = Path(lic["qr_png"])
    window.check("revoked", qr.name, qr, Status.REVOKED, text=lic["qr_text"], trust=trust)
    original = Path(stamp["document"])
    changed = out_dir / "notice-changed.txt"
    write_atomic(changed, original.read_bytes() + "（改动）\n".encode())
    qr = Path(stamp["qr_png"])
    for document, expected in ((original, Status.VALID), (changed, Status.DOCUMENT_MISMATCH)):
        label = f"{qr.name} + {document.name}"
        window.check(
            "document", label, qr, expected, text=stamp["qr_text"], document=document, trust=trust
        )
    window.peer = cross_region(window, data_dir=data_dir, out_dir=out_dir, own=trust)
    return window


def cross_region(
    window: Window, *, data_dir: Path, out_dir: Path, own: dict[str, list[str]]
) -> dict[str, Any]:
    """跨省通办: the second region's node (made in ``data_dir`` if it is not there) issues a
    license; the window verifies it with both regions' bundles and snapshots (VALID), then
    with its own region's alone (UNKNOWN_ISSUER)."""
    region, name = PEER_REGION
    peer_dir = data_dir / f"peer-{region}"
    if (peer_dir / NODE_FILE).exists() and (held := read_config(peer_dir).region) != region:
        raise InvalidInput(
            f"{peer_dir} holds the node of region {held}, not the demo's second region "
            f"{region}: move it away"
        )
    with open_region(peer_dir, PEER_REGION, database_url=None, now=window.now) as peer:
        with contextlib.suppress(AgencyExists):
            add_agency(
                peer,
                code=PEER_MARKET,
                name="四川省市场监督管理局",
                types=[PEER_LICENSE.type_code],
                now=window.now,
            )
        issued = issue(peer, OPERATOR, PEER_MARKET, PEER_LICENSE, now=window.now)
        bundle = write_bundle(peer, out_dir, now=window.now)
        snapshot = write_snapshot(peer, out_dir / f"revocations-{region}.json", now=window.now)
        root_key_id, size = peer.root_key_id.hex(), peer.log.size()
    qr = out_dir / f"license-{region}.qr.png"
    write_qr(qr, issued.qr_text)
    both = {
        "bundles": [*own["bundles"], bundle],
        "revocations": [*own["revocations"], snapshot],
    }
    label = f"{qr.name} with bundles {window.region} + {region}"
    window.check("cross-region", label, qr, Status.VALID, text=issued.qr_text, trust=both)
    label = f"{qr.name} with bundle {window.region} alone"
    window.check("cross-region", label, qr, Status.UNKNOWN_ISSUER, text=issued.qr_text, trust=own)
    return {
        "region": region,
        "name": name,
        "data_dir": str(peer_dir),
        "root_key_id": root_key_id,
        "size": size,
        "agency": PEER_MARKET,
        "id": issued.id,
        "type_name": load_catalog().get(PEER_LICENSE.type_code).name,
        "qr_text": issued.qr_text,
        "qr_png": str(qr),
        "bundle": bundle,
        "revocations": snapshot,
    }
