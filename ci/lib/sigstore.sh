# A local Sigstore for keyless signing tests: our OIDC issuer (ci/sigstore/oidc_issuer.py),
# Fulcio (a file CA made at each start), a CT log (certificate-transparency-go on Trillian) so
# certificates carry SCTs, Rekor on Trillian (log server + signer, MariaDB) and a timestamp
# authority. The Go services are built from the Go module proxy at pinned versions; everything
# listens on loopback (except the metrics endpoints rekor-server and timestamp-server hard-code
# to :2112, see start_sigstore). Keys are fresh at each start: the trust material is exported
# after it, to $SIGSTORE_RUN/trust (trusted_root.json and the single files cosign also reads).
# shellcheck disable=SC2034  # the ports are read by ci/stack, which sources this file
SIGSTORE_RUN=$STACK_RUN/sigstore
SIGSTORE_TRUST=$SIGSTORE_RUN/trust
OIDC_PORT=${SHIPYARD_OIDC_PORT:-5550}
FULCIO_PORT=${SHIPYARD_FULCIO_PORT:-5555}      # + grpc 5554, metrics 5553
REKOR_PORT=${SHIPYARD_REKOR_PORT:-5556}
TSA_PORT=${SHIPYARD_TSA_PORT:-5557}
CTLOG_PORT=${SHIPYARD_CTLOG_PORT:-5558}
TRILLIAN_PORT=${SHIPYARD_TRILLIAN_PORT:-5560}  # log server rpc; + http 5561, signer 5562/5563
SIGSTORE_PYTHON=/usr/bin/python3               # Debian's, with python3-jwt and python3-cryptography
SIGSTORE_PACKAGES=(mariadb-server python3-jwt python3-cryptography)

build_sigstore() {
  build_go_tool fulcio github.com/sigstore/fulcio "$FULCIO_VERSION"
  build_go_tool rekor-server github.com/sigstore/rekor/cmd/rekor-server "$REKOR_VERSION"
  build_go_tool trillian_log_server github.com/google/trillian/cmd/trillian_log_server "$TRILLIAN_VERSION"
  build_go_tool trillian_log_signer github.com/google/trillian/cmd/trillian_log_signer "$TRILLIAN_VERSION"
  build_go_tool createtree github.com/google/trillian/cmd/createtree "$TRILLIAN_VERSION"
  build_go_tool ct_server github.com/google/certificate-transparency-go/trillian/ctfe/ct_server "$CTLOG_VERSION"
  build_go_tool timestamp-server github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server "$TSA_VERSION"
}

sigstore_daemons() { echo mariadb trillian-server trillian-signer ctlog oidc fulcio tsa rekor; }

daemon_running() { [ -f "$SIGSTORE_RUN/$1.pid" ] && kill -0 "$(cat "$SIGSTORE_RUN/$1.pid")" 2>/dev/null; }

# daemon NAME CMD...: start CMD in the background, logging to $SIGSTORE_RUN/NAME.log.
daemon() {
  local name=$1; shift
  "$@" >> "$SIGSTORE_RUN/$name.log" 2>&1 &
  echo $! > "$SIGSTORE_RUN/$name.pid"
}

# wait_for NAME CHECK...: until CHECK succeeds (60 s), or die naming the daemon's log.
wait_for() {
  local name=$1; shift
  for _ in $(seq 1 300); do
    "$@" >/dev/null 2>&1 && return 0
    daemon_running "$name" || break
    sleep 0.2
  done
  die "sigstore: $name did not start; see $SIGSTORE_RUN/$name.log: $(tail -3 "$SIGSTORE_RUN/$name.log" 2>/dev/null | tr '\n' ' ')"
}

sql() { mariadb --socket="$SIGSTORE_RUN/mysql.sock" -uroot "$@"; }

sigstore_running() {
  local d
  for d in $(sigstore_daemons); do daemon_running "$d" || return 1; done
  [ -s "$SIGSTORE_TRUST/trusted_root.json" ]
}

start_sigstore() {
  if sigstore_running; then return 0; fi
  stop_sigstore
  log "starting the local Sigstore"
  rm -rf "$SIGSTORE_RUN"; mkdir -p "$SIGSTORE_RUN/keys" "$SIGSTORE_TRUST"
  local bin=$BIN trillian_dsn="root@unix($SIGSTORE_RUN/mysql.sock)/trillian"

  # MariaDB on a socket only: Trillian's storage and Rekor's search index.
  mariadb-install-db --no-defaults --datadir="$SIGSTORE_RUN/mysql" --user=root --auth-root-authentication-method=socket \
    >> "$SIGSTORE_RUN/mariadb.log" 2>&1 || die "sigstore: mariadb-install-db failed; see $SIGSTORE_RUN/mariadb.log"
  daemon mariadb mariadbd --no-defaults --datadir="$SIGSTORE_RUN/mysql" --socket="$SIGSTORE_RUN/mysql.sock" \
    --pid-file="$SIGSTORE_RUN/mysql.pidfile" --skip-networking --user=root
  wait_for mariadb sql -e "SELECT 1"
  sql -e "CREATE DATABASE trillian; CREATE DATABASE rekor;"
  sql trillian < "$GOMODCACHE/github.com/google/trillian@$TRILLIAN_VERSION/storage/mysql/schema/storage.sql"

  daemon trillian-server "$bin/trillian_log_server" --storage_system=mysql --mysql_uri="$trillian_dsn" --quota_system=noop \
    --rpc_endpoint="127.0.0.1:$TRILLIAN_PORT" --http_endpoint="127.0.0.1:$((TRILLIAN_PORT + 1))"
  daemon trillian-signer "$bin/trillian_log_signer" --storage_system=mysql --mysql_uri="$trillian_dsn" --quota_system=noop \
    --force_master --sequencer_interval=100ms --batch_size=500 \
    --rpc_endpoint="127.0.0.1:$((TRILLIAN_PORT + 2))" --http_endpoint="127.0.0.1:$((TRILLIAN_PORT + 3))"
  wait_for trillian-server curl -sf "http://127.0.0.1:$((TRILLIAN_PORT + 1))/healthz"

  # Keys: the Fulcio CA and the CT log's key (ci/sigstore/keys.py).
  "$SIGSTORE_PYTHON" "$CI_DIR/sigstore/keys.py" "$SIGSTORE_RUN/keys"

  # The CT log, on its own Trillian tree, accepting chains to the Fulcio CA.
  local ct_tree
  ct_tree=$("$bin/createtree" --admin_server="127.0.0.1:$TRILLIAN_PORT" --display_name=ctlog 2>>"$SIGSTORE_RUN/ctlog.log") \
    || die "sigstore: createtree failed; see $SIGSTORE_RUN/ctlog.log"
  cat > "$SIGSTORE_RUN/ctlog.cfg" <<CFG
config {
  log_id: $ct_tree
  prefix: "test"
  roots_pem_file: "$SIGSTORE_RUN/keys/fulcio-root.pem"
  private_key: {
    [type.googleapis.com/keyspb.PEMKeyFile] {
      path: "$SIGSTORE_RUN/keys/ct.key"
      password: "shipyard-test-ct"
    }
  }
  ext_key_usages: [ "CodeSigning" ]
}
CFG
  daemon ctlog "$bin/ct_server" --log_config="$SIGSTORE_RUN/ctlog.cfg" --log_rpc_server="127.0.0.1:$TRILLIAN_PORT" \
    --http_endpoint="127.0.0.1:$CTLOG_PORT" --quota_remote=false --quota_intermediate=false --get_sth_interval=0
  wait_for ctlog curl -sf "http://127.0.0.1:$CTLOG_PORT/test/ct/v1/get-roots"

  # Our OIDC issuer, and Fulcio trusting it as a GitHub Actions issuer.
  [ -s "$STACK_CACHE/oidc-request-token" ] || { head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$STACK_CACHE/oidc-request-token"; }
  chmod 600 "$STACK_CACHE/oidc-request-token"
  daemon oidc "$SIGSTORE_PYTHON" "$CI_DIR/sigstore/oidc_issuer.py" "$OIDC_PORT" "$STACK_CACHE/oidc-request-token"
  wait_for oidc curl -sf "http://127.0.0.1:$OIDC_PORT/.well-known/openid-configuration"
  local issuer="http://127.0.0.1:$OIDC_PORT"
  printf '{"OIDCIssuers":{"%s":{"IssuerURL":"%s","ClientID":"sigstore","Type":"github-workflow"}}}\n' "$issuer" "$issuer" \
    > "$SIGSTORE_RUN/fulcio.json"
  daemon fulcio "$bin/fulcio" serve --config-path="$SIGSTORE_RUN/fulcio.json" --ca=fileca \
    --fileca-cert="$SIGSTORE_RUN/keys/fulcio-root.pem" --fileca-key="$SIGSTORE_RUN/keys/fulcio-root.key" --fileca-key-passwd=shipyard-test-fulcio --fileca-watch=false \
    --ct-log-url="http://127.0.0.1:$CTLOG_PORT/test" --host=127.0.0.1 --port="$FULCIO_PORT" \
    --grpc-host=127.0.0.1 --grpc-port="$((FULCIO_PORT - 1))" --metrics-port="$((FULCIO_PORT - 2))" \
    --legacy-unix-domain-socket="$SIGSTORE_RUN/fulcio-legacy.sock"
  wait_for fulcio curl -sf "http://127.0.0.1:$FULCIO_PORT/api/v1/rootCert"

  # The timestamp authority before Rekor: both serve metrics on :2112 (hard-coded), and only
  # the timestamp server refuses to start without it.
  daemon tsa "$bin/timestamp-server" serve --host=127.0.0.1 --port="$TSA_PORT" --timestamp-signer=memory \
    --disable-ntp-monitoring
  wait_for tsa curl -sf "http://127.0.0.1:$TSA_PORT/api/v1/timestamp/certchain"

  daemon rekor "$bin/rekor-server" serve --rekor_server.address=127.0.0.1 --port="$REKOR_PORT" \
    --trillian_log_server.address=127.0.0.1 --trillian_log_server.port="$TRILLIAN_PORT" \
    --search_index.storage_provider=mysql --search_index.mysql.dsn="root@unix($SIGSTORE_RUN/mysql.sock)/rekor" \
    --rekor_server.hostname="127.0.0.1:$REKOR_PORT"
  wait_for rekor curl -sf "http://127.0.0.1:$REKOR_PORT/api/v1/log/publicKey"

  export_sigstore_trust
  log "local Sigstore up: issuer $issuer, fulcio :$FULCIO_PORT, rekor :$REKOR_PORT, tsa :$TSA_PORT, ct log :$CTLOG_PORT"
}

# The trust material cosign reads: single files (SIGSTORE_* variables) and a trusted root.
export_sigstore_trust() {
  local t=$SIGSTORE_TRUST
  cp "$SIGSTORE_RUN/keys/fulcio-root.pem" "$t/fulcio-root.pem"
  cp "$SIGSTORE_RUN/keys/ct.pub" "$t/ctlog.pub"
  curl -sf "http://127.0.0.1:$REKOR_PORT/api/v1/log/publicKey" > "$t/rekor.pub"
  curl -sf "http://127.0.0.1:$TSA_PORT/api/v1/timestamp/certchain" > "$t/tsa-chain.pem"
  "$BIN/cosign" trusted-root create \
    --fulcio="url=http://127.0.0.1:$FULCIO_PORT,certificate-chain=$t/fulcio-root.pem" \
    --rekor="url=http://127.0.0.1:$REKOR_PORT,public-key=$t/rekor.pub,start-time=2020-01-01T00:00:00Z" \
    --ctfe="url=http://127.0.0.1:$CTLOG_PORT/test,public-key=$t/ctlog.pub,start-time=2020-01-01T00:00:00Z" \
    --tsa="url=http://127.0.0.1:$TSA_PORT/api/v1/timestamp,certificate-chain=$t/tsa-chain.pem" \
    --out "$t/trusted_root.json.tmp" 2>>"$SIGSTORE_RUN/trust.log" \
    || die "sigstore: cosign trusted-root create failed; see $SIGSTORE_RUN/trust.log"
  mv "$t/trusted_root.json.tmp" "$t/trusted_root.json"
}

stop_sigstore() {
  local d
  for d in $(sigstore_daemons | tr ' ' '\n' | tac); do
    if daemon_running "$d"; then kill "$(cat "$SIGSTORE_RUN/$d.pid")"; log "sigstore: $d stopped"; fi
    rm -f "$SIGSTORE_RUN/$d.pid"
  done
  rm -f "$SIGSTORE_TRUST/trusted_root.json"
}

sigstore_status() {
  local d rc=0
  for d in $(sigstore_daemons); do
    if daemon_running "$d"; then echo "sigstore $d: running (pid $(cat "$SIGSTORE_RUN/$d.pid"))"; else echo "sigstore $d: stopped"; rc=1; fi
  done
  return $rc
}

sigstore_env() {
  cat <<VARS
SHIPYARD_OIDC_ISSUER=http://127.0.0.1:$OIDC_PORT
SHIPYARD_OIDC_TOKEN_URL=http://127.0.0.1:$OIDC_PORT/token
SHIPYARD_OIDC_REQUEST_URL=http://127.0.0.1:$OIDC_PORT/actions/token?ref=refs/tags/v1.0.0
SHIPYARD_OIDC_REQUEST_TOKEN_FILE=$STACK_CACHE/oidc-request-token
SHIPYARD_FULCIO_URL=http://127.0.0.1:$FULCIO_PORT
SHIPYARD_REKOR_URL=http://127.0.0.1:$REKOR_PORT
SHIPYARD_TSA_URL=http://127.0.0.1:$TSA_PORT/api/v1/timestamp
SHIPYARD_SIGSTORE_TRUSTED_ROOT=$SIGSTORE_TRUST/trusted_root.json
SIGSTORE_ROOT_FILE=$SIGSTORE_TRUST/fulcio-root.pem
SIGSTORE_REKOR_PUBLIC_KEY=$SIGSTORE_TRUST/rekor.pub
SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=$SIGSTORE_TRUST/ctlog.pub
SIGSTORE_TSA_CERTIFICATE_FILE=$SIGSTORE_TRUST/tsa-chain.pem
VARS
}
