#!/usr/bin/env python3
"""Samples a two-node run once a second while its Redis lives, for redis_costs.py.

Usage: probe.py REDIS_PORT NODE_PORT_A NODE_PORT_B OUT.jsonl
Started beside `bench/run.sh two-nodes` (ports 18082 18080 18081) or `bench/socketio/run.sh`
(18182 18180 18181). Each line: Redis's and each node's user/system CPU ticks and read/write system
calls (/proc/PID/stat, /proc/PID/io), and Redis's INFO (publish and EVALSHA calls, commands, bytes).
"""
import os, socket, subprocess, sys, time, json
rport, pa, pb, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def pid_of(pattern):
    r = subprocess.run(['pgrep', '-f', '--', pattern], capture_output=True, text=True).stdout.split()
    return int(r[0]) if r else None
def proc(pid):
    try:
        st = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
        io = dict(l.split(': ') for l in open(f'/proc/{pid}/io').read().split('\n') if l)
        return {'ut': int(st[11]), 'st': int(st[12]), 'r': int(io['syscr']), 'w': int(io['syscw'])}
    except Exception:
        return None
def info(port):
    try:
        s = socket.create_connection(('127.0.0.1', int(port)), timeout=1)
        s.sendall(b'*2\r\n$4\r\nINFO\r\n$3\r\nall\r\n')
        data = b''
        while True:
            c = s.recv(1 << 20)
            if not c: break
            data += c
            if data.count(b'\r\n') > 5 and data.endswith(b'\r\n\r\n') or data.endswith(b'\r\n') and len(data) > 200 and b'# Keyspace' in data: break
        s.close()
        d = {}
        for l in data.decode(errors='replace').split('\r\n'):
            if l.startswith('cmdstat_publish:'):
                d['pub'] = int(l.split('calls=')[1].split(',')[0])
            elif l.startswith('cmdstat_evalsha:'):
                d['eval'] = int(l.split('calls=')[1].split(',')[0])
            elif ':' in l:
                k, v = l.split(':', 1)
                if k in ('total_net_input_bytes', 'total_net_output_bytes', 'total_commands_processed', 'connected_clients'):
                    d[k] = int(v)
        return d
    except Exception:
        return None
f = open(out, 'w')
rp = None
t0 = time.time()
while rp is None and time.time() - t0 < 120:
    rp = pid_of(f'redis-server.*{rport}'); time.sleep(0.5)
seen = False
while True:
    if not os.path.exists(f'/proc/{rp}'): break
    na = pid_of(f'--port {pa}') ; nb = pid_of(f'--port {pb}')
    row = {'t': time.time(), 'redis': proc(rp), 'a': proc(na) if na else None, 'b': proc(nb) if nb else None, 'info': info(rport)}
    f.write(json.dumps(row) + '\n'); f.flush()
    time.sleep(1)
