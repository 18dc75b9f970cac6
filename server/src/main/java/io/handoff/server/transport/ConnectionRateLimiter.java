package io.handoff.server.transport;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.net.InetAddress;
import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Limits how fast one remote address may open WebSocket connections: a token bucket per address.
 * The buckets live in a Caffeine cache bounded to {@code maxTracked} addresses: a bucket is dropped
 * once it has had time to refill (its address has been quiet that long, so a fresh bucket is the
 * same), and when the cache is full Caffeine evicts the address least worth keeping. Every address
 * is always checked, a new one included; eviction costs constant time, never a scan of the map.
 * Eviction runs on the calling thread, on time read from {@code nanoTime}. Thread-safe.
 */
final class ConnectionRateLimiter {
  private final double ratePerSecond;
  private final double burst;
  private final LongSupplier nanoTime;
  private final Cache<InetAddress, TokenBucket> buckets;

  /** {@code ratePerSecond <= 0} disables the limit. */
  ConnectionRateLimiter(double ratePerSecond, double burst, int maxTracked, LongSupplier nanoTime) {
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    this.nanoTime = nanoTime;
    // A bucket untouched for this long is full again: forgetting it changes nothing.
    Duration refill =
        Duration.ofNanos(ratePerSecond <= 0 ? 1 : (long) Math.ceil(burst / ratePerSecond * 1e9));
    this.buckets =
        Caffeine.newBuilder()
            .maximumSize(Math.max(1, maxTracked))
            .expireAfterAccess(refill)
            .ticker(nanoTime::getAsLong)
            .executor(Runnable::run)
            .build();
  }

  /** Whether {@code address} may open one more connection now; 0 if so, else ms to wait. */
  long acquire(InetAddress address) {
    if (ratePerSecond <= 0) {
      return 0;
    }
    long now = nanoTime.getAsLong();
    TokenBucket b = buckets.get(address, a -> new TokenBucket(ratePerSecond, burst, now));
    synchronized (b) {
      return b.tryTake(now) ? 0 : Math.max(1, b.millisToNextToken());
    }
  }

  /** Addresses tracked now (after pending evictions). */
  int tracked() {
    buckets.cleanUp();
    return (int) buckets.estimatedSize();
  }
}
