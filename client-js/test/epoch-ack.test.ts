// A document's history ends in the store (its keys deleted, as a wipe or its idle expiry does) while
// the device that holds it stays connected; the device then writes it: its copy ends equal to the
// store's new history, not its old fields beside the new write.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, afterEach, before, test } from "node:test";
import { client, closeClients, type Node, type Redis, startNode, startRedis, text, until, user } from "./harness.js";

let redis: Redis;
let n: Node;
before(async () => {
  redis = await startRedis();
  n = await startNode(["--redis-url", redis.url]);
});
after(async () => {
  await n?.stop();
  await redis?.stop();
});
afterEach(closeClients);

/**
 * Deletes the keys of `u`'s `document` (DEL over RESP on a socket of its own): its history ends, as in a
 * wipe that leaves the nodes' life marker, or its idle expiry. Resolves with the number of keys deleted.
 */
function endHistory(u: string, document: string): Promise<string> {
  const keys = ["m", "f", "h"].map((kind) => `handoff:{${u}}:${kind}:${document}`);
  const command = ["DEL", ...keys].map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("");
  const { hostname, port } = new URL(redis.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`*${keys.length + 1}\r\n${command}`));
    let reply = "";
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.endsWith("\r\n")) {
        socket.end();
        resolve(reply.trim());
      }
    });
    socket.on("error", reject);
  });
}

test("a followed document whose history ended while connected: the writer's copy is the store's new history", async () => {
  const u = user("epoch");
  const phone = client(n, u, "phone");
  const tv = client(n, u, "tv");
  await Promise.all([phone.connect(), tv.connect()]);
  await phone.document("cart").edit().set("old", "1").set("kept", "x").commit();
  const oldEpoch = phone.document("cart").epoch;
  await until("the tv holds the old history", () => tv.document("cart").version === 1n);

  assert.equal(await endHistory(u, "cart"), ":3", "the document's three keys");
  const version = await phone.document("cart").set("new", "2");
  assert.equal(version, 1n, "a new history");

  const fresh = client(n, u, "laptop");
  await fresh.connect();
  await until("the laptop read the store's document", () => fresh.document("cart").version === 1n);
  const store = fresh.document("cart");
  assert.notEqual(store.epoch, oldEpoch);
  for (const c of [phone, tv]) {
    await until("the copy is the store's", () => c.document("cart").epoch === store.epoch);
    assert.deepEqual([...c.document("cart").fields().keys()].sort(), [...store.fields().keys()].sort());
    assert.equal(text(c.document("cart").get("new")), "2");
    assert.equal(c.document("cart").get("old"), undefined);
  }
});
