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

# Build the Dagger CLI, engine, init and dnsname from the Go module at DAGGER_VERSION.
# dagger's go.mod replaces dagger.io/dagger and engine/distconsts with nested
# directories that are not in the module zip, so the root is copied to a writable
# directory and the two replaces are pointed at separately downloaded modules.
build_engine() {
  local key="$DAGGER_VERSION/$ENGINE_GOTOOLCHAIN"
  if stamp_ok engine "$key" && [ -x "$BIN/dagger-engine" ]; then return 0; fi
  log "building dagger $DAGGER_VERSION (cli, engine, init, dnsname) with $ENGINE_GOTOOLCHAIN"
  local tmp; tmp=$(mktemp -d)
  (
    cd "$tmp" || exit 1
    go mod download -json "github.com/dagger/dagger@$DAGGER_VERSION" > root.json
    go mod download -json "dagger.io/dagger@$DAGGER_VERSION" > sdk.json
    root=$(jq -r .Dir root.json); sdk=$(jq -r .Dir sdk.json); dc=$tmp/distconsts
    write_distconsts "$dc"
    cp -r "$root" src && chmod -R u+w src && cd src || exit 1
    go mod edit -replace "dagger.io/dagger=$sdk" \
      -replace "github.com/dagger/dagger/engine/distconsts=$dc"
    ld="-s -w -X github.com/dagger/dagger/engine.Version=$DAGGER_VERSION -X github.com/dagger/dagger/engine.Tag=$DAGGER_VERSION"
    export GOTOOLCHAIN=$ENGINE_GOTOOLCHAIN
    go build -trimpath -ldflags "$ld" -o "$BIN/dagger" ./cmd/dagger
    go build -trimpath -tags dfexcludepatterns,dfparents -ldflags "$ld" -o "$BIN/dagger-engine" ./cmd/engine
    go build -trimpath -ldflags "$ld" -o "$BIN/dagger-init" ./cmd/init
    go build -trimpath -ldflags "$ld" -o "$BIN/dnsname" ./cmd/dnsname
  )
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
