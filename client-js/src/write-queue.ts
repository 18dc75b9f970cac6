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
  retryTimer?: ReturnType<typeof setTimeout>;
  resolve?: (version: bigint) => void;
  reject?: (error: HandoffError) => void;
}

/**
 * A client's unsettled writes, their sequence numbers and the in-flight window. It knows nothing of
 * connections or frames: the engine asks it what to send and tells it what happened.
 *
 * A write waits in `queued` until the window has room and the engine, on a welcomed connection,
 * asks for it; it is then numbered above every number handed out before (and above the server's
 * `last_client_seq`), and stays in `numbered` until it is settled. After a reconnect every numbered
 * write is re-sent first, in order and with its number, before any queued write is numbered. A new
 * write is refused while `maxPending` wait unnumbered; at most `window` are in flight.
 */
export class WriteQueue {
  private readonly queued: PendingWrite[] = [];
  private readonly numbered = new Map<bigint, PendingWrite>();
  private resend: PendingWrite[] = [];
  private lastSeq = 0n;
  private inFlight = 0;
  private window: number;

  constructor(
    private readonly maxPending: number,
    private readonly maxInFlight: number,
  ) {
    this.window = maxInFlight;
  }

  /** Writes not settled yet, sent or waiting. */
  get size(): number {
    return this.numbered.size + this.queued.length;
  }

  /** Queues a new write, or returns why it cannot wait (the queue holds `maxPending` already). */
  add(w: PendingWrite): HandoffError | undefined {
    if (this.queued.length >= this.maxPending) {
      return new HandoffError(
        "LIMIT_EXCEEDED",
        `write to '${w.document.name}' refused: ${this.queued.length} writes are already waiting to be sent ` +
          `(maxPendingWrites=${this.maxPending})`,
        { document: w.document.name },
      );
    }
    this.queued.push(w);
    return undefined;
  }

  /** The numbered write with this client_seq, while it is not settled. */
  get(seq: bigint): PendingWrite | undefined {
    return this.numbered.get(seq);
  }

  /** `w` is acked, applied or failed for good: it leaves the queue and gives back its place in the window. */
  settle(w: PendingWrite): void {
    this.numbered.delete(w.seq);
    if (w.sent) {
      this.inFlight--;
      w.sent = false;
    }
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
      w.sent = false;
      clearTimeout(w.retryTimer);
    }
  }

  /** The next numbered write to re-send, if the window has room for it. */
  nextResend(): PendingWrite | undefined {
    while (this.inFlight < this.window && this.resend.length > 0) {
      const w = this.resend.shift()!;
      if (!w.done) return w;
    }
    return undefined;
  }

  /**
   * Numbers the queued writes the window has room for, once no re-send waits. Each holds its place
   * in the window (`sent`) while it is saved, until {@link release} lets it go on the wire.
   */
  numberQueued(): PendingWrite[] {
    const fresh: PendingWrite[] = [];
    while (this.inFlight < this.window && this.resend.length === 0 && this.queued.length > 0) {
      const w = this.queued.shift()!;
      w.seq = ++this.lastSeq;
      this.numbered.set(w.seq, w);
      w.sent = true;
      this.inFlight++;
      fresh.push(w);
    }
    return fresh;
  }

  /** Gives back the place a freshly numbered write held; false if it was settled or the connection ended meanwhile. */
  release(w: PendingWrite): boolean {
    if (w.done || !w.sent) return false;
    this.inFlight--;
    w.sent = false;
    return true;
  }

  /** `w` went on the wire: it holds a place in the window until it is settled or the connection ends. */
  onWire(w: PendingWrite): void {
    w.sent = true;
    this.inFlight++;
  }

  /** Every unsettled write, the numbered ones first, in order. */
  all(): PendingWrite[] {
    return [...this.numbered.values(), ...this.queued];
  }

  /** Forgets every write (their promises are the caller's to settle). */
  clear(): void {
    this.numbered.clear();
    this.queued.length = 0;
    this.resend = [];
    this.inFlight = 0;
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
    }));
    for (const w of restored) {
      if (w.seq > 0n) this.numbered.set(w.seq, w);
    }
    this.queued.unshift(...restored.filter((w) => w.seq === 0n));
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
