#!/usr/bin/env bash
# One standard storm (`bench/run.sh storm`), with async-profiler sampling the server's and the load
# tester's CPU from the cut until every device resumed, and nothing before or after:
#
#   bench/tools/storm_profile.sh [OUT]
#
# Leaves server.collapsed and loadtest.collapsed (one stack per line, then its sample count; read
# them with any flame-graph tool, or grep and sort) beside the storm's own files in OUT (default
# bench/results/storm-profile-<UTC time>). The environment of bench/run.sh applies (SERVER_JAR,
# STORM_WARMUP, ...). async-profiler comes from Maven Central (tools.profiler:async-profiler 3.0,
# linux-x64), cached under ~/.cache/handoff-bench. Both profilers are loaded and started a few
# seconds before the cut (over the JVMs' attach sockets, bench/tools/attach.py) and record JFR:
# loading and starting one takes a second or more on a busy machine, too late if done at the cut
# (an earlier version did, with jcmd, and caught 127 samples of a 2 s storm). The watcher notes when
# the load tester prints the cut and when it prints that every device resumed, and the samples
# between those instants are cut out of the recordings (bench/tools/JfrSlice.java). Sampling is by
# CPU time (perf events, or timers when the kernel refuses them), every millisecond.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-bench/results/storm-profile-$(date -u +%Y%m%dT%H%M%SZ)}
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
CACHE=${HOME}/.cache/handoff-bench
LIB=$CACHE/linux-x64/libasyncProfiler.so
if [[ ! -f $LIB ]]; then
  mkdir -p "$CACHE"
  curl -fsSL -o "$CACHE/async-profiler.jar" \
    https://repo1.maven.org/maven2/tools/profiler/async-profiler/3.0/async-profiler-3.0-linux-x64.jar
  (cd "$CACHE" && unzip -o -q async-profiler.jar linux-x64/libasyncProfiler.so)
fi

ATTACH=$(pwd)/bench/tools/attach.py
agent() { python3 "$ATTACH" "$1" load "$LIB" "$2"; }
java_pid() { pgrep -f "^java .*$1" | head -1; }
secs() { local v=$1; case $v in *m) echo $((${v%m} * 60)) ;; *s) echo "${v%s}" ;; *) echo "$v" ;; esac; }
# The load tester cuts at the warm-up plus half the duration (bench/run.sh's defaults unless set).
STORM_AT=$(($(secs "${STORM_WARMUP:-60s}") + $(secs "${STORM_DURATION:-30s}") / 2))
now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }

watch_storm() {
  local log=$OUT/storm.log server= tester= cut resumed
  until [[ -n $server && -n $tester ]]; do
    sleep 0.2
    server=$(java_pid handoff-server.jar || true)
    tester=$(java_pid handoff-loadtest.jar || true)
  done
  # Both profilers run from a few seconds before the cut (loading and starting one takes a second
  # or more on a busy machine, too late if started at the cut) and record into JFR, whose samples
  # carry their time; the storm's window is cut out of them afterwards.
  until awk -v at=$((STORM_AT - 4)) '$1 ~ /^[0-9.]+s$/ && $1 + 0 >= at { f = 1 } END { exit !f }' \
    "$log" 2>/dev/null; do sleep 0.1; done
  agent "$server" "start,event=cpu,interval=1ms,jfr,file=$OUT/server.jfr" &
  agent "$tester" "start,event=cpu,interval=1ms,jfr,file=$OUT/loadtest.jfr" &
  wait
  until grep -q "storm: cut" "$log" 2>/dev/null; do sleep 0.002; done
  cut=$(now)
  until grep -q "every device resumed" "$log" 2>/dev/null; do sleep 0.002; done
  resumed=$(now)
  agent "$server" "stop" &
  agent "$tester" "stop" &
  wait
  echo "storm window: $cut to $resumed" >&2
  java bench/tools/JfrSlice.java "$OUT/server.jfr" "$cut" "$resumed" >"$OUT/server.collapsed"
  java bench/tools/JfrSlice.java "$OUT/loadtest.jfr" "$cut" "$resumed" >"$OUT/loadtest.collapsed"
}

watch_storm &
WATCHER=$!
trap 'kill $WATCHER 2>/dev/null || true' EXIT
OUT=$OUT bench/run.sh storm
wait $WATCHER || true
ls -l "$OUT"/*.collapsed
