#!/usr/bin/env bash
# Denial-of-service check: good client_credentials traffic alone, then the same traffic
# while a flood of wrong secrets (each different, each worth an argon2 run) hits the same
# server. Prints both rows; the good side should keep its rate and its p99.
#   bench/flood.sh [--workers N] [--dur 15] [--flood-conc 64]
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=1 DUR=15 FLOOD_CONC=64 PORT="${BENCH_PORT:-38121}"
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS="$2"; shift 2 ;;
    --dur) DUR="$2"; shift 2 ;;
    --flood-conc) FLOOD_CONC="$2"; shift 2 ;;
    *) echo "bench/flood.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
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
CREDS=$($APPWARD clients create bench --grant-type client_credentials --json)
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])" <<<"$CREDS"; }
CID=$(field client_id); CSECRET=$(field client_secret); SID=$(field client_secret_id)
$APPWARD serve --port "$PORT" --workers "$WORKERS" --no-access-log >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/oauth2/jwks" && break; sleep 0.2; done

URL="http://127.0.0.1:$PORT/oauth2/token"
HARNESS_LUA="${APPWARD_BENCH_LUA:-../shared/bench/post_form.lua}"
export BENCH_AUTH BENCH_BODY="grant_type=client_credentials" BENCH_EXPECT=access_token
BENCH_AUTH=$(printf '%s:%s' "$CID" "$CSECRET" | base64 -w0)
export FLOOD_CLIENT_ID="$CID" FLOOD_SECRET_ID="$SID"
good() { timeout $((DUR + 30)) wrk -t1 -c16 -d"${DUR}s" --timeout 10s --latency -s "$HARNESS_LUA" "$URL" 2>&1 | grep '^RESULT'; }

timeout 30 wrk -t1 -c16 -d3s -s "$HARNESS_LUA" "$URL" >/dev/null 2>&1 || true   # warm-up
echo "# workers=$WORKERS good: 16 connections; flood: $FLOOD_CONC connections of distinct wrong secrets"
echo "alone:      $(good)"
timeout $((DUR + 40)) wrk -t1 -c"$FLOOD_CONC" -d"$((DUR + 4))s" --timeout 10s -s bench/flood.lua "$URL" >"$WORK/flood.out" 2>&1 &
FLOOD_PID=$!
sleep 2
echo "with flood: $(good)"
wait "$FLOOD_PID" || true
echo "flood:      $(grep '^FLOOD' "$WORK/flood.out")"
