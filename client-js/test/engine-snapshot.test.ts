// The engine's handling of a Snapshot that is not newer than the replica, driven frame by frame
// through its Connector (no socket: the end-to-end files cover the same engine over real servers).
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Backoff } from "../src/backoff.js";
import type { DocumentChange } from "../src/document.js";
import { type ClientEvents, type FrameChannel, type FrameListener, SyncEngine } from "../src/engine.js";
import { Emitter } from "../src/events.js";
import {
  type ClientFrame,
  DocumentSync_Reason,
  type ServerFrame,
  ServerFrameSchema,
} from "../src/gen/handoff/v1/handoff_pb.js";
import { Requests } from "../src/requests.js";
import { MemoryStore } from "../src/store.js";

const EPOCH = 7n;
const utf8 = new TextEncoder();

function delta(version: bigint): ServerFrame {
  return create(ServerFrameSchema, {
    body: {
      case: "delta",
      value: {
        document: "cart",
        epoch: EPOCH,
        version,
        ops: [{ field: "f", op: { case: "set", value: utf8.encode(`v${version}`) } }],
        originDevice: "laptop",
      },
    },
  });
}

function snapshot(version: bigint, reason = DocumentSync_Reason.REASON_UNSPECIFIED): ServerFrame {
  return create(ServerFrameSchema, {
    body: {
      case: "snapshot",
      value: { document: "cart", epoch: EPOCH, version, fields: { f: utf8.encode(`v${version}`) }, reason },
    },
  });
}

test("a snapshot older than the replica is not applied, and the replica asks from its own position", async () => {
  const sent: ClientFrame[] = [];
  let link: FrameListener | undefined;
  const channel: FrameChannel = { send: (f) => sent.push(f), close: () => {}, abort: () => {} };
  const events = new Emitter<ClientEvents>();
  const changes: DocumentChange[] = [];
  events.on("change", (c) => changes.push(c));
  const engine = new SyncEngine(
    {
      followAll: true,
      followDocuments: [],
      followPrefixes: [],
      clientName: "test",
      maxPendingWrites: 10,
      maxInFlightWrites: 4,
      connectTimeoutMs: 60_000,
    },
    (listener) => {
      link = listener;
      return channel;
    },
    new Backoff(100, 1000),
    events,
    new Requests(new Emitter()),
    new MemoryStore(),
  );
  const connected = engine.connect();
  while (!link) await new Promise((r) => setImmediate(r));
  link.onOpen();
  link.onFrame(create(ServerFrameSchema, { body: { case: "welcome", value: { userId: "u", deviceId: "phone" } } }));
  await connected;
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
