// Behaviours the Java client has, checked in this client against real server nodes (the jar, on free
// ports) and real sockets: moving on to the next endpoint when one hangs, and a socket given up on
// while it connects.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { createServer, type Server, type Socket } from "node:net";
import type { DocumentChange, HandoffError } from "../src/index.js";
import { client, closeClients, type Node, startNode, until, user } from "./harness.js";

let node: Node;
before(async () => {
  node = await startNode();
});
after(async () => {
  await node?.stop();
});
afterEach(closeClients);

/** A TCP server that accepts connections and never answers: a node that hangs, or a black hole. */
async function silentServer(): Promise<{
  url: string;
  accepted: () => number;
  ended: () => number;
  stop: () => Promise<void>;
}> {
  const sockets: Socket[] = [];
  let ended = 0;
  const server: Server = createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    s.on("close", () => ended++);
    s.resume(); // reads (and drops) the upgrade request, so the end of the connection is seen
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    accepted: () => sockets.length,
    ended: () => ended,
    stop: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}

/** `promise`, or a rejection naming `what` once `ms` have passed without it settling. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe("parity with the Java client", () => {
  test("a node that takes the connection but never welcomes is left for the next endpoint", async () => {
    // The Java client moves to the next URL after every failed attempt; an attempt given up on by the
    // client itself (no Welcome in time, or no frame for a heartbeat) is one too.
    const hung = await silentServer();
    try {
      const u = user("hung-node");
      const phone = client(node, u, "phone", { url: undefined, urls: [hung.url, node.url], connectTimeoutMs: 300 });
      const seen: DocumentChange[] = [];
      phone.on("change", (c) => seen.push(c));
      await within(20_000, "connected through the second endpoint", phone.connect());
      assert.ok(hung.accepted() >= 1, "the first attempt went to the hung node");
      assert.equal(await phone.document("d").set("f", "1"), 1n);
    } finally {
      await hung.stop();
    }
  });

  test("in Node, attempts given up on while the socket still connects do not crash the process", async () => {
    // Closing a `ws` socket that is still connecting makes it emit an error; without a listener left
    // on it, Node throws that as an uncaught exception, which ends the app (and fails this test).
    const hung = await silentServer();
    try {
      const phone = client(node, user("hung-close"), "phone", { url: hung.url, connectTimeoutMs: 200 });
      const states: string[] = [];
      phone.on("state", (st, _code, why) => states.push(`${st} ${why}`));
      const connecting = phone.connect().catch((e: HandoffError) => e);
      await until("a second attempt after the first timed out", () => hung.accepted() >= 2);
      phone.dropConnection(); // the second attempt, as a network failure would
      await until("a third attempt", () => hung.accepted() >= 3);
      await phone.close(); // the third, by the app
      assert.equal(((await connecting) as HandoffError).code, "CLIENT_CLOSED");
      assert.ok(states.some((st) => st.includes("no Welcome within 200 ms")), states.join(", "));
      // Each socket's error is emitted on a later tick than its close; the node sees the close later still.
      await until("every attempt's socket closed", () => hung.ended() === hung.accepted());
    } finally {
      await hung.stop();
    }
  });
});
