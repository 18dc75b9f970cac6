// The `fanout` scenario of the Java load tester, with the TypeScript client: U users x D devices in
// one Node process; device 0 of each user writes `payload` bytes at `rate` writes/s in total, and the
// other devices time each delta from write to delivery (one process, one clock).
// node build/bench/fanout.js --url ws://127.0.0.1:8080/ws --secret S [--users 1000 --devices 3 --rate 2000 --duration 30 --payload 256]
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { bearerWebSocket, HandoffClient } from "../src/index.js";
import { mintToken } from "../test/harness.js";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    secret: { type: "string" },
    users: { type: "string", default: "1000" },
    devices: { type: "string", default: "3" },
    rate: { type: "string", default: "2000" },
    duration: { type: "string", default: "30" },
    payload: { type: "string", default: "256" },
  },
});
const users = Number(values.users);
const devices = Number(values.devices);
const rate = Number(values.rate);
const seconds = Number(values.duration);
const payload = Number(values.payload);
if (!values.url || !values.secret) throw new Error("--url and --secret are required");

const latencies: number[] = [];
let received = 0;
let duplicated = 0;
let reordered = 0;
const clients: HandoffClient[][] = [];
for (let u = 0; u < users; u++) {
  const row: HandoffClient[] = [];
  for (let d = 0; d < devices; d++) {
    const c = new HandoffClient({
      url: values.url,
      token: mintToken(`bench-js-${u}`, `d${d}`, 3600, values.secret),
      webSocket: bearerWebSocket(WebSocket),
      follow: { documents: ["doc"] },
    });
    if (d > 0) {
      let last = 0n;
      c.on("change", (ch) => {
        if (ch.kind !== "delta") return;
        if (ch.version <= last) duplicated++;
        else if (ch.version !== last + 1n && last !== 0n) reordered++;
        last = ch.version;
        received++;
        const sent = new DataView(ch.ops[0].value!.buffer, ch.ops[0].value!.byteOffset).getFloat64(0);
        latencies.push(performance.now() - sent);
      });
    }
    row.push(c);
  }
  clients.push(row);
}
const started = performance.now();
for (let i = 0; i < clients.length; i += 100) {
  await Promise.all(clients.slice(i, i + 100).flat().map((c) => c.connect()));
}
console.log(`connected ${users * devices} clients in ${Math.round(performance.now() - started)} ms`);

let sent = 0;
let errors = 0;
const progress = setInterval(() => console.error(`sent ${sent} received ${received} errors ${errors}`), 1000);
const total = rate * seconds;
const t0 = performance.now();
await new Promise<void>((done) => {
  const tick = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    while (sent < due) {
      const writer = clients[sent % users][0];
      const value = new Uint8Array(payload);
      new DataView(value.buffer).setFloat64(0, performance.now());
      writer.document("doc").set("f", value).catch(() => errors++);
      sent++;
    }
    if (sent >= total) {
      clearInterval(tick);
      done();
    }
  }, 5);
});
const expected = sent * (devices - 1);
const deadline = performance.now() + 10_000;
while (received < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
clearInterval(progress);
latencies.sort((a, b) => a - b);
const q = (p: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN).toFixed(2));
console.log(
  JSON.stringify({
    client: "handoff-js",
    connections: users * devices,
    sent,
    expected,
    received,
    lost: expected - received,
    duplicated,
    reordered,
    errors,
    p50_ms: q(0.5),
    p90_ms: q(0.9),
    p99_ms: q(0.99),
    p999_ms: q(0.999),
    max_ms: Number((latencies[latencies.length - 1] ?? NaN).toFixed(2)),
  }),
);
await Promise.all(clients.flat().map((c) => c.close()));
process.exit(0);
