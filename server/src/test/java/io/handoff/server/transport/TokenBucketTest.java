package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The limiters on an injected clock. */
class TokenBucketTest {
  private static final long SECOND = 1_000_000_000L;

  @Test
  void bucketGivesItsBurstThenOneTokenPerPeriod() {
    TokenBucket b = new TokenBucket(2, 3, 0);
    assertTrue(b.tryTake(0));
    assertTrue(b.tryTake(0));
    assertTrue(b.tryTake(0));
    assertFalse(b.tryTake(0));
    assertEquals(500, b.millisToNextToken());
    assertFalse(b.tryTake(SECOND / 2 - 1));
    assertTrue(b.tryTake(SECOND / 2));
    assertFalse(b.isFull(SECOND / 2));
    assertTrue(b.isFull(SECOND * 2));
  }

  @Test
  void addressLimiterSeparatesAddressesAndStaysBounded() throws Exception {
    AtomicLong now = new AtomicLong();
    CallerRateLimiter limiter = new CallerRateLimiter(1, 2, 3, now::get);
    InetAddress a = InetAddress.getByName("10.0.0.1");
    InetAddress b = InetAddress.getByName("10.0.0.2");
    assertEquals(0, limiter.acquire(a));
    assertEquals(0, limiter.acquire(a));
    assertEquals(1000, limiter.acquire(a));
    assertEquals(0, limiter.acquire(b), "another address has its own bucket");
    assertEquals(0, limiter.acquire(InetAddress.getByName("10.0.0.3")));
    // Full: one more address is tracked in place of another, never beyond the bound.
    assertEquals(0, limiter.acquire(InetAddress.getByName("10.0.0.4")));
    assertEquals(3, limiter.tracked());
    now.addAndGet(10 * SECOND); // Everyone is quiet again: the limiter forgets them.
    assertEquals(0, limiter.acquire(InetAddress.getByName("10.0.0.5")));
    assertEquals(1, limiter.tracked());
  }

  @Test
  void addressLimiterCountsAnIpv6Slash64AsOneAddress() throws Exception {
    AtomicLong now = new AtomicLong();
    CallerRateLimiter limiter = new CallerRateLimiter(1, 2, 10, now::get);
    assertEquals(0, limiter.acquire(InetAddress.getByName("2001:db8:5:6::1")));
    assertEquals(0, limiter.acquire(InetAddress.getByName("2001:db8:5:6::2")));
    assertEquals(
        1000,
        limiter.acquire(InetAddress.getByName("2001:db8:5:6:a:b:c:d")),
        "a third address of the /64 finds the bucket empty");
    assertEquals(0, limiter.acquire(InetAddress.getByName("2001:db8:5:7::1")), "another /64");
    assertEquals(2, limiter.tracked());
  }

  @Test
  void fullLimiterStillLimitsANewAddress() throws Exception {
    AtomicLong now = new AtomicLong();
    CallerRateLimiter limiter = new CallerRateLimiter(1, 2, 3, now::get);
    for (int i = 1; i <= 3; i++) {
      InetAddress busy = InetAddress.getByName("10.0.1." + i);
      limiter.acquire(busy);
      limiter.acquire(busy);
    }
    assertEquals(3, limiter.tracked(), "full of busy addresses");
    InetAddress flood = InetAddress.getByName("10.0.2.1");
    assertEquals(0, limiter.acquire(flood));
    assertEquals(0, limiter.acquire(flood));
    assertEquals(1000, limiter.acquire(flood), "a new address beyond the bound is limited too");
    assertEquals(1000, limiter.acquire(flood));
    assertEquals(3, limiter.tracked(), "and the limiter stays within its bound");
  }
}
