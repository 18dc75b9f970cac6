// Writes in flight when the client's node goes, crashed or drained: real nodes on one real Redis. (Apart from
// failover.test.ts so that the two run side by side.) The nodes start at once, for the file; each test takes a
// node of its own down, and the two run side by side.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { client, nodesOnOneRedis, text, until, user } from "./harness.js";

/** The writer's node of each test, and the node it moves to, which stays up. */
const nodes = nodesOnOneRedis(["fo-w1-kill", "fo-w1-stop", "fo-w2"]);

describe("failover between URLs: writes in flight", { concurrency: true }, () => {
  for (const how of ["kill", "stop"] as const) {
    test(`writes in flight when their node goes (${how === "kill" ? "crash" : "drain"}) are applied once each, and each promise has its version`, async () => {
      const u = user(`inflight-${how}`);
      const { "fo-w1-kill": crashing, "fo-w1-stop": draining, "fo-w2": n2 } = nodes();
      const n1 = how === "kill" ? crashing : draining;
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
});
