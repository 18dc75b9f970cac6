#!/usr/bin/env bash
# The standard load-test benchmarks: starts a fresh local Handoff node for each scenario, drives it
# with the bundled load tester, stops it, and prints Markdown rows for BENCHMARKS.md.
#
#   bench/run.sh [SCENARIO...]
#
# SCENARIO: fanout capacity idle reconnect storm two-nodes handoff handoff-two-nodes (default: all
# of them, in that order).
# Every run is bounded (warm-up + duration + drain, inside `timeout`) and talks to 127.0.0.1 only.
# Results go to $OUT (default bench/results/<UTC time>/): per run the JSON line (.json), the load
# tester's progress and table (.log), its HTML report (.html), and the server's log.
#
# Environment, with defaults:
#   USERS=1000 DEVICES=3 RATE=2000 PAYLOAD=256 DURATION=30s WARMUP=20s   fanout, reconnect
#   DROP_RATE=30                                       reconnect: connections cut per second
#   CAPACITY_USERS=1000 CAPACITY_DEVICES=3 CAPACITY_DURATION=20s CAPACITY_WARMUP=10s
#   CAPACITY_RATES="5000 10000 20000 40000 80000"      writes/s tried in turn until one fails
#   CAPACITY_REFINE=3                                  bisection steps after the first failure
#   CAPACITY_P99_MS=50                                 a rate passes with p99 below this, nothing lost
#   IDLE_CONNECTIONS=50000 IDLE_DURATION=60s           capped by the open-files limit
#   IDLE_SERVER_JAVA_OPTS=                             idle: the JVM's defaults (G1 reports the heap
#                                                      in KB; ZGC's multi-mapped heap can inflate RSS)
#   REPEAT=3                                           fanout runs (the spread shows the noise)
#   STORM_DEVICES=10000 STORM_RATE=2000 STORM_DURATION=30s
#   STORM_WARMUP=60s                                   storm: warm-up before the storm; C2 is busy for
#                                                      the first ~25 s of a 10,000-device run on 2 cores
#                                                      and compiles the reconnect path only from cuts
#                                                      after that (20 s left it to the storm)
#   STORM_WARMUP_DROP_RATE=250                         storm: random cuts per second during the
#                                                      warm-up only, so both JVMs have compiled the
#                                                      reconnect path before the storm (0: none);
#                                                      half of them take whole users
#   STORM_WARMUP_STORMS=0                              storm: every connection cut at once this many
#                                                      times during the warm-up, evenly spaced
#   STORM_REDIS=no                                     storm: "yes" runs the node on a Redis started
#                                                      for it (REDIS_AOF as for two-nodes) instead of
#                                                      the embedded engine
#   HANDOFF_USERS=1000 HANDOFF_DEVICES=3 HANDOFF_RATE=200 HANDOFF_DURATION=30s HANDOFF_WARMUP=10s
#                                                      handoff: offers/s, each to the other devices
#   REDIS_SERVER=                                      two-nodes: redis-server binary (default: PATH,
#                                                      else the one embedded-redis ships)
#   NODE_EVENT_LOOPS=1                                 two-nodes, handoff-two-nodes: each node's
#                                                      --event-loops. Two nodes share this machine's
#                                                      cores, so each gets one loop, as each Socket.IO
#                                                      node (one Node.js thread) has; 0: the server's
#                                                      default (two per core, for a node alone on
#                                                      its machine)
#   TWO_NODES_TICK=1ms                                 two-nodes: the load tester's --tick. Writes leave
#                                                      in groups every millisecond, as the Socket.IO
#                                                      side's driver sends them (its 1 ms timer,
#                                                      bench/socketio/driver.js), so both get the same
#                                                      load; 0s: each write at its own time
#   TWO_NODES_SERVER=handoff                           two-nodes: "bare" runs the bare Redis relay
#                                                      (bench/bare-redis) as both nodes instead: the
#                                                      measuring stick for two nodes, as the bare
#                                                      forwarder is for one (JVM options, loops and
#                                                      Redis as for Handoff's nodes)
#   REDIS_AOF=yes                                      two-nodes: Redis's append-only file, fsync every
#                                                      second; "no" runs Redis without persistence (as
#                                                      the Socket.IO side, bench/socketio/run.sh, runs)
#   PORT=18080 SERVER_JAR=server/target/handoff-server.jar
#   LOADTEST_JAR=loadtest/target/handoff-loadtest.jar
#   SERVER_JAVA_OPTS="-XX:+UseZGC -Xms2g -Xmx2g"
#   LOADTEST_JAVA_OPTS="-XX:+UseShenandoahGC -Xms2g -Xmx2g"
#   LOADTEST_ARGS=                                     more load-tester options for every run (e.g.
#                                                      "--connect-concurrency 32" on a busy machine)
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000}
DEVICES=${DEVICES:-3}
RATE=${RATE:-2000}
PAYLOAD=${PAYLOAD:-256}
DURATION=${DURATION:-30s}
WARMUP=${WARMUP:-20s}
DROP_RATE=${DROP_RATE:-30}
CAPACITY_USERS=${CAPACITY_USERS:-1000}
CAPACITY_DEVICES=${CAPACITY_DEVICES:-3}
CAPACITY_DURATION=${CAPACITY_DURATION:-20s}
CAPACITY_WARMUP=${CAPACITY_WARMUP:-10s}
CAPACITY_RATES=${CAPACITY_RATES:-5000 10000 20000 40000 80000}
CAPACITY_REFINE=${CAPACITY_REFINE:-3}
CAPACITY_P99_MS=${CAPACITY_P99_MS:-50}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-50000}
IDLE_DURATION=${IDLE_DURATION:-60s}
IDLE_SERVER_JAVA_OPTS=${IDLE_SERVER_JAVA_OPTS:-}
REPEAT=${REPEAT:-3}
STORM_DEVICES=${STORM_DEVICES:-10000}
STORM_RATE=${STORM_RATE:-2000}
STORM_DURATION=${STORM_DURATION:-30s}
STORM_WARMUP=${STORM_WARMUP:-60s}
STORM_WARMUP_DROP_RATE=${STORM_WARMUP_DROP_RATE:-250}
STORM_WARMUP_STORMS=${STORM_WARMUP_STORMS:-0}
STORM_REDIS=${STORM_REDIS:-no}
HANDOFF_USERS=${HANDOFF_USERS:-1000}
HANDOFF_DEVICES=${HANDOFF_DEVICES:-3}
HANDOFF_RATE=${HANDOFF_RATE:-200}
HANDOFF_DURATION=${HANDOFF_DURATION:-30s}
HANDOFF_WARMUP=${HANDOFF_WARMUP:-10s}
TWO_NODES_TICK=${TWO_NODES_TICK:-1ms}
TWO_NODES_SERVER=${TWO_NODES_SERVER:-handoff}
PORT=${PORT:-18080}
SERVER_JAR=${SERVER_JAR:-server/target/handoff-server.jar}
LOADTEST_JAR=${LOADTEST_JAR:-loadtest/target/handoff-loadtest.jar}
# Collectors without long pauses: with the default G1 on two shared cores, young pauses of 20-70 ms
# in the server (and up to 75 ms in the load tester) decide p99 (see BENCHMARKS.md). Set a variable
# to the empty string for the JVM's defaults.
SERVER_JAVA_OPTS=${SERVER_JAVA_OPTS--XX:+UseZGC -Xms2g -Xmx2g}
LOADTEST_JAVA_OPTS=${LOADTEST_JAVA_OPTS--XX:+UseShenandoahGC -Xms2g -Xmx2g}
LOADTEST_ARGS=${LOADTEST_ARGS:-}
OUT=${OUT:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}

URL="ws://127.0.0.1:$PORT/ws"
SECRET="bench-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SERVER_PID=
NODE2_PID=
REDIS_PID=
WRITE_ROWS=()
CAPACITY_ROWS=()
IDLE_ROWS=()
RECONNECT_ROWS=()
HANDOFF_ROWS=()
SKIPPED=()

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# secs, jget and find_redis (bench/lib.sh).
# shellcheck source=bench/lib.sh
source bench/lib.sh

build_if_needed() {
  if [[ -f $SERVER_JAR && -f $LOADTEST_JAR ]]; then
    return
  fi
  log "building the server and the load tester"
  ./mvnw -B -q -DskipTests package -pl protocol,client-java,server,loadtest -am
}

machine() {
  {
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "server jar: $SERVER_JAR ($(sha256sum "$SERVER_JAR" | cut -c1-12))"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    free -h | sed 's/^/free: /'
    java -version 2>&1 | sed 's/^/java: /'
    echo "open files: soft $(ulimit -n), hard $(ulimit -Hn)"
    echo "ephemeral ports: $(cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null | tr '\t' '-')"
    echo "server JVM options: ${SERVER_JAVA_OPTS:-(defaults)}"
    echo "load-tester JVM options: ${LOADTEST_JAVA_OPTS:-(defaults)}"
    echo "idle: server JVM options: ${IDLE_SERVER_JAVA_OPTS:-(defaults)}"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "DAMON monitors: $(damon_state)"
  } | tee "$OUT/machine.txt" >&2
}

start_server() {
  local name=$1
  shift
  # The load tester opens thousands of connections from a few loopback addresses: the per-address
  # upgrade limit (meant for the internet) is off for these runs.
  # shellcheck disable=SC2086
  java $SERVER_JAVA_OPTS -jar "$SERVER_JAR" --host 127.0.0.1 --port "$PORT" \
    --jwt-secret "$SECRET" --connect-rate 0 "$@" >"$OUT/server-$name.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "the server exited at start; see $OUT/server-$name.log"
      SERVER_PID=
      return 1
    fi
    sleep 0.2
  done
  log "the server did not answer /healthz within 30 s"
  stop_server
  return 1
}

stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
trap stop_server EXIT

# run NAME LIMIT_SECONDS SCENARIO ARGS...: one load-test run against the running server.
# Sets RC and RESULT (the JSON file).
run() {
  local name=$1 limit=$2 scenario=$3
  shift 3
  RESULT="$OUT/$name.json"
  log "$name: $scenario $*"
  set +e
  # shellcheck disable=SC2086
  timeout --kill-after=15 "$limit" java $LOADTEST_JAVA_OPTS -jar "$LOADTEST_JAR" "$scenario" \
    --url "$URL" --jwt-secret "$SECRET" --server-pid "$SERVER_PID" --json \
    --report "$OUT/$name.html" "$@" $LOADTEST_ARGS >"$OUT/$name.out" 2>"$OUT/$name.log"
  RC=$?
  set -e
  # The last JSON line: a profiler attached to the load tester may print after it.
  grep '^{' "$OUT/$name.out" | tail -n 1 >"$RESULT" || true
  if ! grep -q '^{' "$RESULT"; then
    echo '{}' >"$RESULT"
  fi
  log "$name: exit $RC, p99 $(jget p99_ms "$RESULT") ms, lost $(jget lost "$RESULT"), errors $(jget errors "$RESULT")"
}

verdict() {
  if [[ $RC == 0 ]]; then echo OK; elif [[ $RC == 124 || $RC == 137 ]]; then echo "TIMED OUT"; else echo FAILED; fi
}

cpu_cell() {
  echo "$(jget cpu_server_pct "$1") / $(jget cpu_loadtest_pct "$1") / $(jget cpu_softirq_pct "$1") / $(jget cpu_other_pct "$1")"
}

write_row() {
  local name=$1 load=$2 f=$RESULT
  WRITE_ROWS+=("| $name | $load | $(jget connections "$f") | $(jget sent "$f") | $(jget received "$f")/$(jget expected "$f") | $(jget lost "$f") / $(jget duplicated "$f") / $(jget reordered "$f") / $(jget errors "$f") | $(jget p50_ms "$f") | $(jget p90_ms "$f") | $(jget p99_ms "$f") | $(jget p999_ms "$f") | $(jget max_ms "$f") | $(jget delivered_per_s "$f") | $(cpu_cell "$f") | $(verdict) |")
}

scenario_fanout() {
  local d w i
  d=$(secs "$DURATION")
  w=$(secs "$WARMUP")
  for i in $(seq 1 "$REPEAT"); do
    start_server "fanout-$i" || return 1
    run "fanout-$i" $((d + w + 300)) fanout --users "$USERS" --devices "$DEVICES" --rate "$RATE" \
      --payload "$PAYLOAD" --duration "$DURATION" --warmup "$WARMUP"
    stop_server
    write_row "fanout #$i" "$USERS x $DEVICES, $RATE writes/s, ${PAYLOAD} B, $DURATION (+$WARMUP warm-up)"
  done
}

# One capacity attempt at RATE; sets PASS to 1 when nothing went wrong and p99 < CAPACITY_P99_MS.
capacity_try() {
  local rate=$1 d w
  d=$(secs "$CAPACITY_DURATION")
  w=$(secs "$CAPACITY_WARMUP")
  start_server "capacity-$rate" || return 1
  run "capacity-$rate" $((d + w + 300)) fanout --users "$CAPACITY_USERS" \
    --devices "$CAPACITY_DEVICES" --rate "$rate" --payload "$PAYLOAD" \
    --duration "$CAPACITY_DURATION" --warmup "$CAPACITY_WARMUP"
  stop_server
  local p99
  p99=$(jget p99_ms "$RESULT")
  PASS=0
  if [[ $RC == 0 && -n $p99 ]] && awk -v p="$p99" -v m="$CAPACITY_P99_MS" 'BEGIN { exit !(p < m) }'; then
    PASS=1
  fi
  local f=$RESULT
  CAPACITY_ROWS+=("| $rate | $(jget delivered_per_s "$f") | $(jget lost "$f") / $(jget duplicated "$f") / $(jget reordered "$f") / $(jget errors "$f") | $(jget p50_ms "$f") | $(jget p99_ms "$f") | $(jget p999_ms "$f") | $(jget max_ms "$f") | $(cpu_cell "$f") | $([[ $PASS == 1 ]] && echo pass || echo fail) |")
}

scenario_capacity() {
  local best=0 worst=0
  for rate in $CAPACITY_RATES; do
    capacity_try "$rate" || return 1
    if [[ $PASS == 1 ]]; then best=$rate; else worst=$rate; break; fi
  done
  if [[ $best -gt 0 && $worst -gt 0 ]]; then
    for _ in $(seq 1 "$CAPACITY_REFINE"); do
      local mid=$(((best + worst) / 2))
      [[ $mid -le $best ]] && break
      capacity_try "$mid" || return 1
      if [[ $PASS == 1 ]]; then best=$mid; else worst=$mid; fi
    done
  fi
  CAPACITY_ROWS+=("")
  CAPACITY_ROWS+=("Highest passing rate: $best writes/s ($CAPACITY_USERS x $CAPACITY_DEVICES, each write delivered to $((CAPACITY_DEVICES - 1)) devices)$([[ $worst -gt 0 ]] && echo "; $worst writes/s failed" || echo "; no rate tried failed")")
}

scenario_idle() {
  local limit max n
  limit=$(ulimit -n)
  max=$((limit - 500))
  n=$IDLE_CONNECTIONS
  if [[ $n -gt $max ]]; then
    log "idle: capping $n connections at $max: the open-files limit is $limit (raise 'ulimit -Hn' to go further)"
    n=$max
  fi
  local users=$((n / 2))
  SERVER_JAVA_OPTS=$IDLE_SERVER_JAVA_OPTS start_server idle || return 1
  run idle $(($(secs "$IDLE_DURATION") + 600)) idle --users "$users" --devices 2 \
    --duration "$IDLE_DURATION" --source-addresses $(((users * 2 + 9999) / 10000)) \
    --connect-timeout 300s
  stop_server
  local f=$RESULT
  IDLE_ROWS+=("| $((users * 2)) (asked $IDLE_CONNECTIONS, open-files limit $limit) | $IDLE_DURATION | $(jget connections "$f") / $(jget min_connections_held "$f") | $(jget server_heap_per_connection_bytes "$f") | $(jget server_rss_per_connection_bytes "$f") | $(jget client_heap_per_connection_bytes "$f") | $(jget connect_p99_ms "$f") | $(verdict) |")
}

reconnect_row() {
  local name=$1 load=$2 f=$RESULT
  RECONNECT_ROWS+=("| $name | $load | $(jget connections "$f") | $(jget sent "$f") | $(jget lost "$f") / $(jget duplicated "$f") / $(jget reordered "$f") / $(jget errors "$f") | $(jget unconverged "$f") | $(jget cut "$f") | $(jget resumes "$f") | $(jget resume_p50_ms "$f") | $(jget resume_p99_ms "$f") | $(jget storm_cut "$f") | $(jget storm_all_resumed_ms "$f") | $(jget p99_ms "$f") | $(verdict) |")
}

scenario_reconnect() {
  start_server reconnect || return 1
  run reconnect $(($(secs "$DURATION") + $(secs "$WARMUP") + 300)) reconnect --users "$USERS" \
    --devices "$DEVICES" --rate "$RATE" --payload "$PAYLOAD" --duration "$DURATION" \
    --warmup "$WARMUP" --drop-rate "$DROP_RATE" --drain-timeout 30s
  stop_server
  reconnect_row reconnect "$USERS x $DEVICES, $RATE writes/s, $DROP_RATE cuts/s"
}

# The kernel's listen-queue overflows and drops and its SYN retransmissions (this network namespace,
# every process in it): a storm that overflows the accept queue waits out 1 s, 3 s, 7 s SYN retries.
tcp_counters() {
  nstat -az 2>/dev/null | awk '$1 ~ /^TcpExt(ListenOverflows|ListenDrops|TCPSynRetrans)$/ { printf "%s %s\n", $1, $2 }' | sort
}

scenario_storm() {
  local users=$(((STORM_DEVICES + DEVICES - 1) / DEVICES)) before after redis store=() also=()
  if [[ $STORM_REDIS == yes ]]; then
    redis=$(find_redis)
    if [[ -z $redis ]]; then
      SKIPPED+=("storm: skipped, STORM_REDIS=yes and no redis-server (set REDIS_SERVER, or install it)")
      return 0
    fi
    start_redis storm "$redis" $((PORT + 2))
    store=(--redis-url "redis://127.0.0.1:$((PORT + 2))")
    also=(--also-pid "redis=$REDIS_PID")
  fi
  start_server storm "${store[@]}" || return 1
  before=$(tcp_counters)
  # 10,000 handshakes before the run can take minutes on a busy machine: a longer limit.
  run storm $(($(secs "$STORM_DURATION") + $(secs "$STORM_WARMUP") + 900)) reconnect --users "$users" \
    --devices "$DEVICES" --rate "$STORM_RATE" --payload "$PAYLOAD" \
    --duration "$STORM_DURATION" --warmup "$STORM_WARMUP" --drop-rate 0 \
    --warmup-drop-rate "$STORM_WARMUP_DROP_RATE" --warmup-storms "$STORM_WARMUP_STORMS" --storm \
    --drain-timeout 30s "${also[@]}"
  after=$(tcp_counters)
  log "storm: CPU from the cut until every device resumed, ms: server $(jget storm_cpu_server_ms "$RESULT") (JIT $(jget storm_cpu_server_jit_ms "$RESULT")), load tester $(jget storm_cpu_loadtest_ms "$RESULT") (JIT $(jget storm_cpu_loadtest_jit_ms "$RESULT")), machine $(jget storm_cpu_machine_ms "$RESULT")"
  if [[ -n $after ]]; then
    log "storm: during the run (whole machine): $(join -j1 <(echo "$before") <(echo "$after") | awk '{ printf "%s +%d  ", $1, $3 - $2 }')"
  fi
  stop_server
  if [[ $STORM_REDIS == yes ]]; then
    log "storm: Redis over the measured window $(jget cpu_redis_pct "$RESULT")% of a core, $(jget redis_cpu_us_per_delivery "$RESULT") µs per delivery (the storm's own CPU: machine less server and load tester, above)"
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
  reconnect_row storm "$users x $DEVICES, $STORM_RATE writes/s, every connection cut at once$([[ $STORM_REDIS == yes ]] && echo ', on Redis')"
}

# start_redis NAME BINARY PORT: one Redis without snapshots (REDIS_AOF: its append-only file, fsync
# every second); sets REDIS_PID.
start_redis() {
  local name=$1 redis=$2 redis_port=$3
  mkdir -p "$OUT/redis-data-$name"
  "$redis" --port "$redis_port" --bind 127.0.0.1 --dir "$OUT/redis-data-$name" --save '' \
    --appendonly "${REDIS_AOF:-yes}" --appendfsync everysec >"$OUT/redis-$name.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
    sleep 0.1
  done
  grep -q '^redis:' "$OUT/machine.txt" || echo "redis: $("$redis" --version)" >>"$OUT/machine.txt"
}

# Starts Redis and two nodes (a on PORT, b on PORT+1) through it; sets URL2, REDIS_PID, NODE2_PID.
# Returns 2 (and records why in SKIPPED) when this server or machine cannot run them.
start_two_nodes() {
  local name=$1 probe redis
  probe=$(timeout 20 java -jar "$SERVER_JAR" --help 2>&1 || true)
  if [[ $TWO_NODES_SERVER != bare ]] && { ! grep -q -- '--redis-url' <<<"$probe" ||
    grep -qi 'Redis for many nodes (not available' <<<"$probe"; }; then
    SKIPPED+=("$name: skipped, this server has no Redis engine (--redis-url)")
    return 2
  fi
  redis=$(find_redis)
  if [[ -z $redis ]]; then
    SKIPPED+=("$name: skipped, no redis-server (set REDIS_SERVER, or install it)")
    return 2
  fi
  local redis_port=$((PORT + 2)) port2=$((PORT + 1))
  start_redis "$name" "$redis" "$redis_port"
  local loops=${NODE_EVENT_LOOPS:-1}
  if [[ $TWO_NODES_SERVER == bare ]]; then
    start_bare_redis_nodes "$name" "$redis_port" "$port2" "$loops"
    return
  fi
  if ! start_server "$name-a" --node-id a --redis-url "redis://127.0.0.1:$redis_port" \
    --event-loops "$loops"; then
    kill "$REDIS_PID" 2>/dev/null || true
    return 1
  fi
  # shellcheck disable=SC2086
  java $SERVER_JAVA_OPTS -jar "$SERVER_JAR" --host 127.0.0.1 --port "$port2" --node-id b \
    --jwt-secret "$SECRET" --connect-rate 0 --redis-url "redis://127.0.0.1:$redis_port" \
    --event-loops "$loops" >"$OUT/server-$name-b.log" 2>&1 &
  NODE2_PID=$!
  for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$port2/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  URL2="ws://127.0.0.1:$PORT/ws,ws://127.0.0.1:$port2/ws"
}

# start_bare_redis_nodes NAME REDIS_PORT PORT2 LOOPS: the bare Redis relay as nodes a (PORT) and b
# (PORT2), started one after the other (the first compiles it); sets SERVER_PID, NODE2_PID, URL2.
start_bare_redis_nodes() {
  local name=$1 redis_port=$2 port2=$3 loops=$4 node port pid
  ((loops > 0)) || loops=$((2 * $(nproc)))
  for node in a b; do
    port=$PORT
    [[ $node == b ]] && port=$port2
    BARE_JAVA_OPTS=$SERVER_JAVA_OPTS SERVER_JAR=$SERVER_JAR bench/bare-redis/run.sh --host 127.0.0.1 \
      --port "$port" --jwt-secret "$SECRET" --redis-url "redis://127.0.0.1:$redis_port" \
      --node-id "$node" --workers "$loops" >"$OUT/server-$name-$node.log" 2>&1 &
    pid=$!
    if [[ $node == a ]]; then SERVER_PID=$pid; else NODE2_PID=$pid; fi
    for _ in $(seq 1 150); do
      curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
      if ! kill -0 "$pid" 2>/dev/null; then
        log "the bare Redis relay exited at start; see $OUT/server-$name-$node.log"
        stop_two_nodes
        return 1
      fi
      sleep 0.2
    done
  done
  grep -q '^two-nodes server:' "$OUT/machine.txt" ||
    echo "two-nodes server: the bare Redis relay (bench/bare-redis)" >>"$OUT/machine.txt"
  URL2="ws://127.0.0.1:$PORT/ws,ws://127.0.0.1:$port2/ws"
}

stop_two_nodes() {
  kill "$NODE2_PID" 2>/dev/null || true
  wait "$NODE2_PID" 2>/dev/null || true
  stop_server
  kill "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
}

scenario_two_nodes() {
  local d w rc=0
  start_two_nodes "two-nodes" || rc=$?
  [[ $rc == 2 ]] && return 0
  [[ $rc != 0 ]] && return 1
  d=$(secs "$DURATION")
  w=$(secs "$WARMUP")
  # Node b's and Redis's CPU over the same window as node a's (the server of --server-pid).
  URL=$URL2 run two-nodes $((d + w + 300)) fanout --users "$USERS" --devices "$DEVICES" \
    --rate "$RATE" --payload "$PAYLOAD" --duration "$DURATION" --warmup "$WARMUP" \
    --tick "$TWO_NODES_TICK" --also-pid "b=$NODE2_PID" --also-pid "redis=$REDIS_PID" --drain-timeout 30s
  stop_two_nodes
  log "two-nodes: CPU per delivery a + b + Redis $(jget total_cpu_us_per_delivery "$RESULT") µs ($(jget server_cpu_us_per_delivery "$RESULT") / $(jget b_cpu_us_per_delivery "$RESULT") / $(jget redis_cpu_us_per_delivery "$RESULT")), p50 $(jget p50_ms "$RESULT") ms, load average $(jget load_average_start "$RESULT") -> $(jget load_average "$RESULT")"
  write_row "two nodes, Redis$([[ $TWO_NODES_SERVER == bare ]] && echo ', bare relay')" "$USERS x $DEVICES, $RATE writes/s (sent every $TWO_NODES_TICK), ${PAYLOAD} B, $DURATION (+$WARMUP warm-up); devices alternate nodes; --event-loops ${NODE_EVENT_LOOPS:-1} each"
}

handoff_row() {
  local name=$1 load=$2 f=$RESULT
  HANDOFF_ROWS+=("| $name | $load | $(jget connections "$f") | $(jget sent "$f") | $(jget winners "$f") | $(jget received "$f")/$(jget expected "$f") | $(jget lost "$f") / $(jget duplicated "$f") / $(jget errors "$f") | $(jget late_sends "$f") | $(jget p50_ms "$f") | $(jget p99_ms "$f") | $(jget max_ms "$f") | $(jget accept_p50_ms "$f") | $(jget accept_p99_ms "$f") | $(jget accept_max_ms "$f") | $(jget handoffs_per_s "$f") | $(cpu_cell "$f") | $(verdict) |")
}

handoff_run() {
  local name=$1
  run "$name" $(($(secs "$HANDOFF_DURATION") + $(secs "$HANDOFF_WARMUP") + 300)) handoff \
    --users "$HANDOFF_USERS" --devices "$HANDOFF_DEVICES" --rate "$HANDOFF_RATE" \
    --payload "$PAYLOAD" --duration "$HANDOFF_DURATION" --warmup "$HANDOFF_WARMUP"
}

scenario_handoff() {
  start_server handoff || return 1
  handoff_run handoff
  stop_server
  handoff_row "handoff, one node" "$HANDOFF_USERS x $HANDOFF_DEVICES, $HANDOFF_RATE offers/s, ${PAYLOAD} B, $HANDOFF_DURATION (+$HANDOFF_WARMUP warm-up)"
}

scenario_handoff_two_nodes() {
  local rc=0
  start_two_nodes "handoff-two-nodes" || rc=$?
  [[ $rc == 2 ]] && return 0
  [[ $rc != 0 ]] && return 1
  URL=$URL2 handoff_run handoff-two-nodes
  stop_two_nodes
  handoff_row "handoff, two nodes, Redis" "$HANDOFF_USERS x $HANDOFF_DEVICES, $HANDOFF_RATE offers/s, ${PAYLOAD} B, $HANDOFF_DURATION (+$HANDOFF_WARMUP warm-up); devices alternate nodes"
}

main() {
  local scenarios=("$@")
  [[ ${#scenarios[@]} -eq 0 ]] && scenarios=(fanout capacity idle reconnect storm two-nodes handoff handoff-two-nodes)
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  mkdir -p "$OUT"
  build_if_needed
  machine
  for s in "${scenarios[@]}"; do
    case $s in
      fanout | capacity | idle | reconnect | storm) "scenario_$s" || log "$s could not run" ;;
      two-nodes) scenario_two_nodes || log "two-nodes could not run" ;;
      handoff) scenario_handoff || log "handoff could not run" ;;
      handoff-two-nodes) scenario_handoff_two_nodes || log "handoff-two-nodes could not run" ;;
      *) echo "unknown scenario: $s (fanout capacity idle reconnect storm two-nodes handoff handoff-two-nodes)" >&2; exit 2 ;;
    esac
  done

  echo
  echo "Machine:"
  sed 's/^/    /' "$OUT/machine.txt"
  echo "Results: $OUT"
  echo "cpu: percent of one core used while measuring by the server / the load tester / interrupts and"
  echo "softirqs as the tick sampled them (mostly inside the two processes' own figures) / the machine less"
  echo "the two processes and steal (other work disturbing the run; on two nodes, node b and Redis too)"
  if [[ ${#WRITE_ROWS[@]} -gt 0 ]]; then
    echo
    echo "| run | load | conn | sent | delivered/expected | lost / dup / reord / err | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | deliveries/s | cpu % srv / lt / sirq / other | result |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${WRITE_ROWS[@]}"
  fi
  if [[ ${#CAPACITY_ROWS[@]} -gt 0 ]]; then
    echo
    echo "Capacity, $CAPACITY_USERS x $CAPACITY_DEVICES, ${PAYLOAD} B, $CAPACITY_DURATION per rate (+$CAPACITY_WARMUP warm-up); pass: nothing lost and p99 < $CAPACITY_P99_MS ms"
    echo
    echo "| writes/s | deliveries/s | lost / dup / reord / err | p50 ms | p99 ms | p99.9 ms | max ms | cpu % srv / lt / sirq / other | |"
    echo "|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${CAPACITY_ROWS[@]}"
  fi
  if [[ ${#IDLE_ROWS[@]} -gt 0 ]]; then
    echo
    echo "| idle connections | held | connected / held throughout | server heap B/conn | server RSS B/conn | load-tester heap B/conn | connect p99 ms | result |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${IDLE_ROWS[@]}"
  fi
  if [[ ${#RECONNECT_ROWS[@]} -gt 0 ]]; then
    echo
    echo "| run | load | conn | sent | lost / dup / reord / err | unconverged | cut | resumes | resume p50 ms | resume p99 ms | storm cut | storm: all resumed ms | p99 ms | result |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${RECONNECT_ROWS[@]}"
  fi
  if [[ ${#HANDOFF_ROWS[@]} -gt 0 ]]; then
    echo
    echo "prompt: offer-to-prompt (intended send to each target's prompt); grant: accept-to-OfferGranted"
    echo
    echo "| run | load | conn | offers sent | winners | prompts/expected | lost / dup / err | late sends | prompt p50 ms | prompt p99 ms | prompt max ms | grant p50 ms | grant p99 ms | grant max ms | handoffs/s | cpu % srv / lt / sirq / other | result |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${HANDOFF_ROWS[@]}"
  fi
  for s in "${SKIPPED[@]}"; do
    echo
    echo "$s"
  done
}

main "$@"
