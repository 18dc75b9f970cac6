// The client's options as its constructor checks them: a value it cannot honour is refused with
// INVALID_ARGUMENT naming the option, as the Java client's builder refuses it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HandoffClient, type HandoffClientOptions, HandoffError } from "../src/index.js";

const base: HandoffClientOptions = { url: "ws://127.0.0.1:9/ws", token: "unused" };

const refused = (options: Partial<HandoffClientOptions>, name: RegExp) =>
  assert.throws(
    () => new HandoffClient({ ...base, ...options }),
    (e: unknown) => e instanceof HandoffError && e.code === "INVALID_ARGUMENT" && name.test(e.message),
    JSON.stringify(options),
  );

test("timeouts and delays longer than a timer can wait are refused: setTimeout runs them at once", () => {
  // 2^31 ms and more overflow the timers: a connect timeout of that length gave every attempt up
  // after 1 ms, and a reconnect maximum of that length made most reconnects go at once.
  refused({ connectTimeoutMs: 2 ** 31 }, /^connectTimeoutMs must be a positive integer at most 2147483647 ms/);
  refused({ reconnect: { initialMs: 100, maxMs: 1e12 } }, /^reconnect.maxMs must be a positive integer at most 2147483647 ms/);
  refused({ reconnect: { initialMs: 2 ** 31, maxMs: 2 ** 31 } }, /^reconnect.initialMs must be a positive integer at most 2147483647 ms/);
  new HandoffClient({ ...base, connectTimeoutMs: 2 ** 31 - 1, reconnect: { initialMs: 2 ** 31 - 1, maxMs: 2 ** 31 - 1 } });
});

test("a reconnect initial delay above its maximum is INVALID_ARGUMENT, as every other option", () => {
  refused({ reconnect: { initialMs: 60_000 } }, /^reconnect.initialMs .*must not be above reconnect.maxMs/);
  refused({ reconnect: { initialMs: 500, maxMs: 200 } }, /^reconnect.initialMs .*must not be above reconnect.maxMs/);
});

test("NaN, infinite, fractional, zero and negative numbers are refused", () => {
  for (const v of [Number.NaN, Number.POSITIVE_INFINITY, 1.5, 0, -1]) {
    refused({ connectTimeoutMs: v }, /^connectTimeoutMs/);
    if (v !== 0) refused({ heartbeatMarginMs: v }, /^heartbeatMarginMs/);
    refused({ maxPendingWrites: v }, /^maxPendingWrites/);
    refused({ reconnect: { initialMs: v } }, /^reconnect.initialMs/);
  }
});

test("the heartbeat margin is 0 to 2^31 - 1 ms, as the Java client's heartbeatMargin", () => {
  // 0: a ping unanswered for a whole interval is given up, as Java gives up two silent intervals.
  new HandoffClient({ ...base, heartbeatMarginMs: 0 });
  new HandoffClient({ ...base, heartbeatMarginMs: 2 ** 31 - 1 });
  refused({ heartbeatMarginMs: 2 ** 31 }, /^heartbeatMarginMs must be a non-negative integer at most 2147483647 ms/);
  refused({ heartbeatMarginMs: -1 }, /^heartbeatMarginMs must be a non-negative integer/);
});
