#!/usr/bin/env python3
"""Loads a JVMTI agent into a running HotSpot JVM over its attach socket, in milliseconds.

    attach.py PID ready              start the JVM's attach listener now (do this ahead of time)
    attach.py PID load LIB OPTIONS   load the agent LIB (absolute path) with OPTIONS

`jcmd PID JVMTI.agent_load` does the same, but starts a JVM of its own first: about half a second of
two busy cores, which is why a profiler loaded that way at a storm's cut missed most of the storm.
This speaks HotSpot's attach protocol (the one `jcmd` uses on Linux) directly: a request is the
protocol version "1", the command and three arguments, each ended by a NUL; the answer is a status
line ("0" for success) and the command's output. The listener is started by creating
.attach_pid<PID> and sending SIGQUIT; once started it stays up, so `ready` during a warm-up leaves
only a socket write for the moment that matters. Same user and same /tmp as the JVM only.
"""
import os
import signal
import socket
import sys
import time


def socket_path(pid):
    return f"/tmp/.java_pid{pid}"


def ready(pid, timeout=10.0):
    path = socket_path(pid)
    if os.path.exists(path):
        return path
    trigger = f"/proc/{pid}/cwd/.attach_pid{pid}"
    try:
        open(trigger, "w").close()
    except OSError:
        trigger = f"/tmp/.attach_pid{pid}"
        open(trigger, "w").close()
    try:
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                sys.exit(f"attach.py: no attach socket from {pid} after {timeout} s")
            time.sleep(0.01)
    finally:
        try:
            os.remove(trigger)
        except OSError:
            pass
    return path


def request(pid, command, *args):
    args = (list(args) + ["", "", ""])[:3]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(ready(pid))
    s.sendall(b"1\0" + command.encode() + b"\0" + b"".join(a.encode() + b"\0" for a in args))
    answer = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        answer += chunk
    s.close()
    status, _, output = answer.decode(errors="replace").partition("\n")
    return status.strip(), output


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pid = int(sys.argv[1])
    if sys.argv[2] == "ready":
        ready(pid)
    elif sys.argv[2] == "load" and len(sys.argv) == 5:
        status, output = request(pid, "load", sys.argv[3], "true", sys.argv[4])
        # A JVM answers "0" and then the agent's own return code ("return code: 0" on 17).
        if status != "0" or (output.strip() and output.strip() not in ("0", "return code: 0")):
            sys.exit(f"attach.py: loading into {pid} answered {status}: {output.strip()}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
