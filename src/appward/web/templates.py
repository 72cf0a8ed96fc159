"""Server-rendered pages: one Jinja2 environment with autoescaping, one layout
(templates/base.html), and the headers every page carries.

Every page is rendered by ``render``, which adds the security headers (PAGE_HEADERS and
a Content-Security-Policy built for the page) and gives the templates ``site`` (the
server's display name and logo) and ``static_url`` (web/static.py's versioned URLs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from appward.clients.auth_methods import uses_secret
from appward.config import Settings
from appward.errors import AppwardError
from appward.web.static import static_url

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    auto_reload=False,
    # A misspelt name in a template is an error in the tests, not an empty string.
    undefined=StrictUndefined,
)
_env.globals["static_url"] = static_url
# Which tabs a client's page offers follows its method's descriptor (a Keys tab always,
# the secrets tab only for a method with secrets).
_env.globals["method_uses_secret"] = uses_secret

CSP_SOURCE = re.compile(r"[a-z][a-z0-9+.-]*:(//[A-Za-z0-9.\-\[\]:]+)?")


def source_expression(uri: str) -> str:
    """Returns the CSP source that allows exactly ``uri``'s origin (or, for a private-use
    scheme, that scheme); "'none'" when the URI holds anything a source may not."""
    parts = urlsplit(uri)
    source = f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"
    # Only characters a host, port or scheme needs: nothing that could end the directive.
    return source if CSP_SOURCE.fullmatch(source) else "'none'"


def content_security_policy(
    form_redirects_to: str | None = None, images_from: Iterable[str] = ()
) -> str:
    """Pages may not be framed (clickjacking on consent), run only the app's own scripts
    (no inline script or event handler: script-src 'self'), take styles only from the
    app's stylesheet, and load nothing from elsewhere.

    Browsers apply form-action to the redirects that answer a form too, so the consent
    form, and the login form when signing in can redirect on to the client, must also
    name where their answer sends the user: the client's redirect URI's origin.

    ``images_from`` are the exact origins of the images a page shows from elsewhere (a
    client's logo, the server's own logo when it is not served here): nothing else.
    """
    targets = "'self'"
    if form_redirects_to:
        targets += f" {form_redirects_to}"
    images = " ".join(dict.fromkeys(["'self'", *images_from]))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
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


# Every page's, besides its Content-Security-Policy (built per page by render).
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True, slots=True)
class Site:
    """What the layout's header shows: the server's display name and its logo."""

    name: str
    logo_uri: str | None

    @classmethod
    def of(cls, settings: Settings) -> Site:
        return cls(settings.display_name, settings.logo_uri)

    @property
    def image_sources(self) -> tuple[str, ...]:
        """The CSP source of the logo, when it is served from elsewhere."""
        if self.logo_uri is None or self.logo_uri.startswith("/"):
            return ()
        return (source_expression(self.logo_uri),)


def field_errors(exc: AppwardError) -> dict[str, str]:
    """Returns the messages of ``exc`` by form field, for forms.html's macros: a field's
    messages joined (``redirect_uris[1]`` and ``redirect_uris.1`` count as ``redirect_uris``,
    the field's input),
    and under "" the description when no field is named."""
    errors: dict[str, list[str]] = {}
    for problem in exc.fields:
        field = re.split(r"[.\[]", problem.field, maxsplit=1)[0]
        errors.setdefault(field, []).append(problem.message)
    if not errors:
        return {"": exc.description}
    return {field: "; ".join(dict.fromkeys(messages)) for field, messages in errors.items()}


def external_image(uri: str | None) -> str | None:
    """Returns ``uri`` when a page may show it as an image from elsewhere: https only, so
    a page over https never loads mixed content and no other scheme (data:, javascript:)
    reaches an img element."""
    return uri if uri is not None and uri.startswith("https://") else None


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    form_action: str | None = None,
    images: Iterable[str | None] = (),
) -> HTMLResponse:
    """Renders template ``name`` in the layout, with the page headers.

    ``form_action`` is the one origin other than this server's that the page's forms may
    end at (see content_security_policy); ``images`` the URLs of the images from
    elsewhere the page shows (each already checked by external_image; None skipped).
    """
    site = Site.of(request.app.state.appward.settings)
    csp = content_security_policy(
        form_action,
        [*site.image_sources, *(source_expression(uri) for uri in images if uri)],
    )
    html = _env.get_template(name).render(request=request, site=site, **context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={**PAGE_HEADERS, "Content-Security-Policy": csp, **(headers or {})},
    )
