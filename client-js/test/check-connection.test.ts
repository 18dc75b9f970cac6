// `checkConnection()` in Node, which has no browser events: the app says when to check. Against the real
// server jar with a heartbeat of ten minutes, through a TCP relay that can stop carrying bytes while it keeps
// its sockets open (a path that died unheard); the client's reconnects wait a minute (its backoff's jitter,
// `Math.random`, pinned near 1), so only the check can explain a connection given up and made again within
// the tests' deadlines. Only the Pong carrying the check's nonce answers it: not the node's deltas over a
// half-open link (the relay carries only the node's direction), nor frames held while the path died.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { HandoffClient } from "../src/index.js";
import { client, closeClients, type Node, startNode, startRelay, text, until, user } from "./harness.js";

let node: Node;
const random = Math.random;
before(async () => {
  node = await startNode(["--heartbeat", "10m"]);
  Math.random = () => 0.999;
});
// The tests run side by side, each through a relay of its own, so their clients are closed after the
// file rather than after each test.
after(async () => {
  Math.random = random;
  await closeClients();
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

describe("checkConnection", { concurrency: true }, () => {
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

  const connectedTwice = (states: string[]) => states.filter((s) => s.startsWith("connected")).length === 2;
  const givenUpByTheCheck = [
    "connecting: ",
    "connected: ",
    "reconnecting: the app asked for a check, and a ping had no answer within 1000 ms",
    "connected: ",
  ];

  test("checkConnection gives up a half-open link while the node's deltas still arrive, and resumes with nothing lost", async () => {
    const relay = await startRelay(node);
    let writing = true;
    let tvWrites = 0;
    try {
      const u = user("check-half-open");
      const { c, states } = phone(u, relay.url, 0);
      const tv = client(node, u, "tv", { follow: { documents: ["player"] } });
      await c.connect();
      await tv.connect();
      assert.equal(await c.document("player").set("phone", "1"), 1n);
      relay.cutUp();
      const stuck = c.document("player").set("phone", "2"); // It cannot cross.
      stuck.catch(() => {}); // Awaited below; a test that fails before then closes the client.
      // The tv writes, one write at a time and at most for a minute, until the phone is back: its deltas
      // keep reaching the phone while the check waits for its Pong.
      const writer = (async () => {
        while (writing && tvWrites < 3000) {
          await tv.document("player").set("tv", String(tvWrites + 1));
          tvWrites++;
          await new Promise((r) => setTimeout(r, 20)); // Pacing only.
        }
      })();
      try {
        await until("the tv's deltas reach the phone over the half-open link", () => c.document("player").get("tv") !== undefined);
        c.checkConnection();
        await until("the phone gave the half-open link up and connected again", () => connectedTwice(states), 30_000);
      } finally {
        writing = false;
        await writer;
      }
      assert.deepEqual(states, givenUpByTheCheck);
      assert.ok((await stuck) > 1n, "the phone's write is applied");
      const version = BigInt(2 + tvWrites); // The phone's two writes, each applied once, and the tv's.
      await until("both have every write", () => c.document("player").version === version && tv.document("player").version === version);
      assert.equal(text(c.document("player").get("phone")), "2");
      assert.equal(text(c.document("player").get("tv")), String(tvWrites));
      assert.equal(text(tv.document("player").get("phone")), "2");
    } finally {
      writing = false;
      relay.close();
    }
  });

  test("checkConnection is not answered by frames the node sent before the network went, delivered after its ping (a thawed page)", async () => {
    const relay = await startRelay(node);
    try {
      const u = user("check-thawed");
      const { c, states } = phone(u, relay.url, 0);
      const tv = client(node, u, "tv", { follow: { documents: ["player"] } });
      await c.connect();
      await tv.connect();
      relay.freeze();
      assert.equal(await tv.document("player").set("tv", "1"), 1n);
      await until("the delta to the phone is kept", () => relay.kept() > 0);
      c.checkConnection();
      relay.thaw(); // The delta comes after the ping, from a path that is dead.
      await until("the phone has the delta", () => text(c.document("player").get("tv")) === "1");
      await until("the phone gave the dead link up and connected again", () => connectedTwice(states), 30_000);
      assert.deepEqual(states, givenUpByTheCheck);
      assert.equal(await c.document("player").set("phone", "1"), 2n);
      await until("the tv has the phone's write", () => text(tv.document("player").get("phone")) === "1");
    } finally {
      relay.close();
    }
  });

  test("checkConnection keeps a live connection, and does nothing before the Welcome", async () => {
    const relay = await startRelay(node);
    try {
      // A margin of a minute: the check waits that long, so a loaded machine's slow Pong cannot give the
      // connection up. Which frame answers a check is probe.test.ts's, on mock timers.
      const { c, states } = phone(user("check-live"), relay.url, 60_000);
      c.checkConnection(); // Not connected yet: nothing to check.
      await c.connect();
      c.checkConnection();
      // The node answers in order: the check's Pong comes before the write's ack, so once the ack is here
      // the check is answered and its timer can no longer fire.
      assert.equal(await c.document("player").set("position", "1"), 1n);
      assert.deepEqual(states, ["connecting: ", "connected: "]);
      assert.equal(c.state, "connected");
    } finally {
      relay.close();
    }
  });
});
