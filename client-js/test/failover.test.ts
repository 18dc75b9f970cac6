// The client moving between server URLs: real nodes on one real Redis, and scripted servers on real sockets.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { WebSocketServer } from "ws";
import { ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import type { HandoffClient } from "../src/index.js";
import { client, closeClients, freePort, type Node, type Redis, startNode, startRedis, until, user } from "./harness.js";

let redis: Redis;
const nodes: Node[] = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await closeClients();
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function node(id: string, port?: number): Promise<Node> {
  const n = await startNode(["--redis-url", redis.url, "--node-id", id], { port });
  nodes.push(n);
  return n;
}

describe("failover between URLs", () => {
  test("what changed while the client moved to another node is what it holds once it says it is connected", async () => {
    const u = user("moved");
    const [n1, phoneNode] = await Promise.all([node("fo-1"), node("fo-3")]);
    // The tv's second node is not up yet: the tv finds it only once the phone has changed things.
    const secondPort = await freePort();
    let tv!: HandoffClient;
    // What the tv holds each time it says it is connected.
    const heldWhenConnected: string[] = [];
    tv = client(n1, u, "tv", { url: undefined, urls: [n1.url, `ws://127.0.0.1:${secondPort}/ws`] });
    tv.on("state", (state) => {
      if (state !== "connected") return;
      const a = tv.activities().get("phone");
      heldWhenConnected.push(`activity ${a?.title ?? "none"}, prompts [${tv.prompts().map((o) => o.activity?.title)}]`);
    });
    await tv.connect();

    const phone = client(phoneNode, u, "phone");
    await phone.connect();
    await phone.publishActivity({ document: "player", title: "Episode 3" });
    const offer = phone.offer({ document: "player", title: "Episode 3" }, { targetDevice: "tv", ttlMs: 60_000 });
    const { offerId } = await offer.created;
    await until("the tv hears the activity and the offer", () => tv.activities().has("phone") && tv.prompts().length === 1);

    await n1.kill();
    await until("the tv lost its node", () => tv.state === "reconnecting");
    // While the tv has no node: the phone moves on to another episode and takes its offer back.
    await phone.publishActivity({ document: "player", title: "Episode 4" });
    await phone.cancel(offerId);
    await node("fo-2", secondPort);

    await until("the tv is connected again", () => heldWhenConnected.length === 2, 30_000);
    assert.equal(heldWhenConnected[0], "activity none, prompts []");
    assert.equal(heldWhenConnected[1], "activity Episode 4, prompts []", "what the tv holds when it says it is connected again");
  });

  test("a node that keeps pinging but never welcomes is given up after connectTimeoutMs and the next URL is tried", async () => {
    const real = await node("fo-4");
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
        connectTimeoutMs: 1_000,
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
