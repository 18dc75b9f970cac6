package io.handoff.server.transport;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.handoff.server.util.AddressGroups;
import java.net.InetAddress;
import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Limits how fast one caller may do something: a token bucket per caller, named by a key (an
 * address's group, see {@link AddressGroups}, or a user). The node keeps one for WebSocket upgrades
 * per address and one for the HTTP API per user or address. The buckets live in a Caffeine cache
 * bounded to {@code maxTracked} callers: a bucket is dropped once it has had time to refill (its
 * caller has been quiet that long, so a fresh bucket is the same), and when the cache is full
 * Caffeine evicts the caller least worth keeping. Every caller is always checked, a new one
 * included; eviction costs constant time, never a scan of the map. Eviction runs on the calling
 * thread, on time read from {@code nanoTime}. Thread-safe.
 */
public final class CallerRateLimiter {
  /** The most callers a limiter of the node keeps buckets for. */
  public static final int MAX_TRACKED = 100_000;

  private final double ratePerSecond;
  private final double burst;
  private final LongSupplier nanoTime;
  private final Cache<String, TokenBucket> buckets;

  /** {@code ratePerSecond <= 0} disables the limit. */
  public CallerRateLimiter(
      double ratePerSecond, double burst, int maxTracked, LongSupplier nanoTime) {
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

  /** Whether {@code address}'s group may go on now; 0 if so, else ms to wait. */
  public long acquire(InetAddress address) {
    return acquire(AddressGroups.of(address));
  }

  /** Whether the caller named {@code key} may go on now; 0 if so, else ms to wait. */
  public long acquire(String key) {
    if (ratePerSecond <= 0) {
      return 0;
    }
    long now = nanoTime.getAsLong();
    TokenBucket b = buckets.get(key, k -> new TokenBucket(ratePerSecond, burst, now));
    synchronized (b) {
      return b.tryTake(now) ? 0 : Math.max(1, b.millisToNextToken());
    }
  }

  /** Callers tracked now (after pending evictions). */
  public int tracked() {
    buckets.cleanUp();
    return (int) buckets.estimatedSize();
  }
}
