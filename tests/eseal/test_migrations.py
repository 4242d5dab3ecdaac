"""The issuing service's Alembic history creates exactly the schema its models declare."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from eseal import status_index
from eseal.agencies import Principal
from eseal.backup import check_backup, read_manifest
from eseal.licenses import change_status, get_license, issue, issue_many, renew
from eseal.models import ESEAL_TABLES
from eseal.node import ISSUING_MIGRATIONS, Node
from eseal.seals import create_seal, revoke_seal
from ledger.migrate import SchemaTooNew, upgrade
from ledger.sql import make_engine, sqlite_url
from tests.e2e.conftest import tables_state
from tests.eseal.conftest import (
    MARKET,
    NOW,
    PASSPHRASE,
    business_request,
    make_region,
    run_eseal,
)
from tests.eseal.test_postgres import postgres_node
from tests.postgres import postgres_url

NAMES = {t.__tablename__ for t in ESEAL_TABLES}


def test_issuing_migrations_match_the_models(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    upgrade(make_engine(url, immediate=True), ISSUING_MIGRATIONS, "eseal_alembic_version")
    engine = make_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    engine.dispose()
    ours = [
        d
        for d in diff
        if (isinstance(d, tuple) and getattr(d[1], "name", None) in NAMES)
        or (isinstance(d, list) and d and d[0][2] in NAMES)  # column changes: (op, schema, table…)
    ]
    assert ours == []
    created = {getattr(d[1], "name", None) for d in diff if d[0] == "add_table"}
    assert not created & NAMES


def _status_indexes(url: str) -> dict[str, int | None]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = [
            *conn.execute(text("SELECT id, status_index FROM license")),
            *conn.execute(text("SELECT id, status_index FROM seal")),
        ]
    engine.dispose()
    return {r[0]: r[1] for r in rows}


def _change_statuses(node: Node) -> tuple[set[str], str]:
    """Licenses suspended, reinstated, revoked and renewed, and a seal revoked: their ids,
    and the id of a seal left active."""
    agent = Principal("agency", MARKET)
    suspended = issue(node, agent, MARKET, business_request(), now=NOW)
    change_status(node, agent, suspended.id, "suspend", reason="核查", now=NOW + 1)
    reinstated = issue(node, agent, MARKET, business_request(), now=NOW)
    change_status(node, agent, reinstated.id, "suspend", reason="核查", now=NOW + 1)
    revoked = issue(node, agent, MARKET, business_request(), now=NOW)
    change_status(node, agent, revoked.id, "revoke", reason="吊销", now=NOW + 2)
    change_status(node, agent, reinstated.id, "reinstate", now=NOW + 3)
    renewed = issue(node, agent, MARKET, business_request(), now=NOW)
    renew(node, agent, renewed.id, now=NOW + 4)
    seal = create_seal(
        node, agent, agency_code=MARKET, name="章", seal_type="contract", image=None, now=NOW
    )
    kept = create_seal(
        node, agent, agency_code=MARKET, name="章二", seal_type="contract", image=None, now=NOW
    )
    revoke_seal(node, agent, seal.id, reason="遗失", now=NOW + 5)
    # Other entries after the changes, so the look-back reads more than one chunk.
    issue_many(node, agent, MARKET, [business_request() for _ in range(5)], now=NOW + 6)
    return {suspended.id, reinstated.id, revoked.id, renewed.id, seal.id}, kept.id


def _back_to_0001_and_up_again(url: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(ISSUING_MIGRATIONS))
    cfg.attributes["version_table"] = "eseal_alembic_version"
    engine = make_engine(url, immediate=True)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "eseal_0001")
    engine.dispose()
    upgrade(make_engine(url, immediate=True), ISSUING_MIGRATIONS, "eseal_alembic_version")


def _check_backfill(node: Node, url: str) -> None:
    changed, kept = _change_statuses(node)
    node.close()
    recorded = _status_indexes(url)
    assert {k for k, v in recorded.items() if v is not None} == changed
    assert recorded[kept] is None
    _back_to_0001_and_up_again(url)
    assert _status_indexes(url) == recorded


def test_the_status_index_is_filled_in_from_the_ledger_for_rows_changed_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node whose licenses and seals changed status before revision eseal_0002 gets each
    row's latest status entry found in the ledger: the same index a new node records
    (read back three entries at a time here, so across chunks)."""
    monkeypatch.setattr(status_index, "CHUNK", 3)
    region = make_region(tmp_path)
    _check_backfill(region.node, sqlite_url(tmp_path))


@pytest.mark.postgres
def test_the_status_index_is_filled_in_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    monkeypatch.setattr(status_index, "CHUNK", 3)
    _check_backfill(postgres_node(tmp_path / "node", url), url)


def _downgrade(url: str, revision: str) -> None:
    """The issuing schema taken back to ``revision``: the database an older eseal left."""
    cfg = Config()
    cfg.set_main_option("script_location", str(ISSUING_MIGRATIONS))
    cfg.attributes["version_table"] = "eseal_alembic_version"
    engine = make_engine(url, immediate=True)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    engine.dispose()


def _revision(url: str, table: str) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        (revision,) = conn.execute(text(f"SELECT version_num FROM {table}")).one()  # noqa: S608
    engine.dispose()
    return str(revision)


def test_a_database_of_an_older_eseal_is_migrated_as_the_node_opens_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The upgrade as README tells it: a backup taken first keeps the older schema (it
    migrates nothing, and checks), then the first command of the new eseal migrates the
    node's database in place, says so, and what was issued before is there."""
    caplog.set_level(logging.WARNING, logger="ledger.migrate")
    region = make_region(tmp_path / "node")
    assert not caplog.records  # a new database is made, not migrated
    issued = issue(region.node, Principal("agency", MARKET), MARKET, business_request(), now=NOW)
    region.node.close()
    url = sqlite_url(tmp_path / "node")
    _downgrade(url, "eseal_0001")
    data = ["--data", str(tmp_path / "node")]

    code, _, err = run_eseal([*data, "backup", str(tmp_path / "b")], capsys, monkeypatch)
    assert code == 0, err
    assert _revision(url, "eseal_alembic_version") == "eseal_0001"  # not migrated by it
    assert read_manifest(tmp_path / "b")["schema"]["eseal_alembic_version"] == ["eseal_0001"]
    assert check_backup(tmp_path / "b").ok
    assert not caplog.records

    code, said, err = run_eseal([*data, "--json", "ledger", "verify"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(said)["ok"] is True
    assert _revision(url, "eseal_alembic_version") == "eseal_0008"
    said_so = [r.getMessage() for r in caplog.records]
    assert said_so == [
        "migrated the database's schema (eseal_alembic_version) from revision eseal_0001 "
        "to eseal_0008"
    ]
    with Node.open(tmp_path / "node") as node:
        assert get_license(node, issued.id).document == issued.qr_text


@pytest.mark.parametrize(
    ("table", "revision"),
    [("eseal_alembic_version", "eseal_9999"), ("ledger_alembic_version", "ledger_9999")],
)
def test_a_database_a_newer_eseal_migrated_is_refused_unchanged(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    table: str,
    revision: str,
) -> None:
    """An older eseal (this one, before a revision it does not know) opening a database a
    newer one migrated refuses it, naming the revision and what to run, and changes
    nothing: exit 2, not Alembic's traceback."""
    region = make_region(tmp_path / "node")
    region.node.close()
    url = sqlite_url(tmp_path / "node")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {table} SET version_num = :r"), {"r": revision})  # noqa: S608
    engine.dispose()
    before = tables_state(tmp_path / "node")
    data = ["--data", str(tmp_path / "node")]
    for command_line in (["ledger", "checkpoint"], ["--json", "ledger", "verify"]):
        code, said, err = run_eseal([*data, *command_line], capsys, monkeypatch)
        assert code == 2, err
        assert said == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert f"at revision {revision}, which this eseal does not know" in lines[0]
        assert "a newer eseal has upgraded it. Run that eseal" in lines[0]
    with pytest.raises(SchemaTooNew):
        Node.open(tmp_path / "node", passphrase=PASSPHRASE)
    assert tables_state(tmp_path / "node") == before

    # A backup copies it as it is; checking the backup names the newer eseal too.
    code, _, err = run_eseal([*data, "backup", str(tmp_path / "b")], capsys, monkeypatch)
    assert code == 0, err
    assert tables_state(tmp_path / "node") == before
    code, _, err = run_eseal(["backup", "--check", str(tmp_path / "b")], capsys, monkeypatch)
    assert code == 2
    assert f"at revision {revision}, which this eseal does not know" in err
