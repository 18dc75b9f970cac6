// The engine driven frame by frame through its Connector (no socket: the end-to-end files cover the
// same engine over real servers): a Snapshot that is not newer than the replica, fingerprints that
// show the server's history is not the replica's, and a durable store that fails a save.
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Backoff } from "../src/backoff.js";
import { STABLE_CONNECTION_MS } from "../src/engine.js";
import {
  type ClientFrame,
  DocumentSync_Reason,
  ErrorCode,
  type ServerFrame,
  ServerFrameSchema,
} from "../src/gen/handoff/v1/handoff_pb.js";
import { type HandoffError, OUTCOME_UNKNOWN } from "../src/errors.js";
import { MemoryStore, type StoredState } from "../src/store.js";
import { engineOn, welcomed } from "./engine-harness.js";

const EPOCH = 7n;
const utf8 = new TextEncoder();

/** A fingerprint per version of one history ("b": another history that reused the numbers). */
const fp = (version: bigint, history = "a") => (history === "a" ? 0x1000n : 0x2000n) + version;

function delta(version: bigint, history = "a"): ServerFrame {
  return create(ServerFrameSchema, {
    body: {
      case: "delta",
      value: {
        document: "cart",
        epoch: EPOCH,
        version,
        ops: [{ field: "f", op: { case: "set", value: utf8.encode(`v${version}${history}`) } }],
        originDevice: "laptop",
        fingerprint: fp(version, history),
        previousFingerprint: version > 1n ? fp(version - 1n, history) : 0n,
      },
    },
  });
}

function snapshot(version: bigint, reason = DocumentSync_Reason.REASON_UNSPECIFIED, history = "a"): ServerFrame {
  return create(ServerFrameSchema, {
    body: {
      case: "snapshot",
      value: {
        document: "cart",
        epoch: EPOCH,
        version,
        fields: { f: utf8.encode(`v${version}${history}`) },
        reason,
        fingerprint: fp(version, history),
      },
    },
  });
}

function resyncPosition(f: ClientFrame | undefined) {
  assert.equal(f?.body.case, "resync");
  return f!.body.case === "resync" ? f!.body.value.positions[0]! : undefined;
}

test("a snapshot older than the replica is not applied, and the replica asks from its own position", async () => {
  const { engine, link, sent, changes } = await welcomed();
  for (let v = 1n; v <= 5n; v++) link.onFrame(delta(v));
  const cart = engine.document("cart");
  assert.equal(cart.version, 5n);
  changes.length = 0;
  sent.length = 0;

  // A read the server made before versions 4 and 5 reached this device.
  link.onFrame(snapshot(3n, DocumentSync_Reason.HISTORY_TRIMMED));
  assert.equal(cart.version, 5n, "the replica never goes back");
  assert.equal(changes.length, 0, "no change");
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.body.case, "resync");
  assert.equal(sent[0]!.body.case === "resync" ? sent[0]!.body.value.positions[0]!.version : -1n, 5n);

  // At the replica's own version: nothing changes, nothing is asked.
  link.onFrame(snapshot(5n));
  assert.equal(changes.length, 0, "no change");
  assert.equal(sent.length, 1);

  // The store lost versions 4 and 5: a DIVERGED snapshot goes back, and the app is told.
  link.onFrame(snapshot(3n, DocumentSync_Reason.DIVERGED));
  assert.equal(cart.version, 3n);
  assert.deepEqual(
    changes.map((c) => [c.kind, c.version]),
    [["snapshot", 3n]],
  );
  await engine.close();
});

test("a delta out of turn on a caught-up connection is told to monitoring once, and repaired", async () => {
  const { engine, link, sent, events } = await welcomed();
  const told: string[] = [];
  events.on("deltaOutOfTurn", (d, held, got) => told.push(`${d} held ${held} got ${got}`));
  sent.length = 0; // the Hello
  link.onFrame(delta(1n));
  link.onFrame(delta(2n));
  link.onFrame(delta(2n));
  link.onFrame(delta(1n));
  assert.equal(sent.length, 0, "a stale delta asks for nothing");
  link.onFrame(delta(4n));
  link.onFrame(delta(5n));
  assert.deepEqual(told, ["cart held 2 got 2", "cart held 2 got 1", "cart held 2 got 4"], "v5 came while the Resync was out");
  assert.equal(resyncPosition(sent[0])?.version, 2n);
  assert.equal(engine.document("cart").version, 2n);
  await engine.close();
});

test("a delta or snapshot of another history with the same numbers is not taken for the replica's", async () => {
  const store = new MemoryStore();
  const { engine, link, sent, changes } = await welcomed(store);
  for (let v = 1n; v <= 5n; v++) link.onFrame(delta(v));
  const cart = engine.document("cart");
  changes.length = 0;
  sent.length = 0;

  // The store lost version 5 in a failover and wrote another version 6 on top of its version 4...
  link.onFrame(delta(6n, "b"));
  assert.equal(cart.version, 5n, "not applied on top of a version 5 it was not written on");
  assert.equal(changes.length, 0);
  const asked = resyncPosition(sent[0]);
  assert.equal(asked?.version, 5n);
  assert.equal(asked?.fingerprint, fp(5n), "the position carries the replica's fingerprint, so the server sees it diverged");

  // ...and a snapshot of its version 5 (not marked DIVERGED) is not the replica's version 5 either.
  link.onFrame(snapshot(5n, DocumentSync_Reason.REASON_UNSPECIFIED, "b"));
  assert.equal(cart.getString("f"), "v5b", "replaced: same number, another history");
  assert.deepEqual(
    changes.map((c) => [c.kind, c.version]),
    [["snapshot", 5n]],
  );

  // From there on the replica follows the new history, and its saved state keeps the fingerprint.
  link.onFrame(delta(6n, "b"));
  assert.equal(cart.version, 6n);
  await engine.close();
  const saved = await store.load();
  assert.equal(saved?.documents[0]?.fingerprint, fp(6n, "b"));
});

test("unknown fingerprints (0) never count as a difference", async () => {
  const { engine, link, sent } = await welcomed();
  for (let v = 1n; v <= 3n; v++) link.onFrame(delta(v));
  sent.length = 0;
  const unknown = delta(4n);
  if (unknown.body.case === "delta") {
    unknown.body.value.fingerprint = 0n;
    unknown.body.value.previousFingerprint = 0n;
  }
  link.onFrame(unknown);
  assert.equal(engine.document("cart").version, 4n, "a delta without fingerprints applies as before");
  link.onFrame(delta(5n));
  assert.equal(engine.document("cart").version, 5n, "and the next one too: version 4's fingerprint is unknown");
  assert.equal(sent.length, 0, "nothing was asked again");
  await engine.close();
});

/** A store that says it is durable and fails its next `failures` saves, as a full disk or quota would. */
class FailingStore extends MemoryStore {
  override readonly durable = true;
  failures = 0;
  /** The numbers of writes in the saves that failed. */
  readonly lost: bigint[] = [];
  /** Saves tried, failed or not. */
  saves = 0;
  async save(state: StoredState): Promise<void> {
    this.saves++;
    if (this.failures > 0) {
      this.failures--;
      this.lost.push(...state.writes.map((w) => w.seq).filter((seq) => seq > 0n));
      throw new Error("quota exceeded");
    }
    return super.save(state);
  }
}

test("a write whose number could not be saved is not sent under it, and goes out once a save succeeds", async () => {
  const store = new FailingStore();
  const { engine, link, sent } = await welcomed(store);
  sent.length = 0;
  store.failures = 2;
  const acked = engine.document("cart").set("f", "x");
  const writes = () => sent.filter((f) => f.body.case === "write");
  for (let i = 0; i < 200 && writes().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(writes().length, 1, "sent once, after a save succeeded");
  const seq = (writes()[0]!.body.value as { clientSeq: bigint }).clientSeq;
  assert.ok(store.lost.length > 0, "a save holding a number failed");
  assert.ok(!store.lost.includes(seq), `sent under ${seq}, not under a number whose save failed (${store.lost.join(", ")})`);
  const saved = await store.load();
  assert.deepEqual(
    saved?.writes.map((x) => x.seq),
    [seq],
    "the number sent is the number saved",
  );
  link.onFrame(
    create(ServerFrameSchema, {
      body: { case: "ack", value: { document: "cart", clientSeq: seq, epoch: EPOCH, version: 1n } },
    }),
  );
  assert.equal(await acked, 1n);
  await engine.close();
});

test("a Resync the server refuses for now (over its rate) is sent again after a short wait", async () => {
  const { engine, link, sent } = await welcomed();
  for (let v = 1n; v <= 2n; v++) link.onFrame(delta(v));
  sent.length = 0;
  link.onFrame(delta(4n)); // version 3 is missing
  const resyncs = () => sent.filter((f) => f.body.case === "resync").length;
  assert.equal(resyncs(), 1);
  link.onFrame(
    create(ServerFrameSchema, {
      body: {
        case: "error",
        value: { code: ErrorCode.RATE_LIMITED, document: "cart", retryable: true, message: "send it again in 40 ms" },
      },
    }),
  );
  for (let i = 0; i < 200 && resyncs() < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(resyncs(), 2, "asked again");
  assert.equal(resyncPosition(sent.filter((f) => f.body.case === "resync")[1])?.version, 2n);
  await engine.close();
});

test("a write refused RATE_LIMITED again and again is re-sent until it is applied, never given up on", async () => {
  const { engine, link, sent } = await welcomed(new MemoryStore(), new Backoff(1, 2));
  const writes = () => sent.filter((f) => f.body.case === "write");
  const acked = engine.document("cart").set("f", "x");
  for (let i = 0; i < 200 && writes().length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  const seq = (writes()[0]!.body.value as { clientSeq: bigint }).clientSeq;
  for (let refusal = 1; refusal <= 15; refusal++) {
    link.onFrame(
      create(ServerFrameSchema, {
        body: {
          case: "error",
          value: { code: ErrorCode.RATE_LIMITED, clientSeq: seq, document: "cart", retryable: true, message: "slow down" },
        },
      }),
    );
    for (let i = 0; i < 200 && writes().length <= refusal; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(writes().length, refusal + 1, `re-sent after refusal ${refusal}`);
  }
  link.onFrame(
    create(ServerFrameSchema, {
      body: { case: "ack", value: { document: "cart", clientSeq: seq, epoch: EPOCH, version: 1n } },
    }),
  );
  assert.equal(await acked, 1n);
  await engine.close();
});

test("a write refused INTERNAL fails at once, even if the error says retryable", async () => {
  const { engine, link, sent } = await welcomed(new MemoryStore(), new Backoff(1, 2));
  const writes = () => sent.filter((f) => f.body.case === "write");
  const failed = engine.document("cart").set("f", "x");
  for (let i = 0; i < 200 && writes().length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  const seq = (writes()[0]!.body.value as { clientSeq: bigint }).clientSeq;
  // The refusal's timers run on the test's clock, moved a minute on: a re-send, however long its wait, has gone by then.
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    link.onFrame(
      create(ServerFrameSchema, {
        body: {
          case: "error",
          value: { code: ErrorCode.INTERNAL, clientSeq: seq, document: "cart", retryable: true, message: "bug" },
        },
      }),
    );
    await assert.rejects(failed, (e: Error & { code?: string }) => e.code === "INTERNAL");
    mock.timers.tick(60_000);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  } finally {
    mock.timers.reset();
  }
  assert.equal(writes().length, 1, "not re-sent");
  await engine.close();
});

/** A durable store whose load answers only once the test lets it, and which keeps every save. */
class SlowLoadStore extends MemoryStore {
  override readonly durable = true;
  readonly saves: StoredState[] = [];
  private readonly gate: Promise<void>;
  open!: () => void;
  constructor(private readonly stored: StoredState) {
    super();
    this.gate = new Promise((r) => (this.open = r));
  }
  override async load(): Promise<StoredState | undefined> {
    await this.gate;
    return structuredClone(this.stored);
  }
  override async save(state: StoredState): Promise<void> {
    this.saves.push(structuredClone(state));
    return super.save(state);
  }
}

test("a write made while the stored state is still loading is saved with it, never over it", async () => {
  // What the app's last session left: a write not acked yet.
  const store = new SlowLoadStore({
    userId: "u",
    deviceId: "phone",
    nextSeq: 1n,
    documents: [],
    writes: [{ document: "cart", seq: 0n, ops: [{ field: "items", set: utf8.encode("3 apples") }] }],
  });
  const { engine, link } = engineOn(store, new Backoff(100, 1000));
  try {
    // While the load waits, whatever the write starts runs, its timers on the test's clock moved a minute on.
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      void engine.connect().catch(() => {});
      void engine.document("player").set("position", "0:10").catch(() => {});
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      mock.timers.tick(60_000);
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    } finally {
      mock.timers.reset();
    }
    store.open();
    while (!link()) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 200 && store.saves.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(store.saves.length > 0, "the new write was saved");
    for (const s of store.saves) {
      assert.deepEqual(
        s.writes.map((w) => w.document),
        ["cart", "player"],
        "every save holds the stored write, then the new one",
      );
      assert.equal(s.userId, "u", "and what the store knew of the device");
    }
  } finally {
    await engine.close();
  }
});

test("a forgotten number nothing was applied under is replaced; one whose answer was lost fails as may-have-been-applied", async () => {
  const { engine, link, sent } = await welcomed(new MemoryStore(), new Backoff(1, 2));
  const writes = () => sent.filter((f) => f.body.case === "write").map((f) => f.body.value as { clientSeq: bigint; document: string });
  const refuse = (seq: bigint, code: ErrorCode, retryable: boolean, document = "cart") =>
    link.onFrame(
      create(ServerFrameSchema, {
        body: { case: "error", value: { code, clientSeq: seq, document, retryable, message: "the node's answer" } },
      }),
    );
  const waitFor = async (n: number) => {
    for (let i = 0; i < 500 && writes().length < n; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(writes().length, n);
  };
  const acked = engine.document("cart").set("f", "x");
  await waitFor(1);
  const first = writes()[0]!.clientSeq;
  refuse(first, ErrorCode.RATE_LIMITED, true);
  await waitFor(2);
  assert.equal(writes()[1]!.clientSeq, first, "the same number while it is remembered");
  refuse(first, ErrorCode.STALE_SEQUENCE, false);
  await waitFor(3);
  const renumbered = writes()[2]!.clientSeq;
  assert.ok(renumbered > first, `a new number above the old: ${renumbered}`);
  link.onFrame(
    create(ServerFrameSchema, { body: { case: "ack", value: { document: "cart", clientSeq: renumbered, epoch: EPOCH, version: 1n } } }),
  );
  assert.equal(await acked, 1n);

  const unknown = engine.document("cart").set("f", "y");
  await waitFor(4);
  const seq = writes()[3]!.clientSeq;
  refuse(seq, OUTCOME_UNKNOWN as ErrorCode, true); // its fate is unknown from here on
  await waitFor(5);
  assert.equal(writes()[4]!.clientSeq, seq, "re-sent under its number");
  refuse(seq, ErrorCode.STALE_SEQUENCE, false);
  await assert.rejects(unknown, (e: HandoffError) => e.code === "STALE_SEQUENCE" && e.mayHaveBeenApplied === true);
  await engine.close();
});

test("a refusal made with no record of the device fails a write whose fate was once unknown as may-have-been-applied", async () => {
  const { engine, link, sent } = await welcomed(new MemoryStore(), new Backoff(1, 2));
  const writes = () => sent.filter((f) => f.body.case === "write").map((f) => f.body.value as { clientSeq: bigint; document: string });
  const refuse = (seq: bigint, code: ErrorCode, document: string, noWriteRecord: boolean) =>
    link.onFrame(
      create(ServerFrameSchema, {
        body: { case: "error", value: { code, clientSeq: seq, document, noWriteRecord, message: "the node's answer" } },
      }),
    );
  const waitFor = async (n: number) => {
    for (let i = 0; i < 500 && writes().length < n; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(writes().length, n);
  };
  const lost = engine.document("cart").set("f", "x");
  await waitFor(1);
  const seq = writes()[0]!.clientSeq;
  refuse(seq, OUTCOME_UNKNOWN as ErrorCode, "cart", false); // its fate is unknown from here on
  await waitFor(2);
  assert.equal(writes()[1]!.clientSeq, seq, "re-sent under its number");
  refuse(seq, ErrorCode.LIMIT_EXCEEDED, "cart", true);
  await assert.rejects(lost, (e: HandoffError) => e.code === "LIMIT_EXCEEDED" && e.mayHaveBeenApplied === true);

  const fresh = engine.document("list").set("f", "y");
  await waitFor(3);
  refuse(writes()[2]!.clientSeq, ErrorCode.LIMIT_EXCEEDED, "list", true);
  await assert.rejects(fresh, (e: HandoffError) => e.code === "LIMIT_EXCEEDED" && e.mayHaveBeenApplied === false);
  await engine.close();
});

class RecordingBackoff extends Backoff {
  readonly delays: number[] = [];
  override next(capMs = Infinity): number {
    const d = super.next(capMs);
    this.delays.push(d);
    return d;
  }
}

test("the reconnect backoff starts over only after a connection that lasted", async () => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  try {
    const backoff = new RecordingBackoff(1_000, 100_000, () => 0.5);
    const { engine, link } = engineOn(new MemoryStore(), backoff);
    const welcome = create(ServerFrameSchema, { body: { case: "welcome", value: { userId: "u", deviceId: "phone" } } });
    const connection = async () => {
      for (let i = 0; i < 100 && !link(); i++) await Promise.resolve();
      const l = link()!;
      l.onOpen();
      l.onFrame(welcome);
      return l;
    };
    void engine.connect().catch(() => {});
    let l = await connection();
    l.onClose(4000, "welcomed, then dropped at once");
    assert.deepEqual(backoff.delays, [500]);
    mock.timers.tick(500);
    l = await connection();
    l.onClose(4000, "again at once");
    assert.deepEqual(backoff.delays, [500, 1_000], "not called back sooner and sooner");
    mock.timers.tick(1_000);
    l = await connection();
    mock.timers.tick(STABLE_CONNECTION_MS);
    l.onClose(4000, "after a while");
    assert.deepEqual(backoff.delays, [500, 1_000, 500], "a connection that lasted starts it over");
    await engine.close();
  } finally {
    mock.timers.reset();
  }
});

test("a save that failed after a write was renumbered is not tried again once the client is closed", async () => {
  const store = new FailingStore();
  const { engine, link, sent } = await welcomed(store);
  const writes = () => sent.filter((f) => f.body.case === "write").map((f) => f.body.value as { clientSeq: bigint });
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    void engine.document("cart").set("f", "x").catch(() => {});
    await settle();
    assert.equal(writes().length, 1);
    store.failures = 1;
    link.onFrame(
      create(ServerFrameSchema, {
        body: { case: "error", value: { code: ErrorCode.STALE_SEQUENCE, clientSeq: writes()[0]!.clientSeq, document: "cart" } },
      }),
    );
    await settle();
    assert.equal(store.lost.length, 1, "the save of its new number failed: a retry waits");
    await engine.close();
    // The store is handed back; whatever the next client of it saves, this one saves nothing more.
    const saves = store.saves;
    mock.timers.tick(60_000);
    await settle();
    assert.equal(store.saves, saves, "no save after close");
  } finally {
    mock.timers.reset();
  }
});
