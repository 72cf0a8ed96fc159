"""Unexpected failures: one 500 with a request id, never a stack trace or detail, on the
form endpoints' short way in and on the FastAPI routes alike (web/pipeline.py)."""

from __future__ import annotations

import logging

import httpx
import pytest

from appward.web.app import create_app
from appward.web.fastpath import FormRequest
from appward.web.responses import Reply
from appward.web.state import AppState
from tests.factories import basic

pytestmark = pytest.mark.anyio

INTERNAL = "exploded with internal detail 7f3a"


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


async def _explode() -> None:
    raise RuntimeError(INTERNAL)


def _assert_bare_json_500(response: httpx.Response) -> str:
    """Returns the request id of a 500 that tells the caller nothing but that id."""
    assert response.status_code == 500
    assert response.headers["cache-control"] == "no-store"
    request_id = response.headers["x-request-id"]
    body = response.json()
    assert body["error"] == "server_error"
    assert request_id in body["error_description"]
    assert body["request_id"] == request_id
    assert INTERNAL not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    return request_id


def _assert_traceback_logged(caplog: pytest.LogCaptureFixture, request_id: str) -> None:
    records = [r for r in caplog.records if request_id in r.getMessage()]
    assert len(records) == 1, [r.getMessage() for r in caplog.records]
    assert records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None
    assert INTERNAL in str(records[0].exc_info[1])


async def test_failure_on_the_token_endpoint_is_one_json_500_with_the_request_id(api, caplog):
    async def explode(request: FormRequest, state: AppState) -> Reply:
        raise RuntimeError(INTERNAL)

    api.app.pipeline.form_endpoints = {**api.app.pipeline.form_endpoints, "/oauth2/token": explode}
    caplog.set_level(logging.INFO, logger="appward.web")
    response = await api.client_credentials(api.admin_id, api.admin_secret)
    _assert_traceback_logged(caplog, _assert_bare_json_500(response))


async def test_failure_in_a_json_route_is_the_same_500(api, caplog):
    api.app.add_api_route("/oauth2/explode", _explode, methods=["GET"])
    caplog.set_level(logging.INFO, logger="appward.web")
    response = await api.http.get("/oauth2/explode")
    _assert_traceback_logged(caplog, _assert_bare_json_500(response))


async def test_failure_in_a_page_is_an_html_500_with_the_request_id(api, caplog):
    api.app.add_api_route("/account/explode", _explode, methods=["GET"])
    caplog.set_level(logging.INFO, logger="appward.web")
    response = await api.http.get("/account/explode")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    request_id = response.headers["x-request-id"]
    assert f'<code id="request-id">{request_id}</code>' in response.text
    assert INTERNAL not in response.text
    assert "Traceback" not in response.text
    _assert_traceback_logged(caplog, request_id)
