package io.handoff.server.transport;

/**
 * A token bucket: {@code ratePerSecond} tokens a second, at most {@code burst} saved up. Not
 * thread-safe; each owner calls it from one thread (a session's event loop) or under a lock.
 */
public final class TokenBucket {
  private final double ratePerNano;
  private final double burst;
  private double tokens;
  private long lastNanos;

  public TokenBucket(double ratePerSecond, double burst, long nowNanos) {
    this.ratePerNano = ratePerSecond / 1e9;
    this.burst = burst;
    this.tokens = burst;
    this.lastNanos = nowNanos;
  }

  /** Takes one token if there is one. */
  public boolean tryTake(long nowNanos) {
    refill(nowNanos);
    if (tokens >= 1) {
      tokens -= 1;
      return true;
    }
    return false;
  }

  /** True once the bucket is full again: its owner has been quiet long enough to forget it. */
  boolean isFull(long nowNanos) {
    refill(nowNanos);
    return tokens >= burst;
  }

  /** Milliseconds until the next token. */
  public long millisToNextToken() {
    return tokens >= 1 ? 0 : (long) Math.ceil((1 - tokens) / ratePerNano / 1e6);
  }

  private void refill(long nowNanos) {
    long elapsed = nowNanos - lastNanos;
    if (elapsed > 0) {
      tokens = Math.min(burst, tokens + elapsed * ratePerNano);
      lastNanos = nowNanos;
    }
  }
}
