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
from tests.eseal.conftest import BUSINESS, MARKET, NOW, PASSPHRASE, business_request, run_eseal
from tests.eseal.test_transfer import transfer_racing_a_suspension
from tests.postgres import postgres_url, reset_postgres, run_schema, with_search_path
from tests.verifier.test_revocation import snapshot_racing_a_revocation
from verifier.pipeline import VerifyContext, verify_text
from verifier.trust import TrustStore
from verifier.verdict import Status

LEDGER_TABLES = ("ledger_entry", "ledger_tile", "ledger_head", "ledger_checkpoint")


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
        assert reopened.log.size() == 3 + 1 + 1 + 50 + 1
    finally:
        reopened.close()


@pytest.mark.postgres
def test_a_transfer_racing_a_suspension_of_its_new_license_is_refused_on_postgres(
    tmp_path: Path,
) -> None:
    """On PostgreSQL too (READ COMMITTED, row locks), a suspension of the new license that
    commits between the transfer's first check and its write makes the transfer refused."""
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "node", url)
    try:
        agent = Principal("agency", MARKET)
        lic, to = (r.id for r in issue_many(node, agent, MARKET, [business_request()] * 2, now=NOW))
        transfer_racing_a_suspension(node, agent, lic, to)
    finally:
        node.close()


@pytest.mark.postgres
def test_a_snapshot_is_of_one_state_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL too (REPEATABLE READ), a revocation committed while a snapshot is
    exported, after its checkpoint was read, is not in that snapshot."""
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "node", url)
    try:
        snapshot_racing_a_revocation(node, monkeypatch)
    finally:
        node.close()


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


def test_the_tests_name_their_schema_in_the_url_after_any_options_given() -> None:
    url = "postgresql://eseal@db:5432/test?sslmode=require&options=-cstatement_timeout%3D5s"
    assert with_search_path(url, "eseal_test_ab12") == (
        "postgresql://eseal@db:5432/test?sslmode=require"
        "&options=-cstatement_timeout%3D5s%20-csearch_path%3Deseal_test_ab12"
    )
    assert with_search_path("postgresql:///test", "s") == (
        "postgresql:///test?options=-csearch_path%3Ds"
    )


@pytest.mark.postgres
def test_a_database_url_names_the_schema_a_node_keeps_its_tables_in(tmp_path: Path) -> None:
    """libpq's options in a node's database URL (``?options=-csearch_path%3DNAME``, as the
    tests' URL has it): every table the node and its ledger make is in that schema, and the
    node reopens there from its node.json."""
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    schema = run_schema()
    assert schema is not None
    assert url.endswith(f"options=-csearch_path%3D{schema}")
    node = postgres_node(tmp_path / "node", url)
    size = node.log.size()
    node.close()
    made = {t.__tablename__ for t in ESEAL_TABLES} | set(LEDGER_TABLES)
    made |= {"eseal_alembic_version", "ledger_alembic_version"}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_schema()")).scalar() == schema
            placed = conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            )
            assert set(placed.scalars()) == made
    finally:
        engine.dispose()
    reopened = Node.open(tmp_path / "node")
    try:
        assert reopened.config.database_url == url
        assert reopened.log.size() == size
    finally:
        reopened.close()


@pytest.mark.postgres
def test_init_in_a_schema_that_does_not_exist_says_to_create_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database URL whose search_path names a schema not made yet (README: create it,
    then name it) is refused, exit 2, saying so and what to run, where the operator read
    only PostgreSQL's "no schema has been selected to create in"; nothing is made."""
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    schema = run_schema()
    assert schema is not None
    missing = url.replace(f"search_path%3D{schema}", f"search_path%3D{schema}_none")
    assert missing != url
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    data = tmp_path / "node"
    node = ["--data", str(data), "--database-url", missing]
    code, out, err = run_eseal(
        [*node, "init", "--region", "500000", "--name", "重庆市"], capsys, monkeypatch
    )
    assert code == 2, err
    assert out == ""
    assert err.startswith("error: cannot open the ledger database: ")
    assert "no schema has been selected to create in" in err
    assert "the schema the database URL's search_path names does not exist" in err
    assert "CREATE SCHEMA" in err
    assert len(err.splitlines()) == 1
    assert not data.exists()
