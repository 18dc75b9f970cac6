#!/usr/bin/env python3
"""Redis's own CPU per call of a script shaped like write.lua's calls in the two-node benchmark.

Usage: script_lab.py PORT SCRIPT N [BATCH]
Against a Redis of its own on PORT (this FLUSHALLs it): loads SCRIPT, makes N calls warm, then N
measured, pipelined BATCH (20) at a time, each with write.lua's 8 keys and arguments for one of
1,000 users x 3 devices, document doc0, one 256 B field; prints Redis's user and system CPU per
measured call (/proc/PID/stat). To weigh a change to the script, run both versions alternately.
"""
import os, random, socket, sys, time, subprocess
port, script, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
batch = int(sys.argv[4]) if len(sys.argv) > 4 else 20
s = socket.create_connection(('127.0.0.1', port))
def enc(args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        if isinstance(a, str): a = a.encode()
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)
buf = b''
def read_replies(k):
    global buf
    got = 0
    # count top-level replies crudely: each reply of ours is an array or error; parse properly
    def parse(i):
        t = buf[i:i+1]
        j = buf.index(b'\r\n', i)
        if t in (b'+', b'-', b':'): return j + 2
        if t == b'$':
            l = int(buf[i+1:j]);  return j + 2 if l < 0 else j + 2 + l + 2
        if t == b'*':
            c = int(buf[i+1:j]); p = j + 2
            for _ in range(c): p = parse(p)
            return p
        raise ValueError(buf[i:i+50])
    while got < k:
        try:
            p = parse(0)
            if buf[0:1] == b'-': print('ERR', buf[:200]); sys.exit(1)
            buf = buf[p:]; got += 1
        except (ValueError, IndexError):
            buf += s.recv(1 << 20)
src = open(script, 'rb').read()
s.sendall(enc(['FLUSHALL']))
while not buf.endswith(b'\r\n'): buf += s.recv(4096)
buf = b''
s.sendall(enc(['SCRIPT', 'LOAD', src])); 
while b'\r\n' not in buf[45:] and len(buf) < 45: buf += s.recv(4096)
line = buf.split(b'\r\n')[1]; sha = line.decode(); buf = b''
pid = int(subprocess.run(['pgrep', '-f', f'redis-server.*{port}'], capture_output=True, text=True).stdout.split()[0])
def cpu():
    st = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return int(st[11]), int(st[12])
random.seed(1)
seqs = {}
value = bytes(random.getrandbits(8) for _ in range(256))
delta = bytes(random.getrandbits(8) for _ in range(300))
limits = ['100', '1000', str(1 << 20), '100', '1000', '604800']
def call(u, d):
    key = seqs.get((u, d), 0) + 1; seqs[(u, d)] = key
    base = 'h:{u%d}:' % u
    keys = [base + 'm:doc0', base + 'f:doc0', base + 'h:doc0', base + 'docs', base + 's:d%d' % d, base + 'o:d%d' % d, base + 'ch', base + 'wd']
    argv = ['doc0', str(key), '-1', delta, b'\1\2\3\4\5\6\7\x08'] + limits + ['d%d' % d, str(int(time.time())), 's', 'p', value]
    return enc(['EVALSHA', sha, '8'] + keys + argv)
def run(count):
    done = 0
    while done < count:
        k = min(batch, count - done)
        s.sendall(b''.join(call(random.randrange(1000), random.randrange(3)) for _ in range(k)))
        read_replies(k); done += k
run(min(n, 20000))  # warm: create keys
u0, s0 = cpu(); t0 = time.time()
run(n)
u1, s1 = cpu()
print(f"{os.path.basename(script)}: {n} calls in {time.time()-t0:.1f}s, Redis user {(u1-u0)*1e4/n:.1f} sys {(s1-s0)*1e4/n:.1f} µs/call")
