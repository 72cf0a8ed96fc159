#!/usr/bin/env bash
# Token endpoint benchmark: Appward next to node-oidc-provider, same load, same run.
#   bench/run.sh [--workers N] [--conc 16] [--dur 20] [--rounds 1]
# Starts Appward on a scratch SQLite database with N workers and compares it with the
# peer at N processes (../shared/bench/compare.sh). Prints the harness's rows and ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=1 CONC=16 DUR=20 ROUNDS=1 PORT="${BENCH_PORT:-38111}"
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS="$2"; shift 2 ;;
    --conc) CONC="$2"; shift 2 ;;
    --dur) DUR="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
HARNESS="${APPWARD_BENCH_HARNESS:-../shared/bench/compare.sh}"
WORK="$(mktemp -d)"
export APPWARD_DATA_DIR="$WORK" APPWARD_DATABASE_URL="sqlite+aiosqlite:///$WORK/bench.db"
APPWARD=.venv/bin/appward
SERVER_PID=""
cleanup() {
  local status=$?
  # The killed server's 143 from wait must neither end the trap early (set -e) nor
  # become the script's status.
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT INT TERM

$APPWARD db upgrade >/dev/null
$APPWARD scopes create api:read "Read the API" >/dev/null
CREDS=$($APPWARD clients create bench --grant-type client_credentials --scope api:read --json)
CID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$CREDS")
CSECRET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$CREDS")

# The default configuration (no request log, no metrics) unless APPWARD_* says otherwise:
# APPWARD_REQUEST_LOG=true APPWARD_LOG_FORMAT=json APPWARD_METRICS_ENABLED=true measures
# the observed one (docs/performance.md).
$APPWARD serve --port "$PORT" --workers "$WORKERS" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do  # up to 2 minutes on a loaded machine
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/oauth2/jwks" && break
  sleep 0.2
done
echo "# appward: workers=$WORKERS, request log ${APPWARD_REQUEST_LOG:-false} (${APPWARD_LOG_FORMAT:-text}), metrics ${APPWARD_METRICS_ENABLED:-false}, SQLite, argon2id $(.venv/bin/python -c 'from appward.config import Settings; a=Settings().argon2; print(f"t={a.time_cost} m={a.memory_cost_kib}KiB p={a.parallelism}")')"
# The harness exits 143 after a complete run (its own cleanup trips over the same wait),
# so a run counts as done by its ratio line, not by the harness's exit status.
"$HARNESS" --url "http://127.0.0.1:$PORT/oauth2/token" --client-id "$CID" \
  --client-secret "$CSECRET" --scope api:read --procs "$WORKERS" --conc "$CONC" --dur "$DUR" --rounds "$ROUNDS" \
  | tee "$WORK/compare.out" || true
echo "# server log: $(wc -l < "$WORK/server.log") lines"
grep -q '^ratio target/peer' "$WORK/compare.out"
