// The client moving between server URLs: real nodes on one real Redis (frozen nodes are in failover-frozen.test.ts, close() meanwhile in close-frozen.test.ts).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { HandoffClient } from "../src/index.js";
import { client, freePort, nodesOnOneRedis, text, until, user } from "./harness.js";

const node = nodesOnOneRedis();

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

  for (const how of ["kill", "stop"] as const) {
    test(`writes in flight when their node goes (${how === "kill" ? "crash" : "drain"}) are applied once each, and each promise has its version`, async () => {
      const u = user(`inflight-${how}`);
      const [n1, n2] = await Promise.all([node(`fo-w1-${how}`), node(`fo-w2-${how}`)]);
      const writer = client(n1, u, "writer", { url: undefined, urls: [n1.url, n2.url] });
      await writer.connect();
      const doc = writer.document("doc");
      const count = 300;
      const settled: (bigint | Error)[] = [];
      const all = Array.from({ length: count }, (_, i) =>
        doc.set(`f${i}`, String(i)).then(
          (v) => void settled.push(v),
          (e: Error) => void settled.push(e),
        ),
      );
      await until("some writes acked", () => settled.length > 0);
      await (how === "kill" ? n1.kill() : n1.stop());
      await Promise.all(all);
      const failed = settled.filter((s) => s instanceof Error);
      assert.deepEqual(failed.map(String), [], "no write failed");
      assert.equal(new Set(settled).size, count, "each write has a version of its own");
      assert.equal(writer.pendingWrites, 0);
      // The store's truth, read by another device on the node that is left.
      const reader = client(n2, u, "reader");
      await reader.connect();
      await until("the reader holds the document", () => reader.document("doc").version >= BigInt(count));
      assert.equal(reader.document("doc").version, BigInt(count), "no write was applied twice");
      for (let i = 0; i < count; i++) assert.equal(text(reader.document("doc").get(`f${i}`)), String(i));
    });
  }

  test("documents followed by name, at the start and later, resume on the next node after a crash; others stay unfollowed", async () => {
    const u = user("follow");
    const [n1, n2, writerNode] = await Promise.all([node("fo-f1"), node("fo-f2"), node("fo-f3")]);
    const tv = client(n1, u, "tv", { url: undefined, urls: [n1.url, n2.url], follow: { documents: ["a"] } });
    await tv.connect();
    await tv.follow({ documents: ["b"] });
    const writer = client(writerNode, u, "writer");
    await writer.connect();
    for (const name of ["a", "b"]) await writer.document(name).set("f", "1");
    await until("the tv holds a and b", () => tv.document("a").version === 1n && tv.document("b").version === 1n);
    await n1.kill();
    for (const name of ["a", "b", "c"]) await writer.document(name).set("f", "2");
    await until("the tv caught up on n2", () => tv.document("a").version === 2n && tv.document("b").version === 2n);
    assert.equal(text(tv.document("b").get("f")), "2");
    await writer.document("b").set("f", "3");
    await until("the tv hears b live on n2", () => tv.document("b").version === 3n);
    assert.equal(tv.document("c").version, 0n, "c was never followed");
  });
});
