/**
 * Offline persistence: what a client keeps between page loads so queued writes survive a reload
 * and every write is applied exactly once. The engine saves its whole state (document replicas,
 * their versions, unacked writes with their client sequence numbers) after each change, and always
 * before a newly numbered write is sent, so a reloaded client re-sends it with the same number.
 */

/** One field operation as stored: `set` bytes, or `remove`. */
export interface StoredOp {
  field: string;
  set?: Uint8Array;
  remove?: true;
}

/** An unacked write. `seq` 0 means not numbered yet (never sent). */
export interface StoredWrite {
  document: string;
  seq: bigint;
  expectedVersion?: bigint;
  ops: StoredOp[];
}

export interface StoredDocument {
  name: string;
  epoch: bigint;
  version: bigint;
  /** The server's fingerprint of `version`; absent or 0n: unknown (state saved by an older client). */
  fingerprint?: bigint;
  fields: Record<string, Uint8Array>;
}

/** Everything a client holds. Values are bigint and Uint8Array (structured-clone friendly). */
export interface StoredState {
  /** The user and device the state belongs to; a client refuses state of another device. */
  userId?: string;
  deviceId?: string;
  /** The last client_seq handed out. */
  nextSeq: bigint;
  documents: StoredDocument[];
  writes: StoredWrite[];
}

/**
 * Where a client keeps its state. `load` is called once, before the first connection; `save` with
 * the whole state after changes (calls never overlap; the client waits for one before the next).
 */
export interface OfflineStore {
  /** False for stores that forget everything with the process (the engine then never waits). */
  readonly durable: boolean;
  load(): Promise<StoredState | undefined>;
  save(state: StoredState): Promise<void>;
}

/** Keeps the state in memory (the default): it survives reconnects, not the process. */
export class MemoryStore implements OfflineStore {
  readonly durable: boolean = false;
  private state?: StoredState;

  async load(): Promise<StoredState | undefined> {
    return this.state === undefined ? undefined : structuredClone(this.state);
  }

  async save(state: StoredState): Promise<void> {
    this.state = structuredClone(state);
  }
}

/**
 * Keeps the state in the browser's IndexedDB under `key` (one key per user and device), so a page
 * reloaded while offline keeps its queued writes.
 */
export class IndexedDbStore implements OfflineStore {
  readonly durable: boolean = true;
  private db?: Promise<IDBDatabase>;

  constructor(
    private readonly key: string,
    private readonly databaseName = "handoff",
  ) {
    if (typeof indexedDB === "undefined") {
      throw new Error("IndexedDbStore needs IndexedDB (a browser); use MemoryStore elsewhere");
    }
  }

  async load(): Promise<StoredState | undefined> {
    const db = await this.open();
    return request<StoredState | undefined>(
      db.transaction("state", "readonly").objectStore("state").get(this.key),
    );
  }

  async save(state: StoredState): Promise<void> {
    const db = await this.open();
    const tx = db.transaction("state", "readwrite");
    tx.objectStore("state").put(state, this.key);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  /** Deletes this key's state. */
  async clear(): Promise<void> {
    const db = await this.open();
    await request(db.transaction("state", "readwrite").objectStore("state").delete(this.key));
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const open = indexedDB.open(this.databaseName, 1);
      open.onupgradeneeded = () => open.result.createObjectStore("state");
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    return this.db;
  }
}

function request<T>(r: IDBRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result as T);
    r.onerror = () => reject(r.error);
  });
}
