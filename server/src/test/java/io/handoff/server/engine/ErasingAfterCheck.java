package io.handoff.server.engine;

import io.handoff.server.devices.ForwardingSessionStore;
import io.handoff.server.devices.SessionStore;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * The engine under test, but once armed the next read of a device session's status, once read,
 * erases a user in full before the caller sees its answer: whatever the caller does next with the
 * session it found alive runs after the whole erasure.
 */
final class ErasingAfterCheck extends ForwardingEngine.OverOwnStores {
  private final AtomicReference<String> toErase = new AtomicReference<>();
  private final AtomicReference<String> toEraseAfterList = new AtomicReference<>();
  private final AtomicReference<Supplier<CompletableFuture<?>>> beforeErase =
      new AtomicReference<>();
  private final AtomicReference<Supplier<CompletableFuture<?>>> afterErase =
      new AtomicReference<>();
  private final AtomicReference<Supplier<CompletableFuture<?>>> beforeLastErase =
      new AtomicReference<>();
  private final AtomicInteger sessionPasses = new AtomicInteger();
  private volatile boolean erased;
  private final SessionStore sessions;

  ErasingAfterCheck(Engine real) {
    super(real);
    SessionStore s = real.sessions();
    this.sessions =
        new ForwardingSessionStore(s) {
          @Override
          public CompletableFuture<Status> status(
              String userId, String sessionId, long inactivityMillis) {
            return s.status(userId, sessionId, inactivityMillis)
                .thenCompose(
                    st -> {
                      String u = toErase.getAndSet(null);
                      if (u == null) {
                        return CompletableFuture.completedFuture(st);
                      }
                      return real.erase(u)
                          .thenApply(
                              v -> {
                                erased = true;
                                return st;
                              });
                    });
          }

          @Override
          public CompletableFuture<List<DeviceSession>> list(String userId, long inactivityMillis) {
            return s.list(userId, inactivityMillis)
                .thenCompose(
                    found -> {
                      String u = toEraseAfterList.getAndSet(null);
                      if (u == null) {
                        return CompletableFuture.completedFuture(found);
                      }
                      return real.erase(u)
                          .thenApply(
                              v -> {
                                erased = true;
                                return found;
                              });
                    });
          }

          @Override
          public CompletableFuture<Void> erase(String userId) {
            boolean last = sessionPasses.incrementAndGet() % 2 == 0;
            Supplier<CompletableFuture<?>> first =
                last ? beforeLastErase.getAndSet(null) : beforeErase.getAndSet(null);
            Supplier<CompletableFuture<?>> then = last ? null : afterErase.getAndSet(null);
            return (first == null ? CompletableFuture.completedFuture(null) : first.get())
                .thenCompose(v -> s.erase(userId))
                .thenCompose(
                    v ->
                        then == null
                            ? CompletableFuture.completedFuture(null)
                            : then.get().thenApply(x -> (Void) null));
          }
        };
  }

  /** The next listing of a user's device sessions, once read, erases {@code userId} in full. */
  void eraseAfterNextList(String userId) {
    toEraseAfterList.set(userId);
  }

  void eraseAfterNextCheck(String userId) {
    toErase.set(userId);
  }

  /** The next erasure of sessions waits for what {@code first} starts to end. */
  void beforeSessionsErased(Supplier<CompletableFuture<?>> first) {
    beforeErase.set(first);
  }

  /** The next erasure of sessions, once done, completes when what {@code then} starts ends. */
  void afterSessionsErased(Supplier<CompletableFuture<?>> then) {
    afterErase.set(then);
  }

  /**
   * The next erasure's second pass over the sessions (after its last pass over the sign-in
   * requests) waits for what {@code first} starts to end.
   */
  void beforeLastSessionsPass(Supplier<CompletableFuture<?>> first) {
    beforeLastErase.set(first);
  }

  boolean erased() {
    return erased;
  }

  @Override
  public SessionStore sessions() {
    return sessions;
  }

  // The test closes the engine under test.
  @Override
  public void close() {}
}
