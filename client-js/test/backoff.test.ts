// Reconnect and re-send delays: exponential with full jitter, capped, and shorter after the store (not
// the network) failed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, UNAVAILABLE_BACKOFF_MAX_MS } from "../src/backoff.js";

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
