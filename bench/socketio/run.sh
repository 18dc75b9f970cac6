#!/usr/bin/env bash
# Two Socket.IO 4.8 nodes with the official Redis adapter under the load of `bench/run.sh two-nodes`,
# to measure the Socket.IO side of the two-node target on this machine, interleaved with Handoff's
# runs (see bench/socketio/README.md). Starts Redis without persistence on its own port, node a and
# node b (server.js), runs driver.js with their pids and Redis's, stops everything, and prints
#   socketio-two-nodes: CPU per delivery a + b + Redis X µs (a / b / redis), p50 .. ms, p99 .. ms, ...
#
#   bench/socketio/run.sh
#
# Environment, with defaults:
#   USERS=1000 DEVICES=3 RATE=2000 PAYLOAD=256 DURATION=20s WARMUP=60s DRAIN_TIMEOUT=30s
#   PORT=18180                 node a; node b on PORT+1, Redis on PORT+2 (bench/run.sh uses 18080-18082)
#   REDIS_SERVER=              redis-server binary (default: PATH, else the one embedded-redis ships,
#                              as bench/run.sh finds it)
#   DRIVER_ARGS=               more driver options (e.g. "--connect-concurrency 16")
#   SERVER_NODE_ARGS=          node options for both Socket.IO nodes (e.g. "--cpu-prof"; empty: the
#   DRIVER_NODE_ARGS=          defaults) and for the driver
#   DRIVER_SCHED=batch         the driver's Linux scheduling policy (chrt), as Handoff's load tester
#                              sets its own by default (its --scheduling): batch, or other to leave it
#   OUT=bench/results/socketio-<UTC time>
# Bounded: the driver stops itself after connect + warm-up + duration + drain and runs inside
# `timeout`; everything started here is stopped on exit. Talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."

USERS=${USERS:-1000}
DEVICES=${DEVICES:-3}
RATE=${RATE:-2000}
PAYLOAD=${PAYLOAD:-256}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-60s}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-30s}
DRIVER_SCHED=${DRIVER_SCHED:-batch}
PORT=${PORT:-18180}
DRIVER_ARGS=${DRIVER_ARGS:-}
SERVER_NODE_ARGS=${SERVER_NODE_ARGS:-}
DRIVER_NODE_ARGS=${DRIVER_NODE_ARGS:-}
OUT=${OUT:-bench/results/socketio-$(date -u +%Y%m%dT%H%M%SZ)}
DIR=bench/socketio
SECRET="bench-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PORT_B=$((PORT + 1))
REDIS_PORT=$((PORT + 2))
PIDS=()

log() { printf '[socketio %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# secs, jget and find_redis (a redis-server binary, found as bench/run.sh finds it): bench/lib.sh.
# shellcheck source=bench/lib.sh
source bench/lib.sh

stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap stop_all EXIT

# start_node NAME PORT: starts server.js and waits for its "listening" line; sets NODE_PID.
start_node() {
  local name=$1 port=$2 log="$OUT/server-$1.log"
  # shellcheck disable=SC2086
  JWT_SECRET=$SECRET node $SERVER_NODE_ARGS "$DIR/server.js" --node "$name" --port "$port" \
    --redis-url "redis://127.0.0.1:$REDIS_PORT" >"$log" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  for _ in $(seq 1 150); do
    grep -q '"event":"listening"' "$log" 2>/dev/null && return 0
    if ! kill -0 "$NODE_PID" 2>/dev/null; then
      log "node $name exited at start; see $log"
      return 1
    fi
    sleep 0.2
  done
  log "node $name did not listen within 30 s; see $log"
  return 1
}

main() {
  command -v node >/dev/null || { log "node is not installed"; exit 2; }
  if [[ ! -d $DIR/node_modules ]]; then
    log "installing $DIR's packages (npm ci)"
    (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  mkdir -p "$OUT"
  local redis
  redis=$(find_redis)
  [[ -n $redis ]] || { log "no redis-server (set REDIS_SERVER, or install it)"; exit 2; }

  {
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "node: $(node --version)"
    echo "packages: $(cd "$DIR" && node -e 'for (const p of ["socket.io", "socket.io-client", "@socket.io/redis-adapter", "redis", "bufferutil"]) { try { process.stdout.write(p + "@" + require(p + "/package.json").version + " ") } catch (e) { process.stdout.write(p + ": absent ") } }')"
    echo "redis: $("$redis" --version) (no persistence: --save '' --appendonly no)"
    echo "open files: soft $(ulimit -n), hard $(ulimit -Hn)"
    echo "node options: servers ${SERVER_NODE_ARGS:-(defaults)}, driver ${DRIVER_NODE_ARGS:-(defaults)}"
    echo "driver scheduling policy: $DRIVER_SCHED"
    echo "load: $USERS x $DEVICES, $RATE writes/s, ${PAYLOAD} B, $DURATION (+$WARMUP warm-up)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "DAMON monitors: $(damon_state)"
  } | tee "$OUT/machine.txt" >&2

  mkdir -p "$OUT/redis-data"
  "$redis" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$OUT/redis-data" --save '' \
    --appendonly no >"$OUT/redis.log" 2>&1 &
  local redis_pid=$!
  PIDS+=("$redis_pid")
  local up=0
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  [[ $up == 1 ]] || { log "Redis did not start on $REDIS_PORT; see $OUT/redis.log"; exit 1; }

  start_node a "$PORT" || exit 1
  local a=$NODE_PID
  start_node b "$PORT_B" || exit 1
  local b=$NODE_PID

  local limit=$(($(secs "$WARMUP") + $(secs "$DURATION") + $(secs "$DRAIN_TIMEOUT") + 300))
  local name=socketio-two-nodes rc
  log "$name: $USERS x $DEVICES, $RATE writes/s, ${PAYLOAD} B, $DURATION (+$WARMUP warm-up)"
  set +e
  # shellcheck disable=SC2086
  JWT_SECRET=$SECRET timeout --kill-after=15 "$limit" chrt --"$DRIVER_SCHED" 0 node $DRIVER_NODE_ARGS "$DIR/driver.js" \
    --url "http://127.0.0.1:$PORT,http://127.0.0.1:$PORT_B" --server-pid "$a" \
    --also-pid "b=$b" --also-pid "redis=$redis_pid" --users "$USERS" --devices "$DEVICES" \
    --rate "$RATE" --payload "$PAYLOAD" --warmup "$WARMUP" --duration "$DURATION" \
    --drain-timeout "$DRAIN_TIMEOUT" $DRIVER_ARGS >"$OUT/$name.out" 2>"$OUT/$name.log"
  rc=$?
  set -e
  stop_all
  local f="$OUT/$name.json"
  tail -n 1 "$OUT/$name.out" >"$f"
  grep -q '^{' "$f" || echo '{}' >"$f"
  log "$name: exit $rc, sent $(jget sent "$f"), received $(jget received "$f")/$(jget expected "$f"), lost $(jget lost "$f"), errors $(jget errors "$f"); log in $OUT/$name.log"
  echo "$name: CPU per delivery a + b + Redis $(jget total_cpu_us_per_delivery "$f") µs ($(jget server_cpu_us_per_delivery "$f") / $(jget b_cpu_us_per_delivery "$f") / $(jget redis_cpu_us_per_delivery "$f")), driver $(jget loadtester_cpu_us_per_delivery "$f") µs, p50 $(jget p50_ms "$f") ms, p99 $(jget p99_ms "$f") ms, steal $(jget cpu_steal_pct "$f")%, load average $(jget load_average_start "$f") -> $(jget load_average "$f")"
  exit "$rc"
}

main "$@"
