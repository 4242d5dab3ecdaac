"""The dependency rule between the four rooms (eseal → verifier → ledger → keys), checked
on the source (every import statement) and at run time (what importing pulls in)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STORAGE_AND_WEB = ("sqlmodel", "sqlalchemy", "fastapi", "starlette", "uvicorn", "alembic")
#: room → top-level modules it must never import
FORBIDDEN = {
    "keys": ("ledger", "verifier", "eseal", *STORAGE_AND_WEB),
    "ledger": ("verifier", "eseal"),
    "verifier": (
        "eseal",
        "ledger.sql",
        "ledger.store",
        "ledger.migrate",
        "ledger.audit",
        *STORAGE_AND_WEB,
    ),
}
#: ledger modules that are storage (everything else in ledger/ must stay pure)
LEDGER_STORAGE = {"sql.py", "migrate.py", "audit.py", "store.py", "group_commit.py", "log.py"}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _violations(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_room_imports_follow_the_dependency_rule(room: str) -> None:
    files = sorted((ROOT / room).rglob("*.py"))
    assert files
    bad = {str(p.relative_to(ROOT)): v for p in files if (v := _violations(p, FORBIDDEN[room]))}
    assert bad == {}


def test_pure_ledger_modules_import_no_storage() -> None:
    pure = [p for p in (ROOT / "ledger").glob("*.py") if p.name not in LEDGER_STORAGE]
    assert {p.name for p in pure} >= {"merkle.py", "checkpoint.py", "entries.py", "tiles.py"}
    bad = {p.name: v for p in pure if (v := _violations(p, STORAGE_AND_WEB))}
    assert bad == {}


def test_importing_the_verifier_pulls_in_no_storage_or_web_app() -> None:
    code = (
        "import sys, importlib, pkgutil, verifier\n"
        "for m in pkgutil.iter_modules(verifier.__path__):\n"
        "    importlib.import_module('verifier.' + m.name)\n"
        "import ledger.merkle, ledger.checkpoint, ledger.entries, keys.statements\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {STORAGE_AND_WEB!r}"
        " or m.startswith('eseal') or m in ('ledger.sql', 'ledger.store')]\n"
        "print(','.join(sorted(bad)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
