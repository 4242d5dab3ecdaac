"""The HTTP API end to end over a real node on SQLite: what it serves is checked with the
independent RFC 9162 verifier against roots taken from the signed checkpoint notes."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eseal.api.app import create_app
from eseal.node import Node, init_node
from ledger.checkpoint import parse_verifier_key, verify_checkpoint
from ledger.entries import Entry, digest
from tests.e2e import rfc9162_independent as rfc
from tests.e2e.conftest import PASSPHRASE, Head, b64d, independent_checkpoint, raw_entries

#: Appends after init's two entries: checkpoints at 2, 3, 6, 11, 261, 761 and 1061, across
#: tile boundaries (256) and past one page (1000).
BATCHES = (1, 3, 5, 250, 500, 300)
SIZE = 3 + sum(BATCHES)  # init: region.init, the log key, the witness key
MAX_PAGE = 1000
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Served:
    client: TestClient
    node: Node
    verifier_key: str
    leaves: list[bytes]  # leaf hashes of the stored entries, computed independently
    heads: list[Head]  # every stored checkpoint, opened independently


def _drafts(start: int, count: int, now: int) -> list[Entry]:
    return [
        Entry(
            "license.issue",
            now,
            "500000",
            f"e2e-license-{i}",
            digest(i.to_bytes(8, "big")),
            hashlib.sha256(b"e2e agency key").digest()[:8],
        )
        for i in range(start, start + count)
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("http") / "node"
    now = int(time.time())
    writer = init_node(
        data, region="500000", name="重庆市", passphrase=PASSPHRASE.encode(), now=now
    )
    with writer:
        done = 0
        for count in BATCHES:
            writer.log.append(_drafts(done, count, now))
            done += count
    node = Node.open(data)  # read-only, as `eseal serve` opens it
    key = node.config.log_verifier
    heads = [independent_checkpoint(note, key) for _, note in node.store.checkpoints()]
    leaves = [rfc.leaf_hash(e) for e in raw_entries(data)]
    with TestClient(create_app(node), raise_server_exceptions=False) as client:
        yield Served(client, node, key, leaves, heads)
    node.close()


def _get(served: Served, url: str) -> Any:
    r = served.client.get(url)
    assert r.status_code == 200, f"{url}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def test_the_node_has_a_checkpoint_per_append(served: Served) -> None:
    sizes = [h.size for h in served.heads]
    assert sizes == list(itertools.accumulate((3, *BATCHES)))
    assert len(served.leaves) == SIZE
    for head in served.heads:
        assert head.root == rfc.root_from_leaf_hashes(served.leaves[: head.size])


def test_checkpoint_is_a_c2sp_signed_note(served: Served) -> None:
    r = served.client.get("/v1/ledger/checkpoint")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    cp = verify_checkpoint(r.text, parse_verifier_key(served.verifier_key))
    head = independent_checkpoint(r.text, served.verifier_key)
    assert (cp.origin, cp.size, cp.root_hash) == (head.origin, SIZE, head.root)
    assert head == served.heads[-1]


def test_entry_pages_are_bounded_and_hash_to_their_leaves(served: Served) -> None:
    pages = {
        "start=0": (0, MAX_PAGE),
        "start=0&end=5000": (0, MAX_PAGE),
        f"start=0&end={SIZE}": (0, MAX_PAGE),
        "start=1000": (1000, SIZE),
        "start=5&end=7": (5, 7),
        f"start={SIZE - 1}": (SIZE - 1, SIZE),
        f"start={SIZE - 1}&end={SIZE + 10}": (SIZE - 1, SIZE),
    }
    for query, (first, stop) in pages.items():
        page = _get(served, f"/v1/ledger/entries?{query}")
        assert page["start"] == first
        assert page["size"] == SIZE
        got = page["entries"]
        assert len(got) <= MAX_PAGE
        assert [e["index"] for e in got] == list(range(first, stop)), query
        for e in got:
            data = b64d(e["data"])
            assert b64d(e["leaf_hash"]) == rfc.leaf_hash(data) == served.leaves[e["index"]]
    # paging through the whole ledger gives back the tree of the latest checkpoint
    everything: list[bytes] = []
    while len(everything) < SIZE:
        page = _get(served, f"/v1/ledger/entries?start={len(everything)}")
        everything += [rfc.leaf_hash(b64d(e["data"])) for e in page["entries"]]
    assert rfc.root_from_leaf_hashes(everything) == served.heads[-1].root


def test_inclusion_proofs_verify_against_checkpoint_roots(served: Served) -> None:
    checked = 0
    for head in served.heads:
        for index in sorted({0, 1, head.size // 2, head.size - 2, head.size - 1}):
            out = _get(served, f"/v1/ledger/proof/inclusion?index={index}&size={head.size}")
            assert (out["index"], out["size"]) == (index, head.size)
            assert b64d(out["leaf_hash"]) == served.leaves[index]
            proof = [b64d(h) for h in out["proof"]]
            assert rfc.verify_inclusion(served.leaves[index], index, head.size, proof, head.root)
            wrong_root = bytes([head.root[0] ^ 1]) + head.root[1:]
            assert not rfc.verify_inclusion(
                served.leaves[index], index, head.size, proof, wrong_root
            )
            checked += 1
    latest = served.heads[-1]
    out = _get(served, "/v1/ledger/proof/inclusion?index=300")  # size defaults to the latest
    assert out["size"] == latest.size
    proof = [b64d(h) for h in out["proof"]]
    assert rfc.verify_inclusion(served.leaves[300], 300, latest.size, proof, latest.root)
    assert checked > 25


def test_consistency_proofs_verify_between_checkpoint_roots(served: Served) -> None:
    for old, new in itertools.combinations_with_replacement(served.heads, 2):
        out = _get(served, f"/v1/ledger/proof/consistency?first={old.size}&second={new.size}")
        assert (out["first"], out["second"]) == (old.size, new.size)
        proof = [b64d(h) for h in out["proof"]]
        assert rfc.verify_consistency(old.size, new.size, proof, old.root, new.root), out
        if old.size < new.size:
            assert not rfc.verify_consistency(old.size, new.size, proof, new.root, old.root)


def test_healthz(served: Served) -> None:
    assert _get(served, "/healthz") == {
        "status": "ok",
        "region": "500000",
        "size": SIZE,
        "peers": [],
    }


def test_docs_and_openapi(served: Served) -> None:
    docs = served.client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    spec = _get(served, "/openapi.json")
    assert spec["openapi"].startswith("3.")
    assert {
        "/healthz",
        "/v1/ledger/checkpoint",
        "/v1/ledger/entries",
        "/v1/ledger/proof/inclusion",
        "/v1/ledger/proof/consistency",
    } <= set(spec["paths"])
    # Error answers are documented as what they are: RFC 9457 problems.
    assert set(spec["components"]["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "detail",
    }
    # The credential is an HTTP bearer scheme, required by the write operations.
    scheme = spec["components"]["securitySchemes"]["agencyCredential"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert spec["paths"]["/v1/licenses"]["post"]["security"] == [{"agencyCredential": []}]
    assert "security" not in spec["paths"]["/v1/verify"]["post"]
    # Each 4xx an operation lists (every one lists 400; GET /v1/licenses/{license_id},
    # which reads no body and no query, answers no 422 and lists none).
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert "400" in operation["responses"], (path, method)
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    content = response["content"]
                    if "x-c2sp" in operation and status not in ("408", "413", "415"):
                        # tlog-witness's text; a 400 also a problem where the request is
                        # refused before the route reads it (the parser, a repeated header)
                        text = {"text/plain", "text/x.tlog.size"}
                        assert set(content) & text, (path, status)
                        assert set(content) <= text | {"application/problem+json"}, status
                        continue
                    assert set(content) == {"application/problem+json"}, (path, method, status)


BAD_REQUESTS = {
    "inclusion-index-past-tree": f"/v1/ledger/proof/inclusion?index={SIZE}",
    "inclusion-index-past-size": "/v1/ledger/proof/inclusion?index=5&size=3",
    "inclusion-size-zero": "/v1/ledger/proof/inclusion?index=0&size=0",
    "inclusion-size-past-tree": f"/v1/ledger/proof/inclusion?index=0&size={SIZE + 1}",
    "inclusion-negative-index": "/v1/ledger/proof/inclusion?index=-1",
    "inclusion-negative-size": "/v1/ledger/proof/inclusion?index=0&size=-3",
    "inclusion-non-integer": "/v1/ledger/proof/inclusion?index=abc",
    "inclusion-fraction": "/v1/ledger/proof/inclusion?index=1.5",
    "inclusion-huge": "/v1/ledger/proof/inclusion?index=99999999999999999999999999",
    "inclusion-missing-index": "/v1/ledger/proof/inclusion",
    "consistency-first-gt-second": "/v1/ledger/proof/consistency?first=6&second=3",
    "consistency-first-zero": "/v1/ledger/proof/consistency?first=0&second=3",
    "consistency-second-past-tree": f"/v1/ledger/proof/consistency?first=1&second={SIZE + 1}",
    "consistency-negative": "/v1/ledger/proof/consistency?first=-1&second=3",
    "consistency-non-integer": "/v1/ledger/proof/consistency?first=1&second=x",
    "entries-start-past-end": f"/v1/ledger/entries?start={SIZE}",
    "entries-start-far-past-end": "/v1/ledger/entries?start=1000000",
    "entries-end-before-start": "/v1/ledger/entries?start=10&end=5",
    "entries-empty-range": "/v1/ledger/entries?start=10&end=10",
    "entries-negative": "/v1/ledger/entries?start=-1",
    "entries-end-zero": "/v1/ledger/entries?start=0&end=0",
    "entries-non-integer": "/v1/ledger/entries?start=zero",
    "entries-missing-start": "/v1/ledger/entries",
    "unknown-path": "/v1/nothing/here",
    "unknown-ledger-path": "/v1/ledger/proof/nothing",
}


@pytest.mark.parametrize("url", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_get_rfc9457_problems(served: Served, url: str) -> None:
    r = served.client.get(url)
    assert 400 <= r.status_code < 500, f"{url}: {r.status_code} {r.text}"
    assert r.headers["content-type"].split(";")[0] == PROBLEM_JSON
    body = r.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == r.status_code
    assert body["instance"] == url.partition("?")[0]  # every problem names its request's path
    for name in ("type", "title", "detail"):
        assert isinstance(body[name], str), body
        assert body[name].strip(), body
    if url.startswith("/v1/nothing") or url.endswith("/nothing"):
        assert r.status_code == 404


def test_wrong_method_is_a_problem_too(served: Served) -> None:
    r = served.client.post("/v1/ledger/checkpoint")
    assert r.status_code == 405
    assert r.headers["content-type"].split(";")[0] == PROBLEM_JSON
    assert r.json()["status"] == 405
    assert r.json()["instance"] == "/v1/ledger/checkpoint"


# --- the independent verifier itself, on the transparency-dev/merkle vectors -------------------

VECTORS = Path(__file__).parent.parent / "data" / "rfc9162"
INCLUSION_VECTORS = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY_VECTORS = sorted((VECTORS / "consistency").rglob("*.json"))


def _vector(path: Path) -> dict[str, Any]:
    probe: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    probe["proof"] = [b64d(h) for h in probe["proof"] or []]
    return probe


def _vector_id(path: Path) -> str:
    return path.relative_to(VECTORS).as_posix()


def test_vectors_are_there() -> None:
    assert len(INCLUSION_VECTORS) == len(CONSISTENCY_VECTORS) == 98


@pytest.mark.parametrize("path", INCLUSION_VECTORS, ids=_vector_id)
def test_independent_inclusion_on_vectors(path: Path) -> None:
    p = _vector(path)
    ok = rfc.verify_inclusion(
        b64d(p["leafHash"]), p["leafIdx"], p["treeSize"], p["proof"], b64d(p["root"])
    )
    assert ok is not p["wantErr"], p["desc"]


@pytest.mark.parametrize("path", CONSISTENCY_VECTORS, ids=_vector_id)
def test_independent_consistency_on_vectors(path: Path) -> None:
    p = _vector(path)
    ok = rfc.verify_consistency(
        p["size1"], p["size2"], p["proof"], b64d(p["root1"]), b64d(p["root2"])
    )
    assert ok is not p["wantErr"], p["desc"]


def test_independent_tree_hash_on_rfc6962_leaves() -> None:
    leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
    leaves.append("606162636465666768696a6b6c6d6e6f")
    hashes = [rfc.leaf_hash(bytes.fromhex(x)) for x in leaves]
    assert rfc.root_from_leaf_hashes(hashes[:1]).hex().startswith("6e340b9c")
    assert rfc.root_from_leaf_hashes(hashes[:3]).hex().startswith("aeb6bcfe")
    assert rfc.root_from_leaf_hashes(hashes).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    assert rfc.root_from_leaf_hashes([]) == hashlib.sha256(b"").digest()
