"""The outer layer (web/pipeline.py): a request id on every answer, the domain error's
detail in the log (never a secret), and the hooks every request passes."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import Request
from starlette.types import Scope

from appward.errors import AppwardError, TooManyAttempts
from appward.web.app import create_app
from tests.factories import basic

pytestmark = pytest.mark.anyio

REQUEST_ID = re.compile(r"[0-9a-f]{16}")


def _wrong(secret: str) -> str:
    """The same secret with its last character changed: its id is known, it does not match."""
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


async def test_every_answer_carries_its_own_request_id(api):
    ok = await api.client_credentials(api.admin_id, api.admin_secret)
    refused = await api.client_credentials(api.admin_id, _wrong(api.admin_secret))
    not_found = await api.http.get("/oauth2/nothing")
    admin = await api.get("/admin/v1/clients")
    assert [r.status_code for r in (ok, refused, not_found, admin)] == [200, 401, 404, 200]
    ids = [r.headers["x-request-id"] for r in (ok, refused, not_found, admin)]
    assert all(REQUEST_ID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


async def test_handlers_read_the_request_id_from_the_scope(api):
    async def echo(request: Request) -> dict[str, str]:
        return {"request_id": request.state.request_id}

    api.app.add_api_route("/oauth2/echo-request-id", echo, methods=["GET"])
    response = await api.http.get("/oauth2/echo-request-id")
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_bad_client_secret_logs_its_detail_but_never_the_secret(api, caplog):
    caplog.set_level(logging.INFO, logger="appward.web")
    wrong = _wrong(api.admin_secret)
    response = await api.client_credentials(api.admin_id, wrong)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    # The reply stays RFC 6749 §5.2's: a Basic challenge after a failed Basic attempt.
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert response.headers["cache-control"] == "no-store"
    request_id = response.headers["x-request-id"]
    lines = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    line = lines[0]
    assert "POST /oauth2/token -> 401 invalid_client" in line
    assert "mismatch" in line  # the internal detail, which the caller never sees
    assert "mismatch" not in response.text
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (wrong, api.admin_secret, wrong.rsplit("_", 1)[1]):
        assert secret not in everything


async def test_unknown_client_detail_is_logged(api, caplog):
    caplog.set_level(logging.INFO, logger="appward.web")
    response = await api.client_credentials("apwc_nobody", api.admin_secret)
    assert response.status_code == 401
    request_id = response.headers["x-request-id"]
    [line] = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert "invalid_client" in line


async def test_admin_api_error_detail_is_logged_with_the_request_id(api, caplog):
    caplog.set_level(logging.INFO, logger="appward.web")
    response = await api.http.get("/admin/v1/clients", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    request_id = response.headers["x-request-id"]
    [line] = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert "GET /admin/v1/clients -> 401 invalid_token" in line


async def test_success_logs_nothing(api, caplog):
    caplog.set_level(logging.DEBUG, logger="appward.web")
    response = await api.client_credentials(api.admin_id, api.admin_secret)
    assert response.status_code == 200
    assert not [r for r in caplog.records if response.headers["x-request-id"] in r.getMessage()]


@dataclass
class RefuseTheThird:
    """A hook as a rate limit would be: lets two requests through, refuses the rest."""

    seen: list[tuple[str, int, str | None]] = field(default_factory=list)
    calls: int = 0

    async def before(self, scope: Scope) -> AppwardError | None:
        self.calls += 1
        return TooManyAttempts("slow down", retry_after=7) if self.calls > 2 else None

    def after(self, scope: Scope, status: int, error: AppwardError | None) -> None:
        self.seen.append((scope["path"], status, error.error if error else None))


async def test_hooks_see_every_request_and_may_refuse_it(settings, clock):
    hook = RefuseTheThird()
    app = create_app(settings, clock=clock, hooks=[hook])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            form = {"grant_type": "client_credentials"}
            auth = basic("apwc_nobody", "x")
            first = await http.post("/oauth2/token", data=form, headers=auth)
            second = await http.get("/oauth2/jwks")
            third = await http.post("/oauth2/token", data=form, headers=auth)
            fourth = await http.get("/admin/v1/clients")
    assert (first.status_code, second.status_code) == (401, 200)
    for refused in (third, fourth):
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "7"
        assert REQUEST_ID.fullmatch(refused.headers["x-request-id"])
    assert third.json() == {"error": "too_many_attempts", "error_description": "slow down"}
    assert fourth.headers["content-type"] == "application/problem+json"
    assert hook.seen == [
        ("/oauth2/token", 401, "invalid_client"),
        ("/oauth2/jwks", 200, None),
        ("/oauth2/token", 429, "too_many_attempts"),
        ("/admin/v1/clients", 429, "too_many_attempts"),
    ]


async def test_authorize_error_page_is_logged_with_the_request_id(api, caplog):
    caplog.set_level(logging.INFO, logger="appward.web")
    response = await api.http.get("/oauth2/authorize?response_type=code&client_id=apwc_nobody")
    assert response.status_code == 400
    request_id = response.headers["x-request-id"]
    [line] = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert "GET /oauth2/authorize -> 400 invalid_client" in line
