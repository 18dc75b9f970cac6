// The client against two real server nodes sharing a real Redis: devices of one user on different nodes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type DocumentChange, type HandoffError, MemoryStore, OfferOutcome } from "../src/index.js";
import { client, closeClients, type Node, type Redis, startNode, startRedis, until, user } from "./harness.js";

let redis: Redis;
let nodes: Node[] = [];
before(async () => {
  redis = await startRedis();
  nodes = await Promise.all(
    ["js-a", "js-b"].map((id) => startNode(["--redis-url", redis.url, "--node-id", id, "--history-length", "4"])),
  );
});
// The tests run side by side, each with users of its own, so their clients are closed after the file
// rather than after each test.
after(async () => {
  await closeClients();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis?.stop();
});

describe("two nodes with Redis", { concurrency: true }, () => {
  test("a write on one node fans out once to devices on both nodes, in order", async () => {
    const u = user("multi");
    const phone = client(nodes[0], u, "phone");
    const tv = client(nodes[1], u, "tv");
    const laptop = client(nodes[0], u, "laptop");
    const seen: Record<string, bigint[]> = { tv: [], laptop: [] };
    tv.on("change", (c: DocumentChange) => c.kind === "delta" && seen.tv.push(c.version));
    laptop.on("change", (c: DocumentChange) => c.kind === "delta" && seen.laptop.push(c.version));
    await Promise.all([phone.connect(), tv.connect(), laptop.connect()]);
    for (let i = 1; i <= 5; i++) await phone.document("player").set("position", String(i));
    await until("five deltas on each device", () => seen.tv.length === 5 && seen.laptop.length === 5);
    assert.deepEqual(seen.tv, [1n, 2n, 3n, 4n, 5n]);
    assert.deepEqual(seen.laptop, [1n, 2n, 3n, 4n, 5n]);
    assert.equal(tv.document("player").getString("position"), "5");
    await Promise.all([phone, tv, laptop].map((c) => c.close()));
  });

  test("a device that moves to the other node resumes with deltas", async () => {
    const u = user("move");
    const writer = client(nodes[0], u, "writer");
    await writer.connect();
    await writer.document("cart").set("a", "1");
    const store = new MemoryStore();
    const first = client(nodes[0], u, "reader", { store });
    await first.connect();
    await until("reader has v1", () => first.document("cart").version === 1n);
    await first.close();
    await writer.document("cart").set("b", "2");
    await writer.document("cart").set("c", "3");

    // The same device on the other node, with the replica it held (from its store).
    const moved = client(nodes[1], u, "reader", { store });
    const kinds: string[] = [];
    moved.on("change", (c) => kinds.push(`${c.kind}:${c.version}`));
    await moved.connect();
    await until("resumed to v3", () => moved.document("cart").version === 3n);
    assert.deepEqual(kinds, ["delta:2", "delta:3"]);
    await Promise.all([writer.close(), moved.close()]);
  });

  test("devices on two nodes accepting one offer: exactly one wins", async () => {
    const u = user("race2");
    const phone = client(nodes[0], u, "phone");
    const tv = client(nodes[0], u, "tv");
    const laptop = client(nodes[1], u, "laptop");
    await Promise.all([phone.connect(), tv.connect(), laptop.connect()]);
    const prompted = Promise.all([tv, laptop].map((c) => new Promise<void>((ok) => c.on("prompt", () => ok()))));
    const offer = phone.offer({ kind: "form", title: "Half-written form" }, { ttlMs: 30_000 });
    const { offerId } = await offer.created;
    await prompted;
    const outcomes = await Promise.allSettled([tv.accept(offerId), laptop.accept(offerId)]);
    assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, 1, "exactly one winner across nodes");
    const loser = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
    assert.equal((loser.reason as HandoffError).code, "OFFER_WITHDRAWN");
    const result = await offer.result;
    assert.equal(result.outcome, OfferOutcome.ACCEPTED);
    await Promise.all([phone, tv, laptop].map((c) => c.close()));
  });
});
