"""POST /v1/verify with the id presented with a license (``holder_id``, JSON or multipart):
the verdict says whether the presenter is its holder; the number is never in an answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from eseal.agencies import Principal
from eseal.api.app import create_app
from eseal.api.routes import verify as verify_route
from eseal.licenses import IssueRequest, issue
from eseal.render import qr_png
from eseal.seals import create_seal, stamp
from tests.eseal.conftest import (
    HOUSING,
    MARKET,
    NOW,
    WORKER,
    business_request,
    legacy_holder_form,
    make_region,
    worker_request,
)
from verifier import holder as holder_module
from verifier.claims import holder_id_argon2

ID_NUMBER = "11010519491231002X"  # worker_request's holder
SPACED = "110105 19491231 002x"
OTHER = "500103198808081237"
SAME_CHECK_CHAR = "11010519500101104X"
MALFORMED = "110105194912310021"  # its check character is wrong
CREDIT_CODE = "91500000MA60XXXX15"  # business_request's holder


@dataclass
class Served:
    client: TestClient
    worker: str
    business: str
    no_id: str
    stamp: str
    legacy: str  # the worker's license as issued before Argon2id: SHA-256 "ih"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    region = make_region(tmp_path_factory.mktemp("holder-api") / "node")
    market, housing = Principal("agency", MARKET), Principal("agency", HOUSING)
    worker = issue(region.node, housing, HOUSING, worker_request(), now=NOW).qr_text
    business = issue(region.node, market, MARKET, business_request(), now=NOW).qr_text
    unnamed = IssueRequest(WORKER, "李四", None, worker_request().fields)
    no_id = issue(region.node, housing, HOUSING, unnamed, now=NOW).qr_text
    with legacy_holder_form():
        legacy = issue(region.node, housing, HOUSING, worker_request(), now=NOW).qr_text
    seal = create_seal(
        region.node,
        market,
        agency_code=MARKET,
        name="合同专用章",
        seal_type="contract",
        image=None,
        now=NOW,
    )
    stamped = stamp(region.node, market, seal.id, document=b"x", document_name="x", now=NOW)
    with TestClient(create_app(region.node)) as client:
        yield Served(client, worker, business, no_id, stamped.qr_text, legacy)
    region.node.close()


def _unnamed(r: Response, *presented: str) -> None:
    """The answer names none of the presented ids, however they were typed."""
    for given in presented:
        for form in (given, given.replace(" ", ""), given.replace(" ", "").upper()):
            assert form not in r.text, r.text


def _holder(r: Response) -> dict[str, object]:
    return next(c for c in r.json()["checks"] if c["step"] == "holder")


def test_json_holder_id_match_mismatch_and_not_compared(served: Served) -> None:
    client = served.client
    ok = client.post("/v1/verify", json={"text": served.worker, "holder_id": SPACED})
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "VALID"
    assert ok.json()["colour"] == "green"
    assert _holder(ok)["ok"] is True
    _unnamed(ok, SPACED, ID_NUMBER)
    company = client.post("/v1/verify", json={"text": served.business, "holder_id": CREDIT_CODE})
    assert company.json()["status"] == "VALID", company.text
    bad = client.post("/v1/verify", json={"text": served.worker, "holder_id": OTHER})
    assert bad.status_code == 200, bad.text
    assert bad.json()["status"] == "HOLDER_MISMATCH"
    assert bad.json()["status_text"] == "持证人不符 Holder does not match"
    assert bad.json()["colour"] == "red"
    _unnamed(bad, OTHER)
    unknown = client.post("/v1/verify", json={"text": served.no_id, "holder_id": ID_NUMBER})
    assert unknown.json()["status"] == "VALID", unknown.text
    assert unknown.json()["warnings"] == ["HOLDER_NOT_COMPARED"]
    assert unknown.json()["colour"] == "amber"
    assert _holder(unknown)["ok"] is False
    _unnamed(unknown, ID_NUMBER)
    # Without a holder id, no holder check.
    plain = client.post("/v1/verify", json={"text": served.worker})
    assert "holder" not in [c["step"] for c in plain.json()["checks"]]


def test_a_holder_id_that_is_no_id_is_a_400_problem_that_does_not_name_it(
    served: Served,
) -> None:
    client = served.client
    for body in (
        {"text": served.worker, "holder_id": MALFORMED},
        {"text": served.worker, "holder_id": ""},
        {"text": served.worker, "holder_id": MALFORMED * 5},
    ):
        r = client.post("/v1/verify", json=body)
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/invalid-holder-id")
        _unnamed(r, MALFORMED)
    stamp = client.post("/v1/verify", json={"text": served.stamp, "holder_id": CREDIT_CODE})
    assert stamp.status_code == 400, stamp.text
    assert stamp.json()["type"].endswith("/no-holder")
    _unnamed(stamp, CREDIT_CODE)
    # A number where text belongs: the validation problem does not echo it either.
    number = client.post(
        "/v1/verify", json={"text": served.worker, "holder_id": 500103198808081237}
    )
    assert number.status_code == 422, number.text
    _unnamed(number, OTHER)


def test_multipart_holder_id_with_a_text_or_an_image(served: Served) -> None:
    client = served.client
    text = client.post(
        "/v1/verify", files={"text": (None, served.worker), "holder_id": (None, OTHER)}
    )
    assert text.status_code == 200, text.text
    assert text.json()["status"] == "HOLDER_MISMATCH"
    _unnamed(text, OTHER)
    image = {"image": ("qr.png", qr_png(served.worker), "image/png"), "holder_id": (None, SPACED)}
    for url in ("/v1/verify", "/v1/verify/image"):
        r = client.post(url, files=image)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "VALID"
        assert _holder(r)["ok"] is True
        _unnamed(r, SPACED)
        bad = client.post(url, files=image | {"holder_id": (None, MALFORMED)})
        assert bad.status_code == 400, bad.text
        assert bad.json()["type"].endswith("/invalid-holder-id")
        _unnamed(bad, MALFORMED)
    # Once, and as text: not a file, not twice.
    as_file = client.post(
        "/v1/verify",
        files={"text": (None, served.worker), "holder_id": ("id.txt", ID_NUMBER, "text/plain")},
    )
    assert as_file.status_code == 400, as_file.text
    _unnamed(as_file, ID_NUMBER)
    twice = client.post(
        "/v1/verify",
        files=[
            ("text", (None, served.worker)),
            ("holder_id", (None, ID_NUMBER)),
            ("holder_id", (None, OTHER)),
        ],
    )
    assert twice.status_code == 400, twice.text
    assert "'holder_id'" in twice.json()["detail"]
    _unnamed(twice, ID_NUMBER, OTHER)


def test_the_api_documents_holder_id(served: Served) -> None:
    spec = served.client.get("/openapi.json").json()
    body = spec["paths"]["/v1/verify"]["post"]["requestBody"]["content"]
    assert "holder_id" in str(body["application/json"]) or "holder_id" in str(spec["components"])
    assert "holder_id" in body["multipart/form-data"]["schema"]["properties"]


def test_an_empty_holder_id_field_of_a_form_is_none_given_at_either_url(served: Served) -> None:
    """A form whose holder_id input was left empty: no holder check, at /v1/verify as at
    /v1/verify/image (which answered 200 where the other answered 400 invalid-holder-id)."""
    image = {"image": ("qr.png", qr_png(served.worker), "image/png"), "holder_id": (None, "")}
    for url in ("/v1/verify", "/v1/verify/image"):
        r = served.client.post(url, files=image)
        assert r.status_code == 200, (url, r.text)
        assert r.json()["status"] == "VALID"
        assert "holder" not in [c["step"] for c in r.json()["checks"]]
    text = served.client.post(
        "/v1/verify", files={"text": (None, served.worker), "holder_id": (None, "")}
    )
    assert text.status_code == 200, text.text
    assert "holder" not in [c["step"] for c in text.json()["checks"]]


@pytest.mark.parametrize("form", ["ia", "ih"])
def test_both_hash_forms_match_over_http(served: Served, form: str) -> None:
    """A license as issued now (Argon2id) and one already in the field (SHA-256): the
    holder's number matches, typed full width or with a lower-case x; another does not."""
    text = served.worker if form == "ia" else served.legacy
    for given in (ID_NUMBER, "１１０１０５１９４９１２３１００２ｘ"):
        ok = served.client.post("/v1/verify", json={"text": text, "holder_id": given})
        assert ok.json()["status"] == "VALID", ok.text
        assert _holder(ok)["ok"] is True
        _unnamed(ok, given, ID_NUMBER)
    shown = "*****************X" if form == "ia" else "110105********002X"
    assert ok.json()["document"]["holder_id"] == shown
    bad = served.client.post("/v1/verify", json={"text": text, "holder_id": OTHER})
    assert bad.json()["status"] == "HOLDER_MISMATCH", bad.text


def test_a_holder_id_is_never_matched_in_the_event_loop(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argon2id (about 22 ms) runs in a worker thread, never in the event loop, whichever
    way the id comes (a JSON body the in-loop fast path would otherwise answer, a form)."""
    in_loop: list[bool] = []
    real = holder_id_argon2

    def watched(number: str, salt: bytes) -> bytes:
        try:
            asyncio.get_running_loop()
            in_loop.append(True)
        except RuntimeError:
            in_loop.append(False)
        return real(number, salt)

    monkeypatch.setattr(holder_module, "holder_id_argon2", watched)
    served.client.post("/v1/verify", json={"text": served.worker, "holder_id": ID_NUMBER})
    # Another number with the check character the license shows: only Argon2id tells it
    # apart (one with another check character is told apart without it).
    other = SAME_CHECK_CHAR
    served.client.post(
        "/v1/verify", files={"text": (None, served.worker), "holder_id": (None, other)}
    )
    image = {"image": ("qr.png", qr_png(served.worker), "image/png"), "holder_id": (None, other)}
    served.client.post("/v1/verify/image", files=image)
    assert in_loop == [False, False, False]


async def _release(slots: Any, holder: object) -> None:
    slots.release_on_behalf_of(holder)


def _busy(served: Served, r: Response, path: str) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    code = r.json()["type"].rsplit("/", 1)[1]
    assert code == "matcher-busy"
    spec = served.client.get("/openapi.json").json()
    assert code in spec["paths"][path]["post"]["responses"]["503"]["x-problem-types"]
    _unnamed(r, ID_NUMBER)


def test_holder_checks_are_bounded_per_process_and_busy_is_a_503(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every match slot taken, a verification with a holder id waits for one (and is
    answered once one is freed); one that waits past the bound is a 503 matcher-busy, as
    documented. A verification without a holder id is not held up, and a malformed id is
    still its 400."""
    client, portal = served.client, served.client.portal
    assert portal is not None
    slots = verify_route.matchers()
    holders = [object() for _ in range(verify_route.MATCH_SLOTS)]
    for holder in holders:
        portal.call(slots.acquire_on_behalf_of, holder)
    image = {"image": ("qr.png", qr_png(served.worker), "image/png"), "holder_id": (None, SPACED)}
    try:
        monkeypatch.setattr(verify_route, "MATCH_WAIT", 0.05)
        json_body = {"text": served.worker, "holder_id": ID_NUMBER}
        _busy(served, client.post("/v1/verify", json=json_body), "/v1/verify")
        form = {"text": (None, served.worker), "holder_id": (None, ID_NUMBER)}
        _busy(served, client.post("/v1/verify", files=form), "/v1/verify")
        _busy(served, client.post("/v1/verify/image", files=image), "/v1/verify/image")
        plain = client.post("/v1/verify", json={"text": served.worker})
        assert plain.json()["status"] == "VALID", plain.text
        malformed = client.post("/v1/verify", json={"text": served.worker, "holder_id": MALFORMED})
        assert malformed.status_code == 400, malformed.text
        monkeypatch.setattr(verify_route, "MATCH_WAIT", 30.0)
        answers: list[Response] = []
        waiting = threading.Thread(
            target=lambda: answers.append(client.post("/v1/verify", json=json_body))
        )
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive()  # waiting for a slot
        assert answers == []
    finally:
        for holder in holders:
            portal.call(_release, slots, holder)
    waiting.join(30)
    assert [a.json()["status"] for a in answers] == ["VALID"]
    assert slots.borrowed_tokens == 0
