# Sourced by bench/run.sh and bench/socketio/run.sh (after they cd to the project root); needs OUT.
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
