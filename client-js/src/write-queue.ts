import { create } from "@bufbuild/protobuf";
import type { Document } from "./document.js";
import { HandoffError } from "./errors.js";
import { type FieldOp, FieldOpSchema } from "./gen/handoff/v1/handoff_pb.js";
import type { StoredWrite } from "./store.js";

/** One write of the app, from `Document.set` until it is settled (acked, applied or failed). */
export interface PendingWrite {
  document: Document;
  ops: FieldOp[];
  expectedVersion: bigint | undefined;
  /** Its client_seq; 0 until it is numbered, just before it is first sent. */
  seq: bigint;
  /** On the wire of the current connection (or being saved before it goes), holding a place in the window. */
  sent: boolean;
  done: boolean;
  retries: number;
  /** Times it went on the wire (a restored numbered write counts as sent once: it may have been). */
  attempts: number;
  /** Numbered, and the save that puts its number in a durable store has not finished: not to be sent yet. */
  saving?: boolean;
  /** On the wire and not answered yet. */
  awaiting?: boolean;
  /**
   * The server may have applied it under `seq`: an answer lost with its connection, `OUTCOME_UNKNOWN`,
   * or a number restored from a store (it may have been sent). While false, every answer said "not
   * applied", and a number the server forgot may be replaced by a new one ({@link WriteQueue.renumber}).
   */
  uncertain?: boolean;
  /** How many times it got a new number (at most {@link MAX_RENUMBERS}). */
  renumbers?: number;
  retryTimer?: ReturnType<typeof setTimeout>;
  /** A save that holds it succeeded: a durable store keeps it for the next client (until it is settled). */
  kept?: boolean;
  /** What it counts against `maxUnackedWriteBytes` while it is unsettled (see {@link writeBytes}). */
  bytes?: number;
  resolve?: (version: bigint) => void;
  reject?: (error: HandoffError) => void;
}

/**
 * A client's unsettled writes, their sequence numbers and the in-flight window. It knows nothing of
 * connections or frames: its {@link WriteSender} asks it what to send and tells it what happened.
 *
 * A write waits unnumbered until the window has room, no earlier write of its document is unsettled,
 * and the sender, on a welcomed connection, asks for it; it is then numbered above every number
 * handed out before (and above the server's `last_client_seq`), and stays in `numbered` until it is
 * settled. So at most one write of a document is numbered at a time: a later write of a document is
 * never sent while an earlier one may still be re-sent (after `UNAVAILABLE`, `OUTCOME_UNKNOWN` or a
 * lost connection), and a re-sent write can never land after a newer one of its document. After a
 * reconnect every numbered write is re-sent first, in order and with its number, before any waiting
 * write is numbered. A new write is refused while `maxPending` wait unnumbered; at most `window` are
 * in flight.
 */
/** A write the server keeps calling stale under new numbers is given up on after this many. */
export const MAX_RENUMBERS = 4;

/** The default bound on the bytes of unsettled writes, as the Java client's. */
export const DEFAULT_MAX_UNACKED_WRITE_BYTES = 16 * 1024 * 1024;

/**
 * Bytes counted for each write on top of its document name, field names and values: the objects
 * that hold it (promise, ops, queue entries). Keeps many tiny writes within the bound too.
 */
export const PER_WRITE_OVERHEAD_BYTES = 256;

const utf8 = new TextEncoder();

/** What `w` counts against `maxUnackedWriteBytes`: its names and values in UTF-8, and the overhead. */
export function writeBytes(w: PendingWrite): number {
  let n = PER_WRITE_OVERHEAD_BYTES + utf8.encode(w.document.name).length;
  for (const op of w.ops) {
    n += utf8.encode(op.field).length;
    if (op.op.case === "set") n += op.op.value.length;
  }
  return n;
}

export class WriteQueue {
  /** Unnumbered writes in the order they were made; numbered or settled ones are dropped lazily. */
  private queued: PendingWrite[] = [];
  /** Unnumbered writes per document, in order. */
  private readonly waiting = new Map<string, PendingWrite[]>();
  private waitingCount = 0;
  /** Documents with a waiting write and no numbered one, in the order they became so. */
  private ready: string[] = [];
  /** Numbered, unsettled writes per document (more than one only in what an older client stored). */
  private readonly busy = new Map<string, number>();
  private readonly numbered = new Map<bigint, PendingWrite>();
  private resend: PendingWrite[] = [];
  private lastSeq = 0n;
  private inFlight = 0;
  private window: number;
  /** The bytes of every unsettled write, numbered or waiting. */
  private held = 0;

  constructor(
    private readonly maxPending: number,
    private readonly maxInFlight: number,
    private readonly maxBytes: number = DEFAULT_MAX_UNACKED_WRITE_BYTES,
  ) {
    this.window = maxInFlight;
  }

  /** The bytes unsettled writes hold, as counted against `maxUnackedWriteBytes`. */
  get heldBytes(): number {
    return this.held;
  }

  /** Writes not settled yet, sent or waiting. */
  get size(): number {
    return this.numbered.size + this.waitingCount;
  }

  /**
   * Queues a new write, or returns why it cannot wait: the queue holds `maxPending` already, or the
   * write would take the bytes of unsettled writes past `maxBytes`. A refused write was not sent.
   */
  add(w: PendingWrite): HandoffError | undefined {
    if (this.waitingCount >= this.maxPending) {
      return HandoffError.limit(
        `write to '${w.document.name}' refused: ${this.waitingCount} writes are already waiting to be sent ` +
          `(maxPendingWrites=${this.maxPending})`,
        w.document.name,
      );
    }
    const bytes = writeBytes(w);
    if (this.held + bytes > this.maxBytes) {
      return HandoffError.limit(
        `write to '${w.document.name}' refused: it is ${bytes} bytes and unacked writes already hold ${this.held} ` +
          `(maxUnackedWriteBytes=${this.maxBytes}); it was not sent, retry once earlier writes are acked`,
        w.document.name,
      );
    }
    w.bytes = bytes;
    this.held += bytes;
    this.queued.push(w);
    this.wait(w, false);
    return undefined;
  }

  /** Puts unnumbered `w` last (or first) in its document's line. */
  private wait(w: PendingWrite, first: boolean): void {
    const name = w.document.name;
    let line = this.waiting.get(name);
    if (!line) {
      line = [];
      this.waiting.set(name, line);
    }
    if (first) line.unshift(w);
    else line.push(w);
    this.waitingCount++;
    if (line.length === 1 && !this.busy.has(name)) this.ready.push(name);
  }

  /** The numbered write with this client_seq, while it is not settled. */
  get(seq: bigint): PendingWrite | undefined {
    return this.numbered.get(seq);
  }

  /** `w` is acked, applied or failed for good: it leaves the queue and gives back its place in the window. */
  settle(w: PendingWrite): void {
    if (!w.done && this.numbered.delete(w.seq)) {
      const name = w.document.name;
      const left = (this.busy.get(name) ?? 1) - 1;
      if (left > 0) {
        this.busy.set(name, left);
      } else {
        this.busy.delete(name);
        if (this.waiting.has(name)) this.ready.push(name);
      }
    }
    if (w.sent) {
      this.inFlight--;
      w.sent = false;
    }
    if (!w.done) this.held -= w.bytes ?? 0;
    w.done = true;
    clearTimeout(w.retryTimer);
  }

  /**
   * A connection was welcomed: numbers go on above `lastClientSeq` (the server's), the window is the
   * smaller of ours and the server's (`serverWindow`, 0: none given), and every numbered write is
   * to be re-sent.
   */
  welcomed(lastClientSeq: bigint, serverWindow: number): void {
    if (lastClientSeq > this.lastSeq) this.lastSeq = lastClientSeq;
    this.window = serverWindow > 0 ? Math.min(this.maxInFlight, serverWindow) : this.maxInFlight;
    this.inFlight = 0;
    this.resend = [];
    for (const w of this.numbered.values()) {
      w.sent = false;
      this.resend.push(w);
    }
  }

  /** The connection ended: nothing is in flight, and numbered writes wait for the next Welcome. */
  connectionLost(): void {
    this.inFlight = 0;
    this.resend = [];
    for (const w of this.numbered.values()) {
      if (w.awaiting) w.uncertain = true; // its answer, whatever it was, is lost
      w.awaiting = false;
      w.sent = false;
      clearTimeout(w.retryTimer);
    }
  }

  /**
   * The next numbered write to re-send, if the window has room for it. One whose number is still
   * being saved is left out: the end of its save sends it ({@link resendAfterSave}) or gives its
   * number back ({@link unnumber}).
   */
  nextResend(): PendingWrite | undefined {
    while (this.inFlight < this.window && this.resend.length > 0) {
      const w = this.resend.shift()!;
      if (!w.done && !w.saving) return w;
    }
    return undefined;
  }

  /** `w`'s number was saved after the connection it was numbered on ended: it goes with the re-sends. */
  resendAfterSave(w: PendingWrite): void {
    if (!w.done && !w.sent && this.numbered.get(w.seq) === w) this.resend.push(w);
  }

  /**
   * Gives back the number of `w`, which never went on the wire because its number could not be
   * saved: it waits first in its document's line again and gets a new number when it is sent.
   * Numbers may skip; one never sent is never used again.
   */
  unnumber(w: PendingWrite): void {
    if (w.done || w.attempts > 0 || this.numbered.get(w.seq) !== w) return;
    if (w.sent) {
      this.inFlight--;
      w.sent = false;
    }
    this.numbered.delete(w.seq);
    const name = w.document.name;
    const left = (this.busy.get(name) ?? 1) - 1;
    if (left > 0) this.busy.set(name, left);
    else this.busy.delete(name);
    w.seq = 0n;
    const at = this.queued.indexOf(w); // still there if not yet dropped lazily
    if (at >= 0) this.queued.splice(at, 1);
    this.queued.unshift(w);
    this.wait(w, true);
    if (!this.busy.has(name)) this.ready = [name, ...this.ready.filter((n) => n !== name)];
  }

  /**
   * Numbers the queued writes the window has room for, once no re-send waits. Each holds its place
   * in the window (`sent`) while it is saved, until {@link release} lets it go on the wire.
   */
  numberQueued(): PendingWrite[] {
    const fresh: PendingWrite[] = [];
    while (this.inFlight < this.window && this.resend.length === 0 && this.ready.length > 0) {
      const name = this.ready.shift()!;
      const line = this.waiting.get(name)!;
      const w = line.shift()!;
      if (line.length === 0) this.waiting.delete(name);
      this.waitingCount--;
      w.seq = ++this.lastSeq;
      this.numbered.set(w.seq, w);
      this.busy.set(name, 1);
      w.sent = true;
      this.inFlight++;
      fresh.push(w);
    }
    // Numbered writes leave `queued` lazily; drop them once they are most of it.
    if (this.queued.length > 2 * this.waitingCount + 64) this.queued = this.queued.filter((w) => w.seq === 0n);
    return fresh;
  }

  /** Gives back the place a freshly numbered write held; false if it was settled or the connection ended meanwhile. */
  release(w: PendingWrite): boolean {
    if (w.done || !w.sent) return false;
    this.inFlight--;
    w.sent = false;
    return true;
  }

  /**
   * Gives `w` a new number above every number used: the server forgot its old one, under which
   * every answer said nothing was applied. It keeps its place as its document's numbered write, and
   * goes out again once the new number is saved ({@link resendAfterSave}).
   */
  renumber(w: PendingWrite): void {
    this.numbered.delete(w.seq);
    w.seq = ++this.lastSeq;
    this.numbered.set(w.seq, w);
    w.renumbers = (w.renumbers ?? 0) + 1;
    clearTimeout(w.retryTimer);
    if (w.sent) {
      w.sent = false;
      this.inFlight--;
    }
  }

  /** `w` waits to be sent again after a refusal: it gives back its place in the window meanwhile. */
  backOff(w: PendingWrite): void {
    if (w.sent) {
      this.inFlight--;
      w.sent = false;
    }
  }

  /** `w` went on the wire: it holds a place in the window until it is settled or the connection ends. */
  onWire(w: PendingWrite): void {
    w.awaiting = true;
    w.sent = true;
    w.attempts++;
    this.inFlight++;
  }

  /** Every unsettled write, the numbered ones first, in order. */
  all(): PendingWrite[] {
    return [...this.numbered.values(), ...this.queued.filter((w) => w.seq === 0n)];
  }

  /** Forgets every write (their promises are the caller's to settle). */
  clear(): void {
    this.numbered.clear();
    this.queued = [];
    this.waiting.clear();
    this.waitingCount = 0;
    this.ready = [];
    this.busy.clear();
    this.resend = [];
    this.inFlight = 0;
    this.held = 0;
  }

  /** The last client_seq handed out. */
  get lastNumber(): bigint {
    return this.lastSeq;
  }

  /**
   * Takes back what an offline store kept: numbers go on above `lastSeq`; numbered writes wait for
   * the next Welcome, unnumbered ones go before any write queued while the store was loading.
   */
  restore(lastSeq: bigint, writes: StoredWrite[], document: (name: string) => Document): void {
    if (lastSeq > this.lastSeq) this.lastSeq = lastSeq;
    const restored: PendingWrite[] = writes.map((sw) => ({
      document: document(sw.document),
      ops: sw.ops.map((o) =>
        create(FieldOpSchema, {
          field: o.field,
          op: o.set !== undefined ? { case: "set", value: o.set } : { case: "remove", value: true },
        }),
      ),
      expectedVersion: sw.expectedVersion,
      seq: sw.seq,
      sent: false,
      done: false,
      retries: 0,
      attempts: sw.seq > 0n ? 1 : 0,
      uncertain: sw.seq > 0n,
    }));
    // Counted, never refused: they were taken before the page was closed.
    for (const w of restored) {
      w.bytes = writeBytes(w);
      this.held += w.bytes;
    }
    for (const w of restored) {
      if (w.seq > 0n) {
        this.numbered.set(w.seq, w);
        this.busy.set(w.document.name, (this.busy.get(w.document.name) ?? 0) + 1);
      }
    }
    const unnumbered = restored.filter((w) => w.seq === 0n);
    this.queued.unshift(...unnumbered);
    // Before any write made while the store was loading, in their order.
    for (let i = unnumbered.length - 1; i >= 0; i--) this.wait(unnumbered[i], true);
    const seen = new Set<string>();
    this.ready = [];
    for (const w of this.queued) {
      const name = w.document.name;
      if (w.seq !== 0n || seen.has(name)) continue;
      seen.add(name);
      if (!this.busy.has(name)) this.ready.push(name);
    }
  }

  /** Every unsettled write as an offline store keeps it. */
  stored(): StoredWrite[] {
    return this.all().map((w) => ({
      document: w.document.name,
      seq: w.seq,
      expectedVersion: w.expectedVersion,
      ops: w.ops.map((o) => (o.op.case === "set" ? { field: o.field, set: o.op.value } : { field: o.field, remove: true as const })),
    }));
  }
}
