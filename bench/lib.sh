# Shell functions of bench/run.sh and bench/socketio/run.sh, sourced by both after they cd to the
# project root.

# Seconds in a duration written as 30s, 2m or 500ms (rounded up).
secs() {
  case $1 in
    *ms) echo $(( (${1%ms} + 999) / 1000 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

# The value of a top-level field in a one-line JSON file (numbers, booleans, simple strings).
jget() {
  grep -o "\"$1\":\(\"[^\"]*\"\|[^,}]*\)" "$2" | head -1 | cut -d: -f2- | tr -d '"'
}

# Needs OUT (the run's output directory).
# A redis-server binary: $REDIS_SERVER, the one on PATH, or the Linux build that embedded-redis (a
# test dependency of the server) ships on Maven Central, extracted from the local Maven repository.
find_redis() {
  if [[ -n ${REDIS_SERVER:-} ]]; then
    echo "$REDIS_SERVER"
    return
  fi
  if command -v redis-server >/dev/null; then
    command -v redis-server
    return
  fi
  local jar entry=redis-server-6.2.6-v5-linux-amd64
  jar=$(find "${HOME}/.m2/repository/com/github/codemonstur/embedded-redis" -name 'embedded-redis-*.jar' 2>/dev/null | sort | tail -1)
  if [[ $(uname -sm) == "Linux x86_64" && -n $jar ]]; then
    mkdir -p "$OUT/redis"
    (cd "$OUT/redis" && unzip -o -q "$jar" "$entry" 2>/dev/null || jar xf "$jar" "$entry") || return 0
    chmod +x "$OUT/redis/$entry"
    echo "$OUT/redis/$entry"
  fi
}

# Whether the kernel's DAMON monitors run (a page-access sampler some VMs use to give memory back to the
# host; while it ran, benchmark deliveries stalled for 10-30 ms twice a second: bench/tools/without-damon.sh).
damon_state() {
  local k on=0 off=0
  for k in /sys/kernel/mm/damon/admin/kdamonds/[0-9]*; do
    [[ -f $k/state ]] || continue
    if [[ $(cat "$k/state" 2>/dev/null) == on ]]; then on=$((on + 1)); else off=$((off + 1)); fi
  done
  if ((on + off == 0)); then echo "none"; else echo "$on running, $off off"; fi
}
