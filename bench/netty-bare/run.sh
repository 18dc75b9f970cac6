#!/usr/bin/env bash
# Builds and starts the bare forwarder: the least a server speaking Handoff's protocol must do (HS256 JWT at the
# upgrade, Hello/Welcome, a version counter per document, ack the writer, push the delta to the user's other
# devices; no history, no idempotency, no persistence, no metrics). It is the measuring stick for the server's
# CPU per delivery: drive it with the project's own load tester, same load, same session, interleaved runs
# (bench/compare.sh does).
# Run from the project root after `./mvnw -q -DskipTests package`:
#   bench/netty-bare/run.sh --port 18090 --jwt-secret "$SECRET" [--workers N] [--host H]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
jar=server/target/handoff-server.jar
[ -f "$jar" ] || { echo "build the server first: ./mvnw -q -DskipTests package" >&2; exit 2; }
out=${BARE_CLASSES:-$HOME/.cache/netty-bare-classes}
mkdir -p "$out"
if [ ! -f "$out/BareServer.class" ] || [ "$here/BareServer.java" -nt "$out/BareServer.class" ] || [ "$jar" -nt "$out/BareServer.class" ]; then
  javac --release 17 -nowarn -cp "$jar" -d "$out" "$here/BareServer.java"
fi
exec java ${BARE_JAVA_OPTS:-} -cp "$out:$jar" BareServer "$@"
