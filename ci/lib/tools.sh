# Host tools the tests use to read results back independently (crane, cosign) and to lint
# the workflows (actionlint), built from Go modules at pinned versions into $BIN.
build_go_tool() {  # NAME MODULE/PATH VERSION
  local name=$1 pkg=$2 version=$3
  if stamp_ok "$name" "$version" && [ -x "$BIN/$name" ]; then return 0; fi
  log "building $name $version"
  GOBIN=$BIN go install -trimpath -ldflags "-s -w" "$pkg@$version"
  stamp_set "$name" "$version"
}

# distribution v3's registry (registry C), as $BIN/registry-v3: ~3.5 min cold (2 cores), cached by version.
build_registry_v3() {
  if stamp_ok registry-v3 "$DISTRIBUTION_V3_VERSION" && [ -x "$BIN/registry-v3" ]; then return 0; fi
  log "building distribution registry $DISTRIBUTION_V3_VERSION"
  local out; out=$(mktemp -d)
  GOBIN=$out go install -trimpath -ldflags "-s -w" "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_V3_VERSION"
  mv "$out/registry" "$BIN/registry-v3" && rmdir "$out"
  stamp_set registry-v3 "$DISTRIBUTION_V3_VERSION"
}

build_tools() {
  build_go_tool crane github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION"
  build_go_tool cosign github.com/sigstore/cosign/v2/cmd/cosign "$COSIGN_VERSION"
  build_go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION"
}
