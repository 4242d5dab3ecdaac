"""The service-window page (窗口核验): one static page, its script and its style, served
from ``eseal/web`` under a strict Content-Security-Policy.

The page holds no secrets and decodes nothing itself: it sends a pasted QR text to
``POST /v1/verify`` or an image (a camera frame, a photo, a screenshot) to
``POST /v1/verify/image`` and shows the verdict.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

router = APIRouter(tags=["window"], include_in_schema=False)

#: No inline script or style, nothing from elsewhere: the seal image is a same-site URL,
#: the camera frame goes canvas → blob → upload, and the video plays a MediaStream
#: (srcObject), so neither blob: nor data: URLs are needed.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

#: Sent with the page and every asset.
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cache-Control": "no-cache",
}

#: The page's assets (served at /window/<name>) and their content types: nothing else in
#: the directory is reachable.
ASSETS = {
    "window.js": "text/javascript; charset=utf-8",
    "window.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
PAGE = "index.html"


@cache
def _asset(name: str) -> bytes:
    """The bytes of one file in eseal/web (read once per process)."""
    return files("eseal").joinpath("web", name).read_bytes()


def _serve(name: str, media_type: str) -> Response:
    return Response(_asset(name), media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/", response_class=Response)
def page() -> Response:
    """The window page (HTML)."""
    return _serve(PAGE, "text/html; charset=utf-8")


@router.get("/window/{name}", response_class=Response)
def asset(name: str) -> Response:
    """The page's script, style and icon."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return _serve(name, media_type)
