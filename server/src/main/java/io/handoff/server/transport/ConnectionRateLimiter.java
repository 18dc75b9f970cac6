package io.handoff.server.transport;

import java.net.InetAddress;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Limits how fast one remote address may open WebSocket connections: a token bucket per address.
 * The map is bounded: when it reaches {@code maxTracked} addresses, those whose buckets have
 * refilled (quiet addresses) are forgotten; if it is still full, new addresses pass unchecked
 * rather than grow the map. Thread-safe.
 */
final class ConnectionRateLimiter {
  private final double ratePerSecond;
  private final double burst;
  private final int maxTracked;
  private final LongSupplier nanoTime;
  private final ConcurrentHashMap<InetAddress, TokenBucket> buckets = new ConcurrentHashMap<>();

  /** {@code ratePerSecond <= 0} disables the limit. */
  ConnectionRateLimiter(double ratePerSecond, double burst, int maxTracked, LongSupplier nanoTime) {
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    this.maxTracked = maxTracked;
    this.nanoTime = nanoTime;
  }

  /** Whether {@code address} may open one more connection now; 0 if so, else ms to wait. */
  long acquire(InetAddress address) {
    if (ratePerSecond <= 0) {
      return 0;
    }
    long now = nanoTime.getAsLong();
    TokenBucket b = buckets.get(address);
    if (b == null) {
      if (buckets.size() >= maxTracked) {
        buckets.entrySet().removeIf(e -> isIdle(e.getValue(), now));
        if (buckets.size() >= maxTracked) {
          return 0;
        }
      }
      b = buckets.computeIfAbsent(address, a -> new TokenBucket(ratePerSecond, burst, now));
    }
    synchronized (b) {
      return b.tryTake(now) ? 0 : Math.max(1, b.millisToNextToken());
    }
  }

  private static boolean isIdle(TokenBucket b, long now) {
    synchronized (b) {
      return b.isFull(now);
    }
  }

  int tracked() {
    return buckets.size();
  }
}
