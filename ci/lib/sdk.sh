# shellcheck shell=bash
# Module mode (`dagger functions`, `dagger call`) for the stack's engine: the builtin SDK content
# the engine loads `sdk: python` from, and the Python base image the Python runtime pulls.
#
# Engine v0.19.10 resolves `sdk: python` (core/sdk/loader.go) to the image whose manifest digest is
# in its environment as DAGGER_PYTHON_SDK_MANIFEST_DIGEST, read from the OCI content store at
# /usr/local/share/dagger/content (distconsts.EngineContainerBuiltinContentDir; only blobs/sha256/
# is read, by digest). That image's runtime/ is a Go-SDK module, so the Go SDK image
# (DAGGER_GO_SDK_MANIFEST_DIGEST, core/sdk/go_sdk.go) is needed too. Both are assembled here the way
# upstream's toolchains/engine-dev/build/sdk.go assembles them, from pinned and hash-checked inputs:
#   Go SDK image:     Debian (below) + Go toolchain (golang.org/toolchain) + /usr/local/bin/codegen
#                     (cmd/codegen, built with the engine's replaces) + /go/pkg/mod primed with
#                     the Python runtime module's dependencies; GOTOOLCHAIN=local CGO_ENABLED=0.
#   Python SDK image: sdk/python from the github.com/dagger/dagger module zip (upstream's include
#                     list), runtime/ (third-party tarball or GitHub tag archive), dist/uv +
#                     dist/uvx (uv wheel), dist/codegen (shiv bundle of the SDK's codegen).
# The runtime then runs modules on `docker.io/library/python:<ver>-slim` (the version from the
# module's .python-version or requires-python). It is built here from Debian packages, pushed to
# the mirror registry as library/python:<ver>-slim, and the engine is told to mirror docker.io
# there ($SDK_CACHE/buildkitd.toml). Module containers reach PyPI and the Go proxy directly.
#
# build_sdk_content writes:
#   $SDK_CACHE/engine.env       DAGGER_GO_SDK_MANIFEST_DIGEST=…, DAGGER_PYTHON_SDK_MANIFEST_DIGEST=…
#                               (the engine's environment at start)
#   $SDK_CACHE/buildkitd.toml   the docker.io mirror (to append to the engine's --config)
#   $SDK_CACHE/store            every blob, as an OCI content store; the two SDK images' blobs
#                               are copied into $SDK_CONTENT_DIR
# Cached by a key over every pinned input and the files in ci/sdk/; idempotent; any failing step
# stops it with a message (nothing is stamped until everything exists).
SDK_CACHE=$STACK_CACHE/sdk
SDK_CONTENT_DIR=${SHIPYARD_SDK_CONTENT_DIR:-/usr/local/share/dagger/content}
SDK_MIRROR=127.0.0.1:${REGISTRY_MIRROR_PORT:-5002}
SDK_DEBIAN_MIRROR=${SHIPYARD_DEBIAN_MIRROR:-$(apt_debian_mirror)}
SDK_RUNTIME_ARCHIVE_URL=${SHIPYARD_SDK_RUNTIME_ARCHIVE_URL:-https://codeload.github.com/dagger/dagger/tar.gz/refs/tags/$DAGGER_VERSION}
SDK_THIRD_PARTY=${SHIPYARD_THIRD_PARTY:-$CI_DIR/../../shared/third_party}

sdk_arch() {  # the engine's platform architecture (Debian and OCI names agree for these two)
  case "$(uname -m)" in
    x86_64) echo amd64 ;;
    aarch64) echo arm64 ;;
    *) die "sdk: no pinned uv wheel for $(uname -m)" ;;
  esac
}

# The cache key: every pinned input (the SDK_* settings wherever they are kept), the recipe
# (this file and oci.py) and the runtime's file hashes.
sdk_key() {
  local v
  {
    echo "$DAGGER_VERSION $DAGGER_MODULE_SUM $ENGINE_GOTOOLCHAIN $(sdk_arch)"
    for v in $(compgen -v SDK_ | grep -vE '^SDK_(CACHE|CONTENT_DIR|THIRD_PARTY|RUNTIME_ARCHIVE_URL|MIRROR|DEBIAN_MIRROR)$' | LC_ALL=C sort); do
      echo "$v=${!v}"
    done
    cat "$CI_DIR/sdk/python-sdk-runtime.sha256" "$CI_DIR/sdk/oci.py" "$CI_DIR/lib/sdk.sh"
  } | sha256sum | cut -c1-16
}

sdk_oci() { python3 "$CI_DIR/sdk/oci.py" "$@"; }

# The blobs an image manifest in the store names (config and layers).
sdk_manifest_blobs() {  # STORE DIGEST
  local m=$1/blobs/sha256/${2#sha256:}
  echo "$2"; jq -r '.config.digest, .layers[].digest' "$m"
}

# True when the content store holds every blob of the manifest.
sdk_has_image() {  # STORE DIGEST
  [ -n "$2" ] && [ -f "$1/blobs/sha256/${2#sha256:}" ] || return 1
  local d
  while read -r d; do [ -f "$1/blobs/sha256/${d#sha256:}" ] || return 1; done < <(sdk_manifest_blobs "$1" "$2")
}

sdk_install_blobs() {  # DIGEST: copy one image's blobs from the cache store to the engine's store
  local d
  mkdir -p "$SDK_CONTENT_DIR/blobs/sha256"
  while read -r d; do
    local to=$SDK_CONTENT_DIR/blobs/sha256/${d#sha256:}
    [ -f "$to" ] && continue
    cp "$SDK_CACHE/store/blobs/sha256/${d#sha256:}" "$to.tmp" && mv "$to.tmp" "$to"
  done < <(sdk_manifest_blobs "$SDK_CACHE/store" "$1")
}

# Debian minbase with Python and git, tidied so that the same packages give the same bytes.
sdk_debian_rootfs() {  # DIR
  local dir=$1
  command -v debootstrap >/dev/null || {
    log "sdk: installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
      --no-install-recommends debootstrap >/dev/null || die "sdk: apt-get install debootstrap failed"
  }
  log "sdk: debootstrap $SDK_DEBIAN_SUITE ($SDK_DEBIAN_PACKAGES)"
  debootstrap --variant=minbase --include="$SDK_DEBIAN_PACKAGES" "$SDK_DEBIAN_SUITE" "$dir" \
    "$SDK_DEBIAN_MIRROR" > "$LOGS/sdk-debootstrap.log" 2>&1 \
    || die "sdk: debootstrap failed: $(tail -5 "$LOGS/sdk-debootstrap.log")"
  # What the container runtime provides, caches, logs and backups: none belong in an image.
  (cd "$dir" && rm -rf dev/* proc/* sys/* run/* tmp/* var/tmp/* var/log/* var/cache/apt/* \
    var/lib/apt/lists/* var/cache/ldconfig/aux-cache var/cache/debconf/*-old var/lib/dpkg/*-old \
    etc/*- etc/resolv.conf etc/hostname etc/machine-id)
  # `uv pip install --system` refuses an "externally managed" interpreter.
  rm -f "$dir"/usr/lib/python3*/EXTERNALLY-MANAGED
  # Byte-code written at install time is not reproducible: Python writes it again when needed.
  find "$dir/usr/lib" -name __pycache__ -type d -prune -exec rm -rf {} +
  # /etc/shadow records the day the accounts were made: date them at SOURCE_DATE_EPOCH.
  sed -i -E "s/^([^:]*:[^:]*:)[0-9]+:/\1$((SDK_SOURCE_DATE_EPOCH / 86400)):/" "$dir/etc/shadow"
  if [ ! -x "$dir/usr/bin/python3" ] || [ ! -x "$dir/usr/bin/git" ]; then die "sdk: the Debian rootfs lacks python3 or git"; fi
}

# sdk/python/runtime at DAGGER_VERSION, every file checked against ci/sdk/python-sdk-runtime.sha256.
sdk_python_runtime() {  # OUT_DIR (gets sdk/python/runtime, LICENSE, NOTICE)
  local out=$1 tarball=$SDK_THIRD_PARTY/$SDK_PYTHON_RUNTIME_TARBALL
  mkdir -p "$out"
  if [ -f "$tarball" ]; then
    echo "$SDK_PYTHON_RUNTIME_SHA256  $tarball" | sha256sum -c --quiet - >/dev/null \
      || die "sdk: $tarball does not have the sha256 pinned in ci/sdk/versions.env"
    tar -xzf "$tarball" -C "$out" --strip-components=1
  else
    log "sdk: no ../shared/third_party; fetching sdk/python/runtime from the $DAGGER_VERSION tag archive"
    # Only the top-level LICENSE/NOTICE and the runtime directory (with all it holds).
    curl -fsSL --retry 3 "$SDK_RUNTIME_ARCHIVE_URL" \
      | tar -xz -C "$out" --strip-components=1 --wildcards --no-wildcards-match-slash \
        '*/sdk/python/runtime' '*/LICENSE' '*/NOTICE' \
      || die "sdk: could not fetch sdk/python/runtime from $SDK_RUNTIME_ARCHIVE_URL"
  fi
  local want have
  want=$(grep -vc '^#' "$CI_DIR/sdk/python-sdk-runtime.sha256")
  have=$(cd "$out" && find sdk/python/runtime LICENSE NOTICE -type f | wc -l)
  [ "$want" = "$have" ] || die "sdk: sdk/python/runtime has $have files, ci/sdk/python-sdk-runtime.sha256 lists $want"
  (cd "$out" && sha256sum -c --quiet --strict <(grep -v '^#' "$CI_DIR/sdk/python-sdk-runtime.sha256")) \
    || die "sdk: sdk/python/runtime differs from the hashes in ci/sdk/python-sdk-runtime.sha256"
}

# Wheels from PyPI, each checked against its pinned hash.
sdk_wheels() {  # OUT_DIR
  local out=$1 arch; arch=$(sdk_arch)
  local uv_hash=$SDK_UV_SHA256_AMD64 uv_plat=musllinux_1_1_x86_64
  [ "$arch" = arm64 ] && uv_hash=$SDK_UV_SHA256_ARM64 uv_plat=musllinux_1_1_aarch64
  mkdir -p "$out"
  printf 'uv==%s --hash=sha256:%s\n' "$SDK_UV_VERSION" "$uv_hash" > "$out/uv.txt"
  printf 'graphql-core==%s --hash=sha256:%s\nshiv==%s --hash=sha256:%s\n' \
    "$SDK_GRAPHQL_CORE_VERSION" "$SDK_GRAPHQL_CORE_SHA256" "$SDK_SHIV_VERSION" "$SDK_SHIV_SHA256" > "$out/py.txt"
  PIP_FIND_LINKS='' python3 -m pip download -q --no-deps --require-hashes --only-binary=:all: \
    --platform "$uv_plat" --python-version 3.11 -d "$out" -r "$out/uv.txt" \
    || die "sdk: downloading the uv $SDK_UV_VERSION wheel failed (or its hash differs from ci/sdk/versions.env)"
  PIP_FIND_LINKS='' python3 -m pip download -q --no-deps --require-hashes --only-binary=:all: -d "$out" -r "$out/py.txt" \
    || die "sdk: downloading graphql-core/shiv failed (or a hash differs from ci/sdk/versions.env)"
}

# The Python SDK image's rootfs, as upstream's pythonSDKContent lays it out.
sdk_python_rootfs() {  # ROOT DAGGER_MODULE_DIR RUNTIME_DIR WHEELS_DIR WORK_DIR
  local root=$1 mod=$2/sdk/python runtime=$3 wheels=$4 work=$5
  mkdir -p "$root/dist" "$root/src" "$work"
  cp "$mod/pyproject.toml" "$mod/uv.lock" "$mod/LICENSE" "$mod/README.md" "$root/"
  cp -r "$mod/codegen" "$root/codegen"
  (cd "$mod" && find src \( -name '*.py' -o -name '*.typed' \) \
    -not -path 'src/dagger/_engine/*' -not -path 'src/dagger/provisioning/*' -print0 \
    | xargs -0 cp --parents -t "$root")
  cp -r "$runtime/sdk/python/runtime" "$root/runtime"
  # uv and uvx: the static binaries of the pinned wheel.
  (cd "$work" && python3 -m zipfile -e "$wheels"/uv-"$SDK_UV_VERSION"-*.whl uv) || die "sdk: unpacking the uv wheel failed"
  cp "$work/uv/uv-$SDK_UV_VERSION.data/scripts/uv" "$work/uv/uv-$SDK_UV_VERSION.data/scripts/uvx" "$root/dist/"
  # codegen: a shiv bundle of the SDK's codegen package and graphql-core (all it imports).
  python3 -m venv "$work/shiv-venv"
  PIP_FIND_LINKS='' "$work/shiv-venv/bin/pip" install -q --no-deps "$wheels"/shiv-*.whl "click>=6.7,!=7.0" \
    || die "sdk: installing shiv failed"
  PIP_FIND_LINKS='' "$work/shiv-venv/bin/pip" install -q --no-deps --target "$work/site" "$wheels"/graphql_core-*.whl \
    || die "sdk: installing graphql-core into the codegen bundle failed"
  cp -r "$mod/codegen/src/codegen" "$work/site/codegen"
  # pip records where the wheel came from (a temporary path): drop it, the bundle must not vary.
  rm -f "$work"/site/*.dist-info/direct_url.json
  sed -i '/direct_url\.json/d' "$work"/site/*.dist-info/RECORD
  SOURCE_DATE_EPOCH=$SDK_SOURCE_DATE_EPOCH "$work/shiv-venv/bin/shiv" --reproducible --compressed \
    --site-packages "$work/site" -e codegen.cli:main -p '/usr/bin/env python3' -o "$root/dist/codegen" \
    > "$LOGS/sdk-shiv.log" 2>&1 || die "sdk: shiv failed: $(tail -5 "$LOGS/sdk-shiv.log")"
  # Module zip files are read-only: give the image ordinary modes.
  find "$root" -type d -exec chmod 0755 {} + && find "$root" -type f -exec chmod 0644 {} +
  chmod 0755 "$root/dist/uv" "$root/dist/uvx" "$root/dist/codegen"
  "$root/dist/uv" --version >/dev/null || die "sdk: the bundled uv does not run"
  python3 "$root/dist/codegen" --help >/dev/null || die "sdk: the bundled codegen does not run"
}

# The Go SDK image's additions to Debian: the Go toolchain, codegen and a primed module cache.
sdk_go_layers() {  # GO_ROOT EXTRA_ROOT DAGGER_SRC_DIR RUNTIME_DIR
  local goroot=$1 extra=$2 src=$3 runtime=$4 arch toolchain dir
  arch=$(sdk_arch)
  toolchain=golang.org/toolchain@v0.0.1-go$SDK_GO_VERSION.linux-$arch
  dir=$(go mod download -json "$toolchain" | jq -r '.Dir // empty')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then die "sdk: go mod download $toolchain failed"; fi
  mkdir -p "$goroot/usr/local"
  cp -r "$dir" "$goroot/usr/local/go"
  # Module zips keep no modes: make directories and the tools executable again.
  chmod -R u+w,go-w,a+r "$goroot/usr/local/go"
  find "$goroot/usr/local/go" -type d -exec chmod 0755 {} +
  chmod 0755 "$goroot/usr/local/go/bin/"* "$goroot/usr/local/go/pkg/tool/linux_$arch/"*
  "$goroot/usr/local/go/bin/go" version >/dev/null || die "sdk: the Go $SDK_GO_VERSION toolchain does not run"

  mkdir -p "$extra/usr/local/bin" "$extra/go/pkg/mod" "$extra/go/bin" "$extra/root/.cache/go-build"
  (cd "$src" && GOTOOLCHAIN=$ENGINE_GOTOOLCHAIN GONOSUMDB=$DAGGER_GONOSUMDB \
    go build -trimpath -ldflags "-s -w" -o "$extra/usr/local/bin/codegen" ./cmd/codegen) \
    > "$LOGS/sdk-codegen.log" 2>&1 || die "sdk: building cmd/codegen failed: $(tail -5 "$LOGS/sdk-codegen.log")"
  # Prime the module cache with the Python runtime module's dependencies (the stack's own
  # module cache serves what it already has).
  local mod host_proxy=file://$GOMODCACHE/cache/download
  mod=$(mktemp -d)
  cp -r "$runtime/sdk/python/runtime/." "$mod/"
  (cd "$mod" && GOMODCACHE="$extra/go/pkg/mod" GOFLAGS=-mod=mod \
    GOPROXY="$host_proxy,$(go env GOPROXY)" go mod download) \
    > "$LOGS/sdk-gomod.log" 2>&1 || die "sdk: go mod download for the Python runtime failed: $(tail -5 "$LOGS/sdk-gomod.log")"
  rm -rf "$mod" "$extra/go/pkg/mod/cache/download/sumdb"
  chmod -R u+w,a+rX "$extra/go/pkg/mod"
}

sdk_write_engine_files() {  # GO_DIGEST PYTHON_DIGEST
  printf '# written by ci/lib/sdk.sh: the engine environment that selects the builtin SDK content\nDAGGER_GO_SDK_MANIFEST_DIGEST=%s\nDAGGER_PYTHON_SDK_MANIFEST_DIGEST=%s\n' \
    "$1" "$2" > "$SDK_CACHE/engine.env.tmp"
  mv "$SDK_CACHE/engine.env.tmp" "$SDK_CACHE/engine.env"
  # Only the docker.io mirror: ci/lib/engine.sh already declares the mirror registry plain HTTP
  # (a second [registry."127.0.0.1:5002"] table would make the file invalid TOML).
  printf '# written by ci/lib/sdk.sh: module runtimes pull docker.io/library/python:<ver>-slim from the mirror\n[registry."docker.io"]\n  mirrors = ["%s"]\n' \
    "$SDK_MIRROR" > "$SDK_CACHE/buildkitd.toml"
}

# Push the Python base image to the mirror unless it already serves that digest.
sdk_push_python_base() {  # DIGEST
  local ref=$SDK_MIRROR/library/python:$SDK_PYTHON_VERSION-slim served
  curl -fsS -o /dev/null "http://$SDK_MIRROR/v2/" || die "sdk: the mirror registry $SDK_MIRROR is not running (ci/stack up starts it)"
  served=$({ curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$SDK_MIRROR/v2/library/python/manifests/$SDK_PYTHON_VERSION-slim" 2>/dev/null || true; } \
    | tr -d '\r' | awk 'tolower($1)=="docker-content-digest:"{print $2}')
  [ "$served" = "$1" ] && return 0
  log "sdk: pushing $ref ($1)"
  sdk_oci push --store "$SDK_CACHE/store" --manifest "$1" --to "$ref" >/dev/null \
    || die "sdk: pushing $ref failed"
}

build_sdk_content() {
  local key; key=$(sdk_key)
  local store=$SDK_CACHE/store go_digest py_digest base_digest
  if stamp_ok sdk-content "$key" && [ -f "$SDK_CACHE/digests" ]; then
    # shellcheck disable=SC1091
    . "$SDK_CACHE/digests"
    if sdk_has_image "$store" "$go_digest" && sdk_has_image "$store" "$py_digest" && sdk_has_image "$store" "$base_digest"; then
      sdk_install_blobs "$go_digest"; sdk_install_blobs "$py_digest"
      sdk_write_engine_files "$go_digest" "$py_digest"
      sdk_push_python_base "$base_digest"
      return 0
    fi
  fi
  log "sdk: building the Go and Python SDK content for dagger $DAGGER_VERSION (key $key)"
  local tmp; tmp=$(mktemp -d "${TMPDIR:-/tmp}/shipyard-sdk.XXXXXX")
  rm -rf "$store"; mkdir -p "$store"
  local -a base_env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "LANG=C.UTF-8")
  export SOURCE_DATE_EPOCH=$SDK_SOURCE_DATE_EPOCH

  # Sources first (cheap, and the checks fail fast), then the slow parts.
  dagger_source "$tmp/dagger" >/dev/null
  sdk_python_runtime "$tmp/runtime"
  sdk_wheels "$tmp/wheels"

  sdk_python_rootfs "$tmp/python-sdk" "$tmp/dagger/src" "$tmp/runtime" "$tmp/wheels" "$tmp/work"
  py_digest=$(sdk_oci image --store "$store" --layer "$tmp/python-sdk" --arch "$(sdk_arch)" \
    --name "dagger python sdk $DAGGER_VERSION") || die "sdk: writing the Python SDK image failed"

  sdk_debian_rootfs "$tmp/debian"
  base_digest=$(sdk_oci image --store "$store" --layer "$tmp/debian" --arch "$(sdk_arch)" \
    --name "python $SDK_PYTHON_VERSION-slim (Debian $SDK_DEBIAN_SUITE)" \
    --env "${base_env[0]}" --env "${base_env[1]}" --cmd '["python3"]') \
    || die "sdk: writing the Python base image failed"

  sdk_go_layers "$tmp/go" "$tmp/go-extra" "$tmp/dagger/src" "$tmp/runtime"
  go_digest=$(sdk_oci image --store "$store" --layer "$tmp/debian" --layer "$tmp/go" --layer "$tmp/go-extra" \
    --arch "$(sdk_arch)" --name "dagger go sdk $DAGGER_VERSION (go $SDK_GO_VERSION)" --workdir /go \
    --env "PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --env "${base_env[1]}" --env "GOLANG_VERSION=$SDK_GO_VERSION" --env GOPATH=/go \
    --env GOTOOLCHAIN=local --env CGO_ENABLED=0) || die "sdk: writing the Go SDK image failed"

  printf 'go_digest=%s\npy_digest=%s\nbase_digest=%s\n' "$go_digest" "$py_digest" "$base_digest" > "$SDK_CACHE/digests"
  chmod -R u+w "$tmp" && rm -rf "$tmp"
  sdk_install_blobs "$go_digest"; sdk_install_blobs "$py_digest"
  sdk_write_engine_files "$go_digest" "$py_digest"
  sdk_push_python_base "$base_digest"
  stamp_set sdk-content "$key"
  log "sdk: Go SDK $go_digest, Python SDK $py_digest, python:$SDK_PYTHON_VERSION-slim $base_digest"
}
