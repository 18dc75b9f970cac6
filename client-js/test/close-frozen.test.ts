// close() while the client waits to reconnect, waits for a Welcome, or is on a node that froze, and close()
// from a state listener as the client starts to reconnect, leave nothing that keeps Node running: clients in
// processes of their own, against scripted servers on real sockets and real nodes. (Apart from
// failover-frozen.test.ts so that the two run side by side.)
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { mintToken, type Node, startNode, until, user } from "./harness.js";

/**
 * Runs `script` as an ES module in a Node process of its own and waits for it to exit, at most 20 s
 * ("running" then, and the process killed); its output is stdout and stderr together.
 */
async function runToExit(script: string): Promise<{ result: number | null | "running"; out: string }> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: new URL("../..", import.meta.url) });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  const deadline = new Promise<"running">((done) => setTimeout(() => done("running"), 20_000).unref());
  const result = await Promise.race([exited, deadline]);
  if (result === "running") child.kill("SIGKILL");
  return { result, out };
}

/** Nodes with a heartbeat of 1 s, one for each test that freezes one: the client gives it up within 2.5 s. */
const frozenNodes = new Map<string, Node>();
const FROZEN = ["reconnects from", "is connected to"] as const;
// Both start at once, for the file.
before(async () => {
  const started = await Promise.allSettled(FROZEN.map((_, i) => startNode(["--node-id", `fo-frozen-${i}`, "--heartbeat", "1s"])));
  started.forEach((r, i) => r.status === "fulfilled" && frozenNodes.set(FROZEN[i], r.value));
  for (const r of started) if (r.status === "rejected") throw r.reason;
});
after(async () => {
  await Promise.all([...frozenNodes.values()].map((n) => n.stop()));
});

// Each test has a process and a server or node of its own: they run side by side.
describe("close() leaves nothing that keeps Node running", { concurrency: true }, () => {
  for (const server of ["closes", "hangs"] as const) {
    test(`close() while the client ${server === "closes" ? "waits out its backoff" : "waits for a Welcome"} leaves nothing that keeps Node running, and no listener is called after it`, async () => {
      // In a process of its own: it must exit by itself once the client and the scripted node are closed.
      const index = new URL("../src/index.js", import.meta.url).href;
      const script = `
        import WebSocket, { WebSocketServer } from "ws";
        import { bearerWebSocket, HandoffClient } from ${JSON.stringify(index)};
        const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
        await new Promise((ok) => wss.once("listening", ok));
        let upgrades = 0;
        wss.on("connection", (ws) => {
          upgrades++;
          if (${JSON.stringify(server)} === "closes") ws.close(4000, "shutting down");
        });
        const url = "ws://127.0.0.1:" + wss.address().port + "/ws";
        const c = new HandoffClient({
          urls: [url, url],
          token: ${JSON.stringify(mintToken("u", "d"))},
          webSocket: bearerWebSocket(WebSocket),
          reconnect: { initialMs: 50, maxMs: 200 },
          connectTimeoutMs: 60000,
        });
        let closed = false;
        let after = 0;
        for (const e of ["state", "error", "change", "synced"]) c.on(e, (s) => { if (closed) after++; if (s === "closed") closed = true; });
        const write = c.document("doc").set("f", "1").catch((e) => e.code);
        c.connect().catch(() => {});
        while (upgrades < 3 && (${JSON.stringify(server)} === "closes" || upgrades < 1)) await new Promise((r) => setTimeout(r, 10));
        await c.close();
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        console.log(JSON.stringify({ after, write: await write, state: c.state }));
      `;
      const { result, out } = await runToExit(script);
      assert.equal(result, 0, `the process still ran 20 s after close(), or failed:\n${out}`);
      assert.deepEqual(JSON.parse(out.trim().split("\n").pop()!), { after: 0, write: "CLIENT_CLOSED", state: "closed" });
    });
  }

  test("close() from a state listener as the client starts to wait out its backoff leaves nothing that keeps Node running", async () => {
    // In a process of its own, its backoff a minute: it must exit by itself once the client is closed.
    const index = new URL("../src/index.js", import.meta.url).href;
    const script = `
      import WebSocket, { WebSocketServer } from "ws";
      import { bearerWebSocket, HandoffClient } from ${JSON.stringify(index)};
      Math.random = () => 0.999; // the backoff's jitter: its wait is the minute
      const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
      await new Promise((ok) => wss.once("listening", ok));
      wss.on("connection", (ws) => ws.close(4000, "shutting down"));
      const c = new HandoffClient({
        url: "ws://127.0.0.1:" + wss.address().port + "/ws",
        token: ${JSON.stringify(mintToken("u", "d"))},
        webSocket: bearerWebSocket(WebSocket),
        reconnect: { initialMs: 60000, maxMs: 60000 },
      });
      let closing;
      c.on("state", (s) => { if (s === "reconnecting") closing = c.close(); });
      c.connect().catch(() => {});
      while (!closing) await new Promise((r) => setTimeout(r, 10));
      await closing;
      wss.close();
      console.log(JSON.stringify({ state: c.state }));
    `;
    const { result, out } = await runToExit(script);
    assert.equal(result, 0, `the process still ran 20 s after close(), or failed:\n${out}`);
    assert.deepEqual(JSON.parse(out.trim().split("\n").pop()!), { state: "closed" });
  });

  for (const when of FROZEN) {
    test(`close() while the client ${when} a frozen node leaves no socket that keeps Node running`, async () => {
      const frozen = frozenNodes.get(when)!;
      // The client in a process of its own: it must exit by itself once closed.
      const index = new URL("../src/index.js", import.meta.url).href;
      const script = `
        import WebSocket from "ws";
        import { bearerWebSocket, HandoffClient } from ${JSON.stringify(index)};
        const c = new HandoffClient({
          url: ${JSON.stringify(frozen.url)},
          token: ${JSON.stringify(mintToken(user("frozen"), "tv"))},
          webSocket: bearerWebSocket(WebSocket),
          reconnect: { initialMs: 50, maxMs: 200 },
          connectTimeoutMs: 60000,
          heartbeatMarginMs: 500, // a frozen node's unanswered ping gives it up after 1.5 s, not 6 s
        });
        c.on("state", async (s, code, reason) => {
          console.log(s + " " + reason);
          if (s === "reconnecting") await c.close();
        });
        process.stdin.once("data", () => c.close().then(() => process.stdin.destroy()));
        await c.connect();
      `;
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
        cwd: new URL("../..", import.meta.url),
      });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
      try {
        await until("the client is connected", () => out.includes("connected"), 20_000);
        // The node's sockets stay open and never answer.
        frozen.pause();
        if (when === "is connected to") child.stdin.write("close\n");
        else child.stdin.end(); // The client's heartbeat gives the node up, and a listener closes the client.
        await until("the client closed", () => out.includes("closed"), 30_000);
        const closedAt = Date.now();
        const result = await Promise.race([
          exited,
          new Promise<"running">((done) => setTimeout(() => done("running"), 10_000).unref()),
        ]);
        assert.equal(result, 0, `the process still ran ${Date.now() - closedAt} ms after close():\n${out}`);
      } finally {
        child.kill("SIGKILL");
        frozen.resume();
      }
    });
  }
});
