"""The issuing API: every mutating endpoint refuses a missing, invalid or foreign
credential (and changes nothing), accepts the owner's and the operator's; oversized
and malformed bodies get RFC 9457 problems."""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace

from eseal.agencies import Principal, active_key, new_credential, revoke_key
from eseal.api.app import TELEMETRY_OFF, create_app, telemetry_config
from eseal.ids import make_license_id
from eseal.licenses import end_of_day, issue
from eseal.node import Node
from eseal.seals import create_seal
from keys.errors import InvalidInput
from tests.eseal.conftest import (
    BUSINESS,
    MARKET,
    NOW,
    WORKER,
    Region,
    business_request,
)
from verifier.document import StampClaims, decode
from verifier.pipeline import beijing_day

ISSUE_FIELDS = {
    "company_type": "有限责任公司",
    "legal_representative": "张三",
    "established": "2021-03-15",
    "address": "重庆市渝中区解放碑民族路1号",
    "business_scope": "餐饮服务",
}
#: A license id of this region that no license here has.
UNKNOWN_LICENSE_ID = str(make_license_id(BUSINESS, MARKET, "NOSUCHSERIAL"))
ISSUE_BODY: dict[str, Any] = {
    "type": BUSINESS,
    "holder": {"name": "重庆山城小面餐饮有限公司", "id": "91500000MA60XXXX15"},
    "fields": ISSUE_FIELDS,
}


@dataclass
class Api:
    client: TestClient
    region: Region
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def api(region: Region) -> Iterator[Api]:
    tokens = {
        "none": "",
        "garbage": "Bearer esk_000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "other": f"Bearer {region.housing.credential}",
        "owner": f"Bearer {region.market.credential}",
        "operator": "Bearer "
        + new_credential(region.node, role="operator", agency_code=None, now=NOW),
    }
    with TestClient(create_app(region.node)) as client:
        yield Api(client, region, tokens)


def _fresh_license(api: Api) -> str:
    return _fresh_license_id(api.region)


def _fresh_seal(api: Api) -> str:
    return create_seal(
        api.region.node,
        Principal("agency", MARKET),
        agency_code=MARKET,
        name="合同专用章",
        seal_type="contract",
        image=None,
        now=NOW,
    ).id


Call = Callable[[Api, str], Any]


def _post(path: str, **kw: Any) -> Callable[[Api, str, str], Any]:
    def call(api: Api, auth: str, target: str) -> Any:
        headers = {"Authorization": auth} if auth else {}
        return api.client.post(path.format(target=target), headers=headers, **kw)

    return call


ENDPOINTS: dict[str, tuple[str, Callable[[Api, str, str], Any]]] = {
    "issue": ("none", _post("/v1/licenses", json={**ISSUE_BODY, "agency": MARKET})),
    "batch": (
        "none",
        _post("/v1/licenses/batch", json={"agency": MARKET, "items": [ISSUE_BODY, ISSUE_BODY]}),
    ),
    "suspend": ("license", _post("/v1/licenses/{target}/suspend", json={"reason": "检查"})),
    "revoke": ("license", _post("/v1/licenses/{target}/revoke", json={"reason": "违法"})),
    "renew": ("license", _post("/v1/licenses/{target}/renew", json={})),
    "seal": (
        "none",
        _post("/v1/seals", json={"agency": MARKET, "name": "财务专用章", "type": "finance"}),
    ),
    "stamp": (
        "seal",
        _post("/v1/seals/{target}/stamp", files={"file": ("a.txt", b"hello", "text/plain")}),
    ),
    "seal-revoke": ("seal", _post("/v1/seals/{target}/revoke", json={"reason": "丢失"})),
}
EXPECTED = {"none": 401, "garbage": 401, "other": 403, "owner": 200, "operator": 200}


@pytest.mark.parametrize("who", list(EXPECTED))
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_authorisation_matrix(api: Api, endpoint: str, who: str) -> None:
    target_kind, call = ENDPOINTS[endpoint]
    makers: dict[str, Callable[[Api], str]] = {
        "none": lambda _api: "",
        "license": _fresh_license,
        "seal": _fresh_seal,
    }
    target_id = makers[target_kind](api)
    size = api.region.node.log.size()
    response = call(api, api.tokens[who], target_id)
    if EXPECTED[who] == 200:
        assert response.status_code in (200, 201), response.text
        assert api.region.node.log.size() > size
    else:
        assert response.status_code == EXPECTED[who], response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == EXPECTED[who]
        assert api.region.node.log.size() == size


@pytest.mark.parametrize("who", ["none", "garbage"])
def test_a_401_names_the_bearer_scheme(api: Api, who: str) -> None:
    """RFC 9110 §11.6.1: a 401 carries a WWW-Authenticate challenge (a client library
    that reads it to know how to authenticate finds the bearer scheme); a 403 does not."""
    auth = {"Authorization": api.tokens[who]} if api.tokens[who] else {}
    r = api.client.post("/v1/licenses", json=ISSUE_BODY, headers=auth)
    assert r.status_code == 401, r.text
    assert r.headers.get_list("www-authenticate") == ["Bearer"]
    assert r.headers["content-type"] == "application/problem+json"
    lic = _fresh_license(api)
    r = api.client.get(f"/v1/licenses/{lic}", headers={"Authorization": api.tokens["other"]})
    assert r.status_code == 403, r.text
    assert "www-authenticate" not in r.headers


JSON_ENDPOINTS = {
    "issue": ("none", "/v1/licenses", {**ISSUE_BODY, "agency": MARKET}),
    "batch": ("none", "/v1/licenses/batch", {"agency": MARKET, "items": [ISSUE_BODY]}),
    "suspend": ("license", "/v1/licenses/{target}/suspend", {"reason": "检查"}),
    "renew": ("license", "/v1/licenses/{target}/renew", {}),
    "seal": ("none", "/v1/seals", {"agency": MARKET, "name": "财务专用章"}),
    "seal-revoke": ("seal", "/v1/seals/{target}/revoke", {"reason": "丢失"}),
}


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
@pytest.mark.parametrize("endpoint", list(JSON_ENDPOINTS))
def test_a_json_body_not_labelled_json_is_a_415(
    api: Api, endpoint: str, content_type: str | None
) -> None:
    """Valid JSON sent as another media type (or with none): 415 unsupported-media-type,
    the one thing wrong, not FastAPI's 422 "should be a valid dictionary"; nothing is
    recorded."""
    target_kind, path, body = JSON_ENDPOINTS[endpoint]
    target = {"none": "", "license": _fresh_license, "seal": _fresh_seal}[target_kind]
    url = path.format(target=target(api) if callable(target) else target)
    size = api.region.node.log.size()
    headers = {"Authorization": api.tokens["owner"]}
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = api.client.post(url, content=json.dumps(body).encode(), headers=headers)
    assert r.status_code == 415, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/unsupported-media-type")
    assert api.region.node.log.size() == size
    # Labelled JSON, the same bytes are read (the operation's own answer).
    headers["Content-Type"] = "application/json"
    assert api.client.post(url, content=json.dumps(body).encode(), headers=headers).is_success


def test_a_form_operation_sent_json_is_a_415(api: Api) -> None:
    seal = _fresh_seal(api)
    size = api.region.node.log.size()
    auth = {"Authorization": api.tokens["owner"]}
    for url in (f"/v1/seals/{seal}/stamp", "/v1/verify/image"):
        r = api.client.post(url, json={"file": "aGVsbG8=", "image": "aGVsbG8="}, headers=auth)
        assert r.status_code == 415, r.text
        assert r.json()["type"].endswith("/unsupported-media-type")
    assert api.region.node.log.size() == size


def _encoded_requests(api: Api) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each POST operation's request, good but for the encoding it will be labelled with."""
    owner = {"Authorization": api.tokens["owner"]}
    requests: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, (target_kind, path, body) in JSON_ENDPOINTS.items():
        target = {"none": "", "license": _fresh_license, "seal": _fresh_seal}[target_kind]
        url = path.format(target=target(api) if callable(target) else target)
        requests[name] = (url, {"json": body, "headers": owner})
    stamp = {"files": {"file": ("a.txt", b"hello", "text/plain")}, "headers": owner}
    requests["stamp"] = (f"/v1/seals/{_fresh_seal(api)}/stamp", stamp)
    qr = issue(api.region.node, Principal("agency", MARKET), MARKET, business_request(), now=NOW)
    requests["verify"] = ("/v1/verify", {"json": {"text": qr.qr_text}, "headers": {}})
    requests["verify-form"] = ("/v1/verify", {"files": {"text": (None, qr.qr_text)}, "headers": {}})
    requests["add-checkpoint"] = ("/add-checkpoint", {"content": b"old 0\n\n", "headers": {}})
    return requests


@pytest.mark.parametrize("coding", ["gzip", "GZIP", "deflate, identity", "br", "x-custom"])
def test_a_body_with_a_content_coding_is_refused_not_read_as_plain(api: Api, coding: str) -> None:
    """The node reads request bodies as sent, decoding no content coding: a body labelled
    gzip (or any coding but identity) would be read as if it were not encoded (a document
    sealed as its compressed bytes; a gzipped JSON body called "not UTF-8"; a plain body
    mislabelled read otherwise than by a proxy that decodes it). Every POST operation
    refuses it, 415 with Accept-Encoding: identity (RFC 9110 §15.5.16, §12.5.3), a problem
    it names, and nothing is recorded."""
    spec = api.client.get("/openapi.json").json()
    for name, (url, kw) in _encoded_requests(api).items():
        size = api.region.node.log.size()
        headers = {**kw["headers"], "Content-Encoding": coding}
        r = api.client.post(url, **{**kw, "headers": headers})
        assert r.status_code == 415, (name, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["accept-encoding"] == "identity"
        assert r.json()["type"].endswith("/unsupported-media-type"), name
        assert "Content-Encoding" in r.json()["detail"]
        assert api.region.node.log.size() == size, name
        template = next(
            p for p in spec["paths"] if re.fullmatch(re.sub(r"{[^}]+}", "[^/]+", p), url)
        )
        documented = spec["paths"][template]["post"]["responses"]["415"]
        assert documented["x-problem-types"] == ["unsupported-media-type"], name
        assert "Content-Encoding" in documented["description"], name


def test_a_gzipped_json_body_is_refused_for_its_coding(api: Api) -> None:
    """A client that compresses its JSON is told to send it uncompressed, not that it is
    "not JSON in UTF-8"."""
    body = gzip.compress(json.dumps({**ISSUE_BODY, "agency": MARKET}).encode())
    headers = {
        "Authorization": api.tokens["owner"],
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    size = api.region.node.log.size()
    r = api.client.post("/v1/licenses", content=body, headers=headers)
    assert r.status_code == 415, r.text
    assert "uncompressed" in r.json()["detail"]
    assert api.region.node.log.size() == size


def test_a_body_labelled_identity_is_read(api: Api) -> None:
    """identity is no coding (RFC 9110 §8.4.1): such a body is read as any other."""
    for name, (url, kw) in _encoded_requests(api).items():
        if name == "add-checkpoint":
            continue  # a body no log signed: its own refusal, in text
        headers = {**kw["headers"], "Content-Encoding": "Identity"}
        r = api.client.post(url, **{**kw, "headers": headers})
        assert r.is_success, (name, r.text)


def test_issue_answer_carries_document_proof_and_checkpoint(api: Api) -> None:
    r = api.client.post(
        "/v1/licenses", json=ISSUE_BODY, headers={"Authorization": api.tokens["owner"]}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["qr_text"].startswith("EL1:")
    assert body["checkpoint"].startswith("eseal/500000\n")
    assert body["ledger_index"] < body["tree_size"]
    assert isinstance(body["inclusion_proof"], list)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**ISSUE_BODY, "type": "11100000000013338W032"}, 403),
        ({**ISSUE_BODY, "type": "111000000000PH001J999"}, 400),
        ({**ISSUE_BODY, "fields": {**ISSUE_FIELDS, "established": "2021-13-01"}}, 400),
        ({**ISSUE_BODY, "holder": {"name": "x", "id": "91500000MA60XXXX16"}}, 400),
        ({**ISSUE_BODY, "unexpected": 1}, 422),
        ({**ISSUE_BODY, "holder": {"name": ""}}, 422),
        ({**ISSUE_BODY, "fields": {f"k{i}": "v" for i in range(41)}}, 422),
    ],
)
def test_bad_issue_bodies_are_problems_and_change_nothing(
    api: Api, body: dict[str, Any], status: int
) -> None:
    size = api.region.node.log.size()
    r = api.client.post("/v1/licenses", json=body, headers={"Authorization": api.tokens["owner"]})
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= r.json().keys()
    assert api.region.node.log.size() == size


def test_oversized_body_is_refused_before_reading(api: Api) -> None:
    size = api.region.node.log.size()
    big = {**ISSUE_BODY, "fields": {"business_scope": "x" * 2_000_000}}
    r = api.client.post("/v1/licenses", json=big, headers={"Authorization": api.tokens["owner"]})
    assert r.status_code == 413
    assert r.json()["status"] == 413
    assert api.region.node.log.size() == size


def test_second_revocation_is_a_conflict(api: Api) -> None:
    lic = _fresh_license(api)
    auth = {"Authorization": api.tokens["owner"]}
    assert (
        api.client.post(
            f"/v1/licenses/{lic}/revoke", json={"reason": "a"}, headers=auth
        ).status_code
        == 200
    )
    size = api.region.node.log.size()
    r = api.client.post(f"/v1/licenses/{lic}/revoke", json={"reason": "b"}, headers=auth)
    assert r.status_code == 409
    assert api.region.node.log.size() == size


@pytest.mark.parametrize(
    "reason", ["a\u0000b", "\u001b[31mred", "\u202eevil", "\ufeffx", "x" * 257]
)
def test_a_reason_that_is_not_plain_text_changes_nothing(api: Api, reason: str) -> None:
    """The reason goes into the ledger and onto every window and terminal that shows the
    status: no control, bidi or line-breaking character, at most 256 characters."""
    auth = {"Authorization": api.tokens["owner"]}
    lic, seal = _fresh_license(api), _fresh_seal(api)
    size = api.region.node.log.size()
    for path in (f"/v1/licenses/{lic}/revoke", f"/v1/licenses/{lic}/suspend"):
        r = api.client.post(path, json={"reason": reason}, headers=auth)
        assert r.status_code in (400, 422), r.text
        assert r.headers["content-type"] == "application/problem+json"
    r = api.client.post(f"/v1/seals/{seal}/revoke", json={"reason": reason}, headers=auth)
    assert r.status_code in (400, 422), r.text
    assert api.region.node.log.size() == size
    assert api.client.get(f"/v1/licenses/{lic}/status").json()["status"] == "01"
    with pytest.raises(InvalidInput):
        revoke_key(
            api.region.node,
            MARKET,
            active_key(api.region.node, MARKET).key_id.hex(),
            reason=reason,
            now=NOW,
        )
    assert api.region.node.log.size() == size


@pytest.mark.parametrize(
    "reason",
    [
        "持证人张三（身份证11010519491231002X）已死亡",
        "持证人身份证号11010519491231002x",
        "身份证 １１０１０５１９４９１２３１００２Ｘ",
        "证号 110105 19491231 002X 冒用",
        "证号 110105-19491231-002X",
        "证号 110105.19491231.002x",
        "证号 110105 - 1949 1231 / 002X",
    ],
)
def test_a_reason_holding_an_identity_number_changes_nothing(api: Api, reason: str) -> None:
    """A reason is recorded in the ledger, which keeps it for ever and every region reads:
    one holding a resident identity number (as typed: full-width, spaced) is refused, and
    the refusal does not repeat it."""
    auth = {"Authorization": api.tokens["owner"]}
    lic, seal = _fresh_license(api), _fresh_seal(api)
    size = api.region.node.log.size()
    for path in (f"/v1/licenses/{lic}/revoke", f"/v1/licenses/{lic}/suspend"):
        r = api.client.post(path, json={"reason": reason}, headers=auth)
        assert r.status_code == 400, r.text
        assert "identity number" in r.json()["detail"]
        assert "19491231" not in r.text
    r = api.client.post(f"/v1/seals/{seal}/revoke", json={"reason": reason}, headers=auth)
    assert r.status_code == 400, r.text
    assert api.region.node.log.size() == size
    assert api.client.get(f"/v1/licenses/{lic}/status").json()["status"] == "01"
    key = active_key(api.region.node, MARKET).key_id.hex()
    with pytest.raises(InvalidInput, match="identity number"):
        revoke_key(api.region.node, MARKET, key, reason=reason, now=NOW)
    assert api.region.node.log.size() == size


@pytest.mark.parametrize("reason", ["案卷 110105194912310021", "文号 20240520123456789012"])
def test_a_reason_with_numbers_that_are_no_identity_number_is_recorded(
    api: Api, reason: str
) -> None:
    lic = _fresh_license(api)
    auth = {"Authorization": api.tokens["owner"]}
    r = api.client.post(f"/v1/licenses/{lic}/suspend", json={"reason": reason}, headers=auth)
    assert r.status_code == 200, r.text
    assert api.client.get(f"/v1/licenses/{lic}/status").json()["status_reason"] == reason


def test_a_reason_is_recorded_with_its_white_space_collapsed(api: Api) -> None:
    auth = {"Authorization": api.tokens["owner"]}
    lic = _fresh_license(api)
    reason = "  经营场所与登记不符\r\n（第 3 条）\u2028　 "
    r = api.client.post(f"/v1/licenses/{lic}/suspend", json={"reason": reason}, headers=auth)
    assert r.status_code == 200, r.text
    status = api.client.get(f"/v1/licenses/{lic}/status").json()
    assert status["status_reason"] == "经营场所与登记不符 （第 3 条）"


def test_a_license_as_stored_is_a_live_answer(api: Api) -> None:
    """GET /v1/licenses/{id} shows the current status: sent with no-store, like the status
    itself, so no cache answers "01" once the license is suspended."""
    auth = {"Authorization": api.tokens["owner"]}
    lic = _fresh_license(api)
    r = api.client.get(f"/v1/licenses/{lic}", headers=auth)
    assert (r.status_code, r.json()["status"]) == (200, "01")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    r = api.client.post(f"/v1/licenses/{lic}/suspend", json={"reason": "检查"}, headers=auth)
    assert r.status_code == 200, r.text
    r = api.client.get(f"/v1/licenses/{lic}", headers=auth)
    assert (r.json()["status"], r.headers["cache-control"]) == ("02", "no-store")


def test_seal_image_is_public_png(api: Api) -> None:
    seal = _fresh_seal(api)
    r = api.client.get(f"/v1/seals/{seal}/image")
    assert r.status_code == 200
    assert r.content.startswith(b"\x89PNG")
    assert r.headers["content-type"] == "image/png"
    # and the OpenAPI document says so (a generated client would read it as JSON otherwise)
    spec = api.client.get("/openapi.json").json()
    answer = spec["paths"]["/v1/seals/{seal_id}/image"]["get"]["responses"]["200"]
    assert set(answer["content"]) == {"image/png"}


@pytest.mark.parametrize("image", ["é", "not base64!", "iVBORw0KGgo=", "%!PS"])
def test_a_bad_seal_image_is_a_problem_and_makes_no_seal(api: Api, image: str) -> None:
    size = api.region.node.log.size()
    r = api.client.post(
        "/v1/seals",
        headers={"Authorization": api.tokens["owner"]},
        json={"agency": MARKET, "name": "财务专用章", "type": "finance", "image_png_base64": image},
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert api.region.node.log.size() == size


def test_verify_sees_trust_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """POST /v1/verify caches the trust store: a seal made or revoked over the API is seen
    by the next request; a key revoked by another process (the CLI) once the cache's
    lifetime (BUNDLE_CACHE_SECONDS) has passed, here made zero."""
    from eseal import trust_export
    from eseal.agencies import revoke_key, rotate_key
    from eseal.render import qr_png
    from eseal.seals import stamp
    from tests.eseal.conftest import make_region
    from verifier.document import decode

    region = make_region(tmp_path / "node")
    owner = {"Authorization": f"Bearer {region.market.credential}"}
    market = Principal("agency", MARKET)
    lic = issue(region.node, market, MARKET, business_request(), now=NOW)
    with TestClient(create_app(region.node)) as client:

        def status_of(text: str, document: bytes | None = None) -> str:
            if document is None:
                return str(client.post("/v1/verify", json={"text": text}).json()["status"])
            files = {
                "image": ("qr.png", qr_png(text), "image/png"),
                "document": ("contract.txt", document, "text/plain"),
            }
            return str(client.post("/v1/verify", files=files).json()["status"])

        assert status_of(lic.qr_text) == "VALID"  # the trust store is now cached
        made = client.post(
            "/v1/seals",
            json={"agency": MARKET, "name": "合同专用章", "type": "contract"},
            headers=owner,
        )
        assert made.status_code == 201, made.text
        seal_id = made.json()["id"]
        stamped = stamp(
            region.node,
            market,
            seal_id,
            document=b"a contract",
            document_name="contract.txt",
            media_type="text/plain",
            now=int(time.time()),  # the API made the seal's key now
        )
        assert status_of(stamped.qr_text, b"a contract") == "VALID"  # new seal: trusted
        r = client.post(f"/v1/seals/{seal_id}/revoke", json={"reason": "lost"}, headers=owner)
        assert r.status_code == 200, r.text
        assert status_of(stamped.qr_text, b"a contract") == "REVOKED"  # revoked: at once
        # Another process rotates the agency's key and revokes the old one.
        rotate_key(region.node, MARKET, now=NOW + 10)
        old_key = decode(lic.qr_text).kid.hex()
        revoke_key(region.node, MARKET, old_key, reason="leaked", now=NOW + 11)
        assert status_of(lic.qr_text) == "VALID"  # still the cached store
        monkeypatch.setattr(trust_export, "BUNDLE_CACHE_SECONDS", 0)
        assert status_of(lic.qr_text) == "KEY_REVOKED"
    region.node.close()


def test_a_repeated_json_key_is_refused_and_changes_nothing(api: Api) -> None:
    """Every JSON body is read strictly: a repeated key (the framework would keep the last
    one silently: "second reason" went into the ledger), a body that is not UTF-8, NaN or
    Infinity, or no JSON at all is a 400 invalid-json problem, and nothing is written."""
    license_id = _fresh_license(api)
    owner = {"Authorization": api.tokens["owner"], "Content-Type": "application/json"}
    size = api.region.node.log.size()
    bodies = [
        b'{"reason": "first reason", "reason": "second reason"}',
        '{"reason": "检查"}'.encode("utf-16"),
        b"{reason: 1}",
        b'{"reason": NaN}',  # Python's json takes it; RFC 8259 has no NaN
        b'{"reason": -Infinity}',
        b'{"reason": 1e999}',  # infinity to Python's json
        b'{"reason": ' + b"9" * 5000 + b"}",  # Python refuses with advice for programmers
        b'{"reason": ' + b"9" * 65 + b"}",  # more digits than any field needs (64)
    ]
    for body in bodies:
        r = api.client.post(f"/v1/licenses/{license_id}/suspend", content=body, headers=owner)
        assert r.status_code == 400, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/invalid-json")
        assert "sys." not in r.json()["detail"]  # no advice for Python programmers
    assert (
        "duplicate key 'reason'"
        in api.client.post(
            f"/v1/licenses/{license_id}/suspend", content=bodies[0], headers=owner
        ).json()["detail"]
    )
    bare = {"Authorization": api.tokens["owner"]}  # no Content-Type: still read as JSON
    r = api.client.post(f"/v1/licenses/{license_id}/suspend", content=bodies[0], headers=bare)
    assert r.status_code == 400
    assert api.region.node.log.size() == size
    r = api.client.post(
        f"/v1/licenses/{license_id}/suspend", json={"reason": "检查"}, headers=owner
    )
    assert r.status_code == 200, r.text
    assert api.region.node.log.size() == size + 1


def test_an_invalid_json_problem_has_one_title_whoever_answers_it(api: Api) -> None:
    """RFC 9457 §3.1.3: a problem type's title does not change from one occurrence to
    another; the body limit (licenses) and the verify route read JSON each."""
    json_type = {"Content-Type": "application/json"}
    answers = [
        api.client.post("/v1/licenses", content=b"{x", headers=json_type),
        api.client.post("/v1/verify", content=b"{x", headers=json_type),
    ]
    assert [r.status_code for r in answers] == [400, 400]
    assert len({(r.json()["type"], r.json()["title"]) for r in answers}) == 1, answers[0].text


def test_a_repeated_form_field_or_query_parameter_is_refused(api: Api) -> None:
    seal = _fresh_seal(api)
    owner = {"Authorization": api.tokens["owner"]}
    size = api.region.node.log.size()
    two_files = [
        ("file", ("a.txt", b"first", "text/plain")),
        ("file", ("b.txt", b"second", "text/plain")),
    ]
    r = api.client.post(f"/v1/seals/{seal}/stamp", files=two_files, headers=owner)
    assert r.status_code == 400, r.text
    assert "'file'" in r.json()["detail"]
    assert api.region.node.log.size() == size  # neither file was sealed
    r = api.client.post("/v1/verify", files=[("text", (None, "EL1:A")), ("text", (None, "EL1:B"))])
    assert r.status_code == 400
    assert "'text'" in r.json()["detail"]
    r = api.client.get("/v1/ledger/entries?start=0&start=1")
    assert r.status_code == 400
    assert r.json()["type"].endswith("/repeated-parameter")
    assert api.client.get("/v1/ledger/entries?start=0&end=1").status_code == 200


def test_numbers_and_dates_are_read_as_written(api: Api) -> None:
    """Plain decimal integers in queries and YYYY-MM-DD dates in bodies: the lax forms
    Python would read (1_0, +1, 01, 1.0, a date-time at midnight) are refused."""
    for bad in ("1_0", "+1", "01", "-0", "1.0", " 1", "0x1", "١"):
        r = api.client.get(f"/v1/ledger/entries?start={bad}")
        assert r.status_code == 422, bad
        assert r.headers["content-type"] == "application/problem+json"
    assert api.client.get("/v1/ledger/entries?start=0").status_code == 200
    assert api.client.get("/v1/ledger/entries?start=-1").status_code == 422  # ge=0 still holds
    owner = {"Authorization": api.tokens["owner"]}
    size = api.region.node.log.size()
    for bad in ("2031-01-01T00:00:00", "20310101", "2031-1-1"):
        body = {**ISSUE_BODY, "agency": MARKET, "valid_until": bad}
        r = api.client.post("/v1/licenses", json=body, headers=owner)
        assert r.status_code == 422, (bad, r.text)
    assert api.region.node.log.size() == size
    body = {**ISSUE_BODY, "agency": MARKET, "valid_until": "2031-01-01"}
    assert api.client.post("/v1/licenses", json=body, headers=owner).status_code == 201


def test_api_issuance_ends_validity_at_the_end_of_a_beijing_day(api: Api) -> None:
    """A batch without valid_until gets the type's default (730 days for the worker
    certificate) to 23:59:59 Beijing time of its last day; an explicit valid_until, that
    day's last second."""
    item = {
        "type": WORKER,
        "holder": {"name": "李四", "id": "11010519491231002X"},
        "fields": {
            "certificate_number": "渝建安A(2024)0012345",
            "operation_category": "建筑电工",
            "first_issued": "2024-05-20",
        },
    }
    housing = {"Authorization": api.tokens["other"]}
    before = int(time.time())
    r = api.client.post("/v1/licenses/batch", json={"items": [item, item]}, headers=housing)
    after = int(time.time())
    assert r.status_code == 201, r.text
    days = {beijing_day(t + 730 * 86400) for t in (before, after)}
    for issued in r.json():
        assert (issued["expires"] + 8 * 3600) % 86400 == 86399  # 23:59:59 in Beijing
        assert beijing_day(issued["expires"]) in days
    body = {**item, "valid_until": "2027-01-31"}
    r = api.client.post("/v1/licenses", json=body, headers=housing)
    assert r.status_code == 201, r.text
    assert r.json()["expires"] == end_of_day("2027-01-31")


def test_a_multipart_qr_text_is_bounded_as_sent(api: Api) -> None:
    padded = " " * 3000 + "EL1:" + "A" * 3000
    r = api.client.post("/v1/verify", files={"text": (None, padded)})
    assert r.status_code == 400
    assert "longer than" in r.json()["detail"]


def _stamp_raw(api: Api, seal: str, disposition: bytes) -> Any:
    """POST a stamp whose file part has this Content-Disposition, byte for byte."""
    body = (
        b"--x\r\nContent-Disposition: " + disposition + b"\r\n"
        b"Content-Type: text/plain\r\n\r\nthe document\r\n--x--\r\n"
    )
    headers = {
        "Authorization": api.tokens["owner"],
        "Content-Type": "multipart/form-data; boundary=x",
    }
    return api.client.post(f"/v1/seals/{seal}/stamp", content=body, headers=headers)


def test_a_stamped_files_name_is_read_as_the_client_wrote_it(api: Api) -> None:
    """UTF-8, or GB18030 as older Chinese clients send it (not Latin-1 mojibake); a name in
    neither is refused, and nothing is sealed."""
    seal = _fresh_seal(api)
    for name in ("营业执照.txt", "合同 2026.txt"):
        for encoded in (name.encode(), name.encode("gb18030")):
            r = _stamp_raw(api, seal, b'form-data; name="file"; filename="' + encoded + b'"')
            assert r.status_code == 201, r.text
            claims = decode(r.json()["qr_text"]).claims
            assert isinstance(claims, StampClaims)
            assert claims.body.file_name == name
    size = api.region.node.log.size()
    r = _stamp_raw(api, seal, b'form-data; name="file"; filename="\xff\xfe.txt"')
    assert r.status_code == 400
    assert r.json()["type"].endswith("/file-name-not-readable")
    assert api.region.node.log.size() == size


def test_a_stamp_records_the_files_media_type_without_parameters(api: Api) -> None:
    seal = _fresh_seal(api)
    owner = {"Authorization": api.tokens["owner"]}
    for sent, recorded in (
        ("text/plain; charset=utf-8", "text/plain"),
        ("Application/PDF", "application/pdf"),
        ("image/svg+xml ;q=1", "image/svg+xml"),
    ):
        files = {"file": ("a.txt", b"hello", sent)}
        r = api.client.post(f"/v1/seals/{seal}/stamp", files=files, headers=owner)
        assert r.status_code == 201, r.text
        claims = decode(r.json()["qr_text"]).claims
        assert isinstance(claims, StampClaims)
        assert claims.body.media_type == recorded
    size = api.region.node.log.size()
    for bad in ("text", "text/plain/x", "téxt/plain", "/plain", "a/" + "b" * 200):
        files = {"file": ("a.txt", b"hello", bad)}
        r = api.client.post(f"/v1/seals/{seal}/stamp", files=files, headers=owner)
        assert r.status_code == 400, (bad, r.text)
        assert "type/subtype" in r.json()["detail"]
    assert api.region.node.log.size() == size


def test_a_stamp_form_with_a_field_it_does_not_read_seals_nothing(api: Api) -> None:
    seal = _fresh_seal(api)
    owner = {"Authorization": api.tokens["owner"]}
    size = api.region.node.log.size()
    files = {"file": ("a.txt", b"hello", "text/plain")}
    r = api.client.post(
        f"/v1/seals/{seal}/stamp", files=files, data={"nmae": "合同.txt"}, headers=owner
    )
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == "the form field 'nmae' is not one of file, name"
    assert api.region.node.log.size() == size


def test_an_empty_file_is_not_sealed(api: Api) -> None:
    """A stamp on no content attests nothing (a file not yet written, a failed export):
    refused, and nothing is recorded."""
    seal = _fresh_seal(api)
    owner = {"Authorization": api.tokens["owner"]}
    size = api.region.node.log.size()
    files = {"file": ("空.pdf", b"", "application/pdf")}
    r = api.client.post(f"/v1/seals/{seal}/stamp", files=files, headers=owner)
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == "the document is empty: there is nothing to seal"
    assert api.region.node.log.size() == size


def _stamp_named(api: Api, seal: str, name: bytes, charset: bytes = b"") -> Any:
    """POST a stamp whose 'name' field holds these bytes (the form's charset given or not)."""
    body = (
        b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\n' + name + b"\r\n"
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="d.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nthe document\r\n--x--\r\n"
    )
    headers = {
        "Authorization": api.tokens["owner"],
        "Content-Type": "multipart/form-data; boundary=x" + charset.decode(),
    }
    return api.client.post(f"/v1/seals/{seal}/stamp", content=body, headers=headers)


def test_a_stamps_name_field_is_read_as_the_client_wrote_it(api: Api) -> None:
    """The 'name' field in UTF-8, or GB18030 as older Chinese clients send it, or in the
    charset the form names; never Latin-1 mojibake: bytes in none of them are refused, and
    nothing is sealed."""
    seal = _fresh_seal(api)
    for name, encoded, charset in (
        ("营业执照副本", "营业执照副本".encode(), b""),
        ("营业执照副本", "营业执照副本".encode("gb18030"), b""),
        ("café.pdf", "café.pdf".encode(), b""),
        ("租赁合同", "租赁合同".encode("gb18030"), b"; charset=gb18030"),
    ):
        r = _stamp_named(api, seal, encoded, charset)
        assert r.status_code == 201, (name, r.text)
        claims = decode(r.json()["qr_text"]).claims
        assert isinstance(claims, StampClaims)
        assert claims.body.file_name == name
    size = api.region.node.log.size()
    r = _stamp_named(api, seal, b"\xff\xfe\x80")
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "'name' is in neither UTF-8 nor GB18030" in r.json()["detail"]
    assert api.region.node.log.size() == size


@pytest.mark.parametrize(
    "name", ["合同\n副本.pdf", "合同\x00.pdf", "合同\u3000副本.pdf", "contract\u202efdp.exe"]
)
@pytest.mark.parametrize("given_as", ["name", "filename"])
def test_a_stamps_name_that_is_not_printable_is_refused_as_documented(
    api: Api, name: str, given_as: str
) -> None:
    """A stamp holds printable text only (verifier.claims): a document name with a control
    character, a line break, a space other than U+0020 or a bidirectional override, given
    in the 'name' field or as the file's name, is the client's bad input, refused with a
    problem the operation names (not the QR decoder's invalid-claim about a "claim"), and
    nothing is sealed."""
    seal = _fresh_seal(api)
    size = api.region.node.log.size()
    if given_as == "name":
        r = _stamp_named(api, seal, name.encode())
    else:
        r = _stamp_raw(api, seal, b'form-data; name="file"; filename="' + name.encode() + b'"')
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith("/invalid-input"), problem
    assert "document name" in problem["detail"]
    assert "printable" in problem["detail"]
    spec = api.client.get("/openapi.json").json()
    documented = spec["paths"]["/v1/seals/{seal_id}/stamp"]["post"]["responses"]["400"]
    assert "invalid-input" in documented["x-problem-types"]
    assert "not printable" in documented["description"]
    assert api.region.node.log.size() == size


def test_a_verify_text_field_not_in_the_forms_charset_is_refused(api: Api) -> None:
    body = (
        b'--x\r\nContent-Disposition: form-data; name="text"\r\n\r\nEL1:\xff\xfe\x80\r\n--x--\r\n'
    )
    r = api.client.post(
        "/v1/verify",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert r.status_code == 400, r.text
    assert "'text' is in neither UTF-8 nor GB18030" in r.json()["detail"]


@pytest.mark.parametrize(
    "charset", ["bogus", "base64", "rot13", "zlib", "utf-7", "unicode_escape", "utf-16", "hz"]
)
def test_a_form_naming_a_charset_that_is_no_text_encoding_is_refused(
    api: Api, charset: str
) -> None:
    """Starlette would read an unknown charset as Latin-1, fail (500) on a codec that is
    not a text encoding, and read ASCII as other text in UTF-7 or unicode_escape ("+ZeVnLA-"
    as "日本"): a 400 problem instead, on both form routes, nothing sealed."""
    seal = _fresh_seal(api)
    size = api.region.node.log.size()
    r = _stamp_named(api, seal, b"\xff\xfe\xfd", f"; charset={charset}".encode())
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert f"charset '{charset}' is not known" in r.json()["detail"]
    body = b'--x\r\nContent-Disposition: form-data; name="text"\r\n\r\nEL1:x\r\n--x--\r\n'
    r = api.client.post(
        "/v1/verify",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary=x; charset={charset}"},
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert api.region.node.log.size() == size


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n\r\n--x--\r\n"),  # no boundary
        ("multipart/form-data; boundary=x", b"--x\r\n[]--x--\r\n"),  # no part headers
        ("multipart/form-data; boundary=x; charset=bogus", b"--x--\r\n"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\n\xff\xfe\r\n--x--\r\n',
        ),
    ],
)
def test_a_form_that_cannot_be_read_is_a_named_problem(
    api: Api, content_type: str, body: bytes
) -> None:
    """A multipart body that is no form, names a charset that is none, or holds a field
    that is not text: a 400 form-unreadable problem on every form operation, where it was
    the type http-400, named nowhere (found by schemathesis); nothing sealed."""
    seal = _fresh_seal(api)
    size = api.region.node.log.size()
    auth = {"Authorization": api.tokens["owner"]}
    for path in ("/v1/verify", "/v1/verify/image", f"/v1/seals/{seal}/stamp"):
        r = api.client.post(path, content=body, headers={"Content-Type": content_type, **auth})
        assert r.status_code == 400, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["type"].endswith("/form-unreadable"), (path, problem)
        assert problem["title"] == "The multipart form cannot be read."
    assert api.region.node.log.size() == size


@pytest.mark.parametrize("name", ["Müller", "Straße.pdf", "Françoise"])
def test_latin1_bytes_are_not_read_as_gb18030(api: Api, name: str) -> None:
    """Latin-1 bytes that GB18030 would read as Chinese (a high byte before an ASCII
    letter: "Müller" as "M黮ler") are refused, in the field and in the file name."""
    seal = _fresh_seal(api)
    size = api.region.node.log.size()
    r = _stamp_named(api, seal, name.encode("latin-1"))
    assert r.status_code == 400, r.text
    r = _stamp_raw(api, seal, b'form-data; name="file"; filename="' + name.encode("latin-1") + b'"')
    assert r.status_code == 400, r.text
    assert r.json()["type"].endswith("/file-name-not-readable")
    assert api.region.node.log.size() == size


def test_a_file_name_is_read_in_the_forms_charset(api: Api) -> None:
    """A form that names its charset (Big5 here) has its file name read in it too, as its
    text fields are; bytes not in it are refused."""
    seal = _fresh_seal(api)
    file_part = (
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n\r\ndoc\r\n--x--\r\n'
    )
    headers = {
        "Authorization": api.tokens["owner"],
        "Content-Type": "multipart/form-data; boundary=x; charset=big5",
    }
    name = "營業執照.txt"
    url = f"/v1/seals/{seal}/stamp"
    r = api.client.post(url, content=file_part.replace(b"%s", name.encode("big5")), headers=headers)
    assert r.status_code == 201, r.text
    claims = decode(r.json()["qr_text"]).claims
    assert isinstance(claims, StampClaims)
    assert claims.body.file_name == name
    r = api.client.post(url, content=file_part.replace(b"%s", b"\xff\xff"), headers=headers)
    assert r.status_code == 400, r.text
    assert "not big5 text" in r.json()["detail"]
    r = _stamp_named(api, seal, b"\xff\xff", b"; charset=big5")
    assert r.status_code == 400, r.text
    assert "'name' is not big5 text" in r.json()["detail"]


@pytest.mark.parametrize(
    "label", ["gb2312", "GBK", "x-gbk", "cp936", "windows-936", "GB18030", '"gbk"']
)
def test_a_form_labelled_gb2312_is_read_as_gbk_does(api: Api, label: str) -> None:
    """Clients label GBK text "gb2312" (and by other names browsers use): a name with a
    character outside GB 2312 (镕) is read as GB18030, its superset, not refused."""
    seal = _fresh_seal(api)
    name = "朱镕基批示.pdf"
    r = _stamp_named(api, seal, name.encode("gbk"), f"; charset={label}".encode())
    assert r.status_code == 201, r.text
    claims = decode(r.json()["qr_text"]).claims
    assert isinstance(claims, StampClaims)
    assert claims.body.file_name == name


@pytest.mark.parametrize(
    ("label", "name", "codec"),
    [
        ("euc-kr", "똠방각하.pdf", "cp949"),  # a UHC syllable, as Korean clients send
        ("us-ascii", "notice.pdf", "ascii"),
        ("windows-31j", "契約書.pdf", "cp932"),
        ("big5", "營業執照.pdf", "big5"),
    ],
)
def test_forms_in_the_charsets_clients_label_them_with(
    api: Api, label: str, name: str, codec: str
) -> None:
    seal = _fresh_seal(api)
    r = _stamp_named(api, seal, name.encode(codec), f"; charset={label}".encode())
    assert r.status_code == 201, r.text
    claims = decode(r.json()["qr_text"]).claims
    assert isinstance(claims, StampClaims)
    assert claims.body.file_name == name


def test_fastapi_telemetry_is_off_unless_the_environment_asks(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no OpenTelemetry setting in the environment, a request never asks whether a
    tracer provider is configured (FastAPI's check costs the hot path); with one, FastAPI's
    default stands and it asks."""
    assert telemetry_config({"PATH": "/bin"}) == TELEMETRY_OFF
    assert telemetry_config({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"}) is None
    assert telemetry_config({"FASTAPI_OTEL_AUTO_CONFIGURE": "true"}) is None
    assert telemetry_config({"OTEL_SDK_DISABLED": "true", "OTEL_SERVICE_NAME": "x"}) == (
        TELEMETRY_OFF
    )
    asked: list[str] = []
    real = trace.get_tracer_provider

    def spy() -> Any:
        asked.append("tracer")
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", spy)
    for name in [n for n in os.environ if n.startswith(("OTEL_", "FASTAPI_OTEL_"))]:
        monkeypatch.delenv(name)
    with TestClient(create_app(region.node)) as client:
        assert client.get("/healthz").status_code == 200
    assert asked == []
    monkeypatch.setenv("OTEL_SERVICE_NAME", "eseal")
    with TestClient(create_app(region.node)) as client:
        assert client.get("/healthz").status_code == 200
    assert asked  # FastAPI's default: it looks for a provider on each request


def test_failures_no_route_anticipated_are_problems(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error a route does not catch is a 503 store-unavailable problem, and any
    other failure a 500 problem: never Starlette's plain-text page, never the driver's
    message (it may quote SQL)."""
    from sqlalchemy.exc import OperationalError

    from eseal.api.routes import licenses as license_routes

    def broken_database(_node: Any, _license_id: str) -> Any:
        raise OperationalError("SELECT secret FROM license", {}, Exception("disk I/O error"))

    def broken_code(_node: Any, _license_id: str) -> Any:
        raise RuntimeError("a bug")

    license_id = _fresh_license_id(region)
    with TestClient(create_app(region.node), raise_server_exceptions=False) as client:
        monkeypatch.setattr(license_routes, "get_license", broken_database)
        r = client.get(f"/v1/licenses/{license_id}/status")
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/store-unavailable")
        assert r.headers["cache-control"] == "no-store"
        assert "SELECT" not in r.text
        monkeypatch.setattr(license_routes, "get_license", broken_code)
        r = client.get(f"/v1/licenses/{license_id}/status")
        assert r.status_code == 500
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/internal-error")
        assert r.headers["cache-control"] == "no-store"
        assert "a bug" not in r.text


def _fresh_license_id(region: Region) -> str:
    return issue(region.node, Principal("agency", MARKET), MARKET, business_request(), now=NOW).id


def _other_char(c: str) -> str:
    return "A" if c != "A" else "B"


#: Ids that are none of a license's, each made from a license's real id, and what the
#: refusal says of it.
MALFORMED_LICENSE_IDS: dict[str, tuple[Callable[[str], str], str]] = {
    "check character": (
        lambda good: good[:-1] + _other_char(good[-1]),
        "license id: check character should be",
    ),
    "lower case": (
        lambda good: good.replace(BUSINESS, BUSINESS.lower()),
        "license id: type code must be upper-case",
    ),
    "no license id": (lambda _good: "1.2.3", "license id must start with '1.2.156.3005.2.'"),
    "too long": (lambda good: good + "1" * 100, "longer than 128 characters"),
}
#: The same for seal ids: an agency's credit code, a dot and 12 upper-case hex digits.
MALFORMED_SEAL_IDS: dict[str, tuple[Callable[[str], str], str]] = {
    "agency check character": (
        lambda good: good[:17] + _other_char(good[17]) + good[18:],
        "seal id: agency code: credit code: check character should be",
    ),
    "lower-case hex": (lambda good: good[:19] + "abcdef012345", "12 upper-case hex digits"),
    "no seal id": (lambda _good: "SEAL", "seal id must be"),
    "too long": (lambda good: good + "0" * 40, "seal id must be"),
}


def _stamp_file(api: Api, url: str, headers: dict[str, str]) -> Any:
    return api.client.post(url, files={"file": ("a.txt", b"hi", "text/plain")}, headers=headers)


#: Each operation taking a license or seal id in its path: (kind, whether it takes a
#: credential, its call).
ID_OPERATIONS: dict[str, tuple[str, bool, Callable[[Api, str, dict[str, str]], Any]]] = {
    "license status": (
        "license",
        False,
        lambda api, i, h: api.client.get(f"/v1/licenses/{i}/status", headers=h),
    ),
    "license": ("license", True, lambda api, i, h: api.client.get(f"/v1/licenses/{i}", headers=h)),
    "renew": (
        "license",
        True,
        lambda api, i, h: api.client.post(f"/v1/licenses/{i}/renew", json={}, headers=h),
    ),
    "suspend": (
        "license",
        True,
        lambda api, i, h: api.client.post(
            f"/v1/licenses/{i}/suspend", json={"reason": "检查"}, headers=h
        ),
    ),
    "seal status": (
        "seal",
        False,
        lambda api, i, h: api.client.get(f"/v1/seals/{i}/status", headers=h),
    ),
    "seal image": ("seal", False, lambda api, i, h: api.client.get(f"/v1/seals/{i}/image")),
    "stamp": ("seal", True, lambda api, i, h: _stamp_file(api, f"/v1/seals/{i}/stamp", h)),
    "seal revoke": (
        "seal",
        True,
        lambda api, i, h: api.client.post(
            f"/v1/seals/{i}/revoke", json={"reason": "丢失"}, headers=h
        ),
    ),
}


@pytest.mark.parametrize("operation", list(ID_OPERATIONS))
def test_a_malformed_id_in_the_path_is_a_400_naming_its_flaw(api: Api, operation: str) -> None:
    """A license or seal id that is none (malformed, or its check character wrong) is bad
    input, answered 400 invalid-license-id (invalid-seal-id) naming the flaw, as a
    transfer's malformed new license is; not 404, which says the region never recorded a
    well-formed id, nor FastAPI's 422. It changes nothing; an operation taking a credential
    asks for it first (401)."""
    kind, private, call = ID_OPERATIONS[operation]
    good = _fresh_license(api) if kind == "license" else _fresh_seal(api)
    malformed = MALFORMED_LICENSE_IDS if kind == "license" else MALFORMED_SEAL_IDS
    owner = {"Authorization": api.tokens["owner"]}
    size = api.region.node.log.size()
    for flaw, (spoil, said) in malformed.items():
        bad = spoil(good)
        r = call(api, bad, owner)
        assert r.status_code == 400, (flaw, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["type"].endswith(f"/invalid-{kind}-id"), (flaw, problem)
        assert said in problem["detail"], (flaw, problem)
        if private:
            assert call(api, bad, {}).status_code == 401, flaw
    assert api.region.node.log.size() == size
    assert call(api, good, owner).is_success


def test_posting_to_a_status_is_a_405_whatever_the_id(api: Api) -> None:
    """POST on a status: the method is wrong for the resource, whatever the id names."""
    good = _fresh_license(api)
    for spoil, _said in MALFORMED_LICENSE_IDS.values():
        r = api.client.post(f"/v1/licenses/{spoil(good)}/status", json={})
        assert r.status_code == 405, r.text


def test_problems_are_not_kept_by_caches(api: Api) -> None:
    """A 404 is cacheable by default (RFC 9111): a cache keeping "unknown license" would
    answer it after the license is issued. Every problem says no-store, whoever renders it
    (a route's error, routing, validation, the body limit)."""
    answers = [
        api.client.get(f"/v1/licenses/{UNKNOWN_LICENSE_ID}/status"),  # the route's problem
        api.client.get("/v1/nowhere"),  # routing
        api.client.post("/v1/licenses", json={"agency": 1}),  # validation (and no credential)
        api.client.post(
            "/v1/verify", content=b"x" * (20 * 1024), headers={"content-type": "application/json"}
        ),
    ]
    for r in answers:
        assert r.status_code >= 400, r.text
        assert r.headers["content-type"] == "application/problem+json", r.text
        assert r.headers["cache-control"] == "no-store", (r.status_code, r.headers)


def test_a_suspended_license_is_not_renewed(api: Api) -> None:
    """A renewal's new version is valid: renewing a suspended license (by its agency, say,
    while the operator's suspension stands) would end the suspension with no record of it.
    It is refused and changes nothing; once reinstated, the license renews."""
    license_id = _fresh_license(api)
    owner = {"Authorization": api.tokens["owner"]}
    operator = {"Authorization": api.tokens["operator"]}
    r = api.client.post(
        f"/v1/licenses/{license_id}/suspend", json={"reason": "立案调查"}, headers=operator
    )
    assert r.status_code == 200, r.text
    size = api.region.node.log.size()
    for who in (owner, operator):
        r = api.client.post(f"/v1/licenses/{license_id}/renew", json={}, headers=who)
        assert r.status_code == 409, r.text
        assert "reinstate" in r.json()["detail"]
    assert api.region.node.log.size() == size
    assert api.client.get(f"/v1/licenses/{license_id}/status").json()["status"] == "02"
    assert api.client.post(f"/v1/licenses/{license_id}/reinstate", headers=owner).is_success
    r = api.client.post(f"/v1/licenses/{license_id}/renew", json={}, headers=owner)
    assert r.status_code == 201, r.text


def test_a_status_change_that_needs_no_reason_needs_no_body(api: Api) -> None:
    """A reinstatement needs no reason, so it needs no body: POST …/reinstate alone works
    (it was a 422 "body: Field required"), with no Content-Type (no body needs none: not a
    415). A change that needs a reason sent without one says so, and changes nothing."""
    license_id = _fresh_license(api)
    owner = {"Authorization": api.tokens["owner"]}
    size = api.region.node.log.size()
    r = api.client.post(f"/v1/licenses/{license_id}/suspend", headers=owner)
    assert r.status_code == 400, r.text
    assert "give a reason" in r.json()["detail"]
    assert api.region.node.log.size() == size
    r = api.client.post(
        f"/v1/licenses/{license_id}/suspend", json={"reason": "核查中"}, headers=owner
    )
    assert r.status_code == 200, r.text
    r = api.client.post(f"/v1/licenses/{license_id}/reinstate", headers=owner)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "01"
    assert api.region.node.log.size() == size + 2


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_node_served_without_its_passphrase_answers_every_act_503(
    api: Api, endpoint: str
) -> None:
    """`eseal serve` without ESEAL_PASSPHRASE serves read-only: an act is the node's
    condition, not the client's mistake, so it is a 503 (a status change or revocation was
    a 400 `log-key-locked`, telling the client to correct a request that was right)."""
    kind, call = ENDPOINTS[endpoint]
    target = {"none": "", "license": _fresh_license(api), "seal": _fresh_seal(api)}[kind]
    node = Node.open(api.region.node.data_dir)  # no passphrase: as `eseal serve` without one
    size = node.log.size()
    try:
        with TestClient(create_app(node)) as client:
            r = call(Api(client, api.region, api.tokens), api.tokens["owner"], target)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "ESEAL_PASSPHRASE" in r.json()["detail"]
        # One problem for the one condition, as the document names it: a status change or
        # revocation (which only appends) answered the ledger's log-key-locked.
        assert r.json()["type"].endswith("/keys-locked")
        assert node.log.size() == size
    finally:
        node.close()


def _cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    """``eseal ARGS`` run in this process (its exit code and what it printed)."""
    from unittest import mock

    from eseal.cli import main

    capsys.readouterr()
    with mock.patch("sys.argv", ["eseal", *map(str, args)]), pytest.raises(SystemExit) as e:
        main()
    said = capsys.readouterr()
    return int(e.value.code or 0), said.out + said.err


def test_credentials_of_an_agency_not_registered_are_refused(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    """`eseal agency credentials CODE` for a code no agency has (a typo) says so and exits
    2, as every other agency command does, rather than list nothing and exit 0; a
    registered agency with no credential yet lists nothing, exit 0."""
    data = api.region.node.data_dir
    status, said = _cli(capsys, "agency", "credentials", "91110000000000000X", "--data", data)
    assert status == 2, said
    assert "agency 91110000000000000X is not registered" in said
    status, listed = _cli(capsys, "agency", "credentials", MARKET, "--data", data, "--json")
    assert status == 0, listed
    assert isinstance(json.loads(listed), list)


@pytest.mark.parametrize("role", ["agency", "operator"])
def test_a_revoked_credential_stops_working_at_once(
    api: Api, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A leaked credential (or one of a clerk who left) can be revoked: `eseal agency
    revoke-credential ID` lists nothing secret, and the API refuses the credential from its
    next request on, changing nothing; the agency's other credentials keep working."""
    region = api.region
    code = MARKET if role == "agency" else None
    token = new_credential(region.node, role=role, agency_code=code, now=NOW)  # type: ignore[arg-type]
    auth = {"Authorization": f"Bearer {token}"}
    body = {**ISSUE_BODY, "agency": MARKET}
    assert api.client.post("/v1/licenses", json=body, headers=auth).status_code == 201
    cid = token.split(".")[0]
    data = region.node.data_dir
    whose = MARKET if code else "operator"
    status, listed = _cli(capsys, "agency", "credentials", whose, "--data", data)
    assert status == 0, listed
    assert cid in listed
    assert token.split(".")[1] not in listed
    when = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"  # a time a person reads, not Unix seconds
    assert re.search(rf"{cid}  {whose}  issued at {when}  active", listed), listed
    status, said = _cli(capsys, "agency", "revoke-credential", cid, "--data", data)
    assert status == 0, said
    status, listed = _cli(capsys, "agency", "credentials", whose, "--data", data)
    assert re.search(rf"{cid} .* revoked at {when}", listed), listed
    size = region.node.log.size()
    r = api.client.post("/v1/licenses", json=body, headers=auth)
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert region.node.log.size() == size
    status, said = _cli(capsys, "agency", "revoke-credential", cid, "--data", data)
    assert status == 2, said
    assert "already revoked" in said
    status, said = _cli(capsys, "agency", "revoke-credential", "esk_000000000000", "--data", data)
    assert status == 2, said
    assert "no API credential" in said
    other = api.tokens["owner" if role == "agency" else "operator"]
    r = api.client.post("/v1/licenses", json=body, headers={"Authorization": other})
    assert r.status_code == 201, r.text
