#!/usr/bin/env bash
# Token endpoint of two revisions of Appward, each against the peer, alternating in one run:
#   bench/revisions.sh BASE_REV [--rounds 3] [--workers 1] [--dur 20]
# Checks BASE_REV out into a scratch worktree with its own .venv, then runs bench/run.sh
# (Appward vs node-oidc-provider, same load) for the base and for this checkout in turn,
# BASE_REV first, --rounds times. Each run's ratio is against the peer measured in that
# same run, so machine drift hits both sides alike; compare the two ranges of ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bench/revisions.sh BASE_REV [--rounds N] [--workers N] [--dur S]" >&2; exit 2; }
BASE="$1"; shift
ROUNDS=3 ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --workers|--dur|--conc) ARGS+=("$1" "$2"); shift 2 ;;
    *) echo "bench/revisions.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
HEAD_DIR="$PWD"
BASE_DIR="$(mktemp -d)/base"
cleanup() { git -C "$HEAD_DIR" worktree remove --force "$BASE_DIR" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
git worktree add -q --detach "$BASE_DIR" "$BASE"
# bench/run.sh of this checkout drives both, so the load and the steps are the same.
cp bench/run.sh "$BASE_DIR/bench/run.sh"
(cd "$BASE_DIR" && make -s install >/dev/null)
make -s install >/dev/null
ratio() { grep -o 'ratio target/peer: [0-9.]*' | awk '{print $3}'; }
BASE_RATIOS=() HEAD_RATIOS=()
for round in $(seq 1 "$ROUNDS"); do
  for side in base head; do
    dir="$BASE_DIR"; [ "$side" = head ] && dir="$HEAD_DIR"
    out="$(cd "$dir" && APPWARD_BENCH_HARNESS="$HEAD_DIR/../shared/bench/compare.sh" bench/run.sh "${ARGS[@]}")"
    echo "## round $round, $side ($(git -C "$dir" rev-parse --short HEAD))"
    echo "$out"
    r="$(ratio <<<"$out")"
    if [ "$side" = base ]; then BASE_RATIOS+=("$r"); else HEAD_RATIOS+=("$r"); fi
  done
done
echo "base $BASE ratios vs peer: ${BASE_RATIOS[*]}"
echo "head $(git rev-parse --short HEAD) ratios vs peer: ${HEAD_RATIOS[*]}"
