// `checkConnection()` in Node, which has no browser events: the app says when to check. Against the real
// server jar with a heartbeat of ten minutes, through a TCP relay that can stop carrying bytes while it keeps
// its sockets open (a path that died unheard); the client's reconnects wait a minute (its backoff's jitter,
// `Math.random`, pinned near 1), so only the check can explain a connection given up and made again within
// the tests' deadlines.
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import type { HandoffClient } from "../src/index.js";
import { client, closeClients, type Node, startNode, startRelay, text, until, user } from "./harness.js";

let node: Node;
const random = Math.random;
before(async () => {
  node = await startNode(["--heartbeat", "10m"]);
  Math.random = () => 0.999;
});
afterEach(closeClients);
after(async () => {
  Math.random = random;
  await node?.stop();
});

/** A client of `u`'s phone through `url` following "player", its states and why in `states`. */
function phone(u: string, url: string, heartbeatMarginMs: number): { c: HandoffClient; states: string[] } {
  const c = client(node, u, "phone", {
    url,
    follow: { documents: ["player"] },
    reconnect: { initialMs: 60_000, maxMs: 60_000 },
    heartbeatMarginMs,
  });
  const states: string[] = [];
  c.on("state", (s, _code, why) => states.push(`${s}: ${why}`));
  return { c, states };
}

test("checkConnection gives up a connection that died unheard within the margin (at least a second) and reconnects at once", async () => {
  const relay = await startRelay(node);
  try {
    const u = user("check-dead");
    const { c, states } = phone(u, relay.url, 0);
    await c.connect();
    await c.document("player").set("position", "1");
    relay.cut();
    c.checkConnection();
    c.checkConnection(); // One probe at a time: no second give-up, no second reconnect.
    // The relay carries new connections: the reconnect goes at once, not a minute later.
    await until("reconnected", () => states.filter((s) => s.startsWith("connected")).length === 2);
    assert.deepEqual(states, [
      "connecting: ",
      "connected: ",
      "reconnecting: the app asked for a check, and a ping had no answer within 1000 ms",
      "connected: ",
    ]);
    assert.equal(await c.document("player").set("position", "2"), 2n);
    const tv = client(node, u, "tv", { follow: { documents: ["player"] } });
    await tv.connect();
    await until("the tv has v2", () => text(tv.document("player").get("position")) === "2");
  } finally {
    relay.close();
  }
});

test("checkConnection keeps a live connection, and does nothing before the Welcome", async () => {
  const relay = await startRelay(node);
  try {
    const { c, states } = phone(user("check-live"), relay.url, 0);
    c.checkConnection(); // Not connected yet: nothing to check.
    await c.connect();
    c.checkConnection();
    // The write's ack is a frame: it answers the check, whose timer can no longer fire.
    assert.equal(await c.document("player").set("position", "1"), 1n);
    assert.deepEqual(states, ["connecting: ", "connected: "]);
    assert.equal(c.state, "connected");
  } finally {
    relay.close();
  }
});
