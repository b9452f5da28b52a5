# Shared settings for the ci/ scripts. Sourced, never run.
set -euo pipefail
CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../versions.env
. "$CI_DIR/versions.env"
STACK_CACHE=${SHIPYARD_STACK_CACHE:-/var/cache/shipyard-stack}
STACK_RUN=${SHIPYARD_STACK_RUN:-/run/shipyard-stack}
BIN=$STACK_CACHE/bin
LOGS=$STACK_CACHE/logs
export GOMODCACHE=$STACK_CACHE/go/mod GOCACHE=$STACK_CACHE/go/build GOFLAGS=-mod=mod
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} CGO_ENABLED=0
mkdir -p "$BIN" "$LOGS" "$STACK_RUN"

log() { printf '[stack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# stamp NAME VALUE: true when the component NAME was already built for VALUE.
stamp_ok() { [ -f "$STACK_CACHE/stamps/$1" ] && [ "$(cat "$STACK_CACHE/stamps/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STACK_CACHE/stamps"; printf '%s' "$2" > "$STACK_CACHE/stamps/$1"; }

# timed NAME CMD...: run a build step, recording its wall time for the closing report.
timed() {
  local name=$1; shift
  local t0; t0=$(date +%s)
  "$@"
  echo "$name $(( $(date +%s) - t0 ))" >> "$LOGS/timings.txt"
}
