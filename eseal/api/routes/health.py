"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from eseal.api.deps import STORE_UNAVAILABLE, CurrentAnswer, NodeDep, public_problems

router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[CurrentAnswer], responses=public_problems(STORE_UNAVAILABLE))
def healthz(node: NodeDep) -> dict[str, Any]:
    """OK when the ledger database answers."""
    return {"status": "ok", "region": node.config.region, "size": node.log.size()}
