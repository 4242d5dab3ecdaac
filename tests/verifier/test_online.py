"""Verification over HTTP and through a node's status API: the client checks the node's
answer (checkpoint signature, issuance entry, inclusion proof) instead of trusting it."""

from __future__ import annotations

import base64
import dataclasses
import functools
import gzip
import json
import os
import re
import threading
import time
import types
import zlib
from collections.abc import Iterator
from typing import Any, cast

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eseal import trust_export
from eseal.agencies import Principal, revoke_key, rotate_key
from eseal.api.app import create_app
from eseal.api.routes import verify as verify_routes
from eseal.ids import LicenseId
from eseal.licenses import change_status, issue
from eseal.render import qr_png
from eseal.trust_export import build_bundle, export_bundle
from keys.errors import ExternalFailure, InvalidInput
from ledger.store import StoreUnavailable
from tests.eseal.conftest import MARKET, NOW, Region, business_request, make_region
from tests.verifier.conftest import traced
from tests.verifier.test_scan_pool import cmyk_jpeg, finder_tiles_png, huge_webp
from verifier import scan_pool
from verifier.base45 import b45encode
from verifier.cose import cose_sign1_bytes
from verifier.document import LicenseClaims, decode, sign_license
from verifier.envelope import MalformedEnvelope, read_envelope
from verifier.online import NodeAnswerMalformed, NodeAnswerUnproven, OnlineStatus
from verifier.pipeline import VerifyContext, verify_text
from verifier.scan_pool import ScanPool
from verifier.trust import BUNDLE_TYPE, TrustStore, open_bundle
from verifier.verdict import Status

AGENT = Principal("agency", MARKET)
JSON_TYPE = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    r = make_region(tmp_path_factory.mktemp("online"))
    yield r
    r.node.close()


@pytest.fixture(scope="module")
def client(region: Region) -> Iterator[TestClient]:
    with TestClient(create_app(region.node)) as c:
        yield c


def _unknown_license() -> httpx.Response:
    """A node's answer for a license it never issued: its RFC 9457 problem."""
    problem = {"type": "https://eseal.invalid/problems/unknown-license", "status": 404}
    return httpx.Response(404, json=problem, headers={"content-type": "application/problem+json"})


def _store(client: TestClient, region: Region) -> TrustStore:
    raw = client.get("/v1/bundle").content
    return TrustStore([open_bundle(raw, pinned_root_key_id=region.node.root_key_id)])


def test_online_status_with_ledger_proof(region: Region, client: TestClient) -> None:
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    ctx = VerifyContext(
        _store(client, region), NOW + 60, status=OnlineStatus("http://testserver", client=client)
    )
    verdict = verify_text(issued.qr_text, ctx)
    assert verdict.status is Status.VALID, verdict.reasons
    assert verdict.freshness.status_source == "online"
    assert verdict.freshness.ledger_included is True
    change_status(region.node, AGENT, issued.id, "revoke", reason="吊销", now=NOW + 1)
    revoked = verify_text(issued.qr_text, ctx)
    assert revoked.status is Status.REVOKED
    assert (revoked.freshness.status_reason, revoked.freshness.status_since) == ("吊销", NOW + 1)


class _Liar(httpx.BaseTransport):
    """A node that answers 'valid' with a proof for another entry."""

    def __init__(self, inner: TestClient, swap: dict[str, Any]) -> None:
        self.inner, self.swap = inner, swap

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        real = self.inner.get(request.url.path)
        body = real.json() | self.swap
        return httpx.Response(200, json=body)


def test_a_lying_node_is_not_believed(region: Region, client: TestClient) -> None:
    """Another entry in place of the license's: the proof no longer holds. Proves nothing
    about the document either way: an error (CLI exit 2), not a verdict."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    other = region.node.log.entry(0)
    liar = httpx.Client(
        transport=_Liar(client, {"entry": base64.b64encode(other).decode()}), base_url="http://liar"
    )
    ctx = VerifyContext(
        _store(client, region),
        NOW + 60,
        status=OnlineStatus("http://liar", region="500000", client=liar),
    )
    with pytest.raises(NodeAnswerUnproven, match="does not check out"):
        verify_text(issued.qr_text, ctx)


def _signed_under_its_id(region: Region, text: str) -> str:
    """Another document under the license id of ``text``, signed with the agency's real
    key (a stolen key, say): one field added."""
    doc = decode(text)
    claims = doc.claims
    assert isinstance(claims, LicenseClaims)
    forged_claims = dataclasses.replace(
        claims, body=dataclasses.replace(claims.body, fields={**claims.body.fields, "注": "x"})
    )
    return sign_license(forged_claims, region.node.signing_key(doc.kid)).text


def test_an_entry_proved_for_another_document_is_not_in_ledger(
    region: Region, client: TestClient
) -> None:
    """A document signed with the agency's real key under a license id the ledger records
    for another document (a stolen key, say): the node's honest, proved answer is evidence
    against it, NOT_IN_LEDGER; the license as issued stays valid. And once that license is
    suspended, still NOT_IN_LEDGER, not SUSPENDED with the genuine license's reason (which
    would send a forger off to have "his" license reinstated)."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    forged = _signed_under_its_id(region, issued.qr_text)
    ctx = VerifyContext(
        _store(client, region),
        NOW + 60,
        status=OnlineStatus("http://testserver", region="500000", client=client),
    )
    assert verify_text(issued.qr_text, ctx).status is Status.VALID
    verdict = verify_text(forged, ctx)
    assert verdict.status is Status.NOT_IN_LEDGER, verdict.reasons
    assert verdict.freshness.ledger_included is False
    change_status(region.node, AGENT, issued.id, "suspend", reason="核查中", now=NOW + 1)
    assert verify_text(issued.qr_text, ctx).status is Status.SUSPENDED
    verdict = verify_text(forged, ctx)
    assert verdict.status is Status.NOT_IN_LEDGER, verdict.reasons
    assert "核查中" not in json.dumps(verdict.to_json(), ensure_ascii=False)
    assert verdict.freshness.ledger_included is False


def test_a_valid_answer_carries_no_reason(region: Region, client: TestClient) -> None:
    """When and why a status changed belong to a changed status: a node adding a 'reason'
    to a valid answer does not get it shown beside a valid license."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    extra = {"status_reason": "伪造的原因", "status_since": NOW, "replaced_by": "1.2.3"}
    node = httpx.Client(transport=_Liar(client, extra), base_url="http://node")
    status = OnlineStatus("http://node", region="500000", client=node)
    verdict = verify_text(
        issued.qr_text, VerifyContext(_store(client, region), NOW + 60, status=status)
    )
    assert verdict.status is Status.VALID
    fresh = verdict.freshness
    assert (fresh.status_reason, fresh.status_since, fresh.replaced_by) == (None, None, None)


class _Forger(httpx.BaseTransport):
    """A node that says a revoked license is valid ("01"), each time with one part of the
    real answer spoiled (or no answer at all)."""

    def __init__(self, inner: TestClient, spoil: str) -> None:
        self.inner, self.spoil = inner, spoil

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.spoil == "404":  # a proxy's own 404, not the node's problem answer
            return httpx.Response(404, json={"title": "not found"})
        body = self.inner.get(request.url.path).json() | {"status": "01"}
        if self.spoil == "checkpoint":
            body["checkpoint"] = body["checkpoint"].replace("\n\n", "\nx\n", 1)
        elif self.spoil == "proof":
            body["inclusion_proof"] = [base64.b64encode(bytes(32)).decode()] * len(
                body["inclusion_proof"]
            ) or [base64.b64encode(bytes(32)).decode()]
        elif self.spoil == "index":
            body["ledger_index"] = int(body["ledger_index"]) + 1
        elif self.spoil == "entry":
            body["entry"] = base64.b64encode(b"\xa1\x00\x00").decode()
        return httpx.Response(200, json=body)


@pytest.mark.parametrize("spoil", ["checkpoint", "proof", "index", "entry", "404"])
def test_a_forged_valid_answer_never_makes_a_revoked_license_valid(
    region: Region, client: TestClient, spoil: str
) -> None:
    """Each spoiled answer is an error (CLI exit 2), never VALID; and never a red verdict
    either, since a broken node proves nothing about a genuine license."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    change_status(region.node, AGENT, issued.id, "revoke", reason="x", now=NOW + 1)
    forger = httpx.Client(transport=_Forger(client, spoil), base_url="http://forger")
    ctx = VerifyContext(
        _store(client, region),
        NOW + 60,
        status=OnlineStatus("http://forger", region="500000", client=forger),
    )
    with pytest.raises(ExternalFailure):
        verify_text(issued.qr_text, ctx)


def test_a_node_is_not_asked_about_another_regions_license(
    region: Region, client: TestClient
) -> None:
    """Mutual recognition: a window trusting two regions asks its own node online; a
    license of the other region gets 'not checked' (amber), never NOT_IN_LEDGER."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    asked: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return _unknown_license()

    other_node = httpx.Client(transport=httpx.MockTransport(reply))
    store = _store(client, region)
    for node_region in ("110000", None):  # another region's node; a node of unknown region
        status = OnlineStatus("http://beijing", region=node_region, client=other_node)
        verdict = verify_text(issued.qr_text, VerifyContext(store, NOW + 60, status=status))
        assert verdict.status is Status.VALID, verdict.reasons
        assert verdict.colour == "amber"
    assert len(asked) == 1  # only the node of unknown region was asked


def test_the_terminal_sends_another_regions_license_to_its_own_node(
    region: Region, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """``eseal verify --online`` of another region's license: the summary says why the status
    went unchecked and whose node can say it, not "pass --online URL" (it was passed)."""
    from eseal.cli_verify import _summary

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    status = OnlineStatus("http://beijing", region="110000", client=httpx.Client())
    verdict = verify_text(
        issued.qr_text, VerifyContext(_store(client, region), NOW + 60, status=status)
    )
    _summary(verdict, ["http://beijing"])
    said = capsys.readouterr().out
    assert "a license of region 500000; the node is of 110000" in said, said
    assert "region 500000 is its own node's to say" in said, said
    assert "--online URL" not in said, said
    _summary(verdict)  # offline, no snapshot: the usual hint
    assert "pass --revocations FILE" in capsys.readouterr().out


def test_a_node_that_does_not_know_its_own_regions_license_says_not_in_ledger(
    region: Region, client: TestClient
) -> None:
    """Signed with a trusted agency key of this region but never recorded: red, not amber."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    with region.node.sql.write_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM license WHERE id = ?", (issued.id,))
    verdict = client.post("/v1/verify", json={"text": issued.qr_text}).json()
    assert verdict["status"] == "NOT_IN_LEDGER", verdict


def test_a_node_says_not_in_ledger_for_another_document_under_an_issued_id(
    region: Region, client: TestClient
) -> None:
    """Signed with the agency's own key under the id of a license the node issued, but not
    the document issued (a key's holder forging, say): the node's verdict is red, not the
    status of the license issued under that id."""
    from verifier.document import decode, sign_license

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    doc = decode(issued.qr_text)
    claims = doc.claims
    assert isinstance(claims, LicenseClaims)
    holder = dataclasses.replace(claims.body.holder, name="冒名顶替有限公司")
    forged_claims = dataclasses.replace(
        claims, body=dataclasses.replace(claims.body, holder=holder)
    )
    forged = sign_license(forged_claims, region.node.signing_key(doc.kid)).text
    assert client.post("/v1/verify", json={"text": issued.qr_text}).json()["status"] == "VALID"
    verdict = client.post("/v1/verify", json={"text": forged}).json()
    assert verdict["status"] == "NOT_IN_LEDGER", verdict
    assert verdict["freshness"]["ledger_included"] is False


def test_a_node_whose_issuance_entry_is_gone_says_not_in_ledger(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Found by review: the node's own verdict reads the license row's digest, and a row
    whose issuance entry is missing (a damaged store; the audit names it) was VALID with
    the entry "included". It is NOT_IN_LEDGER, as it was when the entry itself was read."""
    damaged = make_region(tmp_path_factory.mktemp("damaged"))
    try:
        issued = issue(damaged.node, AGENT, MARKET, business_request(), now=NOW)
        with TestClient(create_app(damaged.node)) as c:
            assert c.post("/v1/verify", json={"text": issued.qr_text}).json()["status"] == "VALID"
            with damaged.node.sql.write_engine.begin() as conn:
                conn.exec_driver_sql(
                    "DELETE FROM ledger_entry WHERE idx = ?", (issued.ledger_index,)
                )
            verdict = c.post("/v1/verify", json={"text": issued.qr_text}).json()
        assert verdict["status"] == "NOT_IN_LEDGER", verdict
        assert verdict["freshness"]["ledger_included"] is False
    finally:
        damaged.node.close()


def test_post_verify_text_and_image(region: Region, client: TestClient) -> None:
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    r = client.post("/v1/verify", json={"text": issued.qr_text})
    assert r.status_code == 200
    assert r.json()["status"] == "VALID"
    assert r.json()["colour"] == "green"
    r = client.post(
        "/v1/verify/image", files={"image": ("qr.png", qr_png(issued.qr_text), "image/png")}
    )
    assert r.status_code == 200
    assert r.json()["document"]["id"] == issued.id


def test_a_stamp_text_is_compared_with_its_file_in_one_multipart_request(
    region: Region, client: TestClient
) -> None:
    """A stamp pasted or scanned at the window, then compared: the text and the file in one
    multipart request (the image form's sibling)."""
    from eseal.seals import create_seal, stamp

    seal = create_seal(
        region.node,
        AGENT,
        agency_code=MARKET,
        name="合同专用章",
        seal_type="contract",
        image=None,
        now=NOW,
    )
    original = "租赁合同".encode()
    stamped = stamp(region.node, AGENT, seal.id, document=original, document_name="c.txt", now=NOW)
    app = cast(FastAPI, client.app)
    app.state.bundles.invalidate()  # the seal was made beside the API, not through it

    def post(data: dict[str, str], files: dict[str, Any]) -> httpx.Response:
        response: httpx.Response = client.post("/v1/verify", data=data, files=files)
        return response

    r = post({"text": stamped.qr_text}, {"document": ("c.txt", original, "text/plain")})
    assert r.status_code == 200
    assert r.json()["status"] == "VALID"
    assert r.json()["warnings"] == []
    r = post({"text": stamped.qr_text}, {"document": ("c.txt", b"other", "text/plain")})
    assert r.json()["status"] == "DOCUMENT_MISMATCH"
    huge = ("c.txt", b"\0" * (20 * 1024 * 1024 + 1), "text/plain")
    r = post({"text": stamped.qr_text}, {"document": huge})
    assert r.status_code == 413
    assert r.json()["type"].endswith("/document-too-large")
    png = ("qr.png", qr_png(stamped.qr_text), "image/png")
    for data, files in (
        ({"text": stamped.qr_text}, {"image": png}),  # both: which one?
        ({"text": "  "}, {"document": ("c.txt", original, "text/plain")}),
        ({"document": "not a file"}, {"image": png}),
        ({}, {"document": ("c.txt", original, "text/plain")}),
    ):
        r = post(data, files)
        assert r.status_code == 400, (data, r.text)
        assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "text",
    ["https://example.com/x", "hello", "EL1:" + "%" * 50, "EL1:AB", "ES1:" + "0" * 3000],
)
def test_not_a_license_gets_a_verdict_not_a_crash(client: TestClient, text: str) -> None:
    r = client.post("/v1/verify", json={"text": text})
    assert r.status_code == 200
    assert r.json()["status"] in {"MALFORMED", "UNSUPPORTED"}
    # Only a text that is no eseal document at all is 'not recognised' (a neutral notice at
    # the window); a damaged or unsupported EL1:/ES1: document stays red.
    assert r.json()["recognised"] is text.startswith(("EL1:", "ES1:"))


def test_a_phone_photo_sized_upload_is_accepted(region: Region, client: TestClient) -> None:
    import io

    from PIL import Image

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    photo = Image.new("RGB", (1800, 1200), (200, 190, 170))
    qr = Image.open(io.BytesIO(qr_png(issued.qr_text, scale=8))).convert("RGB")
    photo.paste(qr, (300, 100))
    buf = io.BytesIO()
    photo.save(buf, "PNG", compress_level=0)  # uncompressed: well over the 1 MiB default
    assert len(buf.getvalue()) > 2 * 1024 * 1024
    r = client.post("/v1/verify", files={"image": ("photo.png", buf.getvalue(), "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "VALID"


def test_bad_verify_requests_are_problems(client: TestClient) -> None:
    r = client.post("/v1/verify", json={"text": "x" * 5000})
    assert (r.status_code, r.json()["type"].rsplit("/", 1)[1]) == (400, "invalid-input")
    assert client.post("/v1/verify", json={}).status_code == 422
    json_type = {"content-type": "application/json"}
    utf16 = '{"text": "EL1:A"}'.encode("utf-16")
    bom = b"\xef\xbb\xbf" + b'{"text": "EL1:A"}'
    nan = b'{"text": NaN}'  # Python's json takes it; RFC 8259 has no NaN
    for bad in (
        b"{not json",
        b'{"text": "EL1:A", "text": "EL1:B"}',
        b"[" * 10_000,
        utf16,
        bom,
        nan,
    ):
        r = client.post("/v1/verify", content=bad, headers=json_type)
        assert r.status_code == 400, bad[:40]
        assert r.json()["type"].endswith("/invalid-json")
    r = client.post("/v1/verify", content=b'{"text": "EL1:A", "text": "EL1:B"}', headers=json_type)
    assert "duplicate key 'text'" in r.json()["detail"]
    for other in ("text/plain", "application/xml", ""):
        r = client.post("/v1/verify", content=b'{"text": "EL1:X"}', headers={"content-type": other})
        assert r.status_code == 415, other
        assert r.json()["type"].endswith("/unsupported-media-type")
        assert r.json()["title"] == "The request body is not of a media type the operation reads."
    r = client.post("/v1/verify", json={"text": "   "})
    assert (r.status_code, r.json()["detail"]) == (400, "the QR text is empty")
    r = client.post(
        "/v1/verify",
        json={"text": "EL1:X"},
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 200
    # A 404, and a root error (no docstring of the code's own as its title): plain phrases.
    assert client.get("/v1/nothing").json()["title"] == "Not Found"
    r = client.post("/v1/verify", files={"other": ("x.txt", b"x", "text/plain")})
    assert r.status_code == 400
    r = client.post("/v1/verify/image", files={"image": ("x.png", b"not an image", "image/png")})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    blank = qr_png("EL1:X")[:0]
    r = client.post("/v1/verify/image", files={"image": ("x.png", blank, "image/png")})
    assert r.status_code == 400
    r = client.post(
        "/v1/verify/image", files={"image": ("big.png", b"\0" * (11 * 1024 * 1024), "image/png")}
    )
    assert r.status_code == 413


def test_an_image_too_slow_to_read_is_a_problem_in_bounded_time(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 12 KB image that keeps zxing busy for seconds: the worker reading it is stopped
    at the bound and the answer is a 422 problem (here a 1 s bound instead of 5 s)."""
    pool = ScanPool(workers=1, seconds=1.0)
    monkeypatch.setattr(scan_pool._DEFAULT, "_pool", pool)
    try:
        for path, field in (("/v1/verify/image", "image"), ("/v1/verify", "image")):
            started = time.monotonic()
            r = client.post(path, files={field: ("x.png", finder_tiles_png(), "image/png")})
            assert time.monotonic() - started < 5.0
            assert r.status_code == 422, r.text
            assert r.json()["type"].endswith("/image-too-complex")
            assert r.headers["content-type"] == "application/problem+json"
        good = client.post("/v1/verify/image", files={"image": ("qr.png", qr_png("EL1:X"))})
        assert good.status_code == 200  # a verdict (invalid): the image itself was read
        assert good.json()["valid"] is False
    finally:
        pool.close()


def test_an_image_too_large_to_decode_is_a_413_problem(client: TestClient) -> None:
    """Within the file and pixel bounds but too costly to decode: a WebP over its own
    13-megapixel bound (a few dozen bytes; Pillow would take 635 MiB for it), refused from
    its header, and a 40-megapixel CMYK JPEG, refused by a worker past its memory bound.
    Both are 413 image-too-large problems on either path, and the next image reads."""
    scan_pool.close_default_pool()  # the default pool, with its default memory bound
    try:
        for data, detail in (
            (huge_webp(), "WebP image must be at most 13 megapixels"),
            (cmyk_jpeg(), "needs more memory to read than the verifier allows"),
        ):
            for path in ("/v1/verify/image", "/v1/verify"):
                r = client.post(path, files={"image": ("x.img", data, "image/webp")})
                assert r.status_code == 413, r.text
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["type"].endswith("/image-too-large")
                assert detail in r.json()["detail"]
        good = client.post("/v1/verify/image", files={"image": ("qr.png", qr_png("EL1:X"))})
        assert good.status_code == 200  # a verdict (invalid): the image itself was read
    finally:
        scan_pool.close_default_pool()


def test_a_verify_form_with_a_field_it_does_not_read_is_refused(client: TestClient) -> None:
    """A misspelt or extra part is named, not dropped: the clerk's upload would otherwise
    be judged on what the form did not say."""
    image = ("qr.png", qr_png("EL1:X"), "image/png")
    for path, files, data in (
        ("/v1/verify/image", {"image": image}, {"text": "EL1:X"}),
        ("/v1/verify/image", {"image": image, "documnet": ("a.txt", b"x")}, None),
        ("/v1/verify", {"image": image, "extra": ("a.txt", b"x")}, None),
    ):
        r = client.post(path, files=files, data=data)
        assert r.status_code == 400, (path, r.text)
        assert "is not one of" in r.json()["detail"]
    assert client.post("/v1/verify/image", files={"image": image}).status_code == 200


def test_a_json_verify_body_is_small(client: TestClient) -> None:
    """The JSON form carries one QR text (≤ 4,000 characters): 16 KiB is plenty; the
    large limit is for multipart images only, and a declared or streamed excess is 413."""
    big = b'{"text": "' + b"A" * (20 * 1024) + b'"}'
    declared = client.post("/v1/verify", content=big, headers=JSON_TYPE)
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    # Rendered as the app renders every problem (compact JSON, UTF-8).
    compact = json.dumps(declared.json(), ensure_ascii=False, separators=(",", ":"))
    assert declared.content == compact.encode()
    r = client.post("/v1/verify", content=big, headers={"content-type": "text/plain"})
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield big[:10_000]
        yield big[10_000:]

    r = client.post("/v1/verify", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["type"].endswith("/body-too-large")  # the same problem as when declared
    assert r.json()["title"] == "Request body too large"
    assert r.content == declared.content
    assert r.headers.raw == declared.headers.raw
    r = client.post("/v1/verify", json={"text": "EL1:" + "A" * 3990})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("content_type", "part"),
    [
        (b"application/json", b'{"text":"EL1'),
        (b"multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="text"'),
    ],
)
def test_a_client_leaving_mid_body_is_no_error(
    client: TestClient, content_type: bytes, part: bytes
) -> None:
    """A client that sends part of its body and leaves gets no answer, and the server
    raises nothing (it used to log an ASGI traceback for each)."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/verify",
        "raw_path": b"/v1/verify",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", content_type), (b"content-length", b"1000")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    app = cast(Any, client.app)
    anyio.run(app, scope, receive, send)
    assert sent == []


def test_a_header_given_twice_is_refused(client: TestClient) -> None:
    """Two Content-Types once let a 25 MB JSON body pass as multipart (the body limit read
    the last, the route the first). A header that may be given once, given twice, is a 400
    before anything reads the body."""
    big = b'{"text": "' + b"A" * (20 * 1024) + b'"}'
    both = [
        ("content-type", "application/json"),
        ("content-type", "multipart/form-data; boundary=x"),
    ]
    r = client.post("/v1/verify", content=big, headers=both)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/repeated-header")
    assert "content-type" in r.json()["detail"]
    twice = [("authorization", "Bearer a"), ("authorization", "Bearer b")]
    r = client.post("/v1/licenses", json={}, headers=twice)
    assert (r.status_code, r.json()["type"].rsplit("/", 1)[1]) == (400, "repeated-header")
    many = [("accept", "application/json"), ("accept", "text/html")]  # may repeat
    r = client.post("/v1/verify", json={"text": "EL1:" + "A" * 10}, headers=many)
    assert r.status_code == 200


def test_every_get_resource_answers_head_too(client: TestClient) -> None:
    for path in ("/v1/bundle", "/v1/revocations", "/", "/healthz", "/v1/ledger/checkpoint"):
        head, get = client.head(path), client.get(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
    # A 405 on a GET resource allows HEAD as well (HeadAsGet answers it), still as a problem.
    for method, path in (("PUT", "/v1/bundle"), ("POST", "/v1/bundle"), ("DELETE", "/healthz")):
        r = client.request(method, path)
        assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD"), (method, path)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 405
        assert r.json()["type"].endswith("/method-not-allowed")
    assert client.head("/v1/nothing").status_code == 404
    r = client.get("/v1/licenses/batch")  # not a license called "batch"
    assert (r.status_code, r.headers["allow"]) == (405, "POST")  # no GET, so no HEAD
    assert r.headers["content-type"] == "application/problem+json"
    r = client.head("/v1/licenses/batch")
    assert (r.status_code, r.headers["allow"]) == (405, "POST")


def test_synced_material_is_revalidated_by_caches(client: TestClient) -> None:
    """The checkpoint, bundle and snapshot (and the health check) say no-cache: a shared
    cache between the node and its windows may not answer with an old snapshot, by which a
    license revoked since would still be valid; HEAD says the same."""
    for path in ("/v1/bundle", "/v1/revocations", "/v1/ledger/checkpoint", "/healthz"):
        for r in (client.get(path), client.head(path)):
            assert r.status_code == 200, path
            assert r.headers["cache-control"] == "no-cache", path


def test_status_endpoint_is_public_and_proved(region: Region, client: TestClient) -> None:
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    r = client.get(f"/v1/licenses/{issued.id}/status")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "01"
    assert body["checkpoint"].startswith("eseal/500000")
    # A live answer: no cache may keep it (nor answer a later asker with it).
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.head(f"/v1/licenses/{issued.id}/status").headers["cache-control"] == "no-store"
    unknown = LicenseId.parse(issued.id).with_version(2)  # well formed, never issued
    assert client.get(f"/v1/licenses/{unknown}/status").status_code == 404
    posted = client.post(f"/v1/licenses/{issued.id}/status", json={})
    assert posted.status_code == 405  # read-only, whoever asks: not 401 for a missing login
    assert posted.headers["allow"] == "GET, HEAD"
    assert posted.json()["type"].endswith("/method-not-allowed")


def test_bundle_export_matches_node(region: Region) -> None:
    bundle = open_bundle(export_bundle(region.node, now=NOW))
    assert bundle.root_public_key == region.node.config.root_public_key


def test_pixel_bomb_is_refused_before_decoding(client: TestClient) -> None:
    import io
    import time

    from PIL import Image

    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")  # 400 megapixels, a few hundred KB
    assert len(bomb.getvalue()) < 2 * 1024 * 1024
    started = time.monotonic()
    r = client.post("/v1/verify", files={"image": ("bomb.png", bomb.getvalue(), "image/png")})
    assert r.status_code == 413
    assert time.monotonic() - started < 2
    # A thin strip passes the pixel bound but is longer than zxing reads: refused too.
    strip = io.BytesIO()
    Image.new("1", (1, 70_000)).save(strip, "PNG")
    for path in ("/v1/verify", "/v1/verify/image"):
        r = client.post(path, files={"image": ("strip.png", strip.getvalue(), "image/png")})
        assert r.status_code == 413, r.text
        assert r.headers["content-type"] == "application/problem+json"
    r = client.post("/v1/verify", files={"image": ("x.png", qr_png("HELLO"), "image/png")})
    assert r.status_code == 200
    assert r.json()["status"] == "UNSUPPORTED"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(min_size=1, max_size=300) | st.from_regex(r"E[LS]1:[0-9A-Z $%*+\-./:]{0,400}"))
def test_random_text_never_crashes_the_api(client: TestClient, text: str) -> None:
    r = client.post("/v1/verify", json={"text": text})
    assert r.status_code in (200, 400, 422)
    if r.status_code == 400:  # nothing but white space
        assert not text.strip()
        assert r.headers["content-type"] == "application/problem+json"
    if r.status_code == 200:
        assert r.json()["status"] in {"MALFORMED", "UNSUPPORTED", "BAD_SIGNATURE", "UNKNOWN_ISSUER"}


def _stamp(region: Region, name: str) -> tuple[str, str]:
    """(seal id, stamp text) of a new seal and one document stamped with it."""
    from eseal.seals import create_seal, stamp

    seal = create_seal(
        region.node, AGENT, agency_code=MARKET, name=name, seal_type="contract", image=None, now=NOW
    )
    stamped = stamp(region.node, AGENT, seal.id, document=b"doc", document_name="d.txt", now=NOW)
    return seal.id, stamped.qr_text


class _Edited(httpx.BaseTransport):
    """A node answering the real answer with ``edit`` applied to it."""

    def __init__(self, inner: TestClient, edit: Any) -> None:
        self.inner, self.edit = inner, edit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = self.inner.get(request.url.path).json()
        self.edit(body)
        return httpx.Response(200, json=body)


def _edited(client: TestClient, edit: Any) -> OnlineStatus:
    node = httpx.Client(transport=_Edited(client, edit), base_url="http://node")
    return OnlineStatus("http://node", region="500000", client=node)


def test_a_seal_status_is_proved_by_its_creation_and_revocation(
    region: Region, client: TestClient
) -> None:
    """Online, a stamp's seal is active with its creation entry proved; once revoked, the
    revocation entry is proved too, and its time and reason are the ledger's."""
    from eseal.seals import revoke_seal

    seal_id, text = _stamp(region, "合同章甲")
    cast(FastAPI, client.app).state.bundles.invalidate()
    store = _store(client, region)  # cut while the seal was active
    ctx = VerifyContext(
        store, NOW + 60, status=OnlineStatus("http://testserver", region="500000", client=client)
    )
    valid = verify_text(text, ctx)
    assert valid.status is Status.VALID, valid.reasons
    assert valid.freshness.status_source == "online"
    answer = client.get(f"/v1/seals/{seal_id}/status")
    assert answer.headers["cache-control"] == "no-store"  # live: a cache would keep "active"
    body = answer.json()
    assert body["status"] == "active"
    assert body["status_index"] is None
    revoke_seal(region.node, AGENT, seal_id, reason="印章遗失", now=NOW + 5)
    body = client.get(f"/v1/seals/{seal_id}/status").json()
    assert body["status"] == "revoked"
    assert body["status_index"] > body["ledger_index"]
    revoked = verify_text(text, ctx)
    assert revoked.status is Status.REVOKED, revoked.reasons
    assert (revoked.freshness.status_reason, revoked.freshness.status_since) == (
        "印章遗失",
        NOW + 5,
    )


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        pytest.param(
            lambda b: b.update(status="revoked"),
            NodeAnswerUnproven,
            "seal is revoked, but proves no revocation",
            id="revoked-without-entry",
        ),
        pytest.param(
            lambda b: b.update(
                status="revoked",
                status_index=b["ledger_index"],
                status_entry=b["entry"],
                status_proof=b["inclusion_proof"],
            ),
            NodeAnswerUnproven,
            "is not a status change of",
            id="creation-as-revocation",
        ),
        pytest.param(
            lambda b: b.update(entry=b["entry"][:-4] + "AAAA"),
            NodeAnswerUnproven,
            "does not lead to the root",
            id="spoiled-creation",
        ),
        pytest.param(
            lambda b: b.update(status="ok"),
            NodeAnswerMalformed,
            "unknown seal status",
            id="unknown-status",
        ),
        pytest.param(
            lambda b: b.pop("checkpoint"), NodeAnswerMalformed, "checkpoint", id="no-checkpoint"
        ),
    ],
)
def test_a_seal_answer_is_believed_only_as_the_ledger_proves_it(
    region: Region, client: TestClient, edit: Any, error: type[Exception], match: str
) -> None:
    """An active seal a node calls revoked with no revocation entry (or another entry as
    one), a spoiled creation entry, an unknown status, a missing checkpoint: each an error
    (CLI exit 2), neither VALID nor REVOKED."""
    _, text = _stamp(region, "合同章乙")
    cast(FastAPI, client.app).state.bundles.invalidate()
    store = _store(client, region)
    honest = OnlineStatus("http://testserver", region="500000", client=client)
    assert verify_text(text, VerifyContext(store, NOW + 60, status=honest)).valid
    ctx = VerifyContext(store, NOW + 60, status=_edited(client, edit))
    with pytest.raises(error, match=match):
        verify_text(text, ctx)


def test_another_seals_creation_entry_is_not_this_seals(region: Region, client: TestClient) -> None:
    other, _ = _stamp(region, "合同章戊")
    _, text = _stamp(region, "合同章己")
    cast(FastAPI, client.app).state.bundles.invalidate()
    theirs = client.get(f"/v1/seals/{other}/status").json()

    def borrowed(body: dict[str, Any]) -> None:
        body.update({k: theirs[k] for k in ("ledger_index", "entry", "inclusion_proof")})
        body["checkpoint"] = theirs["checkpoint"]

    ctx = VerifyContext(_store(client, region), NOW + 60, status=_edited(client, borrowed))
    with pytest.raises(NodeAnswerUnproven, match="is not the creation of seal"):
        verify_text(text, ctx)


def test_a_status_entry_for_the_same_id_but_another_document_is_not_this_licenses(
    region: Region, client: TestClient
) -> None:
    """A status change recorded under this license id but for another signed object: not
    this license's change (the digest is checked, not only the id)."""
    from eseal.licenses import get_license
    from ledger.entries import Entry

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    other_digest = bytes(32)
    assert bytes(get_license(region.node, issued.id).digest) != other_digest
    appended = region.node.append(
        [Entry("license.revoke", NOW + 1, "500000", issued.id, other_digest, bytes(8), "x")]
    )
    store = _store(client, region)

    def claimed(body: dict[str, Any]) -> None:
        index = appended.first_index
        size = int(body["checkpoint"].split("\n")[1])
        _, proof = region.node.log.inclusion_proof(index, size)
        body.update(
            status="07",
            status_index=index,
            status_entry=base64.b64encode(region.node.log.entry(index)).decode(),
            status_proof=[base64.b64encode(h).decode() for h in proof],
        )

    ctx = VerifyContext(store, NOW + 60, status=_edited(client, claimed))
    with pytest.raises(NodeAnswerUnproven, match=f"not a status change of {issued.id}"):
        verify_text(issued.qr_text, ctx)


def test_a_revoked_seal_called_active_without_its_revocation_is_refused(
    region: Region, client: TestClient
) -> None:
    """The other way round: the revocation entry kept but the status said active."""
    from eseal.seals import revoke_seal

    seal_id, text = _stamp(region, "合同章丙")
    cast(FastAPI, client.app).state.bundles.invalidate()
    store = _store(client, region)
    revoke_seal(region.node, AGENT, seal_id, reason="x", now=NOW + 5)
    ctx = VerifyContext(
        store, NOW + 60, status=_edited(client, lambda b: b.update(status="active"))
    )
    with pytest.raises(NodeAnswerUnproven, match="proves no revocation"):
        verify_text(text, ctx)


def test_a_node_cannot_call_a_valid_license_revoked_without_the_ledger(
    region: Region, client: TestClient
) -> None:
    """A node saying 07 of a valid license, with no status entry or with another license's
    revocation entry: an error, never REVOKED (which would turn a citizen away)."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    other = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    change_status(region.node, AGENT, other.id, "revoke", reason="吊销", now=NOW + 1)
    theirs = client.get(f"/v1/licenses/{other.id}/status").json()
    store = _store(client, region)

    def borrowed(body: dict[str, Any]) -> None:
        body.update({k: theirs[k] for k in ("status_index", "status_entry", "status_proof")})
        body.update(status="07", checkpoint=theirs["checkpoint"])

    for edit, why in (
        (
            lambda b: b.update(status="07", status_reason="伪造"),
            "ledger entry it proves records 01",
        ),
        (borrowed, f"not a status change of {issued.id}"),
    ):
        ctx = VerifyContext(store, NOW + 60, status=_edited(client, edit))
        with pytest.raises(NodeAnswerUnproven, match=why):
            verify_text(issued.qr_text, ctx)
    honest = VerifyContext(
        store, NOW + 60, status=OnlineStatus("http://testserver", region="500000", client=client)
    )
    assert verify_text(issued.qr_text, honest).status is Status.VALID
    assert verify_text(other.qr_text, honest).status is Status.REVOKED


@pytest.mark.parametrize(
    ("told", "recorded"),
    [("02", "07"), ("07", "02"), ("01", "02"), ("05", "07")],
)
def test_the_status_must_be_the_one_its_entry_records(
    region: Region, client: TestClient, told: str, recorded: str
) -> None:
    """The node's status code against the kind of the status entry it proves."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    action = {"02": "suspend", "07": "revoke"}[recorded]
    change_status(region.node, AGENT, issued.id, action, reason="原因", now=NOW + 1)
    ctx = VerifyContext(
        _store(client, region), NOW + 60, status=_edited(client, lambda b: b.update(status=told))
    )
    with pytest.raises(NodeAnswerUnproven, match=f"says status {told}.*records {recorded}"):
        verify_text(issued.qr_text, ctx)


def test_a_changed_status_takes_its_time_and_reason_from_the_ledger(
    region: Region, client: TestClient
) -> None:
    """The node's unsigned since/reason are not shown; the proved entry's are. A
    reinstated license is VALID with its reinstatement proved; a renewed one LAPSED with
    the renewal the lapse entry names."""
    from eseal.licenses import renew

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    change_status(region.node, AGENT, issued.id, "suspend", reason="核查中", now=NOW + 1)
    store = _store(client, region)
    lies = {"status_reason": "伪造", "status_since": 1, "replaced_by": "1.2.3"}
    ctx = VerifyContext(store, NOW + 60, status=_edited(client, lambda b: b.update(lies)))
    suspended = verify_text(issued.qr_text, ctx)
    assert suspended.status is Status.SUSPENDED
    fresh = suspended.freshness
    assert (fresh.status_reason, fresh.status_since, fresh.replaced_by) == ("核查中", NOW + 1, None)
    change_status(region.node, AGENT, issued.id, "reinstate", now=NOW + 2)
    body = client.get(f"/v1/licenses/{issued.id}/status").json()
    assert body["status"] == "01"
    assert body["status_index"] is not None
    assert verify_text(issued.qr_text, ctx).status is Status.VALID
    renewed = renew(region.node, AGENT, issued.id, now=NOW + 3)
    honest = VerifyContext(
        store, NOW + 60, status=OnlineStatus("http://testserver", region="500000", client=client)
    )
    lapsed = verify_text(issued.qr_text, honest)
    assert lapsed.status is Status.LAPSED
    assert lapsed.freshness.replaced_by == renewed.id
    assert lapsed.freshness.status_reason == f"renewed as {renewed.id}"
    other = _edited(client, lambda b: b.update(replaced_by="1.2.156.3005.2.X"))
    lied = verify_text(issued.qr_text, VerifyContext(store, NOW + 60, status=other))
    assert lied.status is Status.LAPSED
    assert lied.freshness.replaced_by is None


#: A license of Beijing: the new license of a business that moved its registration there.
BEIJING_LICENSE = "1.2.156.3005.2.111000000000PH001J001.110000.2025000001.001.R"


def _transfer_without_successor(region: Region, license_id: str, now: int) -> None:
    """A transfer as nodes recorded one before transfers named the license replacing it:
    its entry without ``to``, its row without ``replaced_by``."""
    from eseal.agencies import active_key
    from eseal.licenses import _cas_status, get_license
    from ledger.entries import Entry

    node, row = region.node, get_license(region.node, license_id)
    key = active_key(node, MARKET).key_id
    entry = Entry("license.transfer", now, "500000", license_id, bytes(row.digest), key, "迁出")
    node.append(
        [entry],
        also=lambda conn, first: _cas_status(
            conn, license_id, old="01", new="06", now=now, reason="迁出", index=first
        ),
    )


def test_a_transferred_license_is_replaced_by_the_license_its_entry_names(
    region: Region, client: TestClient
) -> None:
    """Online, a transferred license's replaced_by is its transfer entry's ``to``, whatever
    the node's answer says; a transfer recorded before transfers named one has none."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    old = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    store = _store(client, region)
    change_status(
        region.node,
        AGENT,
        issued.id,
        "transfer",
        reason="迁往北京",
        to=BEIJING_LICENSE,
        now=NOW + 1,
    )
    body = client.get(f"/v1/licenses/{issued.id}/status").json()
    assert (body["status"], body["replaced_by"]) == ("06", BEIJING_LICENSE)
    honest = OnlineStatus("http://testserver", region="500000", client=client)
    transferred = verify_text(issued.qr_text, VerifyContext(store, NOW + 60, status=honest))
    assert transferred.status is Status.TRANSFERRED
    assert transferred.freshness.replaced_by == BEIJING_LICENSE
    assert transferred.freshness.status_reason == "迁往北京"
    assert transferred.reasons[0].endswith(f": 迁往北京; replaced by {BEIJING_LICENSE}")
    for said in ("1.2.156.3005.2.X", None):
        told = _edited(client, lambda b, said=said: b.update(replaced_by=said))
        lied = verify_text(issued.qr_text, VerifyContext(store, NOW + 60, status=told))
        assert lied.freshness.replaced_by == BEIJING_LICENSE
    _transfer_without_successor(region, old.id, NOW + 2)
    body = client.get(f"/v1/licenses/{old.id}/status").json()
    assert (body["status"], body["replaced_by"]) == ("06", None)
    told = _edited(client, lambda b: b.update(replaced_by=BEIJING_LICENSE))
    unnamed = verify_text(old.qr_text, VerifyContext(store, NOW + 60, status=told))
    assert unnamed.status is Status.TRANSFERRED
    assert (unnamed.freshness.status_reason, unnamed.freshness.replaced_by) == ("迁出", None)


def test_the_cli_asks_online_only_a_node_of_a_trusted_region(
    region: Region, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eseal verify --bundle FILE --online URL: the node's own bundle must be of a root in
    the given bundles, and its region is what OnlineStatus is told."""
    from eseal import cli_verify
    from keys.errors import InvalidInput
    from verifier import online

    ours = tmp_path_factory.mktemp("cli-online") / "ours.json"
    ours.write_bytes(export_bundle(region.node, now=NOW))
    other = make_region(tmp_path_factory.mktemp("other-node"))
    try:
        served = {"bundle": export_bundle(other.node, now=NOW)}
        monkeypatch.setattr(online, "fetch_bundle", lambda _url: served["bundle"])
        with pytest.raises(InvalidInput, match="none of the given bundles"):
            cli_verify.window_trust([ours], [], ["http://other"], [])
        served["bundle"] = export_bundle(region.node, now=NOW)
        _store, status, _newest = cli_verify.window_trust([ours], [], ["http://ours"], [])
        assert isinstance(status, OnlineStatus)
        assert status.region == "500000"
    finally:
        other.node.close()


def test_the_cli_prefers_the_nodes_newer_bundle_to_a_file(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--bundle FILE --online URL: a key revoked after the file was exported is known, since
    the node's newer bundle (same root) replaces the file's; an older one does not."""
    from eseal import cli_verify
    from verifier import online

    fresh = make_region(tmp_path_factory.mktemp("cli-newer"))
    try:
        node = fresh.node
        ours = tmp_path_factory.mktemp("cli-newer-files") / "ours.json"
        ours.write_bytes(export_bundle(node, now=NOW))
        served = {"bundle": b""}
        monkeypatch.setattr(online, "fetch_bundle", lambda _url: served["bundle"])
        issued = issue(node, AGENT, MARKET, business_request(), now=NOW)
        rotate_key(node, MARKET, now=NOW + 10)
        revoke_key(node, MARKET, decode(issued.qr_text).kid.hex(), reason="leak", now=NOW + 20)
        served["bundle"] = export_bundle(node, now=NOW + 30)
        store, _status, newest = cli_verify.window_trust([ours], [], ["http://ours"], [])
        assert [b.issued_at for b in store.bundles] == [NOW + 30]
        assert newest == {"500000": NOW + 30}
        verdict = verify_text(issued.qr_text, VerifyContext(store, NOW + 40))
        assert verdict.status is Status.KEY_REVOKED
        served["bundle"] = export_bundle(node, now=NOW - 5)
        store, _status, _newest = cli_verify.window_trust([ours], [], ["http://ours"], [])
        assert [b.issued_at for b in store.bundles] == [NOW]
    finally:
        fresh.node.close()


def test_the_cli_trusts_two_regions_offline_each_pinned(
    region: Region, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Mutual recognition at an offline window: two regions' bundles and snapshots, each
    bundle pinned by its own root; each region's license gets its own snapshot's status."""
    from eseal import cli_verify
    from eseal.agencies import add_agency
    from eseal.ids import credit_code_check_char
    from eseal.node import init_node
    from eseal.trust_export import export_snapshot
    from tests.eseal.conftest import BUSINESS, PASSPHRASE
    from verifier.verdict import Status

    files = tmp_path_factory.mktemp("two-regions")
    beijing = init_node(
        files / "beijing", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW
    )
    try:
        bj_code = "11110000MB0123456" + credit_code_check_char("11110000MB0123456")
        add_agency(beijing, code=bj_code, name="北京市市场监督管理局", types=[BUSINESS], now=NOW)
        bj_agent = Principal("agency", bj_code)
        ours_license = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
        theirs = issue(
            beijing, bj_agent, bj_code, business_request("北京胡同餐饮有限公司"), now=NOW
        )
        change_status(beijing, bj_agent, theirs.id, "revoke", reason="吊销", now=NOW + 1)
        later = NOW + 1000
        paths = {}
        ahead = later + 10 * 86400  # Beijing's snapshot is cut by a clock 10 days ahead
        for name, node, cut in (("cq", region.node, later), ("bj", beijing, ahead)):
            paths[name] = files / f"{name}-bundle.json", files / f"{name}-revocations.json"
            paths[name][0].write_bytes(export_bundle(node, now=later))
            paths[name][1].write_bytes(export_snapshot(node, now=cut, margin=0))
        pins = [f"500000={region.node.root_key_id.hex()}", f"110000={beijing.root_key_id.hex()}"]
        store, status, newest = cli_verify.window_trust(
            [paths["cq"][0], paths["bj"][0]], pins, [], [paths["cq"][1], paths["bj"][1]]
        )
        # Each region's own newest signed time: Beijing's clock has no say in Chongqing's.
        assert newest == {"500000": later, "110000": ahead}
        ctx = VerifyContext(store, later + 60, status=status, newest_seen=newest)
        ours = verify_text(ours_license.qr_text, ctx)
        assert (ours.status, ours.warnings) == (Status.VALID, [])
        verdict = verify_text(theirs.qr_text, ctx)
        assert (verdict.status, verdict.warnings[:1]) == (Status.REVOKED, ["CLOCK_BEHIND"])
        # A bundle of a region with no pin, or signed by another region's pinned root, is
        # refused: no verdict (exit 2). Several pins must each name their region.
        with pytest.raises(cli_verify.TrustRefused, match="no --pin for the bundle's region"):
            cli_verify.window_trust([paths["bj"][0]], pins[:1], [], [])
        swapped = [f"500000={beijing.root_key_id.hex()}", f"110000={region.node.root_key_id.hex()}"]
        with pytest.raises(cli_verify.TrustRefused, match="is not the pinned"):
            cli_verify.window_trust([paths["cq"][0]], swapped, [], [])
        with pytest.raises(InvalidInput, match="REGION=ROOT_KEY_ID"):
            cli_verify.window_trust([paths["cq"][0]], [p.split("=")[1] for p in pins], [], [])
    finally:
        beijing.close()


def test_offline_the_newest_bundle_of_a_root_wins_and_a_region_has_one_root(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """--bundle old.json --bundle new.json (same root, a key revoked in between): the newer
    speaks, in either order. Two roots claiming one region: refused (exit 2)."""
    from eseal import cli_verify

    files = tmp_path_factory.mktemp("old-new")
    fresh = make_region(files / "node")
    other = make_region(files / "other")  # another root, also calling itself 500000
    try:
        node = fresh.node
        issued = issue(node, AGENT, MARKET, business_request(), now=NOW)
        old, new, rogue = files / "old.json", files / "new.json", files / "rogue.json"
        old.write_bytes(export_bundle(node, now=NOW))
        rotate_key(node, MARKET, now=NOW + 10)
        revoke_key(node, MARKET, decode(issued.qr_text).kid.hex(), reason="leak", now=NOW + 20)
        new.write_bytes(export_bundle(node, now=NOW + 30))
        rogue.write_bytes(export_bundle(other.node, now=NOW + 30))
        for order in ([old, new], [new, old]):
            store, _status, _newest = cli_verify.window_trust(order, [], [], [])
            assert [b.issued_at for b in store.bundles] == [NOW + 30]
            verdict = verify_text(issued.qr_text, VerifyContext(store, NOW + 40))
            assert verdict.status is Status.KEY_REVOKED, order
        with pytest.raises(cli_verify.TrustRefused, match="two root keys claim region 500000"):
            cli_verify.window_trust([new, rogue], [], [], [])
        # One root signing bundles of two regions is refused too, whichever comes first.
        bundle = build_bundle(node, now=NOW + 30)
        elsewhere = dataclasses.replace(bundle, region="110000")
        with pytest.raises(cli_verify.TrustRefused, match="two regions"):
            cli_verify.newest_per_root([bundle, elsewhere])
    finally:
        fresh.node.close()
        other.node.close()


def test_the_apps_status_reader_closes_with_the_app(region: Region) -> None:
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    app = create_app(region.node)
    with TestClient(app) as c:
        assert c.post("/v1/verify", json={"text": issued.qr_text}).json()["status"] == "VALID"
        assert len(app.state.status._own) == 1  # the event loop thread's connection
    assert app.state.status._closed
    with pytest.raises(StoreUnavailable, match="closed"):
        app.state.status._read_status(issued.id)


@pytest.mark.parametrize(
    "answer",
    [b"{}", b"[1, 2]", b"null", b'"01"', b'{"status": "01"}', b'{"status": ["01"]}', b"{"],
)
def test_a_malformed_node_answer_is_an_error_not_a_verdict(
    region: Region, client: TestClient, answer: bytes
) -> None:
    """A broken node or proxy answering junk proves nothing about the license: an error
    (CLI exit 2), never a red NOT_IN_LEDGER for a genuine license, never VALID."""
    from verifier.online import NodeAnswerMalformed

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)

    def reply(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answer, headers={"content-type": "application/json"})

    broken = httpx.Client(transport=httpx.MockTransport(reply), base_url="http://broken")
    status = OnlineStatus("http://broken", region="500000", client=broken)
    ctx = VerifyContext(_store(client, region), NOW + 60, status=status)
    with pytest.raises(NodeAnswerMalformed):
        verify_text(issued.qr_text, ctx)


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _other_spelling(encoded: str) -> str:
    """``encoded`` (padded base64) with the unused low bits of its last character set: the
    same bytes to a lax decoder, not the one spelling of them."""
    last = len(encoded.rstrip("=")) - 1
    other = encoded[:last] + _B64[_B64.index(encoded[last]) | 1] + encoded[last + 1 :]
    assert other != encoded
    assert base64.b64decode(other, validate=True) == base64.b64decode(encoded)
    return other


def _first_hash_respelled(body: dict[str, Any]) -> None:
    body["inclusion_proof"][0] = _other_spelling(body["inclusion_proof"][0])


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            lambda b: b.update(inclusion_proof=dict.fromkeys(b["inclusion_proof"], 0)),
            id="proof-as-an-object",
        ),
        pytest.param(_first_hash_respelled, id="proof-hash-not-canonical"),
        pytest.param(
            lambda b: b.update(entry=_other_spelling(b["entry"])), id="entry-not-canonical"
        ),
    ],
)
def test_a_node_answer_is_read_in_its_one_shape(
    region: Region, client: TestClient, edit: Any
) -> None:
    """The proofs are lists of at most 64 hashes and every byte string is base64 in its one
    spelling (as the node writes them): a proof sent as a JSON object of its hashes, or a
    hash or entry spelled another way that a lax decoder reads as the same bytes, is a
    malformed answer, not one that checks out."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    answer = client.get(f"/v1/licenses/{issued.id}/status").json()
    assert answer["inclusion_proof"]
    ctx = VerifyContext(_store(client, region), NOW + 60, status=_edited(client, edit))
    with pytest.raises(NodeAnswerMalformed):
        verify_text(issued.qr_text, ctx)


def test_a_key_repeated_in_a_node_answer_is_malformed(region: Region, client: TestClient) -> None:
    """A JSON object naming a key twice is read one way by a parser that keeps the first and
    another by one that keeps the last (Python's): "07" first, then the "01" its entries
    prove, is no answer at all, never VALID."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    real = client.get(f"/v1/licenses/{issued.id}/status").content
    assert real.startswith(b"{")
    twice = b'{"status":"07",' + real[1:]
    assert json.loads(twice)["status"] == "01"

    def reply(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=twice, headers=JSON_TYPE)

    node = httpx.Client(transport=httpx.MockTransport(reply), base_url="http://node")
    status = OnlineStatus("http://node", region="500000", client=node)
    ctx = VerifyContext(_store(client, region), NOW + 60, status=status)
    with pytest.raises(NodeAnswerMalformed, match="duplicate key 'status'"):
        verify_text(issued.qr_text, ctx)


@pytest.mark.parametrize(
    ("field", "match"),
    [
        (b'"extra":NaN,', "NaN is not a JSON number"),
        (b'"extra":1e999,', "too large"),
        (b'"extra":' + b"9" * 65 + b",", "65 digits"),
    ],
)
def test_a_node_answer_that_is_no_strict_json_is_malformed(
    region: Region, client: TestClient, field: bytes, match: str
) -> None:
    """What Python's json takes but RFC 8259 has not (NaN, a number that is infinity) or a
    number longer than any field needs is no answer: refused before any field is read."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    real = client.get(f"/v1/licenses/{issued.id}/status").content
    assert real.startswith(b"{")
    edited = b"{" + field + real[1:]
    json.loads(edited)  # Python's own reader takes each of these

    def reply(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=edited, headers=JSON_TYPE)

    node = httpx.Client(transport=httpx.MockTransport(reply), base_url="http://node")
    status = OnlineStatus("http://node", region="500000", client=node)
    ctx = VerifyContext(_store(client, region), NOW + 60, status=status)
    with pytest.raises(NodeAnswerMalformed, match=match):
        verify_text(issued.qr_text, ctx)


def test_a_node_answer_is_bounded_and_a_bad_url_is_unreachable(
    region: Region, client: TestClient
) -> None:
    from verifier.online import NodeUnreachable, fetch_bundle

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)

    def huge(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b" " * (1 << 20))  # 1 MiB of JSON white space

    flood = httpx.Client(transport=httpx.MockTransport(huge), base_url="http://flood")
    ctx = VerifyContext(
        _store(client, region),
        NOW + 60,
        status=OnlineStatus("http://flood", region="500000", client=flood),
    )
    with pytest.raises(NodeUnreachable, match="more than"):
        verify_text(issued.qr_text, ctx)
    for url in ("http://[::1", "nonsense://x", ""):
        with pytest.raises(NodeUnreachable):
            fetch_bundle(url)


def _wait_for(predicate: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def _short_ages(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trust store age of 0.6 s, rebuilt in the background from 0.3 s."""
    monkeypatch.setattr(trust_export, "BUNDLE_CACHE_SECONDS", 0.6)
    monkeypatch.setattr(trust_export, "BUNDLE_REFRESH_AHEAD", 0.3)


def test_the_apps_trust_store_is_rebuilt_behind_the_answers(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Near the end of its age the cached trust store goes on answering while one
    background thread rebuilds it; past its age, or invalidated, it never answers."""
    _short_ages(monkeypatch)
    cache = trust_export.BundleCache(region.node)
    assert cache.cached() is None  # nothing built yet
    first = cache.store()
    assert cache.cached() is first
    assert cache.store() is first
    time.sleep(0.35)
    assert cache.cached() is first  # still within its age; the rebuild started
    assert _wait_for(lambda: cache.cached() not in (None, first))
    rebuilt = cache.cached()
    assert rebuilt is not None
    assert rebuilt.bundles[0].region == first.bundles[0].region
    time.sleep(0.65)  # an idle spell past the age: no store older than that answers
    assert cache.cached() is None
    again = cache.store()
    assert again is not rebuilt
    cache.invalidate()
    assert cache.cached() is None
    assert cache.store() is not again


def test_a_failing_rebuild_never_extends_the_trust_stores_age(
    region: Region, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _short_ages(monkeypatch)
    cache = trust_export.BundleCache(region.node)
    first = cache.store()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("the database is gone")

    monkeypatch.setattr(trust_export, "build_bundle", broken)
    time.sleep(0.35)
    assert cache.cached() is first  # starts the rebuild, which fails
    assert _wait_for(lambda: "rebuilding the trust store" in caplog.text)
    for _ in range(100):
        assert cache.cached() is first  # still within its age
    time.sleep(0.05)
    assert caplog.text.count("rebuilding the trust store") == 1  # not retried at once
    time.sleep(0.3)
    assert cache.cached() is None  # past its age: the route builds it, and fails
    with pytest.raises(StoreUnavailable):
        cache.store()


def test_no_thread_for_the_rebuild_is_no_error(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    _short_ages(monkeypatch)
    cache = trust_export.BundleCache(region.node)
    first = cache.store()

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    time.sleep(0.35)
    with monkeypatch.context() as m:
        m.setattr(threading.Thread, "start", no_thread)
        assert cache.cached() is first
    assert _wait_for(lambda: cache.cached() not in (None, first))  # tried again, and done


def test_a_json_license_text_gets_the_verdict_the_route_gives(
    region: Region, client: TestClient
) -> None:
    """The event loop's answer to a JSON body (VerifyInLoop) is the route's: the same text
    sent as a multipart field, which only the route answers, gets the same verdict."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    revoked = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    change_status(region.node, AGENT, revoked.id, "revoke", reason="test", now=NOW + 1)
    doc = decode(issued.qr_text)
    flipped = bytes([doc.signature[0] ^ 1]) + doc.signature[1:]
    forged = "EL1:" + b45encode(
        zlib.compress(cose_sign1_bytes(doc.protected, doc.payload, flipped))
    )
    for text in (issued.qr_text, revoked.qr_text, forged, "EL1:" + "A" * 30):
        for body in (
            json.dumps({"text": text}).encode(),  # plain: read without the JSON parser
            json.dumps({"text": text}).replace("1:", "1\\u003a").encode(),
            json.dumps({"text": f"  {text}\n"}).encode(),  # escapes: the JSON parser
        ):
            by_loop = client.post("/v1/verify", content=body, headers=JSON_TYPE)
            by_route = client.post("/v1/verify", files={"text": (None, text)})
            assert by_loop.status_code == by_route.status_code == 200, by_loop.text
            assert by_loop.headers["content-type"] == by_route.headers["content-type"]
            loop, route = by_loop.json(), by_route.json()
            assert abs(loop.pop("checked_at") - route.pop("checked_at")) <= 2
            for answer in (loop, route):
                answer["freshness"].pop("status_as_of")
            assert loop == route
    statuses = {
        client.post("/v1/verify", json={"text": t}).json()["status"]
        for t in (issued.qr_text, revoked.qr_text, forged)
    }
    assert statuses == {"VALID", "REVOKED", "BAD_SIGNATURE"}


def test_json_bodies_the_plain_reading_does_not_take_get_the_parsers_answer(
    client: TestClient,
) -> None:
    """Bodies that look plain but are not (a key twice, bad UTF-8, an empty or too long
    text) get the strict parser's refusal, as before the plain reading."""
    cases = {
        b'{"text": "EL1:A", "text": "EL1:B"}': 400,
        b'{"text": "EL1:\xff"}': 400,
        b'{"text": ""}': 422,
        b'{"text": "   "}': 400,
        b'{"text": "' + b"A" * 4001 + b'"}': 400,  # too long: as in a form (invalid-input)
        b'{"text": "EL1:A"} x': 400,
        b'\x0c{"text": "EL1:A"}': 400,
    }
    for body, status in cases.items():
        r = client.post("/v1/verify", content=body, headers=JSON_TYPE)
        assert r.status_code == status, (body[:40], r.text)
        assert r.headers["content-type"] == "application/problem+json"


def test_an_over_long_qr_text_is_one_problem_however_it_is_sent(client: TestClient) -> None:
    """A QR text over 4,000 characters is the same 400 invalid-input problem in a plain
    JSON body, in one the strict parser reads (an escape, raw UTF-8 over 4,000 bytes) and
    in a multipart form; 4,000 characters are not refused for their length."""
    over = "EL1:" + "A" * 3997
    bodies = [
        json.dumps({"text": over}).encode(),  # the plain reading
        json.dumps({"text": over[:-1] + "\n"}).encode(),  # an escape: the parser
        json.dumps({"text": "EL1:" + "é" * 3997}, ensure_ascii=False).encode(),
    ]
    answers = [client.post("/v1/verify", content=body, headers=JSON_TYPE) for body in bodies]
    answers.append(client.post("/v1/verify", files={"text": (None, over)}))
    answers.append(client.post("/v1/verify", files={"text": (None, "EL1:" + "é" * 3997)}))
    for r in answers:
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/invalid-input")
        assert r.json()["detail"] == "the QR text is longer than 4000 characters"
    at_most = "EL1:" + "é" * 3996  # 4,000 characters, 7,996 bytes
    body = json.dumps({"text": at_most}, ensure_ascii=False).encode()
    for r in (
        client.post("/v1/verify", content=body, headers=JSON_TYPE),
        client.post("/v1/verify", files={"text": (None, at_most)}),
    ):
        assert (r.status_code, r.json()["status"]) == (200, "MALFORMED"), r.text


def test_a_json_license_text_is_answered_in_the_event_loop(
    region: Region, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VerifyInLoop answers a JSON license text itself; a refusal, a multipart form or a
    stamp go on to the route."""
    answers: list[bytes | None] = []
    real = verify_routes._in_loop_answer

    def spy(state: Any, body: bytes) -> bytes | None:
        answer = real(state, body)
        answers.append(answer)
        return answer

    monkeypatch.setattr(verify_routes, "_in_loop_answer", spy)
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    cast(FastAPI, client.app).state.bundles.store()  # fresh: no request has to build it
    r = client.post("/v1/verify", json={"text": issued.qr_text})
    assert r.json()["status"] == "VALID"
    assert answers == [r.content]
    # The headers the route's Response would carry, written out by the middleware itself.
    routed = verify_routes._verdict_response(r.json())
    assert sorted(r.headers.raw) == sorted(routed.raw_headers)
    assert client.post("/v1/verify", json={"text": "   "}).status_code == 400
    assert answers[-1] is None  # the route answered the refusal
    client.post("/v1/verify", files={"text": (None, issued.qr_text)})
    assert len(answers) == 2  # a form never reaches it


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(1 << 20),  # random bytes: a UnicodeDecodeError quoting them
        b'{"payloadType": "' + b"A" * 500_000 + b'", "payload": "", "signatures": []}',
        json.dumps({"payloadType": "x", "payload": "é" * 100_000, "signatures": []}).encode(),
    ],
)
def test_refusals_of_bad_offline_files_are_short(data: bytes) -> None:
    """What a window's terminal prints for a bad bundle or snapshot names the flaw, not the
    file: a message of at most a few hundred characters however large the input."""
    for read in (
        lambda: read_envelope(data, BUNDLE_TYPE),
        lambda: open_bundle(data),
    ):
        with pytest.raises(InvalidInput) as refused:
            read()
        assert len(str(refused.value)) < 400, str(refused.value)[:100]


def test_an_envelope_of_empty_lists_is_refused_before_it_is_parsed() -> None:
    """Found by review: an envelope was parsed whole before its shape was checked, so a
    64 MiB file of empty lists (signed by no one) cost the window 1.7 GB of list objects.
    Its brackets are counted first."""
    head = json.dumps({"payloadType": BUNDLE_TYPE, "payload": ""})[:-1].encode()
    data = head + b',"signatures":[' + b"[]," * 1_000_000 + b"[]]}"
    with traced() as peak, pytest.raises(MalformedEnvelope, match="1 to 8 signatures"):
        read_envelope(data, BUNDLE_TYPE)
    assert peak.bytes < len(data) // 10


class _Drip(httpx.SyncByteStream):
    """A body sent a byte at a time, slowly: each read well within httpx's read timeout."""

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(100):
            time.sleep(0.05)
            yield b" "


def test_a_node_dripping_its_answer_is_cut_off_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through any client (here a mock transport, which the deadline's network streams do
    not bound): the body is read no further once the deadline has passed."""
    from verifier import online
    from verifier.online import NodeUnreachable, bounded_get

    monkeypatch.setattr(online, "REQUEST_SECONDS", 0.3)
    drip = httpx.Client(
        transport=httpx.MockTransport(lambda _r: httpx.Response(200, stream=_Drip()))
    )
    started = time.monotonic()
    with pytest.raises(NodeUnreachable, match=r"took longer than 0\.3 s"):
        bounded_get(drip, "http://drip/v1/bundle", 1 << 20)
    assert time.monotonic() - started < 2.0  # not the 5 s the whole body would take


@functools.cache
def _gzip_twice_of_zeros(size: int) -> bytes:
    """``size`` zero bytes in two layers of gzip: a few KB (built a MiB at a time)."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 31)
    layer = b"".join(inner.compress(bytes(1 << 20)) for _ in range(size >> 20)) + inner.flush()
    return gzip.compress(layer, 9)


class _Once(httpx.SyncByteStream):
    """A body streamed as it is (httpx.Response(content=…) would decode it at once)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        yield self.body


@pytest.mark.parametrize("coding", ["gzip, gzip", "gzip", "deflate", "br"])
def test_a_compressed_answer_is_refused_before_it_is_inflated(coding: str) -> None:
    """A node (or a proxy, or anyone in between on plain HTTP) answering a few KB in two
    layers of gzip: httpx would inflate them whole, 64 MiB here (gigabytes from a few KB
    more), before the body's bound is seen. Identity is asked for, and nothing else
    taken, its body never inflated."""
    from verifier.online import NodeUnreachable, bounded_get

    bomb = _gzip_twice_of_zeros(64 << 20)
    asked: list[str | None] = []

    def reply(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get("accept-encoding"))
        headers = {"content-encoding": coding, "content-type": "application/json"}
        return httpx.Response(200, stream=_Once(bomb), headers=headers)

    node = httpx.Client(transport=httpx.MockTransport(reply))
    with traced() as peak, pytest.raises(NodeUnreachable, match="content-encoding"):
        bounded_get(node, "http://bomb/v1/revocations", 64 << 20)
    assert asked == ["identity"]
    assert peak.bytes < 4 << 20  # not the 64 MiB inflated
    for same in ("Identity", ""):
        plain = httpx.Client(
            transport=httpx.MockTransport(
                lambda _r, same=same: httpx.Response(
                    200, stream=_Once(b"{}"), headers={"content-encoding": same}
                )
            )
        )
        assert bounded_get(plain, "http://plain/", 16)[2] == b"{}"


def test_an_answer_older_than_the_bundle_is_refused(region: Region, client: TestClient) -> None:
    """A node (or a man in the middle) replaying a status answer from before a revocation:
    its checkpoint is older than the bundle the window trusts, so it is refused."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    path = f"/v1/licenses/{issued.id}/status"
    old = client.get(path).json()
    change_status(region.node, AGENT, issued.id, "revoke", reason="吊销", now=NOW + 1)
    store = _store(client, region)  # cut after the revocation

    def replay(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=old)

    replayer = httpx.Client(transport=httpx.MockTransport(replay))
    status = OnlineStatus("http://replay", region="500000", client=replayer)
    with pytest.raises(NodeAnswerUnproven, match="older than the trust bundle"):
        verify_text(issued.qr_text, VerifyContext(store, NOW + 60, status=status))
    live = OnlineStatus("http://testserver", region="500000", client=client)
    assert verify_text(issued.qr_text, VerifyContext(store, NOW + 60, status=live)).status is (
        Status.REVOKED
    )


def test_only_the_nodes_own_problem_says_a_license_is_unknown(
    region: Region, client: TestClient
) -> None:
    """A 404 from a misrouted proxy (an HTML page) is an error; the node's own problem
    answer for a license it never issued is the verdict NOT_IN_LEDGER."""
    from verifier.online import NodeUnreachable

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    store = _store(client, region)
    html = httpx.Response(404, text="<h1>Not Found</h1>", headers={"content-type": "text/html"})
    for answer, outcome in ((html, NodeUnreachable), (_unknown_license(), Status.NOT_IN_LEDGER)):
        node = httpx.Client(transport=httpx.MockTransport(lambda _r, a=answer: a))
        status = OnlineStatus("http://node", region="500000", client=node)
        ctx = VerifyContext(store, NOW + 60, status=status)
        if isinstance(outcome, Status):
            assert verify_text(issued.qr_text, ctx).status is outcome
        else:
            with pytest.raises(outcome, match="answered 404"):
                verify_text(issued.qr_text, ctx)


@pytest.mark.parametrize(
    "body",
    [
        b'{"type":"https://eseal.invalid/problems/invalid-input",'
        b'"type":"https://eseal.invalid/problems/unknown-license","status":404}',
        b'{"type":"https://eseal.invalid/problems/unknown-license","status":NaN}',
    ],
    ids=["type-twice", "nan"],
)
def test_a_problem_that_is_no_strict_json_says_nothing_of_the_license(
    region: Region, client: TestClient, body: bytes
) -> None:
    """A 404 problem is read as strictly as any answer of the node's: one naming its type
    twice (json.loads read the last, another parser the first) or holding NaN is not the
    node saying it never recorded the license, but a 404 it cannot read (json.loads took
    each for unknown-license: NOT_IN_LEDGER)."""
    from verifier.online import NodeUnreachable

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    assert json.loads(body)["type"].endswith("/unknown-license")  # as Python's json read it
    answer = httpx.Response(404, content=body, headers={"content-type": "application/problem+json"})
    node = httpx.Client(transport=httpx.MockTransport(lambda _r: answer))
    status = OnlineStatus("http://node", region="500000", client=node)
    ctx = VerifyContext(_store(client, region), NOW + 60, status=status)
    with pytest.raises(NodeUnreachable, match="answered 404"):
        verify_text(issued.qr_text, ctx)


def _problem(status: int, code: str) -> httpx.Response:
    """A node's RFC 9457 problem answer of type ``code``."""
    problem = {"type": f"https://eseal.invalid/problems/{code}", "status": status}
    return httpx.Response(
        status, json=problem, headers={"content-type": "application/problem+json"}
    )


def test_a_node_saying_an_id_is_malformed_says_it_never_recorded_it(
    region: Region, client: TestClient
) -> None:
    """The node answers an id that is none it could have recorded (malformed, or its check
    character wrong) with its 400 problem invalid-license-id (a seal's: invalid-seal-id):
    NOT_IN_LEDGER, as its 404 unknown-… problem says, not an error that would let a document
    signed with a stolen key under such an id escape the ledger's check. A 400 of another
    type, or the other kind's, is an error."""
    from verifier.online import NodeUnreachable

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    _seal_id, stamp_text = _stamp(region, "合同章丙")
    cast(FastAPI, client.app).state.bundles.invalidate()
    store = _store(client, region)
    for text, document, own, other in (
        (issued.qr_text, None, "invalid-license-id", "invalid-seal-id"),
        (stamp_text, b"doc", "invalid-seal-id", "invalid-license-id"),
    ):
        for answer, outcome in (
            (_problem(400, own), Status.NOT_IN_LEDGER),
            (_problem(400, other), NodeUnreachable),
            (_problem(400, "invalid-input"), NodeUnreachable),
            (_problem(404, own), NodeUnreachable),
        ):
            node = httpx.Client(transport=httpx.MockTransport(lambda _r, a=answer: a))
            status = OnlineStatus("http://node", region="500000", client=node)
            ctx = VerifyContext(store, NOW + 60, status=status)
            if isinstance(outcome, Status):
                verdict = verify_text(text, ctx, document=document)
                assert verdict.status is outcome, (own, verdict.reasons)
                assert verdict.freshness.ledger_included is False
            else:
                with pytest.raises(outcome, match=f"answered {answer.status_code}"):
                    verify_text(text, ctx, document=document)


def test_a_document_under_a_malformed_id_is_not_in_the_ledger(
    region: Region, client: TestClient
) -> None:
    """A license signed with the agency's real key (a stolen key, say) under an id that is
    none the node could have recorded: the node answers 400 invalid-license-id, which the
    verifier takes for what it is, NOT_IN_LEDGER, whatever the id's flaw; not an error,
    by which such a document would escape the ledger's check."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    doc = decode(issued.qr_text)
    assert isinstance(doc.claims, LicenseClaims)
    good = issued.id
    status = OnlineStatus("http://testserver", region="500000", client=client)
    ctx = VerifyContext(_store(client, region), NOW + 60, status=status)
    for bad in (good[:-1] + ("A" if good[-1] != "A" else "B"), good.lower(), "1.2.3"):
        forged = dataclasses.replace(doc.claims, license_id=bad)
        text = sign_license(forged, region.node.signing_key(doc.kid)).text
        verdict = verify_text(text, ctx)
        assert verdict.status is Status.NOT_IN_LEDGER, (bad, verdict.reasons)
        assert verdict.freshness.ledger_included is False


def test_a_status_answer_is_json_in_utf8_by_its_content_type(
    region: Region, client: TestClient
) -> None:
    from verifier.online import NodeAnswerMalformed

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    real = client.get(f"/v1/licenses/{issued.id}/status")
    text = real.content.decode()
    for content, media in (
        (real.content, "text/html"),
        (text.encode("utf-16"), "application/json"),
        (b"\xef\xbb\xbf" + real.content, "application/json"),
    ):
        reply = httpx.Response(200, content=content, headers={"content-type": media})
        node = httpx.Client(transport=httpx.MockTransport(lambda _r, a=reply: a))
        status = OnlineStatus("http://node", region="500000", client=node)
        with pytest.raises(NodeAnswerMalformed):
            verify_text(
                issued.qr_text, VerifyContext(_store(client, region), NOW + 60, status=status)
            )
    assert real.headers["content-type"] == "application/json"


def test_verdicts_and_problems_are_not_cached_or_sniffed(
    region: Region, client: TestClient
) -> None:
    """A verdict names a holder and holds for a moment: no-store; every answer of the API
    says its type is its type (nosniff); and no redirect names a host from the request."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    for r in (
        client.post("/v1/verify", json={"text": issued.qr_text}),  # answered in the loop
        client.post("/v1/verify", files={"text": (None, issued.qr_text)}),  # by the route
        client.post("/v1/verify/image", files={"image": ("q.png", qr_png(issued.qr_text))}),
    ):
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-content-type-options"] == "nosniff"
    for r in (
        client.post("/v1/verify", json={"text": ""}),
        client.get("/v1/nothing"),
        client.post("/v1/verify", content=b"x" * (64 * 1024), headers=JSON_TYPE),
    ):
        assert r.headers["content-type"] == "application/problem+json", r.status_code
        assert r.headers["x-content-type-options"] == "nosniff"
    moved = client.get("/v1/ledger/checkpoint/", headers={"host": "evil.example"})
    assert moved.status_code == 404
    assert "location" not in moved.headers


def _changed_by_an_old_process(
    region: Region, license_id: str, kind: str, *, old: str, new: str, at: int
) -> int:
    """A status change as code from before status_index made it (a worker not yet
    upgraded): the entry appended, the row's status moved, its status_index untouched.
    The entry's index."""
    from sqlalchemy import update

    from eseal.licenses import _license, get_license
    from ledger.entries import Entry

    digest = bytes(get_license(region.node, license_id).digest)
    entry = Entry(kind, at, "500000", license_id, digest, region.node.root_key_id, reason="旧")
    return region.node.append(
        [entry],
        also=lambda conn, _first: conn.execute(
            update(_license)
            .where(_license.c.id == license_id, _license.c.status == old)
            .values(status=new, updated_at=at, status_reason="旧")
        ),
    ).first_index


def test_a_status_index_left_behind_by_an_old_process_is_put_right(
    region: Region, client: TestClient
) -> None:
    """Rows changed by a process without status_index (during an upgrade): the node finds
    the latest status entry in its ledger, answers with it and writes it back, so an
    honest node's answer still verifies, with the latest change's time and reason. Also
    when the stale entry records the same status as the latest (suspended, reinstated and
    suspended again by the old process)."""
    from eseal.licenses import get_license

    reinstated = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    change_status(region.node, AGENT, reinstated.id, "suspend", reason="核查", now=NOW + 1)
    stale = get_license(region.node, reinstated.id).status_index
    assert stale is not None
    latest = {
        reinstated.id: _changed_by_an_old_process(
            region, reinstated.id, "license.reinstate", old="02", new="01", at=NOW + 2
        )
    }
    suspended = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    latest[suspended.id] = _changed_by_an_old_process(
        region, suspended.id, "license.suspend", old="01", new="02", at=NOW + 3
    )
    again = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    change_status(region.node, AGENT, again.id, "suspend", reason="新", now=NOW + 1)
    _changed_by_an_old_process(
        region, again.id, "license.reinstate", old="02", new="01", at=NOW + 2
    )
    latest[again.id] = _changed_by_an_old_process(
        region, again.id, "license.suspend", old="01", new="02", at=NOW + 4
    )
    assert get_license(region.node, suspended.id).status_index is None
    ctx = VerifyContext(
        _store(client, region),
        NOW + 60,
        status=OnlineStatus("http://testserver", region="500000", client=client),
    )
    assert verify_text(reinstated.qr_text, ctx).status is Status.VALID
    for text, at in (
        (suspended.qr_text, NOW + 3),
        (again.qr_text, NOW + 4),
    ):
        got = verify_text(text, ctx)
        assert got.status is Status.SUSPENDED
        assert (got.freshness.status_reason, got.freshness.status_since) == ("旧", at)
    for license_id, index in latest.items():
        assert get_license(region.node, license_id).status_index == index
        assert client.get(f"/v1/licenses/{license_id}/status").json()["status_index"] == index


def test_a_status_no_ledger_entry_records_is_a_server_problem(
    region: Region, client: TestClient
) -> None:
    """A row whose status its ledger does not record (database and ledger out of step):
    a 500 problem, not an answer no client could prove."""
    from sqlalchemy import update

    from eseal.licenses import _license

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    with region.node.sql.write_engine.begin() as conn:
        conn.execute(update(_license).where(_license.c.id == issued.id).values(status="07"))
    r = client.get(f"/v1/licenses/{issued.id}/status")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/status-unrecorded")


def test_the_server_problems_are_documented_where_they_are_answered(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OpenAPI document names the 5xx problems: 500 status-unrecorded on the two live
    status answers (and nowhere else), 503 store-unavailable on every operation that needs
    the node's database (all but the shipped license-type catalogue's), naming scanner-busy
    on the two that read images, which do answer it."""

    def busy(data: bytes) -> str:
        raise scan_pool.ScannerBusy("every reader is busy")

    monkeypatch.setattr(verify_routes, "scan_image", busy)
    image = {"image": ("qr.png", qr_png("EL1:X"), "image/png")}
    for path in ("/v1/verify", "/v1/verify/image"):
        r = client.post(path, files=image)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/scanner-busy")
    spec = client.get("/openapi.json").json()
    status_paths = {"/v1/licenses/{license_id}/status", "/v1/seals/{seal_id}/status"}
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if path.startswith("/v1/license-types"):
                assert "503" not in responses, (path, method)
                continue
            assert responses["503"]["content"] == problem, (path, method)
            assert "store-unavailable" in responses["503"]["x-problem-types"]
            if path in status_paths:
                assert responses["500"]["content"] == problem
                assert "status-unrecorded" in responses["500"]["description"]
            else:
                assert "500" not in responses, (path, method)
            reads_images = path.startswith("/v1/verify")
            named = responses["503"]["x-problem-types"]
            assert ("scanner-busy" in named) is reads_images, path


def test_a_seal_revoked_by_an_old_process_is_put_right(region: Region, client: TestClient) -> None:
    from sqlalchemy import update

    from eseal.seals import _seal, get_seal
    from ledger.entries import Entry, digest

    seal_id, text = _stamp(region, "合同章丁")
    cast(FastAPI, client.app).state.bundles.invalidate()
    store = _store(client, region)
    seal = get_seal(region.node, seal_id)
    entry = Entry(
        "seal.revoke",
        NOW + 5,
        "500000",
        seal_id,
        digest(seal.statement),
        region.node.root_key_id,
        reason="遗失",
    )
    region.node.append(
        [entry],
        also=lambda conn, _first: conn.execute(
            update(_seal).where(_seal.c.id == seal_id).values(status="revoked", revoked_at=NOW + 5)
        ),
    )
    ctx = VerifyContext(
        store, NOW + 60, status=OnlineStatus("http://testserver", region="500000", client=client)
    )
    revoked = verify_text(text, ctx)
    assert revoked.status is Status.REVOKED, revoked.reasons
    assert revoked.freshness.status_reason == "遗失"
    assert get_seal(region.node, seal_id).status_index is not None


@pytest.mark.parametrize("since", ["changed-again-by-an-old-process", "changed-in-the-same-second"])
def test_a_status_index_is_written_back_only_over_the_row_it_was_found_for(
    region: Region, client: TestClient, monkeypatch: pytest.MonkeyPatch, since: str
) -> None:
    """The write-back is a compare-and-set on the row as it was read (status, time of
    change, index): a look-back that found the first suspension, for a row read then,
    writes nothing over a row suspended again since, by an old process (same index, later
    time) or by new code within the same second (same time, an index)."""
    from eseal import status_index
    from eseal.licenses import get_license

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    first = _changed_by_an_old_process(
        region, issued.id, "license.suspend", old="01", new="02", at=NOW + 1
    )
    if since == "changed-again-by-an-old-process":
        _changed_by_an_old_process(
            region, issued.id, "license.reinstate", old="02", new="01", at=NOW + 2
        )
        _changed_by_an_old_process(
            region, issued.id, "license.suspend", old="01", new="02", at=NOW + 3
        )
    else:
        change_status(region.node, AGENT, issued.id, "reinstate", now=NOW + 1)
        change_status(region.node, AGENT, issued.id, "suspend", reason="再", now=NOW + 1)
    now = get_license(region.node, issued.id)
    assert now.status == "02"
    # As if the look-back ran for the row as first suspended.
    monkeypatch.setattr(
        status_index, "latest_status_entries", lambda *a, **k: {"license": {issued.id: first}}
    )
    found = status_index.checked_status_index(
        region.node,
        "license",
        issued.id,
        status="02",
        index=None,
        changed_at=NOW + 1,
        created_at_index=now.ledger_index,
    )
    assert found == first  # what it found for the row it read…
    assert get_license(region.node, issued.id).status_index == now.status_index  # …not written


def test_a_row_whose_time_of_change_the_ledger_does_not_record_is_a_server_problem(
    region: Region, client: TestClient
) -> None:
    """A suspended row whose time of change is not its latest entry's: the entry found is
    not its change, so no index is written and the answer is a 500 (read again once)."""
    from sqlalchemy import update

    from eseal.licenses import _license, get_license

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    _changed_by_an_old_process(region, issued.id, "license.suspend", old="01", new="02", at=NOW + 1)
    with region.node.sql.write_engine.begin() as conn:
        conn.execute(update(_license).where(_license.c.id == issued.id).values(updated_at=NOW + 9))
    r = client.get(f"/v1/licenses/{issued.id}/status")
    assert r.status_code == 500
    assert r.json()["type"].endswith("/status-unrecorded")
    assert get_license(region.node, issued.id).status_index is None


def test_a_change_landing_during_the_look_back_is_read_again_not_a_fault(
    region: Region,
) -> None:
    """The row read, then a status change recorded before the look-back: the look-back
    finds the newer change, the row is read again, and its new status is answered."""
    from eseal.licenses import get_license
    from eseal.status_index import with_status_index

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    _changed_by_an_old_process(region, issued.id, "license.suspend", old="01", new="02", at=NOW + 1)
    before = get_license(region.node, issued.id)  # suspended, no index yet
    change_status(region.node, AGENT, issued.id, "reinstate", now=NOW + 2)
    after = get_license(region.node, issued.id)
    reads = iter([before, after])
    row, index = with_status_index(region.node, "license", lambda: next(reads))
    assert (row.status, index) == ("01", after.status_index)
    assert index is not None


def test_an_unrecorded_row_is_not_looked_back_for_again_until_the_ledger_grows(
    region: Region, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public GET on a row its ledger does not record reads the ledger back once; asked
    again, the node answers 500 at once, until the ledger has grown."""
    from sqlalchemy import update

    from eseal import status_index
    from eseal.licenses import _license

    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    with region.node.sql.write_engine.begin() as conn:
        conn.execute(update(_license).where(_license.c.id == issued.id).values(status="04"))
    looks: list[str] = []
    real = status_index.latest_status_entries

    def counted(*args: Any, **kwargs: Any) -> Any:
        looks.append("x")
        return real(*args, **kwargs)

    monkeypatch.setattr(status_index, "latest_status_entries", counted)
    for _ in range(3):
        assert client.get(f"/v1/licenses/{issued.id}/status").status_code == 500
    assert len(looks) == 1
    issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    assert client.get(f"/v1/licenses/{issued.id}/status").status_code == 500
    assert len(looks) == 2
    monkeypatch.setattr(status_index, "UNRECORDED_SECONDS", 0.0)  # remembered a while only
    assert client.get(f"/v1/licenses/{issued.id}/status").status_code == 500
    assert len(looks) == 3
    with region.node.sql.write_engine.begin() as conn:  # the operator puts the row right
        conn.execute(update(_license).where(_license.c.id == issued.id).values(status="01"))
    assert client.get(f"/v1/licenses/{issued.id}/status").status_code == 200


def test_a_node_whose_clock_was_set_back_says_so(
    region: Region, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST /v1/verify at a clock set back an hour behind the newest bundle the node has
    signed: the verdict is made at that bundle's time and warns of the clock (amber on the
    window page), also once the node has signed its bundle again at the wrong time."""
    issued = issue(region.node, AGENT, MARKET, business_request(), now=NOW)
    cache = cast(FastAPI, client.app).state.bundles
    signed = cache.store().signed_at["500000"]
    behind = types.SimpleNamespace(time=lambda: signed - 3600)
    monkeypatch.setattr(verify_routes, "time", behind)
    monkeypatch.setattr(
        trust_export, "time", types.SimpleNamespace(time=behind.time, monotonic=time.monotonic)
    )
    verdict = client.post("/v1/verify", json={"text": issued.qr_text}).json()
    assert (verdict["status"], verdict["warnings"]) == ("VALID", ["CLOCK_BEHIND"])
    cache._current = None  # the next request builds (and signs) the bundle again, an hour back
    verdict = client.post("/v1/verify", json={"text": issued.qr_text}).json()
    assert cache.store().bundles[0].issued_at == signed - 3600
    assert (verdict["status"], verdict["warnings"]) == ("VALID", ["CLOCK_BEHIND"])
    monkeypatch.setattr(verify_routes, "time", types.SimpleNamespace(time=lambda: signed))
    verdict = client.post("/v1/verify", json={"text": issued.qr_text}).json()
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    # A clock that jumped two days ahead and came back: the mark is forgotten, not kept to
    # judge every license two days ahead until the node restarts.
    ahead = types.SimpleNamespace(time=lambda: signed + 2 * 86400, monotonic=time.monotonic)
    monkeypatch.setattr(trust_export, "time", ahead)
    cache._current = None
    cache.store()
    assert cache.signed_at["500000"] == signed + 2 * 86400
    monkeypatch.setattr(
        trust_export, "time", types.SimpleNamespace(time=lambda: signed, monotonic=time.monotonic)
    )
    cache._current = None
    verdict = client.post("/v1/verify", json={"text": issued.qr_text}).json()
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    assert cache.signed_at["500000"] == signed
    cache._current = None  # the other tests' bundle is signed at the real time


#: What the plain body reader read before (one pattern over the whole body): the reference.
_OLD_PLAIN_BODY = re.compile(
    rb"[ \t\n\r]*".join([b"", rb"\{", rb'"text"', b":", rb'"([^"\\\x00-\x1f]*)"', rb"\}", b""])
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            [b'{"text":"', b'"}', b"{", b"}", b'"', b"\\", b" ", b"\n", b"\x01", b"EL1:AB",
             b"\xe4\xb8\xad", b'"text"', b":", b",", b"x"]
        ),
        max_size=12,
    ).map(b"".join)
)  # fmt: skip
def test_the_plain_body_reader_reads_what_one_pattern_did(body: bytes) -> None:
    """The plain ``{"text": "…"}`` body is read by two patterns and bytes methods (a
    character class over the whole text cost 20,000 instructions a request more): the same
    value, or None, as the one pattern it replaced, for any body."""
    old = _OLD_PLAIN_BODY.fullmatch(body)
    assert verify_routes._plain_value(body) == (old[1] if old else None)
    wrapped = b'{"text": "' + body.replace(b'"', b"") + b'"}'
    old = _OLD_PLAIN_BODY.fullmatch(wrapped)
    assert verify_routes._plain_value(wrapped) == (old[1] if old else None)


class _UnknownSeal(httpx.BaseTransport):
    """A node that knows no seal: its RFC 9457 problem for each (the paths asked kept)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request.url.path)
        problem = {"type": "https://eseal.invalid/problems/unknown-seal", "status": 404}
        headers = {"content-type": "application/problem+json"}
        return httpx.Response(404, json=problem, headers=headers)


def test_a_seal_its_regions_node_does_not_know_is_not_in_the_ledger(
    region: Region, client: TestClient
) -> None:
    """A seal the bundle lists but its region's node does not know was never recorded in
    the region's ledger: NOT_IN_LEDGER, as for a license. A node of another region, or one
    of no named region, proves nothing by not knowing it: not checked."""
    _seal_id, text = _stamp(region, "合同章乙")
    cast(FastAPI, client.app).state.bundles.invalidate()
    store = _store(client, region)
    transport = _UnknownSeal()
    node = httpx.Client(transport=transport, base_url="http://node")

    def verdict(status: OnlineStatus) -> Any:
        return verify_text(text, VerifyContext(store, NOW + 60, status=status), document=b"doc")

    own = verdict(OnlineStatus("http://node", region="500000", client=node))
    assert own.status is Status.NOT_IN_LEDGER, own.reasons
    assert "does not know this seal" in own.reasons[0]
    assert len(transport.asked) == 1
    unasked = verdict(OnlineStatus("http://node", region="110000", client=node))
    assert unasked.status is Status.VALID, unasked.reasons
    assert unasked.warnings == ["NO_STATUS"]
    assert len(transport.asked) == 1  # a node of another region is not asked
    silent = verdict(OnlineStatus("http://node", region=None, client=node))
    assert silent.status is Status.VALID, silent.reasons
    assert silent.warnings == ["NO_STATUS"]
    assert len(transport.asked) == 2
