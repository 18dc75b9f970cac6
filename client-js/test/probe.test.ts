// The check of one connection (`checkConnection()`, a page shown again, a network change) without sockets,
// its timers mocked: only the Pong carrying the check's nonce answers it; other frames (a delta, the Pong of
// another Ping) neither answer it nor move its deadline. The end-to-end tests are check-connection.test.ts.
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Link, PROBE_MIN_MS } from "../src/connection.js";
import { type ClientFrame, ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { recordingEngine } from "./engine-harness.js";

/** A welcomed link whose engine records closes; `sent` holds what it sends. */
function welcomedLink() {
  const { engine, closes } = recordingEngine();
  const sent: ClientFrame[] = [];
  const link = new Link(engine);
  const state = { aborted: false };
  link.channel = { send: (f) => sent.push(f), close: () => {}, abort: () => (state.aborted = true) };
  link.onOpen();
  link.welcomed = true;
  /** The nonce of the one Ping sent since the last call. */
  const ping = () => {
    const pings = sent.splice(0).filter((f) => f.body.case === "ping");
    assert.equal(pings.length, 1);
    return (pings[0]!.body.value as { nonce: bigint }).nonce;
  };
  return { link, closes, state, ping };
}

const pong = (nonce: bigint) => create(ServerFrameSchema, { body: { case: "pong", value: { nonce } } });
const delta = create(ServerFrameSchema, { body: { case: "delta", value: { document: "player", version: 1n } } });

test("a check is not answered by a delta or by another Ping's Pong, and gives the connection up at its deadline", () => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  try {
    const { link, closes, state, ping } = welcomedLink();
    link.probe("the page was shown again");
    const nonce = ping();
    link.onFrame(delta);
    link.onFrame(pong(nonce + 1n));
    mock.timers.tick(PROBE_MIN_MS);
    assert.equal(state.aborted, true);
    assert.deepEqual(closes, ["1006 the page was shown again, and a ping had no answer within 1000 ms"]);
    assert.equal(link.retryAtOnce, true);
  } finally {
    mock.timers.reset();
  }
});

test("the Pong carrying the check's nonce answers it, and answers no later check", () => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  try {
    const { link, closes, state, ping } = welcomedLink();
    link.probe("the app asked for a check");
    const first = ping();
    link.onFrame(pong(first));
    mock.timers.tick(PROBE_MIN_MS);
    assert.equal(state.aborted, false);
    assert.deepEqual(closes, []);

    link.probe("the app asked for a check");
    const second = ping();
    assert.notEqual(second, first);
    link.onFrame(pong(first));
    mock.timers.tick(PROBE_MIN_MS);
    assert.equal(state.aborted, true, "the first check's Pong does not answer the second");
  } finally {
    mock.timers.reset();
  }
});
