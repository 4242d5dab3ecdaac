"""The published test vectors: the committed files are what the generator writes, and the
verifier gives each case exactly its expected verdict, step by step."""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

import keys.statements
import verifier.trust
from keys.errors import EsealError
from ledger.checkpoint import parse_verifier_key, verify_checkpoint
from tests.vectors.generate import CASES_DIR, files, root_key_id
from verifier.online import OnlineStatus
from verifier.pipeline import StatusSource, VerifyContext, verify_text
from verifier.revocation import RevocationSnapshot, SnapshotStatus, open_snapshot
from verifier.scan import read_qr
from verifier.trust import TrustBundle, TrustStore, open_bundle
from verifier.verdict import WARNING_TEXT, Status

HERE = Path(__file__).resolve().parent
#: The region root key id the vectors' bundle must be signed by (README.md says the same).
ROOT_KEY_ID = "5505d655a05f79be"
CASES = sorted((HERE / CASES_DIR).glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return value


@cache
def _bundle(name: str) -> TrustBundle:
    return open_bundle((HERE / name).read_bytes(), pinned_root_key_id=bytes.fromhex(ROOT_KEY_ID))


@cache
def _snapshot(name: str, bundle: str) -> RevocationSnapshot:
    return open_snapshot((HERE / name).read_bytes(), TrustStore([_bundle(bundle)]))


def test_committed_files_are_a_fresh_generation() -> None:
    fresh = files()
    committed = {
        p.relative_to(HERE).as_posix(): p.read_bytes()
        for p in [HERE / "bundle.json", HERE / "revocations.json", *(HERE / CASES_DIR).iterdir()]
    }
    assert sorted(committed) == sorted(fresh), "run: python -m tests.vectors.generate"
    changed = [name for name, data in fresh.items() if committed[name] != data]
    assert not changed, f"stale vectors {changed}; run: python -m tests.vectors.generate"
    assert files() == fresh  # deterministic


def test_root_key_id_is_pinned() -> None:
    assert root_key_id().hex() == ROOT_KEY_ID
    assert f"`{ROOT_KEY_ID}`" in (HERE / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_verdict(path: Path) -> None:
    case = _load(path)
    expected = case["expected"]
    bundle = _bundle(case["bundle"])
    store = TrustStore([bundle])
    status: StatusSource | None = None
    newest = bundle.issued_at
    if case["revocations"] is not None:
        snapshot = _snapshot(case["revocations"], case["bundle"])
        status, newest = SnapshotStatus([snapshot]), max(newest, snapshot.as_of)
    if case["online"] is not None:
        answer = case["online"]

        def node(request: httpx.Request) -> httpx.Response:
            stamp = case["qr_text"].startswith("ES1:")
            assert request.url.path.startswith("/v1/seals/" if stamp else "/v1/licenses/")
            return httpx.Response(answer["http_status"], json=answer["body"])

        client = httpx.Client(transport=httpx.MockTransport(node))
        status = OnlineStatus("http://node", region=bundle.region, client=client)
    ctx = VerifyContext(
        store, case["validation_time"], status=status, newest_seen={bundle.region: newest}
    )
    document = base64.b64decode(case["document"]) if case["document"] is not None else None
    holder_id = case.get("holder_id")  # only in the cases that present one

    if "error" in expected:  # no verdict: the verifier stops with this error
        with pytest.raises(EsealError) as stopped:
            verify_text(case["qr_text"], ctx, document=document, holder_id=holder_id)
        assert stopped.value.code == expected["error"], stopped.value
        assert expected["valid"] is False
        return

    verdict = verify_text(case["qr_text"], ctx, document=document, holder_id=holder_id)

    assert verdict.status is Status(expected["status"]), verdict.reasons
    assert verdict.valid is expected["valid"]
    assert verdict.kind == expected["kind"]
    assert verdict.warnings == expected["warnings"]
    # The license that replaces it, where the verdict names one (an online transfer's).
    assert verdict.freshness.replaced_by == expected.get("replaced_by")
    # Only a text with another prefix is 'not recognised' (no eseal document at all); an
    # eseal document of an unsupported kind is recognised, and unsupported.
    assert verdict.recognised is case["qr_text"].startswith(("EL1:", "ES1:"))
    passed = {c.step for c in verdict.checks if c.ok}
    assert passed <= set(expected["steps"]), verdict.checks
    for step, ok in expected["steps"].items():
        assert (step in passed) is ok, (step, verdict.checks)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_png_reads_back_as_the_text(path: Path) -> None:
    case = _load(path)
    if case["png"] is None:
        return
    assert read_qr((path.parent / case["png"]).read_bytes()) == case["qr_text"]


def test_cases_cover_the_statuses() -> None:
    cases = [_load(p) for p in CASES]
    statuses = {c["expected"]["status"] for c in cases if "status" in c["expected"]}
    assert len(statuses) >= 14, statuses
    assert statuses == {s.value for s in Status}  # every status, NOT_IN_LEDGER online
    warnings = {w for c in cases for w in c["expected"].get("warnings", [])}
    assert warnings == {
        "STALE_STATUS",
        "STALE_TRUST",
        "NO_STATUS",
        "CLOCK_BEHIND",
        "DOCUMENT_NOT_COMPARED",
        "HOLDER_NOT_COMPARED",
    }
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    assert [p.stem for p in CASES if f"`{p.stem}`" not in readme] == []
    # The statuses an outside verifier must give are listed where it reads, not only in code.
    row = next(line for line in readme.splitlines() if line.startswith("| `expected.status`"))
    design = (HERE.parents[1] / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    verdict = design[design.index("### Verdict") :].split("\n## ")[0]
    assert [s.value for s in Status if f"`{s.value}`" not in row] == []
    assert [s.value for s in Status if f"`{s.value}`" not in verdict] == []
    # And the warnings that make a valid verdict amber, each of them.
    assert [w for w in WARNING_TEXT if f"`{w}`" not in verdict] == []
    warnings_row = next(line for line in readme.splitlines() if line.startswith("| `expected.warn"))
    assert [w for w in warnings - {"UNPINNED_TRUST"} if f"`{w}`" not in warnings_row] == []


def test_the_published_formats_name_every_field_of_the_files() -> None:
    """Found by an outside implementer: the trust bundle's payload was described nowhere
    (its fields, its key records), nor what a key statement's signature covers. The module
    docstrings are the published formats: every field the vectors' files hold is named in
    them, and the statement's signing prefix is given in full."""
    envelope = _load(HERE / "bundle.json")
    bundle = json.loads(base64.b64decode(envelope["payload"]))
    documented = verifier.trust.__doc__ or ""
    key_record = bundle["agencies"][0]["keys"][0]
    nested = [bundle["agencies"][0], bundle["seals"][0], bundle["license_types"][0], key_record]
    missing = [name for name in bundle if f"``{name}``" not in documented]
    missing += [name for obj in nested for name in obj if f'"{name}"' not in documented]
    assert not missing, missing
    assert f'"{bundle["format"]}"' in documented
    assert envelope["payloadType"] in documented
    assert repr(keys.statements.DOMAIN)[1:].replace("'", '"') in (keys.statements.__doc__ or "")


def test_the_checkpoints_grow_with_time() -> None:
    """The bundle (2025-05-31), the snapshot (06-01) and the node's answers (06-02) are cut
    at checkpoints of one log in that order: the snapshot's was once at size 1,024, after
    the node's 1,000 of a day later, which a verifier holding both must take for a replay."""
    bundle = _bundle("bundle.json")
    log_key = parse_verifier_key(bundle.log_verifier)
    snapshot = _snapshot("revocations.json", "bundle.json")
    sizes = [verify_checkpoint(c, log_key).size for c in (bundle.checkpoint, snapshot.checkpoint)]
    online = {
        verify_checkpoint(case["online"]["body"]["checkpoint"], log_key).size
        for case in map(_load, CASES)
        if case["online"] is not None and "checkpoint" in case["online"]["body"]
    }
    assert sizes[0] < sizes[1] < min(online)
