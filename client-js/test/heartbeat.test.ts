// The browser-side heartbeat of one connection, its interval fired by the test once a minute as a hidden
// tab's throttled timers are (Node's mock Date keeps the time): a healthy idle connection that answers
// every ping stays up, one whose ping goes unanswered is given up.
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Link } from "../src/connection.js";
import { type ClientFrame, ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { recordingEngine } from "./engine-harness.js";

const INTERVAL_MS = 25_000;

test("a hidden tab's throttled heartbeat keeps a connection that answers its pings and drops one that does not", () => {
  mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
  let fire: (() => void) | undefined;
  const interval = mock.method(globalThis, "setInterval", (callback: () => void) => {
    fire = callback;
    return 0;
  });
  try {
    const { engine, closes } = recordingEngine();
    const sent: ClientFrame[] = [];
    let aborted = false;
    const link = new Link(engine);
    link.channel = { send: (f) => sent.push(f), close: () => {}, abort: () => (aborted = true) };
    link.onOpen();
    link.startHeartbeat(INTERVAL_MS, 5_000);
    /** A minute passes with the interval firing once, at its end, as in a hidden tab. */
    const throttledMinute = () => {
      mock.timers.setTime(Date.now() + 60_000);
      fire!();
    };
    const pong = () => link.onFrame(create(ServerFrameSchema, { body: { case: "pong", value: {} } }));

    for (let minute = 1; minute <= 3; minute++) {
      throttledMinute();
      assert.equal(sent.length, minute, `a ping at minute ${minute}`);
      assert.equal(aborted, false, `up at minute ${minute}: every ping was answered`);
      pong();
    }
    throttledMinute();
    assert.equal(sent.length, 4);
    throttledMinute();
    assert.equal(aborted, true, "the fourth ping had no answer for a minute");
    assert.equal(closes.length, 1);
    assert.match(closes[0]!, /^1006 no frame from the server for 120000 ms, ping unanswered/);
    link.stop();
  } finally {
    interval.mock.restore();
    mock.timers.reset();
  }
});

for (const marginMs of [5_000, 300]) {
  test(`a node that went silent is given up within two intervals and the margin (${marginMs} ms), as the protocol asks, when timers fire on time`, () => {
    mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    let fire: (() => void) | undefined;
    let every = 0;
    const interval = mock.method(globalThis, "setInterval", (callback: () => void, ms: number) => {
      fire = callback;
      every = ms;
      return 0;
    });
    try {
      const { engine } = recordingEngine();
      let abortedAt: number | undefined;
      const link = new Link(engine);
      link.channel = { send: () => (pingedAt ??= Date.now()), close: () => {}, abort: () => (abortedAt ??= Date.now()) };
      const silentFrom = Date.now();
      link.onOpen(); // The last frame heard: the node says nothing from here on.
      link.startHeartbeat(INTERVAL_MS, marginMs);
      assert.ok(every > 0);
      let pingedAt: number | undefined;
      while (abortedAt === undefined && Date.now() - silentFrom < 10 * INTERVAL_MS) {
        mock.timers.setTime(Date.now() + every);
        fire!();
      }
      assert.ok(abortedAt !== undefined, "given up");
      const after = abortedAt - silentFrom;
      // The protocol: close and reconnect after two silent intervals plus a margin (the Java client: 2 x 25 s + 5 s).
      assert.ok(after <= 2 * INTERVAL_MS + marginMs + 1_000, `given up after ${after} ms of silence`);
      assert.ok(abortedAt - pingedAt! > INTERVAL_MS + marginMs, "not before the ping had an interval and the margin");
      link.stop();
    } finally {
      interval.mock.restore();
      mock.timers.reset();
    }
  });
}
