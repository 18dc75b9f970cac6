#!/usr/bin/env python3
"""Per write, over 15 s of a probed run's measured window: Redis's CPU and system calls, and the nodes'.

Usage: redis_costs.py OUT.jsonl...   (files written by probe.py)
The window ends 3 s before the last second in which Redis saw more than 500 publishes.
"""
import json, sys
for path in sys.argv[1:]:
    rows = [json.loads(l) for l in open(path) if l.strip()]
    rows = [r for r in rows if r['info'] and 'pub' in r['info'] and r['redis']]
    # last sample index where publishing still ran
    idx = [i for i in range(1, len(rows)) if rows[i]['info']['pub'] - rows[i-1]['info']['pub'] > 500]
    if not idx: print(path, 'no load'); continue
    end = idx[-1] - 3; start = end - 15
    a, b = rows[start], rows[end]
    w = b['info']['pub'] - a['info']['pub']
    def per(k, sub, scale=1.0):
        return (b[k][sub] - a[k][sub]) * scale / w
    out = [f"{path.split('/')[-1]}: writes {w/(b['t']-a['t']):.0f}/s"]
    for k in ('redis', 'a', 'b'):
        if a.get(k) and b.get(k):
            out.append(f"{k}: usr {per(k,'ut',1e4):.1f} sys {per(k,'st',1e4):.1f} µs/write, rd {per(k,'r'):.2f} wr {per(k,'w'):.2f}")
    i = 'info'
    out.append(f"cmds/write {(b[i]['total_commands_processed']-a[i]['total_commands_processed'])/w:.2f} in {(b[i]['total_net_input_bytes']-a[i]['total_net_input_bytes'])/w:.0f} B out {(b[i]['total_net_output_bytes']-a[i]['total_net_output_bytes'])/w:.0f} B clients {b[i]['connected_clients']}")
    print(' | '.join(out))
