// A minimal Handoff client written from docs/protocol.md and handoff.proto alone: no code of the bundled
// clients, only the schema classes protoc-gen-es generates (dist/gen, made by `npm run build`), `ws` and
// node:crypto. It walks the flows of the protocol page against a running node and exits 0 when each
// behaves as documented. test/minimal-client-example.test.ts runs it against the server jar.
//
//   node examples/minimal-client.mjs ws://127.0.0.1:8080/ws <the node's --jwt-secret>
import { createHmac, randomUUID } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import WebSocket from "ws";
import * as pb from "../dist/gen/handoff/v1/handoff_pb.js";

const [url, secret] = process.argv.slice(2);
if (!url || !secret) {
  console.error("usage: node examples/minimal-client.mjs ws://HOST:PORT/ws JWT_SECRET");
  process.exit(2);
}

// "Connecting": HS256 over the secret's UTF-8 bytes; sub, did, and exp in seconds.
const b64u = (b) => Buffer.from(b).toString("base64url");
function devToken(sub, did) {
  const signed = `${b64u(JSON.stringify({ alg: "HS256" }))}.${b64u(
    JSON.stringify({ sub, did, exp: Math.floor(Date.now() / 1000) + 600 }),
  )}`;
  return `${signed}.${b64u(createHmac("sha256", Buffer.from(secret, "utf8")).update(signed).digest())}`;
}

function check(ok, what) {
  if (!ok) throw new Error(`not as documented: ${what}`);
  console.log(`ok - ${what}`);
}

/** One device: a socket, the frames not yet taken, and its copy of each document. */
class Device {
  constructor(user, id) {
    Object.assign(this, { user, id, frames: [], waiters: [], nextRequest: 1n, docs: new Map() });
  }

  /** Upgrades, sends Hello at once (For client authors, item 8) and waits for the Welcome. */
  async connect(hello = {}) {
    this.ws = new WebSocket(url, { headers: { Authorization: `Bearer ${devToken(this.user, this.id)}` } });
    this.ws.on("message", (data, isBinary) => {
      if (!isBinary) throw new Error("a text message: terminal (item 12)");
      const f = fromBinary(pb.ServerFrameSchema, new Uint8Array(data));
      this.apply(f);
      this.frames.push(f);
      this.waiters = this.waiters.filter((w) => !w());
    });
    await new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
    });
    const id = this.send("hello", pb.HelloSchema, { client: "minimal-client-example", ...hello });
    // Recognised by its body and request_id: other answers may come first (item 13).
    return (await this.take((f) => f.body.case === "welcome" && f.requestId === id)).body.value;
  }

  send(kind, schema, init) {
    const requestId = this.nextRequest++;
    const frame = create(pb.ClientFrameSchema, { requestId, body: { case: kind, value: create(schema, init) } });
    this.ws.send(toBinary(pb.ClientFrameSchema, frame));
    return requestId;
  }

  /** Applies Deltas and Snapshots in arrival order; a Delta that is not held version + 1 is a gap. */
  apply(f) {
    const v = f.body.value;
    if (f.body.case === "snapshot") {
      const fields = Object.fromEntries(Object.entries(v.fields).map(([k, b]) => [k, Buffer.from(b).toString()]));
      this.docs.set(v.document, { epoch: v.epoch, version: v.version, fingerprint: v.fingerprint, fields });
    } else if (f.body.case === "delta") {
      const held = this.docs.get(v.document) ?? { epoch: v.epoch, version: 0n, fields: {} };
      if (held.epoch !== v.epoch || v.version !== held.version + 1n) throw new Error(`gap at ${v.document} v${v.version}`);
      for (const op of v.ops) {
        if (op.op.case === "set") held.fields[op.field] = Buffer.from(op.op.value).toString();
        else delete held.fields[op.field];
      }
      Object.assign(held, { version: v.version, fingerprint: v.fingerprint });
      this.docs.set(v.document, held);
    }
  }

  /** The first frame not yet taken that matches, waiting for it up to 5 s. */
  take(matches) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.id}: no such frame; have ${this.frames.map((f) => f.body.case)}`)), 5000);
      const tryTake = () => {
        const i = this.frames.findIndex(matches);
        if (i < 0) return false;
        clearTimeout(timer);
        resolve(this.frames.splice(i, 1)[0]);
        return true;
      };
      if (!tryTake()) this.waiters.push(tryTake);
    });
  }

  /** Sends a Write and waits for the Ack or Error that carries its client_seq. */
  write(document, clientSeq, fields, expectedVersion) {
    const ops = Object.entries(fields).map(([field, value]) =>
      create(pb.FieldOpSchema, { field, op: { case: "set", value: Buffer.from(value) } }),
    );
    this.send("write", pb.WriteSchema, { document, clientSeq, ops, expectedVersion });
    return this.take((f) => (f.body.case === "ack" || f.body.case === "error") && f.body.value.clientSeq === clientSeq);
  }

  position(document) {
    const { epoch, version, fingerprint } = this.docs.get(document);
    return create(pb.PositionSchema, { document, epoch, version, fingerprint });
  }

  close() {
    return new Promise((resolve) => {
      this.ws.once("close", resolve);
      this.ws.close(1000);
    });
  }
}

const user = `example-${randomUUID()}`;
const phone = new Device(user, "phone");
const laptop = new Device(user, "laptop");

// 1. Two devices of one user; Hello without `follow` follows every document.
const welcome = await phone.connect();
check(welcome.userId === user && welcome.deviceId === "phone", "Welcome names the token's user and device");
await laptop.connect();
let seq = welcome.lastClientSeq; // new writes are numbered from last_client_seq + 1

// 2. Write, Ack, fan-out.
const first = await phone.write("cart", ++seq, { items: "apple" });
check(first.body.case === "ack" && first.body.value.version === 1n, "the first write of a document is acked at version 1");
const pushed = await laptop.take((f) => f.body.case === "delta");
check(pushed.body.value.originDevice === "phone" && pushed.body.value.originSeq === seq, "the other device gets the Delta");
check(!phone.frames.some((f) => f.body.case === "delta"), "the writer gets its Ack, not a Delta");

// 3. The laptop goes away; the phone writes twice more.
const held = laptop.position("cart");
await laptop.close();
const second = await phone.write("cart", ++seq, { items: "apple,pear" });
const thirdSeq = ++seq;
const third = await phone.write("cart", thirdSeq, { total: "3" });
check(second.body.value.version === 2n && third.body.value.version === 3n, "writes while the laptop is away: v2, v3");

// 4. The laptop resumes from the version it holds and gets only what it missed.
const back = new Device(user, "laptop");
back.docs.set("cart", laptop.docs.get("cart"));
const resumed = await back.connect({ positions: [held] });
const sync = resumed.sync.documents.find((d) => d.document === "cart");
check(sync?.mode === pb.DocumentSync_Mode.DELTAS && sync.fromVersion === 1n && sync.toVersion === 3n, "the resume reports DELTAS 1 -> 3");
const missed = [await back.take((f) => f.body.case === "delta"), await back.take((f) => f.body.case === "delta")];
check(missed.map((f) => f.body.value.version).join() === "2,3" && missed.every((f) => f.requestId === 0n), "only Deltas v2 and v3 follow, with request_id 0");
check(back.docs.get("cart").fields.total === "3", "the laptop's copy holds the missed writes");

// 5. A write sent again under its number is applied once and acked with the same version.
const again = await phone.write("cart", thirdSeq, { total: "3" });
check(again.body.case === "ack" && again.body.value.version === 3n && again.body.value.duplicate, "a re-send is acked with the same version, duplicate");

// 6. A write that expects an old version is refused with the current one; nothing changes.
const conflict = await phone.write("cart", ++seq, { total: "99" }, 1n);
const e = conflict.body.value;
check(conflict.body.case === "error" && e.code === pb.ErrorCode.CONFLICT && e.currentVersion === 3n && e.epoch === third.body.value.epoch, "CONFLICT carries the current version and epoch");
const retried = await phone.write("cart", ++seq, { total: "4" }, 3n); // a new number, the new expected version
check(retried.body.case === "ack" && retried.body.value.version === 4n, "the write made again under a new number applies");
await back.take((f) => f.body.case === "delta" && f.body.value.version === 4n);

// 7. Handoff: the phone offers the cart to the laptop, which accepts it.
const offerRequest = phone.send("offerActivity", pb.OfferActivitySchema, {
  targetDevice: "laptop",
  activity: create(pb.ActivitySchema, { document: "cart", kind: "cart", title: "Your cart" }),
  offerKey: randomUUID(),
});
const { offer } = (await phone.take((f) => f.body.case === "offerCreated" && f.requestId === offerRequest)).body.value;
const prompt = await back.take((f) => f.body.case === "offerPrompt");
check(prompt.body.value.offer.offerId === offer.offerId, "the target is prompted with the offer");
const accept = back.send("acceptOffer", pb.AcceptOfferSchema, { offerId: offer.offerId });
const granted = await back.take((f) => f.requestId === accept);
check(granted.body.case === "offerGranted" && granted.body.value.snapshot?.version === 4n, "the accept wins the offer and the document's latest snapshot");
const result = await phone.take((f) => f.body.case === "offerResult");
check(result.body.value.outcome === pb.OfferOutcome.ACCEPTED && result.body.value.byDevice === "laptop", "the offerer learns who took it");

await phone.close();
await back.close();
console.log("minimal client: every flow as documented");
