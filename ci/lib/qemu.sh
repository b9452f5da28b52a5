# QEMU user emulation for foreign-platform RUN steps. The engine probes emulation once when
# it starts, so this runs before start_engine. Debian's qemu-user-static ships the binfmt
# entries (/usr/lib/binfmt.d, flag F: the interpreter is opened at registration, so it also
# works inside containers); without systemd nobody registers them, so the stack does.
QEMU_ARCHES=(aarch64 arm)
BINFMT=/proc/sys/fs/binfmt_misc

enable_qemu() {
  if ! mountpoint -q "$BINFMT"; then
    mount -t binfmt_misc binfmt_misc "$BINFMT" || die "cannot mount binfmt_misc at $BINFMT (needs root, and a kernel with binfmt_misc)"
  fi
  local a conf
  for a in "${QEMU_ARCHES[@]}"; do
    [ -e "$BINFMT/qemu-$a" ] && continue
    conf=/usr/lib/binfmt.d/qemu-$a.conf
    [ -f "$conf" ] || die "$conf is missing: install Debian's qemu-user-static"
    cat "$conf" > "$BINFMT/register" || die "registering $conf with binfmt_misc failed"
    log "binfmt: qemu-$a enabled"
  done
}

qemu_status() {
  local a
  for a in "${QEMU_ARCHES[@]}"; do
    if [ -e "$BINFMT/qemu-$a" ] && grep -q '^enabled' "$BINFMT/qemu-$a"; then echo "qemu-$a: enabled"; else echo "qemu-$a: missing"; return 1; fi
  done
}
