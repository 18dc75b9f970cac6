package io.handoff.server.transport;

import io.handoff.server.auth.Principal;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * The node's bound on upgrades waiting for the store's word on their device session: at most {@code
 * max} such reads are under way at once; the upgrade past it fails at once with a {@link
 * RejectedExecutionException}, which the upgrade answers 503 (retry later), the store not asked. A
 * storm of devices with server-issued tokens against a slow store then costs it a bounded number of
 * reads. Upgrades without a device session pass without a read. Thread-safe.
 */
final class UpgradeChecks implements Function<Principal, CompletableFuture<String>> {
  private final Function<Principal, CompletableFuture<String>> check;
  private final int max;
  private final AtomicInteger inFlight = new AtomicInteger();

  UpgradeChecks(Function<Principal, CompletableFuture<String>> check, int max) {
    this.check = check;
    this.max = max;
  }

  @Override
  public CompletableFuture<String> apply(Principal p) {
    if (!p.hasSession()) {
      return check.apply(p);
    }
    if (inFlight.incrementAndGet() > max) {
      inFlight.decrementAndGet();
      return CompletableFuture.failedFuture(
          new RejectedExecutionException(
              "this node has " + max + " upgrades waiting for the session store, its limit"));
    }
    CompletableFuture<String> answer;
    try {
      answer = check.apply(p);
    } catch (RuntimeException e) {
      answer = CompletableFuture.failedFuture(e);
    }
    return answer.whenComplete((problem, err) -> inFlight.decrementAndGet());
  }
}
