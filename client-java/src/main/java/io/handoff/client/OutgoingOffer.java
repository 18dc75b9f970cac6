package io.handoff.client;

import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferResult;
import java.util.concurrent.CompletableFuture;

/**
 * An offer this client made. {@link #created()} completes when the server made it live (or fails
 * with the server's error); {@link #result()} completes once when it ends: accepted (with the
 * device that took it), declined, cancelled or expired. If the offer ends while this client is
 * disconnected, the result comes with the next Welcome (within ten minutes of the end). An offer
 * whose result has not come ten seconds after its expiry is forgotten: {@link #result()} fails then
 * with {@code OUTCOME_UNKNOWN}, not retryable, saying the offer ended but not how. Futures complete
 * on the client's event loop. Thread-safe.
 */
public final class OutgoingOffer {
  private final HandoffCalls calls;
  final CompletableFuture<Offer> created = new CompletableFuture<>();
  final CompletableFuture<OfferResult> result = new CompletableFuture<>();

  OutgoingOffer(HandoffCalls calls) {
    this.calls = calls;
  }

  public CompletableFuture<Offer> created() {
    return created;
  }

  public CompletableFuture<OfferResult> result() {
    return result;
  }

  /** Withdraws the offer from its targets; completes with the CANCELLED result. */
  public CompletableFuture<OfferResult> cancel() {
    return created.thenCompose(o -> calls.cancel(o.getOfferId()));
  }
}
