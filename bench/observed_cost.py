"""The CPU a token request costs in-process with and without the request log and metrics:
bench/observed_cost.py [ROUNDS]; OBS='dict(metrics_enabled=True)' picks the observed
configuration (default: request log as JSON and metrics). CPU time (process_time), not
wall time: on a loaded machine it moves far less than req/s (docs/performance.md).
Run from the repository root with PYTHONPATH=src:. (it uses tests/factories.py)."""

import os
import asyncio
import base64
import tempfile
import time
import sys
import statistics
from appward.migrations import upgrade
from appward.config import Settings
from appward.web.app import create_app
from appward.logs import configure_logging
from appward.services import unit_of_work
from tests.factories import SETUP_ACTOR

d = tempfile.mkdtemp()
url = f"sqlite+aiosqlite:///{d}/a.db"
upgrade(url)
LOG = open(f"{d}/log", "w")


async def make(**kw):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    st = Settings(
        database_url=url,
        data_dir=d,
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
        argon2_parallelism=1,
        metrics_port=port,
        **kw,
    )
    return create_app(st)


async def run(app, cid, sec, n):
    auth = b"Basic " + base64.b64encode(f"{cid}:{sec}".encode())
    body = b"grant_type=client_credentials"
    scope0 = {
        "type": "http",
        "method": "POST",
        "path": "/oauth2/token",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"authorization", auth),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
    }

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    out = []

    async def send(m):
        if m["type"] == "http.response.start":
            out.append(m["status"])

    t0 = time.process_time()
    for _ in range(n):
        await app(dict(scope0), receive, send)
    dt = time.process_time() - t0
    assert set(out) == {200}, set(out)
    return dt / n * 1e6


async def main():
    plain = await make()

    observed = await make(
        **eval(
            os.environ.get("OBS", 'dict(metrics_enabled=True, request_log=True, log_format="json")')
        )
    )
    async with plain.router.lifespan_context(plain), observed.router.lifespan_context(observed):
        async with unit_of_work(plain.state.appward, SETUP_ACTOR) as services:
            ch = await services.clients.create(
                {"client_name": "b", "grant_types": ["client_credentials"]}
            )
        cid, sec = ch.client.client_id, ch.secret.plaintext
        configure_logging("json", os.environ.get("LVL", "INFO"), LOG, replace=True)
        res = {"plain": [], "observed": []}
        for app, name in ((plain, "plain"), (observed, "observed")):
            await run(app, cid, sec, 200)
        for r in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
            for app, name in ((plain, "plain"), (observed, "observed")):
                res[name].append(await run(app, cid, sec, 1000))
        for k, v in res.items():
            print(k, "median %.1f us" % statistics.median(v), ["%.0f" % x for x in v])


asyncio.run(main())
