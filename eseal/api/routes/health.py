"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from eseal.api.deps import STORE_UNAVAILABLE, CurrentAnswer, NodeDep, public_problems
from eseal.peers import peer_regions

router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[CurrentAnswer], responses=public_problems(STORE_UNAVAILABLE))
def healthz(node: NodeDep) -> dict[str, Any]:
    """OK when the ledger database answers; with the node's region and its peer regions,
    whose licenses it verifies too (the window page tells a clerk which it can check)."""
    return {
        "status": "ok",
        "region": node.config.region,
        "size": node.log.size(),
        "peers": peer_regions(node),
    }
