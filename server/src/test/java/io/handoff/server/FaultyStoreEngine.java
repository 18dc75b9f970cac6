package io.handoff.server;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.Write;
import io.handoff.server.engine.ForwardingEngine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryDocumentStore;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.ForwardingDocumentStore;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import java.time.Clock;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The in-memory engine with a document store whose writes can be made to fail, as they do when the
 * real store is down ({@link Fault#UNREACHABLE}: nothing applied) or answers too late ({@link
 * Fault#ANSWER_LOST}: applied, but the node hears a failure). Everything else is the real memory
 * engine, so what the store applied (its broker's events) is the ground truth of a test.
 *
 * <p>The event of a write whose answer is lost reaches the broker from another thread, as a network
 * store's publish does: the node hears the failed answer first, as it would from Redis. (The memory
 * store alone publishes on the writer's thread, so the writer would get its ack from the stream at
 * once and never see the failure.)
 */
final class FaultyStoreEngine extends ForwardingEngine.OverOwnStores {
  /** What the store does with the next writes. */
  enum Fault {
    /** Fails the write before applying it. */
    UNREACHABLE,
    /** Applies the write, then fails the answer (a timeout after the command ran). */
    ANSWER_LOST,
    /**
     * Pushes a copy of the write onto the stream without applying it, and holds the answer until
     * {@link #loseHeldAnswer()}: Redis killed after it ran the write and pushed its copy down
     * another connection, before its append-only file held it (it fsyncs before it answers the
     * connection that sent the command, not before it writes to subscribers).
     */
    COPY_THEN_LOST,
    /**
     * Applies the write (its copy reaches the stream at once) and holds the store's answer until
     * {@link #releaseHeldAnswers()}: Redis whose answer comes after the copy, as on another
     * connection than the subscription's (Redis Cluster).
     */
    ANSWER_HELD,
    /**
     * Applies the write and answers it applied, but its copy never reaches the stream and the store
     * then loses it: without durable acks, a failover to a replica that had not seen it, after the
     * answer and before any subscriber got the copy.
     */
    APPLIED_THEN_LOST
  }

  // Opened by the test: the answers of ANSWER_HELD writes wait for it.
  private final CompletableFuture<Void> answerGate = new CompletableFuture<>();
  private final AtomicInteger answersHeld = new AtomicInteger();

  /** Lets the answers held by {@link Fault#ANSWER_HELD} (and later ones) through. */
  void releaseHeldAnswers() {
    answerGate.complete(null);
  }

  /** How many writes applied under {@link Fault#ANSWER_HELD} so far. */
  int answersHeld() {
    return answersHeld.get();
  }

  // The answer of the last COPY_THEN_LOST write, until the test loses it.
  private final CompletableFuture<WriteOutcome> heldAnswer = new CompletableFuture<>();
  private volatile boolean heldCopyPushed;

  /** Whether the copy of the {@link Fault#COPY_THEN_LOST} write is on the stream. */
  boolean heldCopyPushed() {
    return heldCopyPushed;
  }

  /** Fails the answer held by {@link Fault#COPY_THEN_LOST} as a lost connection would. */
  void loseHeldAnswer() {
    heldAnswer.completeExceptionally(
        new io.handoff.server.sync.OutcomeUnknownException(
            "connection to the store lost after sending", null));
  }

  final MemoryEngine memory;
  // True on the thread of a write whose answer is lost, while the store applies it.
  private final ThreadLocal<Boolean> answerLost = ThreadLocal.withInitial(() -> false);
  // True on the thread of a write whose copy is lost, while the store applies it.
  private final ThreadLocal<Boolean> copyLost = ThreadLocal.withInitial(() -> false);
  private final ExecutorService publisher = Executors.newSingleThreadExecutor();
  private final MemoryDocumentStore applying =
      new MemoryDocumentStore(StoreLimits.builder().build(), new Publisher(), Clock.systemUTC());
  final Signal signal = new Signal();
  private final AtomicInteger faultsLeft = new AtomicInteger();
  private final AtomicInteger faulted = new AtomicInteger();
  private final AtomicInteger reads = new AtomicInteger();
  private volatile Fault fault = Fault.UNREACHABLE;
  private final FaultyStore store = new FaultyStore();

  FaultyStoreEngine() {
    this(new MemoryEngine(StoreLimits.builder().build()));
  }

  private FaultyStoreEngine(MemoryEngine memory) {
    super(memory);
    this.memory = memory;
  }

  /** The next {@code writes} writes meet {@code fault}; 0 ends the fault. */
  void failNext(int writes, Fault fault) {
    this.fault = fault;
    faultsLeft.set(writes);
  }

  /** What the store holds of {@code userId} now, for {@link #restore}. */
  Object backup(String userId) {
    return applying.backup(userId);
  }

  /**
   * Puts a {@link #backup} of {@code userId} back, without telling anyone: a failover to a replica
   * that had not seen the later writes.
   */
  void restore(String userId, Object backup) {
    applying.restore(userId, backup);
  }

  /** How many document reads the nodes made so far. */
  int reads() {
    return reads.get();
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
  public String name() {
    return "faulty-memory";
  }

  @Override
  public void close() {
    publisher.shutdownNow();
    super.close();
  }

  /** The memory broker, reached from another thread for the writes whose answer is lost. */
  private final class Publisher implements Broker {
    @Override
    public Subscription subscribe(String userId, Listener listener) {
      return memory.broker().subscribe(userId, listener);
    }

    @Override
    public void publish(DocumentEvent event) {
      if (copyLost.get()) {
        return;
      }
      if (answerLost.get()) {
        publisher.execute(() -> memory.broker().publish(event));
      } else {
        memory.broker().publish(event);
      }
    }

    @Override
    public CompletableFuture<?> signal(String userId, UserSignal signal) {
      return memory.broker().signal(userId, signal);
    }

    @Override
    public void close() {}
  }

  private final class FaultyStore extends ForwardingDocumentStore {
    FaultyStore() {
      super(applying);
    }

    @Override
    public CompletableFuture<WriteOutcome> write(String userId, String deviceId, Write write) {
      if (faultsLeft.getAndUpdate(n -> Math.max(0, n - 1)) <= 0) {
        return delegate().write(userId, deviceId, write);
      }
      Fault f = fault;
      CompletableFuture<WriteOutcome> failed =
          CompletableFuture.failedFuture(new IllegalStateException("store fault " + f));
      CompletableFuture<WriteOutcome> result = failed;
      if (f == Fault.COPY_THEN_LOST) {
        result =
            delegate()
                .read(userId, write.getDocument(), 0, 0, 0)
                .thenCompose(
                    now -> {
                      memory
                          .broker()
                          .publish(
                              DocumentEvent.accepted(
                                  userId,
                                  write.getDocument(),
                                  write.getOpsList(),
                                  deviceId,
                                  write.getClientSeq(),
                                  System.currentTimeMillis(),
                                  now.epoch(),
                                  now.toVersion() + 1,
                                  now.fingerprint()));
                      heldCopyPushed = true;
                      signal.fire();
                      return heldAnswer;
                    });
      }
      if (f == Fault.ANSWER_HELD) {
        return delegate()
            .write(userId, deviceId, write)
            .thenCompose(
                applied -> {
                  answersHeld.incrementAndGet();
                  signal.fire();
                  return answerGate.thenApply(open -> applied);
                });
      }
      if (f == Fault.APPLIED_THEN_LOST) {
        Object before = applying.backup(userId);
        copyLost.set(true);
        try {
          result =
              delegate()
                  .write(userId, deviceId, write)
                  .thenApply(
                      applied -> {
                        applying.restore(userId, before);
                        return applied;
                      });
        } finally {
          copyLost.set(false);
        }
      }
      if (f == Fault.ANSWER_LOST) {
        answerLost.set(true);
        try {
          result = delegate().write(userId, deviceId, write).thenCompose(applied -> failed);
        } finally {
          answerLost.set(false);
        }
      }
      return result.whenComplete(
          (ok, err) -> {
            faulted.incrementAndGet();
            signal.fire();
          });
    }

    @Override
    public CompletableFuture<SyncResult> read(
        String userId, String document, long epoch, long version, long fingerprint) {
      reads.incrementAndGet();
      return delegate().read(userId, document, epoch, version, fingerprint);
    }
  }
}
