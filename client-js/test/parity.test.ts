// Behaviours the Java client has, checked in this client against real server nodes (the jar, on free
// ports) and real sockets: moving on to the next endpoint when one hangs, a socket given up on while
// it connects, and honest outcomes for a write whose answer was lost.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, createServer, type Server, type Socket } from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { type DocumentChange, ErrorCode, type HandoffError } from "../src/index.js";
import { client, closeClients, type Node, startNode, until, user } from "./harness.js";

let node: Node;
// A node of its own store that takes no frame over 64 KiB (its value limit; `node` takes 512 KiB): where
// a device moves after `node`.
let strict: Node;
before(async () => {
  [node, strict] = await Promise.all([
    // One write a second per connection: a second write at once is refused RATE_LIMITED, taken a second later.
    startNode(["--write-rate", "1", "--write-burst", "1"]),
    startNode(["--max-frame-bytes", "65536"]),
  ]);
});
// The tests run side by side, each with users, proxies and servers of its own (`node`'s write rate is
// per connection), so their clients are closed after the file rather than after each test.
after(async () => {
  await closeClients();
  await Promise.all([node?.stop(), strict?.stop()]);
});

/** A TCP server that accepts connections and never answers: a node that hangs, or a black hole. */
async function silentServer(): Promise<{
  url: string;
  accepted: () => number;
  ended: () => number;
  stop: () => Promise<void>;
}> {
  const sockets: Socket[] = [];
  let ended = 0;
  const server: Server = createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    s.on("close", () => ended++);
    s.resume(); // reads (and drops) the upgrade request, so the end of the connection is seen
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    accepted: () => sockets.length,
    ended: () => ended,
    stop: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}

/**
 * A TCP proxy to `port` whose answers can be swallowed: the node gets and handles what the client
 * sends, the client hears nothing back. `blackholeDownstream` swallows from now on; `swallowAfter`
 * lets the node's frames through up to its first Error of `code`, then swallows the rest and holds
 * what the client sends next for `holdMs` before passing it on. `cutAll` ends every connection.
 */
async function chaosProxy(port: number): Promise<{
  url: string;
  blackholeDownstream: (on: boolean) => void;
  swallowAfter: (code: ErrorCode, holdMs: number) => Promise<void>;
  cutAll: () => void;
  stop: () => Promise<void>;
}> {
  const pairs: Socket[][] = [];
  let blackhole = false;
  let armed: { code: ErrorCode; holdMs: number; seen: () => void } | undefined;
  const server = createServer((down) => {
    const up = connect(port, "127.0.0.1");
    pairs.push([down, up]);
    down.on("error", () => up.destroy());
    up.on("error", () => down.destroy());
    down.on("close", () => up.destroy());
    up.on("close", () => down.destroy());
    // What the client sends while held, in order, passed on at once when the hold ends.
    let held: Buffer[] | undefined;
    down.on("data", (b: Buffer) => {
      if (held) held.push(b);
      else up.write(b);
    });
    let pending = Buffer.alloc(0);
    let headers = true;
    up.on("data", (b: Buffer) => {
      if (blackhole) return;
      // Passes on whole frames (the upgrade's headers first), looking at each for the awaited Error.
      pending = Buffer.concat([pending, b]);
      for (;;) {
        if (headers) {
          const end = pending.indexOf("\r\n\r\n");
          if (end < 0) return;
          down.write(pending.subarray(0, end + 4));
          pending = pending.subarray(end + 4);
          headers = false;
        }
        if (pending.length < 2) return;
        let length = pending[1] & 0x7f;
        let at = 2;
        if (length === 126) {
          if (pending.length < 4) return;
          length = pending.readUInt16BE(2);
          at = 4;
        } else if (length === 127) {
          if (pending.length < 10) return;
          length = Number(pending.readBigUInt64BE(2));
          at = 10;
        }
        if (pending.length < at + length) return;
        const binary = (pending[0] & 0x0f) === 2; // the node sends whole messages, uncompressed
        down.write(pending.subarray(0, at + length));
        const payload = pending.subarray(at, at + length);
        pending = pending.subarray(at + length);
        const a = armed;
        if (a && binary) {
          const frame = fromBinary(ServerFrameSchema, payload);
          if (frame.body.case === "error" && frame.body.value.code === a.code) {
            armed = undefined;
            blackhole = true;
            const hold: Buffer[] = [];
            held = hold;
            setTimeout(() => {
              held = undefined;
              for (const h of hold) up.write(h);
            }, a.holdMs);
            a.seen();
            return;
          }
        }
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const cutAll = () => {
    for (const pair of pairs.splice(0)) for (const s of pair) s.destroy();
  };
  return {
    url: `ws://127.0.0.1:${(server.address() as { port: number }).port}/ws`,
    blackholeDownstream: (on) => {
      blackhole = on;
    },
    swallowAfter: (code, holdMs) => new Promise<void>((seen) => (armed = { code, holdMs, seen })),
    cutAll,
    stop: () =>
      new Promise<void>((done) => {
        cutAll();
        server.close(() => done());
      }),
  };
}

/** `promise`, or a rejection naming `what` once `ms` have passed without it settling. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe("parity with the Java client", { concurrency: true }, () => {
  test("a node that takes the connection but never welcomes is left for the next endpoint", async () => {
    // The Java client moves to the next URL after every failed attempt; an attempt given up on by the
    // client itself (no Welcome in time, or no frame for a heartbeat) is one too.
    const hung = await silentServer();
    try {
      const u = user("hung-node");
      const phone = client(node, u, "phone", { url: undefined, urls: [hung.url, node.url], connectTimeoutMs: 300 });
      const seen: DocumentChange[] = [];
      phone.on("change", (c) => seen.push(c));
      await within(20_000, "connected through the second endpoint", phone.connect());
      assert.ok(hung.accepted() >= 1, "the first attempt went to the hung node");
      assert.equal(await phone.document("d").set("f", "1"), 1n);
    } finally {
      await hung.stop();
    }
  });

  test("a write of unknown fate over the next node's max_frame_bytes is reported as maybe applied", async () => {
    // As the Java client's ClientWriteOutcomesTest: the write reached the first node, which applied
    // it, and its ack was lost; on the next node it is too large to be sent again. The client gives
    // up on it, and must not say that it certainly was not applied.
    const proxy = await chaosProxy(node.port);
    try {
      const u = user("too-large-later");
      const watcher = client(node, u, "watcher");
      const phone = client(node, u, "phone", { url: undefined, urls: [proxy.url, strict.url] });
      await Promise.all([watcher.connect(), phone.connect()]);

      proxy.blackholeDownstream(true);
      const value = new Uint8Array(40_000);
      const big = phone.document("notes").edit().set("a", value).set("b", value).commit(); // 80 kB
      big.catch(() => {});
      await until("the first node applied the write", () => watcher.document("notes").version === 1n);
      proxy.cutAll();

      const failed = await big.then(
        () => assert.fail("the write cannot be acked: it is over the next node's frame limit"),
        (e: HandoffError) => e,
      );
      assert.equal(failed.code, "LIMIT_EXCEEDED");
      assert.ok(failed.mayHaveBeenApplied, `reported as certainly not applied: ${failed.message}`);
    } finally {
      await proxy.stop();
    }
  });

  test("a write refused for now, re-sent, and whose answer was then lost, is of unknown fate", async () => {
    // The Java client marks every send of a write, re-sends after a refusal included, as one whose
    // answer may be lost with its connection. Here the re-send after RATE_LIMITED is applied and its
    // ack lost; on the next node the write is too large to be sent again, so it is given up on, and
    // must not be reported as certainly not applied.
    const proxy = await chaosProxy(node.port);
    try {
      const u = user("resent-then-lost");
      const watcher = client(node, u, "watcher");
      const phone = client(node, u, "phone", { url: undefined, urls: [proxy.url, strict.url] });
      await Promise.all([watcher.connect(), phone.connect()]);
      assert.equal(await phone.document("first").set("f", "1"), 1n); // the connection's one write this second

      // The refusal reaches the client; its re-send is held until the node takes writes again.
      const refused = proxy.swallowAfter(ErrorCode.RATE_LIMITED, 1_500);
      const value = new Uint8Array(40_000);
      const big = phone.document("notes").edit().set("a", value).set("b", value).commit(); // 80 kB
      big.catch(() => {});
      await refused;
      await until("the node applied the re-sent write", () => watcher.document("notes").version === 1n);
      proxy.cutAll();

      const failed = await big.then(
        () => assert.fail("the write cannot be acked: it is over the next node's frame limit"),
        (e: HandoffError) => e,
      );
      assert.equal(failed.code, "LIMIT_EXCEEDED");
      assert.ok(failed.mayHaveBeenApplied, `reported as certainly not applied: ${failed.message}`);
    } finally {
      await proxy.stop();
    }
  });

  test("a listener that closes the client on connected: every listener hears the events in order, none after closed", async () => {
    // As the Java client's listeners: an event raised while the listeners hear another (a listener
    // called close()) waits until all heard that one, and close() is the last thing they hear, also
    // when it comes while the Welcome is still being handled (its presence, prompts, documents).
    const u = user("close-in-listener");
    const tv = client(node, u, "tv");
    await tv.connect();
    const phone = client(node, u, "phone");
    const heard: string[] = [];
    let closing: Promise<void> | undefined;
    phone.on("state", (st) => {
      if (st === "connected") closing = phone.close();
    });
    phone.on("state", (st) => heard.push(st));
    phone.on("presence", () => heard.push("presence"));
    phone.on("synced", () => heard.push("synced"));
    phone.on("change", (c) => heard.push(`change ${c.document}`));
    const connected = await phone.connect().then(
      () => "connected",
      (e: HandoffError) => e.code,
    );
    await closing;
    assert.equal(connected, "CLIENT_CLOSED");
    assert.deepEqual(heard, ["connecting", "connected", "closed"]);
  });

  test("a connect() and a write made by the listener of a terminal close reconnect and are applied", async () => {
    // As the Java client's: what the close ends is set aside before the listeners hear "closed", so
    // a listener that connects again or writes starts afresh instead of being failed by that close.
    const u = user("reconnect-in-listener");
    const phone = client(node, u, "phone");
    let again: Promise<string> | undefined;
    let write: Promise<bigint | string> | undefined;
    const states: string[] = [];
    phone.on("state", (st, code) => {
      states.push(code === 0 ? st : `${st} ${code}`);
      if (st === "closed" && !again) {
        again = phone.connect().then(
          () => "connected",
          (e: HandoffError) => `${e.code} ${e.closeCode ?? ""}`,
        );
        write = phone
          .document("d")
          .set("f", "after the close")
          .catch((e: HandoffError) => `${e.code} ${e.closeCode ?? ""}`);
      }
    });
    await phone.connect();
    const replacing = client(node, u, "phone"); // the same device: the newer connection takes over (4504)
    await replacing.connect();
    await until("the listener heard the terminal close", () => again !== undefined);
    assert.equal(await again, "connected", states.join(", "));
    assert.equal(await write, 1n, states.join(", "));
    assert.deepEqual(states.slice(0, 3), ["connecting", "connected", "closed 4504"]);
    assert.equal(phone.state, "connected");
  });

  test("in Node, attempts given up on while the socket still connects do not crash the process", async () => {
    // Closing a `ws` socket that is still connecting makes it emit an error; without a listener left
    // on it, Node throws that as an uncaught exception, which ends the app (and fails this test).
    const hung = await silentServer();
    try {
      const phone = client(node, user("hung-close"), "phone", { url: hung.url, connectTimeoutMs: 200 });
      const states: string[] = [];
      phone.on("state", (st, _code, why) => states.push(`${st} ${why}`));
      const connecting = phone.connect().catch((e: HandoffError) => e);
      await until("a second attempt after the first timed out", () => hung.accepted() >= 2);
      phone.dropConnection(); // the second attempt, as a network failure would
      await until("a third attempt", () => hung.accepted() >= 3);
      await phone.close(); // the third, by the app
      assert.equal(((await connecting) as HandoffError).code, "CLIENT_CLOSED");
      assert.ok(states.some((st) => st.includes("no Welcome within 200 ms")), states.join(", "));
      // Each socket's error is emitted on a later tick than its close; the node sees the close later still.
      await until("every attempt's socket closed", () => hung.ended() === hung.accepted());
    } finally {
      await hung.stop();
    }
  });
});
