#!/usr/bin/env bash
# Server CPU per delivery as a ratio to the measuring sticks: runs the same `fanout` load against
# Handoff and against the bare Netty forwarder (bench/netty-bare), interleaved
# (handoff, bare, handoff, bare, ...), and prints per run and as medians: server CPU µs per delivery,
# load-tester CPU µs per delivery, p99, nothing lost, and the load average before and after each run.
#
#   bench/compare.sh                 # RATES="2000 6000", REPEAT=3
#
# Environment, with defaults:
#   USERS=1000 DEVICES=3 PAYLOAD=256 DURATION=30s WARMUP=60s RATES="2000 6000" REPEAT=3
#                                    (60 s of load before the measured window: on 2 busy cores the JIT
#                                    is still compiling the server's hot path a minute in, and with a
#                                    10 s warm-up its compiling was charged to delivery; see BENCHMARKS.md)
#   TARGETS="handoff bare"           what to run each round; also "baseline" (BASELINE_JAR, an older
#                                    server jar, for before/after comparisons of one change), and
#                                    handoff@epoll, handoff@io_uring, handoff@nio (the server with that
#                                    --io-transport; plain "handoff" takes the server's default, auto),
#                                    handoff#N (the server with --event-loops N),
#                                    and "loadtest-baseline" (this server, driven by BASELINE_LOADTEST_JAR,
#                                    an older load tester: the load tester's own before/after)
#   BARE_DIR=bench/netty-bare
#   SERVER_JAR=server/target/handoff-server.jar LOADTEST_JAR=loadtest/target/handoff-loadtest.jar
#   SERVER_JAVA_OPTS=                the JVMs' defaults unless set; the same options for every target
#   LOADTEST_JAVA_OPTS=
#   LOADTEST_ARGS=                   more load-tester options, the same for every target (e.g.
#                                    "--connect-concurrency 32" on a loaded machine, where 256 handshakes
#                                    at once can miss the server's 10 s limit from accept to Hello)
# Every run is bounded (inside `timeout`) and talks to 127.0.0.1 only. Results (JSON line and log of
# each run, and the summary) go to $OUT (default bench/results/compare-<UTC time>/).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000}
DEVICES=${DEVICES:-3}
PAYLOAD=${PAYLOAD:-256}
DURATION=${DURATION:-30s}
WARMUP=${WARMUP:-60s}
RATES=${RATES:-2000 6000}
REPEAT=${REPEAT:-3}
TARGETS=${TARGETS:-handoff bare}
BARE_DIR=${BARE_DIR:-bench/netty-bare}
SERVER_JAR=${SERVER_JAR:-server/target/handoff-server.jar}
LOADTEST_JAR=${LOADTEST_JAR:-loadtest/target/handoff-loadtest.jar}
BASELINE_JAR=${BASELINE_JAR:-}
BASELINE_LOADTEST_JAR=${BASELINE_LOADTEST_JAR:-}
SERVER_JAVA_OPTS=${SERVER_JAVA_OPTS:-}
LOADTEST_JAVA_OPTS=${LOADTEST_JAVA_OPTS:-}
LOADTEST_ARGS=${LOADTEST_ARGS:-}
PORT=${PORT:-18080}
OUT=${OUT:-bench/results/compare-$(date -u +%Y%m%dT%H%M%SZ)}
SECRET="bench-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
URL="ws://127.0.0.1:$PORT/ws"
PID=

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
secs() { local v=$1; case $v in *m) echo $((${v%m} * 60)) ;; *s) echo "${v%s}" ;; *) echo "$v" ;; esac; }

[[ -f $SERVER_JAR && -f $LOADTEST_JAR ]] || ./mvnw -B -q -DskipTests package
[[ -x $BARE_DIR/run.sh ]] || { echo "no bare forwarder at $BARE_DIR (set BARE_DIR)" >&2; exit 2; }
if [[ " $TARGETS " == *" baseline "* && ! -f $BASELINE_JAR ]]; then
  echo "TARGETS names baseline: set BASELINE_JAR to the older server jar" >&2
  exit 2
fi
if [[ " $TARGETS " == *" loadtest-baseline "* && ! -f $BASELINE_LOADTEST_JAR ]]; then
  echo "TARGETS names loadtest-baseline: set BASELINE_LOADTEST_JAR to the older load tester's jar" >&2
  exit 2
fi
mkdir -p "$OUT"

stop() {
  if [[ -n $PID ]]; then
    kill "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
  fi
}
trap stop EXIT

# start TARGET NAME: starts one server on $PORT and waits until it accepts connections.
start() {
  local target=$1 name=$2
  case $target in
    handoff | handoff@* | handoff#* | baseline | loadtest-baseline)
      local jar=$SERVER_JAR io=()
      [[ $target == baseline ]] && jar=$BASELINE_JAR
      [[ $target == handoff@* ]] && io=(--io-transport "${target#handoff@}")
      [[ $target == handoff#* ]] && io=(--event-loops "${target#handoff#}")
      # shellcheck disable=SC2086
      java $SERVER_JAVA_OPTS -jar "$jar" --host 127.0.0.1 --port "$PORT" --jwt-secret "$SECRET" \
        --connect-rate 0 "${io[@]}" >"$OUT/$name.server.log" 2>&1 &
      ;;
    bare)
      BARE_JAVA_OPTS=$SERVER_JAVA_OPTS "$BARE_DIR/run.sh" --port "$PORT" --jwt-secret "$SECRET" \
        >"$OUT/$name.server.log" 2>&1 &
      ;;
  esac
  PID=$!
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      return 0
    fi
    kill -0 "$PID" 2>/dev/null || { log "$name: the server exited at start ($OUT/$name.server.log)"; PID=; return 1; }
    sleep 0.2
  done
  log "$name: the server did not listen within 30 s"
  stop
  return 1
}

# damon_state (bench/lib.sh): whether the kernel's page-access sampler runs (see BENCHMARKS.md).
# shellcheck source=bench/lib.sh
source bench/lib.sh
log "DAMON monitors: $(damon_state); load average $(cut -d' ' -f1-3 /proc/loadavg)"
limit=$(($(secs "$WARMUP") + $(secs "$DURATION") + 120))
for rate in $RATES; do
  for i in $(seq 1 "$REPEAT"); do
    for target in $TARGETS; do
      name="$target-$rate-$i"
      start "$target" "$name" || continue
      # The bare forwarder is started through its script: measure the JVM, not the shell.
      jpid=$(pgrep -P "$PID" java || echo "$PID")
      before=$(cut -d' ' -f1-3 /proc/loadavg)
      ltjar=$LOADTEST_JAR
      [[ $target == loadtest-baseline ]] && ltjar=$BASELINE_LOADTEST_JAR
      set +e
      # shellcheck disable=SC2086
      timeout --kill-after=15 "$limit" java $LOADTEST_JAVA_OPTS -jar "$ltjar" fanout \
        --url "$URL" --jwt-secret "$SECRET" --server-pid "$jpid" --json \
        --users "$USERS" --devices "$DEVICES" --rate "$rate" --payload "$PAYLOAD" \
        --duration "$DURATION" --warmup "$WARMUP" $LOADTEST_ARGS >"$OUT/$name.out" 2>"$OUT/$name.log"
      rc=$?
      set -e
      after=$(cut -d' ' -f1-3 /proc/loadavg)
      stop
      line=$(tail -n 1 "$OUT/$name.out")
      [[ $line == '{'* ]] || line='{}'
      jq -c --arg t "$target" --argjson rate "$rate" --argjson run "$i" --argjson rc "$rc" \
        --arg before "$before" --arg after "$after" \
        '. + {target: $t, rate: $rate, run: $run, exit: $rc, loadavg_before: $before, loadavg_after: $after}' \
        <<<"$line" >"$OUT/$name.json"
      log "$name: exit $rc, p99 $(jq -r '.p99_ms // "?"' "$OUT/$name.json") ms, server cpu $(jq -r '.cpu_server_pct // "?"' "$OUT/$name.json") %, load $before -> $after"
    done
  done
done

# µs of CPU per delivery = (percent of one core / 100) / deliveries per second * 1e6
jq -s -r '
  def us(p): if (p // -1) >= 0 and (.delivered_per_s // 0) > 0 then (p / 100 / .delivered_per_s * 1e6 * 10 | round / 10) else null end;
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  map(. + {server_us: us(.cpu_server_pct), loadtest_us: us(.cpu_loadtest_pct)}) as $runs
  | "| target | writes/s | run | server µs/delivery | load tester µs/delivery | p99 ms | received/expected | lost/dup/reord | load avg before -> after |",
    "|---|---|---|---|---|---|---|---|---|",
    ($runs[] | "| \(.target) | \(.rate) | \(.run) | \(.server_us) | \(.loadtest_us) | \(.p99_ms) | \(.received)/\(.expected) | \(.lost)/\(.duplicated)/\(.reordered) | \(.loadavg_before) -> \(.loadavg_after) |"),
    "",
    "| writes/s | target | median server µs/delivery | median load tester µs/delivery | median p99 ms | server ratio to bare |",
    "|---|---|---|---|---|---|",
    ($runs | group_by(.rate)[] | . as $r
      | ($r | map(select(.target == "bare") | .server_us) | map(select(. != null)) | median) as $bare
      | ($r | group_by(.target)[]
        | (map(.server_us) | map(select(. != null)) | median) as $s
        | "| \(.[0].rate) | \(.[0].target) | \($s) | \(map(.loadtest_us) | map(select(. != null)) | median) | \(map(.p99_ms) | map(select(. != null)) | median) | \(if $bare and $s then ($s / $bare * 100 | round / 100) else "-" end) |"))
' "$OUT"/*.json | tee "$OUT/summary.md"
