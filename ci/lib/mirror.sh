# Docker Hub names in the mirror registry. The engine mirrors docker.io to the mirror registry
# (its buildkitd.toml), so a Dockerfile's `FROM debian:bookworm-slim` or `FROM golang:1.26` and
# the zero-config release's `registry:2.8.3` resolve to the stack's own images, as they would
# through an air-gapped user's mirror. Runs after build_images; cached by the images' digests.
MIRROR=127.0.0.1:$REGISTRY_MIRROR_PORT
# Debian's docker-registry (distribution 2.8, only libc needed) in the base image serves as the
# zero-config ephemeral registry; its tag is the one ToolImages names by default.
REGISTRY_IMAGE_TAG=2.8.3

populate_docker_hub_mirror() {
  local base golang key
  base=$(jq -r '.base // empty' "$STACK_CACHE/images.json"); golang=$(jq -r '.golang // empty' "$STACK_CACHE/images.json")
  if [ -z "$base" ] || [ -z "$golang" ]; then die "images.json lacks base or golang: run build_images first"; fi
  key="$base $golang $(sha256sum /usr/bin/docker-registry | cut -c1-16)"
  if stamp_ok docker-hub-mirror "$key" && "$BIN/crane" digest --insecure "$MIRROR/library/registry:$REGISTRY_IMAGE_TAG" >/dev/null 2>&1; then
    return 0
  fi
  log "mirror: Docker Hub names for the stack's images"
  {
    "$BIN/crane" copy --insecure "$base" "$MIRROR/library/debian:bookworm-slim" &&
      "$BIN/crane" copy --insecure "$base" "$MIRROR/library/debian:bookworm" &&
      "$BIN/crane" copy --insecure "$golang" "$MIRROR/library/golang:${GO_IMAGE_VERSION%.*}" &&
      "$BIN/crane" copy --insecure "$golang" "$MIRROR/library/golang:$GO_IMAGE_VERSION"
  } >>"$LOGS/mirror.log" 2>&1 || die "copying the Docker Hub names into the mirror failed: $(tail -3 "$LOGS/mirror.log")"
  build_registry_image "$base"
  stamp_set docker-hub-mirror "$key"
}

build_registry_image() {  # BASE
  local tmp; tmp=$(mktemp -d)
  mkdir -p "$tmp/root/usr/bin" "$tmp/root/etc/docker/registry" "$tmp/root/var/lib/docker-registry"
  cp /usr/bin/docker-registry "$tmp/root/usr/bin/docker-registry"
  cat > "$tmp/root/etc/docker/registry/config.yml" <<'YML'
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: :5000
YML
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp/root" -cf "$tmp/layer.tar" .
  local ref=$MIRROR/library/registry:$REGISTRY_IMAGE_TAG
  "$BIN/crane" append --insecure --platform linux/amd64 -b "$1" -f "$tmp/layer.tar" -t "$ref" >>"$LOGS/mirror.log" 2>&1 \
    || die "building the registry image failed"
  "$BIN/crane" mutate --insecure "$ref" --entrypoint /usr/bin/docker-registry \
    --cmd serve,/etc/docker/registry/config.yml --exposed-ports 5000/tcp -t "$ref" >>"$LOGS/mirror.log" 2>&1 \
    || die "configuring the registry image failed"
  rm -rf "$tmp"
}
