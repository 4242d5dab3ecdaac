"""The operator's API page (``/docs``): Swagger UI from the package, not a CDN, in a page
no other site may frame (an operator pastes a bearer token into it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

#: Where fastapi-offline serves Swagger UI's script, style and icon from the package.
STATIC = "/static-offline-docs"
#: No framing by another site (clickjacking a page holding a token), no referrer, and the
#: page as HTML only. (Swagger UI starts from an inline script, so no script-src here.)
DOCS_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI over the node's OpenAPI document."""
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC}/favicon.png",
        swagger_ui_parameters=request.app.swagger_ui_parameters,
    )
    page.headers.update(DOCS_HEADERS)
    return page
