# The Go module proxy refuses github.com/dagger/dagger/engine/distconsts at every
# version and commit (403), so the stack writes its own: the same exported names,
# with the values this stack runs the engine with (paths on this host; the default
# image names are never pulled here, since no container registry is reachable).
write_distconsts() {
  mkdir -p "$1"
  printf 'module github.com/dagger/dagger/engine/distconsts\n\ngo 1.22\n' > "$1/go.mod"
  cat > "$1/distconsts.go" <<'GO'
// Package distconsts: values shared by the engine build, written by Shipyard's ci/.
package distconsts

// Where the engine runs and listens.
const (
	EngineContainerName   = "dagger-engine.dev"
	DefaultEngineSockAddr = "unix:///run/dagger/engine.sock"
	EngineDefaultStateDir = "/var/lib/dagger"
)

// Binaries and directories the engine expects on its host.
const (
	RuncPath                         = "/usr/local/bin/runc"
	DaggerInitPath                   = "/usr/local/bin/dagger-init"
	EngineContainerBuiltinContentDir = "/usr/local/share/dagger/content"
	EngineCustomCACertsDir           = "/usr/local/share/ca-certificates"
)

// Environment variables naming the builtin SDK manifests.
const (
	GoSDKManifestDigestEnvName         = "DAGGER_GO_SDK_MANIFEST_DIGEST"
	PythonSDKManifestDigestEnvName     = "DAGGER_PYTHON_SDK_MANIFEST_DIGEST"
	TypescriptSDKManifestDigestEnvName = "DAGGER_TYPESCRIPT_SDK_MANIFEST_DIGEST"
)

// Default utility images (unused offline: nothing is pulled from a public registry).
const (
	AlpineVersion = "3.22.1"
	AlpineImage   = "alpine:" + AlpineVersion
	GolangImage   = "golang:1.25.3-alpine"
	BusyboxImage  = "busybox:1.37.0"
)

// OCIVersionAnnotation is the image annotation that carries a version.
const OCIVersionAnnotation = "org.opencontainers.image.version"
GO
}

# go_download MODULE@VERSION SUM: download a module (checksum database exempted for the
# Dagger modules only) and check its hash against the pinned one; print its directory.
go_download() {
  local mod=$1 want=$2 json dir sum
  json=$(GONOSUMDB=$DAGGER_GONOSUMDB GOFLAGS=-mod=mod go mod download -json "$mod") \
    || die "go mod download $mod failed: $json"
  dir=$(jq -r '.Dir // empty' <<<"$json"); sum=$(jq -r '.Sum // empty' <<<"$json")
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then die "go mod download $mod gave no directory: $json"; fi
  [ "$sum" = "$want" ] || die "$mod has hash $sum, but ci/versions.env pins $want"
  printf '%s' "$dir"
}

# dagger_source DIR: a writable copy of the github.com/dagger/dagger module at DAGGER_VERSION
# whose go.mod points the two nested-module replaces (dagger.io/dagger, engine/distconsts; not
# in the module zip) at the separately downloaded SDK module and the distconsts ci/ writes.
dagger_source() {
  local out=$1 root sdk
  root=$(go_download "github.com/dagger/dagger@$DAGGER_VERSION" "$DAGGER_MODULE_SUM")
  sdk=$(go_download "dagger.io/dagger@$DAGGER_VERSION" "$DAGGER_SDK_MODULE_SUM")
  write_distconsts "$out/distconsts"
  cp -r "$root" "$out/src" && chmod -R u+w "$out/src"
  (cd "$out/src" && go mod edit -replace "dagger.io/dagger=$sdk" \
    -replace "github.com/dagger/dagger/engine/distconsts=$out/distconsts")
}

# Build the Dagger CLI, engine, init and dnsname from the Go module at DAGGER_VERSION.
# Every step fails loudly (set -e holds inside the function; nothing runs in a subshell
# that could swallow an error) and the stamp is written only after all four binaries exist.
build_engine() {
  local key="$DAGGER_VERSION/$ENGINE_GOTOOLCHAIN" b
  if stamp_ok engine "$key" && [ -x "$BIN/dagger-engine" ]; then return 0; fi
  log "building dagger $DAGGER_VERSION (cli, engine, init, dnsname) with $ENGINE_GOTOOLCHAIN"
  local tmp; tmp=$(mktemp -d)
  dagger_source "$tmp"
  local ld="-s -w -X github.com/dagger/dagger/engine.Version=$DAGGER_VERSION -X github.com/dagger/dagger/engine.Tag=$DAGGER_VERSION"
  for b in dagger engine init dnsname; do
    local out=$BIN/dagger-$b tags=""
    [ "$b" = dagger ] && out=$BIN/dagger
    [ "$b" = dnsname ] && out=$BIN/dnsname
    [ "$b" = engine ] && tags="dfexcludepatterns,dfparents"
    (cd "$tmp/src" && GOTOOLCHAIN=$ENGINE_GOTOOLCHAIN GONOSUMDB=$DAGGER_GONOSUMDB \
      go build -trimpath -tags "$tags" -ldflags "$ld" -o "$out.tmp" "./cmd/$b") \
      || die "building cmd/$b of dagger $DAGGER_VERSION failed"
    mv "$out.tmp" "$out"
  done
  rm -rf "$tmp"
  stamp_set engine "$key"
}

# runc with seccomp (cgo, libseccomp-dev) at the version dagger's go.mod requires. Its go.mod
# replaces go-selinux with a directory the module zip lacks (a CVE-2025-52881 patch kept in-tree
# during the embargo); the fix is upstream since go-selinux v1.13.0, the version the engine
# itself requires, so the copy built here uses that instead.
build_runc() {
  if stamp_ok runc "$RUNC_VERSION" && [ -x "$BIN/runc" ]; then return 0; fi
  log "building runc $RUNC_VERSION"
  local dir tmp; dir=$(go mod download -json "github.com/opencontainers/runc@$RUNC_VERSION" | jq -r '.Dir // empty')
  [ -n "$dir" ] || die "go mod download github.com/opencontainers/runc@$RUNC_VERSION failed"
  tmp=$(mktemp -d); cp -r "$dir" "$tmp/runc"; chmod -R u+w "$tmp/runc"
  (cd "$tmp/runc" && go mod edit -dropreplace=github.com/opencontainers/selinux \
    -require="github.com/opencontainers/selinux@$RUNC_SELINUX_VERSION")
  (cd "$tmp/runc" && CGO_ENABLED=1 go build -trimpath -tags "seccomp urfave_cli_no_docs" \
    -ldflags "-X main.version=${RUNC_VERSION#v}" -o "$BIN/runc.tmp" .) > "$LOGS/runc.log" 2>&1 \
    || die "building runc failed: $(tail -5 "$LOGS/runc.log")"
  mv "$BIN/runc.tmp" "$BIN/runc"; rm -rf "$tmp"
  stamp_set runc "$RUNC_VERSION"
}

# The CNI plugins the engine's network config names (network/netinst/cni.go: bridge with
# host-local IPAM, firewall, and Dagger's own dnsname, built with the engine).
build_cni() {
  if stamp_ok cni "$CNI_PLUGINS_VERSION" && [ -x "$BIN/cni/bridge" ]; then return 0; fi
  log "building CNI plugins $CNI_PLUGINS_VERSION"
  mkdir -p "$BIN/cni"
  local p
  for p in main/bridge main/loopback meta/firewall ipam/host-local; do
    GOBIN=$BIN/cni go install "github.com/containernetworking/plugins/plugins/$p@$CNI_PLUGINS_VERSION" \
      || die "building CNI plugin $p failed"
  done
  stamp_set cni "$CNI_PLUGINS_VERSION"
}

# Put runc, dagger-init, the CNI plugins and dnsname where the engine looks for them (the
# paths distconsts names, and buildkit's default CNI directory). Copies only what differs.
install_engine() {
  install_file "$BIN/runc" /usr/local/bin/runc
  install_file "$BIN/dagger-init" /usr/local/bin/dagger-init
  local p
  for p in "$BIN"/cni/*; do install_file "$p" "/opt/cni/bin/$(basename "$p")"; done
  install_file "$BIN/dnsname" /opt/cni/bin/dnsname
}

install_file() {  # SRC DEST
  cmp -s "$1" "$2" 2>/dev/null && return 0
  install -D -m 0755 "$1" "$2.shipyard.tmp" && mv -f "$2.shipyard.tmp" "$2"
}

# --- the running engines --------------------------------------------------------------------
# An engine runs in its own mount namespace (the resolv.conf it mounts for dnsmasq stays there),
# keeps its state in the cache (warm builds across `up`s), and listens on its own socket. The
# stack runs one ("engine"); `ci/stack builder up` starts a second ("builder": a stand-in for a
# native arm64 machine or a remote engine, for `--builder PLATFORM=ADDRESS`) and `ci/stack runner
# up` a third ("runner": an ephemeral CI runner whose state tests wipe, for the build cache), each
# with its own state, socket, CNI network and address range. use_engine NAME points the functions
# below at one. Each engine also binds /run/buildkit/buildkitd.sock and /run/dagger/engine.sock:
# the extra engines get private (tmpfs) copies of those directories; clients use ENGINE_SOCK only.
use_engine() {
  case "$1" in
    engine)
      ENGINE_NAME=engine ENGINE_STATE=$STACK_CACHE/engine-state
      ENGINE_NETWORK=${SHIPYARD_ENGINE_NETWORK:-shipyard} ENGINE_CIDR=${SHIPYARD_ENGINE_CIDR:-10.88.0.0/16} ENGINE_TCP="" ;;
    builder)  # also on loopback TCP (no TLS: this machine only), as a remote engine would be reached
      ENGINE_NAME=builder ENGINE_STATE=$STACK_CACHE/builder-state
      ENGINE_NETWORK=${SHIPYARD_BUILDER_NETWORK:-shipyardb} ENGINE_CIDR=${SHIPYARD_BUILDER_CIDR:-10.89.0.0/16}
      ENGINE_TCP=tcp://127.0.0.1:${SHIPYARD_BUILDER_TCP_PORT:-7788} ;;
    runner)  # a "new CI runner": wiped at will by tests of the build cache, never shared
      ENGINE_NAME=runner ENGINE_STATE=$STACK_CACHE/runner-state
      ENGINE_NETWORK=${SHIPYARD_RUNNER_NETWORK:-shipyardr} ENGINE_CIDR=${SHIPYARD_RUNNER_CIDR:-10.90.0.0/16} ENGINE_TCP="" ;;
    *) die "no engine named $1 (engine, builder or runner)" ;;
  esac
  ENGINE_RUN=$STACK_RUN/$ENGINE_NAME
  ENGINE_SOCK=$ENGINE_RUN/engine.sock
}
use_engine engine
engine_label() { if [ "$ENGINE_NAME" = engine ]; then echo engine; else echo "$ENGINE_NAME engine"; fi; }

engine_running() { [ -f "$ENGINE_RUN/pid" ] && kill -0 "$(cat "$ENGINE_RUN/pid")" 2>/dev/null; }

# engine_answers: the engine serves a GraphQL query through the built CLI.
engine_answers() {
  (cd / && _EXPERIMENTAL_DAGGER_RUNNER_HOST=unix://$ENGINE_SOCK DO_NOT_TRACK=1 DAGGER_NO_UPDATE_CHECK=1 \
    timeout 60 "$BIN/dagger" query --progress=plain <<<'{ version }' >/dev/null 2>&1)
}

# The engine's buildkitd.toml: plain HTTP for the mirror registry, plus whatever the SDK
# content step asks for (its docker.io mirror), so module mode pulls nothing from outside.
write_engine_config() {
  mkdir -p "$ENGINE_RUN"
  {
    printf '# written by ci/stack; do not edit\n'
    printf '[registry."127.0.0.1:%s"]\n  http = true\n' "$REGISTRY_MIRROR_PORT"
    if [ -f "$STACK_CACHE/sdk/buildkitd.toml" ]; then cat "$STACK_CACHE/sdk/buildkitd.toml"; fi
  } > "$ENGINE_RUN/engine.toml"
}

# The engine starts dnsmasq (found on PATH) for its CNI network with `interface=<network>0` and
# no bind option, so dnsmasq listens on 0.0.0.0:53, which a second engine's dnsmasq then cannot
# (upstream, each engine runs in a container of its own network namespace). This wrapper, first
# on the engines' PATH, makes each dnsmasq bind its own bridge's address only.
DNSMASQ_WRAPPER_DIR=$STACK_RUN/dnsmasq-bind-dynamic
write_dnsmasq_wrapper() {
  mkdir -p "$DNSMASQ_WRAPPER_DIR"
  printf '#!/bin/sh\n# written by ci/stack: one dnsmasq per engine network (see ci/lib/engine.sh)\nexec %s --bind-dynamic "$@"\n' \
    "$(command -v dnsmasq || echo /usr/sbin/dnsmasq)" > "$DNSMASQ_WRAPPER_DIR/dnsmasq"
  chmod +x "$DNSMASQ_WRAPPER_DIR/dnsmasq"
}

# What an engine reads at start; a running engine started with other settings is restarted.
engine_settings() {
  cat "$STACK_CACHE/sdk/engine.env" "$STACK_CACHE/sdk/buildkitd.toml" 2>/dev/null || true
  echo "dnsmasq: --bind-dynamic"
  echo "tcp: ${ENGINE_TCP:-none}"
}

start_engine() {
  if engine_running; then return 0; fi
  kill_leftover_containers  # of an engine that was killed (or crashed) before
  mkdir -p "$ENGINE_RUN" "$ENGINE_STATE"
  write_engine_config
  write_dnsmasq_wrapper
  local sdk_env=() private_sockets="" tcp=()
  if [ -n "$ENGINE_TCP" ]; then tcp=(--addr "$ENGINE_TCP"); fi
  if [ -f "$STACK_CACHE/sdk/engine.env" ]; then mapfile -t sdk_env < <(grep -E '^[A-Z_]+=' "$STACK_CACHE/sdk/engine.env"); fi
  if [ "$ENGINE_NAME" != engine ]; then
    mkdir -p /run/buildkit /run/dagger
    private_sockets="mount -t tmpfs shipyard-$ENGINE_NAME /run/buildkit && mount -t tmpfs shipyard-$ENGINE_NAME /run/dagger && "
  fi
  rm -f "$ENGINE_SOCK"
  # From /, not the caller's directory: the engine outlives the checkout that started it.
  pushd / >/dev/null || return 1
  env "${sdk_env[@]}" PATH="$DNSMASQ_WRAPPER_DIR:$PATH" unshare --mount --propagation private -- \
    sh -c "${private_sockets}exec \"\$@\"" engine \
    "$BIN/dagger-engine" --root "$ENGINE_STATE" --addr "unix://$ENGINE_SOCK" "${tcp[@]}" \
    --config "$ENGINE_RUN/engine.toml" --network-name "$ENGINE_NETWORK" --network-cidr "$ENGINE_CIDR" \
    > "$ENGINE_RUN/engine.log" 2>&1 &
  echo $! > "$ENGINE_RUN/pid"
  popd >/dev/null || return 1
  local i
  for i in $(seq 1 60); do
    engine_running || die "the $(engine_label) exited at start; see $ENGINE_RUN/engine.log: $(tail -5 "$ENGINE_RUN/engine.log")"
    if [ -S "$ENGINE_SOCK" ] && engine_answers; then
      engine_settings > "$ENGINE_RUN/started-with"
      log "$(engine_label) up on unix://$ENGINE_SOCK (${i}s)"; return 0
    fi
    sleep 1
  done
  die "the $(engine_label) did not answer within 60 s; see $ENGINE_RUN/engine.log"
}

# Stop the engine and what it started (runc containers, dnsmasq): the host is left as before.
# An engine that was killed (a crashed builder) leaves its build containers running: they are
# the runc containers under its state directory, killed here too.
stop_engine() {
  if engine_running; then
    local pid; pid=$(cat "$ENGINE_RUN/pid")
    kill "$pid"
    local i
    for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  kill_leftover_containers
  pkill -f "dnsmasq.*/containers/cni/dnsname/$ENGINE_NETWORK/" 2>/dev/null || true
  ip link delete "${ENGINE_NETWORK}0" 2>/dev/null || true
  if [ -f "$ENGINE_RUN/pid" ]; then log "$(engine_label) stopped"; fi
  rm -f "$ENGINE_RUN/pid" "$ENGINE_SOCK"
}

kill_leftover_containers() {  # runc's state is shared (/run/runc): this engine's have their bundle in its state
  local id
  for id in $(runc list --format json 2>/dev/null | jq -r --arg root "$ENGINE_STATE/" \
      '(. // [])[] | select(.bundle | startswith($root)) | .id'); do
    runc kill "$id" KILL 2>/dev/null || true
    runc delete --force "$id" 2>/dev/null || true
  done
}

# Wipe the engine's state (a cold cache), e.g. for reproducibility tests.
reset_engine_state() {
  local was_running=no
  engine_running && was_running=yes && stop_engine
  rm -rf "$ENGINE_STATE"
  log "$(engine_label) state wiped"
  if [ "$was_running" = yes ]; then start_engine; fi
}
