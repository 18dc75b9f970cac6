#!/usr/bin/env python3
"""What HotSpot's JIT did around a moment of a run, from its LogCompilation file.

Usage: jit_log.py LOG                 uncommon traps per second of JVM uptime (find the storm's cut)
       jit_log.py LOG T0 T1 [N]       the traps between T0 and T1 (s), then the compilations started
                                      between them: time per tier and the N (25) longest
Make the log with the server's JVM options `-XX:+UnlockDiagnosticVMOptions -XX:+LogCompilation
-XX:LogFile=FILE` (e.g. SERVER_JAVA_OPTS="-XX:+UseZGC -Xms2g -Xmx2g -XX:+UnlockDiagnosticVMOptions
-XX:+LogCompilation -XX:LogFile=/tmp/jit.log" STORM_DEVICES=10000 bench/run.sh storm); the JVM
writes it out when it exits. Stamps are seconds since the JVM started. A trap's line names the
method and bytecode where it fired and, after '<-', the compiled method it was inlined into: that
whole compiled method goes back to the interpreter ('reinterpret') or is recompiled. A compile's
time is wall time on its compiler thread, which on a busy machine includes waiting for a core.
"""
import collections
import re
import sys

TRAP = re.compile(
    r"<uncommon_trap thread='\d+' reason='([^']*)' action='([^']*)'[^>]*stamp='([\d.]+)'[^>]*>"
    r"(.*?)</uncommon_trap>", re.S)
TASK = re.compile(r"<task ([^>]*)>.*?<task_done ([^>]*)/>", re.S)
JVMS = re.compile(r"<jvms bci='(\d+)' method='([^']*)'")


def attr(text, name):
    m = re.search(name + r"='([^']*)'", text)
    return m.group(1) if m else ''


def method(raw):
    # 'io/netty/Foo bar (I)V' -> 'io.netty.Foo.bar'
    parts = raw.split(' ')
    return parts[0].replace('/', '.') + ('.' + parts[1] if len(parts) > 1 else '')


def main():
    text = open(sys.argv[1], errors='replace').read()
    window = (float(sys.argv[2]), float(sys.argv[3])) if len(sys.argv) > 3 else None
    longest = int(sys.argv[4]) if len(sys.argv) > 4 else 25
    per_second = collections.Counter()
    traps = []
    for m in TRAP.finditer(text):
        reason, action, stamp, body = m.groups()
        stamp = float(stamp)
        per_second[int(stamp)] += 1
        frames = JVMS.findall(body)
        if window and window[0] <= stamp <= window[1] and frames:
            inner, outer = frames[0], frames[-1]
            traps.append('%.3f %s %s %s bci %s <- %s' % (
                stamp, reason, action, method(inner[1]), inner[0], method(outer[1])))
    if not window:
        print('uncommon traps per second of uptime:')
        for second, count in sorted(per_second.items()):
            print('  %4d s  %d' % (second, count))
        return
    print('uncommon traps from %.3f to %.3f s:' % window)
    for line in traps:
        print('  ' + line)
    per_tier = collections.Counter()
    count = collections.Counter()
    tasks = []
    for m in TASK.finditer(text):
        start, done = m.groups()
        begun = float(attr(start, 'stamp'))
        if not window[0] <= begun <= window[1]:
            continue
        tier = (attr(start, 'level') or '4') + (' osr' if attr(start, 'compile_kind') == 'osr' else '')
        took = float(attr(done, 'stamp')) - begun
        per_tier[tier] += took
        count[tier] += 1
        tasks.append((took, begun, tier, method(attr(start, 'method'))))
    print('compilations started in the window, per tier:')
    for tier in sorted(per_tier):
        print('  tier %-6s %4d compilations  %.3f s' % (tier, count[tier], per_tier[tier]))
    print('the longest:')
    for took, begun, tier, name in sorted(tasks, reverse=True)[:longest]:
        print('  %.3f s from %.3f  tier %s  %s' % (took, begun, tier, name))


if __name__ == '__main__':
    main()
