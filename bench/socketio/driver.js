'use strict';
// The load driver of the Socket.IO two-node comparison (see README.md beside this file): the load of
// `bench/run.sh two-nodes`, against Socket.IO nodes started by run.sh. Prints progress to stderr and
// one JSON line to stdout, with the key names of Handoff's load tester where they mean the same thing.
// Exits 0 when every device connected and every write was acked and delivered exactly once to each
// of its user's other devices; 1 otherwise; 2 when it had to stop at its own time limit.
//
//   JWT_SECRET=... node driver.js --url http://127.0.0.1:18180,http://127.0.0.1:18181 \
//     --server-pid A --also-pid b=B --also-pid redis=R [--users 1000 --devices 3 --rate 2000 ...]
//
// The load, as Handoff's load tester's `fanout`:
// - device i of the fleet is slot i % devices of user i / devices, and connects to URL i % urls (so a
//   user's devices alternate between the nodes);
// - write i of an open-loop schedule (due at start + i / rate) goes to user i % users, from its slot
//   (i / users) % devices: every device of a user writes in turn, consecutive writes to other users;
// - a delivery is one write's payload arriving at one of the writer's user's OTHER devices (devices
//   - 1 per write); the writer's own copy is the ack.
//
// The measured window: writes run for warm-up + duration. The window opens at the first timer tick
// at or after the warm-up's end and closes at the tick at or after the schedule's end; CPU counters
// (/proc/PID/stat of the given pids, this process's process.cpuUsage(), /proc/stat) are read at
// exactly those two moments, and `delivered_per_s` and every `*_cpu_us_per_delivery` count the
// deliveries that arrived between them: CPU per delivery = CPU microseconds in the window / first
// deliveries received in the window. Latency: for every write sent at or after the warm-up's end
// (also those delivered after the window, during the drain), receive time minus send time, both
// process.hrtime in this process, the send time carried in the payload. Unlike Handoff's load tester,
// which measures from each write's intended time, this measures from the actual send: Node's timers
// tick in whole milliseconds, so writes go out in small bursts up to a tick late; how late is
// reported apart (`send_lag_p99_ms`, `send_lag_max_ms`) so a driver that fell behind shows.

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const { execFileSync } = require('node:child_process');
const { io } = require('socket.io-client');

// Every payload starts with: send time (8 bytes, process.hrtime.bigint() in ns), the write's id
// among its user's writes (4), the writing device's fleet index (4); then filler up to --payload.
const HEADER = 16;

function seconds(v) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(v));
  if (!m) throw new Error(`not a duration: ${v} (e.g. 500ms, 20s, 2m)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
}

function parseArgs(argv) {
  const o = {
    urls: ['http://127.0.0.1:18180', 'http://127.0.0.1:18181'],
    users: 1000,
    devices: 3,
    rate: 2000,
    payload: 256,
    warmup: 60,
    duration: 20,
    drainTimeout: 30,
    connectTimeout: 120,
    connectConcurrency: 64,
    tickMs: 1,
    serverPid: null,
    alsoPids: [],
  };
  const number = (k, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${k} must be a number above 0, was ${v}`);
    return n;
  };
  for (let i = 2; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${k} needs a value`);
    switch (k) {
      case '--url': o.urls = v.split(','); break;
      case '--users': o.users = Math.floor(number(k, v)); break;
      case '--devices': o.devices = Math.floor(number(k, v)); break;
      case '--rate': o.rate = number(k, v); break;
      case '--payload': o.payload = Math.max(HEADER, Math.floor(number(k, v))); break;
      case '--warmup': o.warmup = seconds(v); break;
      case '--duration': o.duration = seconds(v); break;
      case '--drain-timeout': o.drainTimeout = seconds(v); break;
      case '--connect-timeout': o.connectTimeout = seconds(v); break;
      case '--connect-concurrency': o.connectConcurrency = Math.floor(number(k, v)); break;
      case '--tick-ms': o.tickMs = Math.floor(number(k, v)); break;
      case '--server-pid': o.serverPid = Math.floor(number(k, v)); break;
      case '--also-pid': {
        const m = /^([a-z][a-z0-9_]*)=(\d+)$/.exec(v);
        if (!m) throw new Error(`--also-pid takes NAME=PID, was ${v}`);
        o.alsoPids.push([m[1], Number(m[2])]);
        break;
      }
      default:
        throw new Error(`unknown option ${k}`);
    }
  }
  if (o.devices < 2) throw new Error('--devices must be at least 2 (a write goes to the other devices)');
  if (o.duration <= 0) throw new Error('--duration must be above 0');
  return o;
}

// An HS256 token with the claims Handoff's load tester puts in its tokens.
function mint(key, user, device, ttlSeconds) {
  const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: user, did: device, iat: now, exp: now + ttlSeconds })}`;
  return `${body}.${crypto.createHmac('sha256', key).update(body).digest('base64url')}`;
}

// --- CPU and load readings ----------------------------------------------------------------------

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

// utime + stime of a process in clock ticks, from /proc/PID/stat; -1 if it cannot be read.
function processTicks(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces: count from the last ')'. f[0] is field 3; 14 and 15 follow.
    const f = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
    return Number(f[11]) + Number(f[12]);
  } catch (e) {
    return -1;
  }
}

// The machine from /proc/stat, in ticks: idle (idle and iowait), irq + softirq, steal, and the CPUs
// it lists. Busy is the wall time of every CPU less idle, as in Handoff's load tester (CpuMeter):
// the user and system columns are sampled at the scheduler's tick and miss work done in bursts
// shorter than a tick, while a tickless kernel measures idle time exactly.
function machineTicks() {
  try {
    const lines = fs.readFileSync('/proc/stat', 'utf8').split('\n');
    const f = lines[0].trim().split(/\s+/).map(Number);
    const cores = lines.filter((l) => /^cpu\d/.test(l)).length;
    return { idle: f[4] + f[5], interrupts: f[6] + f[7], steal: f[8], cores };
  } catch (e) {
    return null;
  }
}

function loadAverage() {
  try {
    return Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch (e) {
    return -1;
  }
}

function readCpu(o, nowNs) {
  const u = process.cpuUsage();
  const pids = {};
  if (o.serverPid) pids.server = processTicks(o.serverPid);
  for (const [name, pid] of o.alsoPids) pids[name] = processTicks(pid);
  return { ns: nowNs, selfUs: u.user + u.system, pids, machine: machineTicks(), load: loadAverage() };
}

// --- The run ------------------------------------------------------------------------------------

const round = (v, digits) => Math.round(v * 10 ** digits) / 10 ** digits;

// The value at percentile p of a sorted array (nearest rank), in ms to 3 decimals; -1 when empty.
function percentile(sorted, p) {
  if (sorted.length === 0) return -1;
  return round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))], 3);
}

async function main() {
  const o = parseArgs(process.argv);
  const secret = process.env.JWT_SECRET;
  if (!secret || Buffer.byteLength(secret) < 32) throw new Error('JWT_SECRET must be set, at least 32 bytes');
  const key = Buffer.from(secret);
  const base = process.hrtime.bigint();
  const nowNs = () => Number(process.hrtime.bigint() - base); // ns since the driver started

  const limitS = o.connectTimeout + o.warmup + o.duration + o.drainTimeout + 15;
  const D = o.devices;
  const count = Math.floor(o.rate * (o.warmup + o.duration) + 1e-9); // writes in the schedule
  const perUser = Math.ceil(count / o.users); // ids a user's writes take: 0 .. perUser - 1

  const users = [];
  for (let u = 0; u < o.users; u++) users.push({ issued: 0, acked: new Uint8Array(perUser) });
  const devices = [];
  for (let i = 0; i < o.users * D; i++) {
    devices.push({ index: i, user: Math.floor(i / D), slot: i % D, url: o.urls[i % o.urls.length], socket: null, up: false, got: new Uint8Array(perUser) });
  }

  const c = { sent: 0, emitted: 0, acked: 0, received: 0, receivedInWindow: 0, duplicated: 0, duplicateAcks: 0, notSent: 0, disconnects: 0, bogus: 0, connectFailures: 0 };
  const samples = []; // a few error messages, for the log
  const sample = (m) => samples.length < 10 && samples.push(m);
  // Latencies (ms) of deliveries of writes sent after the warm-up: bounded by the schedule.
  const latencies = new Float64Array(count * (D - 1));
  let timed = 0;
  const lags = new Float64Array(count);
  let lagged = 0;
  let closing = false;
  let windowOpen = false;
  let measureFromNs = Infinity;

  const tokenTtl = Math.ceil(limitS) + 3600;

  function onDelta(d, version, from, payload) {
    const now = process.hrtime.bigint();
    if (!Buffer.isBuffer(payload) || payload.length < HEADER) {
      c.bogus++;
      sample(`device ${d.index}: a delta without a payload`);
      return;
    }
    const id = payload.readUInt32BE(8);
    const writer = payload.readUInt32BE(12);
    if (id >= perUser || writer !== d.user * D + (id % D) || writer === d.index) {
      c.bogus++;
      sample(`device ${d.index}: a delta of write ${id} by device ${writer}, not from another device of its user`);
      return;
    }
    if (d.got[id] !== 0) {
      c.duplicated++;
      return;
    }
    d.got[id] = 1;
    c.received++;
    if (windowOpen) c.receivedInWindow++;
    const sentAt = payload.readBigUInt64BE(0);
    if (Number(sentAt - base) >= measureFromNs) latencies[timed++] = Number(now - sentAt) / 1e6;
  }

  function connectOne(d) {
    return new Promise((resolve) => {
      const s = io(d.url, {
        transports: ['websocket'],
        forceNew: true, // one connection per device: no multiplexing of devices on one Manager
        reconnection: false,
        perMessageDeflate: false,
        timeout: 20000,
        auth: { token: mint(key, `u${d.user}`, `d${d.slot}`, tokenTtl) },
      });
      s.once('connect', () => {
        s.off('connect_error');
        resolve(s);
      });
      s.once('connect_error', (e) => {
        s.close();
        resolve(e);
      });
    });
  }

  async function connectAll() {
    const deadline = nowNs() + o.connectTimeout * 1e9;
    let next = 0;
    let connected = 0;
    let problem = null;
    const worker = async () => {
      while (next < devices.length && problem === null) {
        const d = devices[next++];
        for (let attempt = 1; ; attempt++) {
          const r = await connectOne(d);
          if (!(r instanceof Error)) {
            d.socket = r;
            d.up = true;
            connected++;
            r.on('delta', (version, from, payload) => onDelta(d, version, from, payload));
            r.on('disconnect', (reason) => {
              d.up = false;
              if (!closing) {
                c.disconnects++;
                sample(`device ${d.index} disconnected: ${reason}`);
              }
            });
            break;
          }
          c.connectFailures++;
          if (attempt >= 3 || nowNs() > deadline) {
            problem = `device ${d.index} could not connect to ${d.url}: ${r.message}`;
            break;
          }
          await new Promise((res) => setTimeout(res, 200 * attempt));
        }
        if (nowNs() > deadline && problem === null && connected < devices.length) {
          problem = `only ${connected} of ${devices.length} devices connected within ${o.connectTimeout} s`;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.connectConcurrency, devices.length) }, worker));
    return { connected, problem };
  }

  const template = Buffer.alloc(o.payload);
  for (let i = HEADER; i < o.payload; i++) template[i] = 97 + (i % 26);

  function send(i, intendedNs) {
    const user = i % o.users;
    const id = Math.floor(i / o.users);
    const d = devices[user * D + (id % D)];
    c.sent++;
    users[user].issued = id + 1;
    if (!d.up) {
      c.notSent++; // its connection is gone (counted in disconnects too)
      return;
    }
    const payload = Buffer.from(template);
    payload.writeUInt32BE(id, 8);
    payload.writeUInt32BE(d.index, 12);
    const t = process.hrtime.bigint();
    payload.writeBigUInt64BE(t, 0);
    if (intendedNs >= measureFromNs) lags[lagged++] = Math.max(0, Number(t - base) - intendedNs) / 1e6;
    c.emitted++;
    d.socket.emit('write', payload, () => {
      if (users[user].acked[id] !== 0) {
        c.duplicateAcks++;
        return;
      }
      users[user].acked[id] = 1;
      c.acked++;
    });
  }

  const hardStop = setTimeout(() => {
    console.error(`driver: not finished after ${limitS} s; stopping`);
    process.exit(2);
  }, limitS * 1000);

  const runStartNs = nowNs();
  let cpuStart = null;
  let cpuEnd = null;
  const printProgress = (label) => {
    console.error(`${label} ${((nowNs() - runStartNs) / 1e9).toFixed(1)}s  conn ${devices.filter((d) => d.up).length}/${devices.length}  sent ${c.sent}  acked ${c.acked}  recv ${c.received}  errors ${c.disconnects + c.notSent + c.bogus}`);
  };

  console.error(`connecting ${devices.length} devices to ${o.urls.join(', ')}, ${o.connectConcurrency} at a time`);
  const { connected, problem } = await connectAll();
  const connectMs = Math.round((nowNs() - runStartNs) / 1e6);
  console.error(`${connected} connected in ${connectMs} ms`);

  let drainMs = -1;
  let drained = false;
  if (problem === null) {
    // The open-loop schedule: write i is due at start + i / rate.
    const start = nowNs() + 100e6;
    measureFromNs = start + o.warmup * 1e9;
    const endNs = start + (o.warmup + o.duration) * 1e9;
    const intended = (i) => start + Math.round((i * 1e9) / o.rate);
    let next = 0;
    let nextPrint = start + 1e9;
    await new Promise((resolve) => {
      const timer = setInterval(() => {
        const now = nowNs();
        if (cpuStart === null && now >= measureFromNs) {
          cpuStart = readCpu(o, now);
          windowOpen = true;
        }
        for (; next < count && intended(next) <= now; next++) send(next, intended(next));
        if (now >= endNs) {
          windowOpen = false;
          cpuEnd = readCpu(o, nowNs());
          clearInterval(timer);
          resolve();
        } else if (now >= nextPrint) {
          nextPrint += 1e9;
          printProgress(now < measureFromNs ? 'warm-up ' : 'measured');
        }
      }, o.tickMs);
    });
    // The drain: until every write sent is acked and delivered to each other device, or the timeout.
    const drainStart = nowNs();
    drained = await new Promise((resolve) => {
      const timer = setInterval(() => {
        const now = nowNs();
        if (c.acked >= c.emitted && c.received >= c.emitted * (D - 1)) {
          clearInterval(timer);
          resolve(true);
        } else if (now - drainStart >= o.drainTimeout * 1e9) {
          clearInterval(timer);
          resolve(false);
        }
      }, 10);
    });
    drainMs = Math.round((nowNs() - drainStart) / 1e6);
    printProgress('drained ');
  }
  closing = true;
  for (const d of devices) if (d.socket) d.socket.disconnect();

  // Counting: every acked write must have reached each other device of its user exactly once.
  let lost = 0;
  for (let u = 0; u < o.users; u++) {
    for (let id = 0; id < users[u].issued; id++) {
      if (users[u].acked[id] === 0) continue;
      for (let s = 0; s < D; s++) {
        if (s !== id % D && devices[u * D + s].got[id] === 0) lost++;
      }
    }
  }
  const expected = c.acked * (D - 1);
  const unacked = c.sent - c.acked;
  const errors = c.disconnects + c.notSent + c.bogus + c.duplicateAcks + (devices.length - connected);

  const lat = latencies.subarray(0, timed).sort();
  const lag = lags.subarray(0, lagged).sort();
  const r = {
    scenario: 'socketio-two-nodes',
    users: o.users,
    devices: D,
    rate: o.rate,
    payload: o.payload,
    warmup_s: o.warmup,
    duration_s: o.duration,
    urls: o.urls.join(','),
    connections: connected,
    sent: c.sent,
    acked: c.acked,
    expected,
    received: c.received,
    lost,
    duplicated: c.duplicated,
    unacked,
    errors,
    p50_ms: percentile(lat, 50),
    p90_ms: percentile(lat, 90),
    p99_ms: percentile(lat, 99),
    p999_ms: percentile(lat, 99.9),
    max_ms: lat.length ? round(lat[lat.length - 1], 3) : -1,
    timed,
    send_lag_p99_ms: percentile(lag, 99),
    send_lag_max_ms: lag.length ? round(lag[lag.length - 1], 3) : -1,
    connect_ms: connectMs,
    drain_ms: drainMs,
  };
  if (cpuStart && cpuEnd) {
    const windowS = (cpuEnd.ns - cpuStart.ns) / 1e9;
    const n = c.receivedInWindow;
    const pct = (ticks) => round((ticks / CLK_TCK / windowS) * 100, 1);
    const usPer = (us) => (n > 0 ? round(us / n, 1) : -1);
    r.window_s = round(windowS, 3);
    r.delivered_in_window = n;
    r.delivered_per_s = round(n / windowS, 1);
    r.cpu_cores = os.cpus().length;
    const selfUs = cpuEnd.selfUs - cpuStart.selfUs;
    r.cpu_loadtest_pct = round((selfUs / 1e6 / windowS) * 100, 1);
    let total = 0;
    let accounted = r.cpu_loadtest_pct;
    let totalKnown = true;
    for (const name of Object.keys(cpuStart.pids)) {
      const before = cpuStart.pids[name];
      const after = cpuEnd.pids[name];
      if (before < 0 || after < 0) {
        totalKnown = false;
        continue;
      }
      const us = ((after - before) * 1e6) / CLK_TCK;
      r[`cpu_${name}_pct`] = pct(after - before);
      r[`${name}_cpu_us_per_delivery`] = usPer(us);
      accounted += r[`cpu_${name}_pct`];
      total += us;
    }
    if (totalKnown && Object.keys(cpuStart.pids).length > 0) r.total_cpu_us_per_delivery = usPer(total);
    r.loadtester_cpu_us_per_delivery = usPer(selfUs);
    if (cpuStart.machine && cpuEnd.machine) {
      const m = (k) => cpuEnd.machine[k] - cpuStart.machine[k];
      const cores = cpuEnd.machine.cores;
      r.cpu_machine_pct = pct(Math.max(0, Math.round(cores * windowS * CLK_TCK) - m('idle')));
      r.cpu_softirq_pct = pct(m('interrupts'));
      r.cpu_steal_pct = pct(m('steal'));
      // As Handoff's load tester: the machine less this driver, node a (the --server-pid) and steal;
      // and apart, what remains when the other processes of the run are taken out too (work outside
      // the run disturbing it). Softirq time, a tick's sample, is mostly in the processes' own.
      const a = r.cpu_server_pct || 0;
      r.cpu_other_pct = Math.max(0, round(r.cpu_machine_pct - r.cpu_loadtest_pct - a - r.cpu_steal_pct, 1));
      r.cpu_outside_run_pct = Math.max(0, round(r.cpu_machine_pct - accounted - r.cpu_steal_pct, 1));
    }
    r.load_average_start = cpuStart.load;
    r.load_average = cpuEnd.load;
  }

  const problems = [];
  if (problem !== null) problems.push(`${problem}; nothing was written`);
  if (lost > 0) problems.push(`${lost} deliveries of acked writes never arrived (expected ${expected}, received ${c.received})`);
  if (unacked > 0) problems.push(`${unacked} writes never acked (${c.notSent} not sent: their device was disconnected)`);
  if (c.duplicated > 0) problems.push(`${c.duplicated} writes delivered twice to a device`);
  if (errors > 0) problems.push(`${errors} errors (${c.disconnects} disconnects, ${c.notSent} writes not sent, ${c.bogus} unexpected deltas, ${c.duplicateAcks} duplicate acks, ${devices.length - connected} not connected)`);
  if (problem === null && !drained) problems.push(`not everything acked and delivered within the drain timeout of ${o.drainTimeout} s`);
  if (connected === devices.length && !(cpuStart && cpuEnd)) problems.push('the measured window never opened');
  r.ok = problems.length === 0;
  if (problems.length) r.problems = problems;
  if (samples.length) r.error_samples = samples;

  clearTimeout(hardStop);
  const code = r.ok ? 0 : 1;
  for (const p of problems) console.error(`problem: ${p}`);
  process.stdout.write(`${JSON.stringify(r)}\n`, () => process.exit(code));
}

main().catch((e) => {
  console.error(`driver: ${e.message}`);
  process.exit(1);
});
