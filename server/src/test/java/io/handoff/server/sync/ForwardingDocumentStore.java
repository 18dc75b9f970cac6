package io.handoff.server.sync;

import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Write;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * A document store that forwards every call to another, for the tests' stores that change a few of
 * its calls: a subclass overrides only what it changes, as Guava's {@code Forwarding*} classes do.
 * {@link DocumentStore}'s shorthand {@code read} without a fingerprint is not forwarded: it reaches
 * the full {@code read} here, overridden or not.
 */
public abstract class ForwardingDocumentStore implements DocumentStore {
  private final DocumentStore delegate;

  protected ForwardingDocumentStore(DocumentStore delegate) {
    this.delegate = Objects.requireNonNull(delegate);
  }

  /** The store every call not overridden goes to. */
  protected final DocumentStore delegate() {
    return delegate;
  }

  @Override
  public CompletableFuture<WriteOutcome> write(String userId, String deviceId, Write write) {
    return delegate.write(userId, deviceId, write);
  }

  @Override
  public CompletableFuture<SyncResult> read(
      String userId, String document, long epoch, long version, long fingerprint) {
    return delegate.read(userId, document, epoch, version, fingerprint);
  }

  @Override
  public CompletableFuture<List<SyncResult>> sync(
      String userId, FollowFilter filter, Collection<Position> positions) {
    return delegate.sync(userId, filter, positions);
  }

  @Override
  public CompletableFuture<Set<String>> documents(String userId) {
    return delegate.documents(userId);
  }

  @Override
  public CompletableFuture<Long> lastClientSeq(String userId, String deviceId) {
    return delegate.lastClientSeq(userId, deviceId);
  }

  @Override
  public CompletableFuture<Void> erase(String userId) {
    return delegate.erase(userId);
  }

  @Override
  public CompletableFuture<Void> sweep(Instant now) {
    return delegate.sweep(now);
  }

  @Override
  public void close() {
    delegate.close();
  }
}
