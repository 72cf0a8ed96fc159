"""Server-rendered pages: one Jinja2 environment with autoescaping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    auto_reload=False,
)


def content_security_policy(form_redirects_to: str | None = None) -> str:
    """Pages may not be framed (clickjacking on consent) and load nothing from elsewhere.

    Browsers apply form-action to the redirect that answers a form too, so the consent
    form must also name where its answer sends the user: the client's redirect URI.
    """
    targets = "'self'"
    if form_redirects_to:
        targets += f" {form_redirects_to}"
    return (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src https:; "
        f"form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
    )


PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": content_security_policy(),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    html = _env.get_template(name).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})
