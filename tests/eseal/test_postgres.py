"""Issuing on PostgreSQL: the same node, agencies, licenses and verification as on SQLite,
through a database URL (CI always sets ESEAL_TEST_DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from eseal.agencies import Principal, add_agency
from eseal.api.app import create_app
from eseal.licenses import change_status, issue, issue_many
from eseal.models import ESEAL_TABLES
from eseal.node import LedgerMissing, Node, init_node
from eseal.trust_export import LocalStatus, build_bundle
from ledger.audit import audit
from ledger.sql import make_engine
from tests.eseal.conftest import BUSINESS, MARKET, NOW, PASSPHRASE, business_request
from tests.ledger.conftest import postgres_url
from verifier.pipeline import VerifyContext, verify_text
from verifier.trust import TrustStore
from verifier.verdict import Status

LEDGER_TABLES = ("ledger_entry", "ledger_tile", "ledger_head", "ledger_checkpoint")


def reset_postgres(url: str) -> None:
    """Drop every table a node creates (each test starts from an empty database)."""
    engine = make_engine(url)
    tables = [
        *(t.__tablename__ for t in ESEAL_TABLES),
        *LEDGER_TABLES,
        "eseal_alembic_version",
        "ledger_alembic_version",
    ]
    with engine.begin() as conn:
        for table in tables:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def postgres_node(data_dir: Path, url: str) -> Node:
    """A new node on the emptied database at ``url``, with the market agency."""
    reset_postgres(url)
    node = init_node(
        data_dir, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW, database_url=url
    )
    add_agency(node, code=MARKET, name="重庆市市场监督管理局", types=[BUSINESS], now=NOW)
    return node


@pytest.mark.postgres
def test_issue_change_and_verify_on_postgres(tmp_path: Path) -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "node", url)
    try:
        agent = Principal("agency", MARKET)
        one = issue(node, agent, MARKET, business_request(), now=NOW)
        batch = issue_many(node, agent, MARKET, [business_request() for _ in range(50)], now=NOW)
        change_status(node, agent, batch[0].id, "revoke", reason="x", now=NOW + 1)
        ctx = VerifyContext(
            TrustStore([build_bundle(node, now=NOW + 2)]), NOW + 10, status=LocalStatus(node)
        )
        assert verify_text(one.qr_text, ctx).status is Status.VALID
        assert verify_text(batch[0].qr_text, ctx).status is Status.REVOKED
        # Over HTTP: a PostgreSQL node's verdicts come from the route, in the thread pool.
        with TestClient(create_app(node)) as client:
            for issued, status in ((one, "VALID"), (batch[0], "REVOKED")):
                r = client.post("/v1/verify", json={"text": issued.qr_text})
                assert r.status_code == 200, r.text
                assert r.json()["status"] == status
                assert r.json()["freshness"]["ledger_included"] is True
        assert audit(node.store, node.log_verifier).ok
    finally:
        node.close()
    reopened = Node.open(tmp_path / "node")
    try:
        assert reopened.config.database_url == url
        assert reopened.log.size() == 2 + 1 + 1 + 50 + 1
    finally:
        reopened.close()


@pytest.mark.postgres
def test_a_node_refuses_an_empty_postgres_database_and_leaves_it_empty(tmp_path: Path) -> None:
    """A node given a database that holds no ledger refuses it before making any table in
    it (migrating first would have made the ledger's tables there)."""
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    ours = tmp_path / "ours"
    init_node(ours, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW).close()
    reset_postgres(url)
    with pytest.raises(LedgerMissing, match="holds no ledger"):
        Node.open(ours, database_url=url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert not [t for t in LEDGER_TABLES if inspect(conn).has_table(t)]
    finally:
        engine.dispose()
