import { create } from "@bufbuild/protobuf";
import { type FieldOp, FieldOpSchema } from "./gen/handoff/v1/handoff_pb.js";

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** A field value: bytes, or a string sent as UTF-8. */
export type FieldValue = Uint8Array | string;

/** One field operation of a change: `value` set, or `undefined` for a removed field. */
export interface FieldChange {
  field: string;
  value: Uint8Array | undefined;
}

/**
 * What changed in a document's local replica. `delta`: another device's write; `own-write`: this
 * client's write was acked and applied; `snapshot`: the replica was replaced (resume, resync);
 * `gone`: the document no longer exists and the replica was dropped.
 */
export interface DocumentChange {
  document: string;
  kind: "delta" | "own-write" | "snapshot" | "gone";
  epoch: bigint;
  version: bigint;
  /** The operations of a delta or own write, in order. */
  ops: FieldChange[];
  /** The device that wrote a delta or own write, and its client sequence number. */
  originDevice?: string;
  originSeq?: bigint;
}

/** @internal The operations of a delta or own write as a {@link DocumentChange} carries them. */
export function changes(ops: readonly FieldOp[]): FieldChange[] {
  return ops.map((o) => ({ field: o.field, value: o.op.case === "set" ? o.op.value : undefined }));
}

/** What a Document needs from the engine. */
export interface WriteSink {
  submitWrite(document: Document, ops: FieldOp[], expectedVersion: bigint | undefined): Promise<bigint>;
}

/**
 * A handle on one named document of the signed-in user: the local replica and the way to write to
 * it. One handle per name and client ({@link HandoffClient.document}). The replica changes only
 * when the server has accepted a write; each write resolves to the version the server gave it.
 */
export class Document {
  private _epoch = 0n;
  private _version = 0n;
  private _fields: ReadonlyMap<string, Uint8Array> = new Map();
  // The server's fingerprint of version _fingerprintVersion of this replica (0n: unknown).
  private _fingerprint = 0n;
  private _fingerprintVersion = 0n;
  /** @internal A Resync is out for this document. */
  resyncInFlight = false;
  /**
   * @internal The connection this document asked a Resync on, or took a snapshot on: the answer may
   * overlap the live stream there, so a stale delta is no fault of the server.
   */
  repairedOn?: object;
  /** @internal Resyncs of this document the server refused for now, in a row. */
  resyncRetries = 0;
  /** @internal The next try of a Resync the server refused for now. */
  resyncTimer?: ReturnType<typeof setTimeout>;

  /** @internal */
  constructor(
    readonly name: string,
    private readonly sink: WriteSink,
  ) {}

  /** The epoch of the history the replica belongs to; 0n when empty. */
  get epoch(): bigint {
    return this._epoch;
  }

  /**
   * The last version applied to the replica; 0n when it holds nothing. The replica of a document the
   * client does not follow stays at the last version it had in full once another device writes it
   * (the server pushes it no deltas): follow a document whose version you read or give to
   * `expectVersion`.
   */
  get version(): bigint {
    return this._version;
  }

  /** One field's bytes, or undefined. */
  get(field: string): Uint8Array | undefined {
    return this._fields.get(field);
  }

  /** One field decoded as UTF-8, or undefined. */
  getString(field: string): string | undefined {
    const v = this._fields.get(field);
    return v === undefined ? undefined : fromUtf8.decode(v);
  }

  /** All fields: a map that later changes do not affect. */
  fields(): ReadonlyMap<string, Uint8Array> {
    return this._fields;
  }

  /** Sets one field; resolves to the acked version. */
  set(field: string, value: FieldValue): Promise<bigint> {
    return this.edit().set(field, value).commit();
  }

  /** Removes one field; resolves to the acked version. */
  remove(field: string): Promise<bigint> {
    return this.edit().remove(field).commit();
  }

  /** Several operations applied atomically as one version. */
  edit(): Edit {
    return new Edit(this, this.sink);
  }

  /**
   * @internal Remembers the server's fingerprint of `version`, just applied (from the Ack, Delta or
   * Snapshot that brought the replica there).
   */
  setFingerprint(version: bigint, fingerprint: bigint): void {
    this._fingerprintVersion = version;
    this._fingerprint = fingerprint;
  }

  /** @internal The fingerprint of `version` if known, else 0n (a version applied without one is unknown). */
  fingerprintAt(version: bigint): bigint {
    return version !== 0n && version === this._fingerprintVersion ? this._fingerprint : 0n;
  }

  /** @internal */
  apply(epoch: bigint, version: bigint, ops: readonly FieldOp[]): void {
    const next = new Map(this._fields);
    for (const op of ops) {
      if (op.op.case === "set") next.set(op.field, op.op.value);
      else if (op.op.case === "remove") next.delete(op.field);
    }
    this.publish(epoch, version, next);
  }

  /** @internal */
  replace(epoch: bigint, version: bigint, fields: Record<string, Uint8Array>): void {
    this.publish(epoch, version, new Map(Object.entries(fields)));
  }

  /** @internal */
  drop(): void {
    this.publish(0n, 0n, new Map());
  }

  private publish(epoch: bigint, version: bigint, fields: Map<string, Uint8Array>): void {
    this._epoch = epoch;
    this._version = version;
    this._fields = fields;
  }

  toString(): string {
    return `Document{${this.name} epoch=${this._epoch.toString(16)} version=${this._version}}`;
  }
}

/** Operations on one document, sent as one write and applied all or none; committed once. */
export class Edit {
  private readonly ops: FieldOp[] = [];
  private expected: bigint | undefined;
  private committed = false;

  /** @internal */
  constructor(
    private readonly document: Document,
    private readonly sink: WriteSink,
  ) {}

  set(field: string, value: FieldValue): this {
    if (typeof value !== "string" && !(value instanceof Uint8Array)) {
      throw new TypeError("value must be a Uint8Array or a string");
    }
    // A copy, as the Java client's ByteString.copyFrom: the write is sent (after an IndexedDB save),
    // re-sent and applied to the replica later, and the app may reuse its buffer meanwhile.
    const bytes = typeof value === "string" ? utf8.encode(value) : new Uint8Array(value);
    this.ops.push(create(FieldOpSchema, { field: checkField(field), op: { case: "set", value: bytes } }));
    return this;
  }

  remove(field: string): this {
    this.ops.push(create(FieldOpSchema, { field: checkField(field), op: { case: "remove", value: true } }));
    return this;
  }

  /**
   * Makes the write conditional: refused with `CONFLICT` (carrying `currentVersion`) unless the
   * document is at exactly this version; 0n means "must not exist yet".
   */
  expectVersion(version: bigint): this {
    if (typeof version !== "bigint" || version < 0n) {
      throw new RangeError(`expectVersion takes a bigint >= 0n, was ${String(version)}`);
    }
    this.expected = version;
    return this;
  }

  /** Submits the edit; resolves to the acked version or rejects with a HandoffError. */
  commit(): Promise<bigint> {
    if (this.committed) throw new Error("edit already committed");
    if (this.ops.length === 0) {
      throw new Error(`edit of '${this.document.name}' has no operations (the server refuses an empty write)`);
    }
    this.committed = true;
    return this.sink.submitWrite(this.document, this.ops, this.expected);
  }
}

function checkField(field: string): string {
  if (typeof field !== "string" || field.length === 0) throw new TypeError("field name must not be empty");
  return field;
}
