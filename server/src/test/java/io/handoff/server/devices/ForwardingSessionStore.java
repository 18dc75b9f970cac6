package io.handoff.server.devices;

import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * A session store that forwards every call to another, for the tests' stores that change a few of
 * its calls: a subclass overrides only what it changes, as Guava's {@code Forwarding*} classes do.
 * {@link SessionStore}'s shorthands (the calls without an inactivity limit, or without a sealed
 * token) are not forwarded: they reach the full calls here, overridden or not.
 */
public abstract class ForwardingSessionStore implements SessionStore {
  private final SessionStore delegate;

  protected ForwardingSessionStore(SessionStore delegate) {
    this.delegate = Objects.requireNonNull(delegate);
  }

  /** The store every call not overridden goes to. */
  protected final SessionStore delegate() {
    return delegate;
  }

  @Override
  public CompletableFuture<Created> create(
      String userId,
      String sessionId,
      String deviceId,
      String name,
      String platform,
      byte[] refreshHash,
      long inactivityMillis) {
    return delegate.create(
        userId, sessionId, deviceId, name, platform, refreshHash, inactivityMillis);
  }

  @Override
  public CompletableFuture<Rotation> rotate(
      String userId,
      String sessionId,
      byte[] presentedHash,
      byte[] newHash,
      byte[] sealedNew,
      long inactivityMillis,
      long reuseIntervalMillis) {
    return delegate.rotate(
        userId,
        sessionId,
        presentedHash,
        newHash,
        sealedNew,
        inactivityMillis,
        reuseIntervalMillis);
  }

  @Override
  public CompletableFuture<Status> status(String userId, String sessionId, long inactivityMillis) {
    return delegate.status(userId, sessionId, inactivityMillis);
  }

  @Override
  public CompletableFuture<Void> seen(
      String userId, String sessionId, String node, boolean connected) {
    return delegate.seen(userId, sessionId, node, connected);
  }

  @Override
  public CompletableFuture<List<DeviceSession>> list(String userId, long inactivityMillis) {
    return delegate.list(userId, inactivityMillis);
  }

  @Override
  public CompletableFuture<List<String>> revoke(String userId, String deviceId, boolean allOthers) {
    return delegate.revoke(userId, deviceId, allOthers);
  }

  @Override
  public CompletableFuture<Void> erase(String userId) {
    return delegate.erase(userId);
  }

  @Override
  public CompletableFuture<Void> sweep(Instant now) {
    return delegate.sweep(now);
  }
}
