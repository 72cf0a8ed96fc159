"""Helpers for the sign-in, second-factor and password tests: accounts, enrolment through
the services, signing in through the pages, the audit trail."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp
import redis
from fastapi import FastAPI
from sqlalchemy import select

from appward.audit import AuditEvent
from appward.clock import FrozenClock
from appward.services import unit_of_work
from tests.factories import SETUP_ACTOR
from tests.oauth_helpers import PASSWORD, hidden_fields


async def create_account(
    api: Any, username: str, *, role: str | None = None, email: str | None = None
) -> str:
    """Creates an account through the admin API; returns its public id."""
    body: dict[str, Any] = {"username": username, "password": PASSWORD}
    if role:
        body["role"] = role
    if email:
        body["email"] = email
    created = await api.post("/admin/v1/users", body)
    assert created.status_code == 201, created.text
    public_id: str = created.json()["id"]
    return public_id


async def enrol(app: FastAPI, username: str, clock: FrozenClock) -> tuple[str, list[str]]:
    """Turns on TOTP for the account through the services; returns its seed and recovery
    codes. The code used to confirm is spent: the next sign-in needs a later step."""
    async with unit_of_work(app.state.appward, SETUP_ACTOR) as services:
        user = await services.users.by_username(username)
        enrolment = await services.totp.start_enrolment(user)
        codes = await services.totp.confirm_enrolment(
            user, pyotp.TOTP(enrolment.seed).at(clock.now())
        )
    clock.advance(30)
    return enrolment.seed, codes


def code_now(seed: str, clock: FrozenClock) -> str:
    return pyotp.TOTP(seed).at(clock.now())


async def password_step(
    http: httpx.AsyncClient, username: str, password: str = PASSWORD, next: str | None = None
) -> httpx.Response:
    """Opens the login page (with ``next``) and posts the password."""
    page = await http.get("/login", params={"next": next} if next else None)
    fields = hidden_fields(page.text)
    return await http.post("/login", data={**fields, "username": username, "password": password})


async def code_step(
    http: httpx.AsyncClient, code_page: httpx.Response, code: str
) -> httpx.Response:
    fields = hidden_fields(code_page.text)
    return await http.post("/login/code", data={**fields, "code": code})


async def sign_in(
    http: httpx.AsyncClient,
    username: str,
    password: str = PASSWORD,
    *,
    seed: str | None = None,
    clock: FrozenClock | None = None,
) -> httpx.Response:
    """Signs in through the pages (with the current code when ``seed`` is given); returns
    the final redirect."""
    response = await password_step(http, username, password)
    if seed is not None:
        assert clock is not None
        assert response.status_code == 200, response.text
        response = await code_step(http, response, code_now(seed, clock))
    assert response.status_code == 303, response.text
    return response


async def events(app: FastAPI, action: str) -> list[AuditEvent]:
    async with unit_of_work(app.state.appward, SETUP_ACTOR) as services:
        found = await services.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return list(found)


async def audit_text(app: FastAPI) -> str:
    """Every audit event, as one text to search for what must never be in it."""
    async with unit_of_work(app.state.appward, SETUP_ACTOR) as services:
        found = await services.session.scalars(select(AuditEvent))
        return "\n".join(f"{e.actor} {e.action} {e.target} {e.changes}" for e in found)


def flushed_redis() -> str:
    """The test Redis (APPWARD_TEST_REDIS_URL) with the sign-in and reset throttling
    counts removed, so that those of earlier tests (the same frozen time, usernames and
    address) do not carry over; nothing else in it is touched. Or a skip (a failure
    under APPWARD_REQUIRE_REDIS=1)."""
    from tests.functional.test_sessions import reachable_redis

    url = reachable_redis()
    client = redis.Redis.from_url(url)
    try:
        for pattern in ("appward:rate:login-*", "appward:rate:password-reset-*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()
    return url
