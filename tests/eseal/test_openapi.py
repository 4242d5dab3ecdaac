"""The OpenAPI document describes the public answers as the node sends them: another region
integrates from it (its window, its auditor), so a field, a bound or a problem it names must
be what the node answers, and what the node answers must be named."""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from eseal.agencies import Principal
from eseal.api.app import create_app
from eseal.api.deps import problems
from eseal.api.limits import DEFAULT_LIMIT, LARGE_SUFFIXES
from eseal.api.problem_types import defined
from eseal.api.routes.licenses import NEEDS_REASON, NO_REASON
from eseal.catalog import load_catalog
from eseal.cli import app as cli_app
from eseal.ids import make_license_id
from eseal.licenses import ACTIONS, change_status, issue
from eseal.node import Node
from keys.errors import EsealError
from ledger.group_commit import CommitPending, CommitterClosed
from ledger.store import HeadMoved, OutcomeUnknown, StoreBusy, StoreUnavailable
from tests.eseal.conftest import BUSINESS, MARKET, NOW, business_request, make_region
from verifier.verdict import Status
from verifier.witnessing import Group, Witnessing

#: JSON Schema's words for bounds; pydantic's argument names (ge, le, gt, lt) are none.
NOT_JSON_SCHEMA = {"ge", "le", "gt", "lt"}


@dataclass
class Served:
    client: TestClient
    spec: dict[str, Any]
    license_id: str
    qr_text: str
    credential: str
    other_credential: str  # another agency's
    node: Node


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    region = make_region(tmp_path_factory.mktemp("openapi") / "node")
    market = Principal("agency", MARKET)
    issued = issue(region.node, market, MARKET, business_request(), now=NOW)
    change_status(region.node, market, issued.id, "revoke", reason="以欺骗手段取得许可", now=NOW)
    with TestClient(create_app(region.node)) as client:
        spec = client.get("/openapi.json").json()
        yield Served(
            client,
            spec,
            issued.id,
            issued.qr_text,
            region.market.credential,
            region.housing.credential,
            region.node,
        )
    region.node.close()


def _schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, its ``$ref`` followed."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _answer_schema(served: Served, path: str, method: str, status: str) -> dict[str, Any]:
    content = served.spec["paths"][path][method]["responses"][status]["content"]
    return _schema(served.spec, content["application/json"]["schema"])


def _described(served: Served, schema: dict[str, Any], answer: dict[str, Any]) -> None:
    """``answer`` has exactly the properties ``schema`` describes (following nested objects
    that have a schema of their own), each required, each described."""
    props = schema["properties"]
    assert set(answer) == set(props), (sorted(answer), sorted(props))
    assert set(schema.get("required", [])) == set(props)
    for name, value in answer.items():
        prop = props[name]
        if isinstance(value, dict) and "$ref" in prop:
            _described(served, _schema(served.spec, prop), value)
        elif isinstance(value, list) and value and "$ref" in prop.get("items", {}):
            for item in value:
                _described(served, _schema(served.spec, prop["items"]), item)


def _walk(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


def test_bounds_are_json_schema_keywords(served: Served) -> None:
    """The ledger's query integers are bounded as minimum and maximum: they were written
    ge and le, which no client reads, so their bounds were not in the document."""
    for where, node in _walk(served.spec):
        if node.get("type") == "integer":
            assert not NOT_JSON_SCHEMA & set(node), (where, node)
    for path, names in {
        "/v1/ledger/entries": ("start", "end"),
        "/v1/ledger/proof/inclusion": ("index", "size"),
        "/v1/ledger/proof/consistency": ("first", "second"),
    }.items():
        for parameter in served.spec["paths"][path]["get"]["parameters"]:
            assert parameter["name"] in names
            schema = parameter["schema"]
            bounded = next(s for s in [schema, *schema.get("anyOf", [])] if "type" in s)
            assert bounded["type"] == "integer"
            assert bounded["minimum"] in (0, 1), parameter
            assert bounded["maximum"] == 2**53, parameter
    # And the bounds are what the node holds to.
    r = served.client.get("/v1/ledger/proof/consistency?first=0&second=1")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


def test_the_verdict_is_described_as_answered(served: Served) -> None:
    schema = _answer_schema(served, "/v1/verify", "post", "200")
    assert _answer_schema(served, "/v1/verify/image", "post", "200") == schema
    for text in (served.qr_text, "EL1:NOT-A-LICENSE", "https://example.com/"):
        r = served.client.post("/v1/verify", json={"text": text})
        assert r.status_code == 200, r.text
        _described(served, schema, r.json())
    status = _schema(served.spec, schema["properties"]["status"])
    assert set(status["enum"]) == {s.value for s in Status}
    # freshness.witnessed, null without a witness policy (as above), is described as a
    # Witnessing gives it under one (plain and under a policy file's rule).
    freshness = _schema(served.spec, schema["properties"]["freshness"])
    (described,) = [
        _schema(served.spec, branch)
        for branch in freshness["properties"]["witnessed"]["anyOf"]
        if branch.get("type") != "null"
    ]
    rule = Group("both", 2, ("gd", "js"))
    for witnessing in (
        Witnessing(12, ("gd",), 2, 2),
        Witnessing(6, ("gd", "js"), 2, 2, extended_to=9, unwitnessed="its …", rule=rule),
    ):
        _described(served, described, witnessing.to_json())


@pytest.mark.parametrize("path", ["/v1/bundle", "/v1/revocations"])
def test_the_signed_files_are_described_as_dsse_envelopes(served: Served, path: str) -> None:
    schema = _answer_schema(served, path, "get", "200")
    r = served.client.get(path)
    assert r.status_code == 200
    _described(served, schema, r.json())


def test_the_cosigned_list_is_described_as_answered(served: Served) -> None:
    """GET /v1/ledger/cosigned (a node without witnesses lists none) against its schema, and
    one with an entry as a node with witnesses answers it."""
    schema = _answer_schema(served, "/v1/ledger/cosigned", "get", "200")
    r = served.client.get("/v1/ledger/cosigned")
    assert r.status_code == 200, r.text
    assert r.json() == {"checkpoints": []}
    assert r.headers["cache-control"] == "no-cache"
    _described(served, schema, r.json())
    note = served.client.get("/v1/ledger/checkpoint").text
    _described(served, schema, {"checkpoints": [{"size": 3, "checkpoint": note}]})


def test_the_status_answer_is_described_as_answered(served: Served) -> None:
    schema = _answer_schema(served, "/v1/licenses/{license_id}/status", "get", "200")
    answer = served.client.get(f"/v1/licenses/{served.license_id}/status").json()
    assert answer["status"] == "07"
    # Answered only when asked ?witnessed=1 (and there is an older witnessed checkpoint).
    witnessed = {"witnessed_checkpoint", "witnessed_consistency_proof"}
    assert set(answer) == set(schema["properties"]) - witnessed
    assert not witnessed & set(schema.get("required", []))
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name  # what each field is, for an outside verifier
    assert answer["status"] in schema["properties"]["status"]["enum"]


def test_a_problem_is_described_as_answered(served: Served) -> None:
    schema = served.spec["components"]["schemas"]["Problem"]
    r = served.client.get(f"/v1/licenses/{make_license_id(BUSINESS, MARKET, 'NOSUCH')}/status")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert set(problem) <= set(schema["properties"])
    assert set(schema["required"]) <= set(problem)
    # The problem a verifier takes for "never recorded here" is named, so that a 404 of
    # another kind (a proxy's) is not taken for it.
    for path in ("/v1/licenses/{license_id}/status", "/v1/seals/{seal_id}/status"):
        described = served.spec["paths"][path]["get"]["responses"]["404"]["description"]
        assert "unknown-" + path.split("/")[2][:-1] in described, described
    assert problem["type"].endswith("/unknown-license")


def test_a_malformed_id_is_a_400_as_described(served: Served) -> None:
    """A license or seal id that is none (here, its check character wrong) is answered 400
    with the problem invalid-license-id (invalid-seal-id), which every operation taking one
    in its path names under 400, beside what else it answers so; and a status operation
    documents the id's form (its bound and pattern), a real id matching it."""
    bad_license = served.license_id[:-1] + ("A" if served.license_id[-1] != "A" else "B")
    bad_seal = "11500000MB1613521A.0123456789AB"  # the market bureau's code, check spoilt
    for path, bad in (
        ("/v1/licenses/{license_id}/status", bad_license),
        ("/v1/seals/{seal_id}/status", bad_seal),
    ):
        kind = path.split("/")[2][:-1]
        r = served.client.get(path.replace("{" + kind + "_id}", bad))
        assert r.status_code == 400, r.text
        problem = r.json()
        assert problem["type"].endswith(f"/invalid-{kind}-id"), problem
        assert "check character should be" in problem["detail"], problem
        operation = served.spec["paths"][path]["get"]
        assert f"invalid-{kind}-id" in operation["responses"]["400"]["description"]
        (parameter,) = [p for p in operation["parameters"] if p["in"] == "path"]
        assert {"maxLength", "pattern"} <= set(parameter["schema"]), parameter
    pattern = served.spec["paths"]["/v1/licenses/{license_id}/status"]["get"]["parameters"][0]
    assert re.fullmatch(pattern["schema"]["pattern"], served.license_id)
    for path, operations in served.spec["paths"].items():
        for kind in ("license", "seal"):
            if "{" + kind + "_id}" not in path:
                continue
            for method, operation in operations.items():
                described = operation["responses"]["400"]["description"]
                assert f"invalid-{kind}-id" in described, (path, method, described)


def test_public_operations_name_no_credential_problems(served: Served) -> None:
    """A public operation takes no credential (it ignores an Authorization header), and no
    read conflicts with anything: none lists 401, 403 or 409; an operation reading no body
    lists no 415. The operations that take a credential still list theirs."""
    for path, operations in served.spec["paths"].items():
        for method, operation in operations.items():
            listed = set(operation["responses"])
            if "x-c2sp" in operation:  # POST /add-checkpoint: tlog-witness's own answers
                assert "401" not in listed, (path, method)
                # A text body of any media type; only one with a content coding is refused.
                assert "Content-Encoding" in operation["responses"]["415"]["description"]
                continue
            if "security" not in operation:
                assert not listed & {"401", "403", "409"}, (path, method)
            else:
                assert {"401", "403"} <= listed, (path, method)
            if method == "get":
                assert "409" not in listed, (path, method)
            if "requestBody" not in operation:
                assert "415" not in listed, (path, method)
    assert {"409", "415"} <= set(served.spec["paths"]["/v1/licenses"]["post"]["responses"])
    headers = {"Authorization": "Bearer esk_000000000000.not-a-credential"}
    for path in ("/v1/bundle", f"/v1/licenses/{served.license_id}/status"):
        assert served.client.get(path, headers=headers).status_code == 200, path
    r = served.client.post("/v1/verify", json={"text": served.qr_text}, headers=headers)
    assert r.status_code == 200


def test_add_checkpoint_names_the_problems_any_request_may_meet(served: Served) -> None:
    """POST /add-checkpoint answers tlog-witness's refusals in text, but a request to it meets
    the parser, the body limit and the read timeouts as any request does, answered with
    their problems before the route reads anything: its 400, 408 and 413 name them (it
    listed no 408, and a bare 413). Not invalid-json: its text body is not read as JSON."""
    responses = served.spec["paths"]["/add-checkpoint"]["post"]["responses"]
    assert responses["408"]["x-problem-types"] == ["request-timeout"]
    assert "application/problem+json" in responses["408"]["content"]
    assert responses["413"]["x-problem-types"] == ["body-too-large"]
    assert "64 KiB" in responses["413"]["description"]
    bad = responses["400"]
    assert {"malformed-request", "repeated-header", "repeated-parameter"} <= set(
        bad["x-problem-types"]
    )
    assert "invalid-json" not in bad["x-problem-types"]
    assert {"text/plain", "application/problem+json"} <= set(bad["content"])
    r = served.client.post("/add-checkpoint?a=1&a=2", content=b"old 0\n")
    assert r.status_code == 400
    assert r.json()["type"].rsplit("/", 1)[1] in bad["x-problem-types"]
    r = served.client.post("/add-checkpoint", content=b"x" * (64 * 1024 + 1))
    assert r.status_code == 413
    assert r.json()["type"].rsplit("/", 1)[1] in responses["413"]["x-problem-types"]


def test_readme_says_every_answer_of_add_checkpoint_and_which_are_problems(
    served: Served,
) -> None:
    """README's witnessing section lists the statuses POST /add-checkpoint answers, and
    says which are problems rather than text: it named 503 as the only problem, while the
    operation also answers 408, 413 and 415 problems (and 400 ones) before its body is read."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    (section,) = [p for p in readme.split("\n\n") if p.startswith("A log may also push")]
    said = " ".join(section.split())
    documented = served.spec["paths"]["/add-checkpoint"]["post"]["responses"]
    for status, response in documented.items():
        assert re.search(rf"\b{status}\b", said), status
        if "application/problem+json" in response["content"]:
            assert re.search(rf"problem\b.*\b{status}\b", said), status


def test_the_verification_problems_are_named_with_their_bounds(served: Served) -> None:
    """Each problem /v1/verify answers is named, with the bound that causes it, under its
    status (the document listed only the status phrases)."""
    paths = served.spec["paths"]
    responses = paths["/v1/verify"]["post"]["responses"]
    # The problems of the verdict and of the image are the same at both paths; the body's
    # differ (/v1/verify/image reads only a form).
    image_responses = paths["/v1/verify/image"]["post"]["responses"]
    assert set(responses) == set(image_responses)
    for code in ("invalid-holder-id", "no-holder", "image-unreadable", "no-qr-code"):
        assert any(code in r.get("x-problem-types", []) for r in image_responses.values())
    client = served.client
    probes = [
        (client.post("/v1/verify", json={"text": "x" * 4001}), "4000 characters"),
        (client.post("/v1/verify", json={"text": served.qr_text, "holder_id": "1"}), ""),
        (
            client.post(
                "/v1/verify",
                content=b'{"text": "' + b"x" * 17000 + b'"}',
                headers={"content-type": "application/json"},
            ),
            "16 KiB",
        ),
        (client.post("/v1/verify", json={"text": "x", "more": 1}), ""),
        (client.post("/v1/verify/image", files={"image": ("a.png", b"no image")}), ""),
        (
            client.post(
                "/v1/verify",
                content=b"--x\r\n[]--x--\r\n",
                headers={"content-type": "multipart/form-data; boundary=x"},
            ),
            "",
        ),
    ]
    for r, bound in probes:
        path = r.request.url.path
        response = paths[path]["post"]["responses"][str(r.status_code)]
        code = r.json()["type"].rsplit("/", 1)[1]
        assert code in response["x-problem-types"], (path, r.status_code, code)
        assert code in response["description"], (r.status_code, code, response["description"])
        assert bound in response["description"]


def _properties(served: Served, schema: dict[str, Any], where: str) -> Iterator[tuple[str, Any]]:
    """Every property of ``schema``, and of the objects it nests (``$ref``, in arrays too),
    named by where it is."""
    schema = _schema(served.spec, schema)
    if "$ref" in schema.get("items", {}):  # an array of objects (a batch's answer)
        yield from _properties(served, schema["items"], f"{where}[]")
    for name, prop in schema.get("properties", {}).items():
        yield f"{where}.{name}", prop
        for inner in [prop, prop.get("items", {}), *prop.get("anyOf", [])]:
            if "$ref" in inner:
                yield from _properties(served, inner, f"{where}.{name}")


#: The answers an agency's clerk reads after issuing, reading a license, making a seal and
#: stamping (the public ones are checked above).
AGENCY_ANSWERS = [
    ("/v1/licenses", "post", "201"),
    ("/v1/licenses/batch", "post", "201"),
    ("/v1/licenses/{license_id}", "get", "200"),
    ("/v1/licenses/{license_id}/renew", "post", "201"),
    ("/v1/seals", "post", "201"),
    ("/v1/seals/{seal_id}/stamp", "post", "201"),
]


def test_every_field_a_clerk_sends_or_reads_is_described(served: Served) -> None:
    """A clerk with nothing but the OpenAPI page learns from it what to send: each field of
    every request body (a license's type, holder, fields and last day; a renewal's; a
    status change's reason; a seal's type and image; a stamp's name) and of the answers to
    an agency's requests (the units of expires, the status codes) is described, and every
    operation says what it does. The type, fields, valid_until and a renewal's defaults were
    undescribed, as was seal revocation."""
    undescribed = []
    for path, operations in served.spec["paths"].items():
        for method, operation in operations.items():
            if not operation.get("description"):
                undescribed.append(f"{method.upper()} {path}")
            for media in operation.get("requestBody", {}).get("content", {}).values():
                for where, prop in _properties(served, media["schema"], f"{path} body"):
                    if not prop.get("description"):
                        undescribed.append(where)
    for path, method, status in AGENCY_ANSWERS:
        schema = _answer_schema(served, path, method, status)
        for where, prop in _properties(served, schema, f"{path} {status}"):
            if not prop.get("description"):
                undescribed.append(where)
    assert undescribed == [], "\n".join(undescribed)
    issue_in = _schema(served.spec, {"$ref": "#/components/schemas/IssueIn"})
    assert "eseal license types" in issue_in["properties"]["fields"]["description"]
    renew_in = _schema(served.spec, {"$ref": "#/components/schemas/RenewIn"})
    assert "kept" in renew_in["properties"]["fields"]["description"]


def _forms(served: Served) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each operation reading a multipart form, and the form's schema."""
    for path, operations in served.spec["paths"].items():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in content:
                yield path, _schema(served.spec, content["multipart/form-data"]["schema"])


def _nullable(schema: dict[str, Any]) -> bool:
    branches = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    return any(b.get("type") == "null" or "null" in b.get("type", []) for b in branches)


def test_forms_are_described_with_the_fields_they_read(served: Served) -> None:
    """A form takes the fields its operation names and no other (400 for any other, which
    a client read in the document as allowed), each a text or a file or left out: a form
    has no null, which the document offered (a client sending the text "null" as the
    document got a 422, as the holder id a 400)."""
    forms = dict(_forms(served))
    assert set(forms) == {"/v1/verify", "/v1/verify/image", "/v1/seals/{seal_id}/stamp"}
    for path, schema in forms.items():
        assert schema.get("additionalProperties") is False, path
        for name, prop in schema["properties"].items():
            assert not _nullable(prop), (path, name, prop)
    client, auth = served.client, {"Authorization": f"Bearer {served.credential}"}
    extra = {"other": (None, "1")}
    refused = [
        client.post("/v1/verify", files={"text": (None, served.qr_text), **extra}),
        client.post("/v1/verify/image", files={"image": ("a.png", b"x"), **extra}),
        client.post(
            "/v1/seals/X/stamp", files={"file": ("a.txt", b"x"), **extra}, headers=auth
        ),  # refused before the seal is looked for
    ]
    for r in refused:
        assert r.status_code == 400, r.text
        assert "'other' is not one of" in r.json()["detail"]


def test_the_verify_form_is_described_with_its_image_or_its_text(served: Served) -> None:
    """The multipart form of POST /v1/verify carries the image or the text, one of them:
    the document says so (it described a form with neither, or both, as valid)."""
    content = served.spec["paths"]["/v1/verify"]["post"]["requestBody"]["content"]
    schema = _schema(served.spec, content["multipart/form-data"]["schema"])
    assert schema["oneOf"] == [{"required": ["image"]}, {"required": ["text"]}]
    client = served.client
    text = {"text": (None, served.qr_text)}
    image = {"image": ("a.png", b"not an image")}
    assert client.post("/v1/verify", files=text).status_code == 200
    assert client.post("/v1/verify", files=image).json()["type"].endswith("/image-unreadable")
    for files in ({**text, **image}, {"holder_id": (None, "x")}):
        r = client.post("/v1/verify", files=files)
        assert r.status_code == 400
        assert "one of them" in r.json()["detail"]
    # The text is bounded as the JSON body's is, at both ends.
    json_text = _schema(served.spec, content["application/json"]["schema"])["properties"]["text"]
    form_text = schema["properties"]["text"]
    assert (form_text["minLength"], form_text["maxLength"]) == (1, json_text["maxLength"])
    assert json_text["minLength"] == 1
    r = client.post("/v1/verify", files={"text": (None, "")})
    assert r.status_code == 400
    assert r.json()["detail"] == "the QR text is empty"


@pytest.mark.parametrize(
    "key", ["k-1", '"k-1"', 'u"', '"u', '"', '""', "a b", "x" * 128, "x" * 129, f'"{"x" * 128}"']
)
def test_the_idempotency_key_is_described_as_read(served: Served, key: str) -> None:
    """The Idempotency-Key's documented pattern takes exactly the keys the node takes: it
    took a key with one double quote (u"), which the node refuses; and it is a string (a
    header is given or not, never null)."""
    operation = served.spec["paths"]["/v1/licenses"]["post"]
    header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert not _nullable(header["schema"]), header["schema"]
    assert header["schema"]["type"] == "string"
    documented = re.search(header["schema"]["pattern"], key) is not None
    unknown_type = {"type": "X" * 21, "holder": {"name": "甲"}}  # refused after the key is read
    r = served.client.post(
        "/v1/licenses",
        json=unknown_type,
        headers={"Authorization": f"Bearer {served.credential}", "Idempotency-Key": key},
    )
    code = r.json()["type"].rsplit("/", 1)[1]
    assert code == ("unknown-license-type" if documented else "malformed-idempotency-key")


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/ledger/entries", "start=100&end=101"),
        ("/v1/ledger/entries", "start=2&end=1"),
        ("/v1/ledger/proof/inclusion", "index=0&size=100"),
        ("/v1/ledger/proof/consistency", "first=1&second=100"),
        ("/v1/seals/{seal_id}/image", ""),
    ],
)
def test_public_reads_name_their_problems(served: Served, path: str, query: str) -> None:
    """A range outside the ledger (schema-valid: the document bounds each number, not the
    ledger's size) is a 400 bad-range, an unknown seal's image a 404 unknown-seal; each
    is named under its status, as the verification's and the statuses' problems are."""
    r = served.client.get(path.replace("{seal_id}", "0.X") + (f"?{query}" if query else ""))
    assert r.status_code in (400, 404), r.text
    code = r.json()["type"].rsplit("/", 1)[1]
    described = served.spec["paths"][path]["get"]["responses"][str(r.status_code)]["description"]
    assert code in described, (code, described)


def _operations(served: Served) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in served.spec["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_every_problem_type_named_is_one_the_node_defines(served: Served) -> None:
    """A problem type the document lists (``x-problem-types``, beside the description that
    names it) is one the node defines, under the status the node answers it with."""
    types = defined()
    listed = 0
    for path, method, operation in _operations(served):
        for status, response in operation["responses"].items():
            for code in response.get("x-problem-types", []):
                listed += 1
                assert code in types, (path, method, status, code)
                assert str(types[code].status) == status, (path, method, status, code)
                assert re.search(rf"\b{code}\b", response["description"]), (path, method, code)
    assert listed > 100


#: The operations anyone may ask, with no credential.
PUBLIC_OPERATIONS = {
    ("/v1/verify", "post"),
    ("/v1/verify/image", "post"),
    ("/v1/bundle", "get"),
    ("/v1/revocations", "get"),
    ("/healthz", "get"),
    ("/v1/ledger/checkpoint", "get"),
    ("/v1/ledger/cosigned", "get"),
    ("/v1/ledger/entries", "get"),
    ("/v1/ledger/proof/inclusion", "get"),
    ("/v1/ledger/proof/consistency", "get"),
    ("/v1/license-types", "get"),
    ("/v1/license-types/{code}", "get"),
    ("/v1/licenses/{license_id}/status", "get"),
    ("/v1/seals/{seal_id}/status", "get"),
    ("/v1/seals/{seal_id}/image", "get"),
    ("/v1/witness", "get"),
}


def test_every_operation_names_its_problems(served: Served) -> None:
    """Every operation, public or taking the credential, names under every 4xx it lists
    the problem types it may answer with it (the public ones listed bare status phrases:
    Not Found, Method Not Allowed, Unprocessable Entity, …, some of which they never
    answer); those taking the credential 401 not-authenticated and 403 forbidden among
    them. Any request may meet the body limit, the parser and the read timeouts: each
    names them. No operation is left with FastAPI's own 422 (a body the node never
    sends)."""
    public: set[tuple[str, str]] = set()
    agency: set[tuple[str, str]] = set()
    c2sp: set[tuple[str, str]] = set()  # another protocol's text answers (tlog-witness)
    for path, method, operation in _operations(served):
        responses = operation["responses"]
        if "x-c2sp" in operation:
            c2sp.add((path, method))
            continue
        (agency if "security" in operation else public).add((path, method))
        if "security" in operation:
            assert "not-authenticated" in responses["401"]["x-problem-types"], (path, method)
            assert "forbidden" in responses["403"]["x-problem-types"], (path, method)
        for status, response in responses.items():
            if status.startswith("4"):
                assert response.get("x-problem-types"), (path, method, status)
        assert {"repeated-parameter", "invalid-json"} <= set(responses["400"]["x-problem-types"])
        assert responses["408"]["x-problem-types"] == ["request-timeout"], (path, method)
        assert "body-too-large" in responses["413"]["x-problem-types"], (path, method)
        assert "405" not in responses, (path, method)  # answered for no operation
    assert public == PUBLIC_OPERATIONS
    assert len(agency) == 12  # the 8 JSON ones and the 4 printouts (test_api_printouts)
    assert c2sp == {("/add-checkpoint", "post")}
    assert "HTTPValidationError" not in served.spec["components"]["schemas"]
    # A 404 only where the operation looks something up by its path; a 422 only where
    # FastAPI validates a query or a body.
    paths = served.spec["paths"]
    assert "404" not in paths["/v1/bundle"]["get"]["responses"]
    assert "422" not in paths["/v1/license-types/{code}"]["get"]["responses"]
    for path in ("/v1/licenses/{license_id}/status", "/v1/seals/{seal_id}/status"):
        assert paths[path]["get"]["responses"]["422"]["x-problem-types"] == ["invalid-request"]
        assert "unknown-checkpoint" in paths[path]["get"]["responses"]["404"]["x-problem-types"]
    assert paths["/v1/ledger/entries"]["get"]["responses"]["422"]["x-problem-types"] == [
        "invalid-request"
    ]


def _auth(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def test_the_agency_operations_answer_the_problems_they_name(served: Served) -> None:
    """Each problem an agency's request meets here is named by its operation, under the
    status it comes with."""
    client, own, other = served.client, _auth(served.credential), _auth(served.other_credential)
    fresh = issue(served.node, Principal("agency", MARKET), MARKET, business_request(), now=NOW)
    unknown = make_license_id(BUSINESS, MARKET, "NOSUCH")
    bad_id = served.license_id[:-1] + ("A" if served.license_id[-1] != "A" else "B")
    seal = client.post("/v1/seals", json={"name": "合同专用章", "type": "contract"}, headers=own)
    assert seal.status_code == 201, seal.text
    seal_id = seal.json()["id"]
    unknown_seal = seal_id[:-1] + ("0" if seal_id[-1] != "0" else "1")
    body = {"type": BUSINESS, "holder": {"name": "甲"}}
    probes = [
        ("/v1/licenses", "post", client.post("/v1/licenses", json=body)),
        ("/v1/licenses", "post", client.post("/v1/licenses", json=body, headers=other)),
        ("/v1/licenses", "post", client.post("/v1/licenses", json=body, headers=own)),
        (
            "/v1/licenses",
            "post",
            client.post("/v1/licenses", json={**body, "type": "X" * 21}, headers=own),
        ),
        ("/v1/licenses", "post", client.post("/v1/licenses", content=b"{", headers=own)),
        (
            "/v1/licenses",
            "post",
            client.post("/v1/licenses", json={"type": BUSINESS}, headers=own),
        ),
        (
            "/v1/licenses/batch",
            "post",
            client.post("/v1/licenses/batch", json={"items": [body], "agency": "X"}, headers=own),
        ),
        (
            "/v1/licenses/{license_id}",
            "get",
            client.get(f"/v1/licenses/{served.license_id}", headers=other),
        ),
        ("/v1/licenses/{license_id}", "get", client.get(f"/v1/licenses/{unknown}", headers=own)),
        ("/v1/licenses/{license_id}", "get", client.get(f"/v1/licenses/{bad_id}", headers=own)),
        (
            "/v1/licenses/{license_id}/renew",
            "post",
            client.post(f"/v1/licenses/{served.license_id}/renew", json={}, headers=own),
        ),
        (
            "/v1/licenses/{license_id}/{action}",
            "post",
            client.post(
                f"/v1/licenses/{served.license_id}/revoke", json={"reason": "x"}, headers=own
            ),
        ),
        (
            "/v1/licenses/{license_id}/{action}",
            "post",
            client.post(f"/v1/licenses/{fresh.id}/explode", json={"reason": "x"}, headers=own),
        ),
        (
            "/v1/licenses/{license_id}/{action}",
            "post",
            client.post(f"/v1/licenses/{fresh.id}/suspend", json={}, headers=own),
        ),
        (
            "/v1/licenses/{license_id}/{action}",
            "post",
            client.post(
                f"/v1/licenses/{fresh.id}/transfer",
                json={"reason": "迁出", "to": str(make_license_id(BUSINESS, MARKET, "NOSUCH2"))},
                headers=own,
            ),
        ),
        (
            "/v1/licenses/{license_id}/{action}",
            "post",
            client.post(
                f"/v1/licenses/{fresh.id}/suspend",
                content=b"reason=x",
                headers={**own, "content-type": "application/x-www-form-urlencoded"},
            ),
        ),
        (
            "/v1/seals",
            "post",
            client.post("/v1/seals", json={"name": " ", "type": "contract"}, headers=own),
        ),
        (
            "/v1/seals/{seal_id}/stamp",
            "post",
            client.post(
                f"/v1/seals/{unknown_seal}/stamp", files={"file": ("a.txt", b"x")}, headers=own
            ),
        ),
        (
            "/v1/seals/{seal_id}/stamp",
            "post",
            client.post(f"/v1/seals/{seal_id}/stamp", files={"file": ("a.txt", b"")}, headers=own),
        ),
        (
            "/v1/seals/{seal_id}/stamp",
            "post",
            client.post(f"/v1/seals/{seal_id}/stamp", files={"name": (None, "a")}, headers=own),
        ),
        (
            "/v1/seals/{seal_id}/revoke",
            "post",
            client.post(f"/v1/seals/{seal_id}/revoke", json={"reason": "丢失"}, headers=other),
        ),
    ]
    revoked = client.post(f"/v1/seals/{seal_id}/revoke", json={"reason": "丢失"}, headers=own)
    assert revoked.status_code == 200, revoked.text
    probes += [
        (
            "/v1/seals/{seal_id}/revoke",
            "post",
            client.post(f"/v1/seals/{seal_id}/revoke", json={"reason": "丢失"}, headers=own),
        ),
        (
            "/v1/seals/{seal_id}/stamp",
            "post",
            client.post(f"/v1/seals/{seal_id}/stamp", files={"file": ("a.txt", b"x")}, headers=own),
        ),
    ]
    seen = set()
    for path, method, r in probes:
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        code = r.json()["type"].rsplit("/", 1)[1]
        seen.add(code)
        response = served.spec["paths"][path][method]["responses"][str(r.status_code)]
        assert code in response["x-problem-types"], (path, method, r.status_code, code)
    assert {
        "not-authenticated",
        "forbidden",
        "field-invalid",
        "unknown-license-type",
        "invalid-json",
        "invalid-request",
        "unknown-license",
        "invalid-license-id",
        "bad-transition",
        "invalid-input",
        "unknown-new-license",
        "unsupported-media-type",
        "unknown-seal",
        "seal-revoked",
    } <= seen, seen


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` pixels but holds almost nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _blank_png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (64, 64), 255).save(out, "PNG")
    return out.getvalue()


def test_the_public_operations_answer_the_problems_they_name(served: Served) -> None:
    """Each problem a public request meets here is named by its operation, under the
    status it comes with; every public operation is asked."""
    client = served.client
    unknown = make_license_id(BUSINESS, MARKET, "NOSUCH")
    bad_id = served.license_id[:-1] + ("A" if served.license_id[-1] != "A" else "B")
    own = _auth(served.credential)
    seal = client.post("/v1/seals", json={"name": "业务专用章", "type": "business"}, headers=own)
    assert seal.status_code == 201, seal.text
    seal_id = seal.json()["id"]
    stamped = client.post(
        f"/v1/seals/{seal_id}/stamp", files={"file": ("a.txt", b"x")}, headers=own
    )
    assert stamped.status_code == 201, stamped.text
    unknown_seal = seal_id[:-1] + ("0" if seal_id[-1] != "0" else "1")
    bad_seal = "11500000MB1613521A.0123456789AB"  # the market bureau's code, check spoilt
    holder = "11010519491231002X"
    bad_json = {"content": b"{", "headers": {"content-type": "application/json"}}
    image = {"image": ("a.png", b"no image")}

    def get(path: str, **kwargs: Any) -> Any:
        return client.request("GET", path, **kwargs)

    probes = [
        ("/v1/verify", client.post("/v1/verify", json={"text": " "})),
        ("/v1/verify", client.post("/v1/verify", json={"text": ""})),
        ("/v1/verify", client.post("/v1/verify", content=b"x", headers={"content-type": "a/b"})),
        ("/v1/verify", client.post("/v1/verify", content=b"x")),
        ("/v1/verify", client.post("/v1/verify", **bad_json)),
        ("/v1/verify", client.post("/v1/verify?a=1&a=2", json={"text": "x"})),
        ("/v1/verify", client.post("/v1/verify", json={"text": "x", "holder_id": "1"})),
        (
            "/v1/verify",
            client.post(
                "/v1/verify", json={"text": stamped.json()["qr_text"], "holder_id": holder}
            ),
        ),
        ("/v1/verify", client.post("/v1/verify", files={"image": ("a.png", _blank_png())})),
        ("/v1/verify", client.post("/v1/verify", files={"image": (None, "x")})),
        (
            "/v1/verify",
            client.post("/v1/verify", files=[(n, (None, "x")) for n in ("a", "b", "c", "d")]),
        ),
        ("/v1/verify/image", client.post("/v1/verify/image", json={"text": "x"})),
        ("/v1/verify/image", client.post("/v1/verify/image", **bad_json)),
        ("/v1/verify/image", client.post("/v1/verify/image", files={"holder_id": (None, "1")})),
        ("/v1/verify/image", client.post("/v1/verify/image", files={"image": (None, "x")})),
        ("/v1/verify/image", client.post("/v1/verify/image", files={**image, "x": (None, "1")})),
        (
            "/v1/verify/image",
            client.post("/v1/verify/image", files={**image, "holder_id": (None, "1")}),
        ),
        ("/v1/verify/image", client.post("/v1/verify/image", files=image)),
        (
            "/v1/verify/image",
            client.post(
                "/v1/verify/image", files={"image": ("a.png", _png_claiming(20_000, 20_000))}
            ),
        ),
        (
            "/v1/verify/image",
            client.post(
                "/v1/verify/image",
                content=b"x" * (LARGE_SUFFIXES["/v1/verify/image"] + 1),
                headers={"content-type": "multipart/form-data; boundary=x"},
            ),
        ),
        ("/v1/bundle", get("/v1/bundle?a=1&a=2")),
        ("/v1/bundle", get("/v1/bundle", **bad_json)),
        (
            "/v1/revocations",
            get(
                "/v1/revocations",
                headers=[("accept", "*/*")] + [("content-type", "application/json")] * 2,
            ),
        ),
        ("/healthz", get("/healthz", content=b"{}" * (DEFAULT_LIMIT // 2 + 1))),
        ("/v1/ledger/checkpoint", get("/v1/ledger/checkpoint", content=b"[")),
        ("/v1/ledger/cosigned", get("/v1/ledger/cosigned?a=1&a=2")),
        ("/v1/revocations", get("/v1/revocations?at=01")),
        ("/v1/revocations", get(f"/v1/revocations?at={2**40}")),
        ("/v1/revocations", get("/v1/revocations?at=1&witnessed=1")),
        ("/v1/ledger/entries", get("/v1/ledger/entries?start=100")),
        ("/v1/ledger/entries", get("/v1/ledger/entries?start=01")),
        ("/v1/ledger/proof/inclusion", get("/v1/ledger/proof/inclusion?index=0&size=100")),
        ("/v1/ledger/proof/inclusion", get("/v1/ledger/proof/inclusion")),
        ("/v1/ledger/proof/consistency", get("/v1/ledger/proof/consistency?first=2&second=1")),
        ("/v1/ledger/proof/consistency", get("/v1/ledger/proof/consistency?first=0&second=1")),
        ("/v1/license-types", get("/v1/license-types?a=&a=")),
        ("/v1/license-types/{code}", get("/v1/license-types/X")),
        ("/v1/licenses/{license_id}/status", get(f"/v1/licenses/{unknown}/status")),
        ("/v1/licenses/{license_id}/status", get(f"/v1/licenses/{bad_id}/status")),
        ("/v1/seals/{seal_id}/status", get(f"/v1/seals/{unknown_seal}/status")),
        ("/v1/seals/{seal_id}/status", get(f"/v1/seals/{bad_seal}/status")),
        ("/v1/licenses/{license_id}/status", get(f"/v1/licenses/{served.license_id}/status?at=01")),
        (
            "/v1/licenses/{license_id}/status",
            get(f"/v1/licenses/{served.license_id}/status?at={2**40}"),
        ),
        (
            "/v1/licenses/{license_id}/status",
            get(f"/v1/licenses/{served.license_id}/status?at=1&witnessed=1"),
        ),
        ("/v1/seals/{seal_id}/status", get(f"/v1/seals/{seal_id}/status?at={2**40}")),
        ("/v1/seals/{seal_id}/status", get(f"/v1/seals/{seal_id}/status?witnessed=yes")),
        ("/v1/seals/{seal_id}/status", get(f"/v1/seals/{seal_id}/status?at=1&witnessed=1")),
        ("/v1/seals/{seal_id}/image", get(f"/v1/seals/{unknown_seal}/image")),
        ("/v1/seals/{seal_id}/image", get(f"/v1/seals/{bad_seal}/image")),
        ("/v1/witness", get("/v1/witness?a=1&a=2")),
    ]
    seen: set[str] = set()
    asked: set[tuple[str, str]] = set()
    for path, r in probes:
        method = r.request.method.lower()
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json", (path, r.text)
        code = r.json()["type"].rsplit("/", 1)[1]
        seen.add(code)
        asked.add((path, method))
        response = served.spec["paths"][path][method]["responses"][str(r.status_code)]
        assert code in response["x-problem-types"], (path, method, r.status_code, code)
    assert asked == PUBLIC_OPERATIONS
    assert {
        "invalid-input",
        "invalid-request",
        "unsupported-media-type",
        "invalid-json",
        "repeated-parameter",
        "repeated-header",
        "body-too-large",
        "invalid-holder-id",
        "no-holder",
        "no-qr-code",
        "image-unreadable",
        "image-too-large",
        "form-unreadable",
        "bad-range",
        "unknown-checkpoint",
        "license-type-not-found",
        "unknown-license",
        "invalid-license-id",
        "unknown-seal",
        "invalid-seal-id",
    } <= seen, seen


def test_the_reason_rule_is_documented(served: Served) -> None:
    """A status change needs a reason for every action but a reinstatement: the document
    says so on the reason, on the action and on the operation, naming the actions as the
    node holds them to (it said only "Required but for a reinstatement" on the field)."""
    assert set(NEEDS_REASON) == {"suspend", "withdraw", "cancel", "transfer", "revoke"}
    assert NO_REASON == ("reinstate",)
    assert all(ACTIONS[a][2] for a in NEEDS_REASON)
    assert not ACTIONS["reinstate"][2]
    operation = served.spec["paths"]["/v1/licenses/{license_id}/{action}"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    status_in = _schema(served.spec, next(b for b in body.get("anyOf", [body]) if "$ref" in b))
    action = next(p for p in operation["parameters"] if p["name"] == "action")
    for described in (
        status_in["properties"]["reason"]["description"],
        action["description"],
        operation["description"],
    ):
        assert "required for suspend, withdraw, cancel, transfer, revoke" in described
        assert "every action but reinstate" in described
    assert "no reason for suspend" in operation["responses"]["400"]["description"]


@pytest.mark.parametrize("action", NEEDS_REASON)
@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": " \u3000\n"}])
def test_a_change_needing_a_reason_is_refused_without_one(
    served: Served, action: str, body: dict[str, str] | None
) -> None:
    """As documented: no reason (left out, empty, only white space) is a 400 invalid-input,
    and nothing is recorded; a reinstatement needs none."""
    fresh = issue(served.node, Principal("agency", MARKET), MARKET, business_request(), now=NOW)
    own = _auth(served.credential)
    given = dict(body or {})
    if action == "transfer" and body is not None:
        given["to"] = served.license_id  # its form is checked before the reason, its status after
    size = served.node.log.size()
    path = f"/v1/licenses/{fresh.id}/{action}"
    r = served.client.post(path, headers=own, **({} if body is None else {"json": given}))
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["type"].endswith("/invalid-input"), problem
    if body is None and action == "transfer":  # no body: no new license either
        assert "give the id of the license that replaces it" in problem["detail"]
    else:
        assert f"to {action} a license, give a reason" in problem["detail"]
    assert served.node.log.size() == size
    assert served.client.get(f"/v1/licenses/{fresh.id}/status").json()["status"] == "01"
    r = served.client.post(f"/v1/licenses/{fresh.id}/suspend", json={"reason": "核查"}, headers=own)
    assert r.status_code == 200, r.text
    r = served.client.post(f"/v1/licenses/{fresh.id}/reinstate", headers=own)
    assert r.status_code == 200, r.text  # no reason, no body


def test_the_license_types_are_the_catalogues(served: Served) -> None:
    """GET /v1/license-types lists the catalogue as `eseal license types --json` prints it
    (one source: LicenseType.to_json), public and cacheable, with an ETag that a client
    sends back for a 304."""
    r = served.client.get("/v1/license-types")
    assert r.status_code == 200, r.text
    assert r.json() == load_catalog().to_json()
    assert [t["code"] for t in r.json()] == list(load_catalog().codes())
    cli = CliRunner().invoke(cli_app, ["license", "types", "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output) == r.json()
    assert r.headers["cache-control"] == "public, max-age=3600"
    assert r.headers["content-type"] == "application/json"
    etag = r.headers["etag"]
    again = served.client.get("/v1/license-types", headers={"If-None-Match": f"W/{etag}"})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert served.client.get("/v1/license-types", headers={"If-None-Match": '"x"'}).content
    auth = {"Authorization": "Bearer esk_000000000000.not-a-credential"}
    assert served.client.get("/v1/license-types", headers=auth).status_code == 200


def test_a_license_type_is_answered_with_its_fields(served: Served) -> None:
    """One type, by its code: the business licence's names, holder kind and fields, each
    with its Chinese and English labels, kind, whether required and its limits."""
    r = served.client.get(f"/v1/license-types/{BUSINESS}")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer == load_catalog().named(BUSINESS).to_json()
    assert (answer["name"], answer["holder_kind"]) == ("营业执照", "legal")
    assert answer["name_en"]
    fields = {f["name"]: f for f in answer["fields"]}
    assert fields["company_type"]["label"] == "类型"
    assert fields["legal_representative"]["label"] == "法定代表人"
    assert fields["legal_representative"]["label_en"] == "Legal representative"
    assert fields["registered_capital"]["label_en"] == "Registered capital (CNY)"
    assert all(f["label_en"] for f in answer["fields"])
    assert fields["company_type"]["kind"] == "enum"
    assert fields["company_type"]["required"] is True
    assert "有限责任公司" in fields["company_type"]["choices"]
    text = next(f for f in answer["fields"] if f["kind"] == "text")
    assert 1 <= text["max_length"] <= 200
    assert "choices" not in text
    assert r.headers["cache-control"] == "public, max-age=3600"
    # What a client learns here is what issuing holds to: a required field left out is named.
    required = [f["name"] for f in answer["fields"] if f["required"]]
    refused = served.client.post(
        "/v1/licenses",
        json={"type": BUSINESS, "holder": {"name": "甲公司"}, "fields": {}},
        headers=_auth(served.credential),
    )
    assert refused.status_code == 400
    assert all(repr(name) in refused.json()["detail"] for name in required)


@pytest.mark.parametrize("code", ["111000000000PH001J999", "111000000000ph001j001", "X", " "])
def test_an_unknown_license_type_is_a_404_problem(served: Served, code: str) -> None:
    """A code the catalogue has not (nor one that differs only in case) is a 404 problem
    of its own type, named in the document; not cached."""
    r = served.client.get(f"/v1/license-types/{code}")
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["cache-control"] == "no-store"
    problem = r.json()
    assert problem["type"].endswith("/license-type-not-found"), problem
    assert "GET /v1/license-types lists the types" in problem["detail"]
    described = served.spec["paths"]["/v1/license-types/{code}"]["get"]["responses"]["404"]
    assert described["x-problem-types"] == ["license-type-not-found"]


def test_the_license_types_are_described_as_answered(served: Served) -> None:
    """The document describes the answers field by field: every property described, the
    ones every type and field has required, and a field's max_length and choices optional
    (left out where the kind has none), never null."""
    listed = served.spec["paths"]["/v1/license-types"]["get"]
    one = served.spec["paths"]["/v1/license-types/{code}"]["get"]
    assert "security" not in listed
    assert "security" not in one
    array = listed["responses"]["200"]["content"]["application/json"]["schema"]
    assert array["type"] == "array"
    schema = _schema(served.spec, array["items"])
    assert _answer_schema(served, "/v1/license-types/{code}", "get", "200") == schema
    field_schema = _schema(served.spec, schema["properties"]["fields"]["items"])
    parameter = one["parameters"][0]
    assert re.fullmatch(parameter["schema"]["pattern"], BUSINESS)
    for answer in served.client.get("/v1/license-types").json():
        assert set(answer) == set(schema["properties"]) == set(schema["required"])
        for field in answer["fields"]:
            assert set(field_schema["required"]) <= set(field) <= set(field_schema["properties"])
    assert set(field_schema["properties"]) - set(field_schema["required"]) == {
        "max_length",
        "choices",
    }
    for s in (schema, field_schema):
        for name, prop in s["properties"].items():
            assert prop.get("description"), name
            assert not _nullable(prop) or name == "validity_days", (name, prop)


def test_the_stamps_body_limits_are_described_as_applied(served: Served) -> None:
    """A stamp takes a form of up to 21 MiB and any other body of up to 1 MiB: its 413 says
    both, and a JSON body just over 1 MiB is refused so."""
    stamp = served.spec["paths"]["/v1/seals/{seal_id}/stamp"]["post"]
    described = stamp["responses"]["413"]["description"]
    form = LARGE_SUFFIXES["/stamp"] // 2**20
    assert f"a multipart/form-data body over {form} MiB" in described
    assert f"any other over {DEFAULT_LIMIT // 2**20} MiB" in described
    auth = {"Authorization": f"Bearer {served.credential}", "Content-Type": "application/json"}
    answer = served.client.post(
        "/v1/seals/X/stamp", content=b"[" + b" " * DEFAULT_LIMIT + b"]", headers=auth
    )
    assert answer.status_code == 413
    assert answer.json()["type"].endswith("/body-too-large")


#: The 503 problem types each operation may answer: the database's where it reads it (every
#: operation taking a credential does), keys-locked where it signs as it answers, the
#: readers' where it reads images, the witness key's where it needs one (and the font's where
#: it draws a seal); none where it does
#: none of these (the license-type catalogue is shipped with the node).
#: The 503s of an operation appending to the ledger, besides store-unavailable.
WRITE = {"store-busy", "head-moved", "outcome-unknown", "commit-pending", "committer-closed"}
#: The 503 of an operation that signs with an agency's, a seal's or the witness's key.
SIGNS = "signing-key-unusable"
UNAVAILABLE = {
    ("/v1/verify", "post"): {"scanner-busy", "matcher-busy", "store-unavailable"},
    ("/v1/verify/image", "post"): {"scanner-busy", "matcher-busy", "store-unavailable"},
    ("/v1/bundle", "get"): {"store-unavailable", "keys-locked"},
    ("/v1/revocations", "get"): {"store-unavailable", "keys-locked", "snapshot-busy"},
    ("/healthz", "get"): {"store-unavailable"},
    ("/v1/ledger/checkpoint", "get"): {"store-unavailable"},
    ("/v1/ledger/cosigned", "get"): {"store-unavailable"},
    ("/v1/ledger/entries", "get"): {"store-unavailable"},
    ("/v1/ledger/proof/inclusion", "get"): {"store-unavailable"},
    ("/v1/ledger/proof/consistency", "get"): {"store-unavailable"},
    ("/v1/license-types", "get"): set(),
    ("/v1/license-types/{code}", "get"): set(),
    ("/v1/licenses", "post"): {"store-unavailable", "keys-locked", SIGNS, *WRITE},
    ("/v1/licenses/batch", "post"): {"store-unavailable", "keys-locked", SIGNS, *WRITE},
    ("/v1/licenses/{license_id}/status", "get"): {"store-unavailable"},
    ("/v1/licenses/{license_id}", "get"): {"store-unavailable"},
    ("/v1/licenses/{license_id}/renew", "post"): {
        "store-unavailable",
        "keys-locked",
        SIGNS,
        *WRITE,
    },
    ("/v1/licenses/{license_id}/{action}", "post"): {"store-unavailable", "keys-locked", *WRITE},
    ("/v1/seals", "post"): {"store-unavailable", "keys-locked", "font-missing", *WRITE},
    ("/v1/seals/{seal_id}/stamp", "post"): {"store-unavailable", "keys-locked", SIGNS, *WRITE},
    ("/v1/seals/{seal_id}/revoke", "post"): {"store-unavailable", "keys-locked", *WRITE},
    ("/v1/seals/{seal_id}/status", "get"): {"store-unavailable"},
    ("/v1/seals/{seal_id}/image", "get"): {"store-unavailable"},
    ("/v1/licenses/{license_id}/qr.png", "get"): {"store-unavailable", "renderer-busy"},
    ("/v1/licenses/{license_id}/print.pdf", "get"): {
        "store-unavailable",
        "renderer-busy",
        "font-missing",
    },
    ("/v1/licenses/{license_id}/print.png", "get"): {
        "store-unavailable",
        "renderer-busy",
        "font-missing",
    },
    ("/v1/seals/{seal_id}/stamps/{stamp_id}/qr.png", "get"): {
        "store-unavailable",
        "renderer-busy",
    },
    ("/v1/witness", "get"): {"store-unavailable", "no-witness-key"},
    ("/add-checkpoint", "post"): {
        "store-unavailable",
        "store-busy",
        "keys-locked",
        SIGNS,
        "no-witness-key",
    },
}


def test_each_operation_names_only_the_503s_it_can_answer(served: Served) -> None:
    """A 503 names its causes as a 4xx does (x-problem-types, each in the description): an
    operation that signs nothing does not name keys-locked, one that reads no database
    names no 503 at all (every operation named both, whatever it did)."""
    named: dict[tuple[str, str], set[str]] = {}
    for path, method, operation in _operations(served):
        response = operation["responses"].get("503")
        if response is None:
            named[(path, method)] = set()
            continue
        assert response["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
        codes = response["x-problem-types"]
        assert len(codes) == len(set(codes)), (path, method, codes)
        assert response["description"].startswith("Service Unavailable: ")
        for code in codes:
            assert re.search(rf"\b{code}\b", response["description"]), (path, method, code)
        named[(path, method)] = set(codes)
    assert named == UNAVAILABLE


def test_an_operation_not_naming_keys_locked_answers_without_the_keys(served: Served) -> None:
    """On a node served without its passphrase, the operations that do not name keys-locked
    answer as on one with its keys (a read, a verification), and one naming it does answer
    it."""
    paths = served.spec["paths"]
    own = _auth(served.credential)
    reads = {
        ("/v1/license-types", "get"): ("/v1/license-types", None),
        ("/healthz", "get"): ("/healthz", None),
        ("/v1/ledger/checkpoint", "get"): ("/v1/ledger/checkpoint", None),
        ("/v1/ledger/entries", "get"): ("/v1/ledger/entries?start=0", None),
        ("/v1/licenses/{license_id}/status", "get"): (
            f"/v1/licenses/{served.license_id}/status",
            None,
        ),
        ("/v1/licenses/{license_id}", "get"): (f"/v1/licenses/{served.license_id}", own),
    }
    with Node.open(served.node.data_dir) as locked, TestClient(create_app(locked)) as client:
        assert locked.log_key is None
        assert locked.root_key is None
        for (path, method), (url, headers) in reads.items():
            assert "keys-locked" not in UNAVAILABLE[(path, method)]
            assert "keys-locked" not in paths[path][method]["responses"].get("503", {}).get(
                "x-problem-types", []
            )
            r = client.get(url, headers=headers)
            assert r.status_code == 200, (url, r.text)
        r = client.post("/v1/verify", json={"text": served.qr_text})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "REVOKED"  # the verdict, read without the keys
        r = client.get("/v1/bundle")
        assert r.status_code == 503
        assert r.json()["type"].endswith("/keys-locked")
        assert "keys-locked" in paths["/v1/bundle"]["get"]["responses"]["503"]["x-problem-types"]


def test_an_operation_reading_no_database_answers_without_it(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the node's database failing, the license-type catalogue (which names no 503)
    is still answered, while an operation naming store-unavailable answers it."""
    from sqlalchemy.exc import OperationalError

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("disk I/O error"))

    with (
        Node.open(served.node.data_dir) as node,
        TestClient(create_app(node), raise_server_exceptions=False) as client,
    ):
        for engine in (node.sql.read_engine, node.sql.write_engine):
            monkeypatch.setattr(engine, "connect", broken)
            monkeypatch.setattr(engine, "begin", broken)
        r = client.get("/healthz")
        assert r.status_code == 503, r.text
        assert r.json()["type"].endswith("/store-unavailable")
        for url in ("/v1/license-types", f"/v1/license-types/{BUSINESS}"):
            r = client.get(url)
            assert r.status_code == 200, (url, r.text)
        monkeypatch.undo()  # the engines' own connect again, for the node to close


@pytest.mark.parametrize(
    "error", [StoreBusy, HeadMoved, OutcomeUnknown, CommitPending, CommitterClosed]
)
def test_an_append_that_fails_answers_a_503_its_operation_names(
    served: Served, monkeypatch: pytest.MonkeyPatch, error: type[EsealError]
) -> None:
    """A failed append answers its own problem type (store-busy: nothing written;
    outcome-unknown: maybe written), which each operation that appends names, where the
    document named only store-unavailable."""

    def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise error("the ledger did not take it")

    own = _auth(served.credential)
    client = served.client
    fresh = issue(served.node, Principal("agency", MARKET), MARKET, business_request(), now=NOW)
    seal = {"name": "合同专用章", "type": "contract"}
    made = client.post("/v1/seals", json=seal, headers=own)
    assert made.status_code == 201, made.text
    seal_id = made.json()["id"]
    monkeypatch.setattr(served.node, "append", failing)
    req = business_request()
    body = {
        "type": req.type_code,
        "holder": {"name": req.holder_name, "id": req.holder_id},
        "fields": req.fields,
    }
    # Every operation that appends, each with a request that reaches the append.
    probes: list[tuple[str, str, Callable[[], Any]]] = [
        ("/v1/licenses", "post", lambda: client.post("/v1/licenses", json=body, headers=own)),
        (
            "/v1/licenses/batch",
            "post",
            lambda: client.post("/v1/licenses/batch", json={"items": [body]}, headers=own),
        ),
        (
            "/v1/licenses/{license_id}/renew",
            "post",
            lambda: client.post(f"/v1/licenses/{fresh.id}/renew", json={}, headers=own),
        ),
        (
            "/v1/licenses/{license_id}/{action}",
            "post",
            lambda: client.post(
                f"/v1/licenses/{fresh.id}/suspend", json={"reason": "核查"}, headers=own
            ),
        ),
        ("/v1/seals", "post", lambda: client.post("/v1/seals", json=seal, headers=own)),
        (
            "/v1/seals/{seal_id}/stamp",
            "post",
            lambda: client.post(
                f"/v1/seals/{seal_id}/stamp", files={"file": ("a.txt", b"x")}, headers=own
            ),
        ),
        (
            "/v1/seals/{seal_id}/revoke",
            "post",
            lambda: client.post(
                f"/v1/seals/{seal_id}/revoke", json={"reason": "丢失"}, headers=own
            ),
        ),
    ]
    appending = {(path, method) for path, method, _ in probes}
    assert appending == {
        key for key, named in UNAVAILABLE.items() if "keys-locked" in named and key[1] == "post"
    } - {("/add-checkpoint", "post")}
    paths = served.spec["paths"]
    for path, method, send in probes:
        r = send()
        assert r.status_code == 503, (path, r.text)
        code = r.json()["type"].rsplit("/", 1)[1]
        assert code == error.code
        assert code in paths[path][method]["responses"]["503"]["x-problem-types"], path
    for (path, method), named in UNAVAILABLE.items():
        if "keys-locked" in named and method == "post" and path != "/add-checkpoint":
            assert error.code in named, (path, method)


def test_a_cause_named_twice_is_described_once(served: Served) -> None:
    """An operation's own causes and a group's (agency_problems adds store-unavailable)
    may name the same cause: the description says it once."""
    store = (StoreUnavailable, "the node's database did not answer; retry later")
    (response,) = [r for s, r in problems(store, store).items() if s == 503]
    assert response["description"].count("the node's database did not answer") == 1
    for _path, _method, operation in _operations(served):
        for status, described in operation["responses"].items():
            said = described.get("description", "")
            for why in re.findall(r"\(([^()]*)\)", said):
                parts = [p.strip() for p in why.split(";")]
                assert len(parts) == len(set(parts)), (status, said)
