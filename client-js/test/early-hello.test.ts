// The Hello in the upgrade request, in Node with `ws`, against a real node (the jar) behind a relay that
// records what the node got: the client sends it only to a node whose Welcome said it reads it, falls back
// to the Hello as a frame when an attempt carrying it fails before it opened, and stops offering it to a
// node that keeps refusing it. (Chromium's side is in browser.test.ts.)
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import WebSocket from "ws";
import { EarlyHellos, HELLO_SUBPROTOCOL } from "../src/early-hello.js";
import { ClientFrameSchema, ErrorCode, HelloSchema, ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { bearerWebSocket, type DocumentChange, HandoffClient, queryParameterWebSocket, type WebSocketFactory, type WebSocketLike } from "../src/index.js";
import { client, closeClients, type Node, SECRET, startNode, until, user } from "./harness.js";
import { type Carried, type RecordingRelay, helloInRequest, helloRead, sentKinds, startRecordingRelay } from "./recording-relay.js";

let node: Node;
before(async () => {
  node = await startNode();
});
after(async () => {
  await closeClients();
  await node?.stop();
});

/** A device of `u` on `node` through `relay`, connected, its first connection done. */
async function device(relay: RecordingRelay, u: string, name: string, extra = {}): Promise<HandoffClient> {
  const c = client({ ...node, url: relay.url }, u, name, extra);
  await c.connect();
  return c;
}

/** A development token of `u`/`device` padded (an extra claim) to `length` characters, or up to 3 fewer. */
function paddedToken(u: string, device: string, length: number): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const exp = Math.floor(Date.now() / 1000) + 3600;
  for (let pad = 0; ; pad++) {
    const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: u, did: device, exp, pad: "x".repeat(pad) })}`;
    const token = `${body}.${createHmac("sha256", SECRET).update(body).digest("base64url")}`;
    if (token.length >= length - 3) return token;
  }
}

/** Drops `c`'s connection and waits until it is connected again, on a connection the relay took after `n`. */
async function reconnect(c: HandoffClient, relay: RecordingRelay, timeoutMs?: number): Promise<void> {
  const n = relay.connections.length;
  c.dropConnection();
  await until("connected again", () => c.state === "connected" && relay.connections.length > n, timeoutMs);
}

/** A write by another device of `u` to "late" reaches `phone`, which followed it `when`. */
async function lateReaches(phone: HandoffClient, u: string, when: string): Promise<void> {
  const seen: DocumentChange[] = [];
  phone.on("change", (c) => seen.push(c));
  const tv = client(node, u, "tv");
  await tv.connect();
  await tv.document("late").set("f", "x");
  await until(`the phone got the delta of the document it followed ${when}`, () => seen.some((c) => c.document === "late"));
}

describe("a Hello in the upgrade (Node, ws)", { concurrency: true }, () => {
  test("the first connection sends the Hello as a frame; a reconnect after the Welcome's flag sends it in the upgrade and resumes", async () => {
    const relay = await startRecordingRelay(node);
    try {
      const u = user("early");
      const phone = await device(relay, u, "phone");
      const tv = client(node, u, "tv");
      await tv.connect();
      assert.equal(await phone.document("d").set("f", "1"), 1n);

      const [first] = relay.connections;
      assert.equal(helloInRequest(first.request), undefined, "no Hello in the first upgrade");
      assert.doesNotMatch(first.request, /sec-websocket-protocol/i);
      assert.equal(sentKinds(first)[0], "hello", "the first connection's first frame is its Hello");

      phone.setOffline(true);
      await tv.document("d").set("f", "2");
      await tv.document("d").set("f", "3");
      const changes: DocumentChange[] = [];
      phone.on("change", (c) => changes.push(c));
      phone.setOffline(false);
      await until("the phone resumed to v3", () => phone.document("d").version === 3n && phone.state === "connected");

      const resumed = relay.connections[1];
      const hello = helloInRequest(resumed.request);
      assert.ok(hello, `the reconnect's upgrade carries the Hello:\n${resumed.request}`);
      assert.match(resumed.request, /^sec-websocket-protocol: handoff\.hello$/im);
      assert.equal(hello.body.case, "hello");
      assert.deepEqual(
        hello.body.value.positions.map((p) => [p.document, p.version]),
        [["d", 1n]],
        "the Hello in the upgrade holds the position the phone had",
      );
      assert.ok(helloRead(resumed), `the node's 101 selects handoff.hello:\n${resumed.response}`);
      assert.ok(!sentKinds(resumed).includes("hello"), "no Hello frame on the reconnect");
      assert.deepEqual(
        changes.map((c) => [c.kind, c.version]),
        [["delta", 2n], ["delta", 3n]],
        "resumed from v1 with the two deltas",
      );
      assert.equal(await phone.document("d").set("f", "4"), 4n);
    } finally {
      relay.close();
    }
  });

  test("a node that no longer reads it (101 without the subprotocol): the client reconnects with the Hello as a frame, and gives the upgrade's up after three such failures", async () => {
    const relay = await startRecordingRelay(node);
    try {
      const phone = await device(relay, user("old"), "phone");
      await reconnect(phone, relay);
      assert.ok(helloRead(relay.connections[1]), "learned from the first Welcome");

      relay.mode = "old"; // As a node rolled back to a version without the feature.
      const from = relay.connections.length;
      for (let i = 0; i < 4; i++) {
        await reconnect(phone, relay);
        assert.equal(await phone.document("d").set("n", String(i)), BigInt(i + 1), "the reconnected client writes");
      }
      const carried = relay.connections.slice(from);
      const withHello = carried.filter((c) => helloInRequest(c.request) !== undefined);
      for (const c of withHello) {
        assert.match(c.response, /^HTTP\/1\.1 101/, "the node took the upgrade");
        assert.ok(!helloRead(c), "without the subprotocol");
        assert.deepEqual(c.frames, [], "the client left that connection before it opened");
      }
      for (const c of carried.filter((c) => helloInRequest(c.request) === undefined)) {
        assert.equal(sentKinds(c)[0], "hello", "the fallback's first frame is its Hello");
      }
      // The real node's Welcome says it reads it, so it was learned again after each fallback: three
      // attempts carried it, one failing after each of the first three drops, and then no more.
      assert.equal(withHello.length, 3, carried.map((c) => (helloInRequest(c.request) ? "early" : "frame")).join(" "));
      assert.equal(helloInRequest(carried[carried.length - 1].request), undefined);
    } finally {
      relay.close();
    }
  });

  test("attempts the client gives up before their 101 (no answer within its connect timeout) do not count against the URL's Hello in the upgrade, as in the Java client", async () => {
    const relay = await startRecordingRelay(node);
    try {
      // Long enough for a node on a loaded machine to answer an upgrade let through.
      const phone = await device(relay, user("slow"), "phone", { connectTimeoutMs: 1500 });
      await reconnect(phone, relay);
      assert.ok(helloRead(relay.connections[relay.connections.length - 1]), "learned from the first Welcome");
      // Three times, as a phone's network that holds the upgrade: no answer before the client gives up,
      // and then the node is reached again.
      for (let i = 0; i < 3; i++) {
        let letThrough = () => {};
        relay.gate = new Promise<void>((r) => (letThrough = r));
        const n = relay.connections.length;
        phone.dropConnection();
        await until("a held attempt given up, and the next made", () => relay.connections.length >= n + 2);
        assert.ok(helloInRequest(relay.connections[n].request), "the first held attempt carried the Hello");
        relay.gate = undefined;
        letThrough();
        await until("connected again", () => phone.state === "connected");
      }
      await reconnect(phone, relay);
      const last = relay.connections[relay.connections.length - 1];
      assert.ok(helloInRequest(last.request) !== undefined && helloRead(last), "the Hello still goes in the upgrade, and is read");
    } finally {
      relay.close();
    }
  });

  test("attempts whose TCP connection was refused (a node restarting) do not count against the URL's Hello in the upgrade, as in the Java client", async () => {
    // A port in front of the node that stops listening and listens again, as a node being restarted.
    const sockets = new Set<Socket>();
    const front = createServer((s) => {
      const up = connect(node.port, "127.0.0.1");
      sockets.add(s).add(up);
      s.on("error", () => {}).on("close", () => up.destroy());
      up.on("error", () => {}).on("close", () => s.destroy());
      s.pipe(up).pipe(s);
    });
    const listen = (port: number) => new Promise<void>((r) => front.listen(port, "127.0.0.1", r));
    await listen(0);
    const port = (front.address() as { port: number }).port;
    const carried: (string | undefined)[] = [];
    const webSocket: WebSocketFactory = (url, token, hello) => (carried.push(hello), bearerWebSocket(WebSocket)(url, token, hello));
    try {
      const phone = client({ ...node, url: `ws://127.0.0.1:${port}/ws` }, user("restarted"), "phone", { webSocket });
      await phone.connect();
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((r) => (front.close(() => r()), sockets.forEach((s) => s.destroy())));
        const n = carried.length;
        await until("two attempts refused", () => carried.length >= n + 2);
        await listen(port);
        await until("connected again", () => phone.state === "connected");
      }
      assert.ok(carried.slice(1).some((h) => h !== undefined), "learned from the first Welcome");
      const n = carried.length;
      phone.dropConnection();
      await until("connected again", () => phone.state === "connected" && carried.length > n);
      assert.ok(carried[carried.length - 1] !== undefined, "the Hello still goes in the upgrade");
    } finally {
      sockets.forEach((s) => s.destroy());
      front.close();
    }
  });

  test("a node that refuses the Hello in the upgrade (400 invalid_hello): the client falls back at once and does not offer it again", async () => {
    const relay = await startRecordingRelay(node);
    try {
      const phone = await device(relay, user("refused"), "phone");
      await reconnect(phone, relay);
      assert.ok(helloRead(relay.connections[1]));

      relay.mode = "mangled";
      const from = relay.connections.length;
      for (let i = 0; i < 3; i++) await reconnect(phone, relay);
      const carried = relay.connections.slice(from);
      assert.match(carried[0].request, /^handoff-hello:/im, "the first attempt after the drop carried it");
      assert.match(carried[0].response, /^HTTP\/1\.1 400/, `the node refused it:\n${carried[0].response}`);
      for (const c of carried.slice(1)) {
        assert.doesNotMatch(c.request, /^handoff-hello:/im, "no Hello in any later upgrade");
        assert.equal(sentKinds(c)[0], "hello");
      }
      assert.equal(await phone.document("d").set("f", "1"), 1n);
    } finally {
      relay.close();
    }
  });

  test("something between that takes the subprotocol for itself and keeps the Hello from the node: the client gives the attempt up and falls back, three times at most", async () => {
    const relay = await startRecordingRelay(node);
    try {
      // The swallowed attempts end at the connect timeout; short, but not so short that a loaded machine
      // gives an attempt up before its Welcome while the node still reads the Hello.
      const phone = await device(relay, user("swallowed"), "phone", { connectTimeoutMs: 3_000 });
      // Reconnects until one carried the Hello and the node read it (one given up on a loaded machine
      // sends the next as a frame, whose Welcome teaches it again).
      for (let i = 0; i < 4 && !relay.connections.slice(1).some((c) => helloRead(c)); i++) await reconnect(phone, relay);
      assert.ok(relay.connections.slice(1).some((c) => helloRead(c)), "no reconnect carried a Hello the node read");

      relay.mode = "swallowed";
      const from = relay.connections.length;
      for (let i = 0; i < 4; i++) await reconnect(phone, relay, 30_000); // Each waits out a connect timeout.
      const carried = relay.connections.slice(from);
      const withHello = carried.filter((c) => helloInRequest(c.request) !== undefined);
      for (const c of withHello) assert.deepEqual(c.frames, [], "the client waited for a Welcome that could not come");
      assert.equal(withHello.length, 3, carried.map((c) => (helloInRequest(c.request) ? "early" : "frame")).join(" "));
      assert.equal(helloInRequest(carried[carried.length - 1].request), undefined);
    } finally {
      relay.close();
    }
  });

  test("a follow() while an upgrade carrying the Hello is under way: the node that read the older follow set is left, and the next connection carries the new one", async () => {
    const relay = await startRecordingRelay(node);
    try {
      const u = user("follow");
      const phone = await device(relay, u, "phone", { follow: { documents: ["a"] } });
      await reconnect(phone, relay);
      assert.ok(helloRead(relay.connections[1]));

      let open!: () => void;
      relay.gate = new Promise((r) => (open = r));
      const n = relay.connections.length;
      phone.dropConnection();
      await until("the next upgrade reached the relay", () => relay.connections[n]?.request !== undefined && relay.connections[n].request !== "");
      await phone.follow({ documents: ["late"] }); // Not connected: the next Hello carries it.
      relay.gate = undefined;
      open();
      await until("connected again", () => phone.state === "connected");

      const held = relay.connections[n];
      assert.ok(helloRead(held), "the node read the Hello built before the follow()");
      const sentThen = helloInRequest(held.request)!;
      assert.equal(sentThen.body.case, "hello");
      assert.deepEqual(sentThen.body.value.follow?.documents, ["a"]);
      const last = relay.connections[relay.connections.length - 1];
      const sentNow = helloInRequest(last.request) ?? last.frames.find((f) => f.body.case === "hello");
      assert.ok(sentNow && sentNow.body.case === "hello");
      assert.deepEqual(sentNow.body.value.follow?.documents, ["a", "late"]);

      await lateReaches(phone, u, "while connecting");
    } finally {
      relay.close();
    }
  });

  test("a follow() after the Hello went out and before its Welcome: that connection is left, and the next carries the new follow set", async () => {
    const relay = await startRecordingRelay(node);
    try {
      const u = user("follow-welcome");
      const phone = client({ ...node, url: relay.url }, u, "phone", { follow: { documents: ["a"] } });
      let release!: () => void;
      relay.downGate = new Promise((r) => (release = r));
      const connected = phone.connect();
      await until("the Hello frame reached the relay", () => relay.connections[0]?.frames.some((f) => f.body.case === "hello"));
      relay.downGate = undefined;
      await phone.follow({ documents: ["late"] }); // Not welcomed: the next Hello carries it.
      release();
      await connected;
      await until("connected on a later connection", () => phone.state === "connected" && relay.connections.length > 1);

      const first = relay.connections[0].frames.find((f) => f.body.case === "hello");
      assert.ok(first && first.body.case === "hello");
      assert.deepEqual(first.body.value.follow?.documents, ["a"]);
      const last = relay.connections[relay.connections.length - 1];
      const now = helloInRequest(last.request) ?? last.frames.find((f) => f.body.case === "hello");
      assert.ok(now && now.body.case === "hello");
      assert.deepEqual(now.body.value.follow?.documents, ["a", "late"]);

      await lateReaches(phone, u, "before its Welcome");
    } finally {
      relay.close();
    }
  });

  test("in the query (the browser's way), a Hello that would make the request line longer than a node reads goes as a frame", async () => {
    // The browser's factory, on `ws` as the global WebSocket (Node 20 has none).
    (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
    const [shortRelay, longRelay] = await Promise.all([startRecordingRelay(node), startRecordingRelay(node)]);
    try {
      const u = user("line");
      const short = client({ ...node, url: shortRelay.url }, u, "short", { webSocket: queryParameterWebSocket });
      // The token alone leaves the line 10 characters short of 4,096: no room for the Hello beside it.
      const fixed = "GET /ws?access_token= HTTP/1.1".length;
      const token = paddedToken(u, "long", 4096 - fixed - 10);
      const long = client({ ...node, url: longRelay.url }, u, "long", { webSocket: queryParameterWebSocket, token });
      await Promise.all([short.connect(), long.connect()]);
      await Promise.all([reconnect(short, shortRelay), reconnect(long, longRelay)]);

      const [, shortAgain] = shortRelay.connections;
      assert.match(shortAgain.request, /^GET \/ws\?access_token=[^ ]*&hello=/, "the short token's reconnect carried the Hello in the query");
      assert.ok(helloRead(shortAgain));
      assert.equal(longRelay.connections.length, 2, "the long token's reconnect took one attempt");
      const [, longAgain] = longRelay.connections;
      assert.match(longAgain.response, /^HTTP\/1\.1 101/, `not refused:\n${longAgain.response}`);
      assert.equal(helloInRequest(longAgain.request), undefined, "it carried no Hello");
      assert.doesNotMatch(longAgain.request, /sec-websocket-protocol/i, "nor offered the subprotocol");
      assert.equal(sentKinds(longAgain)[0], "hello", "it sent the Hello as a frame");
    } finally {
      shortRelay.close();
      longRelay.close();
      delete (globalThis as { WebSocket?: unknown }).WebSocket;
    }
  });

  test("a Hello over 1,536 bytes (many documents held) goes as a frame, as the Java client's", async () => {
    const relay = await startRecordingRelay(node);
    try {
      const phone = await device(relay, user("big"), "phone");
      await reconnect(phone, relay);
      assert.ok(helloRead(relay.connections[1]), "a small Hello went in the upgrade");
      const names = Array.from({ length: 40 }, (_, i) => `a-rather-long-document-name-${String(i).padStart(3, "0")}`);
      await Promise.all(names.map((n) => phone.document(n).set("f", "1")));
      await reconnect(phone, relay);
      const big = relay.connections[relay.connections.length - 1];
      assert.equal(helloInRequest(big.request), undefined, "no Hello in the upgrade");
      const hello = big.frames[0];
      assert.ok(hello?.body.case === "hello", "the Hello came as the first frame");
      assert.equal(hello.body.value.positions.length, 40);
      assert.ok(toBinary(ClientFrameSchema, hello).length > 1536);
    } finally {
      relay.close();
    }
  });
});

/**
 * Node's `ws` with the subprotocol offered in a header of its own, not by `ws`: a socket that takes a 101
 * without it, as the Java client's does (`ws` offering it fails such a 101, and so does a browser).
 */
const lenientWebSocket: WebSocketFactory = (url, token, hello) => {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  if (hello !== undefined) Object.assign(headers, { "Handoff-Hello": hello, "Sec-WebSocket-Protocol": HELLO_SUBPROTOCOL });
  return new WebSocket(url, { headers }) as unknown as WebSocketLike;
};

// Apart from the tests above, which run together: one of these sets the global WebSocket, as that one does.
describe("a Hello in the upgrade behind a proxy (Node, ws)", () => {
  /** Reconnects `phone` until its node read a Hello in the upgrade; then to one in `mode`, three times. */
  async function behind(relay: RecordingRelay, phone: HandoffClient, mode: RecordingRelay["mode"]): Promise<Carried[]> {
    await reconnect(phone, relay);
    assert.ok(helloRead(relay.connections[relay.connections.length - 1]), "learned from the first Welcome");
    relay.mode = mode;
    const from = relay.connections.length;
    for (let i = 0; i < 3; i++) await reconnect(phone, relay);
    return relay.connections.slice(from);
  }

  for (const [form, status] of [["header", 431], ["query", 414]] as const) {
    test(`a proxy that answers ${status} to a request carrying the Hello in the ${form}: the client sends it as a frame, and no more in the upgrade`, async () => {
      if (form === "query") (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
      const relay = await startRecordingRelay(node);
      try {
        const phone = await device(relay, user(`large-${form}`), "phone", form === "query" ? { webSocket: queryParameterWebSocket } : {});
        const carried = await behind(relay, phone, "tooLarge");
        assert.ok(helloInRequest(carried[0].request), `the first attempt after the drop carried it:\n${carried[0].request}`);
        assert.match(carried[0].response, new RegExp(`^HTTP/1\\.1 ${status} `), "refused by the proxy");
        for (const c of carried.slice(1)) {
          assert.equal(helloInRequest(c.request), undefined, `no Hello in a later upgrade:\n${c.request}`);
          assert.match(c.response, /^HTTP\/1\.1 101/);
          assert.equal(sentKinds(c)[0], "hello", "its Hello went as a frame");
        }
        assert.equal(carried.length, 4, "one attempt refused, then one per reconnect");
        assert.equal(await phone.document("d").set("f", "1"), 1n);
      } finally {
        relay.close();
        delete (globalThis as { WebSocket?: unknown }).WebSocket;
      }
    });
  }

  test("a proxy that drops the subprotocol from the 101 of a node that read the Hello: the client falls back to the Hello as a frame, three times at most, and tells the app of no error", async () => {
    const relay = await startRecordingRelay(node);
    try {
      const phone = await device(relay, user("stripped"), "phone");
      const errors: unknown[] = [];
      phone.on("error", (e) => errors.push(e));
      await reconnect(phone, relay);
      relay.mode = "stripped";
      const from = relay.connections.length;
      for (let i = 0; i < 4; i++) {
        await reconnect(phone, relay);
        assert.equal(await phone.document("d").set("n", String(i)), BigInt(i + 1), "the reconnected client writes");
      }
      const carried = relay.connections.slice(from);
      const withHello = carried.filter((c) => helloInRequest(c.request) !== undefined);
      for (const c of withHello) {
        assert.match(c.response, /^sec-websocket-protocol: handoff\.hello$/im, "the node read it");
        assert.deepEqual(c.frames, [], "the client left that connection before it opened");
      }
      for (const c of carried.filter((c) => helloInRequest(c.request) === undefined)) {
        assert.deepEqual(sentKinds(c).slice(0, 1), ["hello"], "the fallback's first frame is its Hello");
      }
      assert.equal(withHello.length, 3, carried.map((c) => (helloInRequest(c.request) ? "early" : "frame")).join(" "));
      assert.deepEqual(errors, [], "errors told to the app");
    } finally {
      relay.close();
    }
  });

  test("a proxy that drops the subprotocol from the 101, and a socket that takes such a 101: the client sends the very Hello of the upgrade, a follow() meanwhile reaches the node, and the app is told of no error", async () => {
    const relay = await startRecordingRelay(node);
    relay.mode = "stripped";
    try {
      const u = user("lenient");
      const phone = await device(relay, u, "phone", { follow: { documents: ["a"] }, webSocket: lenientWebSocket });
      const errors: unknown[] = [];
      phone.on("error", (e) => errors.push(e));
      await reconnect(phone, relay);
      assert.ok(helloInRequest(relay.connections[1].request), "learned from the first Welcome");

      let open!: () => void;
      relay.gate = new Promise((r) => (open = r));
      const n = relay.connections.length;
      phone.dropConnection();
      await until("the next upgrade reached the relay", () => (relay.connections[n]?.request ?? "") !== "");
      await phone.follow({ documents: ["late"] }); // Not connected: the next Hello carries it.
      relay.gate = undefined;
      open();
      await until("connected again", () => phone.state === "connected");

      await lateReaches(phone, u, "while connecting");
      assert.deepEqual(relay.connections[n].frames, [], "the connection whose node read the older follow set was left");
      // Answered after the Hello frame of the connection it went on.
      assert.equal(await phone.document("a").set("f", "1"), 1n);
      for (const c of relay.connections.slice(1)) {
        const carried = helloInRequest(c.request);
        assert.ok(carried, `the upgrade carried the Hello:\n${c.request}`);
        assert.ok(helloRead(c), `the node read it (the relay dropped the subprotocol):\n${c.response}`);
        if (c.frames.length === 0) continue; // Left at the 101: the follow set changed meanwhile.
        assert.deepEqual(toBinary(ClientFrameSchema, c.frames[0]), toBinary(ClientFrameSchema, carried), "the first frame is the Hello of the upgrade");
      }
      const last = helloInRequest(relay.connections[relay.connections.length - 1].request)!;
      assert.ok(last.body.case === "hello");
      assert.deepEqual(last.body.value.follow?.documents, ["a", "late"]);
      assert.deepEqual(errors, [], "errors told to the app");
    } finally {
      relay.close();
    }
  });
});

describe("which attempts count against a URL's Hello in the upgrade", () => {
  const url = "ws://127.0.0.1:1/ws";
  const hello = () => create(ClientFrameSchema, { requestId: 1n, body: { case: "hello", value: create(HelloSchema, {}) } });
  /** EarlyHellos that learned from a Welcome that `url`'s node reads the Hello in the upgrade. */
  function learned(): EarlyHellos {
    const hellos = new EarlyHellos();
    hellos.welcomed(url, true, false);
    return hellos;
  }

  test("a 4002 (the node's handshake limit: it had no Hello) after a 101 that said the Hello was read counts, as the Java client's", () => {
    const hellos = learned();
    const attempt = hellos.attempt(url, hello);
    assert.ok(attempt.encoded, "the URL gets the Hello in the upgrade");
    assert.ok(attempt.open(HELLO_SUBPROTOCOL));
    attempt.ended(4002, 0);
    assert.equal(hellos.attempt(url, hello).encoded, undefined, "the next attempt sends it as a frame");
  });

  test("a Welcome behind a 101 that said the Hello was read keeps it in the upgrade, whatever its flag says, as the Java client's", () => {
    const hellos = learned();
    const attempt = hellos.attempt(url, hello);
    assert.ok(attempt.open(HELLO_SUBPROTOCOL)?.read);
    attempt.welcome(false);
    assert.ok(hellos.attempt(url, hello).encoded, "the node read it: the next attempt carries it again");
  });

  test("another close of the node's own before the Welcome does not: the node read the Hello", () => {
    const hellos = learned();
    const attempt = hellos.attempt(url, hello);
    assert.ok(attempt.open(HELLO_SUBPROTOCOL));
    attempt.ended(4005, 0);
    assert.ok(hellos.attempt(url, hello).encoded, "the next attempt carries it again");
  });
});

describe("what ends an attempt whose Hello the node read, before its Welcome", () => {
  const frame = (f: MessageInitShape<typeof ServerFrameSchema>) => toBinary(ServerFrameSchema, create(ServerFrameSchema, f));
  const welcome = frame({ requestId: 1n, body: { case: "welcome", value: { userId: "u", deviceId: "phone", helloInUpgrade: true } } });

  /**
   * A node played by the test, behind something that hides close codes (every close it makes reads 1006):
   * it says in its Welcome that it reads the Hello in the upgrade, and `opened[i]` is what the i-th attempt's
   * upgrade carried. The second attempt, whose 101 says the Hello was read, gets `instead` and no Welcome.
   */
  function playedNode(opened: (string | undefined)[], instead: Uint8Array): WebSocketFactory {
    return (_url, _token, hello) => {
      const attempt = opened.push(hello) - 1;
      const socket: WebSocketLike = {
        binaryType: "arraybuffer",
        readyState: 0,
        protocol: hello === undefined ? "" : HELLO_SUBPROTOCOL,
        onopen: null,
        onmessage: null,
        onclose: null,
        onerror: null,
        send: (data) => {
          if (fromBinary(ClientFrameSchema, data).body.case === "hello") setImmediate(() => deliver(welcome));
        },
        close: () => {},
      };
      const deliver = (f: Uint8Array) => socket.onmessage?.({ data: f.slice().buffer });
      const end = () => {
        (socket as { readyState: number }).readyState = 3;
        socket.onclose?.({ code: 1006, reason: "" });
      };
      setImmediate(() => {
        (socket as { readyState: number }).readyState = 1;
        socket.onopen?.({});
        if (attempt === 0) setImmediate(end); // After its Welcome (its Hello was a frame).
        if (attempt === 1) {
          deliver(instead);
          setImmediate(end);
        } else if (hello !== undefined) deliver(welcome);
      });
      return socket;
    };
  }

  /** What the upgrades of three attempts carried, the second ended by `instead`. */
  async function threeAttempts(instead: Uint8Array): Promise<(string | undefined)[]> {
    const opened: (string | undefined)[] = [];
    const phone = new HandoffClient({ url: "ws://127.0.0.1:1/ws", token: "t", webSocket: playedNode(opened, instead), reconnect: { initialMs: 1, maxMs: 2 } });
    phone.on("error", () => {});
    try {
      await phone.connect();
      await until("the third connection", () => opened.length === 3 && phone.state === "connected");
    } finally {
      await phone.close();
    }
    assert.equal(opened[0], undefined, "the first Hello goes as a frame");
    assert.ok(opened[1] !== undefined, "the second goes in the upgrade, after the Welcome said the node reads it");
    return opened;
  }

  test("the node's Disconnect, its close then read as 1006, does not count against the URL's Hello in the upgrade, as in the Java client", async () => {
    const opened = await threeAttempts(frame({ body: { case: "disconnect", value: { code: 4005, reason: "the store is out of reach" } } }));
    assert.ok(opened[2] !== undefined, "the node read the Hello and closed for a reason of its own: the next carries it too");
  });

  test("the node's refusal of the Hello for now does not count against the URL's Hello in the upgrade, as in the Java client", async () => {
    const opened = await threeAttempts(
      frame({ requestId: 1n, body: { case: "error", value: { code: ErrorCode.UNAVAILABLE, retryable: true, message: "not now" } } }),
    );
    assert.ok(opened[2] !== undefined, "the node read the Hello and answered it: the next carries it too");
  });
});
