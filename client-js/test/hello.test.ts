// The client against real server nodes (the jar, on free ports), the nodes shared by the tests of this file:
// tokens (renewed in band, refused), the Hello's follow set and its limits, and IPv6. (Apart from
// single-node.test.ts so that the two run side by side.)
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createServer } from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import WebSocket from "ws";
import { type ClientFrame, ClientFrameSchema, type Hello, ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { bearerWebSocket, type DocumentChange, HandoffError, MemoryStore, type WebSocketFactory, type WebSocketLike } from "../src/index.js";
import { client, closeClients, mintToken, type Node, startNode, startRelay, text, until, user } from "./harness.js";

/**
 * Node's `ws` to the node, except that the first `Error` answering a request is handed to the client and,
 * in the same tick, the socket's close (1006) too, as the end of a connection read with the last frame
 * on it: nothing of the client's runs between the two. The Hello of each connection goes to `hellos`.
 */
function closedRightAfterAnError(hellos: Hello[]): WebSocketFactory {
  const open = bearerWebSocket(WebSocket);
  let dropped = false;
  return (url, token, hello) => {
    const ws = open(url, token, hello) as WebSocketLike & { terminate(): void };
    let first = true;
    // The Hello of each connection: in the upgrade, or its first frame.
    const sent = (frame: ClientFrame) => {
      if (first && frame.body.case === "hello") hellos.push(frame.body.value);
      first = false;
    };
    if (hello !== undefined) sent(fromBinary(ClientFrameSchema, Buffer.from(hello, "base64url")));
    const socket: WebSocketLike & { terminate(): void } = {
      get binaryType() {
        return ws.binaryType;
      },
      set binaryType(t: string) {
        ws.binaryType = t;
      },
      get readyState() {
        return ws.readyState;
      },
      get protocol() {
        return ws.protocol;
      },
      onopen: null,
      onmessage: null,
      onclose: null,
      onerror: null,
      send: (data) => {
        sent(fromBinary(ClientFrameSchema, data));
        ws.send(data);
      },
      close: (code, reason) => ws.close(code, reason),
      terminate: () => ws.terminate(),
    };
    ws.onopen = (ev) => socket.onopen?.(ev);
    ws.onerror = (ev) => socket.onerror?.(ev);
    ws.onclose = (ev) => socket.onclose?.(ev);
    ws.onmessage = (ev) => {
      socket.onmessage?.(ev);
      const frame = fromBinary(ServerFrameSchema, new Uint8Array(ev.data as ArrayBuffer));
      if (dropped || frame.body.case !== "error" || frame.requestId === 0n) return;
      dropped = true;
      const onclose = socket.onclose;
      ws.onclose = null;
      ws.terminate();
      onclose?.({ code: 1006, reason: "the connection ended right after the Error" });
    };
    return socket;
  };
}

/** Whether this machine lets a server listen on `host` (IPv6 loopback may be off). */
function canListen(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(0, host, () => s.close(() => resolve(true)));
  });
}

let node: Node;
/**
 * A node that takes one device request at a time, one more every two seconds, and one Follow or Resync a
 * connection (one more every 100 s).
 */
let limited: Node;
/** A node listening on ::1, if this machine has an IPv6 loopback. */
let v6: Node | undefined;
// All at once, for the file.
before(async () => {
  const started = await Promise.allSettled([
    startNode(),
    startNode(["--device-request-rate", "0.5", "--device-request-burst", "1", "--sync-rate", "0.01", "--sync-burst", "1"]),
    canListen("::1").then((yes) => (yes ? startNode(["--host", "::1"]) : undefined)),
  ]);
  // The nodes that did start are stopped by `after` when one did not.
  [node, limited, v6] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined)) as [Node, Node, Node | undefined];
  for (const r of started) if (r.status === "rejected") throw r.reason;
});
// The tests run side by side, each with users of its own, so their clients are closed after the file
// rather than after each test.
after(async () => {
  await closeClients();
  await Promise.all([node, limited, v6].map((n) => n?.stop()));
});

describe("one node: tokens, the Hello's follow set, IPv6", { concurrency: true }, () => {
  test("over IPv6: a node listening on ::1 takes a client whose URL names [::1], and a write fans out", async (t) => {
    if (!v6) {
      t.skip("this machine has no IPv6 loopback");
      return;
    }
    const at = { ...v6, url: `ws://[::1]:${v6.port}/ws` };
    const u = user("ipv6");
    const [phone, tv] = ["phone", "tv"].map((d) => client(at, u, d));
    const seen: DocumentChange[] = [];
    tv.on("change", (c) => c.kind === "delta" && seen.push(c));
    await Promise.all([phone.connect(), tv.connect()]);
    assert.equal(await phone.document("cart").set("items", "2 kiwis"), 1n);
    await until("the other device got the delta", () => seen.length === 1);
    assert.equal(text(seen[0].ops[0].value), "2 kiwis");
    await Promise.all([phone.close(), tv.close()]);
  });

  test("an expiring token is renewed in band, one fetch at a time, without reconnecting", async () => {
    const u = user("token");
    let calls = 0;
    let running = 0;
    let maxRunning = 0;
    const tokenSource = async () => {
      calls++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      // The first token expires within the server's notice period, so TokenExpiring comes at once.
      return mintToken(u, "phone", calls === 1 ? 30 : 3600);
    };
    const phone = client(node, u, "phone", { tokenSource });
    const states: string[] = [];
    phone.on("state", (s) => states.push(s));
    const refreshed = new Promise<bigint>((ok) => phone.on("tokenRefreshed", ok));
    await phone.connect();
    const expiresAt = await refreshed;
    assert.ok(expiresAt > BigInt(Date.now() + 60_000), "the connection runs on the long token now");
    assert.equal(calls, 2);
    assert.equal(maxRunning, 1, "never two token fetches at once");
    assert.deepEqual(states, ["connecting", "connected"], "no reconnect");
    assert.equal(await phone.document("d").set("f", "v"), 1n);
    await phone.close();
  });

  test("an in-band refresh refused for now is sent again until the server takes it, and is no error", async () => {
    // On `limited`, one device request at a time, one more every two seconds: the app's listing spends it
    // just before the client hands its new token over, which is refused RATE_LIMITED (TOO_MANY_IN_FLIGHT,
    // the other "not now", is handled the same way).
    {
      const u = user("refresh-again");
      let calls = 0;
      let listed!: () => void;
      const listing = new Promise<void>((ok) => (listed = ok));
      const tokenSource = async () => {
        calls++;
        if (calls === 1) return mintToken(u, "phone", 30); // Within the notice: TokenExpiring at once.
        await listing;
        return mintToken(u, "phone", 3600);
      };
      const phone = client(limited, u, "phone", { tokenSource });
      const errors: HandoffError[] = [];
      phone.on("error", (e) => errors.push(e));
      const states: string[] = [];
      phone.on("state", (s) => states.push(s));
      let expiresAt: bigint | undefined;
      phone.on("tokenRefreshed", (t) => (expiresAt = t));
      await phone.connect();
      await phone.devices();
      listed();
      await until("the new token is taken in band", () => expiresAt !== undefined);
      assert.ok(expiresAt! > BigInt(Date.now() + 60_000), "the connection runs on the long token now");
      assert.deepEqual(errors, [], "a refusal for now is not the app's business");
      assert.deepEqual(states, ["connecting", "connected"], "no reconnect");
      await phone.close();
    }
  });

  test("a token the server refuses, or one that cannot be sent, stops the client with 4502 instead of reconnecting", async () => {
    for (const [token, why] of [
      [mintToken(user("wrong-secret"), "phone", 3600, "another-secret-another-secret-0123456789"), /refused the access token \(HTTP 401\)/],
      [`${mintToken(user("newline"), "phone")}\n`, /characters a token cannot have/],
      ["", /the access token cannot be used: the token is empty/],
    ] as const) {
      const c = client(node, "unused", "unused", { token });
      const states: string[] = [];
      c.on("state", (s) => states.push(s));
      await assert.rejects(c.connect(), (e: HandoffError) => e.code === "CLOSED" && e.closeCode === 4502 && why.test(e.message));
      assert.ok(!states.includes("reconnecting"), `no reconnect: ${states.join(" ")}`);
    }
  });

  test("an upgrade refused with 401 under a token source reports 4502, as the Java client, and fetches another token", async () => {
    const u = user("refused-then-renewed");
    let fetched = 0;
    const tokenSource = async () => {
      fetched++;
      // The first token is signed with a key the node does not know: its upgrade is refused with 401.
      return fetched === 1 ? mintToken(u, "phone", 3600, "another-secret-another-secret-0123456789") : mintToken(u, "phone");
    };
    const phone = client(node, u, "phone", { tokenSource });
    const states: string[] = [];
    phone.on("state", (st, code, why) => states.push(`${st} ${code} ${why}`));
    await phone.connect();
    assert.deepEqual(states, [
      "connecting 0 ",
      "reconnecting 4502 the server refused the access token (HTTP 401)",
      "connected 0 ",
    ]);
    assert.equal(fetched, 2);
    await phone.close();
  });

  test("a follow set over the server's limit of 256 entries is refused before sending, as the Java client does", () => {
    const u = user("follow-limit-options");
    const names = (n: number, p = "doc") => Array.from({ length: n }, (_, i) => `${p}-${i}`);
    const tooMany = (e: unknown) =>
      e instanceof HandoffError &&
      e.code === "INVALID_ARGUMENT" &&
      /following 257 names and prefixes; the limit is 256 follow entries/.test(e.message);
    assert.throws(() => client(node, u, "a", { follow: { documents: names(257) } }), tooMany);
    assert.throws(() => client(node, u, "b", { follow: { documents: names(200), prefixes: names(57, "p") } }), tooMany);
    // Each distinct name and prefix counts once, as the server counts them.
    client(node, u, "c", { follow: { documents: [...names(256), ...names(256)] } });
    client(node, u, "d", { follow: { documents: names(200), prefixes: names(56, "p") } });
  });

  test("a follow over the limit of entries rejects before sending and is not carried into the next Hello", async () => {
    const u = user("follow-limit");
    const reader = client(node, u, "reader", { follow: { documents: ["player"] } });
    await reader.connect();
    const many = Array.from({ length: 300 }, (_, i) => `doc-${i}`);
    await assert.rejects(
      reader.follow({ documents: many }),
      (e: HandoffError) => e.code === "INVALID_ARGUMENT" && /following 301 names and prefixes; the limit is 256/.test(e.message),
    );
    await reader.follow({ documents: many.slice(0, 255) }); // With player, 256: the limit, taken.
    await assert.rejects(
      reader.followAll(),
      (e: HandoffError) => e.code === "INVALID_ARGUMENT" && /following 257 names and prefixes/.test(e.message),
    );
    // Reconnecting sends the follow set as it was: the server takes it.
    const states: string[] = [];
    reader.on("state", (s) => states.push(s));
    reader.dropConnection();
    await until("reconnected", () => states.includes("connected"));
    const writer = client(node, u, "writer");
    await writer.connect();
    const seen: string[] = [];
    reader.on("change", (c) => seen.push(`${c.document}:${c.version}`));
    await writer.document("player").set("position", "1");
    await until("player delta after the reconnect", () => seen.includes("player:1"));
  });

  test("names and prefixes the server would refuse are refused by the client before sending", async () => {
    const u = user("follow-rule");
    const invalid = (e: unknown) => e instanceof HandoffError && e.code === "INVALID_ARGUMENT";
    const longest = "\u00e9".repeat(128); // 256 UTF-8 bytes, exactly the limit
    for (const follow of [
      { prefixes: ["ui/", "bad\nprefix"] },
      { prefixes: ["\u0000"] },
      { prefixes: ["del\u007f"] },
      { prefixes: [longest + "x"] },
      { prefixes: ["x".repeat(257)] },
      { documents: ["player\t"] },
      { documents: [""] },
    ]) {
      assert.throws(() => client(node, u, "phone", { follow }), invalid, JSON.stringify(follow));
    }
    // Empty (every document), a partial name, and one of exactly the limit are prefixes.
    const phone = client(node, u, "phone", { follow: { prefixes: ["", "pl", longest] } });
    await phone.connect();
    // Refused locally (INVALID_ARGUMENT, the server would answer BAD_REQUEST), and the connection stays.
    await assert.rejects(
      phone.follow({ prefixes: ["ui/\r"] }),
      (e: HandoffError) => invalid(e) && /control characters/.test(e.message),
    );
    await assert.rejects(phone.follow({ prefixes: ["x".repeat(300)] }), (e: HandoffError) => invalid(e) && /256/.test(e.message));
    await phone.follow({ prefixes: ["ui/"] });
    // Unfollow obeys the same rule (the server would answer BAD_REQUEST).
    await assert.rejects(
      phone.unfollow({ prefixes: ["ui/\n"] }),
      (e: HandoffError) => invalid(e) && /unfollow: a prefix must not contain control characters/.test(e.message),
    );
    await assert.rejects(phone.unfollow({ prefixes: [longest + "x"] }), (e: HandoffError) => invalid(e) && /256/.test(e.message));
    await assert.rejects(phone.unfollow({ documents: [""] }), invalid);
    await phone.unfollow({ prefixes: ["", "pl", longest, "ui/"] });
    assert.equal(phone.state, "connected");
  });

  test("a client whose Hello the server refuses stops with the server's reason instead of reconnecting", async () => {
    // More documents held than a user may have (1,000): the Hello's positions are over the limit.
    const store = new MemoryStore();
    await store.save({
      nextSeq: 0n,
      documents: Array.from({ length: 1001 }, (_, i) => ({ name: `doc-${i}`, epoch: 1n, version: 1n, fields: {} })),
      writes: [],
    });
    const c = client(node, user("hello-refused"), "phone", { store });
    const states: string[] = [];
    c.on("state", (s) => states.push(s));
    await assert.rejects(c.connect(), (e: HandoffError) => e.code === "LIMIT_EXCEEDED" && /the limit is 1000/.test(e.message));
    assert.equal(states.at(-1), "closed");
    assert.ok(!states.includes("reconnecting"), `no reconnect: ${states.join(" ")}`);
  });

  test("follow by name and prefix, changed at runtime", async () => {
    const u = user("follow");
    const writer = client(node, u, "writer");
    const reader = client(node, u, "reader", { follow: { documents: ["player"] } });
    const seen: string[] = [];
    reader.on("change", (c) => seen.push(`${c.document}:${c.version}`));
    await Promise.all([writer.connect(), reader.connect()]);
    await writer.document("ui/layout").set("theme", "dark");
    await writer.document("player").set("position", "1");
    await until("player delta", () => seen.includes("player:1"));
    assert.deepEqual(seen, ["player:1"], "ui/layout is not followed yet");
    await reader.follow({ prefixes: ["ui/"] });
    await until("ui/layout snapshot", () => seen.includes("ui/layout:1"));
    // Resolves once the server has stopped the pushes: later writes of "player" are not sent.
    await reader.unfollow({ documents: ["player"] });
    await writer.document("player").set("position", "2");
    await writer.document("ui/layout").set("theme", "light");
    await until("ui/layout delta", () => seen.includes("ui/layout:2"));
    assert.ok(!seen.includes("player:2"), "player is no longer followed");
    await Promise.all([writer.close(), reader.close()]);
  });

  test("a follow() whose connection ends before its answer resolves, and the next connection follows it", async () => {
    const u = user("follow-lost");
    const relay = await startRelay(node);
    try {
      const writer = client(node, u, "writer");
      const reader = client(node, u, "reader", { url: relay.url, follow: { documents: ["player"] } });
      const seen: string[] = [];
      reader.on("change", (c) => seen.push(`${c.document}:${c.version}`));
      await Promise.all([writer.connect(), reader.connect()]);
      await writer.document("draft/42").set("t", "1");
      // The Follow goes into a link that no longer carries what the reader sends: no answer comes.
      relay.cutUp();
      const followed = reader.follow({ documents: ["draft/42"] });
      reader.dropConnection();
      await followed;
      await until("draft/42 snapshot", () => seen.includes("draft/42:1"));
      await writer.document("draft/42").set("t", "2");
      await until("draft/42 delta", () => seen.includes("draft/42:2"));
      await Promise.all([writer.close(), reader.close()]);
    } finally {
      relay.close();
    }
  });

  test("follows that together would pass the limit of entries, their connection ending before any answer: the second is refused before sending, and the client connects again", async () => {
    const u = user("follows-lost-over-limit");
    const relay = await startRelay(node);
    try {
      const phone = client(node, u, "phone", { url: relay.url, follow: { documents: ["player"] } });
      const states: string[] = [];
      phone.on("state", (s) => states.push(s));
      await phone.connect();
      // No answer comes: both would be taken as the connection ends, and the next Hello carry both.
      relay.cutUp();
      const first = phone.follow({ documents: Array.from({ length: 200 }, (_, i) => `a/${i}`) });
      const second = phone.follow({ documents: Array.from({ length: 100 }, (_, i) => `b/${i}`) });
      await assert.rejects(
        second,
        (e: HandoffError) => e.code === "INVALID_ARGUMENT" && /following 301 names and prefixes; the limit is 256/.test(e.message),
      );
      phone.dropConnection();
      await first;
      // A Hello of 301 entries would be refused by the node, and the client would stop for good.
      await until("connected again, or stopped", () => states.filter((s) => s === "connected").length === 2 || phone.state === "closed");
      assert.equal(phone.state, "connected", `states: ${states.join(" ")}`);
    } finally {
      relay.close();
    }
  });

  test("a follow() the node refuses, its connection ending in the same tick, rejects and is not carried by the next Hello", async () => {
    const u = user("follow-refused-then-lost");
    const hellos: Hello[] = [];
    // On `limited`, one Follow a connection: the second is refused RATE_LIMITED.
    const phone = client(limited, u, "phone", { follow: { documents: ["player"] }, webSocket: closedRightAfterAnError(hellos) });
    const states: string[] = [];
    phone.on("state", (s) => states.push(s));
    await phone.connect();
    const first = phone.follow({ documents: ["a"] });
    const second = phone.follow({ documents: ["b"] });
    await first;
    await assert.rejects(second, (e: HandoffError) => e.code === "RATE_LIMITED");
    await until("connected again", () => states.filter((s) => s === "connected").length === 2);
    assert.equal(hellos.length, 2, "a Hello per connection");
    assert.deepEqual(hellos[1]!.follow?.documents, ["player", "a"], "the next Hello follows what the node took");
  });
});
