// A proxy in front of a real node (the jar): a small real WebSocket relay (the `ws` package) that closes the
// device's side as nginx reloading, a load balancer's idle timeout or an AWS ALB would, with 1000, 1001 or
// a close frame without a status (1005). The node never closes with those, so they say nothing about
// whether it would take the device back: the client reconnects and resumes. Only the node's terminal codes
// stop it, also when the proxy re-frames the node's close as a 1000 after the node's Disconnect. An upgrade
// the proxy refuses with another status than 401 or 403 is tried again too: after a 503 (a node that drains
// behind it) soon, and after a 429 or 503 that says Retry-After not before that (also the node's own 429).
// A 4502 the proxy closes with in band stops a client with a fixed token, not one with a token source.
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { bearerWebSocket, type HandoffError } from "../src/index.js";
import { client, closeClients, mintToken, type Node, startNode, text, until, user } from "./harness.js";

interface Relay {
  url: string;
  /** Connections the relay took from devices. */
  accepted(): number;
  /** Upgrades the relay refused. */
  refused(): number;
  /** When not 0, every upgrade is refused with this HTTP status (as while a route is deployed). */
  refuseWith: number;
  /** Headers of each refusal (a Retry-After). */
  refuseHeaders: Record<string, string>;
  /** When each refusal was made (Date.now()). */
  refusedAt: number[];
  /** Closes every device side with `code` (none: a close frame without a status) and its node side. */
  closeAll(code?: number): void;
  stop(): Promise<void>;
}

/**
 * Relays each device's WebSocket to the node, frame by frame, with its Authorization header, and (as nginx
 * or a load balancer passes the upgrade through) its Hello in the upgrade and offered subprotocols, the
 * device's 101 selecting what the node's did. When the node closes its side, the device's side is closed
 * with `onNodeClose` (as a proxy that re-frames closes does).
 */
async function startRelay(node: Node, onNodeClose: number): Promise<Relay> {
  const pairs: { device: WebSocket; upstream: WebSocket }[] = [];
  // Per upgrade request taken, the node's side, opened before the device's 101, and what it sent meanwhile.
  const opening = new Map<IncomingMessage, { upstream: WebSocket; early: Buffer[] }>();
  let accepted = 0;
  let refused = 0;
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, status?: number, message?: string, headers?: Record<string, string>) => void) => {
      if (relay.refuseWith !== 0) {
        refused++;
        relay.refusedAt.push(Date.now());
        return done(false, relay.refuseWith, undefined, relay.refuseHeaders);
      }
      const h = info.req.headers;
      const protocols = (h["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim()).filter((p) => p);
      const headers: Record<string, string> = { authorization: h.authorization ?? "" };
      if (typeof h["handoff-hello"] === "string") headers["handoff-hello"] = h["handoff-hello"];
      const upstream = new WebSocket(node.url, protocols, { headers });
      const early: Buffer[] = [];
      let decided = false;
      const decide = (ok: boolean, status?: number) => {
        if (!decided) done(ok, status);
        decided = true;
      };
      upstream.on("message", (data: Buffer) => early.push(data));
      upstream.once("open", () => {
        opening.set(info.req, { upstream, early });
        decide(true);
      });
      // The node's refusal, passed on; a node that cannot be reached, 502.
      upstream.once("unexpected-response", (_r: unknown, res: IncomingMessage) => {
        decide(false, res.statusCode ?? 502);
        upstream.terminate();
      });
      upstream.on("error", () => decide(false, 502));
    },
    handleProtocols: (_offered: Set<string>, req: IncomingMessage) => opening.get(req)?.upstream.protocol || false,
  });
  server.on("connection", (device: WebSocket, req: IncomingMessage) => {
    accepted++;
    const { upstream, early } = opening.get(req)!;
    opening.delete(req);
    pairs.push({ device, upstream });
    device.on("message", (data: Buffer) => upstream.readyState === WebSocket.OPEN && upstream.send(data, { binary: true }));
    upstream.removeAllListeners("message");
    early.forEach((data) => device.send(data, { binary: true }));
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
    refuseHeaders: {},
    refusedAt: [],
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
/**
 * A node that takes one upgrade per 2 s from an address (the 429 test's): started with the other, for the
 * file, so that its test does not wait for a JVM of its own.
 */
let limited: Node;
const relays: Relay[] = [];
/** A relay to `node` for one test; stopped after the file, once the clients are closed. */
async function proxy(onNodeClose: number): Promise<Relay> {
  const relay = await startRelay(node, onNodeClose);
  relays.push(relay);
  return relay;
}
const random = Math.random;
before(async () => {
  [node, limited] = await Promise.all([startNode(), startNode(["--connect-rate", "0.5", "--connect-burst", "1"])]);
  // The backoff's jitter draws its largest: a one-minute backoff waits 59.4 s, so only a refusal's own
  // rule (503: soon; Retry-After: that long) can explain a client back within a test's deadline.
  Math.random = () => 0.99;
});
// The tests run side by side, each on a relay and users of its own (the 429 test alone on `limited`), so
// their clients and relays are closed after the file rather than after each test.
after(async () => {
  Math.random = random;
  await closeClients();
  await Promise.all(relays.map((r) => r.stop()));
  await Promise.all([node?.stop(), limited?.stop()]);
});

describe("a proxy in front of a node", { concurrency: true }, () => {
  test("a proxy closing with 1000, 1001 or no status: the client reconnects through it and resumes", { timeout: 60_000 }, async () => {
    const relay = await proxy(1000);
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
      await until(`the client back through the proxy after ${reported}`, () => relay.accepted() > before && phone.state === "connected");
      await until(`the write made while away after ${reported}`, () => text(phone.document("player").get("position")) === `round ${round}`);
    }
    assert.ok(!states.some((s) => s.startsWith("closed")), states.join(", "));
    assert.equal(text(phone.document("player").get("position")), "round 3");
  });

  test("the node's terminal Disconnect decides over the 1000 a proxy closes with after it", { timeout: 60_000 }, async () => {
    const relay = await proxy(1000);
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
    const relay = await proxy(1000);
    for (const status of [400, 404, 426, 429, 503]) {
      relay.refuseWith = status;
      const phone = client(node, user(`proxy-refuses-${status}`), "phone", { url: relay.url });
      const states: string[] = [];
      phone.on("state", (st, code, why) => states.push(`${st} ${code} ${why}`));
      const connected = phone.connect();
      const before = relay.refused();
      await until(`attempts after the refusal with ${status}`, () => relay.refused() - before >= 3);
      assert.ok(states.includes(`reconnecting 1006 the server refused the upgrade (HTTP ${status})`), states.join(", "));
      assert.ok(!states.some((s) => s.startsWith("closed")), states.join(", "));
      relay.refuseWith = 0;
      await connected;
      await phone.close();
    }
  });

  test("an upgrade a proxy refuses with 503 (its node drains) is tried again soon, not after the long backoff", { timeout: 60_000 }, async () => {
    const relay = await proxy(1000);
    // The largest draw of a one-minute backoff (the file's): 59.4 s, were it not a 503.
    relay.refuseWith = 503;
    const phone = client(node, user("proxy-503"), "phone", { url: relay.url, reconnect: { initialMs: 60_000, maxMs: 60_000 } });
    const connected = phone.connect();
    await until("the refusal", () => relay.refused() >= 1);
    relay.refuseWith = 0;
    await until("connected again within 10 s", () => phone.state === "connected");
    await connected;
  });

  test("an upgrade refused with 503 and Retry-After is not tried again before it", { timeout: 60_000 }, async () => {
    const relay = await proxy(1000);
    relay.refuseWith = 503;
    // A second: longer than any wait of this client's own backoff (at most 500 ms).
    relay.refuseHeaders = { "Retry-After": "1" };
    const phone = client(node, user("proxy-503-retry-after"), "phone", { url: relay.url });
    const states: string[] = [];
    phone.on("state", (st, code, why) => states.push(`${st} ${code} ${why}`));
    const connected = phone.connect();
    await until("a second refusal", () => relay.refused() >= 2);
    const [first, second] = relay.refusedAt;
    // 1 s and up to half of it on top (the file's draw of 0.99: 0.495 s): never before the second.
    assert.ok(second - first >= 1_000, `tried again after ${second - first} ms`);
    assert.ok(states.includes("reconnecting 1006 the server refused the upgrade (HTTP 503, Retry-After 1 s)"), states.join(", "));
    relay.refuseWith = 0;
    await connected;
  });

  test("the node's own 429 for too many upgrades from one address: the client comes back after its Retry-After, once", { timeout: 60_000 }, async () => {
    // One upgrade per 2 s from an address: the second client's comes too early and is refused, with a
    // Retry-After of the seconds until the next one is allowed. No other test of the file connects to this node.
    const first = client(limited, user("limited-a"), "phone");
    await first.connect();
    let attempts = 0;
    const open = bearerWebSocket(WebSocket);
    const second = client(limited, user("limited-b"), "phone", {
      webSocket: (url, token) => {
        attempts++;
        return open(url, token);
      },
    });
    const states: string[] = [];
    let refusedAt = 0;
    second.on("state", (st, code, why) => {
      states.push(`${st} ${code} ${why}`);
      if (st === "reconnecting") refusedAt = Date.now();
    });
    await second.connect();
    const connectedAt = Date.now();
    assert.equal(attempts, 2, `one refused upgrade, then one taken, no attempt the node would refuse again: ${states.join(", ")}`);
    const refusal = states.find((s) => s.startsWith("reconnecting"));
    const m = /^reconnecting 1006 the server refused the upgrade \(HTTP 429, Retry-After (\d+) s\)$/.exec(refusal ?? "");
    assert.ok(m, states.join(", "));
    assert.ok(connectedAt - refusedAt >= Number(m[1]) * 1000, `connected ${connectedAt - refusedAt} ms after the refusal`);
    await Promise.all([first.close(), second.close()]);
  });

  test("a 4502 a proxy closes with in band: a token source gets another token and reconnects, a fixed token stops", { timeout: 60_000 }, async () => {
    const relay = await proxy(1000);
    const u = user("proxy-4502");
    let fetched = 0;
    const renewing = client(node, u, "phone", {
      url: relay.url,
      tokenSource: async () => {
        fetched++;
        return mintToken(u, "phone");
      },
    });
    const fixed = client(node, u, "tablet", { url: relay.url });
    const renewingStates: string[] = [];
    const fixedStates: string[] = [];
    renewing.on("state", (st, code) => renewingStates.push(`${st} ${code}`));
    fixed.on("state", (st, code) => fixedStates.push(`${st} ${code}`));
    await Promise.all([renewing.connect(), fixed.connect()]);
    const before = relay.accepted();

    relay.closeAll(4502);

    await until("the fixed token's client stopped", () => fixed.state === "closed");
    await until("the token source's client back", () => renewing.state === "connected" && relay.accepted() > before);
    assert.deepEqual(fixedStates, ["connecting 0", "connected 0", "closed 4502"]);
    assert.deepEqual(renewingStates, ["connecting 0", "connected 0", "reconnecting 4502", "connected 0"]);
    assert.equal(fetched, 2, "a new token for the new connection");
  });

  test("a token from a token source that cannot be sent, or is empty, still stops the client with 4502", { timeout: 20_000 }, async () => {
    for (const [token, why] of [
      [`${mintToken(user("newline-source"), "phone")}\n`, /characters a token cannot have/],
      ["", /the access token cannot be used: the token is empty/],
    ] as const) {
      const c = client(node, "unused", "unused", { tokenSource: async () => token });
      const states: string[] = [];
      c.on("state", (s) => states.push(s));
      await assert.rejects(c.connect(), (e: HandoffError) => e.code === "CLOSED" && e.closeCode === 4502 && why.test(e.message));
      assert.ok(!states.includes("reconnecting"), `no reconnect: ${states.join(" ")}`);
    }
  });
});
