"""Zero-downtime secret rotation under load, two instances, a longer run than the test's.

    PYTHONPATH=src:. .venv/bin/python bench/rotation_under_load.py \
        [--database-url postgresql+asyncpg://root@127.0.0.1:5432/test] \
        [--redis-url redis://127.0.0.1:6379/9] [--threads 8] [--phase 10]

Starts two `appward serve` processes (two workers each, data dirs of their own, so only
PostgreSQL and Redis join them, as two hosts), on a schema of their own that is dropped at
the end; registers one client_secret_basic client; then drives client_credentials load
round robin over both (tests/rotation_load.py): --phase seconds with the old secret, a
new secret added through the first instance, --phase seconds half on each, --phase
seconds all on the new one, the old one revoked through the first instance while the
load goes on. Prints the answers by phase, secret, instance and status, the rate, and
how long after the revocation each instance refused the old secret (six refusals in a
row). Exits 1 if any request made with a then-valid secret failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
from bench.replay_check import postgres_schema
from cryptography.fernet import Fernet
from tests.e2e.conftest import serving
from tests.e2e.test_assertion_replay import admin_token
from tests.factories import SERVICE
from tests.rotation_load import Rotation

from appward.config import Settings
from appward.migrations import upgrade


@contextlib.contextmanager
def scratch_schema(database_url: str) -> Iterator[str]:
    schema = f"appward_bench_{secrets.token_hex(4)}"
    asyncio.run(postgres_schema(database_url, f"CREATE SCHEMA {schema}"))
    try:
        upgrade(database_url, schema)
        yield schema
    finally:
        asyncio.run(postgres_schema(database_url, f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgresql+asyncpg://root@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--phase", type=float, default=10.0, help="seconds per phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, scratch_schema(args.database_url) as schema:
        root = Path(scratch)
        settings = Settings(
            database_url=args.database_url,
            database_schema=schema,
            data_dir=root / "a" / "var",
            key_encryption_key=Fernet.generate_key().decode(),
        )
        shared = {"APPWARD_REDIS_URL": args.redis_url}
        (root / "a").mkdir()
        (root / "b").mkdir()
        with contextlib.ExitStack() as stack:
            base_a, admin = stack.enter_context(serving(settings, root / "a", shared))
            base_b, _ = stack.enter_context(
                serving(settings, root / "b", {**shared, "APPWARD_DATA_DIR": str(root / "b/var")})
            )
            with httpx.Client(base_url=base_a, timeout=10.0) as a:
                auth = admin_token(a, admin)
                created = a.post("/admin/v1/clients", json=SERVICE, headers=auth)
                created.raise_for_status()
            rotation = Rotation(
                instances={"a": base_a, "b": base_b},
                admin_headers=auth,
                client_id=created.json()["client_id"],
                old_secret=created.json()["client_secret"],
                threads=args.threads,
                phase_seconds=args.phase,
            )
            report = rotation.run()
    print("\n".join(report.lines()))
    for phase in ("old", "half"):
        print(f"{phase}: {report.total(phase)} requests, {report.total(phase) / args.phase:.0f}/s")
    print(f"new (and through the revocation): {report.total('new')} requests")
    print(f"total {report.total()} requests, failures {report.failures}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
