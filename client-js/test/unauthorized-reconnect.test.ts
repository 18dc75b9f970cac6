// A client with a token source after 4502 UNAUTHORIZED, over a real socket to a scripted server (the `ws`
// package): upgrades it refuses with 401, then a close with 4502 in band (as a proxy that checks tokens may
// send). The backoff grows over the refusals, starts over when a connection that lasted 10 s ends with 4502,
// and does not when one ends with it right after its Welcome. The client's clock (Date) is the test's; the
// delays are recorded as the backoff hands them out, so none is told apart by timing.
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { mock, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import WebSocket, { WebSocketServer } from "ws";
import type { Backoff } from "../src/backoff.js";
import { STABLE_CONNECTION_MS } from "../src/engine.js";
import { ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { bearerWebSocket, HandoffClient } from "../src/index.js";

const INITIAL_MS = 100;
const RANDOM = 0.5;
/** The delay of the `attempt`-th reconnect in a row (from 0), with the test's draw. */
const delay = (attempt: number) => Math.floor(RANDOM * INITIAL_MS * 2 ** attempt);

/** Resolves when `condition` holds, polling; rejects after 10 s of real time (Date is the test's here). */
async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const title = "a 4502 in band after a connection that lasted starts the backoff over; one right after the Welcome does not";
test(title, { timeout: 30_000 }, async () => {
  let goodToken = false;
  const connections: WebSocket[] = [];
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, status?: number) => void) =>
      info.req.headers.authorization === "Bearer good" ? done(true) : done(false, 401),
  });
  server.on("connection", (ws: WebSocket) => {
    // The Hello, answered with a Welcome.
    ws.once("message", () => {
      const welcome = create(ServerFrameSchema, { body: { case: "welcome", value: { userId: "u", deviceId: "phone" } } });
      ws.send(toBinary(ServerFrameSchema, welcome));
      connections.push(ws);
    });
  });
  await new Promise((r) => server.once("listening", r));
  const random = Math.random;
  Math.random = () => RANDOM;
  mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
  const c = new HandoffClient({
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
    tokenSource: async () => (goodToken ? "good" : "stale"),
    webSocket: bearerWebSocket(WebSocket),
    reconnect: { initialMs: INITIAL_MS, maxMs: 30_000 },
  });
  const states: string[] = [];
  c.on("state", (s, code) => states.push(`${s} ${code}`));
  // The reconnect delays as the backoff hands them out.
  const backoff = (c as unknown as { engine: { backoff: Backoff } }).engine.backoff;
  const delays: number[] = [];
  const next = backoff.next.bind(backoff);
  backoff.next = (capMs?: number) => {
    const d = next(capMs);
    delays.push(d);
    return d;
  };
  try {
    // Three upgrades refused with 401 (the token is stale): the backoff grows with each.
    void c.connect().catch(() => {});
    await until("three refusals", () => delays.length === 3);
    assert.deepEqual(delays, [delay(0), delay(1), delay(2)]);
    assert.ok(states.includes("reconnecting 4502"), states.join(", "));
    goodToken = true;
    await until("connected", () => c.state === "connected");
    assert.equal(delays.length, 3, "no reconnect before the Welcome");

    // The connection lasts, then a proxy closes it with 4502 in band.
    mock.timers.tick(STABLE_CONNECTION_MS);
    connections[0]!.close(4502, "token expired");
    await until("the lasting connection's end", () => delays.length === 4);
    assert.equal(delays[3], delay(0), "as after any close of a connection that lasted");
    assert.equal(states.at(-1), "reconnecting 4502");

    // A connection welcomed and closed with 4502 at once does not start it over.
    await until("connected again", () => c.state === "connected" && connections.length === 2);
    connections[1]!.close(4502, "token expired");
    await until("the brief connection's end", () => delays.length === 5);
    assert.equal(delays[4], delay(1));
  } finally {
    await c.close();
    mock.timers.reset();
    Math.random = random;
    await new Promise((r) => server.close(r));
  }
});
