#!/usr/bin/env bash
# Builds and starts the bare Redis relay: the measuring stick for two nodes through one Redis (the
# bare forwarder's protocol subset, with the version counter and the fan-out in Redis: one script
# per write, HINCRBY and PUBLISH). See BareRedisServer.java for what it does and leaves out.
# Run from the project root after `./mvnw -q -DskipTests package`, once per node:
#   bench/bare-redis/run.sh --port 18090 --jwt-secret "$SECRET" --redis-url redis://127.0.0.1:6379 \
#     [--node-id a] [--workers 1] [--host 127.0.0.1]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
jar=${SERVER_JAR:-server/target/handoff-server.jar}
[ -f "$jar" ] || { echo "build the server first: ./mvnw -q -DskipTests package" >&2; exit 2; }
out=${BARE_REDIS_CLASSES:-$HOME/.cache/bare-redis-classes}
mkdir -p "$out"
if [ ! -f "$out/BareRedisServer.class" ] || [ "$here/BareRedisServer.java" -nt "$out/BareRedisServer.class" ] \
  || [ "$jar" -nt "$out/BareRedisServer.class" ]; then
  javac --release 17 -nowarn -cp "$jar" -d "$out" "$here/BareRedisServer.java"
fi
exec java ${BARE_JAVA_OPTS:-} -cp "$out:$jar" BareRedisServer "$@"
