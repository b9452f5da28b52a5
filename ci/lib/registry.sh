# Local OCI registries (Debian's docker-registry, distribution 2.8) on loopback, deletes enabled.
#   A: 127.0.0.1:$REGISTRY_A_PORT, anonymous        (stands in for GHCR)
#   B: 127.0.0.1:$REGISTRY_B_PORT, htpasswd auth    (stands in for a registry that needs credentials)
#   mirror: 127.0.0.1:$REGISTRY_MIRROR_PORT, anonymous, persistent: the stack's own images (tool,
#      base, Go toolchain and Python images, the offline Trivy DB), as an air-gapped user's
#      mirror would hold them. A and B start empty; the mirror keeps its content in the cache.
#   C: 127.0.0.1:$REGISTRY_C_PORT, anonymous, distribution v3 (deletes a tag alone: the tests of
#      a failed release's undo, which removes the tags it created)
# shellcheck disable=SC2034  # the ports and user are read by ci/stack, which sources this file
REGISTRY_A_PORT=${SHIPYARD_REGISTRY_A_PORT:-5000}
REGISTRY_B_PORT=${SHIPYARD_REGISTRY_B_PORT:-5001}
REGISTRY_MIRROR_PORT=${SHIPYARD_REGISTRY_MIRROR_PORT:-5002}
REGISTRY_C_PORT=${SHIPYARD_REGISTRY_C_PORT:-5003}
REGISTRY_B_USER=shipyard

registry_dir() { echo "$STACK_RUN/registry-$1"; }

start_registry() {  # NAME PORT AUTH(yes|no) [DATA_DIR] [BINARY]
  local name=$1 port=$2 auth=$3 dir; dir=$(registry_dir "$name")
  local binary=${5:-docker-registry}
  local data=${4:-$dir/data}
  if registry_running "$name"; then return 0; fi
  # A test registry is a fixture: each start begins empty, with a fresh log, so repeated
  # runs do not accumulate data (a running registry is left alone: `up` stays idempotent).
  # A registry given its own DATA_DIR (the mirror) keeps its content.
  rm -f "$dir/registry.log"
  [ -n "${4:-}" ] || rm -rf "$data"
  mkdir -p "$dir" "$data"
  local auth_block=""
  if [ "$auth" = yes ]; then
    [ -s "$dir/password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/password"
    htpasswd -Bbn "$REGISTRY_B_USER" "$(cat "$dir/password")" > "$dir/htpasswd"
    auth_block="auth:
  htpasswd:
    realm: shipyard-test
    path: $dir/htpasswd"
  fi
  cat > "$dir/config.yml" <<YML
version: 0.1
log:
  level: info
  formatter: json
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$auth_block
YML
  "$binary" serve "$dir/config.yml" >> "$dir/registry.log" 2>&1 &
  echo $! > "$dir/pid"
  for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && { log "registry $name up on 127.0.0.1:$port"; return 0; }
    sleep 0.2
  done
  die "registry $name did not start; see $dir/registry.log"
}

registry_running() {
  local pidfile; pidfile="$(registry_dir "$1")/pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

stop_registry() {
  local dir; dir=$(registry_dir "$1")
  if registry_running "$1"; then kill "$(cat "$dir/pid")"; log "registry $1 stopped"; fi
  rm -f "$dir/pid"
}
