package io.handoff.server.engine;

import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.devices.SessionStore;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentStore;
import io.netty.channel.EventLoopGroup;
import java.time.Instant;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * An engine that forwards every call to another, for the tests' engines that change a few of its
 * calls: a subclass overrides only what it changes, as Guava's {@code Forwarding*} classes do.
 *
 * <p>As those, it forwards every call as it is: {@link #erase}, {@link #sweep} and {@link #resume}
 * reach the delegate's own, which use the delegate's stores. An engine that replaces a store and
 * wants these calls to go through it extends {@link OverOwnStores}, or overrides them with {@link
 * #standardErase}, {@link #standardSweep} and {@link #standardResume}: {@link Engine}'s own ways,
 * over this engine's stores. The one call not forwarded is {@code claimNode(nodeId)}, {@link
 * Engine}'s shorthand for {@link #claimNode(String, Consumer)}: it reaches that one here,
 * overridden or not.
 */
public abstract class ForwardingEngine implements Engine {
  private final Engine delegate;

  protected ForwardingEngine(Engine delegate) {
    this.delegate = Objects.requireNonNull(delegate);
  }

  /** The engine every call not overridden goes to. */
  protected final Engine delegate() {
    return delegate;
  }

  @Override
  public DocumentStore store() {
    return delegate.store();
  }

  @Override
  public Broker broker() {
    return delegate.broker();
  }

  @Override
  public SessionStore sessions() {
    return delegate.sessions();
  }

  @Override
  public HandoffStore handoff() {
    return delegate.handoff();
  }

  @Override
  public ApprovalStore approvals() {
    return delegate.approvals();
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
  public CompletableFuture<Resumed> resume(Request request) {
    return delegate.resume(request);
  }

  @Override
  public Object shardOf(String userId) {
    return delegate.shardOf(userId);
  }

  @Override
  public boolean hasShard(Object shard) {
    return delegate.hasShard(shard);
  }

  /** {@link Engine#erase} as the interface does it, over this engine's stores. */
  protected final CompletableFuture<Void> standardErase(String userId) {
    return Engine.super.erase(userId);
  }

  /** {@link Engine#sweep} as the interface does it, over this engine's stores. */
  protected final CompletableFuture<Void> standardSweep(Instant now) {
    return Engine.super.sweep(now);
  }

  /** {@link Engine#resume} as the interface does it: the separate calls of this engine's stores. */
  protected final CompletableFuture<Resumed> standardResume(Request request) {
    return Engine.super.resume(request);
  }

  @Override
  public String name() {
    return delegate.name();
  }

  @Override
  public String durability() {
    return delegate.durability();
  }

  @Override
  public LoopBinding bindLoops(EventLoopGroup loops, String transport) {
    return delegate.bindLoops(loops, transport);
  }

  @Override
  public LoopBinding ownThreads() {
    return delegate.ownThreads();
  }

  @Override
  public Runnable claimNode(String nodeId, Consumer<NodeIdInUseException> taken)
      throws InterruptedException {
    return delegate.claimNode(nodeId, taken);
  }

  @Override
  public boolean holdsNode(String nodeId) {
    return delegate.holdsNode(nodeId);
  }

  @Override
  public boolean confirmsNode(String nodeId) {
    return delegate.confirmsNode(nodeId);
  }

  @Override
  public boolean healthy() {
    return delegate.healthy();
  }

  @Override
  public long storeResets() {
    return delegate.storeResets();
  }

  @Override
  public void close() {
    delegate.close();
  }

  /**
   * A forwarding engine that replaces some of the delegate's stores: {@link #erase}, {@link #sweep}
   * and {@link #resume} are {@link Engine}'s own ways over this engine's stores, so they go through
   * the replaced ones (the delegate's own resume, one call to its store, would not).
   */
  public abstract static class OverOwnStores extends ForwardingEngine {
    protected OverOwnStores(Engine delegate) {
      super(delegate);
    }

    @Override
    public CompletableFuture<Void> erase(String userId) {
      return standardErase(userId);
    }

    @Override
    public CompletableFuture<Void> sweep(Instant now) {
      return standardSweep(now);
    }

    @Override
    public CompletableFuture<Resumed> resume(Request request) {
      return standardResume(request);
    }
  }
}
