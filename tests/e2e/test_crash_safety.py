"""Crash safety: the server is SIGKILLed (supervisor and workers at once, as a host or
OOM kill would) in the middle of a burst of registrations, secret rotations and token
requests. After a restart every change it acknowledged (2xx) is there and works, and
nothing is half-done: no client without its secret, no audit event without its change,
no change without its audit event (audit.py: each is written in the change's own
transaction, services.py's unit of work, which commits before the response is sent)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from appward.audit import AuditEvent, EventTag
from appward.clients.models import Client, ClientSecret
from appward.config import Settings
from appward.db import create_engine, create_sessionmaker
from appward.registration.models import RegistrationToken
from tests.conftest import settings_env
from tests.e2e.conftest import create_admin, environment, server_process
from tests.factories import SERVICE, basic, metadata

pytestmark = pytest.mark.e2e

# The burst is killed once this many changes have been acknowledged (or after
# BURST_SECONDS, whichever comes first), so every kind of request is in flight.
KILL_AFTER_CHANGES = 40
BURST_SECONDS = 20.0
ROTATED_CLIENTS = 2
SECRET_METHODS = {"client_secret_basic", "client_secret_post", "client_secret_jwt"}


@dataclass
class Acknowledged:
    """What the server answered 2xx to before it died."""

    clients: dict[str, str] = field(default_factory=dict)  # client_id -> its first secret
    secrets: list[tuple[str, str]] = field(default_factory=list)  # (client_id, new secret)
    tokens: list[str] = field(default_factory=list)
    unanswered: Counter[str] = field(default_factory=Counter)  # kind -> requests cut off

    def changes(self) -> int:
        return len(self.clients) + len(self.secrets)


def test_acknowledged_changes_survive_sigkill_and_none_is_half_done(
    settings: Settings, workdir: Path
) -> None:
    env = environment(
        {
            **settings_env(settings),
            "APPWARD_DCR_MODES": "open",
            "APPWARD_DCR_GRANT_TYPES": "client_credentials",
            "APPWARD_DCR_RATE_LIMIT": "100000",
        }
    )
    admin = create_admin(settings)
    # One worker: on a loaded machine a second one can miss uvicorn's start-up health check.
    with server_process(workdir, env, workers=1) as (base_url, process):
        acknowledged = asyncio.run(_burst_until_killed(base_url, admin, process))
    print(  # the counts docs/deployment.md quotes (pytest -s shows them)
        f"\ncrash: killed after {acknowledged.changes()} acknowledged changes "
        f"({len(acknowledged.clients)} clients, {len(acknowledged.secrets)} rotations) and "
        f"{len(acknowledged.tokens)} tokens; cut off: {dict(acknowledged.unanswered)}"
    )
    assert acknowledged.changes() >= KILL_AFTER_CHANGES, acknowledged
    # The kill must have cut requests off mid-way, or it proved nothing about them.
    assert sum(acknowledged.unanswered.values()) > 0, acknowledged

    with server_process(workdir, env, workers=1, name="restarted") as (base_url, _):
        asyncio.run(_check_acknowledged(base_url, admin, acknowledged))
    asyncio.run(_check_nothing_half_done(settings))


async def _burst_until_killed(
    base_url: str, admin: dict[str, Any], process: subprocess.Popen[bytes]
) -> Acknowledged:
    done = Acknowledged()
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
        bearer = await _admin_bearer(http, admin)
        rotated = []
        for n in range(ROTATED_CLIENTS):
            created = await http.post(
                "/admin/v1/clients",
                json=metadata(SERVICE, client_name=f"rotated {n}"),
                headers=bearer,
            )
            assert created.status_code == 201, created.text
            body = created.json()
            done.clients[body["client_id"]] = body["client_secret"]
            rotated.append(body["client_id"])
        dead = asyncio.Event()

        async def kill_when_enough() -> None:
            deadline = asyncio.get_running_loop().time() + BURST_SECONDS
            while done.changes() < KILL_AFTER_CHANGES + ROTATED_CLIENTS:
                if asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.02)
            os.killpg(process.pid, signal.SIGKILL)
            dead.set()

        async def repeat(kind: str, attempt: Any) -> None:
            for n in itertools.count():
                if dead.is_set():
                    return
                try:
                    await attempt(n)
                except httpx.TransportError:
                    # Cut off by the kill: neither acknowledged nor refused.
                    done.unanswered[kind] += 1
                    return

        async def create(n: int) -> None:
            answer = await http.post(
                "/admin/v1/clients",
                json=metadata(SERVICE, client_name=f"admin-made {n}"),
                headers=bearer,
            )
            assert answer.status_code == 201, answer.text
            done.clients[answer.json()["client_id"]] = answer.json()["client_secret"]

        async def register(n: int) -> None:
            answer = await http.post(
                "/oauth2/register",
                json=metadata(SERVICE, client_name=f"self-registered {n}"),
            )
            assert answer.status_code == 201, answer.text
            done.clients[answer.json()["client_id"]] = answer.json()["client_secret"]

        def rotate(client_id: str) -> Any:
            async def attempt(_: int) -> None:
                # A new secret, the others kept for an hour: zero-downtime rotation.
                answer = await http.post(
                    f"/admin/v1/clients/{client_id}/secrets",
                    json={"label": "rotated", "expire_others_in": 3600},
                    headers=bearer,
                )
                assert answer.status_code == 201, answer.text
                done.secrets.append((client_id, answer.json()["client_secret"]))

            return attempt

        async def request_token(n: int) -> None:
            client_id, secret = list(done.clients.items())[n % len(done.clients)]
            answer = await http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers=basic(client_id, secret),
            )
            assert answer.status_code == 200, answer.text
            done.tokens.append(answer.json()["access_token"])

        await asyncio.gather(
            kill_when_enough(),
            repeat("create", create),
            repeat("create", create),
            repeat("register", register),
            repeat("register", register),
            *(repeat("rotate", rotate(client_id)) for client_id in rotated),
            repeat("token", request_token),
            repeat("token", request_token),
        )
    process.wait(timeout=10)
    return done


async def _admin_bearer(http: httpx.AsyncClient, admin: dict[str, Any]) -> dict[str, str]:
    token = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic(admin["client_id"], admin["client_secret"]),
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def _check_acknowledged(base_url: str, admin: dict[str, Any], done: Acknowledged) -> None:
    """Every acknowledged client exists and its returned secret gets a token; every
    acknowledged new secret gets one; every token issued is still active."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
        bearer = await _admin_bearer(http, admin)
        for client_id in done.clients:
            read = await http.get(f"/admin/v1/clients/{client_id}", headers=bearer)
            assert read.status_code == 200, (client_id, read.text)
        credentials = [*done.clients.items(), *done.secrets]
        for client_id, secret in credentials:
            token = await http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers=basic(client_id, secret),
            )
            assert token.status_code == 200, (client_id, token.text)
        for access_token in done.tokens:
            answer = await http.post(
                "/oauth2/introspect",
                data={"token": access_token},
                headers=basic(admin["client_id"], admin["client_secret"]),
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["active"] is True


async def _check_nothing_half_done(settings: Settings) -> None:
    """Each change and its audit event are there together, or neither is."""
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    try:
        async with create_sessionmaker(engine)() as session:
            clients = list(await session.scalars(select(Client)))
            secrets = list(await session.scalars(select(ClientSecret)))
            events = list(await session.scalars(select(AuditEvent)))
            registered = list(await session.scalars(select(RegistrationToken.client_pk)))
    finally:
        await engine.dispose()

    def events_of(tag: EventTag) -> list[AuditEvent]:
        return [event for event in events if event.action == tag]

    secrets_of = Counter(secret.client_pk for secret in secrets)
    # No client without its secret.
    without_secret = [
        c.client_id
        for c in clients
        if c.token_endpoint_auth_method in SECRET_METHODS and not secrets_of[c.pk]
    ]
    assert not without_secret
    # Each client has its one creation event, each creation event its client.
    created = Counter(event.client_id for event in events_of(EventTag.CLIENT_CREATED))
    assert created == Counter(c.client_id for c in clients)
    # Each secret has its one event, each event its secret.
    added = Counter(event.target for event in events_of(EventTag.CLIENT_SECRET_ADDED))
    assert added == Counter(secret.id for secret in secrets)
    # A grace period given to the other secrets is on them, and recorded.
    expiring = {event.target for event in events_of(EventTag.CLIENT_SECRET_EXPIRY_SET)}
    assert expiring == {secret.id for secret in secrets if secret.expires_at is not None}
    # A self-registration is a client, its registration token and its event, together.
    self_registered = {c.client_id for c in clients if c.registration_source == "dcr"}
    assert {event.client_id for event in events_of(EventTag.DCR_REGISTERED)} == self_registered
    pk_of = {c.pk: c.client_id for c in clients}
    assert {pk_of[pk] for pk in registered} == self_registered
