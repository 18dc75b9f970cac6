// What the application sees when the client refuses or gives up on something, the same as from the Java
// client (README "What the application sees"): the codes of the protocol's tables, and the Java client's
// words. The engine is driven frame by frame through its Connector, as in engine-refusals.test.ts.
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Backoff } from "../src/backoff.js";
import { HandoffClient } from "../src/client.js";
import { MAX_PENDING_REQUESTS } from "../src/requests.js";
import type { WebSocketFactory, WebSocketLike } from "../src/websocket.js";
import type { HandoffError } from "../src/errors.js";
import type { FrameChannel, FrameListener, SyncEngine } from "../src/engine.js";
import { type ClientFrame, ClientFrameSchema, ErrorCode, type ServerFrame, ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { MemoryStore } from "../src/store.js";
import { engineOn, firstLink } from "./engine-harness.js";

/** An engine whose connection is open, its Hello sent, no Welcome yet; every state and error recorded. */
async function opened(
  options: {
    maxPendingWrites?: number;
    tokens?: string[];
    refreshToken?: () => Promise<string | undefined>;
    beforeConnect?: (engine: SyncEngine) => void;
    connector?: (listener: FrameListener) => FrameChannel;
  } = {},
) {
  const { engine, link, sent, events } = engineOn(
    new MemoryStore(),
    new Backoff(1, 2),
    {
      maxPendingWrites: options.maxPendingWrites ?? 10,
      refreshToken: options.refreshToken ?? (options.tokens ? async () => options.tokens!.shift() : undefined),
    },
    options.connector,
  );
  const errors: HandoffError[] = [];
  const states: [string, number, string][] = [];
  events.on("error", (e) => errors.push(e));
  events.on("state", (s, code, reason) => states.push([s, code, reason]));
  options.beforeConnect?.(engine);
  const connected = engine.connect();
  connected.catch(() => {});
  if (!options.connector) (await firstLink(link)).onOpen();
  return { engine, link: () => link()!, sent, errors, states, connected };
}

const welcome = (userId = "u", deviceId = "phone") =>
  create(ServerFrameSchema, { requestId: 1n, body: { case: "welcome", value: { userId, deviceId } } });

function errorFrame(requestId: bigint, value: Record<string, unknown>): ServerFrame {
  return create(ServerFrameSchema, { requestId, body: { case: "error", value } });
}

async function failure(p: Promise<unknown>): Promise<HandoffError> {
  try {
    await p;
  } catch (e) {
    return e as HandoffError;
  }
  throw new Error("did not fail");
}

test("a terminal close reads as in the Java client: its code, its name, and the reason (the protocol's default without one)", async () => {
  const { engine, link, connected, states } = await opened();
  link().onClose(4503, "");
  const e = await failure(connected);
  assert.equal(e.code, "CLOSED");
  assert.equal(e.closeCode, 4503);
  assert.equal(e.message, "connection closed for good with code 4503 (SESSION_REVOKED): device session revoked");
  assert.deepEqual(states.at(-1), ["closed", 4503, ""]);
  await engine.close();
});

test("a Hello refused for good fails the writes with the server's refusal, and closes without a close code, as the Java client", async () => {
  const { engine, link, connected, states, errors } = await opened();
  const write = engine.document("cart").set("n", new Uint8Array([1]));
  link().onFrame(errorFrame(1n, { code: ErrorCode.LIMIT_EXCEEDED, message: "1001 documents, the limit is 1000" }));
  const refused = "the server refused the Hello: LIMIT_EXCEEDED: 1001 documents, the limit is 1000";
  for (const e of [await failure(connected), await failure(write), errors[0]!]) {
    assert.equal(e.code, "LIMIT_EXCEEDED");
    assert.equal(e.errorCode, ErrorCode.LIMIT_EXCEEDED);
    assert.equal(e.closeCode, undefined);
    assert.equal(e.message, refused);
    assert.equal(e.mayHaveBeenApplied, false);
  }
  assert.deepEqual(states.at(-1), ["closed", 0, refused]);
  // A request made now fails with the same reason.
  const later = await failure(engine.requestOnceConnected(create(ClientFrameSchema)));
  assert.equal(later.errorCode, ErrorCode.LIMIT_EXCEEDED);
  await engine.close();
});

test("a token this client cannot use stops it with 4502 and is reported as an error, as in the Java client", async () => {
  const { engine, link, connected, states, errors } = await opened();
  const why = "the access token cannot be used: it holds characters a token cannot have";
  link().onClose(4502, why, { tokenUnusable: true });
  const e = await failure(connected);
  assert.equal(e.closeCode, 4502);
  assert.equal(e.message, `connection closed for good with code 4502 (UNAUTHORIZED): ${why}`);
  assert.deepEqual(states.at(-1), ["closed", 4502, why]);
  assert.equal(errors.length, 1, "reported to the error listeners too");
  assert.equal(errors[0]!.closeCode, 4502);
  await engine.close();
});

test("a Welcome for another user or device stops the client with 4502, reported as an error, as in the Java client", async () => {
  const { engine, link, errors, states } = await opened();
  link().onFrame(welcome("u", "phone"));
  await engine.connect();
  const first = link();
  engine.dropConnection();
  const deadline = Date.now() + 10_000;
  while (link() === first && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  link().onOpen();
  link().onFrame(welcome("u", "tablet"));
  assert.equal(states.at(-1)![0], "closed");
  assert.equal(states.at(-1)![1], 4502);
  const e = errors.at(-1)!;
  assert.equal(e.closeCode, 4502);
  assert.match(e.message, /^connection closed for good with code 4502 \(UNAUTHORIZED\): the access token cannot be used: it is for u\/tablet/);
  const later = await failure(engine.requestOnceConnected(create(ClientFrameSchema)));
  assert.equal(later, e, "a request made now fails with the same error");
  await engine.close();
});

test("a refused write reads as in the Java client", async () => {
  const { engine, link, sent } = await opened();
  link().onFrame(welcome());
  const write = engine.document("cart").set("n", new Uint8Array([1]));
  await new Promise((r) => setImmediate(r));
  const w = sent.find((f) => f.body.case === "write")!;
  const seq = w.body.case === "write" ? w.body.value.clientSeq : 0n;
  link().onFrame(
    errorFrame(0n, { code: ErrorCode.CONFLICT, document: "cart", clientSeq: seq, currentVersion: 7n, epoch: 3n }),
  );
  const e = await failure(write);
  assert.equal(e.message, `CONFLICT on document 'cart' (write #${seq}): document is at version 7`);
  assert.equal(e.errorCode, ErrorCode.CONFLICT);
  assert.equal(e.currentVersion, 7n);
  await engine.close();
});

test("a write the client refuses itself carries LIMIT_EXCEEDED's number, as in the Java client", async () => {
  const { engine } = await opened({ maxPendingWrites: 1 });
  const first = engine.document("a").set("n", new Uint8Array([1]));
  first.catch(() => {});
  const e = await failure(engine.document("b").set("n", new Uint8Array([1])));
  assert.equal(e.code, "LIMIT_EXCEEDED");
  assert.equal(e.errorCode, ErrorCode.LIMIT_EXCEEDED);
  await engine.close();
});

test("a request made while disconnected is retryable, as in the Java client", async () => {
  const { engine } = await opened();
  const e = await failure(engine.request(create(ClientFrameSchema)));
  assert.equal(e.code, "NOT_CONNECTED");
  assert.equal(e.message, "not connected; try again once connected");
  assert.equal(e.retryable, true);
  await engine.close();
});

test("a RefreshToken when 1,024 requests wait for answers goes unnumbered, although that limit is LIMIT_EXCEEDED (4)", async () => {
  const { engine, link, sent } = await opened({ tokens: ["fresh"] });
  link().onFrame(welcome());
  await engine.connect();
  const waiting = Array.from({ length: 1024 }, () => engine.request(create(ClientFrameSchema, { body: { case: "listDevices", value: {} } })));
  for (const w of waiting) w.catch(() => {});
  const full = await failure(engine.request(create(ClientFrameSchema, { body: { case: "listDevices", value: {} } })));
  assert.equal(full.errorCode, ErrorCode.LIMIT_EXCEEDED);
  link().onFrame(
    create(ServerFrameSchema, { body: { case: "tokenExpiring", value: { expiresAtMs: BigInt(Date.now() + 60_000) } } }),
  );
  const deadline = Date.now() + 10_000;
  while (!sent.some((f) => f.body.case === "refreshToken") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  const refresh = sent.find((f) => f.body.case === "refreshToken");
  assert.ok(refresh, "the RefreshToken went");
  assert.equal(refresh!.requestId, 0n);
  await engine.close();
});

test("a request made before the first connect() waits for the Welcome, as in the Java client (nothing stopped it)", async () => {
  let early!: Promise<ServerFrame>;
  let refused: HandoffError | undefined;
  const { engine, link, sent } = await opened({
    beforeConnect: (e) => {
      early = e.requestOnceConnected(create(ClientFrameSchema, { body: { case: "listDevices", value: {} } }));
      early.catch((error: HandoffError) => (refused = error));
    },
  });
  assert.ok(!sent.some((f) => f.body.case === "listDevices"), "not before the Welcome");
  link().onFrame(welcome());
  const deadline = Date.now() + 10_000;
  while (!sent.some((f) => f.body.case === "listDevices") && !refused && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.equal(refused, undefined, "not refused");
  const request = sent.find((f) => f.body.case === "listDevices");
  assert.ok(request, "sent after the Welcome");
  link().onFrame(create(ServerFrameSchema, { requestId: request!.requestId, body: { case: "deviceList", value: {} } }));
  assert.equal((await early).body.case, "deviceList");
  await engine.close();
});

async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

const SENT = "; the write had been sent and may or may not have been applied";

async function sentWrite(engine: SyncEngine, sent: ClientFrame[]): Promise<{ write: Promise<bigint> }> {
  const write = engine.document("cart").set("n", new Uint8Array([1]));
  write.catch(() => {});
  await until("the write sent", () => sent.some((f) => f.body.case === "write"));
  return { write };
}

test("a write given up on after it was sent says so after its cause's message, as in the Java client", async () => {
  const { engine, link, sent } = await opened();
  link().onFrame(welcome());
  const { write } = await sentWrite(engine, sent);
  link().onClose(4503, "");
  const e = await failure(write);
  assert.equal(e.closeCode, 4503);
  assert.equal(e.mayHaveBeenApplied, true);
  assert.equal(e.message, `connection closed for good with code 4503 (SESSION_REVOKED): device session revoked${SENT}`);
  await engine.close();
});

test("a request whose connection ended before its answer may have been applied and may be sent again, as in the Java client", async () => {
  const { engine, link } = await opened();
  link().onFrame(welcome());
  const asked = engine.request(create(ClientFrameSchema, { body: { case: "listDevices", value: {} } }));
  link().onClose(1006, "");
  const e = await failure(asked);
  assert.equal(e.code, "CONNECTION_LOST");
  assert.equal(e.errorCode, undefined);
  assert.equal(e.retryable, true);
  assert.equal(e.mayHaveBeenApplied, true);
  assert.equal(e.message, "the connection ended before the answer; the request may or may not have been applied");
  await engine.close();
});

test("closing the client fails what it holds with 'the client was closed', requests waiting for answers too, as in the Java client", async () => {
  const { engine, link, sent } = await opened();
  link().onFrame(welcome());
  const { write } = await sentWrite(engine, sent);
  const asked = engine.request(create(ClientFrameSchema, { body: { case: "listDevices", value: {} } }));
  await engine.close();
  const w = await failure(write);
  assert.equal(w.code, "CLIENT_CLOSED");
  assert.equal(w.message, `the client was closed${SENT}`);
  assert.equal(w.mayHaveBeenApplied, true);
  const r = await failure(asked);
  assert.equal(r.code, "CLIENT_CLOSED");
  assert.equal(r.message, "the client was closed; the request had been sent and may or may not have been applied");
  assert.equal(r.mayHaveBeenApplied, true);
  assert.equal(r.retryable, false, "not on a closed client");
});

test("a connection attempt that cannot start is reported and tried again, as in the Java client", async () => {
  let attempts = 0;
  const { engine, errors, states } = await opened({
    connector: () => {
      attempts++;
      throw new Error("no event loop");
    },
  });
  try {
    await until("the error reported", () => errors.length >= 1);
    const e = errors[0]!;
    assert.equal(e.code, "CONNECTION_LOST");
    assert.equal(e.message, "cannot start a connection attempt: no event loop");
    assert.equal(e.errorCode, undefined);
    assert.equal(e.retryable, true);
    assert.ok(states.some(([s]) => s === "reconnecting"));
    await until("tried again after the backoff", () => attempts >= 2);
  } finally {
    await engine.close();
  }
});

test("a server Error that answers nothing pending goes to the error listeners, as in the Java client", async () => {
  const { engine, link, errors } = await opened();
  link().onFrame(welcome());
  link().onFrame(errorFrame(0n, { code: ErrorCode.BAD_REQUEST, message: "unknown frame" }));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.errorCode, ErrorCode.BAD_REQUEST);
  assert.equal(errors[0]!.message, "BAD_REQUEST: unknown frame");
  await engine.close();
});

test("a token source that fails when the token expires soon is reported and the connection goes on, as in the Java client", async () => {
  const { engine, link, errors, states } = await opened({
    refreshToken: () => Promise.reject(new Error("the auth server is down")),
  });
  link().onFrame(welcome());
  await engine.connect();
  link().onFrame(
    create(ServerFrameSchema, { body: { case: "tokenExpiring", value: { expiresAtMs: BigInt(Date.now() + 60_000) } } }),
  );
  await until("the failure reported", () => errors.length >= 1);
  const e = errors[0]!;
  assert.equal(e.code, "CONNECTION_LOST");
  assert.equal(e.retryable, true);
  assert.match(e.message, /^token source failed; reconnecting at token expiry: .*the auth server is down$/);
  assert.equal(states.at(-1)![0], "connected", "the connection goes on");
  await engine.close();
});

test("a follow(), followAll() or unfollow() after close() fails with CLIENT_CLOSED, as in the Java client", async () => {
  const { engine, link } = await opened();
  link().onFrame(welcome());
  await engine.close();
  const changes: [{ documents?: string[]; prefixes?: string[] }, boolean][] = [
    [{ documents: ["x"] }, true],
    [{ prefixes: [""] }, true],
    [{ documents: ["x"] }, false],
  ];
  for (const [spec, add] of changes) {
    const e = await failure(engine.follow(spec, add));
    assert.equal(e.code, "CLIENT_CLOSED");
    assert.equal(e.message, "the client was closed");
  }
});

test("a follow() or followAll() over the limit of 256 follow entries names the call the app made, as in the Java client", async () => {
  const names = Array.from({ length: 256 }, (_, i) => `d/${i}`);
  const client = new HandoffClient({ url: "ws://127.0.0.1:9/ws", token: "t", follow: { documents: names } });
  try {
    const all = await failure(client.followAll());
    assert.equal(all.code, "INVALID_ARGUMENT");
    assert.equal(all.message, "followAll: following 257 names and prefixes; the limit is 256 follow entries");
    const more = await failure(client.follow({ documents: ["x"] }));
    assert.equal(more.code, "INVALID_ARGUMENT");
    assert.equal(more.message, "follow: following 257 names and prefixes; the limit is 256 follow entries");
  } finally {
    await client.close();
  }
});

/** A node that welcomes the Hello and refuses every offer for now (RATE_LIMITED, retryable). */
function refusingOffers(): { node: WebSocketFactory; offers: () => number } {
  let offers = 0;
  const node: WebSocketFactory = () => {
    const socket: WebSocketLike = {
      binaryType: "arraybuffer",
      readyState: 0,
      protocol: "",
      onopen: null,
      onmessage: null,
      onclose: null,
      onerror: null,
      send: (data) => {
        const f = fromBinary(ClientFrameSchema, data);
        const answer =
          f.body.case === "hello"
            ? welcome()
            : f.body.case === "offerActivity"
              ? (offers++, errorFrame(f.requestId, { code: ErrorCode.RATE_LIMITED, retryable: true, message: "slow down" }))
              : undefined;
        if (answer) setImmediate(() => socket.onmessage?.({ data: toBinary(ServerFrameSchema, answer).slice().buffer }));
      },
      close: () => {},
    };
    setImmediate(() => {
      (socket as { readyState: number }).readyState = 1;
      socket.onopen?.({});
    });
    return socket;
  };
  return { node, offers: () => offers };
}

/** Settles at the next turns of the event loop (setTimeout may be mocked). */
async function turns(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setImmediate(r));
}

test("offers refused for now wait to be sent again up to 1,024 at once, as in the Java client: one more rejects with LIMIT_EXCEEDED", async () => {
  const { node, offers: sent } = refusingOffers();
  const client = new HandoffClient({ url: "ws://127.0.0.1:9/ws", token: "t", webSocket: node });
  client.on("error", () => {});
  await client.connect();
  // The waits before sending again do not pass: they are all under way at once.
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    for (let i = 0; i < MAX_PENDING_REQUESTS; i++) client.offer({ document: "player" }).created.catch(() => {});
    await turns(() => false);
    assert.equal(sent(), MAX_PENDING_REQUESTS, "every offer sent and refused once");
    const more = client.offer({ document: "player" }).created;
    more.catch(() => {});
    let settled: HandoffError | "pending" = "pending";
    more.catch((e: HandoffError) => (settled = e));
    await turns(() => settled !== "pending");
    assert.equal(sent(), MAX_PENDING_REQUESTS + 1, "the offer over the limit was sent once");
    assert.ok(settled !== "pending", "the offer over the limit waits to be sent again too");
    assert.equal((settled as HandoffError).code, "LIMIT_EXCEEDED");
    assert.equal((settled as HandoffError).message, `${MAX_PENDING_REQUESTS} handoff requests wait to be sent`);
  } finally {
    mock.timers.reset();
    await client.close();
  }
});

test("an offer waiting to be sent again fails with CLIENT_CLOSED as the client closes, without waiting out its delay, as in the Java client", async () => {
  const { node, offers: sent } = refusingOffers();
  const client = new HandoffClient({ url: "ws://127.0.0.1:9/ws", token: "t", webSocket: node });
  client.on("error", () => {});
  await client.connect();
  mock.timers.enable({ apis: ["setTimeout"] }); // The delay before sending again never passes.
  try {
    let settled: HandoffError | "pending" = "pending";
    client.offer({ document: "player" }).created.catch((e: HandoffError) => (settled = e));
    await turns(() => false); // The refusal comes and the offer waits to be sent again.
    assert.equal(sent(), 1, "the offer was sent and refused for now");
    await client.close();
    await turns(() => settled !== "pending");
    assert.ok(settled !== "pending", "the offer still waits out its delay after the close");
    assert.equal((settled as HandoffError).code, "CLIENT_CLOSED");
    assert.equal(sent(), 1, "nothing sent after the close");
  } finally {
    mock.timers.reset();
    await client.close();
  }
});
