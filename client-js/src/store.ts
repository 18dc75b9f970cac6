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
 * Where a client keeps its state. `load` is called once, before the first connection (again if it
 * failed); `save` with the whole state after changes (calls never overlap; the client waits for one
 * before the next). `client` is the client calling, the same object in its `load` and `close`, so a
 * store object that two clients use at once (the app built the next one before the last one closed)
 * can tell them apart.
 */
export interface OfflineStore {
  /** False for stores that forget everything with the process (the engine then never waits). */
  readonly durable: boolean;
  load(client?: object): Promise<StoredState | undefined>;
  save(state: StoredState): Promise<void>;
  /**
   * The client closes: a `load` still waiting for the store gives up (rejects); after the last save
   * the store is given back. May be called twice (while loading, then after the last save).
   */
  close?(client?: object): void;
}

/** One client's hold on an {@link IndexedDbStore}'s key. */
interface Hold {
  lock?: Promise<void>;
  release?: () => void;
  loaded: boolean;
  stopWaiting: AbortController;
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
 *
 * One client at a time holds a key: {@link load} takes an exclusive Web Lock on it (where the browser
 * has `navigator.locks`) and the client's close, or its page going away, gives it back; a client built
 * again on the same store object takes it again, waiting for the one before if it has not closed yet. A second
 * client of the same key (the same app in another tab) waits in `load` until then: two clients of one
 * state would each send the same queued writes under their own numbers (applied twice) and overwrite
 * each other's saves.
 */
export class IndexedDbStore implements OfflineStore {
  readonly durable: boolean = true;
  private db?: Promise<IDBDatabase>;
  /** An upgrade (adding the state store) is under way, maybe blocked by another page's connection. */
  private upgrading = false;
  /** Per client (the store itself for a caller that names none). */
  private readonly holds = new Map<object, Hold>();

  constructor(
    private readonly key: string,
    private readonly databaseName = "handoff",
  ) {
    if (typeof indexedDB === "undefined") {
      throw new Error("IndexedDbStore needs IndexedDB (a browser); use MemoryStore elsewhere");
    }
  }

  async load(client: object = this): Promise<StoredState | undefined> {
    let hold = this.holds.get(client);
    if (!hold) this.holds.set(client, (hold = { loaded: false, stopWaiting: new AbortController() }));
    await this.acquire(hold);
    try {
      return await request<StoredState | undefined>((await this.transaction("readonly")).objectStore("state").get(this.key));
    } finally {
      hold.loaded = true;
    }
  }

  async save(state: StoredState): Promise<void> {
    const tx = await this.transaction("readwrite");
    tx.objectStore("state").put(state, this.key);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  /**
   * Gives the key back to the next client waiting for it (or stops waiting for it). A client built
   * later on this store takes the key again in its `load`, waiting for any other client of it.
   */
  close(client: object = this): void {
    const hold = this.holds.get(client);
    if (!hold) return;
    if (hold.release) {
      if (!hold.loaded) return; // still reading: the client closes the store again after its load
      hold.release();
    } else if (hold.lock) {
      hold.stopWaiting.abort();
    }
    this.holds.delete(client);
  }

  private acquire(hold: Hold): Promise<void> {
    const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
    if (!locks) return Promise.resolve();
    hold.lock ??= new Promise<void>((granted, failed) => {
      locks
        .request(`handoff:${this.databaseName}:${this.key}`, { mode: "exclusive", signal: hold.stopWaiting.signal }, () => {
          granted();
          return new Promise<void>((r) => (hold.release = r));
        })
        .catch(failed);
    });
    return hold.lock;
  }

  /** Deletes this key's state. */
  async clear(): Promise<void> {
    await request((await this.transaction("readwrite")).objectStore("state").delete(this.key));
  }

  /**
   * A transaction on the database, opened once. A connection that ended under the store (the browser
   * closed it: site data cleared, storage pressure) is dropped, so the next call (the client saves
   * again after a failed save) opens the database again instead of failing for ever.
   */
  private async transaction(mode: IDBTransactionMode): Promise<IDBTransaction> {
    const opening = this.open();
    const db = await opening;
    try {
      return db.transaction("state", mode);
    } catch (e) {
      if (this.db === opening) this.db = undefined;
      throw e;
    }
  }

  /**
   * Opens the database at whatever version it is (creating it, at version 1, if it is not there), and
   * gives the connection up as soon as another page asks for a new version of it or deletes it (its
   * `versionchange` event), so that page does not wait for this client to close: the next transaction
   * opens the database again, at the version it then has (a deleted one is created again, and the
   * next save writes the client's whole state into it). A database lacking the store's object store
   * (a newer app's schema without it) gets it at the next version.
   */
  private open(): Promise<IDBDatabase> {
    if (this.db) return this.db;
    const opening: Promise<IDBDatabase> = (async () => {
      // An upgrade another page's connection blocks goes on once that page closes it; until then
      // every save fails (and is tried again) instead of waiting behind it, and close() too.
      if (this.upgrading) throw new Error(`${this.databaseName} lacks the state store and its upgrade is blocked by another page`);
      let db = await openDatabase(this.databaseName);
      if (!db.objectStoreNames.contains("state")) {
        db.close();
        this.upgrading = true;
        db = await openDatabase(this.databaseName, db.version + 1, () => (this.upgrading = false));
      }
      db.onversionchange = () => {
        db.close();
        if (this.db === opening) this.db = undefined;
      };
      return db;
    })();
    // A failed open is tried again by the next transaction.
    opening.catch(() => {
      if (this.db === opening) this.db = undefined;
    });
    return (this.db = opening);
  }
}

/**
 * Opens `name` (at `version`, or at the version it has), creating the `state` object store if missing.
 * An upgrade another connection blocks (a page that does not close on versionchange) rejects at once,
 * and goes on once that connection closes: the connection it then opens is closed, and `settled` is
 * called once the request succeeded or failed.
 */
function openDatabase(name: string, version?: number, settled?: () => void): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    let blocked = false;
    const open = version === undefined ? indexedDB.open(name) : indexedDB.open(name, version);
    open.onupgradeneeded = () => {
      if (!open.result.objectStoreNames.contains("state")) open.result.createObjectStore("state");
    };
    open.onblocked = () => {
      blocked = true;
      reject(new Error(`opening ${name} at version ${version} is blocked: another page holds it open`));
    };
    open.onsuccess = () => {
      settled?.();
      if (blocked) open.result.close();
      else resolve(open.result);
    };
    open.onerror = () => {
      settled?.();
      reject(open.error);
    };
  });
}

function request<T>(r: IDBRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result as T);
    r.onerror = () => reject(r.error);
  });
}
