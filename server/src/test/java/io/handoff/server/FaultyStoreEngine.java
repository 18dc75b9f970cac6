package io.handoff.server;

import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Write;
import io.handoff.server.devices.SessionStore;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.FollowFilter;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The in-memory engine with a document store whose writes can be made to fail, as they do when the
 * real store is down ({@link Fault#UNREACHABLE}: nothing applied) or answers too late ({@link
 * Fault#ANSWER_LOST}: applied, but the node hears a failure). Everything else is the real memory
 * engine, so what the store applied (its broker's events) is the ground truth of a test.
 */
final class FaultyStoreEngine implements Engine {
  /** What the store does with the next writes. */
  enum Fault {
    /** Fails the write before applying it. */
    UNREACHABLE,
    /** Applies the write, then fails the answer (a timeout after the command ran). */
    ANSWER_LOST
  }

  final MemoryEngine memory = new MemoryEngine(StoreLimits.builder().build());
  final Signal signal = new Signal();
  private final AtomicInteger faultsLeft = new AtomicInteger();
  private final AtomicInteger faulted = new AtomicInteger();
  private volatile Fault fault = Fault.UNREACHABLE;
  private final FaultyStore store = new FaultyStore();

  /** The next {@code writes} writes meet {@code fault}; 0 ends the fault. */
  void failNext(int writes, Fault fault) {
    this.fault = fault;
    faultsLeft.set(writes);
  }

  /** How many writes met a fault so far. */
  int faulted() {
    return faulted.get();
  }

  @Override
  public DocumentStore store() {
    return store;
  }

  @Override
  public Broker broker() {
    return memory.broker();
  }

  @Override
  public SessionStore sessions() {
    return memory.sessions();
  }

  @Override
  public HandoffStore handoff() {
    return memory.handoff();
  }

  @Override
  public io.handoff.server.devices.ApprovalStore approvals() {
    return memory.approvals();
  }

  @Override
  public String name() {
    return "faulty-memory";
  }

  @Override
  public String durability() {
    return memory.durability();
  }

  @Override
  public void close() {
    memory.close();
  }

  private final class FaultyStore implements DocumentStore {
    private final DocumentStore real = memory.store();

    @Override
    public CompletableFuture<WriteOutcome> write(String userId, String deviceId, Write write) {
      if (faultsLeft.getAndUpdate(n -> Math.max(0, n - 1)) <= 0) {
        return real.write(userId, deviceId, write);
      }
      Fault f = fault;
      CompletableFuture<WriteOutcome> failed =
          CompletableFuture.failedFuture(new IllegalStateException("store fault " + f));
      CompletableFuture<WriteOutcome> result =
          f == Fault.UNREACHABLE
              ? failed
              : real.write(userId, deviceId, write).thenCompose(applied -> failed);
      return result.whenComplete(
          (ok, err) -> {
            faulted.incrementAndGet();
            signal.fire();
          });
    }

    @Override
    public CompletableFuture<SyncResult> read(
        String userId, String document, long epoch, long version, long fingerprint) {
      return real.read(userId, document, epoch, version, fingerprint);
    }

    @Override
    public CompletableFuture<List<SyncResult>> sync(
        String userId, FollowFilter filter, Collection<Position> positions) {
      return real.sync(userId, filter, positions);
    }

    @Override
    public CompletableFuture<Set<String>> documents(String userId) {
      return real.documents(userId);
    }

    @Override
    public CompletableFuture<Long> lastClientSeq(String userId, String deviceId) {
      return real.lastClientSeq(userId, deviceId);
    }

    @Override
    public CompletableFuture<Void> erase(String userId) {
      return real.erase(userId);
    }

    @Override
    public CompletableFuture<Void> sweep(java.time.Instant now) {
      return real.sweep(now);
    }

    @Override
    public void close() {
      real.close();
    }
  }
}
