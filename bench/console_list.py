"""The console's clients list with 10,000 clients: page time and SQL statements per page.

    .venv/bin/python bench/console_list.py [--db sqlite|postgresql|both] [--clients 10000]
                                           [--requests 200]

For each database: a scratch database (a temporary SQLite file; a throwaway schema on
PostgreSQL at $APPWARD_BENCH_POSTGRES_URL, by default
postgresql+asyncpg://root@127.0.0.1:5432/test, dropped at the end) is migrated and seeded
with --clients clients in bulk (names, sources, statuses, grant types, owners and scopes
varied; then ANALYZE, as autovacuum would have run), an admin signs in, and the list page
is fetched over HTTP (in-process ASGI with httpx, the app as ``appward serve`` builds it)
for each scenario below: warm-up requests, then --requests timed ones, one at a time.
Printed per scenario: the median and p99 page time, the rows on the page, and the SQL
statements the request ran (counted with SQLAlchemy's before_cursor_execute on the app's
engine): in total (the session lookup included) and those that read the clients table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import event, insert, text

import appward.models  # noqa: F401 (every table on Base.metadata)
from appward.audit import Actor
from appward.clients.models import Client, ClientScope
from appward.clients.scopes import Scope
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
SCOPES = ("api:read", "api:write", "reports:read")
OWNERS = tuple(f"team-{n}" for n in range(20))
# (label, query string): the list as an admin uses it. The cursor scenario's query is
# completed with the cursor of the page before it.
SCENARIOS = (
    ("first page, no filter", "/console/clients"),
    (
        "filter + sort, page 3",
        "/console/clients?status=active&grant_type=client_credentials&sort=name",
    ),
    ("search by name", "/console/clients?q=widget%2042"),
    ("owner + source filter", "/console/clients?owner=team-7&source=portal&sort=-created"),
)
WARM_UP = 20


def _row(n: int, now: datetime) -> dict[str, Any]:
    """The n-th seeded client: a spread of the values the filters look at."""
    code_flow = n % 3 != 0
    created = now - timedelta(minutes=10_000 - n)
    return {
        "client_id": f"bench{n:06d}{secrets.token_hex(6)}",
        "client_name": f"{('Weather', 'Billing', 'Reports', 'Chat')[n % 4]} widget {n}",
        "client_name_localized": None,
        "contacts": [],
        "redirect_uris": [f"https://app{n}.example/cb"] if code_flow else [],
        "application_type": "web",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"]
        if code_flow
        else ["client_credentials"],
        "response_types": ["code"] if code_flow else [],
        "access_token_ttl": 600,
        "refresh_token_ttl": 86400,
        "refresh_token_absolute_ttl": 2592000,
        "issue_refresh_tokens": code_flow,
        "rotate_refresh_tokens": True,
        "require_pkce": True,
        "skip_consent": False,
        "registration_source": ("admin", "portal", "dcr")[n % 3 if n % 7 else 1],
        "owner": OWNERS[n % len(OWNERS)],
        "status": "disabled" if n % 10 == 0 else "active",
        "approval": "approved",
        "verified": False,
        "created_at": created,
        "updated_at": created,
        "revision": 1,
    }


async def seed(settings: Settings, count: int) -> None:
    """Inserts ``count`` clients (two scopes each) and an admin account."""
    now = datetime.now(UTC)
    async with (
        standalone_resources(settings) as resources,
        unit_of_work(resources, Actor("bench:setup")) as services,
    ):
        session = services.session
        for name in SCOPES:
            session.add(Scope(name=name, description=name, created_at=now, updated_at=now))
        await session.flush()
        for start in range(0, count, 1000):
            rows = [_row(n, now) for n in range(start, min(start + 1000, count))]
            pks = (await session.scalars(insert(Client).returning(Client.pk), rows)).all()
            links = [
                {"client_pk": pk, "scope_name": scope}
                for i, pk in enumerate(pks)
                for scope in (SCOPES[i % 3], SCOPES[(i + 1) % 3])
            ]
            await session.execute(insert(ClientScope), links)
        await services.users.create("bench-admin", PASSWORD, role=Role.ADMIN)
    # The planner's statistics, as autovacuum (PostgreSQL) would have them for a table this
    # size: without them PostgreSQL guesses two rows and sorts the whole table per page.
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


@asynccontextmanager
async def scratch_database(kind: str, work: Path) -> AsyncIterator[tuple[str, str | None]]:
    """Yields (database URL, schema) of a migrated, empty database, gone afterwards."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url, None
        return
    schema = f"bench_console_{secrets.token_hex(4)}"
    engine = create_engine(POSTGRES_URL)
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        await asyncio.to_thread(upgrade, POSTGRES_URL, schema)
        yield POSTGRES_URL, schema
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await engine.dispose()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _span(counts: set[int]) -> str:
    """One count, or the range the requests' counts took (a session's last-seen time is
    written once a minute at most: that request runs one statement more)."""
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}-{high}"


async def _page(http: httpx.AsyncClient, url: str) -> httpx.Response:
    response = await http.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")
    return response


def _next_url(html: str) -> str:
    marker = 'id="next-page"'
    head = html.split(marker)[0]
    return head[head.rindex('href="') + 6 : head.rindex('"')].replace("&amp;", "&")


async def measure(kind: str, clients: int, requests: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        async with scratch_database(kind, work) as (url, schema):
            settings = Settings(
                database_url=url,
                database_schema=schema,
                data_dir=work / "var",
                key_encryption_key=Fernet.generate_key().decode(),
                argon2_time_cost=1,
                argon2_memory_cost_kib=64,
                argon2_parallelism=1,
            )
            started = time.perf_counter()
            await seed(settings, clients)
            seeded = time.perf_counter() - started
            app = create_app(settings)
            lines = [
                f"# {kind}: {clients} clients seeded in {seeded:.1f} s, {requests} requests each"
            ]
            async with app.router.lifespan_context(app):
                engine = app.state.appward.engine.sync_engine
                statements: list[str] = []

                def count(*args: Any) -> None:
                    statements.append(args[2])

                event.listen(engine, "before_cursor_execute", count)
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                    login = await http.get("/login")
                    csrf = login.text.split('name="csrf" value="')[1].split('"')[0]
                    signed_in = await http.post(
                        "/login",
                        data={"csrf": csrf, "username": "bench-admin", "password": PASSWORD},
                    )
                    assert signed_in.status_code == 303, signed_in.text
                    for label, url_ in SCENARIOS:
                        target = url_
                        if "page 3" in label:
                            for _ in range(2):
                                target = _next_url((await _page(http, target)).text)
                        for _ in range(WARM_UP):
                            await _page(http, target)
                        times = []
                        per_page: set[int] = set()
                        on_clients: set[int] = set()
                        for _ in range(requests):
                            statements.clear()
                            begun = time.perf_counter()
                            response = await _page(http, target)
                            times.append((time.perf_counter() - begun) * 1000)
                            per_page.add(len(statements))
                            on_clients.add(sum("FROM clients" in s for s in statements))
                        rows = response.text.count('<tr class="client-row"')
                        lines.append(
                            f"{kind:10} | {label:24} | rows {rows:3} | median "
                            f"{statistics.median(times):6.1f} ms | p99 "
                            f"{_percentile(times, 0.99):6.1f} ms | SQL statements "
                            f"{_span(per_page)} ({_span(on_clients)} on clients)"
                        )
                event.remove(engine, "before_cursor_execute", count)
            return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    options = parser.parse_args()
    kinds = ("sqlite", "postgresql") if options.db == "both" else (options.db,)
    for kind in kinds:
        for line in await measure(kind, options.clients, options.requests):
            print(line, flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
