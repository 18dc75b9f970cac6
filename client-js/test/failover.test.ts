// The client moving between server URLs: real nodes on one real Redis (writes in flight when a node goes are in
// failover-inflight.test.ts, frozen nodes in failover-frozen.test.ts, close() meanwhile in close-frozen.test.ts, so
// that they run side by side). The nodes start at once, for the file; each test kills a node of its own, and the
// tests run side by side.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { HandoffClient } from "../src/index.js";
import { client, freePort, nodesOnOneRedis, startRelay, text, until, user } from "./harness.js";

/**
 * `fo-1` and `fo-f1`: the tv's first node in the first and in the second test, which each kills; `fo-2`: where
 * the tv moves in both; `fo-3`: the node of the other device (the phone, the writer), which stays up.
 */
const nodes = nodesOnOneRedis(["fo-1", "fo-f1", "fo-2", "fo-3"]);

describe("failover between URLs", { concurrency: true }, () => {
  test("what changed while the client moved to another node is what it holds once it says it is connected", async () => {
    const u = user("moved");
    const { "fo-1": n1, "fo-2": n2, "fo-3": phoneNode } = nodes();
    // The tv's second URL has nothing listening yet: the tv finds a node there only once the phone has changed
    // things (a relay to fo-2, started then on that port).
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
    const relay = await startRelay(n2, secondPort);
    try {
      await until("the tv is connected again", () => heldWhenConnected.length === 2, 30_000);
      assert.equal(heldWhenConnected[0], "activity none, prompts []");
      assert.equal(heldWhenConnected[1], "activity Episode 4, prompts []", "what the tv holds when it says it is connected again");
    } finally {
      await tv.close();
      relay.close();
    }
  });

  test("documents followed by name, at the start and later, resume on the next node after a crash; others stay unfollowed", async () => {
    const u = user("follow");
    const { "fo-f1": n1, "fo-2": n2, "fo-3": writerNode } = nodes();
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
