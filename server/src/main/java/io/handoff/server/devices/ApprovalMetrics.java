package io.handoff.server.devices;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * Device approvals of one node, in the node's Micrometer registry: {@code
 * handoff_device_approvals_total{outcome=requested|granted|denied|expired}}, {@code
 * handoff_device_approvals_refused_total{bound=address|user|total}} (requests refused for a bound
 * on pending requests), {@code handoff_device_approval_attempts_refused_total} and the timer {@code
 * handoff_device_approval_time} (request to approval). Each outcome is counted once, by the node
 * whose store call decided it.
 */
public final class ApprovalMetrics {
  public final LongAdder requested = new LongAdder();
  public final LongAdder granted = new LongAdder();
  public final LongAdder denied = new LongAdder();
  public final LongAdder expired = new LongAdder();
  public final LongAdder attemptsRefused = new LongAdder();
  public final LongAdder refusedAddress = new LongAdder();
  public final LongAdder refusedUser = new LongAdder();
  public final LongAdder refusedFull = new LongAdder();
  private final Timer timeToApprove;

  public ApprovalMetrics(MeterRegistry registry) {
    outcome(registry, "requested", requested);
    outcome(registry, "granted", granted);
    outcome(registry, "denied", denied);
    outcome(registry, "expired", expired);
    refused(registry, "address", refusedAddress);
    refused(registry, "user", refusedUser);
    refused(registry, "total", refusedFull);
    FunctionCounter.builder(
            "handoff.device.approval.attempts.refused", attemptsRefused, LongAdder::doubleValue)
        .description("user-code lookups refused for too many wrong codes (user or address)")
        .register(registry);
    timeToApprove =
        Timer.builder("handoff.device.approval.time")
            .description("sign-in request to its approval by a trusted device")
            .publishPercentileHistogram()
            .minimumExpectedValue(Duration.ofMillis(10))
            .maximumExpectedValue(Duration.ofMinutes(30))
            .register(registry);
  }

  private static void outcome(MeterRegistry r, String outcome, LongAdder adder) {
    FunctionCounter.builder("handoff.device.approvals", adder, LongAdder::doubleValue)
        .tag("outcome", outcome)
        .description("sign-in requests of new devices by outcome")
        .register(r);
  }

  private static void refused(MeterRegistry r, String bound, LongAdder adder) {
    FunctionCounter.builder("handoff.device.approvals.refused", adder, LongAdder::doubleValue)
        .tag("bound", bound)
        .description("sign-in requests refused because this many were pending already")
        .register(r);
  }

  void recordApproval(long millis) {
    timeToApprove.record(Math.max(0, millis), TimeUnit.MILLISECONDS);
  }

  /** Approvals timed so far, for tests. */
  public long approvalsTimed() {
    return timeToApprove.count();
  }
}
