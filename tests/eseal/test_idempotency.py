"""Issuing over HTTP is safe to retry with an ``Idempotency-Key``: a request sent again with
the key of one that was recorded gets the same answer and issues nothing; the key is the
sending agency's (or the operator's), for one operation and one request, for 24 hours."""

from __future__ import annotations

import functools
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from eseal.agencies import Principal, new_credential
from eseal.api.app import create_app
from eseal.idempotency import KEY_LIFETIME
from eseal.node import Node
from eseal.seals import create_seal
from tests.eseal.conftest import BUSINESS, HOUSING, MARKET, NOW, WORKER, Region, make_region
from tests.eseal.test_postgres import postgres_node
from tests.postgres import postgres_url

FIELDS = {
    "company_type": "有限责任公司",
    "legal_representative": "张三",
    "established": "2021-03-15",
    "address": "重庆市渝中区解放碑民族路1号",
    "business_scope": "餐饮服务",
}
LICENSE = {
    "agency": MARKET,
    "type": BUSINESS,
    "holder": {"name": "重庆山城小面餐饮有限公司", "id": "91500000MA60XXXX15"},
    "fields": FIELDS,
}
ID_NUMBER = "11010519491231002X"
WORKER_LICENSE = {
    "type": WORKER,
    "holder": {"name": "李四", "id": ID_NUMBER},
    "fields": {
        "certificate_number": "渝建安A(2024)0012345",
        "operation_category": "建筑电工",
        "first_issued": "2024-05-20",
    },
}


@dataclass
class Api:
    client: TestClient
    node: Node
    tokens: dict[str, str]

    def post(self, who: str, key: str | None, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": self.tokens[who]}
        if key is not None:
            headers["Idempotency-Key"] = key
        answer: httpx.Response = self.client.post(path, headers=headers, **kw)
        return answer


def _api(client: TestClient, region: Region) -> Api:
    operator = new_credential(region.node, role="operator", agency_code=None, now=NOW)
    tokens = {
        "market": f"Bearer {region.market.credential}",
        "housing": f"Bearer {region.housing.credential}",
        "operator": f"Bearer {operator}",
    }
    return Api(client, region.node, tokens)


@pytest.fixture(scope="module")
def api(region: Region) -> Iterator[Api]:
    with TestClient(create_app(region.node)) as client:
        yield _api(client, region)


def _new_key() -> str:
    return str(uuid.uuid4())


def _seal(node: Node) -> str:
    agent = Principal("agency", MARKET)
    made = create_seal(
        node, agent, agency_code=MARKET, name="合同章", seal_type="contract", image=None, now=NOW
    )
    return made.id


def _stored(node: Node) -> list[dict[str, Any]]:
    with node.sql.read_engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM idempotency_key"))]


def _licenses(node: Node) -> int:
    with node.sql.read_engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM license")).scalar_one())


Send = Callable[[Api, str | None], httpx.Response]


def _issue(api: Api, key: str | None) -> httpx.Response:
    return api.post("market", key, "/v1/licenses", json=LICENSE)


def _batch(api: Api, key: str | None) -> httpx.Response:
    return api.post("market", key, "/v1/licenses/batch", json={"items": [LICENSE] * 3})


def _make_seal(api: Api, key: str | None) -> httpx.Response:
    return api.post("market", key, "/v1/seals", json={"name": "财务专用章", "type": "finance"})


def _stamp(seal: str) -> Send:
    def send(api: Api, key: str | None) -> httpx.Response:
        # httpx draws a new multipart boundary for each request: the bytes differ each time.
        document = {"file": ("通知.pdf", b"%PDF-1.7 notice", "application/pdf")}
        return api.post("market", key, f"/v1/seals/{seal}/stamp", files=document)

    return send


@pytest.mark.parametrize("operation", ["issue", "batch", "seal", "stamp"])
def test_a_retry_gets_the_first_answer_and_issues_nothing(api: Api, operation: str) -> None:
    """The same request with the same key, again after other acts were recorded: the same
    status and bytes (the proofs against the same checkpoint), and nothing more in the
    ledger, the licenses or the key files."""
    sends: dict[str, Callable[[], Send]] = {
        "issue": lambda: _issue,
        "batch": lambda: _batch,
        "seal": lambda: _make_seal,
        "stamp": lambda: _stamp(_seal(api.node)),
    }
    send = sends[operation]()
    key = _new_key()
    first = send(api, key)
    assert first.status_code == 201, first.text
    assert _issue(api, None).status_code == 201  # the ledger moves on
    size, licenses = api.node.log.size(), _licenses(api.node)
    key_files = sorted((api.node.data_dir / "keys").iterdir())
    for sent in (key, f'"{key}"'):  # the draft's quoted string is the same key
        again = send(api, sent)
        assert again.status_code == 201, again.text
        assert again.content == first.content
        assert again.headers["content-type"] == first.headers["content-type"]
    assert api.node.log.size() == size
    assert _licenses(api.node) == licenses
    assert sorted((api.node.data_dir / "keys").iterdir()) == key_files
    # Without a key (or with another), the same request is issued anew.
    other = send(api, _new_key())
    assert other.status_code == 201, other.text
    assert other.json() != first.json()
    assert api.node.log.size() > size


def test_the_same_key_for_another_request_is_a_422(api: Api) -> None:
    key = _new_key()
    first = _issue(api, key)
    assert first.status_code == 201, first.text
    size = api.node.log.size()
    other = {**LICENSE, "holder": {"name": "重庆另一家餐饮有限公司"}}
    r = api.post("market", key, "/v1/licenses", json=other)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/idempotency-key-reused")
    assert api.node.log.size() == size
    # The first request, sent again, still gets its answer.
    assert _issue(api, key).content == first.content
    assert api.node.log.size() == size


def test_a_key_is_the_senders_and_the_operations(api: Api) -> None:
    """Another agency's key, the operator's, or this agency's on another operation, named
    the same, is another key: each is recorded on its own."""
    key = _new_key()
    mine = _issue(api, key)
    assert mine.status_code == 201, mine.text
    size = api.node.log.size()
    theirs = api.post("housing", key, "/v1/licenses", json=WORKER_LICENSE)
    assert theirs.status_code == 201, theirs.text
    operator = api.post("operator", key, "/v1/licenses", json=LICENSE)  # the same body
    assert operator.status_code == 201, operator.text
    seal = _make_seal(api, key)
    assert seal.status_code == 201, seal.text
    assert len({mine.json()["id"], theirs.json()["id"], operator.json()["id"]}) == 3
    assert api.node.log.size() == size + 3
    assert _issue(api, key).content == mine.content
    assert api.post("operator", key, "/v1/licenses", json=LICENSE).content == operator.content
    assert api.node.log.size() == size + 3


@pytest.mark.parametrize(
    "key",
    ["", " ", "a b", "x" * 129, '"abc', 'abc"', '"a\\"b"', "a,b", "a;b", "é".encode("latin-1")],
)
def test_a_malformed_key_is_a_400_and_changes_nothing(api: Api, key: str | bytes) -> None:
    size, stored = api.node.log.size(), _stored(api.node)
    headers = {"Authorization": api.tokens["market"], "Idempotency-Key": key}
    r = api.client.post("/v1/licenses", json=LICENSE, headers=headers)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/malformed-idempotency-key")
    assert (api.node.log.size(), _stored(api.node)) == (size, stored)


def test_a_key_given_twice_is_a_400_and_changes_nothing(api: Api) -> None:
    size = api.node.log.size()
    headers = [
        ("Authorization", api.tokens["market"]),
        ("Idempotency-Key", _new_key()),
        ("Idempotency-Key", _new_key()),
    ]
    r = api.client.post("/v1/licenses", json=LICENSE, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["type"].endswith("/repeated-header")
    assert api.node.log.size() == size


def test_no_identity_number_is_stored_with_a_key(api: Api) -> None:
    """The request held a citizen's identity number: the key's row keeps a keyed
    fingerprint and the licenses' ids, not the number."""
    key = _new_key()
    r = api.post("housing", key, "/v1/licenses", json=WORKER_LICENSE)
    assert r.status_code == 201, r.text
    (row,) = [s for s in _stored(api.node) if s["idem_key"] == key]
    assert ID_NUMBER not in repr(row)
    assert ID_NUMBER[:17] not in repr(row)
    assert (row["principal"], row["operation"]) == (HOUSING, "license.issue")


def test_keys_expire_after_a_day(api: Api) -> None:
    key, other_key = _new_key(), _new_key()
    first = _issue(api, key)
    assert first.status_code == 201, first.text
    assert _issue(api, other_key).status_code == 201
    rows = {s["idem_key"]: s for s in _stored(api.node)}
    assert rows[key]["expires_at"] - rows[key]["created_at"] == KEY_LIFETIME
    with api.node.sql.write_engine.begin() as conn:  # a day and a second pass
        conn.execute(
            text(
                "UPDATE idempotency_key SET created_at = created_at - :d, "
                "expires_at = expires_at - :d WHERE idem_key IN (:a, :b)"
            ),
            {"d": KEY_LIFETIME + 1, "a": key, "b": other_key},
        )
    size = api.node.log.size()
    again = _issue(api, key)
    assert again.status_code == 201, again.text
    assert again.json()["id"] != first.json()["id"]  # forgotten: issued anew
    assert api.node.log.size() == size + 1
    keys = {s["idem_key"] for s in _stored(api.node)}
    assert key in keys
    assert other_key not in keys  # the expired row went with the next one recorded
    assert _issue(api, key).content == again.content


def test_the_header_is_documented_on_the_issuing_operations(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    for path in ("/v1/licenses", "/v1/licenses/batch", "/v1/seals", "/v1/seals/{seal_id}/stamp"):
        params = spec["paths"][path]["post"]["parameters"]
        (header,) = [p for p in params if p["name"] == "Idempotency-Key"]
        assert header["in"] == "header"
        assert not header.get("required", False)
        assert "24 hours" in header["description"]


def test_a_retry_after_a_commit_pending_gets_the_recorded_answer(tmp_path: Path) -> None:
    """The node gives up waiting for the ledger (503 commit-pending: "may yet be
    recorded") while another writer holds it, twice; once the ledger is free, the retry
    with the same key gets the answer of the one request recorded, and one license is
    issued in all."""
    region = make_region(tmp_path)
    node = region.node
    node.start_group_commit()
    committer = node._committer
    assert committer is not None
    waiting = committer.append
    committer.append = functools.partial(waiting, timeout=0.2)  # type: ignore[method-assign]
    try:
        with TestClient(create_app(node)) as client:
            api = _api(client, region)
            size, key = node.log.size(), _new_key()
            holder = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # another writer holds the ledger
            try:
                for _ in range(2):  # the first request, and a retry while it is in flight
                    r = _issue(api, key)
                    assert r.status_code == 503, r.text
                    assert r.json()["type"].endswith("/commit-pending")
            finally:
                holder.execute("COMMIT")
                holder.close()
            committer.append = waiting  # type: ignore[method-assign]
            answer = _issue(api, key)
            assert answer.status_code == 201, answer.text
            assert node.log.size() == size + 1
            assert _licenses(node) == 1
            assert answer.json()["ledger_index"] == size
            assert _issue(api, key).content == answer.content
            assert node.log.size() == size + 1
    finally:
        node.close()


@pytest.mark.postgres
def test_a_retry_gets_the_first_answer_on_postgres(tmp_path: Path) -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "node", url)
    try:
        credential = new_credential(node, role="agency", agency_code=MARKET, now=NOW)
        with TestClient(create_app(node)) as client:
            api = Api(client, node, {"market": f"Bearer {credential}"})
            key, seal = _new_key(), _seal(node)
            first, stamped = _batch(api, key), _stamp(seal)(api, key)
            assert (first.status_code, stamped.status_code) == (201, 201), first.text
            assert _issue(api, None).status_code == 201
            size = node.log.size()
            assert _batch(api, key).content == first.content
            assert _stamp(seal)(api, key).content == stamped.content
            r = api.post("market", key, "/v1/licenses/batch", json={"items": [LICENSE]})
            assert r.status_code == 422, r.text
            assert node.log.size() == size
    finally:
        node.close()
