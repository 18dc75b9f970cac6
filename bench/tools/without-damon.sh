#!/usr/bin/env bash
# Runs a command with the kernel's DAMON monitors paused, and starts them again afterwards.
#
#   bench/tools/without-damon.sh bench/run.sh two-nodes
#
# Some virtual machines (this project's benchmark VM among them) run a DAMON "pageout" scheme
# (/sys/kernel/mm/damon/admin/kdamonds/*) so the host can take back memory the guest does not use.
# It samples page accesses every 500 ms; while it ran, the two-node benchmark's deliveries stalled for
# 10-30 ms about every 540 ms, which set p99 for Handoff and Socket.IO alike (BENCHMARKS.md).
# Pausing it for a run is like fixing the CPU governor: the machine stops doing unrelated work, and the
# run measures the servers. It needs root; without DAMON (or without root) the command just runs, and
# the line printed first says which.
set -uo pipefail

paused=()
resume() {
  local k
  for k in "${paused[@]}"; do
    echo on >"$k/state" 2>/dev/null || echo "without-damon: could not start $k again" >&2
  done
}
trap resume EXIT

for k in /sys/kernel/mm/damon/admin/kdamonds/[0-9]*; do
  [[ -f $k/state && $(cat "$k/state" 2>/dev/null) == on ]] || continue
  if echo off >"$k/state" 2>/dev/null; then
    paused+=("$k")
  else
    echo "without-damon: could not pause $k (root needed); running with it" >&2
  fi
done
echo "without-damon: paused ${#paused[@]} DAMON monitor(s)" >&2
"$@"
