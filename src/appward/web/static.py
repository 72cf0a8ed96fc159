"""The pages' stylesheet, scripts and images (web/static/), served by the app itself:
nothing comes from a CDN.

The files are read once, at import; only those names are served (no path from the
request ever reaches the file system). Pages link them by ``static_url(name)``, which
adds the content's digest (``/static/appward.css?v=1a2b3c4d5e6f``): such a URL names one
version for ever, so it is cached for a year as immutable, and a new release changes the
URL. A request without the current digest (an old page, a hand-typed URL) is answered
with ``no-cache``, so the browser revalidates it (ETag, 304) instead of keeping a stale
file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True, slots=True)
class Asset:
    content: bytes
    media_type: str
    version: str  # the first 12 hex digits of the content's SHA-256

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def _load(directory: Path) -> dict[str, Asset]:
    assets = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in MEDIA_TYPES:
            content = path.read_bytes()
            version = hashlib.sha256(content).hexdigest()[:12]
            assets[path.name] = Asset(content, MEDIA_TYPES[path.suffix], version)
    return assets


ASSETS = _load(STATIC_DIR)


def static_url(name: str) -> str:
    """Returns the versioned URL of asset ``name``. Raises KeyError for an unknown name
    (a template linking a file that does not exist fails its test)."""
    return f"{PREFIX}/{name}?v={ASSETS[name].version}"


router = APIRouter(include_in_schema=False)


@router.get(PREFIX + "/{name}")
async def asset(name: str, request: Request, v: str | None = None) -> Response:
    found = ASSETS.get(name)
    if found is None:
        return Response("not found\n", status_code=404, media_type="text/plain")
    headers = {
        "ETag": found.etag,
        "Cache-Control": IMMUTABLE if v == found.version else REVALIDATE,
        "X-Content-Type-Options": "nosniff",
    }
    if found.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(found.content, media_type=found.media_type, headers=headers)
