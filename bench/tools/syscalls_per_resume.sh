#!/usr/bin/env bash
# Counts the system calls the server and the load tester make per resume, with strace, during a steady
# `reconnect` run: how many sends, receives and wake-ups one reconnect costs each side.
#
#   SERVER_JAR=... LOADTEST_JAR=... bench/tools/syscalls_per_resume.sh [name] [port]
#
# Starts the server as bench/run.sh does (ZGC, here a 1 GB heap), runs `reconnect` (300 users x 3 devices,
# 100 writes/s, 200 cuts/s, 10 s of warm-up, 20 s measured), attaches `strace -c -f` to both processes for
# 20 s from 16 s after the start, and prints, per resume (per accept4 on the server, per connect on the
# load tester), the calls that differ between runs: sends, receives, epoll waits and changes. strace slows
# both processes a great deal: the counts are what to read, never the times. Needs strace; stops by itself.
set -euo pipefail

name=${1:-run}
port=${2:-18801}
SERVER_JAR=${SERVER_JAR:-server/target/handoff-server.jar}
LOADTEST_JAR=${LOADTEST_JAR:-loadtest/target/handoff-loadtest.jar}
out=${OUT:-bench/results/syscalls-$name}
mkdir -p "$out"
secret="bench-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

java -XX:+UseZGC -Xms1g -Xmx1g -jar "$SERVER_JAR" --host 127.0.0.1 --port "$port" \
  --jwt-secret "$secret" --connect-rate 0 >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
  sleep 0.5
done
timeout 120 java -Xms1g -Xmx1g -jar "$LOADTEST_JAR" reconnect --url "ws://127.0.0.1:$port/ws" \
  --jwt-secret "$secret" --server-pid "$server" --json --users 300 --devices 3 --rate 100 \
  --drop-rate 200 --duration 20s --warmup 10s --drain-timeout 30s >"$out/loadtest.out" 2>"$out/loadtest.log" &
tester=$!
sleep 16
java_pid=$(pgrep -P "$tester" java || true) # The JVM under `timeout`, not `timeout` itself.
timeout 20 strace -c -f -p "$server" -o "$out/server.strace" 2>/dev/null &
timeout 20 strace -c -f -p "${java_pid:-$tester}" -o "$out/loadtest.strace" 2>/dev/null &
wait "$tester" || true
sleep 1

python3 - "$out" <<'PY'
import sys
out = sys.argv[1]
def counts(path):
    d = {}
    for line in open(path).read().splitlines()[2:]:
        p = line.split()
        if len(p) >= 5 and p[-1] != "total" and p[3].isdigit():
            d[p[-1]] = int(p[3])
    return d
for side, per in (("server", "accept4"), ("loadtest", "connect")):
    c = counts(f"{out}/{side}.strace")
    n = c.get(per, 0)
    if n == 0:
        print(f"{side}: no {per} seen")
        continue
    sends = c.get("sendto", 0) + c.get("writev", 0) + c.get("sendmsg", 0)
    recvs = c.get("recvfrom", 0) + c.get("readv", 0) + c.get("recvmsg", 0)
    waits = c.get("epoll_pwait2", 0) + c.get("epoll_wait", 0) + c.get("epoll_pwait", 0)
    print(f"{side}: {n} resumes; per resume: sends {sends / n:.2f}, receives {recvs / n:.2f}, "
          f"epoll waits {waits / n:.2f}, epoll_ctl {c.get('epoll_ctl', 0) / n:.2f}")
PY
