// Signing in new devices against two real server nodes sharing a real Redis, with real identity
// tokens (ES256, the server reads their JWKS file) and server-issued device sessions.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import {
  ApprovalKind,
  ApprovalOutcome,
  type ApprovalRequest,
  bearerWebSocket,
  type DeviceSession,
  DeviceSignIn,
  HandoffClient,
  HandoffError,
  type PendingSignIn,
} from "../src/index.js";
import { client, closeClients, IdentityProvider, type Node, type Redis, startNode, startRedis, track, until, user } from "./harness.js";

// How long a held sign-in waits on `brief`, the node of the test that waits its deadline out; on the
// pair it is ten minutes, so that a prompt withdrawn at its deadline rather than at once would come long
// after a test timed out.
const HELD_FOR_SECONDS = 1;
let redis: Redis;
/** Two nodes on one Redis, where every test runs that needs no node of its own. */
let nodes: Node[] = [];
/** A node that allows an address one API request every two seconds, in bursts of one. */
let strict: Node;
/** A node whose held sign-ins last {@link HELD_FOR_SECONDS}. */
let brief: Node;
const app = new IdentityProvider();

// Every node starts at once (each test's own node too), and lives for the file: each test has users of
// its own, so tests on one node never share state, and they run side by side (most of their time is
// waiting on the nodes' clocks: poll intervals, a slow_down's 5 s, a rate's refill, a held sign-in's deadline).
before(async () => {
  redis = await startRedis();
  const approval = ["--new-device-approval", "--device-poll-interval", "500ms", "--max-pending-sign-ins-per-address", "50"];
  const args = [
    ...app.args(),
    ...approval,
    "--redis-url",
    redis.url,
    "--new-device-approval-timeout",
    "10m",
    "--max-user-code-failures-per-user",
    "3",
  ];
  const started = await Promise.allSettled([
    startNode([...args, "--node-id", "js-sign-a"]),
    startNode([...args, "--node-id", "js-sign-b"]),
    startNode([...app.args(), "--device-poll-interval", "100ms", "--api-request-rate", "0.5", "--api-request-burst", "1"]),
    startNode([...app.args(), ...approval, "--new-device-approval-timeout", `${HELD_FOR_SECONDS}s`]),
  ]);
  // The nodes that did start are stopped by `after` when one did not.
  [nodes[0], nodes[1], strict, brief] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined!));
  for (const r of started) if (r.status === "rejected") throw r.reason;
});
// The clients of a test that failed half-way are closed here, while the nodes still run: the tests run
// at once, so an afterEach would close the clients of the others.
after(async () => {
  await closeClients();
  await Promise.all([...nodes, strict, brief].map((n) => n?.stop()));
  await redis?.stop();
});

/** A client that connects with a device session's access token. */
function sessionClient(node: Node, session: DeviceSession): HandoffClient {
  return track(
    new HandoffClient({
      url: node.url,
      token: session.accessToken,
      webSocket: bearerWebSocket(WebSocket),
      reconnect: { initialMs: 50, maxMs: 500 },
    }),
  );
}

/**
 * User u's first device, the phone, signed in at once on the first node (a client of its session), and
 * a client of u's laptop on the second; neither connected.
 */
async function phoneAndLaptop(u: string, message?: string) {
  const first = await new DeviceSignIn(nodes[0].http).signIn(app.token(u), { deviceId: "phone", name: "Phone" });
  assert.equal(first.status, "signed_in", message);
  if (first.status !== "signed_in") throw new Error("not signed in");
  const phone = sessionClient(nodes[0], first.session);
  return { session: first.session, phone, laptop: client(nodes[1], u, "laptop") };
}

/** Resolves with the error a promise rejects with; fails if it resolves. */
async function rejection(p: Promise<unknown>): Promise<HandoffError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HandoffError, `a HandoffError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected a rejection");
}

describe("signing in new devices (two nodes with Redis)", { concurrency: true }, () => {
  test("a TV gets a code, a phone of the user on the other node approves it, the TV signs in and connects; another answer is refused, the same one sent again gets it again", async () => {
    const u = user("tv-code");
    const tv = new DeviceSignIn(nodes[0].http);
    const code = await tv.requestCode({ deviceId: "tv", name: "Living room", platform: "tv" });
    assert.match(code.userCode, /^[A-Z]{4}-[A-Z]{4}$/);
    assert.ok(code.verificationUriComplete.includes(code.userCode));
    assert.ok(code.expiresInSeconds > 0 && code.intervalSeconds > 0);

    const phone = client(nodes[1], u, "phone");
    const stranger = client(nodes[1], user("stranger"), "phone");
    await Promise.all([phone.connect(), stranger.connect()]);
    const asking = await phone.approvals.verifyUserCode(code.userCode.toLowerCase().replace("-", ""));
    assert.equal(asking.kind, ApprovalKind.DEVICE_CODE);
    assert.equal(asking.deviceId, "tv");
    assert.equal(asking.deviceName, "Living room");
    assert.equal(asking.platform, "tv");
    assert.ok(asking.address.length > 0, "the address it asked from");
    assert.equal(typeof asking.createdMs, "bigint");
    assert.ok(asking.expiresMs > asking.createdMs);

    const seen = await rejection(stranger.approvals.verifyUserCode(code.userCode));
    assert.equal(seen.code, "APPROVAL_NOT_FOUND", "another user cannot see a code the user holds");
    const taken = await rejection(stranger.approvals.answer(asking.approvalId, true));
    assert.equal(taken.code, "APPROVAL_NOT_FOUND", "nor approve it");

    const waiting = tv.awaitApproval(code);
    assert.equal(await phone.approvals.answer(asking.approvalId, true), ApprovalOutcome.APPROVAL_APPROVED);
    const other = await rejection(phone.approvals.answer(asking.approvalId, false));
    assert.equal(other.code, "APPROVAL_ENDED");
    assert.equal(
      await phone.approvals.answer(asking.approvalId, true),
      ApprovalOutcome.APPROVAL_APPROVED,
      "the same answer sent again by its device gets that answer again",
    );

    const session = await waiting;
    assert.equal(session.userId, u, "a session of the approving user");
    assert.equal(session.deviceId, "tv");
    assert.equal(typeof session.accessExpiresAtMs, "bigint");
    const tvClient = sessionClient(nodes[0], session);
    await tvClient.connect();
    assert.equal(tvClient.userId, u);
    assert.equal(tvClient.deviceId, "tv");

    const reused = await rejection(tv.awaitApproval({ ...code, intervalSeconds: 0 }));
    assert.equal(reused.code, "invalid_grant", "a code is consumed once");
    assert.equal(reused.status, 400);

    const renewed = await tv.refresh(session.refreshToken);
    assert.equal(renewed.sessionId, session.sessionId);
    assert.notEqual(renewed.refreshToken, session.refreshToken);
    await Promise.all([phone, stranger, tvClient].map((c) => c.close()));
  });

  test("a TV whose polls are refused 429 rate_limited keeps polling and gets its session", async () => {
    // On `strict`, which allows an address one API request every two seconds, in bursts of one.
    const u = user("tv-limited");
    const tv = new DeviceSignIn(strict.http);
    const code = await tv.requestCode({ deviceId: "tv", name: "Den", platform: "tv" });
    const phone = client(strict, u, "phone");
    await phone.connect();
    const asking = await phone.approvals.verifyUserCode(code.userCode);
    assert.equal(await phone.approvals.answer(asking.approvalId, true), ApprovalOutcome.APPROVAL_APPROVED);
    const refusedForAddresses = async () =>
      (await (await fetch(`${strict.http}/metrics`)).text())
        .split("\n")
        .filter((l) => l.startsWith('handoff_api_requests_refused_total{caller="address"'))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    const before = await refusedForAddresses();
    // Empty the address's bucket: a request the limit lets through (answered 400, a bad body) takes
    // its one token and leaves it at zero, not merely under one (as a refusal would), so the first
    // poll, made at once, is refused unless two seconds pass before it. The refusals on the way there
    // are counted, so that nothing else is asked of the node between the last of them and the poll.
    const post = () => fetch(`${strict.http}/v1/token`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    let emptying = 0;
    while ((await post()).status === 429) {
      emptying++;
      await new Promise((r) => setTimeout(r, 100));
    }
    const session = await tv.awaitApproval({ ...code, intervalSeconds: 0 });
    assert.equal(session.userId, u);
    const polledThrough = (await refusedForAddresses()) - before - emptying;
    assert.ok(polledThrough >= 1, `the TV's polls were refused ${polledThrough} times before it got its session`);
    await phone.close();
  });

  test("denied and unknown codes give the RFC's errors", async () => {
    const u = user("deny");
    const phone = client(nodes[0], u, "phone");
    await phone.connect();
    const tv = new DeviceSignIn(nodes[1].http);

    const denied = await tv.requestCode({ deviceId: "tv" });
    const r = await phone.approvals.verifyUserCode(denied.userCode);
    const waiting = rejection(tv.awaitApproval(denied));
    assert.equal(await phone.approvals.answer(r.approvalId, false), ApprovalOutcome.APPROVAL_DENIED);
    const e = await waiting;
    assert.equal(e.code, "access_denied");
    assert.equal(e.status, 400);

    const unknown = await rejection(
      tv.awaitApproval({ deviceCode: "dc1.BCDFGHJK.nothing", intervalSeconds: 0, expiresInSeconds: 5 }),
    );
    assert.equal(unknown.code, "invalid_grant");
    await phone.close();
  });

  test("a poll faster than the interval gets the RFC's slow_down, and the next one comes 5 s later", async () => {
    const phone = client(nodes[0], user("slow-down"), "phone");
    await phone.connect();
    // A device that ignores the interval: its second poll comes at once and gets slow_down.
    const polls: { at: number; error: string }[] = [];
    const counting = new DeviceSignIn(nodes[1].http, {
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        const body = (await res.clone().json()) as { error?: string };
        polls.push({ at: Date.now(), error: body.error ?? String(res.status) });
        return res;
      },
    });
    const fast = await counting.requestCode({ deviceId: "impatient-tv" });
    polls.length = 0;
    const session = counting.awaitApproval({ ...fast, intervalSeconds: 0 });
    await until("a slow_down", () => polls.some((p) => p.error === "slow_down"));
    const slowed = polls.findIndex((p) => p.error === "slow_down");
    await phone.approvals.answer((await phone.approvals.verifyUserCode(fast.userCode)).approvalId, true);
    assert.equal((await session).deviceId, "impatient-tv");
    assert.ok(polls.length > slowed + 1, "it polled again after slow_down");
    assert.ok(polls[slowed + 1].at - polls[slowed].at >= 4_900, "no sooner than 5 s later");
    await phone.close();
  });

  test("a held sign-in of a new device prompts the user's devices on both nodes; one answer wins, the others see it withdrawn", async () => {
    const u = user("held");
    const { phone, laptop } = await phoneAndLaptop(u, "the user's first device signs in at once");
    const watch = client(nodes[0], u, "watch");
    const devices = { phone, laptop, watch };
    const prompted = new Map<string, ApprovalRequest>();
    const withdrawn = new Map<string, [string, ApprovalOutcome, string]>();
    for (const [name, c] of Object.entries(devices)) {
      c.on("approvalPrompt", (r) => prompted.set(name, r));
      c.on("approvalWithdrawn", (id, outcome, by) => withdrawn.set(name, [id, outcome, by]));
    }
    await Promise.all(Object.values(devices).map((c) => c.connect()));

    const newcomer = new DeviceSignIn(nodes[1].http);
    const held = await newcomer.signIn(app.token(u), { deviceId: "borrowed", name: "Borrowed laptop", platform: "linux" });
    assert.equal(held.status, "approval_pending");
    if (held.status !== "approval_pending") return;
    assert.ok(held.pending.approversOnline >= 1);
    await until("every device is prompted", () => prompted.size === 3);
    for (const r of prompted.values()) {
      assert.equal(r.approvalId, held.pending.approvalId);
      assert.equal(r.kind, ApprovalKind.NEW_DEVICE);
      assert.equal(r.deviceName, "Borrowed laptop");
      assert.equal(r.platform, "linux");
    }
    assert.deepEqual(
      phone.approvals.prompts().map((r) => r.approvalId),
      [held.pending.approvalId],
    );

    const waiting = newcomer.awaitApproval(held.pending);
    const names = Object.keys(devices) as (keyof typeof devices)[];
    const answers = await Promise.allSettled(names.map((n) => devices[n].approvals.answer(held.pending.approvalId, true)));
    const won = answers.flatMap((a, i) => (a.status === "fulfilled" ? [names[i]] : []));
    assert.equal(won.length, 1, "exactly one answer wins");
    for (const a of answers) {
      if (a.status === "rejected") assert.equal((a.reason as HandoffError).code, "APPROVAL_ENDED");
    }
    const losers = names.filter((n) => n !== won[0]);
    await until("the others see the prompt withdrawn", () => losers.every((n) => withdrawn.has(n)));
    for (const n of losers) {
      const [id, outcome, by] = withdrawn.get(n)!;
      assert.equal(id, held.pending.approvalId);
      assert.equal(outcome, ApprovalOutcome.APPROVAL_APPROVED);
      assert.equal(by, won[0]);
      assert.equal(devices[n].approvals.prompts().length, 0);
    }
    assert.equal(withdrawn.has(won[0]), false, "the winner learns from its answer");
    assert.equal(devices[won[0]].approvals.prompts().length, 0);

    const session = await waiting;
    assert.equal(session.userId, u);
    assert.equal(session.deviceId, "borrowed");
    const borrowed = sessionClient(nodes[1], session);
    await borrowed.connect();
    assert.equal(borrowed.deviceId, "borrowed");
    await Promise.all([...Object.values(devices), borrowed].map((c) => c.close()));
  });

  test("a prompt the same device answered elsewhere (another tab, over HTTP) is withdrawn from its socket too", async () => {
    const u = user("tab");
    const { session, phone, laptop } = await phoneAndLaptop(u);
    const prompted = new Set<string>();
    const withdrawn = new Map<string, [string, ApprovalOutcome, string]>();
    for (const [name, c] of Object.entries({ phone, laptop })) {
      c.on("approvalPrompt", () => prompted.add(name));
      c.on("approvalWithdrawn", (id, outcome, by) => withdrawn.set(name, [id, outcome, by]));
    }
    await Promise.all([phone.connect(), laptop.connect()]);

    const held = await new DeviceSignIn(nodes[1].http).signIn(app.token(u), { deviceId: "new-tablet" });
    assert.equal(held.status, "approval_pending");
    if (held.status !== "approval_pending") return;
    await until("both devices are prompted", () => prompted.size === 2);

    // Another tab of the phone (the same device session) approves over the HTTP API.
    const res = await fetch(`${nodes[1].http}/v1/device/answer`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${session.accessToken}` },
      body: JSON.stringify({ approval_id: held.pending.approvalId, decision: "approve" }),
    });
    assert.equal(res.status, 200, await res.clone().text());

    await until("the laptop's prompt is withdrawn", () => withdrawn.has("laptop"));
    await until("the phone's socket sees its prompt withdrawn too", () => withdrawn.has("phone"));
    assert.deepEqual(withdrawn.get("phone"), [held.pending.approvalId, ApprovalOutcome.APPROVAL_APPROVED, "phone"]);
    assert.equal(phone.approvals.prompts().length, 0);
    await Promise.all([phone.close(), laptop.close()]);
  });

  test("across a reconnect a prompt still waiting is not surfaced again, and one answered on the other node meanwhile is withdrawn at once, not at its deadline", async () => {
    // On the pair, whose prompts last ten minutes: a withdrawal at the deadline would come long after
    // this test timed out.
    const u = user("away");
    const { phone, laptop } = await phoneAndLaptop(u);
    const prompted: string[] = [];
    const withdrawn = new Map<string, [ApprovalOutcome, string, string[]]>();
    phone.on("approvalPrompt", (r) => prompted.push(r.approvalId));
    phone.on("approvalWithdrawn", (id, outcome, by) =>
      withdrawn.set(id, [outcome, by, phone.approvals.prompts().map((r) => r.approvalId)]),
    );
    await Promise.all([phone.connect(), laptop.connect()]);

    const newcomer = new DeviceSignIn(nodes[1].http);
    const answered = await newcomer.signIn(app.token(u), { deviceId: "tablet" });
    const waiting = await newcomer.signIn(app.token(u), { deviceId: "watch" });
    if (answered.status !== "approval_pending" || waiting.status !== "approval_pending") return assert.fail("both held");
    const [a, w] = [answered.pending.approvalId, waiting.pending.approvalId];
    assert.ok(Number(answered.pending.expiresInSeconds) >= 500, "a deadline far past the test's");
    await until("the phone is prompted for both", () => prompted.includes(a) && prompted.includes(w));
    await until("the laptop is prompted for both", () => laptop.approvals.prompts().length === 2);

    phone.setOffline(true);
    assert.equal(await laptop.approvals.answer(a, true), ApprovalOutcome.APPROVAL_APPROVED, "answered while the phone is away");
    phone.setOffline(false);
    await until("the prompt answered while away is withdrawn", () => withdrawn.has(a));
    const [outcome, by, shownThen] = withdrawn.get(a)!;
    assert.equal(outcome, ApprovalOutcome.APPROVAL_OUTCOME_UNSPECIFIED, "how it ended is not known to the phone");
    assert.equal(by, "");
    assert.deepEqual(shownThen, [w], "withdrawn once the waiting prompt was sent again");
    assert.deepEqual(prompted, [a, w], "the app was shown each prompt once");
    assert.equal(withdrawn.has(w), false);
    assert.deepEqual(
      phone.approvals.prompts().map((r) => r.approvalId),
      [w],
    );
    await Promise.all([phone.close(), laptop.close()]);
  });

  test("with no trusted device online a held sign-in says so at once and ends with expired_token at its deadline", async () => {
    // On `brief`, whose held sign-ins last a second.
    const u = user("alone");
    const signIn = new DeviceSignIn(brief.http);
    const first = await signIn.signIn(app.token(u), { deviceId: "phone" });
    assert.equal(first.status, "signed_in");
    const held = await signIn.signIn(app.token(u), { deviceId: "tablet" });
    assert.equal(held.status, "approval_pending");
    if (held.status !== "approval_pending") return;
    assert.equal(held.pending.approversOnline, 0);
    assert.ok(held.pending.expiresInSeconds <= HELD_FOR_SECONDS);
    const e = await rejection(signIn.awaitApproval(held.pending));
    assert.equal(e.code, "expired_token");
    assert.match(e.message, /sign in again/);
  });

  test("a held sign-in restored without a usable interval or lifetime is refused before any poll, as the Java client refuses it", async () => {
    const u = user("restored");
    let polls = 0;
    const stop = new AbortController();
    // The real fetch, counted; a client that polls without end is stopped at its third poll.
    const signIn = new DeviceSignIn(nodes[0].http, {
      fetch: (input, init) => {
        if (String(input).endsWith("/v1/token") && ++polls >= 3) stop.abort(new Error(`polled ${polls} times`));
        return fetch(input, init);
      },
    });
    assert.equal((await signIn.signIn(app.token(u), { deviceId: "phone" })).status, "signed_in");
    const held = await signIn.signIn(app.token(u), { deviceId: "tablet" });
    assert.equal(held.status, "approval_pending");
    if (held.status !== "approval_pending") return;
    // As read back from storage that kept only some fields, or kept numbers as null or text.
    const restored = JSON.parse(JSON.stringify(held.pending)) as Record<string, unknown>;
    const partial: Record<string, unknown>[] = [
      { ...restored, intervalSeconds: undefined },
      { ...restored, expiresInSeconds: undefined },
      { ...restored, intervalSeconds: Number.NaN },
      { ...restored, expiresInSeconds: Number.POSITIVE_INFINITY },
      { ...restored, intervalSeconds: null },
      { ...restored, expiresInSeconds: "120" },
      { approvalId: held.pending.approvalId, deviceCode: held.pending.deviceCode },
    ];
    for (const p of partial) {
      const e = await rejection(signIn.awaitApproval(p as unknown as PendingSignIn, { signal: stop.signal }));
      assert.equal(e.code, "INVALID_ARGUMENT", `${JSON.stringify(p)}: ${e.message}`);
      assert.equal(polls, 0, `${JSON.stringify(p)} was polled`);
    }
  });

  test("wrong user codes hit the attempt limit, and bad arguments are refused before anything is sent", async () => {
    const guesser = client(nodes[0], user("guess"), "phone");
    await guesser.connect();
    for (let i = 0; i < 3; i++) {
      assert.equal((await rejection(guesser.approvals.verifyUserCode("BCDF-GHJK"))).code, "APPROVAL_NOT_FOUND");
    }
    const limited = await rejection(guesser.approvals.verifyUserCode("BCDF-GHJL"));
    assert.equal(limited.code, "TOO_MANY_ATTEMPTS");
    assert.equal((await rejection(guesser.approvals.verifyUserCode(""))).code, "INVALID_ARGUMENT");
    assert.equal((await rejection(guesser.approvals.answer("", true))).code, "INVALID_ARGUMENT");
    assert.throws(() => new DeviceSignIn("ws://127.0.0.1:1"), HandoffError);
    await assert.rejects(new DeviceSignIn(nodes[0].http).requestCode({ deviceId: "" }), HandoffError);
    const offline = await rejection(new DeviceSignIn("http://127.0.0.1:1").requestCode({ deviceId: "tv" }));
    assert.equal(offline.code, "CONNECTION_LOST");
    await guesser.close();
  });
});
