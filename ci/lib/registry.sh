# Local OCI registries (Debian's docker-registry, distribution 2.8) on loopback, deletes enabled.
#   A: 127.0.0.1:$REGISTRY_A_PORT, anonymous        (stands in for GHCR)
#   B: 127.0.0.1:$REGISTRY_B_PORT, htpasswd auth    (stands in for a registry that needs credentials)
#   mirror: 127.0.0.1:$REGISTRY_MIRROR_PORT, anonymous, persistent: the stack's own images (tool,
#      base, Go toolchain and Python images, the offline Trivy DB), as an air-gapped user's
#      mirror would hold them. A and B start empty; the mirror keeps its content in the cache.
#   C: 127.0.0.1:$REGISTRY_C_PORT, anonymous, distribution v3 (deletes a tag alone: the tests of
#      a failed release's undo, which removes the tags it created)
#   T: 127.0.0.1:$REGISTRY_T_PORT, token auth as GHCR and Docker Hub have it: distribution v3 with
#      `auth: token` (on $REGISTRY_T_BACKEND_PORT) behind ci/registries/front.py, its token server
#      (users pusher: push+pull+delete acme/*, reader: pull only; anonymous: nothing; tokens live
#      $SHIPYARD_REGISTRY_T_TOKEN_TTL s, default 15: shorter than any full release; every token issued is logged to tokens.log)
#   Z: 127.0.0.1:$REGISTRY_Z_PORT, anonymous, the OCI 1.1 referrers API: front.py --referrers in
#      front of registry A (test infrastructure: no registry built here has the API)
# Both fronts log every request (requests.log: method, path, status, bytes sent): tests count
# blob upload bytes there.
# shellcheck disable=SC2034  # the ports and user are read by ci/stack, which sources this file
REGISTRY_A_PORT=${SHIPYARD_REGISTRY_A_PORT:-5000}
REGISTRY_B_PORT=${SHIPYARD_REGISTRY_B_PORT:-5001}
REGISTRY_MIRROR_PORT=${SHIPYARD_REGISTRY_MIRROR_PORT:-5002}
REGISTRY_C_PORT=${SHIPYARD_REGISTRY_C_PORT:-5003}
REGISTRY_T_PORT=${SHIPYARD_REGISTRY_T_PORT:-5010}
REGISTRY_T_BACKEND_PORT=${SHIPYARD_REGISTRY_T_BACKEND_PORT:-5011}
REGISTRY_Z_PORT=${SHIPYARD_REGISTRY_Z_PORT:-5012}
REGISTRY_T_TOKEN_TTL=${SHIPYARD_REGISTRY_T_TOKEN_TTL:-15}
REGISTRY_T_SERVICE=shipyard-registry-t
REGISTRY_T_ISSUER=shipyard-token-server
REGISTRY_B_USER=shipyard
FRONT_PYTHON=/usr/bin/python3   # Debian's, with python3-jwt and python3-cryptography (SIGSTORE_PACKAGES)

registry_dir() { echo "$STACK_RUN/registry-$1"; }

start_registry() {  # NAME PORT AUTH(yes|no|token) [DATA_DIR] [BINARY]
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
  elif [ "$auth" = token ]; then
    auth_block="auth:
  token:
    realm: http://127.0.0.1:$REGISTRY_T_PORT/token
    service: $REGISTRY_T_SERVICE
    issuer: $REGISTRY_T_ISSUER
    rootcertbundle: $dir/token-cert.pem"
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

# front_running NAME: the front of registry NAME (t, z) runs.
front_running() {
  local pidfile; pidfile="$(registry_dir "$1")/front.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# start_front NAME PORT UPSTREAM_PORT [front.py options]: ci/registries/front.py, logging to front.log.
start_front() {
  local name=$1 port=$2 upstream=$3 dir; shift 3; dir=$(registry_dir "$name")
  if front_running "$name"; then return 0; fi
  rm -f "$dir/requests.log" "$dir/front.log"
  "$FRONT_PYTHON" "$CI_DIR/registries/front.py" "$port" "$upstream" "$dir/requests.log" "$@" >> "$dir/front.log" 2>&1 &
  echo $! > "$dir/front.pid"
  for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && { log "registry $name front up on 127.0.0.1:$port"; return 0; }
    sleep 0.2
  done
  die "the front of registry $name did not start; see $dir/front.log"
}

stop_front() {
  local dir; dir=$(registry_dir "$1")
  if front_running "$1"; then kill "$(cat "$dir/front.pid")"; log "registry $1 front stopped"; fi
  rm -f "$dir/front.pid"
}

# Registry T: the token server's key, certificate and users (fresh at each start, like its
# data), distribution v3 trusting the certificate, and the front serving /token.
start_registry_t() {
  local dir; dir=$(registry_dir t)
  if registry_running t && front_running t; then return 0; fi
  stop_front t; stop_registry t
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/token-key.pem" -out "$dir/token-cert.pem" -days 365 \
    -subj "/CN=$REGISTRY_T_ISSUER" 2>/dev/null
  local user
  for user in pusher reader; do
    [ -s "$dir/$user-password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/$user-password"
  done
  jq -n --rawfile p "$dir/pusher-password" --rawfile r "$dir/reader-password" \
    '{pusher: {password: ($p | rtrimstr("\n")), push: ["acme/*"], pull: ["acme/*"], delete: ["acme/*"]},
      reader: {password: ($r | rtrimstr("\n")), push: [], pull: ["acme/*"]}}' > "$dir/users.json"
  rm -f "$dir/tokens.log"
  start_registry t "$REGISTRY_T_BACKEND_PORT" token "" "$BIN/registry-v3"
  start_front t "$REGISTRY_T_PORT" "$REGISTRY_T_BACKEND_PORT" --token "$dir/users.json" "$dir/token-key.pem" "$dir/token-cert.pem" \
    "$REGISTRY_T_SERVICE" "$REGISTRY_T_ISSUER" "$REGISTRY_T_TOKEN_TTL" "$dir/tokens.log"
}

# Registry Z: the referrers front over registry A (its records kept while A keeps its data).
start_registry_z() {
  local dir; dir=$(registry_dir z)
  registry_running a || die "registry Z fronts registry A, which is not running: run ci/stack up"
  mkdir -p "$dir"
  if front_running z; then return 0; fi
  # The records describe A's content: a restarted A starts empty, so they go with it.
  local a_pid; a_pid=$(cat "$(registry_dir a)/pid")
  [ "$(cat "$dir/upstream-pid" 2>/dev/null || true)" = "$a_pid" ] || { rm -f "$dir/referrers.json"; echo "$a_pid" > "$dir/upstream-pid"; }
  start_front z "$REGISTRY_Z_PORT" "$REGISTRY_A_PORT" --referrers "$dir/referrers.json"
}
