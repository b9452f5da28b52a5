# Debian packages the stack needs. Installs only what is missing.
DEB_PACKAGES=(
  docker-registry apache2-utils jq curl ca-certificates      # registries and their clients
  gcc pkg-config libseccomp-dev                              # runc with seccomp (cgo)
  dnsmasq-base iptables iproute2 util-linux                  # the engine's container network, unshare
  qemu-user-static                                           # foreign-platform RUN steps
  debootstrap                                                # the Python base image for module mode
  tmux                                                       # the terminal test of the live progress (tests/integration/test_progress.py)
)

install_packages() {
  local missing=() p
  for p in "${DEB_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}" >"$LOGS/apt.log" 2>&1 \
    || die "apt-get install ${missing[*]} failed: $(tail -5 "$LOGS/apt.log")"
  # The packages start no daemon here (no systemd); the stack runs its own.
}

# apt-get update fails now and then on one index while a Debian mirror syncs: retry, and
# go on with the lists we have if it still fails (the install then says what is missing).
apt_update() {
  local i
  for i in 1 2 3; do
    apt-get update -qq -o DPkg::Lock::Timeout=600 >"$LOGS/apt-update.log" 2>&1 && return 0
    log "apt-get update failed (try $i of 3): $(tail -1 "$LOGS/apt-update.log")"
    sleep $((i * 5))
  done
  log "apt-get update still fails; going on with the package lists we have"
}

# The Debian mirror apt already uses here (debootstrap needs one): the first main-archive URI of
# the machine's apt sources (deb822 or one-line form); SHIPYARD_DEBIAN_MIRROR overrides it.
apt_debian_mirror() {
  local uri
  uri=$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
           grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } \
         | grep -E '/debian/?$' | head -n 1)
  [ -n "$uri" ] || die "no Debian archive in the apt sources: set SHIPYARD_DEBIAN_MIRROR"
  printf '%s' "${uri%/}"
}
