"""The cost of one jti replay check (auth/replay.py): Redis against the database.

    .venv/bin/python bench/replay_check.py [--iterations 5000] [--runs 3]
        [--redis-url redis://127.0.0.1:6379/8]
        [--postgres-url postgresql+asyncpg://root@127.0.0.1:5432/test]

Calls the stores themselves, as the token endpoint does, many times in a row on one
connection, and prints the microseconds per check of each run and their median and range:
- "new": a jti not seen before (every honest request), recorded;
- "replay": the same jti again (refused).
The database store is measured twice: "+commit", each check on a session of its own and
committed, as a token request that writes nothing else pays for it (the commit, a disk
flush, is most of the cost); and "in-tx", the checks on one open transaction, the extra
cost where the request commits anyway. Redis needs no commit. SQLite is a scratch file,
migrated; PostgreSQL a scratch schema, dropped at the end. A store whose server is not
reachable is left out with a note.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from appward.auth.credentials import JtiStore
from appward.auth.replay import DatabaseJtiStore, RedisJtiStore
from appward.clock import SystemClock
from appward.db import create_engine, create_sessionmaker
from appward.migrations import upgrade

CLOCK = SystemClock()
Check = Callable[[str], Awaitable[bool]]


def database_check(
    store: JtiStore, sessions: async_sessionmaker[AsyncSession], client: str
) -> Check:
    async def check(jti: str) -> bool:
        async with sessions() as session:
            fresh = await store.use_once(session, client, jti, CLOCK.now() + timedelta(minutes=5))
            await session.commit()
            return fresh

    return check


def in_transaction_check(store: JtiStore, session: AsyncSession, client: str) -> Check:
    async def check(jti: str) -> bool:
        return await store.use_once(session, client, jti, CLOCK.now() + timedelta(minutes=5))

    return check


def redis_check(store: JtiStore, session: AsyncSession, client: str) -> Check:
    async def check(jti: str) -> bool:
        return await store.use_once(session, client, jti, CLOCK.now() + timedelta(minutes=5))

    return check


async def measure(check: Check, iterations: int) -> tuple[float, float]:
    """Returns the microseconds per check of new jtis, then of replayed ones."""
    jtis = [uuid.uuid4().hex for _ in range(iterations)]
    for jti in jtis[:50]:  # warm-up: connections, statement caches
        await check("warm-" + jti)
    start = time.perf_counter()
    for jti in jtis:
        if not await check(jti):
            raise SystemExit("a new jti was refused: the store is not working")
    new = (time.perf_counter() - start) / iterations * 1e6
    replays = jtis[: max(iterations // 5, 1)]
    start = time.perf_counter()
    for jti in replays:
        if await check(jti):
            raise SystemExit("a replayed jti was accepted: the store is not working")
    replay = (time.perf_counter() - start) / len(replays) * 1e6
    return new, replay


def report(name: str, results: list[tuple[float, float]]) -> None:
    for label, values in (("new", [r[0] for r in results]), ("replay", [r[1] for r in results])):
        runs = " ".join(f"{v:.0f}" for v in values)
        print(
            f"{name:<17} {label:<7} {statistics.median(values):8.0f} "
            f"{f'{min(values):.0f}-{max(values):.0f}':>13}   runs: {runs}",
            flush=True,
        )


async def bench_database(name: str, url: str, schema: str | None, opts: argparse.Namespace) -> None:
    engine = create_engine(url, schema=schema)
    sessions = create_sessionmaker(engine)
    store = DatabaseJtiStore(CLOCK)
    try:
        results = []
        for run in range(opts.runs):
            check = database_check(store, sessions, f"bench-replay-{run}-{secrets.token_hex(4)}")
            results.append(await measure(check, opts.iterations))
        report(f"{name}+commit", results)
        results = []
        for run in range(opts.runs):
            async with sessions() as session:
                client = f"bench-replay-tx-{run}-{secrets.token_hex(4)}"
                check = in_transaction_check(store, session, client)
                results.append(await measure(check, opts.iterations))
                await session.rollback()
        report(f"{name} in-tx", results)
    finally:
        await engine.dispose()


async def bench_redis(url: str, sqlite_url: str, opts: argparse.Namespace) -> None:
    redis = aioredis.from_url(url)
    try:
        await redis.ping()
    except (OSError, aioredis.RedisError) as exc:
        print(f"redis             (left out: {url} does not answer: {type(exc).__name__})")
        await redis.aclose()
        return
    engine = create_engine(sqlite_url)
    sessions = create_sessionmaker(engine)
    store = RedisJtiStore(redis, DatabaseJtiStore(CLOCK))
    try:
        async with sessions() as session:  # unused unless Redis fails: then it would be
            results = []
            for run in range(opts.runs):
                client = f"bench-replay-{run}-{secrets.token_hex(4)}"
                results.append(await measure(redis_check(store, session, client), opts.iterations))
        report("redis", results)
        # The keys would expire by themselves in five minutes; this db may be shared.
        async for key in redis.scan_iter(match="appward:jti:bench-replay-*"):
            await redis.delete(key)
    finally:
        await redis.aclose()
        await engine.dispose()


async def postgres_schema(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def main(opts: argparse.Namespace) -> None:
    print(f"# one replay check, microseconds; {opts.iterations} iterations x {opts.runs} runs")
    print(f"{'store':<17} {'check':<7} {'median':>8} {'range':>13}")
    with tempfile.TemporaryDirectory(prefix="appward-bench-replay-") as work:
        sqlite_url = f"sqlite+aiosqlite:///{Path(work) / 'replay.db'}"
        await asyncio.to_thread(upgrade, sqlite_url)
        await bench_redis(opts.redis_url, sqlite_url, opts)
        await bench_database("sqlite", sqlite_url, None, opts)
    schema = f"appward_bench_replay_{os.getpid()}"
    try:
        await postgres_schema(opts.postgres_url, f"CREATE SCHEMA {schema}")
    except (OSError, Exception) as exc:  # noqa: BLE001 - any failure to connect: leave it out
        print(f"postgresql        (left out: {type(exc).__name__})")
        return
    try:
        await asyncio.to_thread(upgrade, opts.postgres_url, schema)
        await bench_database("postgresql", opts.postgres_url, schema, opts)
    finally:
        await postgres_schema(opts.postgres_url, f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "APPWARD_TEST_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test"
        ),
    )
    asyncio.run(main(parser.parse_args()))
