// The client's bookkeeping of offers it made, driven frame by frame (no socket: the end-to-end files
// cover offers over real servers). Time is Node's mock timer, so waiting out an offer's expiry and
// the grace after it takes no real time.
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { HandoffError, OUTCOME_UNKNOWN } from "../src/errors.js";
import { Emitter } from "../src/events.js";
import { ActivitySchema, OfferOutcome, OfferSchema, type ServerFrame, ServerFrameSchema, WelcomeSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { type HandoffEvents, RESULT_GRACE_MS, Requests } from "../src/requests.js";

/** Makes an offer request and answers it with OfferCreated, live for `lifetimeMs`; returns the answer. */
async function created(requests: Requests, offerId: string, lifetimeMs: number): Promise<ServerFrame> {
  const { id, answer } = requests.register();
  requests.onFrame(
    create(ServerFrameSchema, {
      requestId: id,
      body: {
        case: "offerCreated",
        value: { offer: { offerId, createdMs: 1_000n, expiresMs: 1_000n + BigInt(lifetimeMs) } },
      },
    }),
  );
  return answer;
}

test("an offer whose result never comes is forgotten once its expiry and a grace have passed", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const requests = new Requests(new Emitter<HandoffEvents>());
    const lost = requests.resultOf(await created(requests, "o-lost", 5_000));
    const answered = requests.resultOf(await created(requests, "o-answered", 5_000));
    let settled = false;
    lost.then(
      () => (settled = true),
      () => (settled = true),
    );

    requests.onFrame(
      create(ServerFrameSchema, {
        body: { case: "offerResult", value: { offerId: "o-answered", outcome: OfferOutcome.ACCEPTED, byDevice: "tv" } },
      }),
    );
    assert.equal((await answered).byDevice, "tv", "a result before the deadline resolves it");

    mock.timers.tick(5_000 + RESULT_GRACE_MS - 1);
    await Promise.resolve();
    assert.equal(settled, false, "still waiting within the grace");
    mock.timers.tick(1);
    const error = await lost.then(
      () => assert.fail("resolved without a result"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof HandoffError);
    assert.equal(error.code, "OUTCOME_UNKNOWN");
    // As the Java client reports it: the code's number too, and asking again cannot help.
    assert.equal(error.errorCode, OUTCOME_UNKNOWN);
    assert.equal(error.closeCode, undefined);
    assert.equal(error.retryable, false);
    assert.match(error.message, /o-lost expired .* how is unknown/);
    assert.equal(requests.outgoingOffers, 0, "forgotten");
  } finally {
    mock.timers.reset();
  }
});

test("a reconnect withdraws what ended meanwhile and announces only what is new or changed", () => {
  const events = new Emitter<HandoffEvents>();
  const heard: string[] = [];
  events.on("activity", (device, a) => heard.push(`activity ${device} ${a ? a.title : "-"}`));
  events.on("prompt", (o) => heard.push(`prompt ${o.offerId}`));
  events.on("withdrawn", (id, outcome, by) => heard.push(`withdrawn ${id} ${OfferOutcome[outcome]} ${by}`));
  const requests = new Requests(events);
  const phone = create(ActivitySchema, { deviceId: "phone", title: "Episode 3" });
  const laptop = create(ActivitySchema, { deviceId: "laptop", title: "Draft" });
  const tv = create(ActivitySchema, { deviceId: "tv", title: "Movie" });
  const offer = (offerId: string) => create(OfferSchema, { offerId, expiresMs: 1n << 50n });
  requests.welcomed(create(WelcomeSchema, { activities: [phone, laptop], offers: [offer("o1"), offer("o2")] }))();
  assert.deepEqual(heard, ["activity phone Episode 3", "activity laptop Draft", "prompt o1", "prompt o2"]);
  heard.length = 0;
  const laptopLater = create(ActivitySchema, { deviceId: "laptop", title: "Draft, page 2" });
  requests.welcomed(create(WelcomeSchema, { activities: [phone, laptopLater, tv], offers: [offer("o2")] }))();
  assert.deepEqual(
    heard,
    ["activity laptop Draft, page 2", "activity tv Movie", "withdrawn o1 OFFER_OUTCOME_UNSPECIFIED "],
    "o2 and the phone's activity were known as they are",
  );
  heard.length = 0;
  requests.welcomed(create(WelcomeSchema, { activities: [tv] }))();
  assert.deepEqual(heard, ["activity phone -", "activity laptop -", "withdrawn o2 OFFER_OUTCOME_UNSPECIFIED "]);
  heard.length = 0;
  // A Welcome taken in whose news is never told (its connection ended first): the next one is told
  // against what the listeners heard last, not against what that Welcome held.
  requests.welcomed(create(WelcomeSchema, { activities: [phone], offers: [offer("o3")] }));
  assert.deepEqual(heard, []);
  assert.deepEqual([...requests.activities.keys()], ["phone"], "held at once, before the news is told");
  requests.welcomed(create(WelcomeSchema, { activities: [phone], offers: [offer("o3")] }))();
  assert.deepEqual(heard, ["activity phone Episode 3", "activity tv -", "prompt o3"]);
});
