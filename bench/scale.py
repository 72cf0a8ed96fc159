"""A million clients (issue 12): request times at 1,000 and at 1,000,000 clients.

    PYTHONPATH=src .venv/bin/python bench/scale.py [--clients 1000,1000000] [--requests 500]
                                                   [--rounds 10] [--keep] [--no-explain]

Each size gets its own scratch PostgreSQL schema, bench_scale_<size>, at
$APPWARD_BENCH_POSTGRES_URL (by default postgresql+asyncpg://root@127.0.0.1:5432/test),
migrated to head and filled; they are dropped at the end unless --keep, and a later run
reuses a kept one (migrated to head again, topped up to its size, never shrunk): load a
million once with --keep, measure it as often as you like.

Seeding, through the domain throughout:

- 200 confidential client_credentials clients with real secrets (``ClientService.create``;
  cheap argon2: APPWARD_ARGON2_TIME_COST=1, MEMORY_COST_KIB=64, PARALLELISM=1), and 200
  public authorization-code clients with redirect URIs; on a reused schema the confidential
  ones get a new secret each (``add_secret``: the plaintexts live only in this process);
- the bulk: ``ClientService.import_clients`` (the path of ``appward clients import``: the
  one validator, one audit event per client), 100,000 lines per transaction: two thirds
  public code-flow clients, one third confidential client_credentials ones without a
  secret (no argon2 work), four name families, twenty owners, half with a scope; then one
  in ten is disabled (one UPDATE: status=disabled has a tenth to find) and the schema is
  VACUUM ANALYZEd, as autovacuum would have it.

Every size's app (the one ``appward serve`` builds, credential cache off:
credential_cache_ttl=0, so every client_credentials request reads the client and its
secrets by index and runs argon2) runs in this process, driven over httpx's ASGITransport
one request at a time. Per scenario: 20 warm-up requests per size, then --requests timed
ones per size in --rounds blocks taken in turn (1k, 1M, 1k, 1M, ...), so the noise of a
shared machine falls on both sizes alike. Printed: p50 and p99 per size and scenario,
p99(largest)/p99(smallest), then, unless --no-explain, EXPLAIN (ANALYZE, BUFFERS) at the
largest size of each distinct SELECT on the client tables the scenario's requests ran
(captured with SQLAlchemy's before_cursor_execute on the app's engine, re-run with its
first parameters in a transaction rolled back), a sequential scan reading over 10,000
rows flagged.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import json
import os
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, func, select, text

import appward.models  # noqa: F401 (every table on Base.metadata)
from appward.audit import Actor
from appward.clients.models import Client
from appward.clients.service import ClientFilter
from appward.config import Settings
from appward.db import create_engine
from appward.migrations import upgrade
from appward.services import standalone_resources, unit_of_work
from appward.users.models import Role
from appward.web.app import create_app

POSTGRES_URL = os.environ.get(
    "APPWARD_BENCH_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test"
)
PASSWORD = "benchmark password"
SCOPE = "api:read"
SCHEMA_PREFIX = "bench_scale_"  # one schema per size: bench_scale_1000, bench_scale_1000000
MEASURED = 200  # confidential clients with secrets, and as many public ones
CONFIDENTIAL_PREFIX = "scale-service-"
PUBLIC_PREFIX = "scale-app-"
ADMIN_NAME = "scale-admin"
IMPORT_CHUNK = 100_000  # lines per import transaction (progress is printed per chunk)
WARM_UP = 20
FAMILIES = ("Weather", "Billing", "Reports", "Chat")
VERIFIER = "bench-verifier-" + "x" * 40
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=")
# A name/q filter that matches a handful of clients at most, whatever the size: the case a
# substring search cannot answer from the first rows of the primary key.
ADMIN_LISTS = (
    ("admin list status=disabled", "/admin/v1/clients?status=disabled&limit=50"),
    ("admin list name=widget 4242", "/admin/v1/clients?name=widget%204242&limit=50"),
    ("admin list q=reports widget 31", "/admin/v1/clients?q=reports%20widget%2031&limit=50"),
)
CONSOLE_LIST = ("console list q=chat widget 77", "/console/clients?q=chat%20widget%2077")
HOT_TABLES = re.compile(r"\b(clients|client_secrets|client_scopes)\b")
BIG_TABLES = ("clients", "client_secrets", "audit_events", "client_scopes")


@dataclass
class Fixture:
    """What the scenarios use: the measured clients and the admin's ways in."""

    services: list[tuple[str, str]] = field(default_factory=list)  # (client_id, secret)
    apps: list[tuple[str, str]] = field(default_factory=list)  # (client_id, redirect_uri)
    admin: tuple[str, str] = ("", "")  # an admin client_credentials client
    username: str = ""


def _bulk_line(n: int) -> str:
    """The n-th bulk client as a line of `appward clients import`."""
    name = f"{FAMILIES[n % 4]} widget {n}"
    owner = f"team-{n % 20}"
    if n % 3 == 0:
        data: dict[str, Any] = {
            "client_name": name,
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
        }
    else:
        data = {
            "client_name": name,
            "redirect_uris": [f"https://app{n}.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }
    if n % 2:
        data["scope"] = SCOPE
    data["owner"] = owner
    return json.dumps(data)


def _settings(schema: str, work: Path) -> Settings:
    return Settings(
        database_url=POSTGRES_URL,
        database_schema=schema,
        data_dir=work / "var",
        # The same key every run of a schema: a kept one's signing keys were stored
        # encrypted with it (scratch data, so a key derived from the name will do).
        key_encryption_key=base64.urlsafe_b64encode(
            hashlib.sha256(f"bench {schema}".encode()).digest()
        ).decode(),
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
        argon2_parallelism=1,
        credential_cache_ttl=0,
        credential_cache_fallback_ttl=0,
    )


async def _client_count(settings: Settings) -> int:
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(Client))).scalar_one())
    finally:
        await engine.dispose()


async def prepare(settings: Settings) -> Fixture:
    """Creates (or, on a reused schema, finds and re-keys) the measured clients and the
    admin's client and account."""
    fixture = Fixture()
    tag = secrets.token_hex(3)
    async with (
        standalone_resources(settings) as resources,
        unit_of_work(resources, Actor("bench:setup")) as services,
    ):
        clients = services.clients
        existing = await clients.search(ClientFilter(name=CONFIDENTIAL_PREFIX), limit=MEASURED)
        if not existing.items:
            await services.scopes.create(SCOPE, "Read the API")
            for n in range(MEASURED):
                change = await clients.create(
                    {
                        "client_name": f"{CONFIDENTIAL_PREFIX}{n}",
                        "grant_types": ["client_credentials"],
                        "token_endpoint_auth_method": "client_secret_basic",
                        "scope": SCOPE,
                    }
                )
                assert change.secret is not None
                fixture.services.append((change.client.client_id, change.secret.plaintext))
                await clients.create(
                    {
                        "client_name": f"{PUBLIC_PREFIX}{n}",
                        "redirect_uris": [f"https://scale-app{n}.example/cb"],
                        "grant_types": ["authorization_code"],
                        "token_endpoint_auth_method": "none",
                        "scope": SCOPE,
                    }
                )
        else:
            for client in existing.items:
                issued = await clients.add_secret(client.client_id, label=f"bench {tag}")
                fixture.services.append((client.client_id, issued.plaintext))
        apps = await clients.search(ClientFilter(name=PUBLIC_PREFIX), limit=MEASURED)
        fixture.apps = [(c.client_id, c.redirect_uris[0]) for c in apps.items]
        admins = await clients.search(ClientFilter(name=ADMIN_NAME), limit=1)
        if admins.items:
            admin_id = admins.items[0].client_id
            issued = await clients.add_secret(admin_id, label=f"bench {tag}")
            fixture.admin = (admin_id, issued.plaintext)
        else:
            admin = await clients.create_admin_client(ADMIN_NAME)
            assert admin.secret is not None
            fixture.admin = (admin.client.client_id, admin.secret.plaintext)
        fixture.username = f"scale-admin-{tag}"
        await services.users.create(fixture.username, PASSWORD, role=Role.ADMIN)
    assert len(fixture.services) == len(fixture.apps) == MEASURED
    return fixture


async def grow(settings: Settings, target: int) -> float:
    """Imports bulk clients until the schema holds ``target`` clients; returns the
    seconds the import took (0 if it held enough)."""
    have = await _client_count(settings)
    if have >= target:
        return 0.0
    started = time.perf_counter()
    first = have
    while have < target:
        count = min(IMPORT_CHUNK, target - have)
        lines: Iterator[str] = (_bulk_line(n) for n in range(have, have + count))
        async with (
            standalone_resources(settings) as resources,
            unit_of_work(resources, Actor("bench:import")) as services,
        ):
            await services.clients.import_clients(lines)
        have += count
        rate = (have - first) / (time.perf_counter() - started)
        print(f"  imported {have - first} of {target - first} ({rate:.0f} clients/s)", flush=True)
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    try:
        async with engine.begin() as conn:
            # One in ten bulk clients disabled, so status=disabled has a tenth to find.
            await conn.execute(
                text(
                    "UPDATE clients SET status = 'disabled' "
                    "WHERE id % 10 = 0 AND status = 'active' AND client_name LIKE '% widget %'"
                )
            )
        # Planner statistics as autovacuum would have them (it may not have run yet).
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    return time.perf_counter() - started


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Scenario:
    label: str
    send: Callable[..., Any]  # (target, client, request number) -> response
    expect: int
    signed_in: bool = True  # False: sent without the admin's session cookie


def _authorize(target: Target, http: httpx.AsyncClient, n: int) -> Any:
    client_id, redirect_uri = target.fixture.apps[n % len(target.fixture.apps)]
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPE,
        "state": f"s{n}",
        "code_challenge": CHALLENGE.decode(),
        "code_challenge_method": "S256",
    }
    return http.get("/oauth2/authorize", params=params)


def _token(target: Target, http: httpx.AsyncClient, n: int) -> Any:
    client_id, secret = target.fixture.services[n % len(target.fixture.services)]
    return http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(client_id, secret),
    )


def _admin_list(url: str) -> Callable[..., Any]:
    return lambda target, http, n: http.get(
        url, headers={"Authorization": f"Bearer {target.token}"}
    )


def _page(url: str) -> Callable[..., Any]:
    return lambda target, http, n: http.get(url)


SCENARIOS = (
    # Without a session: the client and redirect_uri checked, then the redirect to sign in.
    Scenario("authorize (no session)", _authorize, 303, signed_in=False),
    Scenario("client_credentials", _token, 200, signed_in=False),
    *(Scenario(label, _admin_list(url), 200, signed_in=False) for label, url in ADMIN_LISTS),
    Scenario(CONSOLE_LIST[0], _page(CONSOLE_LIST[1]), 200),
)


@dataclass
class Target:
    """One size: its schema, settings, measured clients, and (while measuring) its app and
    HTTP clients (signed in as the admin, and without a session)."""

    size: int
    schema: str
    settings: Settings
    fixture: Fixture
    seeded: float = 0.0
    app: Any = None
    http: Any = None
    anonymous: Any = None
    token: str = ""
    times: dict[str, list[float]] = field(default_factory=dict)
    statements: dict[str, dict[str, Any]] = field(default_factory=dict)


async def open_target(target: Target, stack: AsyncExitStack) -> None:
    """Starts the target's app (as ``appward serve`` builds it) and signs the admin in."""
    target.app = create_app(target.settings)
    await stack.enter_async_context(target.app.router.lifespan_context(target.app))
    transport = httpx.ASGITransport(app=target.app)
    target.http = await stack.enter_async_context(
        httpx.AsyncClient(transport=transport, base_url="http://bench")
    )
    target.anonymous = await stack.enter_async_context(
        httpx.AsyncClient(transport=transport, base_url="http://bench")
    )
    login = await target.http.get("/login")
    csrf = login.text.split('name="csrf" value="')[1].split('"')[0]
    signed_in = await target.http.post(
        "/login",
        data={"csrf": csrf, "username": target.fixture.username, "password": PASSWORD},
    )
    assert signed_in.status_code == 303, signed_in.text


async def fresh_admin_token(target: Target) -> None:
    response = await target.anonymous.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "appward:admin"},
        auth=target.fixture.admin,
    )
    assert response.status_code == 200, response.text
    target.token = response.json()["access_token"]


async def run_block(target: Target, scenario: Scenario, first: int, count: int) -> None:
    """Sends ``count`` timed requests of ``scenario`` to ``target``, one at a time,
    keeping their times and the hot SELECTs they ran."""
    engine = target.app.state.appward.engine.sync_engine
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    client = target.http if scenario.signed_in else target.anonymous
    times = target.times.setdefault(scenario.label, [])
    statements = target.statements.setdefault(scenario.label, {})
    event.listen(engine, "before_cursor_execute", capture)
    try:
        for n in range(first, first + count):
            captured.clear()
            begun = time.perf_counter()
            response = await scenario.send(target, client, n)
            times.append((time.perf_counter() - begun) * 1000)
            if response.status_code != scenario.expect:
                raise SystemExit(f"{scenario.label}: {response.status_code} {response.text[:300]}")
            for statement, parameters in captured:
                if statement.lstrip().upper().startswith("SELECT") and HOT_TABLES.search(statement):
                    statements.setdefault(statement, parameters)
    finally:
        event.remove(engine, "before_cursor_execute", capture)


async def explain(target: Target) -> None:
    """Prints EXPLAIN (ANALYZE, BUFFERS) of each hot SELECT the scenarios ran on
    ``target``, with the parameters of its first run (in a transaction rolled back)."""
    print(f"\n# EXPLAIN (ANALYZE, BUFFERS) at {target.size} clients")
    shown: set[tuple[str, str]] = set()
    async with target.app.state.appward.engine.connect() as conn:
        for label, statements in target.statements.items():
            for statement, parameters in statements.items():
                # Once each: the admin token's client lookup is in every admin scenario.
                key = (statement, repr(parameters))
                if key in shown:
                    continue
                shown.add(key)
                plan = await conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                )
                lines = [row[0] for row in plan]
                scanned = _sequential_scans(lines)
                flag = f"  <-- SEQ SCAN of {', '.join(scanned)}" if scanned else ""
                print(f"\n## {label}{flag}\n{_abridged(statement)}")
                for line in lines:
                    print(f"    {line}")
        await conn.rollback()


def _sequential_scans(plan: list[str]) -> list[str]:
    """Returns the tables the plan reads whole that hold over 10,000 rows: what an index
    should have answered (a small table is read whole by choice, and cheaply)."""
    found = []
    for i, line in enumerate(plan):
        scan = re.search(r"Seq Scan on (\w+)", line)
        if not scan:
            continue
        rows = re.search(r"actual time=\S+ rows=(\d+) loops=(\d+)", line)
        read = int(rows.group(1)) * int(rows.group(2)) if rows else 0
        for after in plan[i + 1 : i + 4]:
            removed = re.search(r"Rows Removed by Filter: (\d+)", after)
            if removed:
                read += int(removed.group(1))
        if read > 10_000:
            found.append(f"{scan.group(1)} ({read} rows)")
    return found


# The column lists of a SELECT, left out of what is printed: they are every column.
_COLUMNS = re.compile(r"(?:[\w.]+(?: AS \w+)?, ){4,}(?![\w.]+\()[\w.]+(?: AS \w+)?")


def _abridged(statement: str) -> str:
    return _COLUMNS.sub("<columns>", " ".join(statement.split()))


async def _schema_exists(engine: Any, schema: str) -> bool:
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"), {"s": schema}
        )
        return found.first() is not None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1000,1000000", help="sizes, comma-separated")
    parser.add_argument("--requests", type=int, default=500, help="timed, per scenario and size")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved blocks per scenario")
    parser.add_argument("--keep", action="store_true", help="keep the schemas at the end")
    parser.add_argument("--no-explain", dest="explain", action="store_false")
    options = parser.parse_args()
    sizes = sorted({int(size) for size in options.clients.split(",")})
    admin_engine = create_engine(POSTGRES_URL)
    targets: list[Target] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for size in sizes:
                schema = f"{SCHEMA_PREFIX}{size}"
                if await _schema_exists(admin_engine, schema):
                    print(f"# reusing schema {schema}", flush=True)
                else:
                    async with admin_engine.begin() as conn:
                        await conn.execute(text(f"CREATE SCHEMA {schema}"))
                targets.append(
                    Target(size, schema, _settings(schema, Path(tmp) / schema), Fixture())
                )
                began = time.perf_counter()
                await asyncio.to_thread(upgrade, POSTGRES_URL, schema)
                print(f"# {schema}: migrated in {time.perf_counter() - began:.1f} s", flush=True)
                target = targets[-1]
                target.fixture = await prepare(target.settings)
                have = await _client_count(target.settings)
                if have > size:
                    print(f"# {schema} holds {have} clients, {have - size} over", flush=True)
                print(f"# {schema}: {have} clients, growing to {size}", flush=True)
                target.seeded = await grow(target.settings, size)
            async with AsyncExitStack() as stack:
                for target in targets:
                    await open_target(target, stack)
                # What seeding left for the collector is gone, and the long-lived objects
                # are out of its way: each request's pauses are its own.
                gc.collect()
                gc.freeze()
                per_block = max(1, options.requests // options.rounds)
                print(
                    f"\n# {per_block * options.rounds} timed requests per scenario and size, "
                    f"in {options.rounds} interleaved rounds",
                    flush=True,
                )
                for scenario in SCENARIOS:
                    for target in targets:
                        await fresh_admin_token(target)  # tokens live minutes: one each
                        client = target.http if scenario.signed_in else target.anonymous
                        for n in range(WARM_UP):
                            await scenario.send(target, client, n)
                    for round_ in range(options.rounds):
                        for target in targets:
                            await run_block(target, scenario, round_ * per_block, per_block)
                for target in targets:
                    print(f"\n# {target.size} clients (bulk import {target.seeded:.0f} s)")
                    for label, times in target.times.items():
                        print(
                            f"{target.size:>8} | {label:34} | p50 {_percentile(times, 0.5):6.1f}"
                            f" ms | p99 {_percentile(times, 0.99):6.1f} ms"
                        )
                if len(targets) > 1:
                    small, large = targets[0], targets[-1]
                    print(f"\n# p99 at {large.size} / p99 at {small.size} (goal: at most 1.2)")
                    for label, times in small.times.items():
                        before = _percentile(times, 0.99)
                        after = _percentile(large.times[label], 0.99)
                        verdict = "ok" if after / before <= 1.2 else "MISSED"
                        print(
                            f"{label:34} | {before:6.1f} -> {after:6.1f} ms | "
                            f"x{after / before:.2f} {verdict}"
                        )
                if options.explain:
                    await explain(targets[-1])
    finally:
        for target in targets:
            if options.keep:
                print(f"# kept schema {target.schema}: the next run reuses it")
            else:
                async with admin_engine.begin() as conn:
                    await conn.execute(text(f"DROP SCHEMA IF EXISTS {target.schema} CASCADE"))
        await admin_engine.dispose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
