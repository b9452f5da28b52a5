# The stack's own images, built on the host from Go modules and Debian packages (nothing is
# pulled from a container registry) and pushed to the mirror (127.0.0.1:$REGISTRY_MIRROR_PORT):
#   shipyard-stack/{cosign,syft,trivy,crane}:<version>  static tool + busybox sh + CA bundle + /tmp
#   shipyard-stack/trivy-db:<key>                       offline Trivy DB at /db (ci/trivydb)
#   shipyard-stack/debian:bookworm                      base: linux/amd64, linux/arm64, linux/arm/v7
#   shipyard-stack/golang:<GO_IMAGE_VERSION>            base + Go at /usr/local/go (linux/amd64)
# and $STACK_CACHE/images.json naming each by digest. Each image is stamped with a key made of
# its pinned versions and this recipe; it is rebuilt when the key changes or when the mirror
# no longer holds the stamped digest. Layers are written by images_oci.py (sorted entries,
# uid/gid 0, mtime 0, gzip without timestamp), so the same inputs give the same digests.
# Needs: crane in $BIN, the mirror running, python3, apt-get/dpkg-deb.

IMAGES_REPO=127.0.0.1:${REGISTRY_MIRROR_PORT:-5002}/shipyard-stack
IMAGES_WORK=$STACK_CACHE/images
IMAGES_JSON=$STACK_CACHE/images.json
# The base image's packages: a shell, coreutils, sed, grep, awk, users, /etc/os-release, and
# everything they load (dpkg itself and its tools are left out: the status file is written here).
BASE_PACKAGES=(base-files base-passwd coreutils dash debianutils gcc-12-base grep libacl1 libattr1
  libc6 libdebconfclient0 libgcc-s1 libgmp10 libpcre2-8-0 libselinux1 mawk sed)
# busybox applets linked in the tool images (never wget: Debian's busybox 1.35 wget segfaults).
TOOL_APPLETS=(sh cat cp chmod cut date echo env false find grep gunzip gzip head id ln ls mkdir
  mv printf pwd readlink rm sed sleep sort tail tar tee test touch tr true uname wc xargs)

build_images() {
  [ -x "$BIN/crane" ] || die "build_images needs crane in $BIN (build_tools)"
  curl -fs -o /dev/null "http://$(image_registry)/v2/" || die "the mirror $(image_registry) is not running"
  mkdir -p "$IMAGES_WORK/digests" "$IMAGES_WORK/bin"
  # Two `up`s at once would write the same trees: the second waits for the first.
  local lock; exec {lock}>"$IMAGES_WORK/.lock"
  flock -w 3600 "$lock" || die "another build_images held $IMAGES_WORK/.lock for an hour"
  IMAGES_RECIPE=$(cat "$CI_DIR/lib/images.sh" "$CI_DIR/lib/images_oci.py" | sha256sum | cut -c1-16)
  IMAGES_APT_READY=""
  timed image-cosign image_tool cosign github.com/sigstore/cosign/v2 cmd/cosign "$COSIGN_VERSION" ""
  timed image-syft image_tool syft github.com/anchore/syft cmd/syft "$SYFT_VERSION" \
    "-X main.version=${SYFT_VERSION#v}"
  timed image-trivy image_tool trivy github.com/aquasecurity/trivy cmd/trivy "$TRIVY_VERSION" \
    "-X github.com/aquasecurity/trivy/pkg/version/app.ver=${TRIVY_VERSION#v}" GOEXPERIMENT=jsonv2
  timed image-crane image_tool crane github.com/google/go-containerregistry cmd/crane "$CRANE_VERSION" ""
  timed image-trivy-db image_trivy_db
  timed image-base image_base
  timed image-golang image_golang
  local name json='{}'
  for name in cosign syft trivy crane trivy_db base golang; do
    json=$(jq --arg k "$name" --arg v "$(cat "$IMAGES_WORK/refs/$name")" '. + {($k): $v}' <<<"$json")
  done
  printf '%s\n' "$json" > "$IMAGES_JSON.tmp" && mv "$IMAGES_JSON.tmp" "$IMAGES_JSON"
  exec {lock}>&-
}

image_registry() { echo "${IMAGES_REPO%%/*}"; }

# image_current NAME REF KEY: true when NAME was built for KEY and REF still has that digest in
# the mirror (a wiped or reset mirror means a rebuild, not a dangling reference).
image_current() {
  local name=$1 ref=$2 key=$3 want have
  stamp_ok "image-$name" "$key" || return 1
  want=$(cat "$IMAGES_WORK/digests/$name" 2>/dev/null) || return 1
  have=$("$BIN/crane" digest --insecure "$ref" 2>/dev/null) || return 1
  [ "$want" = "$have" ]
}

# image_push NAME REF KEY LAYOUT: push an OCI layout, then record digest, reference and stamp.
image_push() {
  local name=$1 ref=$2 key=$3 layout=$4 digest
  digest=$("$BIN/crane" push --insecure "$layout" "$ref" 2>>"$LOGS/image-$name.log" | sed 's/.*@//') \
    || die "crane push $ref failed; see $LOGS/image-$name.log"
  [ "$digest" = "$(jq -r '.manifests[0].digest' "$layout/index.json")" ] \
    || die "the mirror reports $digest for $ref, the layout says otherwise"
  mkdir -p "$IMAGES_WORK/refs"
  printf '%s' "$digest" > "$IMAGES_WORK/digests/$name"
  printf '%s@%s' "$ref" "$digest" > "$IMAGES_WORK/refs/$name"
  stamp_set "image-$name" "$key"
  log "image $name: $ref@$digest"
}

# image_layout NAME SPEC_JSON: write the OCI layout SPEC describes (see images_oci.py) into
# $IMAGES_WORK/layout/NAME. (Functions that do work are never run inside $(...): bash drops
# `set -e` there, and a failing step would go unnoticed.)
image_layout() {
  local name=$1 spec=$2 dir=$IMAGES_WORK/layout/$1
  rm -rf "$dir"; mkdir -p "$dir"
  printf '%s' "$spec" > "$dir.spec.json"
  python3 "$CI_DIR/lib/images_oci.py" "$dir.spec.json" "$dir" >>"$LOGS/image-$name.log" 2>&1 \
    || { tail -20 "$LOGS/image-$name.log" >&2; die "writing the $name image failed; see $LOGS/image-$name.log"; }
}

# run_logged NAME CMD...: run CMD with its output in $LOGS/NAME.log; on failure show the tail and stop.
run_logged() {
  local name=$1; shift
  if ! "$@" >>"$LOGS/$name.log" 2>&1; then
    tail -30 "$LOGS/$name.log" >&2
    die "$name: '$*' failed; full log in $LOGS/$name.log"
  fi
}

# --- Go binaries -------------------------------------------------------------------------------

# go_static NAME MODULE PKG VERSION LDFLAGS [ENV=VALUE...]: a static binary of MODULE/PKG at
# VERSION, cached as $IMAGES_WORK/bin/NAME-VERSION. `go install mod@version` refuses modules whose go.mod has
# replace directives; those are built inside a copy of the downloaded module instead.
go_static() {
  local name=$1 module=$2 pkg=$3 version=$4 ldflags="-s -w $5"; shift 5
  local out=$IMAGES_WORK/bin/$name-$version
  if [ -x "$out" ]; then return 0; fi
  log "building $name $version (static)"
  : > "$LOGS/$name.log"
  local gobin; gobin=$(mktemp -d)
  if env "$@" GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "$module/$pkg@$version" >>"$LOGS/$name.log" 2>&1; then
    mv "$gobin/$name" "$out"
  elif grep -q 'replace directives' "$LOGS/$name.log"; then
    local src dir; src=$(mktemp -d)
    dir=$(go mod download -json "$module@$version" | jq -r '.Dir // empty') || die "go mod download $module@$version failed"
    [ -n "$dir" ] || die "go mod download $module@$version gave no directory"
    cp -r "$dir/." "$src" && chmod -R u+w "$src"
    (cd "$src" && run_logged "$name" env "$@" CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "./$pkg")
    mv "$out.tmp" "$out"; rm -rf "$src"
  else
    tail -30 "$LOGS/$name.log" >&2
    die "building $name $version failed; full log in $LOGS/$name.log"
  fi
  rm -rf "$gobin"
}

# --- Debian packages (a private apt state: the host's apt configuration is left alone) ----------

images_apt() { APT_CONFIG=$IMAGES_WORK/apt/apt.conf "$@"; }

apt_ready() {
  [ -n "$IMAGES_APT_READY" ] && return 0
  local d=$IMAGES_WORK/apt arches="" a try
  for a in $BASE_ARCHES; do arches+="\"${a%%:*}\"; "; done
  mkdir -p "$d/state/lists/partial" "$d/cache/archives/partial"
  [ -f "$d/state/status" ] || : > "$d/state/status"
  cat > "$d/apt.conf" <<CONF
Dir::State "$d/state";
Dir::State::status "$d/state/status";
Dir::Cache "$d/cache";
APT::Architecture "$(dpkg --print-architecture)";
APT::Architectures { $arches};
APT::Sandbox::User "root";
CONF
  # A Debian mirror mid-sync can serve an index whose size does not match its Release file:
  # retry, then go on with what was fetched (apt keeps the previous or main index), and let
  # the download below fail loudly if a package is really missing.
  for try in 1 2; do
    images_apt apt-get update -q >"$LOGS/image-apt.log" 2>&1 && break
    [ "$try" = 2 ] && { log "warning: apt-get update (private state) still fails, going on:"; grep -E '^(E|Err):' "$LOGS/image-apt.log" >&2 || true; }
    sleep 5
  done
  IMAGES_APT_READY=1
}

# debs DIR PKG:ARCH...: download the packages into DIR. Call apt_ready first, in the calling
# shell (not inside a command substitution, or every call would update the indexes again).
debs() {
  local dir=$1; shift
  [ -n "$IMAGES_APT_READY" ] || die "debs: apt_ready was not called"
  mkdir -p "$dir"
  (cd "$dir" && run_logged image-apt images_apt apt-get download -q "$@")
}

# --- tool images ------------------------------------------------------------------------------

# The runtime layer every tool image shares ($IMAGES_WORK/tree/runtime): busybox sh and
# applets, the CA bundle, users, /tmp.
tool_runtime() {
  local tree=$IMAGES_WORK/tree/runtime debdir=$IMAGES_WORK/debs/tool a
  if [ -f "$tree.done" ] && [ "$(cat "$tree.done")" = "$IMAGES_RECIPE" ]; then return 0; fi
  rm -rf "$tree" "$debdir"; mkdir -p "$tree"
  debs "$debdir" busybox-static:amd64 ca-certificates
  local x; x=$(mktemp -d)
  for a in "$debdir"/*.deb; do dpkg-deb -x "$a" "$x"; done
  mkdir -p "$tree/bin" "$tree/etc/ssl/certs" "$tree/tmp" "$tree/root" "$tree/usr/local/bin"
  chmod 1777 "$tree/tmp"; chmod 0700 "$tree/root"
  cp "$x/bin/busybox" "$tree/bin/busybox"
  for a in "${TOOL_APPLETS[@]}"; do ln -s busybox "$tree/bin/$a"; done
  # What update-ca-certificates would write: Mozilla's certificates, concatenated in name order.
  find "$x/usr/share/ca-certificates/mozilla" -name '*.crt' | LC_ALL=C sort | xargs cat > "$tree/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$tree/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$tree/etc/group"
  rm -rf "$x"
  printf '%s' "$IMAGES_RECIPE" > "$tree.done"
}

image_tool() {  # NAME MODULE PKG VERSION LDFLAGS [ENV=VALUE...]
  local name=$1 version=$4 ref=$IMAGES_REPO/$1:$4
  local key="$version/$IMAGES_RECIPE"
  image_current "$name" "$ref" "$key" && { tool_ref "$name" "$ref"; return 0; }
  local tree=$IMAGES_WORK/tree/$name
  go_static "$@"
  apt_ready
  tool_runtime
  rm -rf "$tree"; mkdir -p "$tree/usr/local/bin"
  cp "$IMAGES_WORK/bin/$name-$version" "$tree/usr/local/bin/$name"; chmod 0755 "$tree/usr/local/bin/$name"
  image_layout "$name" "$(jq -n --arg rt "$IMAGES_WORK/tree/runtime" --arg t "$tree" --arg n "$name" '{images: [{
    platform: {os: "linux", architecture: "amd64"}, layers: [$rt, $t],
    config: {Env: ["PATH=/usr/local/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=/root", "TMPDIR=/tmp"],
             Entrypoint: ["/usr/local/bin/\($n)"], WorkingDir: "/"}}]}')"
  image_push "$name" "$ref" "$key" "$IMAGES_WORK/layout/$name"
}

# tool_ref NAME REF: record REF@<stamped digest> for images.json (an image that was current).
tool_ref() { mkdir -p "$IMAGES_WORK/refs"; printf '%s@%s' "$2" "$(cat "$IMAGES_WORK/digests/$1")" > "$IMAGES_WORK/refs/$1"; }

# --- the offline Trivy DB ---------------------------------------------------------------------

image_trivy_db() {
  local src=$CI_DIR/trivydb key ref
  key=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-12)
  ref=$IMAGES_REPO/trivy-db:2-$key
  image_current trivy_db "$ref" "$key/$BBOLT_VERSION/$IMAGES_RECIPE" && { tool_ref trivy_db "$ref"; return 0; }
  log "writing the offline Trivy DB ($ref)"
  grep -q "go.etcd.io/bbolt $BBOLT_VERSION\$" "$src/go.mod" || die "ci/trivydb/go.mod must require go.etcd.io/bbolt $BBOLT_VERSION"
  local tree=$IMAGES_WORK/tree/trivy-db; rm -rf "$tree"; mkdir -p "$tree/db"
  : > "$LOGS/trivydb.log"
  (cd "$src" && run_logged trivydb env GOFLAGS=-mod=readonly go run . -out "$tree/db")
  chmod 0755 "$tree/db"; chmod 0644 "$tree/db"/*
  image_layout trivy_db "$(jq -n --arg t "$tree" '{images: [{
    platform: {os: "linux", architecture: "amd64"}, layers: [$t],
    config: {Labels: {"org.opencontainers.image.description": "Offline Trivy DB (schema 2) with synthetic advisories, for Shipyard tests"}}}]}')"
  image_push trivy_db "$ref" "$key/$BBOLT_VERSION/$IMAGES_RECIPE" "$IMAGES_WORK/layout/trivy_db"
}

# --- the multi-arch Debian base ---------------------------------------------------------------

# rootfs DEBARCH: extract BASE_PACKAGES for DEBARCH into $IMAGES_WORK/tree/base-DEBARCH and
# write the dpkg database for them.
rootfs() {
  local arch=$1 tree=$IMAGES_WORK/tree/base-$1 debdir=$IMAGES_WORK/debs/base-$1 deb p name
  rm -rf "$tree" "$debdir"; mkdir -p "$tree/var/lib/dpkg/info"
  debs "$debdir" "${BASE_PACKAGES[@]/%/:$arch}"
  local status=$tree/var/lib/dpkg/status ctl; ctl=$(mktemp -d)
  : > "$status"
  for deb in $(printf '%s\n' "$debdir"/*.deb | LC_ALL=C sort); do
    dpkg-deb -x "$deb" "$tree"
    p=$(dpkg-deb -f "$deb" Package)
    name=$p; [ "$(dpkg-deb -f "$deb" Multi-Arch)" = same ] && name="$p:$arch"
    # The status entry dpkg would write: the control fields, marked installed.
    dpkg-deb -f "$deb" | sed '1a Status: install ok installed' >> "$status"
    echo >> "$status"
    rm -rf "$ctl"; dpkg-deb -e "$deb" "$ctl"
    [ -f "$ctl/md5sums" ] && cp "$ctl/md5sums" "$tree/var/lib/dpkg/info/$name.md5sums"
    [ -f "$ctl/conffiles" ] && cp "$ctl/conffiles" "$tree/var/lib/dpkg/info/$name.conffiles"
    dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's#^\./#/#; s#/$##; s#^$#/.#' > "$tree/var/lib/dpkg/info/$name.list"
  done
  rm -rf "$ctl"
  [ -L "$tree/bin/sh" ] || die "base $arch: no /bin/sh after extracting dash"
  # What the maintainer scripts would have done: users and groups, awk.
  cp "$tree/usr/share/base-passwd/passwd.master" "$tree/etc/passwd"
  cp "$tree/usr/share/base-passwd/group.master" "$tree/etc/group"
  ln -sf mawk "$tree/usr/bin/awk"
  touch "$tree/var/lib/dpkg/available"
  chmod 0644 "$tree/etc/passwd" "$tree/etc/group" "$status"
}

image_base() {
  local ref=$IMAGES_REPO/debian:bookworm key
  key="$BASE_ARCHES/${BASE_PACKAGES[*]}/$IMAGES_RECIPE"
  image_current base "$ref" "$key" && { tool_ref base "$ref"; return 0; }
  log "assembling the base image ($BASE_ARCHES) from Debian packages"
  local images="[]" pair arch platform os_arch variant
  apt_ready
  for pair in $BASE_ARCHES; do
    arch=${pair%%:*}; platform=${pair#*:}
    rootfs "$arch"
    IFS=/ read -r _ os_arch variant <<<"$platform"
    images=$(jq --arg t "$IMAGES_WORK/tree/base-$arch" --arg a "$os_arch" --arg v "${variant:-}" '. + [{
      platform: ({os: "linux", architecture: $a} + (if $v == "" then {} else {variant: $v} end)),
      layers: [$t],
      config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["/bin/sh"]}}]' <<<"$images")
  done
  image_layout base "$(jq -n --argjson i "$images" '{images: $i, index: true}')"
  image_push base "$ref" "$key" "$IMAGES_WORK/layout/base"
}

# --- the Go toolchain image -------------------------------------------------------------------

image_golang() {
  local ref=$IMAGES_REPO/golang:$GO_IMAGE_VERSION base key
  base=$(cat "$IMAGES_WORK/digests/base")
  key="$GO_IMAGE_VERSION/$base/$IMAGES_RECIPE"
  image_current golang "$ref" "$key" && { tool_ref golang "$ref"; return 0; }
  log "assembling the Go $GO_IMAGE_VERSION image"
  local mod=golang.org/toolchain@v0.0.1-go$GO_IMAGE_VERSION.linux-amd64 dir tree=$IMAGES_WORK/tree/golang
  dir=$(go mod download -json "$mod" | jq -r '.Dir // empty') || die "go mod download $mod failed"
  { [ -n "$dir" ] && [ -f "$dir/bin/go" ]; } || die "go mod download $mod gave no toolchain"
  rm -rf "$tree"; mkdir -p "$tree/usr/local"
  cp -r "$dir" "$tree/usr/local/go"
  # Module zips carry no modes: directories 0755, files 0644, the commands and tools 0755.
  find "$tree/usr/local/go" -type d -exec chmod 0755 {} +
  find "$tree/usr/local/go" -type f -exec chmod 0644 {} +
  find "$tree/usr/local/go/bin" "$tree/usr/local/go/pkg/tool" -type f -exec chmod 0755 {} +
  [ -d "$IMAGES_WORK/tree/base-amd64" ] || { apt_ready; rootfs amd64; }
  image_layout golang "$(jq -n --arg b "$IMAGES_WORK/tree/base-amd64" --arg t "$tree" '{images: [{
    platform: {os: "linux", architecture: "amd64"}, layers: [$b, $t],
    config: {Env: ["PATH=/usr/local/go/bin:/root/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOPATH=/root/go", "GOCACHE=/root/.cache/go-build", "HOME=/root"],
             WorkingDir: "/root", Cmd: ["/bin/sh"]}}], index: true}')"
  image_push golang "$ref" "$key" "$IMAGES_WORK/layout/golang"
}
