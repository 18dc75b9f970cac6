import { create } from "@bufbuild/protobuf";
import { type Backoff, UNAVAILABLE_BACKOFF_MAX_MS } from "./backoff.js";
import type { Link } from "./connection.js";
import { changes, Document, type DocumentChange, type WriteSink } from "./document.js";
import {
  ClientFrameSchema,
  type Delta,
  DocumentSync_Mode,
  DocumentSync_Reason,
  ErrorCode,
  type Error as ErrorFrame,
  type Position,
  PositionSchema,
  type Snapshot,
  type SyncReport,
  type Welcome,
} from "./gen/handoff/v1/handoff_pb.js";
import type { StoredDocument } from "./store.js";

/** What {@link Replicas} reaches of the engine that owns it. */
export interface ReplicaHost {
  /** The current connection attempt, if any; a frame or timer of another one changes no connection. */
  current(): Link | undefined;
  /** Saves the client's state (replicas included). */
  persist(): Promise<boolean>;
  /** Tells the app that a replica changed. */
  changed(change: DocumentChange): void;
  /** Tells the app that the current connection has caught up with what its Welcome announced. */
  synced(): void;
  /** This device's id, once a Welcome named it. */
  deviceId(): string | undefined;
  /** Tells monitoring that the server sent a delta out of turn (see `deltaOutOfTurn` in ClientEvents). */
  outOfTurn(document: string, held: bigint, received: bigint): void;
}

/**
 * A client's local replicas, one {@link Document} per name, and how they follow the server's history:
 * the Deltas, Snapshots and SyncReports the server pushes are applied here, in version order. A gap,
 * another epoch or a fingerprint that shows another history makes the document ask for a Resync from
 * its position (one at a time per document; one the server refuses for now is sent again after a
 * wait). It also tracks what a connection's Welcome announced and tells the engine once all of it has
 * arrived (`synced`, once per connection).
 *
 * It knows nothing of the connection's lifecycle and sends only Resyncs, on the connection the frame
 * that needed it came on. Lifecycle: one per engine, for the life of the client; a document is never
 * forgotten (a gone one is emptied). The engine tells it of each Welcome ({@link welcomed}), each lost
 * connection ({@link connectionLost}) and the end ({@link close}).
 */
export class Replicas {
  private readonly documents = new Map<string, Document>();

  constructor(
    private readonly sink: WriteSink,
    private readonly backoff: Backoff,
    private readonly host: ReplicaHost,
  ) {}

  /** The one handle on `name`, made empty on first use. */
  document(name: string): Document {
    let d = this.documents.get(name);
    if (!d) {
      d = new Document(name, this.sink);
      this.documents.set(name, d);
    }
    return d;
  }

  /** Where every non-empty replica stands, as a Hello, Follow or Resync carries it. */
  positions(): Position[] {
    const out: Position[] = [];
    for (const d of this.documents.values()) if (d.version > 0n) out.push(position(d));
    return out;
  }

  /**
   * `l` was welcomed: the documents its Welcome announces beyond their replicas are what `l` must
   * catch up with, and the Welcome's SyncReport applies. The engine calls {@link checkSynced} once
   * it has handled the rest of the Welcome.
   */
  welcomed(l: Link, welcome: Welcome): void {
    for (const sync of welcome.sync?.documents ?? []) {
      if (sync.mode === DocumentSync_Mode.DELTAS || sync.mode === DocumentSync_Mode.SNAPSHOT) {
        const d = this.document(sync.document);
        if (d.epoch !== sync.epoch || d.version < sync.toVersion) l.catchingUp.set(sync.document, sync);
      }
    }
    if (welcome.sync) this.onSyncReport(welcome.sync);
  }

  /** Emits `synced` if `l` is current, welcomed and has caught up, once per connection. */
  checkSynced(l: Link): void {
    if (l.synced || !l.welcomed || l.catchingUp.size > 0 || this.host.current() !== l) return;
    l.synced = true;
    this.host.synced();
  }

  /** The server's report on documents (in a Welcome, or the answer to a Resync or Follow): a gone one is emptied. */
  onSyncReport(report: SyncReport): void {
    for (const sync of report.documents) {
      const d = this.document(sync.document);
      d.resyncInFlight = false;
      d.resyncRetries = 0;
      if (sync.mode === DocumentSync_Mode.GONE) {
        d.drop();
        this.host.persist();
        this.host.changed({ document: d.name, kind: "gone", epoch: 0n, version: 0n, ops: [] });
        const l = this.host.current();
        if (l && l.catchingUp.delete(d.name)) this.checkSynced(l);
      }
    }
  }

  /**
   * Applies `delta` if it is the replica's next version on the same history, else asks `l` for a
   * Resync (or ignores a version the replica has). Returns the document if the delta was applied.
   */
  onDelta(l: Link, delta: Delta): Document | undefined {
    const d = this.document(delta.document);
    if ((d.version > 0n && delta.epoch !== d.epoch) || diverged(d, delta)) {
      this.requestResync(l, d);
      return undefined;
    }
    if (delta.version <= d.version || delta.version !== d.version + 1n) {
      if (l.synced && d.repairedOn !== l && !d.resyncInFlight && delta.originDevice !== this.host.deviceId()) {
        this.host.outOfTurn(d.name, d.version, delta.version);
      }
      if (delta.version > d.version) this.requestResync(l, d);
      return undefined;
    }
    d.apply(delta.epoch, delta.version, delta.ops);
    d.setFingerprint(delta.version, delta.fingerprint);
    this.host.persist();
    this.host.changed({
      document: d.name,
      kind: "delta",
      epoch: delta.epoch,
      version: delta.version,
      ops: changes(delta.ops),
      originDevice: delta.originDevice,
      originSeq: delta.originSeq,
    });
    this.caughtUp(d);
    return d;
  }

  /**
   * Replaces the replica, unless the snapshot is not newer than it on the same history: one older
   * than the replica (a read the server made before versions this device has since received) is not
   * applied, and the replica asks again from its own position, which the server answers with
   * deltas, or with a DIVERGED snapshot if it really lost those versions; one at the replica's own
   * version and fingerprint (or an unknown one) changes nothing. A DIVERGED snapshot always applies.
   */
  onSnapshot(l: Link, s: Snapshot): void {
    const d = this.document(s.document);
    d.repairedOn = l;
    if (d.version > 0n && s.epoch === d.epoch && s.reason !== DocumentSync_Reason.DIVERGED && s.version <= d.version) {
      d.resyncInFlight = false;
      if (s.version < d.version) return this.requestResync(l, d);
      const mine = d.fingerprintAt(d.version);
      if (mine === 0n || s.fingerprint === 0n || mine === s.fingerprint) return this.caughtUp(d);
    }
    d.replace(s.epoch, s.version, s.fields);
    d.setFingerprint(s.version, s.fingerprint);
    d.resyncInFlight = false;
    this.host.persist();
    this.host.changed({ document: d.name, kind: "snapshot", epoch: s.epoch, version: s.version, ops: [] });
    this.caughtUp(d);
  }

  /**
   * A Resync the server refused for now (over its rate, or too many waiting on this connection; the
   * error names the document): sent again after a short wait, or the document would stay behind
   * until the next reconnect. True if `error` was that.
   */
  resyncRefused(l: Link, error: ErrorFrame): boolean {
    const retryable = error.code === ErrorCode.RATE_LIMITED || error.code === ErrorCode.TOO_MANY_IN_FLIGHT;
    const d = error.document ? this.documents.get(error.document) : undefined;
    if (!retryable || !d || !d.resyncInFlight) return false;
    d.resyncInFlight = false;
    d.resyncRetries++;
    clearTimeout(d.resyncTimer);
    d.resyncTimer = setTimeout(() => {
      if (this.host.current() === l && l.welcomed && !d.resyncInFlight) this.requestResync(l, d);
    }, this.backoff.delay(d.resyncRetries, UNAVAILABLE_BACKOFF_MAX_MS) + 50);
    return true;
  }

  /** The connection ended: no Resync is out any more. */
  connectionLost(): void {
    for (const d of this.documents.values()) d.resyncInFlight = false;
  }

  /** The client closed: no Resync is sent again. */
  close(): void {
    for (const d of this.documents.values()) clearTimeout(d.resyncTimer);
  }

  /** Takes back the replicas an offline store kept; a document that already holds a version keeps it. */
  restore(documents: StoredDocument[]): void {
    for (const sd of documents) {
      const d = this.document(sd.name);
      if (d.version === 0n) {
        d.replace(sd.epoch, sd.version, sd.fields);
        d.setFingerprint(sd.version, sd.fingerprint ?? 0n);
      }
    }
  }

  /** Every non-empty replica as an offline store keeps it. */
  stored(): StoredDocument[] {
    const documents = [];
    for (const d of this.documents.values()) {
      if (d.version > 0n) {
        documents.push({
          name: d.name,
          epoch: d.epoch,
          version: d.version,
          fingerprint: d.fingerprintAt(d.version),
          fields: Object.fromEntries(d.fields()),
        });
      }
    }
    return documents;
  }

  private caughtUp(d: Document): void {
    const l = this.host.current();
    if (!l || l.catchingUp.size === 0) return;
    const target = l.catchingUp.get(d.name);
    if (target && d.epoch === target.epoch && d.version >= target.toVersion) {
      l.catchingUp.delete(d.name);
      this.checkSynced(l);
    }
  }

  private requestResync(l: Link, d: Document): void {
    if (d.resyncInFlight) return;
    d.resyncInFlight = true;
    d.repairedOn = l;
    l.channel!.send(
      create(ClientFrameSchema, { body: { case: "resync", value: { positions: [position(d)] } } }),
    );
  }
}

function position(d: Document): Position {
  return create(PositionSchema, {
    document: d.name,
    epoch: d.epoch,
    version: d.version,
    fingerprint: d.fingerprintAt(d.version),
  });
}

/**
 * True when `delta` shows that the server's history of the document is not the one the replica
 * holds: the server gave the replica's version, or wrote the next one on top of, another write (it
 * lost history in a failover). The replica must then Resync from its position, which the server
 * answers with a snapshot. Unknown fingerprints (0n) never count as a difference.
 */
function diverged(d: Document, delta: Delta): boolean {
  const mine = d.fingerprintAt(d.version);
  if (mine === 0n || d.version === 0n || delta.epoch !== d.epoch) return false;
  const theirs =
    delta.version === d.version ? delta.fingerprint : delta.version === d.version + 1n ? delta.previousFingerprint : 0n;
  return theirs !== 0n && theirs !== mine;
}
