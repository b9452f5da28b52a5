# probe_engine: ask the Go module proxy for every module the Dagger engine build needs that
# has been seen refused, and say whether the engine can be built. Exit 0 only if all are served.
probe_engine() {
  local proxy=${GOPROXY:-https://proxy.golang.org}; proxy=${proxy%%,*}
  local root="github.com/dagger/dagger@$DAGGER_VERSION" ok=0 gomod
  local mods=("$root" "dagger.io/dagger@$DAGGER_VERSION" "github.com/dagger/dagger/engine/distconsts@$DAGGER_COMMIT")
  gomod=$(curl -fsS "$proxy/github.com/dagger/dagger/@v/$DAGGER_VERSION.mod" 2>/dev/null) || gomod=""
  if [ -n "$gomod" ]; then
    while read -r mod ver; do mods+=("$mod@$ver"); done < <(
      printf '%s\n' "$gomod" | awk '/^\t(github.com\/vito\/(dang|midterm|tuist))/ {print $1, $2}')
  fi
  for m in "${mods[@]}"; do
    local path=${m%@*} ver=${m#*@} code
    code=$(curl -s -o /dev/null -r 0-0 -w "%{http_code}" "$proxy/$path/@v/$ver.zip"); [ "$code" = 206 ] && code=200
    printf '%-70s %s\n' "$m" "$([ "$code" = 200 ] && echo served || echo "refused (HTTP $code)")"
    [ "$code" = 200 ] || ok=1
  done
  if [ "$ok" = 0 ]; then echo "engine: buildable (ci/stack build-engine)"; else echo "engine: NOT buildable from the Go module proxy"; fi
  return "$ok"
}
