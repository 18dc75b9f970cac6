import type { Backoff } from "./backoff.js";
import { HandoffError } from "./errors.js";
import type { OfflineStore, StoredState } from "./store.js";

/** What one save writes, and what to call once the store holds it. */
export interface Taken {
  state: StoredState;
  kept(): void;
}

/**
 * Saves a client's state to its store one save at a time: a change during a save is folded into
 * the next one, and each caller's promise resolves once a save that includes its change finished:
 * to true if it succeeded, false if the store failed it. A failed save is reported (`failed`, a
 * retryable `STORE_FAILED`: nothing is given up) and tried again after a growing wait until one
 * succeeds, also without a further change, so a page reloaded meanwhile loses as little as the store
 * allows. {@link close} makes the last save; nothing is saved after it.
 */
export class Saver {
  private saving = false;
  private waiters: ((saved: boolean) => void)[] = [];
  private retry?: ReturnType<typeof setTimeout>;
  private failures = 0;
  private closing = false;
  private closed = false;
  /** The store's error of the last save, while no save has succeeded since. */
  private lastError?: unknown;

  constructor(
    private readonly store: OfflineStore,
    private readonly take: () => Taken,
    private readonly failed: (e: HandoffError) => void,
    private readonly backoff: Backoff,
  ) {}

  save(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    clearTimeout(this.retry);
    this.retry = undefined;
    return new Promise<boolean>((resolve) => {
      this.waiters.push(resolve);
      if (!this.saving) void this.run();
    });
  }

  /**
   * The last save, with every change so far; afterwards no save is made and no retry waits. Resolves
   * to undefined if it succeeded, else to the store's error.
   */
  async close(): Promise<{ error: unknown } | undefined> {
    this.closing = true;
    const saved = await this.save();
    this.closed = true;
    clearTimeout(this.retry);
    return saved ? undefined : { error: this.lastError };
  }

  private async run(): Promise<void> {
    this.saving = true;
    let saved = true;
    while (this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      saved = true;
      try {
        const taken = this.take();
        await this.store.save(taken.state);
        taken.kept();
        this.failures = 0;
        this.lastError = undefined;
      } catch (e) {
        saved = false;
        this.lastError = e;
        if (!this.closing) this.failed(storeFailed(e));
      }
      for (const w of waiters) w(saved);
    }
    this.saving = false;
    if (!saved && !this.closing) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        void this.save();
      }, this.backoff.delay(this.failures++));
    }
  }
}

/** A save the store failed, to be tried again: the client holds every change meanwhile. */
function storeFailed(e: unknown): HandoffError {
  return new HandoffError("STORE_FAILED", `offline store save failed: ${String(e)}; the client keeps every change and saves again`, {
    retryable: true,
  });
}

/** A write the client was closed with and the offline store failed to keep (its last save failed). */
export function notKept(closed: HandoffError, storeError: unknown): HandoffError {
  return new HandoffError(
    "STORE_FAILED",
    `${closed.message}, and the offline store failed to keep the write: ${String(storeError)}`,
  );
}
