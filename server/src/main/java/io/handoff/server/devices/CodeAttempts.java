package io.handoff.server.devices;

import io.handoff.server.auth.Principal;
import io.handoff.server.util.AddressGroups;
import java.time.Clock;
import java.util.concurrent.CompletableFuture;

/**
 * The limits on looking user codes up: wrong codes per user and per address group, in windows the
 * store keeps (so across nodes). An attempt is counted before its lookup and taken back when the
 * code was right. Thread-safe; every method returns at once.
 */
final class CodeAttempts {
  private final ApprovalConfig config;
  private final DeviceSessions sessions;
  private final ApprovalStore store;
  private final ApprovalMetrics metrics;
  private final Clock clock;

  CodeAttempts(
      ApprovalConfig config,
      DeviceSessions sessions,
      ApprovalStore store,
      ApprovalMetrics metrics,
      Clock clock) {
    this.config = config;
    this.sessions = sessions;
    this.store = store;
    this.metrics = metrics;
    this.clock = clock;
  }

  /**
   * Completes when {@code p} may look a code up, its attempt counted as wrong in the user's and the
   * address's scope until {@link #forgive} takes it back (a right code, or a refusal here); else
   * fails with the reason. Counting before the lookup, atomically in the store, is what holds the
   * limits against attempts made at once: each sees its own count, so at most the limit of them
   * look anything up, on any number of nodes.
   */
  CompletableFuture<Void> allowed(Principal p, String address) {
    return alive(p)
        .thenCompose(
            v -> {
              long now = clock.millis();
              long window = config.attemptWindow().toMillis();
              return store
                  .failBySession(p.userId(), p.sessionId(), window, now)
                  .thenCombine(
                      store.fail(addressScope(address), window, now),
                      (byUser, byAddress) -> {
                        if (byUser == ApprovalStore.ERASING) {
                          // The session is alive, but an erasure of the user is under way (or its
                          // mark outlived it, for at most ApprovalStore.ERASING_MILLIS).
                          store.forgive(addressScope(address), now);
                          throw new ApiException(
                              503,
                              "unavailable",
                              "this user's data is being erased; try again in a moment",
                              1);
                        }
                        if (byUser < 0) {
                          // The session went (erased, revoked) after the check above, or the user
                          // is being erased: nothing was counted for the user.
                          store.forgive(addressScope(address), now);
                          throw new ApiException(
                              401,
                              "invalid_token",
                              "the device session does not exist (expired or erased)");
                        }
                        if (byUser > config.maxFailedAttemptsPerUser()
                            || byAddress > config.maxFailedAttemptsPerAddress()) {
                          forgive(p, address);
                          metrics.attemptsRefused.increment();
                          throw new ApiException(
                              429,
                              "too_many_attempts",
                              "too many wrong user codes; try again within "
                                  + config.attemptWindow().toMinutes()
                                  + " minutes");
                        }
                        return null;
                      });
            });
  }

  /**
   * Completes when {@code p}'s device session is alive (a revoked device cannot look anything up or
   * answer), else fails 401; counts nothing.
   */
  CompletableFuture<Void> alive(Principal p) {
    return sessions
        .check(p)
        .thenApply(
            problem -> {
              if (problem != null) {
                throw new ApiException(401, "invalid_token", problem);
              }
              return null;
            });
  }

  /** Takes back the attempt {@link #allowed} counted. Fire and forget: a loss only errs strict. */
  void forgive(Principal p, String address) {
    long now = clock.millis();
    store.forgive(userScope(p), now);
    store.forgive(addressScope(address), now);
  }

  static <T> CompletableFuture<T> wrongCode() {
    return CompletableFuture.failedFuture(
        new ApiException(
            404,
            "unknown_code",
            "no pending sign-in with this code or approval id for your account; check the code"
                + " the device shows, or the approval_id of the prompt"));
  }

  private static String userScope(Principal p) {
    return ApprovalStore.userScope(p.userId());
  }

  private static String addressScope(String address) {
    return "a:" + AddressGroups.of(address);
  }
}
