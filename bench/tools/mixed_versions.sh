#!/usr/bin/env bash
# Two releases on one Redis, as during a rolling upgrade: does each read what the other remembered?
#
#   bench/tools/mixed_versions.sh OLD_JAR [NEW_JAR]
#
# Starts a redis-server of its own (bench/lib.sh's find_redis), OLD_JAR and NEW_JAR (default: this
# checkout's server/target/handoff-server.jar, built with `./mvnw -B -q package -pl server -am
# -DskipTests`) as two nodes on it, and has a device send a write through one node and re-send it
# (same client_seq) through the other, both ways, for an applied write and for a refused one
# (CONFLICT). Each re-send must be answered as the first send was: the same ack marked duplicate,
# or the same error. Prints PASS or FAIL per case, exits 1 if any failed. The answers and the
# nodes' logs stay in OUT (bench/results/mixed-versions-<UTC time>). docs/operations.md
# ("Upgrading") says which releases may run side by side; this is how that was checked.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
OLD_JAR=${1:?usage: bench/tools/mixed_versions.sh OLD_JAR [NEW_JAR]}
NEW_JAR=${2:-server/target/handoff-server.jar}
OUT=${OUT:-bench/results/mixed-versions-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
SECRET=mixed-versions-secret-0123456789abcdef
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS=$(find_redis)
[[ -n $REDIS ]] || { echo "no redis-server (set REDIS_SERVER)" >&2; exit 2; }
redis_port=$(free_port) old_port=$(free_port) new_port=$(free_port)
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop EXIT
"$REDIS" --port "$redis_port" --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
pids+=($!)
node() { # name jar port
  java -Xmx256m -jar "$2" --host 127.0.0.1 --port "$3" --node-id "mixed-$1" --jwt-secret "$SECRET" \
    --connect-rate 0 --redis-url "redis://127.0.0.1:$redis_port" >"$OUT/node-$1.log" 2>&1 &
  pids+=($!)
}
node old "$OLD_JAR" "$old_port"
node new "$NEW_JAR" "$new_port"
for _ in $(seq 120); do
  curl -sf "127.0.0.1:$old_port/readyz" >/dev/null && curl -sf "127.0.0.1:$new_port/readyz" >/dev/null && break
  sleep 1
done
send() { # port user seq [expected version]
  java -cp "$NEW_JAR" bench/tools/ResendWrite.java "$1" "$SECRET" "$2" phone notes "$3" v "${@:4}" \
    | grep '^ANSWER' | tee -a "$OUT/answers.txt"
}
failed=0
# first-send port, re-send port, user, expected version or nothing
check() {
  local name=$1 first=$2 again=$3 user=$4
  send "$first" "$user" 1 >/dev/null # the document exists at version 1
  local a b
  a=$(send "$first" "$user" 2 "${@:5}")
  b=$(send "$again" "$user" 2 "${@:5}")
  # The re-send's answer is the first one's, with the ack marked duplicate.
  if [[ $(sed 's/ duplicate: true//' <<<"$b") == "$a" && ( $a == *error* || $b == *"duplicate: true"* ) ]]; then
    echo "PASS $name"
  else
    echo "FAIL $name"$'\n'"  first:   $a"$'\n'"  re-sent: $b"
    failed=1
  fi
}
check "applied by new, re-sent to old" "$new_port" "$old_port" u1
check "applied by old, re-sent to new" "$old_port" "$new_port" u2
check "refused by new, re-sent to old" "$new_port" "$old_port" u3 7
check "refused by old, re-sent to new" "$old_port" "$new_port" u4 7
exit $failed
