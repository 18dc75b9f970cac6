// Reconnect and re-send delays: exponential with full jitter, capped, and shorter after the store (not
// the network) failed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, RETRY_AFTER_MAX_MS, UNAVAILABLE_BACKOFF_MAX_MS } from "../src/backoff.js";

test("delays double up to the maximum, and a cap shortens them without resetting the count", () => {
  const b = new Backoff(100, 30_000, () => 0.999_999);
  assert.deepEqual(
    [b.next(), b.next(), b.next()],
    [99, 199, 399],
  );
  assert.equal(b.delay(20), 29_999, "never past the maximum");
  assert.equal(b.next(UNAVAILABLE_BACKOFF_MAX_MS), 799, "under the cap, as without it");
  assert.equal(b.delay(10, UNAVAILABLE_BACKOFF_MAX_MS), 1_999, "after the store failed: at most 2 s");
  assert.equal(b.next(), 1_599, "the count went on through the capped attempt");
});

test("a Retry-After is waited out with up to half of it on top, at most a minute of it, without moving the count", () => {
  const low = new Backoff(100, 30_000, () => 0);
  assert.equal(low.retryAfter(7_000), 7_000);
  assert.equal(low.retryAfter(86_400_000), RETRY_AFTER_MAX_MS, "a day is taken as a minute");
  const high = new Backoff(100, 30_000, () => 0.999_999);
  assert.equal(high.retryAfter(7_000), 10_499);
  assert.equal(high.retryAfter(86_400_000), 89_999);
  assert.equal(high.next(), 99, "the count did not move");
});
