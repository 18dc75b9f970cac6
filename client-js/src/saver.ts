import type { OfflineStore, StoredState } from "./store.js";

/**
 * Saves a client's state to its store one save at a time: a change during a save is folded into
 * the next one, and each caller's promise resolves once a save that includes its change finished.
 */
export class Saver {
  private saving = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly store: OfflineStore,
    private readonly snapshot: () => StoredState,
    private readonly failed: (e: unknown) => void,
  ) {}

  save(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      if (!this.saving) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.saving = true;
    while (this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      try {
        await this.store.save(this.snapshot());
      } catch (e) {
        this.failed(e);
      }
      for (const w of waiters) w();
    }
    this.saving = false;
  }
}
