"""A license's printouts over HTTP (its QR image, its printable PDF and PNG) and a seal
stamp's QR image: the bytes the node's command line writes, to the issuing agency only,
bounded in how many render at once."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from eseal.agencies import Principal
from eseal.api.app import create_app
from eseal.api.routes import printouts
from eseal.ids import make_license_id
from eseal.licenses import issue
from eseal.printing import write_qr
from eseal.render import FONT_ENV
from tests.eseal.conftest import (
    BUSINESS,
    MARKET,
    NOW,
    Region,
    business_request,
    make_region,
    run_eseal,
)
from tests.eseal.test_render import page_text
from verifier.scan import read_qr

PRINTOUTS = ("qr.png", "print.pdf", "print.png")
MEDIA = {"qr.png": "image/png", "print.pdf": "application/pdf", "print.png": "image/png"}


@dataclass
class Served:
    region: Region
    data_dir: Path
    client: TestClient
    spec: dict[str, Any]
    own: dict[str, str]
    other: dict[str, str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("printouts") / "node"
    region = make_region(data_dir)
    with TestClient(create_app(region.node)) as client:
        own = _auth(region.market.credential)
        approval = {"name": "行政审批专用章", "type": "approval"}  # stamped on the sheets
        seal = client.post("/v1/seals", json=approval, headers=own)
        assert seal.status_code == 201, seal.text
        yield Served(
            region,
            data_dir,
            client,
            client.get("/openapi.json").json(),
            own,
            _auth(region.housing.credential),
        )
    region.node.close()


def _auth(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def _issued(served: Served, **fields: str) -> Any:
    return issue(
        served.region.node, Principal("agency", MARKET), MARKET, business_request(**fields), now=NOW
    )


def _documented(served: Served, template: str, r: Any) -> str:
    """The problem type of the answer ``r``, checked to be named by its operation under
    its status; the answer a problem body, not to be kept."""
    assert r.headers["content-type"] == "application/problem+json", r.text
    assert r.headers["cache-control"] == "no-store"
    code: str = r.json()["type"].rsplit("/", 1)[1]
    response = served.spec["paths"][template]["get"]["responses"][str(r.status_code)]
    assert code in response["x-problem-types"], (template, r.status_code, code)
    return code


def test_each_printout_is_the_clis_bytes(
    served: Served,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GET …/qr.png, …/print.pdf and …/print.png answer what `eseal license print ID --qr
    --pdf --png` writes, byte for byte, each of its exact media type, private, with an
    ETag of its bytes; the QR image and the sheet's PNG scan as the license's QR text, and
    the PDF shows the license's number."""
    issued = _issued(served)
    files = {name: tmp_path / name.replace("print.", "sheet.") for name in PRINTOUTS}
    code, out, err = run_eseal(
        [
            "--data",
            str(served.data_dir),
            "license",
            "print",
            issued.id,
            "--qr",
            str(files["qr.png"]),
            "--pdf",
            str(files["print.pdf"]),
            "--png",
            str(files["print.png"]),
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0, (out, err)
    etags = set()
    for name in PRINTOUTS:
        r = served.client.get(f"/v1/licenses/{issued.id}/{name}", headers=served.own)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == MEDIA[name]
        assert r.headers["cache-control"] == "private, no-cache"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.content == files[name].read_bytes(), name
        etags.add(r.headers["etag"])
        documented = served.spec["paths"][f"/v1/licenses/{{license_id}}/{name}"]["get"]
        assert set(documented["responses"]["200"]["content"]) == {MEDIA[name]}
    assert len(etags) == 3
    qr = served.client.get(f"/v1/licenses/{issued.id}/qr.png", headers=served.own).content
    assert read_qr(qr) == issued.qr_text
    pdf = served.client.get(f"/v1/licenses/{issued.id}/print.pdf", headers=served.own).content
    assert pdf.startswith(b"%PDF-")
    assert issued.id in page_text(pdf).replace("\r\n", "").replace("\n", "")
    png = served.client.get(f"/v1/licenses/{issued.id}/print.png", headers=served.own).content
    with Image.open(io.BytesIO(png)) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size[0] < sheet.size[1]  # A4, upright
    assert read_qr(png) == issued.qr_text


def test_a_printout_is_answered_304_for_its_etag_and_anew_once_the_license_changed(
    served: Served,
) -> None:
    """A client keeping a printout asks again with its ETag: 304 while the sheet is the
    same; once the license is suspended the sheet says so (已暂停, as the CLI prints it),
    under another ETag, and the one kept is answered with the new sheet."""
    issued = _issued(served)
    path = f"/v1/licenses/{issued.id}/print.pdf"
    first = served.client.get(path, headers=served.own)
    assert "已暂停" not in page_text(first.content)
    etag = first.headers["etag"]
    again = served.client.get(path, headers={**served.own, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "private, no-cache"
    suspended = served.client.post(
        f"/v1/licenses/{issued.id}/suspend", json={"reason": "停业整改"}, headers=served.own
    )
    assert suspended.status_code == 200, suspended.text
    changed = served.client.get(path, headers={**served.own, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert "已暂停 SUSPENDED" in page_text(changed.content)
    # The QR image is of the text, which a status change does not touch.
    qr = f"/v1/licenses/{issued.id}/qr.png"
    kept = served.client.get(qr, headers=served.own).headers["etag"]
    assert served.client.get(qr, headers={**served.own, "If-None-Match": kept}).status_code == 304


@pytest.mark.parametrize("name", PRINTOUTS)
def test_a_printout_is_only_the_issuing_agencys(served: Served, name: str) -> None:
    """As GET /v1/licenses/{id}: no credential 401 (with the Bearer challenge), another
    agency's 403 forbidden (the answer that operation gives it), an unknown id 404
    unknown-license, a malformed one 400 invalid-license-id; each as documented."""
    issued = _issued(served)
    template = f"/v1/licenses/{{license_id}}/{name}"
    path = f"/v1/licenses/{issued.id}/{name}"
    anonymous = served.client.get(path)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert _documented(served, template, anonymous) == "not-authenticated"
    other = served.client.get(path, headers=served.other)
    as_read = served.client.get(f"/v1/licenses/{issued.id}", headers=served.other)
    assert (other.status_code, other.json()["type"]) == (403, as_read.json()["type"])
    assert _documented(served, template, other) == "forbidden"
    unknown = make_license_id(BUSINESS, MARKET, "NOSUCH")
    r = served.client.get(f"/v1/licenses/{unknown}/{name}", headers=served.own)
    assert r.status_code == 404
    assert _documented(served, template, r) == "unknown-license"
    bad = issued.id[:-1] + ("A" if issued.id[-1] != "A" else "B")
    r = served.client.get(f"/v1/licenses/{bad}/{name}", headers=served.own)
    assert r.status_code == 400
    assert _documented(served, template, r) == "invalid-license-id"
    assert "check character" in r.json()["detail"]
    refused = served.client.post(path, headers=served.own)
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD"
    head = served.client.head(path, headers=served.own)
    assert head.status_code == 200
    assert head.headers["content-type"] == MEDIA[name]


def test_without_the_cjk_font_a_sheet_is_a_503_and_the_qr_is_served(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node without its CJK font answers a sheet with 503 font-missing, naming what to
    install (the CLI's check); a QR image needs no font."""
    issued = _issued(served)
    monkeypatch.setenv(FONT_ENV, "/nonexistent/font.ttf")
    for name in ("print.pdf", "print.png"):
        r = served.client.get(f"/v1/licenses/{issued.id}/{name}", headers=served.own)
        assert r.status_code == 503, r.text
        assert _documented(served, f"/v1/licenses/{{license_id}}/{name}", r) == "font-missing"
        assert "fonts-wqy-microhei" in r.json()["detail"]
        assert "/nonexistent" not in r.text  # the operator's setting stays in the node's log
    r = served.client.get(f"/v1/licenses/{issued.id}/qr.png", headers=served.own)
    assert r.status_code == 200


def test_printouts_wait_for_a_free_renderer_and_are_refused_past_the_wait(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every render slot taken, a printout waits for one (and is served once one is
    freed); one that waits longer than the bound is a 503 renderer-busy, as documented."""
    issued = _issued(served)
    path = f"/v1/licenses/{issued.id}/qr.png"
    portal = served.client.portal
    assert portal is not None
    slots = printouts.renderers("qr")
    holders = [object() for _ in range(printouts.QR_SLOTS)]
    for holder in holders:
        portal.call(slots.acquire_on_behalf_of, holder)
    try:
        monkeypatch.setattr(printouts, "RENDER_WAIT", 0.05)
        r = served.client.get(path, headers=served.own)
        assert r.status_code == 503, r.text
        assert _documented(served, "/v1/licenses/{license_id}/qr.png", r) == "renderer-busy"
        monkeypatch.setattr(printouts, "RENDER_WAIT", 30.0)
        answers: list[Any] = []
        waiting = threading.Thread(
            target=lambda: answers.append(served.client.get(path, headers=served.own))
        )
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive()  # waiting for a slot
        assert answers == []
    finally:
        for holder in holders:
            portal.call(_release, slots, holder)
    waiting.join(30)
    assert [a.status_code for a in answers] == [200]
    assert slots.borrowed_tokens == 0


def test_a_burst_of_sheets_never_makes_a_qr_image_busy(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sheets and QR images have render slots of their own: with every sheet slot taken, a
    sheet is 503 renderer-busy but a license's and a stamp's QR image are served; with every
    QR slot taken, a QR image is 503 renderer-busy (each bound kept)."""
    issued = _issued(served)
    client, own = served.client, served.own
    seal = client.post("/v1/seals", json={"name": "合同专用章三", "type": "contract"}, headers=own)
    stamped = client.post(
        f"/v1/seals/{seal.json()['id']}/stamp", files={"file": ("a.txt", b"x")}, headers=own
    ).json()
    qr_paths = {
        "/v1/licenses/{license_id}/qr.png": f"/v1/licenses/{issued.id}/qr.png",
        "/v1/seals/{seal_id}/stamps/{stamp_id}/qr.png": (
            f"/v1/seals/{seal.json()['id']}/stamps/{stamped['id']}/qr.png"
        ),
    }
    portal = client.portal
    assert portal is not None
    monkeypatch.setattr(printouts, "RENDER_WAIT", 0.05)
    for slots, count in (
        (printouts.renderers("sheet"), printouts.SHEET_SLOTS),
        (printouts.renderers("qr"), printouts.QR_SLOTS),
    ):
        holders = [object() for _ in range(count)]
        for holder in holders:
            portal.call(slots.acquire_on_behalf_of, holder)
        try:
            sheets_held = slots is printouts.renderers("sheet")
            for name in ("print.pdf", "print.png"):
                r = client.get(f"/v1/licenses/{issued.id}/{name}", headers=own)
                assert r.status_code == (503 if sheets_held else 200), r.text
                if sheets_held:
                    template = f"/v1/licenses/{{license_id}}/{name}"
                    assert _documented(served, template, r) == "renderer-busy"
            for template, path in qr_paths.items():
                r = client.get(path, headers=own)
                assert r.status_code == (200 if sheets_held else 503), r.text
                if sheets_held:
                    assert r.headers["content-type"] == "image/png"
                else:
                    assert _documented(served, template, r) == "renderer-busy"
        finally:
            for holder in holders:
                portal.call(_release, slots, holder)
        assert slots.borrowed_tokens == 0


async def _release(slots: Any, holder: object) -> None:
    slots.release_on_behalf_of(holder)


def test_a_stamps_qr_image_is_its_text_to_its_agency_only(served: Served, tmp_path: Path) -> None:
    """GET /v1/seals/{seal_id}/stamps/{stamp_id}/qr.png: the QR of the text the stamp was
    answered with, the PNG `eseal seal stamp --qr FILE.png` writes; to the seal's agency
    only; a malformed stamp id 400 invalid-stamp-id, an unknown one (or another seal's)
    404 unknown-stamp; each as documented."""
    client, own = served.client, served.own
    template = "/v1/seals/{seal_id}/stamps/{stamp_id}/qr.png"
    seals = [
        client.post("/v1/seals", json={"name": name, "type": "contract"}, headers=own).json()["id"]
        for name in ("合同专用章", "合同专用章二")
    ]
    stamped = client.post(
        f"/v1/seals/{seals[0]}/stamp", files={"file": ("a.txt", b"notice")}, headers=own
    ).json()
    path = f"/v1/seals/{seals[0]}/stamps/{stamped['id']}/qr.png"
    r = client.get(path, headers=own)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "private, no-cache"
    assert read_qr(r.content) == stamped["qr_text"]
    write_qr(tmp_path / "stamp.png", stamped["qr_text"])
    assert r.content == (tmp_path / "stamp.png").read_bytes()
    anonymous = client.get(path)
    assert (anonymous.status_code, _documented(served, template, anonymous)) == (
        401,
        "not-authenticated",
    )
    other = client.get(path, headers=served.other)
    assert (other.status_code, _documented(served, template, other)) == (403, "forbidden")
    serial = stamped["id"].rsplit(".", 1)[1]
    unknown = "0123456789" if serial != "0123456789" else "9876543210"
    for seal_id, stamp_id in (
        (seals[0], f"{seals[0]}.{unknown}"),
        (seals[1], stamped["id"]),  # another seal's stamp
        (seals[1], f"{seals[1]}.{serial}"),
    ):
        r = client.get(f"/v1/seals/{seal_id}/stamps/{stamp_id}/qr.png", headers=own)
        assert (r.status_code, _documented(served, template, r)) == (404, "unknown-stamp")
    unknown_seal = seals[0][:-1] + ("0" if seals[0][-1] != "0" else "1")
    r = client.get(f"/v1/seals/{unknown_seal}/stamps/{unknown_seal}.{serial}/qr.png", headers=own)
    assert (r.status_code, _documented(served, template, r)) == (404, "unknown-seal")
    for stamp_id in (
        stamped["id"].lower(),
        stamped["id"][:-1],
        stamped["id"] + "0",
        f"{seals[0]}-{serial}",
        "11500000MB1613521A" + stamped["id"][18:],  # the seal's credit code, check spoilt
    ):
        r = client.get(f"/v1/seals/{seals[0]}/stamps/{stamp_id}/qr.png", headers=own)
        assert (r.status_code, _documented(served, template, r)) == (400, "invalid-stamp-id")
    r = client.get(f"/v1/seals/X/stamps/{stamped['id']}/qr.png", headers=own)
    assert (r.status_code, _documented(served, template, r)) == (400, "invalid-seal-id")
