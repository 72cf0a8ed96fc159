"""Unexpected failures: a 500 with a request id, never a stack trace or detail."""

from __future__ import annotations

import httpx
import pytest

from appward.web.app import create_app
from tests.factories import basic

pytestmark = pytest.mark.anyio


class BrokenHasher:
    def hash(self, secret: str) -> str:
        raise RuntimeError("hasher exploded with internal detail")

    def verify(self, hashed: str, secret: str) -> bool:
        raise RuntimeError("hasher exploded with internal detail")


async def test_unexpected_error_is_a_bare_500(settings, clock):
    app = create_app(settings, clock=clock, hasher=BrokenHasher())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            secret = "apwcs_0123456789abcdef_" + "A" * 43
            response = await http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers=basic("x", secret),
            )
            # Unknown client: refused before the hasher is reached.
            assert response.status_code == 401
            response = await http.post(
                "/admin/v1/scopes",
                json={"name": "x", "description": "y"},
                headers={"Authorization": "Bearer x"},
            )
            assert response.status_code == 401


async def test_unknown_route_is_a_json_404(settings, clock):
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            oauth = await http.get("/oauth2/nothing")
            assert oauth.status_code == 404
            assert oauth.json()["error"] == "not_found"
            admin = await http.get("/admin/v1/nothing")
            assert admin.status_code == 404
            assert admin.headers["content-type"] == "application/problem+json"
            wrong_method = await http.get("/oauth2/token")
            assert wrong_method.status_code == 405
