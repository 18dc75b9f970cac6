// The engine alone, driven frame by frame through its Connector: a channel that records what the
// engine sends, and the listener to feed it the server's frames. For the unit test files that need
// no socket (engine-snapshot.test.ts, store-save.test.ts).
import { create } from "@bufbuild/protobuf";
import { Backoff } from "../src/backoff.js";
import type { DocumentChange } from "../src/document.js";
import { type ClientEvents, type FrameChannel, type FrameListener, SyncEngine } from "../src/engine.js";
import { Emitter } from "../src/events.js";
import { type ClientFrame, ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { Requests } from "../src/requests.js";
import { MemoryStore } from "../src/store.js";

/** An engine on a channel that records what it sends; `link()` is the listener of its latest connection. */
export function engineOn(store: MemoryStore, backoff: Backoff) {
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
      maxUnackedWriteBytes: 1 << 24,
      maxInFlightWrites: 4,
      connectTimeoutMs: 60_000,
      heartbeatMarginMs: 5_000,
    },
    (listener) => {
      link = listener;
      return channel;
    },
    backoff,
    events,
    new Requests(new Emitter()),
    store,
  );
  return { engine, link: () => link, sent, changes, events };
}

/** An engine on a channel that records what it sends, welcomed, with the listener to feed it frames. */
export async function welcomed(store = new MemoryStore(), backoff = new Backoff(100, 1000)) {
  const { engine, link: current, sent, changes, events } = engineOn(store, backoff);
  const connected = engine.connect();
  while (!current()) await new Promise((r) => setImmediate(r));
  const link = current()!;
  link.onOpen();
  link.onFrame(create(ServerFrameSchema, { body: { case: "welcome", value: { userId: "u", deviceId: "phone" } } }));
  await connected;
  return { engine, link, sent, changes, events };
}
