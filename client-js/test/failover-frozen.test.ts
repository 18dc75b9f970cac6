// The client moving between server URLs when a node freezes or stops answering: real nodes on one real Redis,
// and a scripted server on a real socket. (Apart from failover.test.ts, and close() meanwhile in
// close-frozen.test.ts, so that they run side by side.)
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { WebSocketServer } from "ws";
import { ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { client, closeClients, type Node, type Redis, startNode, startRedis, text, until, user } from "./harness.js";

let redis: Redis | undefined;
/** A node with a heartbeat of 1 s, which the first test freezes: the client gives it up within 2.5 s. */
let freezing: Node | undefined;
/** A node that stays up. */
let steady: Node | undefined;
// Both start at once, for the file.
before(async () => {
  redis = await startRedis();
  const on = (id: string, ...args: string[]) => startNode(["--redis-url", redis!.url, "--node-id", id, ...args]);
  const started = await Promise.allSettled([on("fo-fw1", "--heartbeat", "1s"), on("fo-fw2")]);
  [freezing, steady] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined));
  for (const r of started) if (r.status === "rejected") throw r.reason;
});
// The tests run side by side (the first freezes a node only it uses), so the clients of one that failed
// half-way are closed here rather than in an afterEach, which would close the other's.
after(async () => {
  await closeClients();
  await Promise.all([freezing, steady].map((n) => n?.stop()));
  await redis?.stop();
});

describe("failover between URLs: frozen nodes", { concurrency: true }, () => {
  test("a write sent to a node that froze is applied once, by the next node the client moves to", async () => {
    const u = user("frozen-write");
    const [n1, n2] = [freezing!, steady!];
    // A ping the frozen node leaves unanswered gives it up after its interval and 500 ms, not 5 s.
    const writer = client(n1, u, "writer", { url: undefined, urls: [n1.url, n2.url], heartbeatMarginMs: 500 });
    await writer.connect();
    const doc = writer.document("doc");
    assert.equal(await doc.set("a", "1"), 1n);
    n1.pause();
    try {
      // Sent on the frozen node's socket: its kernel takes it, the node never answers.
      assert.equal(await doc.set("b", "2"), 2n);
    } finally {
      n1.resume();
    }
    assert.equal(await doc.set("c", "3"), 3n);
    const reader = client(n2, u, "reader");
    await reader.connect();
    await until("the reader holds the document", () => reader.document("doc").version >= 3n);
    assert.equal(reader.document("doc").version, 3n);
    assert.deepEqual(["a", "b", "c"].map((f) => text(reader.document("doc").get(f))), ["1", "2", "3"]);
  });

  test("a node that keeps pinging but never welcomes is given up after connectTimeoutMs and the next URL is tried", async () => {
    const real = steady!;
    // A scripted node on a real socket: it takes the upgrade, pings (WebSocket and protobuf Pong) every
    // 50 ms, and never sends a Welcome.
    const hung = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((ok) => hung.once("listening", () => ok()));
    const port = (hung.address() as { port: number }).port;
    let accepted = 0;
    let closedByClient = 0;
    const pong = toBinary(ServerFrameSchema, create(ServerFrameSchema, { body: { case: "pong", value: {} } }));
    hung.on("connection", (ws) => {
      accepted++;
      const pinger = setInterval(() => {
        ws.ping();
        ws.send(pong);
      }, 50);
      ws.on("close", () => {
        clearInterval(pinger);
        closedByClient++;
      });
    });
    try {
      const c = client(real, user("hung"), "tv", {
        url: undefined,
        urls: [`ws://127.0.0.1:${port}/ws`, real.url],
        // It bounds the real node's Welcome too, which must come at the first try: a second could be too
        // little for a node on a loaded machine, and its attempt would send the client back to the hung one.
        connectTimeoutMs: 5_000,
      });
      const startedAt = Date.now();
      await c.connect();
      assert.equal(c.state, "connected");
      assert.equal(accepted, 1, "the hung node was tried once");
      await until("the hung node's socket was closed by the client", () => closedByClient === 1);
      assert.ok(Date.now() - startedAt < 20_000, `connected after ${Date.now() - startedAt} ms`);
    } finally {
      for (const ws of hung.clients) ws.terminate();
      await new Promise((done) => hung.close(done));
    }
  });
});
