"""Dependencies shared by the routes (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from eseal.node import Node
from ledger.log import Log


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def get_log(request: Request) -> Log:
    return get_node(request).log


NodeDep = Annotated[Node, Depends(get_node)]
LogDep = Annotated[Log, Depends(get_log)]
