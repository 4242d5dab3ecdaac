"""Dependencies shared by the routes (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from eseal.agencies import NotAuthenticated, Principal, authenticate
from eseal.node import Node
from ledger.log import Log


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def get_log(request: Request) -> Log:
    return get_node(request).log


NodeDep = Annotated[Node, Depends(get_node)]
LogDep = Annotated[Log, Depends(get_log)]


def get_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The agency (or operator) behind ``Authorization: Bearer esk_…``."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("a credential is required: Authorization: Bearer esk_…")
    return authenticate(get_node(request), token.strip())


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
