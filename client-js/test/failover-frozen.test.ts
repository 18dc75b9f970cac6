// The client moving between server URLs when a node freezes or stops answering, and close() meanwhile: real
// nodes on one real Redis, and scripted servers on real sockets. (Apart from failover.test.ts so that the two run side by side.)
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { WebSocketServer } from "ws";
import { ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import type { HandoffClient } from "../src/index.js";
import { client, mintToken, nodesOnOneRedis, text, until, user } from "./harness.js";

const node = nodesOnOneRedis();

describe("failover between URLs: frozen nodes and close()", () => {
  test("a write sent to a node that froze is applied once, by the next node the client moves to", async () => {
    const u = user("frozen-write");
    // A heartbeat of 1 s: the client gives the frozen node up within seconds.
    const [n1, n2] = await Promise.all([node("fo-fw1", undefined, ["--heartbeat", "1s"]), node("fo-fw2")]);
    const writer = client(n1, u, "writer", { url: undefined, urls: [n1.url, n2.url] });
    await writer.connect();
    const doc = writer.document("doc");
    assert.equal(await doc.set("a", "1"), 1n);
    n1.pause();
    try {
      // Sent on the frozen node's socket: its kernel takes it, the node never answers.
      assert.equal(await doc.set("b", "2"), 2n);
    } finally {
      n1.resume();
    }
    assert.equal(await doc.set("c", "3"), 3n);
    const reader = client(n2, u, "reader");
    await reader.connect();
    await until("the reader holds the document", () => reader.document("doc").version >= 3n);
    assert.equal(reader.document("doc").version, 3n);
    assert.deepEqual(["a", "b", "c"].map((f) => text(reader.document("doc").get(f))), ["1", "2", "3"]);
  });

  test("a node that keeps pinging but never welcomes is given up after connectTimeoutMs and the next URL is tried", async () => {
    const real = await node("fo-4");
    // A scripted node on a real socket: it takes the upgrade, pings (WebSocket and protobuf Pong) every
    // 50 ms, and never sends a Welcome.
    const hung = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((ok) => hung.once("listening", () => ok()));
    const port = (hung.address() as { port: number }).port;
    let accepted = 0;
    let closedByClient = 0;
    const pong = toBinary(ServerFrameSchema, create(ServerFrameSchema, { body: { case: "pong", value: {} } }));
    hung.on("connection", (ws) => {
      accepted++;
      const pinger = setInterval(() => {
        ws.ping();
        ws.send(pong);
      }, 50);
      ws.on("close", () => {
        clearInterval(pinger);
        closedByClient++;
      });
    });
    try {
      const c = client(real, user("hung"), "tv", {
        url: undefined,
        urls: [`ws://127.0.0.1:${port}/ws`, real.url],
        connectTimeoutMs: 1_000,
      });
      const startedAt = Date.now();
      await c.connect();
      assert.equal(c.state, "connected");
      assert.equal(accepted, 1, "the hung node was tried once");
      await until("the hung node's socket was closed by the client", () => closedByClient === 1);
      assert.ok(Date.now() - startedAt < 20_000, `connected after ${Date.now() - startedAt} ms`);
    } finally {
      for (const ws of hung.clients) ws.terminate();
      await new Promise((done) => hung.close(done));
    }
  });

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
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: new URL("../..", import.meta.url) });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
      const deadline = new Promise<"running">((done) => setTimeout(() => done("running"), 20_000).unref());
      const result = await Promise.race([exited, deadline]);
      if (result === "running") child.kill("SIGKILL");
      assert.equal(result, 0, `the process still ran 20 s after close(), or failed:\n${out}`);
      assert.deepEqual(JSON.parse(out.trim().split("\n").pop()!), { after: 0, write: "CLIENT_CLOSED", state: "closed" });
    });
  }

  for (const when of ["reconnects from", "is connected to"] as const) {
    test(`close() while the client ${when} a frozen node leaves no socket that keeps Node running`, async () => {
      // A heartbeat of 1 s: the client gives a silent node up within seconds.
      const frozen = await node(`fo-frozen-${when.length}`, undefined, ["--heartbeat", "1s"]);
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
