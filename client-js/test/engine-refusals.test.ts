// Requests the server refuses, the engine driven frame by frame through its Connector (the end-to-end
// files cover the same requests over a real server, where the client's own checks keep most refusals
// from happening): a RefreshToken the server could not check for now is sent again, and only a token
// it refuses is the app's business; a follow() it refuses rejects and leaves the follow set as it was,
// follow() and unfollow() are taken in the order sent, whatever the order of their answers, and one whose
// connection ends before its answer is taken (the next Hello carries it) unless the client closes or stops.
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Backoff, UNAVAILABLE_BACKOFF_MAX_MS } from "../src/backoff.js";
import { HandoffError } from "../src/errors.js";
import { type ClientFrame, ClientFrameSchema, ErrorCode, ErrorSchema as ErrorFrameSchema, type ServerFrame, ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { MAX_SENT_CHANGES } from "../src/follows.js";
import { engineConfig } from "../src/options.js";
import { MAX_PENDING_REQUESTS } from "../src/requests.js";
import { MemoryStore } from "../src/store.js";
import type { FrameListener } from "../src/engine.js";
import { engineOn, firstLink } from "./engine-harness.js";

async function welcomed(tokens: string[], follow: string[] = []) {
  const o = await opened(tokens, follow);
  o.link().onFrame(welcome());
  await o.connected;
  return o;
}

const welcome = () =>
  create(ServerFrameSchema, { requestId: 1n, body: { case: "welcome", value: { userId: "u", deviceId: "phone" } } });

/** An engine whose connection is open, its Hello sent, no Welcome yet. */
async function opened(tokens: string[], follow: string[] = [], window = 4, backoff = new Backoff(1, 2)) {
  const { engine, link, sent, events } = engineOn(new MemoryStore(), backoff, {
    followAll: follow.length === 0,
    followDocuments: follow,
    maxInFlightWrites: window,
    refreshToken: async () => tokens.shift(),
  });
  const errors: HandoffError[] = [];
  events.on("error", (e) => errors.push(e));
  const connected = engine.connect();
  (await firstLink(link)).onOpen();
  return { engine, link: () => link()!, sent, errors, connected };
}

const refreshes = (sent: ClientFrame[]) => sent.filter((f) => f.body.case === "refreshToken");

async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Feeds `frame` with the timers it starts on the test's clock, then moves that clock past the longest wait
 * before a RefreshToken is sent again (UNAVAILABLE_BACKOFF_MAX_MS and 50 ms): once it returns, every
 * RefreshToken the answer led to has been sent, however long the client would have waited for it.
 */
async function pastEveryRetry(feed: () => void): Promise<void> {
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    feed();
    await settle();
    mock.timers.tick(UNAVAILABLE_BACKOFF_MAX_MS + 50);
    await settle();
  } finally {
    mock.timers.reset();
  }
}

function refused(requestId: bigint, code: ErrorCode, retryable: boolean): ServerFrame {
  return create(ServerFrameSchema, {
    requestId,
    body: { case: "error", value: { code, retryable, message: "the node's answer" } },
  });
}

const expiring = () =>
  create(ServerFrameSchema, { body: { case: "tokenExpiring", value: { expiresAtMs: BigInt(Date.now() + 60_000) } } });

test("a refresh the node could not check (UNAVAILABLE) is sent again until it is taken, and is no error", async () => {
  const { engine, link, sent, errors } = await welcomed(["fresh"]);
  link().onFrame(expiring());
  await until("the first RefreshToken", () => refreshes(sent).length === 1);
  const first = refreshes(sent)[0]!;
  assert.equal(first.body.case === "refreshToken" ? first.body.value.accessToken : "", "fresh");
  assert.ok(first.requestId > 0n, "numbered, so its answer can be told apart");

  link().onFrame(refused(first.requestId, ErrorCode.UNAVAILABLE, true));
  await until("the same token sent again", () => refreshes(sent).length === 2);
  const again = refreshes(sent)[1]!;
  assert.equal(again.body.case === "refreshToken" ? again.body.value.accessToken : "", "fresh");
  assert.notEqual(again.requestId, first.requestId);

  await pastEveryRetry(() =>
    link().onFrame(create(ServerFrameSchema, { requestId: again.requestId, body: { case: "tokenRefreshed", value: {} } })),
  );
  assert.equal(refreshes(sent).length, 2, "taken: not sent a third time");
  assert.deepEqual(errors, [], "a refusal for now is not the app's business");
  await engine.close();
});

test("a refresh refused INVALID_TOKEN is reported and not sent again", async () => {
  const { engine, link, sent, errors } = await welcomed(["other-device"]);
  link().onFrame(expiring());
  await until("the RefreshToken", () => refreshes(sent).length === 1);
  await pastEveryRetry(() => link().onFrame(refused(refreshes(sent)[0]!.requestId, ErrorCode.INVALID_TOKEN, false)));
  assert.equal(errors.length, 1, "the refusal reported");
  assert.equal(errors[0]!.code, "INVALID_TOKEN");
  assert.equal(refreshes(sent).length, 1);
  await engine.close();
});

test("a follow() the server refuses rejects with its error, and the next Hello follows what it did before", async () => {
  const { engine, link, sent } = await welcomed([], ["cart"]);
  const answer = engine.follow({ documents: ["draft/1"] }, true);
  await until("the Follow", () => sent.some((f) => f.body.case === "follow"));
  const follow = sent.find((f) => f.body.case === "follow")!;
  assert.deepEqual(follow.body.case === "follow" ? follow.body.value.spec?.documents : [], ["draft/1"]);
  link().onFrame(refused(follow.requestId, ErrorCode.LIMIT_EXCEEDED, false));
  await assert.rejects(answer, (e: HandoffError) => e.code === "LIMIT_EXCEEDED");

  // A new connection's Hello carries the follow set the server last took.
  assert.deepEqual(await nextHelloFollows(engine, link, sent), ["cart"]);
  await engine.close();
});

test("a follow() and an unfollow() of one document answered in the other order: the next Hello follows what the node does, not the document", async () => {
  const { engine, link, sent } = await welcomed([], ["cart"]);
  const follow = engine.follow({ documents: ["draft/1"] }, true);
  const unfollow = engine.follow({ documents: ["draft/1"] }, false);
  await until("both sent", () => sent.some((f) => f.body.case === "unfollow"));
  const requestOf = (kind: string) => sent.find((f) => f.body.case === kind)!.requestId;
  const report = (requestId: bigint) => create(ServerFrameSchema, { requestId, body: { case: "syncReport", value: {} } });
  // The node answers an Unfollow at once, ahead of a Follow still reading.
  link().onFrame(report(requestOf("unfollow")));
  await unfollow;
  link().onFrame(report(requestOf("follow")));
  await follow;
  assert.deepEqual(await nextHelloFollows(engine, link, sent), ["cart"]);
  await engine.close();
});

test("a refresh refused before the Welcome is reported, and the Welcome that follows connects", async () => {
  const { engine, link, sent, errors, connected } = await opened(["other-device"]);
  const hello = sent.find((f) => f.body.case === "hello")!;
  assert.equal(hello.requestId, 1n, "the Hello is numbered, so its refusal is told apart");
  link().onFrame(expiring()); // A TokenExpiring may come before the Welcome.
  await until("the RefreshToken", () => refreshes(sent).length === 1);
  assert.equal(refreshes(sent)[0]!.requestId, 0n, "unnumbered before the Welcome");
  link().onFrame(refused(0n, ErrorCode.INVALID_TOKEN, false));
  await until("the refusal reported", () => errors.length === 1);
  assert.equal(errors[0]!.code, "INVALID_TOKEN");
  assert.equal(engine.state, "connecting", "not taken for a refused Hello");
  link().onFrame(welcome());
  await connected;
  assert.equal(engine.state, "connected");
  await engine.close();
});

test("a Hello refused for now (retryable) is reported and the client connects again", async () => {
  const { engine, link, sent, errors } = await opened([]);
  const first = link();
  link().onFrame(refused(1n, ErrorCode.UNAVAILABLE, true));
  await until("the refusal reported", () => errors.length === 1);
  assert.equal(errors[0]!.code, "UNAVAILABLE");
  await until("a new connection", () => link() !== first);
  sent.length = 0;
  link().onOpen();
  assert.ok(sent.some((f) => f.body.case === "hello"), "a Hello on the new connection");
  link().onFrame(welcome());
  await until("connected", () => engine.state === "connected");
  await engine.close();
});

test("a Hello refused for good (over a limit) stops the client with the server's reason", async () => {
  const { engine, link, connected } = await opened([]);
  link().onFrame(refused(1n, ErrorCode.LIMIT_EXCEEDED, false));
  await assert.rejects(connected, (e: HandoffError) => e.message.includes("the node's answer"));
  assert.equal(engine.state, "closed");
  await engine.close();
});

test("an OUT_OF_ORDER refusal says where the document is, as a CONFLICT does", () => {
  for (const code of [ErrorCode.OUT_OF_ORDER, ErrorCode.CONFLICT]) {
    const e = HandoffError.fromFrame(
      create(ErrorFrameSchema, { code, message: "the node's answer", document: "cart", currentVersion: 41n, epoch: 9n }),
    );
    assert.equal(e.currentVersion, 41n, ErrorCode[code]);
    assert.equal(e.epoch, 9n);
    assert.equal(e.document, "cart");
  }
});

test("a write waiting to be sent again after a retryable refusal leaves its place in the window to other documents' writes", async () => {
  // One write in flight at most, and a minute's wait before a refused write goes again.
  const { engine, link, sent, connected } = await opened([], [], 1, new Backoff(60_000, 60_000, () => 0.99));
  link().onFrame(welcome());
  await connected;
  const writes = () => sent.filter((f) => f.body.case === "write").map((f) => f.body.value as { document: string; clientSeq: bigint });
  const cart = engine.document("cart").set("n", new Uint8Array([1]));
  const draft = engine.document("draft").set("t", new Uint8Array([2]));
  await until("the cart's write sent", () => writes().length === 1);
  assert.equal(writes()[0]!.document, "cart");

  link().onFrame(
    create(ServerFrameSchema, {
      body: {
        case: "error",
        value: { code: ErrorCode.RATE_LIMITED, retryable: true, clientSeq: writes()[0]!.clientSeq, message: "slow down" },
      },
    }),
  );
  // The draft goes now, not after the cart's minute: the cart holds no place while it waits.
  await until("the draft's write sent", () => writes().length === 2);
  assert.equal(writes()[1]!.document, "draft");
  link().onFrame(create(ServerFrameSchema, { body: { case: "ack", value: { clientSeq: writes()[1]!.clientSeq, version: 1n } } }));
  assert.equal(await draft, 1n);
  await engine.close();
  await assert.rejects(cart);
});

/** The documents the Hello of the engine's next connection follows, once `end` ended the current one. */
async function nextHelloFollows(engine: { dropConnection(): void }, link: () => FrameListener, sent: ClientFrame[], end = () => engine.dropConnection()) {
  const first = link();
  sent.length = 0;
  end();
  await until("a new connection", () => link() !== first);
  link().onOpen();
  const hello = sent.find((f) => f.body.case === "hello");
  assert.ok(hello, "a Hello on the new connection");
  return hello!.body.case === "hello" ? hello!.body.value.follow?.documents : [];
}

const sentKind = (sent: ClientFrame[], kind: string) => until(kind, () => sent.some((f) => f.body.case === kind));

test("a follow() whose connection ends before its answer resolves, and the next Hello carries it", async () => {
  const { engine, link, sent } = await welcomed([], ["cart"]);
  const answer = engine.follow({ documents: ["draft/1"] }, true);
  await sentKind(sent, "follow");
  assert.deepEqual(await nextHelloFollows(engine, link, sent), ["cart", "draft/1"]);
  await answer;
  await engine.close();
});

test("an unfollow() whose connection ends before its answer resolves, and the next Hello no longer carries it", async () => {
  const { engine, link, sent } = await welcomed([], ["cart", "draft/1"]);
  const answer = engine.follow({ documents: ["draft/1"] }, false);
  await sentKind(sent, "unfollow");
  assert.deepEqual(await nextHelloFollows(engine, link, sent), ["cart"]);
  await answer;
  await engine.close();
});

test("changes lost with their connection are taken in the order sent, and one the server refused before stays refused", async () => {
  const { engine, link, sent } = await welcomed([], ["cart"]);
  const follow = engine.follow({ documents: ["a", "b"] }, true);
  const unfollow = engine.follow({ documents: ["a"] }, false);
  const refusedFollow = engine.follow({ documents: ["c"] }, true);
  await until("all sent", () => sent.filter((f) => f.body.case === "follow").length === 2);
  link().onFrame(refused(sent.filter((f) => f.body.case === "follow")[1]!.requestId, ErrorCode.LIMIT_EXCEEDED, false));
  await assert.rejects(refusedFollow, (e: HandoffError) => e.code === "LIMIT_EXCEEDED");
  assert.deepEqual(await nextHelloFollows(engine, link, sent), ["cart", "b"]);
  await follow;
  await unfollow;
  await engine.close();
});

test("a follow() in flight when the app closes the client rejects with CLIENT_CLOSED", async () => {
  const { engine, sent } = await welcomed([], ["cart"]);
  const answer = engine.follow({ documents: ["draft/1"] }, true);
  await sentKind(sent, "follow");
  await engine.close();
  await assert.rejects(answer, (e: HandoffError) => e.code === "CLIENT_CLOSED");
});

test("a follow() in flight when the node stops the client for good rejects, and connecting again follows what it did before", async () => {
  const { engine, link, sent } = await welcomed([], ["cart"]);
  const answer = engine.follow({ documents: ["draft/1"] }, true);
  await sentKind(sent, "follow");
  let connected: Promise<void> | undefined;
  const documents = nextHelloFollows(engine, link, sent, () => {
    link().onClose(4503, "device session revoked");
    connected = engine.connect();
  });
  await assert.rejects(answer, (e: HandoffError) => e.code === "CONNECTION_LOST");
  assert.deepEqual(await documents, ["cart"]);
  link().onFrame(welcome());
  await connected;
  await engine.close();
});

test("a follow() refused behind one still unanswered does not count against the limit of entries", async () => {
  const { engine, link, sent } = await welcomed([], ["cart"]);
  const names = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}/${i}`);
  const follows = () => sent.filter((f) => f.body.case === "follow");
  const first = engine.follow({ documents: names("a", 200) }, true);
  const second = engine.follow({ documents: names("b", 50) }, true);
  await until("both sent", () => follows().length === 2);
  link().onFrame(refused(follows()[1]!.requestId, ErrorCode.RATE_LIMITED, true));
  await assert.rejects(second, (e: HandoffError) => e.code === "RATE_LIMITED");
  const third = engine.follow({ documents: names("c", 50) }, true);
  await until("the third sent", () => follows().length === 3);
  const report = (requestId: bigint) => create(ServerFrameSchema, { requestId, body: { case: "syncReport", value: {} } });
  link().onFrame(report(follows()[0]!.requestId));
  link().onFrame(report(follows()[2]!.requestId));
  await Promise.all([first, third]);
  await engine.close();
});

test("names and prefixes given twice in the options are followed once, as by the Java client's builder: a follow() of one while connecting keeps the attempt", async () => {
  const options = { url: "ws://127.0.0.1:9/ws", token: "t", follow: { documents: ["cart", "cart"], prefixes: ["ui/", "ui/"] } };
  const { engine, link, sent, events } = engineOn(new MemoryStore(), new Backoff(1, 2), engineConfig(options, undefined).config);
  const states: string[] = [];
  events.on("state", (s) => states.push(s));
  engine.connect().catch(() => {});
  try {
    (await firstLink(link)).onOpen();
    const hello = sent[0]!.body.case === "hello" ? sent[0]!.body.value : undefined;
    assert.deepEqual([hello?.follow?.documents, hello?.follow?.prefixes], [["cart"], ["ui/"]], "the Hello names each once");
    await engine.follow({ documents: ["cart"] }, true);
    assert.deepEqual(states, ["connecting"], "an attempt whose Hello still says what is followed is kept");
  } finally {
    await engine.close();
  }
});

/** How `p` has settled once the microtasks queued now have run: its error, "resolved", or "pending". */
async function settledNow(p: Promise<unknown>): Promise<HandoffError | "resolved" | "pending"> {
  let state: HandoffError | "resolved" | "pending" = "pending";
  p.then(
    () => (state = "resolved"),
    (e: HandoffError) => (state = e),
  );
  await new Promise((r) => setImmediate(r));
  return state;
}

const syncReport = (requestId: bigint) => create(ServerFrameSchema, { requestId, body: { case: "syncReport", value: {} } });

test("follow() calls refused while 1,024 requests wait are dropped at once, not kept until the one held is answered: a follow goes once the others are answered", async () => {
  const { engine, link, sent } = await welcomed([], ["cart"]);
  const held = engine.follow({ documents: ["x"] }, true);
  const others = Array.from({ length: MAX_PENDING_REQUESTS - 1 }, () =>
    engine.request(create(ClientFrameSchema, { body: { case: "listDevices", value: {} } })),
  );
  await until("every request sent", () => sent.filter((f) => f.requestId > 1n).length === MAX_PENDING_REQUESTS);
  // The node holds its answer to the follow: every change now is refused before it is sent, also many
  // made in one go, with no microtask between them.
  const refused = Array.from({ length: 3 * MAX_SENT_CHANGES }, () => engine.follow({ documents: ["y"] }, true));
  for (const r of refused) r.catch(() => {});
  for (const [i, change] of refused.entries()) {
    const e = await settledNow(change);
    assert.ok(e instanceof Error, `change ${i} was not refused at once: ${e}`);
    assert.equal(e.code, "LIMIT_EXCEEDED");
    assert.equal(e.message, `${MAX_PENDING_REQUESTS} handoff requests are waiting for answers`);
  }
  for (const f of sent.filter((f) => f.body.case === "listDevices")) {
    link().onFrame(create(ServerFrameSchema, { requestId: f.requestId, body: { case: "deviceList", value: {} } }));
  }
  await Promise.all(others);
  const after = engine.follow({ documents: ["z"] }, true);
  const follows = () => sent.filter((f) => f.body.case === "follow");
  assert.equal(follows().length, 2, "the follow after them was not sent");
  link().onFrame(syncReport(follows()[1]!.requestId));
  link().onFrame(syncReport(follows()[0]!.requestId));
  await Promise.all([held, after]);
  assert.deepEqual(await nextHelloFollows(engine, link, sent), ["cart", "x", "z"]);
  await engine.close();
});

test("unfollow() calls answered behind a follow() still reading wait to be taken up to 1,024, and more reject with LIMIT_EXCEEDED, sending nothing", async () => {
  const { engine, link, sent } = await welcomed([], ["cart"]);
  const held = engine.follow({ documents: ["x"] }, true);
  const heldId = sent.find((f) => f.body.case === "follow")!.requestId;
  // The node answers each Unfollow at once, ahead of the Follow still reading.
  for (let i = 1; i < MAX_SENT_CHANGES; i++) {
    const unfollowed = engine.follow({ documents: [`u/${i}`] }, false);
    link().onFrame(syncReport(sent.at(-1)!.requestId));
    await unfollowed;
  }
  const count = sent.length;
  const e = await settledNow(engine.follow({ documents: ["cart"] }, false));
  assert.ok(e instanceof Error, `not refused at once: ${e}`);
  assert.equal(e.code, "LIMIT_EXCEEDED");
  assert.equal(e.message, `${MAX_SENT_CHANGES} follows and unfollows are waiting for answers (theirs or an earlier one's)`);
  assert.equal(sent.length, count, "the change over the limit was sent");

  link().onFrame(syncReport(heldId));
  await held;
  const after = engine.follow({ documents: ["cart"] }, false);
  link().onFrame(syncReport(sent.at(-1)!.requestId));
  await after;
  assert.deepEqual(await nextHelloFollows(engine, link, sent), ["x"]);
  await engine.close();
});
