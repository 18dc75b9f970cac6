// A proxy in front of a real node (the jar): a small real WebSocket relay (the `ws` package) that closes the
// device's side as nginx reloading, a load balancer's idle timeout or an AWS ALB would, with 1000, 1001 or
// a close frame without a status (1005). The node never closes with those, so they say nothing about
// whether it would take the device back: the client reconnects and resumes. Only the node's terminal codes
// stop it, also when the proxy re-frames the node's close as a 1000 after the node's Disconnect. An upgrade
// the proxy refuses with another status than 401 or 403 is tried again too.
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { after, afterEach, before, test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { client, closeClients, type Node, startNode, text, until, user } from "./harness.js";

interface Relay {
  url: string;
  /** Connections the relay took from devices. */
  accepted(): number;
  /** Upgrades the relay refused. */
  refused(): number;
  /** When not 0, every upgrade is refused with this HTTP status (as while a route is deployed). */
  refuseWith: number;
  /** Closes every device side with `code` (none: a close frame without a status) and its node side. */
  closeAll(code?: number): void;
  stop(): Promise<void>;
}

/**
 * Relays each device's WebSocket to the node, frame by frame, with its Authorization header. When the node
 * closes its side, the device's side is closed with `onNodeClose` (as a proxy that re-frames closes does).
 */
async function startRelay(node: Node, onNodeClose: number): Promise<Relay> {
  const pairs: { device: WebSocket; upstream: WebSocket }[] = [];
  let accepted = 0;
  let refused = 0;
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    verifyClient: (_info, done) => {
      if (relay.refuseWith === 0) return done(true);
      refused++;
      done(false, relay.refuseWith);
    },
  });
  server.on("connection", (device: WebSocket, req: IncomingMessage) => {
    accepted++;
    const upstream = new WebSocket(node.url, { headers: { authorization: req.headers.authorization ?? "" } });
    const waiting: Buffer[] = [];
    pairs.push({ device, upstream });
    device.on("message", (data: Buffer) => {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: true });
      else waiting.push(data);
    });
    upstream.on("open", () => waiting.splice(0).forEach((d) => upstream.send(d, { binary: true })));
    upstream.on("message", (data: Buffer) => device.send(data, { binary: true }));
    upstream.on("close", () => device.readyState === WebSocket.OPEN && device.close(onNodeClose, "upstream closed"));
    upstream.on("error", () => device.terminate());
    device.on("close", () => upstream.readyState === WebSocket.OPEN && upstream.close(1000));
    device.on("error", () => upstream.terminate());
  });
  await new Promise((listening) => server.once("listening", listening));
  const port = (server.address() as AddressInfo).port;
  const relay: Relay = {
    url: `ws://127.0.0.1:${port}/ws`,
    accepted: () => accepted,
    refused: () => refused,
    refuseWith: 0,
    closeAll(code?: number) {
      for (const { device, upstream } of pairs.splice(0)) {
        upstream.removeAllListeners("close");
        if (code === undefined) device.close();
        else device.close(code, "proxy going away");
        upstream.close(1000);
      }
    },
    stop: () =>
      new Promise<void>((done) => {
        for (const { device, upstream } of pairs.splice(0)) {
          device.terminate();
          upstream.terminate();
        }
        server.close(() => done());
      }),
  };
  return relay;
}

let node: Node;
let relay: Relay | undefined;
before(async () => {
  node = await startNode();
});
after(async () => {
  await node?.stop();
});
afterEach(async () => {
  await closeClients();
  await relay?.stop();
  relay = undefined;
});

test("a proxy closing with 1000, 1001 or no status: the client reconnects through it and resumes", { timeout: 60_000 }, async () => {
  relay = await startRelay(node, 1000);
  const u = user("proxy-close");
  const phone = client(node, u, "phone", { url: relay.url });
  const tv = client(node, u, "tv");
  const states: string[] = [];
  phone.on("state", (st, code) => states.push(`${st} ${code}`));
  await Promise.all([phone.connect(), tv.connect()]);

  let round = 0;
  for (const [code, reported] of [
    [1000, 1000],
    [1001, 1001],
    [undefined, 1005],
  ] as const) {
    round++;
    const before = relay.accepted();
    relay.closeAll(code);
    await until(`the client reconnecting after ${reported}`, () => states.includes(`reconnecting ${reported}`));
    // Written while the phone is away: the resume brings it.
    await tv.document("player").set("position", `round ${round}`);
    await until(`the client back through the proxy after ${reported}`, () => relay!.accepted() > before && phone.state === "connected");
    await until(`the write made while away after ${reported}`, () => text(phone.document("player").get("position")) === `round ${round}`);
  }
  assert.ok(!states.some((s) => s.startsWith("closed")), states.join(", "));
  assert.equal(text(phone.document("player").get("position")), "round 3");
});

test("the node's terminal Disconnect decides over the 1000 a proxy closes with after it", { timeout: 60_000 }, async () => {
  relay = await startRelay(node, 1000);
  const u = user("proxy-replaced");
  const phone = client(node, u, "phone", { url: relay.url });
  const states: string[] = [];
  phone.on("state", (st, code) => states.push(`${st} ${code}`));
  await phone.connect();

  // The same device connects again, straight to the node: it closes the older connection with a
  // Disconnect and 4504 REPLACED, which the proxy passes on as a close with 1000.
  const replacing = client(node, u, "phone");
  await replacing.connect();

  await until("the client stopped", () => phone.state === "closed");
  assert.deepEqual(states, ["connecting 0", "connected 0", "closed 4504"]);
  assert.equal(relay.accepted(), 1);
});

test("upgrades a proxy refuses with 400, 404, 426, 429 or 503 are tried again until it takes one", { timeout: 60_000 }, async () => {
  relay = await startRelay(node, 1000);
  for (const status of [400, 404, 426, 429, 503]) {
    relay.refuseWith = status;
    const phone = client(node, user(`proxy-refuses-${status}`), "phone", { url: relay.url });
    const states: string[] = [];
    phone.on("state", (st, code, why) => states.push(`${st} ${code} ${why}`));
    const connected = phone.connect();
    const before = relay.refused();
    await until(`attempts after the refusal with ${status}`, () => relay!.refused() - before >= 3);
    assert.ok(states.includes(`reconnecting 1006 the server refused the upgrade (HTTP ${status})`), states.join(", "));
    assert.ok(!states.some((s) => s.startsWith("closed")), states.join(", "));
    relay.refuseWith = 0;
    await connected;
    await phone.close();
  }
});
