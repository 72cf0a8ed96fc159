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

    Browsers apply form-action to the redirects that answer a form too, so the consent
    form, and the login form when signing in can redirect on to the client, must also
    name where their answer sends the user: the client's redirect URI's origin.
    """
    targets = "'self'"
    if form_redirects_to:
        targets += f" {form_redirects_to}"
    return (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src https:; "
        f"form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
    )


MAX_LANGUAGES = 10


def preferred_languages(accept_language: str) -> list[str]:
    """Returns the languages of an Accept-Language header, most preferred first (RFC 9110
    §12.5.4); malformed entries and '*' are skipped."""
    weighted: list[tuple[float, int, str]] = []
    for index, entry in enumerate(accept_language.split(",")[:MAX_LANGUAGES]):
        tag, _, params = entry.strip().partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


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
