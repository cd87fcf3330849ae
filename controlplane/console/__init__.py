"""The operator console: static files (plain ES modules and CSS, no build step) served at `/`.

The pages hold no secret and need no token to load; every API call they make carries the token the
operator typed in. Only the files in this package's `static/` folder are served, looked up in a
table built at import time, so no request path ever reaches the file system.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter, Request, Response

STATIC = resources.files(__package__) / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# Scripts, styles and API calls: same origin only. Media may also come from an agent's HTTP port at a
# URL the control plane signed (with a token the console plays records from there, with ranges), and
# agents are on hosts and ports only the database knows, so media-src admits any http(s) origin: a
# <video> runs no code, and with scripts and connections held to 'self' no page can send data out.
# blob: carries media fetched with the token from an agent that serves no direct URLs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob: http: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _load() -> dict[str, Asset]:
    assets: dict[str, Asset] = {}

    def walk(folder: resources.abc.Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            name = prefix + entry.name
            if entry.is_dir():
                walk(entry, name + "/")
                continue
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            if suffix in CONTENT_TYPES:
                body = entry.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                assets[name] = Asset(body, CONTENT_TYPES[suffix], etag)

    walk(STATIC, "")
    return assets


ASSETS = _load()
router = APIRouter(include_in_schema=False)


def _serve(request: Request, name: str) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        return Response(status_code=404, content=b"not found", media_type="text/plain")
    # No file names with hashes (no build step): the browser keeps a copy but asks again each time,
    # and the ETag makes that a 304, so an upgraded service is picked up at the next load.
    headers = {
        "Cache-Control": "no-cache",
        "ETag": asset.etag,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": CSP,
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(content=asset.body, media_type=asset.content_type, headers=headers)


@router.get("/")
async def console_page(request: Request) -> Response:
    return _serve(request, "index.html")


@router.get("/console/{name:path}")
async def console_asset(request: Request, name: str) -> Response:
    return _serve(request, name)
