/** The longest wait before reconnecting after 4005, and before re-sending a write answered UNAVAILABLE or OUTCOME_UNKNOWN. */
export const UNAVAILABLE_BACKOFF_MAX_MS = 2_000;
/** The longest `Retry-After` honoured: a longer one is taken as this. */
export const RETRY_AFTER_MAX_MS = 60_000;

/**
 * Exponential backoff with full jitter: the n-th consecutive delay is a random time in
 * [0, min(max, initial * 2^n)). Reset when a connection that lasted (STABLE_CONNECTION_MS) ends.
 */
export class Backoff {
  private attempts = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {
    if (!(initialMs > 0) || !(maxMs >= initialMs)) {
      throw new RangeError(`backoff needs 0 < initial <= max, was ${initialMs}, ${maxMs}`);
    }
  }

  /** The next delay, at most `capMs` when given (a short wait after the store, not the network, failed). */
  next(capMs = Infinity): number {
    return this.delay(this.attempts++, capMs);
  }

  delay(attempt: number, capMs = Infinity): number {
    const ceiling = Math.min(this.maxMs, capMs, this.initialMs * 2 ** Math.min(attempt, 30));
    return Math.floor(this.random() * ceiling);
  }

  /**
   * The wait after a refusal that asked for `retryAfterMs` (its `Retry-After`): that long, at most
   * {@link RETRY_AFTER_MAX_MS}, plus a random extra of up to half of it, so that devices refused together
   * do not all come back at the same moment. The count does not move.
   */
  retryAfter(retryAfterMs: number): number {
    const wait = Math.min(Math.max(0, retryAfterMs), RETRY_AFTER_MAX_MS);
    return wait + Math.floor(this.random() * (wait / 2));
  }

  reset(): void {
    this.attempts = 0;
  }
}
