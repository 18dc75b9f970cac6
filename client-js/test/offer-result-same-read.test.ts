// An offer's OfferCreated and its OfferResult reaching the client in one TCP read. Node's `ws` emits
// the messages of one read one after another with no microtask between them, so the result is handled
// before any continuation of the OfferCreated's answer runs; the client must still hand it to `result`.
// A real node (the jar) behind a plain TCP relay that can hold what the node sends and pass it on in one
// write: an offer with a 1 ms TTL, which the node ends as EXPIRED right after creating it, is held until
// both frames are there.
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, afterEach, before, test } from "node:test";
import { OfferOutcome } from "../src/index.js";
import { client, closeClients, type Node, startNode, until, user } from "./harness.js";

interface Relay {
  url: string;
  /** From now on, what the node sends is held. */
  hold(): void;
  /** Binary WebSocket frames held whole. */
  heldFrames(): number;
  /** Passes on everything held in one write, and stops holding. */
  release(): void;
  stop(): Promise<void>;
}

/** Counts the whole binary frames (unmasked, as a server sends them) at the start of `b`. */
function binaryFrames(b: Buffer): number {
  let n = 0;
  let at = 0;
  while (at + 2 <= b.length) {
    const opcode = b[at] & 0x0f;
    let len = b[at + 1] & 0x7f;
    let header = 2;
    if (len === 126) {
      if (at + 4 > b.length) break;
      len = b.readUInt16BE(at + 2);
      header = 4;
    } else if (len === 127) {
      if (at + 10 > b.length) break;
      len = Number(b.readBigUInt64BE(at + 2));
      header = 10;
    }
    if (at + header + len > b.length) break;
    if (opcode === 2) n++;
    at += header + len;
  }
  return n;
}

async function startRelay(node: Node): Promise<Relay> {
  const sockets: Socket[] = [];
  let device: Socket | undefined;
  let held: Buffer[] | undefined;
  const server: Server = createServer((d) => {
    device = d;
    const upstream = connect(node.port, "127.0.0.1");
    sockets.push(d, upstream);
    d.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk: Buffer) => (held ? held.push(chunk) : d.write(chunk)));
    d.on("close", () => upstream.destroy());
    upstream.on("close", () => d.destroy());
    d.on("error", () => {});
    upstream.on("error", () => {});
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    hold: () => void (held = []),
    heldFrames: () => binaryFrames(Buffer.concat(held ?? [])),
    release: () => {
      const all = Buffer.concat(held ?? []);
      held = undefined;
      device!.write(all);
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

let node: Node;
let relay: Relay;
before(async () => {
  node = await startNode();
  relay = await startRelay(node);
});
afterEach(closeClients);
after(async () => {
  await relay.stop();
  await node.stop();
});

test("an offer's result that comes in the same read as its OfferCreated reaches result", async () => {
  const u = user("same-read");
  const phone = client({ ...node, url: relay.url }, u, "phone");
  await phone.connect();

  relay.hold();
  const offer = phone.offer({ document: "player", title: "Episode 7" }, { ttlMs: 1 });
  // The node sends OfferCreated, then OfferResult (EXPIRED) once the 1 ms has passed.
  await until("the OfferCreated and the OfferResult held", () => relay.heldFrames() >= 2);
  relay.release();

  const created = await offer.created;
  const result = await offer.result;
  assert.equal(result.offerId, created.offerId);
  assert.equal(result.outcome, OfferOutcome.EXPIRED);
});
