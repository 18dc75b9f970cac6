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
# linux-x64), cached under ~/.cache/handoff-bench. It is loaded into both JVMs with `jcmd
# JVMTI.agent_load` when the load tester prints the cut, about half a second late, and stopped when
# it prints that every device resumed. Sampling is by CPU time (perf events, or timers when the
# kernel refuses them), every millisecond.
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

# jcmd's argument parser splits at '=' unless the agent's options are quoted for it.
agent() { jcmd "$1" JVMTI.agent_load "$LIB" "\"$2\"" >/dev/null; }
java_pid() { pgrep -f "^java .*$1" | head -1; }

watch_storm() {
  local log=$OUT/storm.log server tester
  until grep -q "storm: cut" "$log" 2>/dev/null; do sleep 0.02; done
  server=$(java_pid handoff-server.jar)
  tester=$(java_pid handoff-loadtest.jar)
  agent "$server" "start,event=cpu,interval=1ms" &
  agent "$tester" "start,event=cpu,interval=1ms" &
  wait
  until grep -q "every device resumed" "$log" 2>/dev/null; do sleep 0.02; done
  agent "$server" "stop,file=$OUT/server.collapsed,collapsed" &
  agent "$tester" "stop,file=$OUT/loadtest.collapsed,collapsed" &
  wait
}

watch_storm &
WATCHER=$!
trap 'kill $WATCHER 2>/dev/null || true' EXIT
OUT=$OUT bench/run.sh storm
wait $WATCHER || true
ls -l "$OUT"/*.collapsed
