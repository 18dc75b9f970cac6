// The engine alone, driven frame by frame through its Connector: a channel that records what the
// engine sends, and the listener to feed it the server's frames. For the unit test files that need
// no socket (engine-snapshot, engine-refusals, error-parity and store-save tests); and a stand-in
// engine for one connection (a Link) tested alone (probe and heartbeat tests).
import { create } from "@bufbuild/protobuf";
import { Backoff } from "../src/backoff.js";
import type { Link } from "../src/connection.js";
import type { DocumentChange } from "../src/document.js";
import {
  type ClientEvents,
  type Connector,
  type FrameChannel,
  type FrameListener,
  SyncEngine,
} from "../src/engine.js";
import { Emitter } from "../src/events.js";
import { type ClientFrame, ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { Requests } from "../src/requests.js";
import type { EngineConfig } from "../src/options.js";
import { MemoryStore } from "../src/store.js";

/**
 * An engine on a channel that records what it sends; `link()` is the listener of its latest connection.
 * `config` overrides the tests' usual settings; a `connector` of the test's own replaces the channel.
 */
export function engineOn(store: MemoryStore, backoff: Backoff, config: Partial<EngineConfig> = {}, connector?: Connector) {
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
      ...config,
    },
    connector ??
      ((listener) => {
        link = listener;
        return channel;
      }),
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
  const link = await firstLink(current);
  link.onOpen();
  link.onFrame(create(ServerFrameSchema, { body: { case: "welcome", value: { userId: "u", deviceId: "phone" } } }));
  await connected;
  return { engine, link, sent, changes, events };
}

/** Until the engine's first connection attempt: its listener. */
export async function firstLink(link: () => FrameListener | undefined): Promise<FrameListener> {
  while (!link()) await new Promise((r) => setImmediate(r));
  return link()!;
}

/** A stand-in engine for a {@link Link} tested alone: it keeps the closes the link reports ("code reason"). */
export function recordingEngine(): { engine: SyncEngine; closes: string[] } {
  const closes: string[] = [];
  const engine = {
    onOpen: () => {},
    onFrame: () => {},
    onClosed: (_l: Link, code: number, reason: string) => closes.push(`${code} ${reason}`),
  } as unknown as SyncEngine;
  return { engine, closes };
}
