// The write queue on its own: numbering, the window, re-sends after a reconnect, the pending limit
// and what an offline store keeps. No connection is involved: the engine drives the queue with
// these same calls (the end-to-end files test it through real servers).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Document } from "../src/document.js";
import { FieldOpSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { type PendingWrite, WriteQueue } from "../src/write-queue.js";

const documents = new Map<string, Document>();
function doc(name: string): Document {
  let d = documents.get(name);
  if (!d) {
    d = new Document(name, { submitWrite: () => Promise.reject(new Error("not used: the queue is driven directly")) });
    documents.set(name, d);
  }
  return d;
}

/** A write setting `field`; to a document of its own (named after the field) unless one is given. */
function write(field: string, document: Document = doc(`doc-${field}`)): PendingWrite {
  return {
    document,
    ops: [create(FieldOpSchema, { field, op: { case: "set", value: new TextEncoder().encode(field) } })],
    expectedVersion: undefined,
    seq: 0n,
    sent: false,
    done: false,
    retries: 0,
    attempts: 0,
  };
}

/** Numbers what the window allows and puts it on the wire, as the engine's pump does. */
function pump(q: WriteQueue): PendingWrite[] {
  const out: PendingWrite[] = [];
  for (let w = q.nextResend(); w; w = q.nextResend()) {
    q.onWire(w);
    out.push(w);
  }
  for (const w of q.numberQueued()) {
    if (q.release(w)) {
      q.onWire(w);
      out.push(w);
    }
  }
  return out;
}

/** A queue with one write just numbered, holding its place in the window while it is saved. */
function beingSaved(): [WriteQueue, PendingWrite] {
  const q = new WriteQueue(100, 4);
  const w = write("a");
  q.add(w);
  q.welcomed(0n, 0);
  assert.deepEqual(q.numberQueued(), [w]);
  return [q, w];
}

describe("write queue", () => {
  test("writes are numbered above the server's last client_seq, no more than the window at once", () => {
    const q = new WriteQueue(100, 8);
    const writes = ["a", "b", "c", "d"].map((f) => write(f));
    for (const w of writes) assert.equal(q.add(w), undefined);
    q.welcomed(41n, 3);
    const sent = pump(q);
    assert.deepEqual(
      sent.map((w) => w.seq),
      [42n, 43n, 44n],
      "the server's window of 3 is smaller than ours of 8",
    );
    assert.deepEqual(pump(q), [], "the window is full");
    q.settle(sent[0]!);
    assert.deepEqual(
      pump(q).map((w) => w.seq),
      [45n],
    );
    assert.equal(q.size, 3);
    assert.equal(q.get(42n), undefined, "a settled write is forgotten");
    assert.equal(q.lastNumber, 45n);
  });

  test("after a reconnect numbered writes are re-sent first, in order, with their numbers", () => {
    const q = new WriteQueue(100, 2);
    const [a, b, c] = ["a", "b", "c"].map((f) => write(f));
    q.add(a!);
    q.add(b!);
    q.welcomed(0n, 0);
    assert.deepEqual(
      pump(q).map((w) => w.seq),
      [1n, 2n],
    );
    q.add(c!);
    q.connectionLost();
    assert.equal(a!.sent || b!.sent, false, "nothing is in flight once the connection ended");
    q.welcomed(1n, 0); // The server may have applied the first: re-sending it with its number is safe.
    assert.deepEqual(
      pump(q).map((w) => w.seq),
      [1n, 2n],
      "the window of 2 holds both re-sends; the queued write waits",
    );
    assert.equal(c!.seq, 0n);
    q.settle(a!);
    q.settle(b!);
    assert.deepEqual(
      pump(q).map((w) => w.seq),
      [3n],
      "numbers go on above every number handed out, not only above the server's",
    );
  });

  test("a write whose connection ended while it was being saved waits for the next Welcome, keeping its number", () => {
    const [q, w] = beingSaved();
    q.connectionLost();
    assert.equal(q.release(w), false, "the save's end does not send it on a connection that is gone");
    assert.equal(q.size, 1);
    q.welcomed(0n, 0);
    assert.deepEqual(
      pump(q).map((x) => x.seq),
      [1n],
      "re-sent on the next connection with its number",
    );
  });

  test("a write settled while it was being saved does not go on the wire", () => {
    const [q, w] = beingSaved();
    q.settle(w); // done, as every write is once the connection closes for good
    assert.equal(q.release(w), false);
    assert.equal(q.size, 0);
  });

  test("a document has one numbered write at a time; its next is numbered once that one is settled", () => {
    const q = new WriteQueue(100, 8);
    const cart = doc("cart");
    const [c1, c2, c3] = ["c1", "c2", "c3"].map((f) => write(f, cart));
    const other = write("x");
    for (const w of [c1!, c2!, c3!, other]) q.add(w);
    q.welcomed(0n, 0);
    assert.deepEqual(
      pump(q).map((w) => w.ops[0]!.field),
      ["c1", "x"],
      "the window has room for all four, but cart's second write waits for its first",
    );
    q.connectionLost();
    q.welcomed(0n, 0);
    assert.deepEqual(
      pump(q).map((w) => [w.seq, w.ops[0]!.field]),
      [
        [1n, "c1"],
        [2n, "x"],
      ],
      "after a reconnect only the numbered ones are re-sent; cart's later writes still wait",
    );
    q.settle(other);
    assert.deepEqual(pump(q), [], "settling another document's write frees nothing of cart's");
    q.settle(c1!);
    assert.deepEqual(
      pump(q).map((w) => [w.seq, w.ops[0]!.field]),
      [[3n, "c2"]],
    );
    q.settle(c2!);
    assert.deepEqual(
      pump(q).map((w) => [w.seq, w.ops[0]!.field]),
      [[4n, "c3"]],
    );
    assert.equal(q.size, 1);
  });

  test("a write whose number could not be saved gives it back, waits first in its line, and is numbered anew", () => {
    const q = new WriteQueue(100, 8);
    const cart = doc("cart");
    const [first, second] = ["first", "second"].map((f) => write(f, cart));
    q.add(first!);
    q.add(second!);
    q.welcomed(0n, 0);
    assert.deepEqual(q.numberQueued(), [first], "numbered and held while its number is saved");
    q.unnumber(first!); // the save failed
    assert.equal(first!.seq, 0n);
    assert.equal(q.get(1n), undefined);
    assert.deepEqual(
      q.stored().map((w) => [w.seq, w.ops[0]!.field]),
      [
        [0n, "first"],
        [0n, "second"],
      ],
      "kept once, in order, unnumbered",
    );
    assert.deepEqual(
      pump(q).map((w) => [w.seq, w.ops[0]!.field]),
      [[2n, "first"]],
      "number 1 is never used again",
    );
  });

  test("writes beyond the pending limit are refused with LIMIT_EXCEEDED, naming the limit", () => {
    const q = new WriteQueue(2, 4);
    assert.equal(q.add(write("a")), undefined);
    assert.equal(q.add(write("b")), undefined);
    const refused = q.add(write("c"));
    assert.equal(refused?.code, "LIMIT_EXCEEDED");
    assert.match(refused!.message, /2 writes are already waiting.*maxPendingWrites=2/);
    assert.equal(q.size, 2, "the refused write is not kept");
  });

  test("a write that would take the bytes of unsettled writes past the bound is refused, unsent, and settling gives them back", () => {
    // Two writes of 1,000-byte values fit in 3,000 bytes (each also counts its names and 256); a
    // third does not, whatever the count bound says.
    const big = (field: string): PendingWrite => {
      const w = write(field);
      w.ops = [create(FieldOpSchema, { field, op: { case: "set", value: new Uint8Array(1000) } })];
      return w;
    };
    const q = new WriteQueue(100, 4, 3000);
    const a = big("a");
    assert.equal(q.add(a), undefined);
    assert.equal(q.add(big("b")), undefined);
    assert.equal(q.heldBytes, 2 * (256 + "doc-a".length + 1 + 1000));
    const refused = q.add(big("c"));
    assert.equal(refused?.code, "LIMIT_EXCEEDED");
    assert.match(refused!.message, /maxUnackedWriteBytes=3000/);
    assert.equal(q.size, 2, "the refused write is not kept");

    q.welcomed(0n, 0);
    const sent = pump(q);
    assert.equal(sent[0], a);
    q.settle(a); // acked
    q.settle(a); // an answer seen twice gives back nothing twice
    assert.equal(q.heldBytes, 256 + "doc-b".length + 1 + 1000);
    assert.equal(q.add(big("c")), undefined, "room again once a write is settled");
  });

  test("what an offline store keeps comes back with the same numbers, unnumbered writes first in the queue", () => {
    const q = new WriteQueue(100, 1);
    for (const f of ["a", "b", "c"]) q.add(write(f));
    q.welcomed(6n, 0);
    pump(q); // "a" is 7 and in flight; "b" and "c" wait unnumbered.
    const kept = q.stored();
    assert.deepEqual(
      kept.map((w) => [w.seq, w.ops[0]!.field]),
      [
        [7n, "a"],
        [0n, "b"],
        [0n, "c"],
      ],
    );

    const reloaded = new WriteQueue(100, 4);
    reloaded.add(write("d")); // made while the store was loading
    reloaded.restore(q.lastNumber, kept, doc);
    assert.equal(reloaded.lastNumber, 7n);
    reloaded.welcomed(6n, 0);
    assert.deepEqual(
      pump(reloaded).map((w) => [w.seq, w.ops[0]!.field]),
      [
        [7n, "a"],
        [8n, "b"],
        [9n, "c"],
        [10n, "d"],
      ],
    );
  });

  test("restored writes of one document go out one at a time, the numbered one first", () => {
    const cart = doc("cart");
    const q = new WriteQueue(100, 8);
    q.restore(
      7n,
      [
        { document: "cart", seq: 7n, expectedVersion: undefined, ops: [{ field: "a", set: new Uint8Array() }] },
        { document: "cart", seq: 0n, expectedVersion: undefined, ops: [{ field: "b", set: new Uint8Array() }] },
      ],
      doc,
    );
    q.add(write("c", cart)); // made while the store was loading
    q.welcomed(7n, 0);
    const first = pump(q);
    assert.deepEqual(
      first.map((w) => [w.seq, w.ops[0]!.field]),
      [[7n, "a"]],
    );
    q.settle(first[0]!);
    const second = pump(q);
    assert.deepEqual(
      second.map((w) => [w.seq, w.ops[0]!.field]),
      [[8n, "b"]],
    );
    q.settle(second[0]!);
    assert.deepEqual(
      pump(q).map((w) => [w.seq, w.ops[0]!.field]),
      [[9n, "c"]],
    );
  });
});
