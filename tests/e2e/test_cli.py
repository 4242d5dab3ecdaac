"""The ``eseal`` command line end to end: the real entry point in a subprocess, on real data
directories, its outputs checked with an independent RFC 9162 verifier and C2SP note check.

Each CLI start costs about a second of imports, so the module builds one node (``init`` then
``demo``) and runs every other command once, concurrently, in the ``runs`` fixture; the
tests then only look at the results. Sizes are read from the node, not assumed: what
``demo`` records may grow.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import pytest

from ledger.checkpoint import parse_verifier_key, verify_checkpoint
from tests.e2e import rfc9162_independent as rfc
from tests.e2e.conftest import (
    PASSPHRASE,
    Run,
    assert_clean_error,
    b64d,
    b64e,
    in_parallel,
    independent_checkpoint,
    ledger_state,
    raw_entries,
    run_eseal,
    snapshot,
)

REGION, NAME = "500000", "重庆市"
BAD_DB = "postgresql://nobody@127.0.0.1:1/x"
FAIL_FAST_SECONDS = 15


@dataclass(frozen=True)
class Base:
    """A node made by ``eseal init`` (2 entries) then ``eseal demo`` (``size`` entries)."""

    dir: Path
    init: Run
    demo: Run
    verifier_key: str  # as printed by init
    init_note: str  # the size-2 checkpoint printed by init
    size: int
    checkpoints: int  # signed checkpoints stored


def _parse_init(out: str) -> tuple[str, str]:
    """(log verifier key, checkpoint note) from init's human output."""
    key = next(
        line.split(":", 1)[1].strip()
        for line in out.splitlines()
        if line.startswith("log verifier key:")
    )
    note = out.split("\n\n", 1)[1].rstrip("\n") + "\n"
    return key, note


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    work = tmp_path_factory.mktemp("cli")
    data = work / "node"
    init = run_eseal("init", "--region", REGION, "--name", NAME, "--data", data, cwd=work)
    assert init.code == 0, str(init)
    demo = run_eseal("demo", "--data", data, "--json", cwd=work)
    assert demo.code == 0, str(demo)
    key, note = _parse_init(init.stdout)
    state = ledger_state(data)
    assert state is not None
    assert state["size"] > 3
    return Base(data, init, demo, key, note, state["size"], state["checkpoints"])


# --- bad input: exit 2, one clear line, nothing changed --------------------------------------


@dataclass(frozen=True)
class Bad:
    id: str
    args: tuple[str, ...]  # "{D}" is the case's data directory, "{N}" the ledger size
    needle: str  # must appear in the error line
    where: str = "copy"  # copy (of the base node), missing (no such dir), empty (empty dir)
    passphrase: str | None = PASSPHRASE
    prepare: Callable[[Path], None] | None = None


def _truncate_log_key(data: Path) -> None:
    key = data / "keys" / "log.key"
    key.write_bytes(key.read_bytes()[: key.stat().st_size // 2])


def _lose_ledger(data: Path) -> None:
    for db in data.glob("ledger.db*"):
        db.unlink()


BAD = (
    Bad("entry-past-tree", ("ledger", "entry", "{N}", "--data", "{D}"), "outside"),
    Bad(
        "inclusion-index-past-tree",
        ("ledger", "proof", "inclusion", "{N}", "--data", "{D}"),
        "outside",
    ),
    Bad(
        "inclusion-index-past-size",
        ("--data", "{D}", "ledger", "proof", "inclusion", "3", "--size", "2"),
        "3",
    ),
    Bad("entry-negative", ("ledger", "entry", "--data", "{D}", "--", "-1"), "-1"),
    Bad(
        "entry-negative-bare",
        ("ledger", "entry", "-1", "--data", "{D}"),
        "-1",
    ),
    Bad(
        "entry-not-an-integer",
        ("ledger", "entry", "abc", "--data", "{D}"),
        "integer",
    ),
    Bad(
        "entry-too-long",
        ("ledger", "entry", "99999999999999999999", "--data", "{D}"),
        "99999999999999999999 has more than 19 digits",
    ),
    Bad("entry-underscore", ("ledger", "entry", "1_0", "--data", "{D}"), "plain decimal"),
    Bad(
        "inclusion-size-plus",
        ("ledger", "proof", "inclusion", "0", "--size", "+1", "--data", "{D}"),
        "plain decimal",
    ),
    Bad(
        "inclusion-size-zero",
        ("ledger", "proof", "inclusion", "0", "--size", "0", "--data", "{D}"),
        "size 0",
    ),
    Bad(
        "inclusion-size-negative",
        ("ledger", "proof", "inclusion", "0", "--size", "-1", "--data", "{D}"),
        "size -1",
    ),
    Bad(
        "inclusion-size-past-tree",
        ("ledger", "proof", "inclusion", "0", "--size", "{N1}", "--data", "{D}"),
        "size",
    ),
    Bad(
        "consistency-first-gt-second",
        ("ledger", "proof", "consistency", "{N}", "2", "--data", "{D}"),
        "first",
    ),
    Bad(
        "consistency-first-zero", ("ledger", "proof", "consistency", "0", "2", "--data", "{D}"), "0"
    ),
    Bad(
        "init-bad-province",
        ("init", "--region", "990000", "--name", NAME, "--data", "{D}"),
        "unknown province 99 in '990000': a node's region code is 6 digits, the first two a"
        " province-level code of GB/T 2260",
        where="missing",
    ),
    Bad(
        "init-bad-character",
        ("init", "--region", "5000a0", "--name", NAME, "--data", "{D}"),
        "region",
        where="missing",
    ),
    Bad(
        "init-central-region",
        ("init", "--region", "100000", "--name", NAME, "--data", "{D}"),
        "central government organs' (中央国家机关), not a region a node is made for",
        where="missing",
    ),
    Bad(
        "init-county-of-no-city",
        ("init", "--region", "500001", "--name", NAME, "--data", "{D}"),
        "a node's region is a province (xx0000), a city (xxxx00) or a county",
        where="missing",
    ),
    Bad(
        "init-short-passphrase",
        ("init", "--region", REGION, "--name", NAME, "--data", "{D}"),
        "the passphrase (ESEAL_PASSPHRASE) is too weak to seal the node's keys: it has 11"
        " characters, and needs at least 12",
        where="missing",
        passphrase="重庆市市场监督管理局钥",
    ),
    Bad(
        "init-repeated-passphrase",
        ("init", "--region", REGION, "--name", NAME, "--data", "{D}"),
        "it is one character repeated",
        where="missing",
        passphrase="*" * 24,
    ),
    Bad(
        "init-digits-passphrase",
        ("init", "--region", REGION, "--name", NAME, "--data", "{D}"),
        "it is only digits, 15 of them",
        where="missing",
        passphrase="123456789012345",
    ),
    Bad(
        "init-repeated-passphrase",
        ("init", "--region", REGION, "--name", NAME, "--data", "{D}"),
        "it is a shorter sequence of characters repeated",
        where="missing",
        passphrase="abcabcabcabc",
    ),
    Bad(
        "init-run-passphrase",
        ("init", "--region", REGION, "--name", NAME, "--data", "{D}"),
        "it is a run of consecutive characters",
        where="missing",
        passphrase="abcdefghijkl",
    ),
    Bad(
        "init-weak-passphrase-empty-dir",
        ("init", "--region", REGION, "--name", NAME, "--data", "{D}"),
        "too weak",
        where="empty",
        passphrase="short",
    ),
    Bad("init-twice", ("init", "--region", REGION, "--name", NAME, "--data", "{D}"), "already"),
    Bad(
        "init-no-passphrase",
        ("init", "--region", REGION, "--name", NAME, "--data", "{D}"),
        "ESEAL_PASSPHRASE",
        where="missing",
        passphrase=None,
    ),
    Bad(
        "demo-weak-passphrase",
        ("demo", "--data", "{D}"),
        "the passphrase (ESEAL_PASSPHRASE) is too weak",
        where="missing",
        passphrase="short",
    ),
    Bad("demo-wrong-passphrase", ("demo", "--data", "{D}"), "passphrase", passphrase="wrong"),
    Bad("demo-corrupt-log-key", ("demo", "--data", "{D}"), "log.key", prepare=_truncate_log_key),
    Bad(
        "unreachable-db-verify",
        ("--database-url", BAD_DB, "ledger", "verify", "--data", "{D}"),
        "database",
    ),
    Bad(
        "unreachable-db-init",
        ("init", "--region", REGION, "--name", NAME, "--data", "{D}", "--database-url", BAD_DB),
        "database",
        where="missing",
    ),
    Bad(
        "ledger-lost",
        ("--data", "{D}", "ledger", "verify"),
        "no ledger at",
        prepare=_lose_ledger,
    ),
    Bad("no-node-verify", ("ledger", "verify", "--data", "{D}"), "no eseal node", where="empty"),
    Bad(
        "no-node-checkpoint",
        ("--data", "{D}", "ledger", "checkpoint"),
        "no eseal node",
        where="missing",
    ),
)


@dataclass(frozen=True)
class BadRun:
    case: Bad
    dir: Path
    before: dict[str, Any]
    run: Run


@dataclass(frozen=True)
class Runs:
    good: dict[str, Run]
    chain: list[Run]  # demo, demo, verify, consistency on a fresh directory
    init_json_dir: Path
    chain_dir: Path
    chain_cwd: Path  # where the demos ran, which they leave empty
    bad: dict[str, BadRun]


def _tamper(data: Path, index: int) -> None:
    conn = sqlite3.connect(data / "ledger.db")
    with conn:
        (row,) = conn.execute("SELECT data FROM ledger_entry WHERE idx = ?", (index,)).fetchone()
        edited = bytes(row[:-1]) + bytes([row[-1] ^ 0x01])
        conn.execute("UPDATE ledger_entry SET data = ? WHERE idx = ?", (edited, index))
    conn.close()


@pytest.fixture(scope="module")
def runs(base: Base, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    work = tmp_path_factory.mktemp("runs")
    d, n = base.dir, base.size

    def cli(*args: str | Path, passphrase: str | None = PASSPHRASE) -> Callable[[], Run]:
        return lambda: run_eseal(*args, cwd=work, passphrase=passphrase)

    init_json_dir, chain_dir, chain_cwd = work / "init-json", work / "chain", work / "chain-cwd"
    chain_cwd.mkdir()
    tamper_dir = work / "tampered"
    shutil.copytree(d, tamper_dir)
    _tamper(tamper_dir, 2)

    good: dict[str, Callable[[], Run]] = {
        "verify_before": cli("--data", d, "ledger", "verify"),
        "verify_after_json": cli("ledger", "verify", "--data", d, "--json"),
        "checkpoint": cli("--data", d, "ledger", "checkpoint"),
        "checkpoint_json": cli("ledger", "checkpoint", "--json", "--data", d),
        "entry_prev": cli("ledger", "entry", str(n - 2), "--data", d, "--json"),
        "entry_last": cli("--json", "ledger", "entry", str(n - 1), "--data", d),
        "inclusion_latest": cli("ledger", "proof", "inclusion", str(n - 1), "--json", "--data", d),
        "inclusion_sized": cli(
            "--data", d, "--json", "ledger", "proof", "inclusion", "1", "--size", "3"
        ),
        "consistency_init": cli(
            "ledger", "proof", "consistency", "3", str(n), "--data", d, "--json"
        ),
        "consistency_last": cli(
            "--json", "--data", d, "ledger", "proof", "consistency", str(n - 1), str(n)
        ),
        "init_json": cli(
            "init", "--json", "--region", REGION, "--name", NAME, "--data", init_json_dir
        ),
        "tamper_human": cli("ledger", "verify", "--data", tamper_dir),
        "tamper_json": cli("--json", "ledger", "verify", "--data", tamper_dir),
    }

    def chain() -> list[Run]:
        """demo on a fresh directory, demo again, verify, and prove the growth."""
        out = [run_eseal("demo", "--json", "--data", chain_dir, cwd=chain_cwd)]
        out.append(run_eseal("--data", chain_dir, "demo", "--json", cwd=chain_cwd))
        if any(r.code for r in out):
            return out
        first, second = (str(json.loads(r.stdout)["size"]) for r in out)
        out.append(run_eseal("ledger", "verify", "--json", "--data", chain_dir, cwd=work))
        out.append(
            run_eseal(
                "ledger",
                "proof",
                "consistency",
                first,
                second,
                "--json",
                "--data",
                chain_dir,
                cwd=work,
            )
        )
        return out

    bad_dirs: dict[str, tuple[Path, dict[str, Any]]] = {}
    bad_jobs: dict[str, Callable[[], Run]] = {}
    for case in BAD:
        target = work / f"bad-{case.id}"
        if case.where == "copy":
            shutil.copytree(d, target)
        elif case.where == "empty":
            target.mkdir()
        if case.prepare is not None:
            case.prepare(target)
        bad_dirs[case.id] = (target, snapshot(target))
        args = tuple(a.format(D=target, N=n, N1=n + 1) for a in case.args)
        bad_jobs[case.id] = cli(*args, passphrase=case.passphrase)

    jobs: dict[str, Callable[[], Any]] = {"chain": chain}  # the longest, so it starts first
    jobs |= {f"good:{k}": v for k, v in good.items()}
    jobs |= {f"bad:{k}": v for k, v in bad_jobs.items()}
    done = in_parallel(jobs)
    return Runs(
        good={k: done[f"good:{k}"] for k in good},
        chain=done["chain"],
        init_json_dir=init_json_dir,
        chain_dir=chain_dir,
        chain_cwd=chain_cwd,
        bad={
            c.id: BadRun(c, bad_dirs[c.id][0], bad_dirs[c.id][1], done[f"bad:{c.id}"]) for c in BAD
        },
    )


def _json(run: Run) -> dict[str, Any]:
    assert run.code == 0, str(run)
    value: dict[str, Any] = json.loads(run.stdout)
    return value


def _ok(runs: Runs, name: str) -> Run:
    run = runs.good[name]
    assert run.code == 0, str(run)
    assert "Traceback" not in run.stderr, str(run)
    return run


# --- the happy path ------------------------------------------------------------------------


def test_init_then_verify(base: Base, runs: Runs) -> None:
    assert base.init.code == 0
    assert f"Initialised region {REGION} {NAME}" in base.init.stdout
    assert (base.dir / "node.json").is_file()
    human = _ok(runs, "verify_before").stdout
    assert f"ledger OK: {base.size} entries, {base.checkpoints} checkpoints" in human
    report = _json(runs.good["verify_after_json"])
    assert report["ok"] is True
    assert report["size"] == report["entries_checked"] == base.size
    assert report["checkpoints_checked"] == base.checkpoints
    assert report["first_bad_index"] is None
    assert report["problems"] == []
    assert isinstance(report["seconds"], int | float)


def test_init_json_carries_its_fields(runs: Runs) -> None:
    out = _json(runs.good["init_json"])
    assert set(out) == {
        "data",
        "region",
        "name",
        "origin",
        "root_key_id",
        "log_verifier_key",
        "witness_verifier_key",
        "checkpoint",
    }
    assert out["region"] == REGION
    assert out["name"] == NAME
    assert out["origin"] == f"eseal/{REGION}"
    assert Path(out["data"]) == runs.init_json_dir
    assert len(bytes.fromhex(out["root_key_id"])) == 8
    node = json.loads((runs.init_json_dir / "node.json").read_text(encoding="utf-8"))
    assert node["log_verifier"] == out["log_verifier_key"]
    cp = verify_checkpoint(out["checkpoint"], parse_verifier_key(out["log_verifier_key"]))
    head = independent_checkpoint(out["checkpoint"], out["log_verifier_key"])
    assert (cp.size, cp.root_hash) == (head.size, head.root) == (3, head.root)
    assert out["witness_verifier_key"].startswith(f"eseal/{REGION}/witness+")
    leaves = [rfc.leaf_hash(e) for e in raw_entries(runs.init_json_dir)]
    assert head.root == rfc.root_from_leaf_hashes(leaves)


def test_checkpoint_verifies_with_the_key_printed_by_init(base: Base, runs: Runs) -> None:
    note = _ok(runs, "checkpoint").stdout
    cp = verify_checkpoint(note, parse_verifier_key(base.verifier_key))
    assert cp.origin == f"eseal/{REGION}"
    assert cp.size == base.size
    head = independent_checkpoint(note, base.verifier_key)
    leaves = [rfc.leaf_hash(e) for e in raw_entries(base.dir)]
    assert head.root == cp.root_hash == rfc.root_from_leaf_hashes(leaves)
    out = _json(runs.good["checkpoint_json"])
    assert out == {
        "origin": cp.origin,
        "size": base.size,
        "root_hash": b64e(cp.root_hash),
        "note": note,
    }
    # init's checkpoint (size 3) verifies with the same key, and is a prefix of this one
    init_cp = verify_checkpoint(base.init_note, parse_verifier_key(base.verifier_key))
    assert init_cp.size == 3
    assert init_cp.root_hash == rfc.root_from_leaf_hashes(leaves[:3])


def test_entry_outputs_hash_to_their_leaves(base: Base, runs: Runs) -> None:
    stored = raw_entries(base.dir)
    n = base.size
    prev, last = _json(runs.good["entry_prev"]), _json(runs.good["entry_last"])
    for index, out in ((n - 2, prev), (n - 1, last)):
        assert set(out) == {"index", "leaf_hash", "data", "entry"}
        assert out["index"] == index
        data = b64d(out["data"])
        assert data == stored[index]
        assert b64d(out["leaf_hash"]) == rfc.leaf_hash(data)
        decoded = cbor2.loads(data)  # deterministic CBOR map: 0 prev, 1 kind, 3 region
        entry = out["entry"]
        assert {"kind", "time", "region", "subject", "digest", "key_id", "prev"} <= set(entry)
        assert entry["kind"] == decoded[1]
        assert isinstance(entry["time"], int)
        assert entry["region"] == decoded[3] == REGION
        assert entry["prev"] == decoded[0].hex()
    assert last["entry"]["prev"] == rfc.leaf_hash(stored[n - 2]).hex()  # the hash chain


def test_inclusion_proofs_verify_independently(base: Base, runs: Runs) -> None:
    leaves = [rfc.leaf_hash(e) for e in raw_entries(base.dir)]
    latest = independent_checkpoint(_ok(runs, "checkpoint").stdout, base.verifier_key)
    early = independent_checkpoint(base.init_note, base.verifier_key)
    cases = (("inclusion_latest", base.size - 1, latest), ("inclusion_sized", 1, early))
    for name, index, head in cases:
        out = _json(runs.good[name])
        assert set(out) == {"index", "size", "leaf_hash", "root_hash", "proof"}
        assert (out["index"], out["size"]) == (index, head.size)
        assert b64d(out["leaf_hash"]) == leaves[index]
        assert b64d(out["root_hash"]) == head.root
        proof = [b64d(h) for h in out["proof"]]
        assert rfc.verify_inclusion(leaves[index], index, head.size, proof, head.root)
        forged = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
        assert not rfc.verify_inclusion(leaves[index], index, head.size, forged, head.root)


def test_consistency_proofs_verify_independently(base: Base, runs: Runs) -> None:
    leaves = [rfc.leaf_hash(e) for e in raw_entries(base.dir)]
    latest = independent_checkpoint(_ok(runs, "checkpoint").stdout, base.verifier_key)
    early = independent_checkpoint(base.init_note, base.verifier_key)
    n = base.size
    out = _json(runs.good["consistency_init"])
    assert set(out) == {"first", "second", "first_root", "second_root", "proof"}
    assert (out["first"], out["second"]) == (3, n)
    assert (b64d(out["first_root"]), b64d(out["second_root"])) == (early.root, latest.root)
    proof = [b64d(h) for h in out["proof"]]
    assert rfc.verify_consistency(3, n, proof, early.root, latest.root)
    assert not rfc.verify_consistency(3, n, proof, latest.root, early.root)
    out = _json(runs.good["consistency_last"])
    proof = [b64d(h) for h in out["proof"]]
    root = rfc.root_from_leaf_hashes(leaves[: n - 1])
    assert b64d(out["first_root"]) == root
    assert rfc.verify_consistency(n - 1, n, proof, root, latest.root)


def test_options_before_and_after_the_command(runs: Runs) -> None:
    # --data before (verify_before, checkpoint), after (entry_prev, verify_after_json);
    # --json before (entry_last, consistency_last) and after (entry_prev, checkpoint_json)
    for name in ("verify_before", "checkpoint", "inclusion_sized", "consistency_last"):
        _ok(runs, name)
    for name in ("entry_prev", "entry_last", "verify_after_json", "checkpoint_json"):
        _json(runs.good[name])


def test_options_before_the_command_beat_the_environment(base: Base, tmp_path: Path) -> None:
    # With ESEAL_DATA and ESEAL_DATABASE_URL exported (as the README does), --data and
    # --database-url before the command name still name the node it works on.
    elsewhere = {"ESEAL_DATA": str(tmp_path / "no-node")}
    bad_db = elsewhere | {"ESEAL_DATABASE_URL": BAD_DB}
    url = f"sqlite:///{base.dir / 'ledger.db'}"
    runs = in_parallel(
        {
            "data": lambda: run_eseal(
                "--data", base.dir, "ledger", "checkpoint", cwd=tmp_path, env=elsewhere
            ),
            "url": lambda: run_eseal(
                "--data",
                base.dir,
                "--database-url",
                url,
                "--json",
                "ledger",
                "checkpoint",
                cwd=tmp_path,
                env=bad_db,
            ),
            "env": lambda: run_eseal("ledger", "checkpoint", cwd=tmp_path, env=elsewhere),
        }
    )
    for name in ("data", "url"):
        assert runs[name].code == 0, str(runs[name])
    assert f"\n{base.size}\n" in runs["data"].stdout
    assert json.loads(runs["url"].stdout)["size"] == base.size
    assert "no-node" in assert_clean_error(runs["env"])  # the environment, when alone


#: What the demo's window says, step by step (eseal.demo_window.at_the_window).
DEMO_VERDICTS = [
    ("issued", "VALID"),
    ("issued", "VALID"),
    ("issued", "VALID"),
    ("revoked", "REVOKED"),
    ("document", "VALID"),
    ("document", "DOCUMENT_MISMATCH"),
    ("cross-region", "VALID"),
    ("cross-region", "UNKNOWN_ISSUER"),
]


def _assert_demo_window(demo: dict[str, Any], data: Path) -> None:
    """The demo's window verdicts, from files it wrote in ``data``, each as expected."""
    assert [(v["step"], v["status"]) for v in demo["window"]] == DEMO_VERDICTS
    assert demo["window"][3]["status_text"] == "已撤销 Revoked"  # Chinese first
    out, peer, revoked = data / "out", demo["peer"], demo["revoked"]
    assert demo["trust"] == {
        "bundle": str(out / "bundle-500000.json"),
        "revocations": str(out / "revocations-500000.json"),
    }
    assert revoked["id"] == demo["licenses"][1]["id"]
    assert revoked["revocations"] == str(out / "revocations-500000-revoked.json")
    assert [v["qr_png"] for v in demo["window"][:3]] == [x["qr_png"] for x in demo["licenses"]]
    assert demo["window"][3]["revocations"] == [revoked["revocations"]]
    assert [v["document"] for v in demo["window"][4:6]] == [
        demo["stamp"]["document"],
        str(out / "notice-changed.txt"),
    ]
    assert (peer["region"], peer["data_dir"]) == ("510000", str(data / "peer-510000"))
    assert peer["id"].split(".")[6] == peer["agency"]  # issued by Sichuan's agency
    assert demo["window"][6]["bundles"] == [demo["trust"]["bundle"], peer["bundle"]]
    assert demo["window"][7]["bundles"] == [demo["trust"]["bundle"]]
    files = [demo["trust"]["bundle"], demo["trust"]["revocations"], revoked["revocations"]]
    files += [peer["bundle"], peer["revocations"], peer["qr_png"], str(out / "notice-changed.txt")]
    files += [x[k] for x in demo["licenses"] for k in ("qr_png", "pdf")]
    for path in files:
        assert Path(path).is_file(), path
        assert Path(path).is_relative_to(data), path
    assert (data / "peer-510000" / "node.json").is_file()


def test_demo_on_an_initialised_node_verifies_at_the_window(base: Base) -> None:
    """``eseal init`` then ``eseal demo``: the window's verdicts and the files it was given."""
    _assert_demo_window(json.loads(base.demo.stdout), base.dir)


def test_demo_twice_grows_the_ledger_and_it_still_verifies(runs: Runs) -> None:
    assert len(runs.chain) == 4, "\n".join(map(str, runs.chain))
    first, second, verify, consistency = runs.chain
    one, two = _json(first), _json(second)
    for demo in (one, two):
        _assert_demo_window(demo, runs.chain_dir)
    # The second run reopened both nodes and issued new licenses in each.
    assert one["agency_key_ids"] == two["agency_key_ids"]
    assert one["peer"]["root_key_id"] == two["peer"]["root_key_id"]
    assert two["peer"]["size"] == one["peer"]["size"] + 1  # one more issuance, nothing else
    peer_state = ledger_state(runs.chain_dir / "peer-510000")
    assert peer_state is not None
    assert peer_state["size"] == two["peer"]["size"]
    ids = [x["id"] for x in one["licenses"]] + [one["peer"]["id"]]
    assert not set(ids) & ({x["id"] for x in two["licenses"]} | {two["peer"]["id"]})
    assert list(runs.chain_cwd.iterdir()) == []  # nothing written where it ran
    assert 2 < one["size"] < two["size"]
    assert one["audit_ok"] is True
    assert two["audit_ok"] is True
    assert one["region"] == two["region"] == REGION
    assert one["proofs_verified"] > 0
    assert two["proofs_verified"] > 0
    key = json.loads((runs.chain_dir / "node.json").read_text(encoding="utf-8"))["log_verifier"]
    old = independent_checkpoint(one["checkpoint"], key)
    new = independent_checkpoint(two["checkpoint"], key)
    assert verify_checkpoint(two["checkpoint"], parse_verifier_key(key)).size == two["size"]
    assert (old.size, new.size) == (one["size"], two["size"])
    report = _json(verify)
    assert report["ok"] is True
    assert report["size"] == two["size"]
    state = ledger_state(runs.chain_dir)
    assert state is not None
    assert report["checkpoints_checked"] == state["checkpoints"]
    proof = [b64d(h) for h in _json(consistency)["proof"]]
    assert rfc.verify_consistency(old.size, new.size, proof, old.root, new.root)
    leaves = [rfc.leaf_hash(e) for e in raw_entries(runs.chain_dir)]
    assert rfc.root_from_leaf_hashes(leaves) == new.root
    assert rfc.root_from_leaf_hashes(leaves[: old.size]) == old.root


def test_tampered_row_fails_verify_and_names_the_entry(runs: Runs) -> None:
    human = runs.good["tamper_human"]
    assert human.code == 1, str(human)
    assert "Traceback" not in human.stderr
    assert "entry 2" in human.stdout + human.stderr
    report = json.loads(runs.good["tamper_json"].stdout)
    assert runs.good["tamper_json"].code == 1
    assert report["ok"] is False
    assert report["first_bad_index"] == 2
    assert any("2" in p for p in report["problems"])


# --- bad input ---------------------------------------------------------------------------


def _bad_params() -> list[Any]:
    return [pytest.param(c.id, id=c.id) for c in BAD]


@pytest.mark.parametrize("case_id", _bad_params())
def test_bad_input_is_refused_cleanly_and_changes_nothing(runs: Runs, case_id: str) -> None:
    bad = runs.bad[case_id]
    message = assert_clean_error(bad.run, 2)
    assert bad.case.needle.lower() in message.lower(), str(bad.run)
    if BAD_DB in bad.case.args:
        assert bad.run.seconds < FAIL_FAST_SECONDS, str(bad.run)
    assert snapshot(bad.dir) == bad.before, f"{case_id} changed {bad.dir}"
