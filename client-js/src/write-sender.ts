import { create, toBinary } from "@bufbuild/protobuf";
import { type Backoff, UNAVAILABLE_BACKOFF_MAX_MS } from "./backoff.js";
import type { Link } from "./connection.js";
import { changes, type Document, type DocumentChange } from "./document.js";
import { HandoffError, OUTCOME_UNKNOWN } from "./errors.js";
import {
  type Ack,
  type ClientFrame,
  ClientFrameSchema,
  type Delta,
  ErrorCode,
  type Error as ErrorFrame,
  type FieldOp,
  type Welcome,
} from "./gen/handoff/v1/handoff_pb.js";
import type { StoredWrite } from "./store.js";
import { notKept } from "./saver.js";
import { MAX_RENUMBERS, type PendingWrite, WriteQueue } from "./write-queue.js";

/** What a {@link WriteSender} reaches of the engine that owns it. */
export interface WriteHost {
  /** The current connection attempt, if any; writes go only on a welcomed one. */
  current(): Link | undefined;
  /** This device, as the last Welcome or the offline store named it. */
  deviceId(): string | undefined;
  /** True when the offline store keeps what it saves across reloads. */
  durable(): boolean;
  /** Saves the client's state; resolves once a save that includes every change so far has finished (true: it succeeded). */
  persist(): Promise<boolean>;
  /** Tells the app that a replica changed. */
  changed(change: DocumentChange): void;
}

/**
 * A client's writes from the app's call until they are settled: it owns the {@link WriteQueue} (the
 * writes, their numbers and the window) and decides what each event of the connection means for
 * them. It knows nothing of sockets or of the connection's lifecycle: the engine hands it the
 * frames about writes and tells it when a connection is welcomed or lost, and it sends on the
 * current connection ({@link WriteHost.current}) only.
 *
 * A write is numbered once a Welcome arrived on the current connection and the window has room,
 * saved (with a durable store: before it is sent, so a reloaded page re-sends it with the same
 * number), and settled by its Ack, the Delta of the write itself, or a final Error. One the server
 * may still take is re-sent after a growing wait with its number, on the connection that refused it.
 * After a reconnect, numbered writes are re-sent first, in order and with their original numbers.
 *
 * Lifecycle: one per engine, for the life of the client; {@link close} or {@link terminate} ends
 * every write's promise.
 */
export class WriteSender {
  private readonly writes: WriteQueue;
  // The server acks only writes its replicas hold (Welcome.durable_ack_replicas > 0).
  private durableAcks = false;
  // A save that numbered writes failed: the next try, and how many failed in a row.
  private saveRetry?: ReturnType<typeof setTimeout>;
  private saveFailures = 0;
  // close() was called: no timer of this sender saves any more.
  private closed = false;
  /** Writes given a new number because the server forgot one it applied nothing under. */
  renumbered = 0;
  private maxFrameBytes = 0;

  constructor(
    maxPendingWrites: number,
    maxInFlightWrites: number,
    maxUnackedWriteBytes: number,
    private readonly backoff: Backoff,
    private readonly host: WriteHost,
  ) {
    this.writes = new WriteQueue(maxPendingWrites, maxInFlightWrites, maxUnackedWriteBytes);
  }

  /** Queues a write and sends it when it may go; resolves to the version the server gave it. */
  submit(document: Document, ops: FieldOp[], expectedVersion: bigint | undefined): Promise<bigint> {
    return new Promise<bigint>((resolve, reject) => {
      const refused = this.writes.add({
        document,
        ops,
        expectedVersion,
        seq: 0n,
        sent: false,
        done: false,
        retries: 0,
        attempts: 0,
        resolve,
        reject,
      });
      if (refused) {
        reject(refused);
        return;
      }
      this.host.persist();
      this.pump();
    });
  }

  /** Writes not yet acked (sent or waiting). */
  get pending(): number {
    return this.writes.size;
  }

  /** The current connection was welcomed: its limits apply, and every numbered write is to be re-sent. */
  welcomed(welcome: Welcome): void {
    this.writes.welcomed(welcome.lastClientSeq, welcome.maxInFlightWrites);
    this.maxFrameBytes = welcome.maxFrameBytes;
    this.durableAcks = welcome.durableAckReplicas > 0;
  }

  /** The connection ended: nothing is in flight, and numbered writes wait for the next Welcome. */
  connectionLost(): void {
    this.writes.connectionLost();
  }

  /** Sends what the window allows: re-sends first (original numbers), then queued writes (new numbers). */
  pump(): void {
    const l = this.host.current();
    if (!l || !l.welcomed) return;
    for (let w = this.writes.nextResend(); w; w = this.writes.nextResend()) this.transmit(l, w);
    const fresh = this.writes.numberQueued();
    if (fresh.length === 0) return;
    if (!this.host.durable()) {
      this.host.persist();
      for (const w of fresh) if (this.writes.release(w)) this.transmit(l, w);
      return;
    }
    // The number must be on disk before the write leaves: a reload re-sends it with this number. If
    // the save fails, the writes give their numbers back (a reload would number them anew, so a
    // number sent now could be applied twice) and go out after a later save succeeds.
    for (const w of fresh) w.saving = true;
    this.host.persist().then((saved) => {
      for (const w of fresh) w.saving = false;
      // Closed since: its writes are the close's to settle, and nothing more of them is sent.
      if (this.closed) return;
      if (!saved) {
        for (const w of fresh) this.writes.unnumber(w);
        clearTimeout(this.saveRetry);
        this.saveRetry = setTimeout(() => this.pump(), this.backoff.delay(this.saveFailures++));
        return;
      }
      this.saveFailures = 0;
      const now = this.host.current();
      for (const w of fresh) {
        if (this.host.current() === l && this.writes.release(w)) this.transmit(l, w);
        else if (now?.welcomed) this.writes.resendAfterSave(w); // numbered on a connection since lost
      }
      if (now !== l) this.pump();
    });
  }

  /** The server acked a write: it is settled, and applied to the replica if it is the replica's next version. */
  onAck(ack: Ack): void {
    const w = this.writes.get(ack.clientSeq);
    if (!w) return;
    this.writes.settle(w);
    const d = w.document;
    // Not contiguous: the replica already has this version, or versions are missing in between and
    // the server pushes them (this write's included) by itself. Applying out of order would corrupt it.
    const contiguous = ack.version === d.version + 1n && (d.version === 0n || d.epoch === ack.epoch);
    if (contiguous) {
      d.apply(ack.epoch, ack.version, w.ops);
      d.setFingerprint(ack.version, ack.fingerprint);
      this.host.changed({
        document: d.name,
        kind: "own-write",
        epoch: ack.epoch,
        version: ack.version,
        ops: changes(w.ops),
        originDevice: this.host.deviceId(),
        originSeq: w.seq,
      });
    }
    this.host.persist();
    w.resolve?.(ack.version);
    this.pump();
  }

  /** `delta` was applied to `d`: if it is this device's write, it settles that write (unless only the Ack may). */
  onDelta(d: Document, delta: Delta): void {
    // With durable acks the own Delta comes before the replicas confirmed the write: only the Ack
    // settles it.
    const device = this.host.deviceId();
    if (!this.durableAcks && device !== undefined && device === delta.originDevice) {
      const w = this.writes.get(delta.originSeq);
      if (w && w.document === d) {
        this.writes.settle(w);
        this.host.persist();
        w.resolve?.(delta.version);
        this.pump();
      }
    }
  }

  /**
   * An Error frame that names a write of this client on `l`: re-sent later if the server may still
   * take it, else the write fails. False if `error` names no unsettled write.
   */
  onError(l: Link, error: ErrorFrame): boolean {
    const w = error.clientSeq === 0n ? undefined : this.writes.get(error.clientSeq);
    if (!w) return false;
    w.awaiting = false;
    if ((error.code as number) === OUTCOME_UNKNOWN) w.uncertain = true;
    if (error.code === ErrorCode.STALE_SEQUENCE && !w.uncertain && (w.renumbers ?? 0) < MAX_RENUMBERS) {
      // Every answer said "not applied", and meanwhile so many later writes were handled that the
      // server forgot this number: nothing was applied under it, so a new one takes its place (as
      // the Java client does).
      this.writes.renumber(w);
      this.renumbered++;
      this.saveThenResend(w);
      return true;
    }
    // UNAVAILABLE and OUTCOME_UNKNOWN: the write may or may not be applied; re-sending the same
    // client_seq is safe and is the only honest course, so it is never reported as failed.
    const fateUnknown = error.code === ErrorCode.UNAVAILABLE || (error.code as number) === OUTCOME_UNKNOWN;
    // Re-sent, after a growing wait, as long as the server says it may succeed later (as the Java
    // client does): a write is given up on only for a refusal re-sending cannot change. Not
    // STALE_SEQUENCE (that number can never get another answer) nor INTERNAL (a server bug that
    // would hold back every later write of the document).
    const retryable =
      error.code !== ErrorCode.STALE_SEQUENCE &&
      error.code !== ErrorCode.INTERNAL &&
      (fateUnknown ||
        error.retryable ||
        error.code === ErrorCode.RATE_LIMITED ||
        error.code === ErrorCode.TOO_MANY_IN_FLIGHT);
    if (retryable) {
      const delay = this.backoff.delay(w.retries, fateUnknown ? UNAVAILABLE_BACKOFF_MAX_MS : Infinity);
      w.retries++;
      clearTimeout(w.retryTimer);
      // Its place in the window goes to other documents' writes while it waits (as in the Java
      // client); its document's next write still waits behind it.
      this.writes.backOff(w);
      w.retryTimer = setTimeout(() => {
        w.retryTimer = undefined;
        if (this.host.current() === l) {
          this.writes.resendAfterSave(w);
          this.pump();
        }
      }, delay);
      this.pump();
      return true;
    }
    this.writes.settle(w);
    this.host.persist();
    const failed = HandoffError.fromFrame(error, w.document.name);
    // A number the server no longer remembers, or a refusal the store made with no record of the
    // device's writes (it covers this send only): a write whose fate was once unknown may have been
    // applied by an earlier send (as in the Java client).
    const unknown = (error.code === ErrorCode.STALE_SEQUENCE || error.noWriteRecord) && w.uncertain;
    w.reject?.(unknown ? failed.withOutcomeUnknown() : failed);
    this.pump();
    return true;
  }

  /** Saves `w`'s new number (a durable store must hold it before it leaves), then sends it again. */
  private saveThenResend(w: PendingWrite): void {
    if (!this.host.durable()) {
      this.host.persist();
      this.writes.resendAfterSave(w);
      this.pump();
      return;
    }
    w.saving = true;
    this.host.persist().then((saved) => {
      w.saving = false;
      // Closed since (its store may now be another client's) or dropped: nothing more of it is saved.
      if (this.closed || w.done) return;
      if (!saved) {
        // On the write, so that close() and terminate() clear it.
        clearTimeout(w.retryTimer);
        w.retryTimer = setTimeout(() => {
          w.retryTimer = undefined;
          this.saveThenResend(w);
        }, this.backoff.delay(this.saveFailures++));
        return;
      }
      this.writes.resendAfterSave(w);
      this.pump();
    });
  }

  /** The client is closing: no timer of this sender runs, nor sends or saves, any more. */
  stop(): void {
    this.closed = true;
    clearTimeout(this.saveRetry);
    for (const w of this.writes.all()) clearTimeout(w.retryTimer);
  }

  /**
   * The client closed ({@link stop} first), its last save made: every write's promise rejects with
   * `closed` (with its outcome unknown if it went on the wire). With a durable store that was loaded
   * (`loaded`), the writes a save holds stay there for the next client of the store: every write if
   * the last save succeeded, else (`storeError`) those an earlier save held, and the others reject
   * with `STORE_FAILED`. Otherwise they are forgotten: a store still waiting for its key (another tab
   * holds it) or never loaded saves nothing of this client.
   */
  close(closed: HandoffError, loaded: boolean, storeError?: { error: unknown }): void {
    this.stop();
    const unknown = closed.withOutcomeUnknown();
    // A durable store keeps every unsettled write, sent or not, and the next client of the store sends
    // it: not "certainly not applied".
    const kept = new HandoffError(
      closed.code,
      `${closed.message} (the write stays in the offline store; the next client of the store sends it)`,
      { mayHaveBeenApplied: true },
    );
    const durable = this.host.durable() && loaded;
    const lost = storeError && notKept(closed, storeError.error);
    for (const w of this.writes.all()) {
      if (durable && (!storeError || w.kept)) w.reject?.(kept);
      else if (durable && lost) w.reject?.(w.attempts > 0 ? lost.withOutcomeUnknown() : lost);
      else w.reject?.(w.attempts > 0 ? unknown : closed);
    }
    if (!durable) this.writes.clear();
  }

  /**
   * The connection ended for good: every write is dropped now, and the returned call rejects their
   * promises with `closed`. Writes made in between (by a listener that hears of the close) are not
   * among them.
   */
  terminate(closed: HandoffError): () => void {
    const all = this.writes.all();
    this.writes.clear();
    for (const w of all) {
      w.done = true;
      clearTimeout(w.retryTimer);
    }
    const unknown = closed.withOutcomeUnknown();
    return () => {
      for (const w of all) w.reject?.(w.attempts > 0 ? unknown : closed);
    };
  }

  /** Takes back the writes an offline store kept; see {@link WriteQueue.restore}. */
  restore(lastSeq: bigint, writes: StoredWrite[], document: (name: string) => Document): void {
    this.writes.restore(lastSeq, writes, document);
  }

  /**
   * The last client_seq handed out, and every unsettled write, as an offline store keeps them;
   * `kept()` once the store holds them.
   */
  stored(): { nextSeq: bigint; writes: StoredWrite[]; kept: () => void } {
    const all = this.writes.all();
    const kept = () => {
      for (const w of all) w.kept = true;
    };
    return { nextSeq: this.writes.lastNumber, writes: this.writes.stored(), kept };
  }

  private transmit(l: Link, w: PendingWrite): void {
    const frame = writeFrame(w);
    if (this.maxFrameBytes > 0) {
      const size = toBinary(ClientFrameSchema, frame).length;
      if (size > this.maxFrameBytes) {
        this.writes.settle(w);
        this.host.persist();
        const tooLarge = HandoffError.limit(
          `write to '${w.document.name}' is ${size} bytes, over the server's max_frame_bytes of ${this.maxFrameBytes}`,
          w.document.name,
        );
        // Sent before to a node that took frames this large, its answer lost (or restored from a
        // store, so maybe sent): that node may have applied it, and this one cannot be asked.
        w.reject?.(w.uncertain ? tooLarge.withOutcomeUnknown() : tooLarge);
        return;
      }
    }
    this.writes.onWire(w);
    l.channel!.send(frame);
  }
}

function writeFrame(w: PendingWrite): ClientFrame {
  return create(ClientFrameSchema, {
    body: {
      case: "write",
      value: { document: w.document.name, clientSeq: w.seq, expectedVersion: w.expectedVersion, ops: w.ops },
    },
  });
}
