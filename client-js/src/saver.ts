import type { OfflineStore, StoredState } from "./store.js";

/**
 * Saves a client's state to its store one save at a time: a change during a save is folded into
 * the next one, and each caller's promise resolves once a save that includes its change finished:
 * to true if it succeeded, false if the store failed it.
 */
export class Saver {
  private saving = false;
  private waiters: ((saved: boolean) => void)[] = [];

  constructor(
    private readonly store: OfflineStore,
    private readonly snapshot: () => StoredState,
    private readonly failed: (e: unknown) => void,
  ) {}

  save(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      this.waiters.push(resolve);
      if (!this.saving) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.saving = true;
    while (this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      let saved = true;
      try {
        await this.store.save(this.snapshot());
      } catch (e) {
        saved = false;
        this.failed(e);
      }
      for (const w of waiters) w(saved);
    }
    this.saving = false;
  }
}
