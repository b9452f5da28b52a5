# probe_engine: ask the Go module proxy for the modules of the Dagger build that have been seen
# refused, and say whether the engine can be built. Exit 0 only if all are served.
# engine/distconsts is refused at every version, but ci/ writes it (write_distconsts), so it
# is reported and not counted.
probe_engine() {
  local proxy; proxy=$(go env GOPROXY); proxy=${proxy%%,*}
  local ok=0 gomod
  local mods=("github.com/dagger/dagger@$DAGGER_VERSION" "dagger.io/dagger@$DAGGER_VERSION")
  gomod=$(curl -fsS "$proxy/github.com/dagger/dagger/@v/$DAGGER_VERSION.mod" 2>/dev/null) || gomod=""
  if [ -n "$gomod" ]; then
    while read -r mod ver; do mods+=("$mod@$ver"); done < <(
      printf '%s\n' "$gomod" | awk '/^\t(github.com\/vito\/(dang|midterm|tuist))/ {print $1, $2}')
  fi
  for m in "${mods[@]}" "github.com/dagger/dagger/engine/distconsts@$DAGGER_VERSION"; do
    local path=${m%@*} ver=${m#*@} code
    code=$(curl -s -o /dev/null -r 0-0 -w "%{http_code}" "$proxy/$path/@v/$ver.zip"); [ "$code" = 206 ] && code=200
    if [ "$code" = 200 ]; then printf '%-70s served\n' "$m"
    elif [ "$path" = github.com/dagger/dagger/engine/distconsts ]; then printf '%-70s refused (HTTP %s); ci/ writes it\n' "$m" "$code"
    else printf '%-70s refused (HTTP %s)\n' "$m" "$code"; ok=1; fi
  done
  if [ "$ok" = 0 ]; then echo "engine: buildable (ci/stack build-engine)"; else echo "engine: NOT buildable from the Go module proxy"; fi
  return "$ok"
}
