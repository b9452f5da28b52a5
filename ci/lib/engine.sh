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
  [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download $mod gave no directory: $json"
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

# runc with seccomp (cgo, libseccomp-dev) at the version dagger's go.mod requires.
build_runc() {
  if stamp_ok runc "$RUNC_VERSION" && [ -x "$BIN/runc" ]; then return 0; fi
  log "building runc $RUNC_VERSION"
  CGO_ENABLED=1 GOBIN=$BIN go install -tags "seccomp urfave_cli_no_docs" \
    "github.com/opencontainers/runc@$RUNC_VERSION"
  stamp_set runc "$RUNC_VERSION"
}

build_cni() {
  if stamp_ok cni "$CNI_PLUGINS_VERSION" && [ -x "$BIN/cni/bridge" ]; then return 0; fi
  log "building CNI plugins $CNI_PLUGINS_VERSION"
  mkdir -p "$BIN/cni"
  local p
  for p in main/bridge main/loopback meta/firewall ipam/host-local; do
    GOBIN=$BIN/cni go install "github.com/containernetworking/plugins/plugins/$p@$CNI_PLUGINS_VERSION"
  done
  stamp_set cni "$CNI_PLUGINS_VERSION"
}
