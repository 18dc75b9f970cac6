// examples/minimal-client.mjs, a client written from docs/protocol.md alone, against a real node (the
// jar): the protocol page stays complete enough to write a client without guessing.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Node, ROOT, SECRET, startNode } from "./harness.js";

let node: Node;
before(async () => {
  node = await startNode();
});
after(async () => {
  await node?.stop();
});

test("the minimal client of the protocol page runs every flow as documented", async () => {
  const example = join(ROOT, "client-js", "examples", "minimal-client.mjs");
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve) => {
      const child = execFile(process.execPath, [example, node.url, SECRET], { timeout: 30_000 }, (err, out, errOut) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout: out, stderr: errOut }),
      );
      child.stdin?.end();
    },
  );
  assert.equal(code, 0, `the example failed:\n${stdout}\n${stderr}`);
  assert.match(stdout, /every flow as documented/);
});
