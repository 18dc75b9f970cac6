package io.handoff.server.session;

import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.transport.Link;
import java.util.ArrayDeque;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import java.util.concurrent.atomic.AtomicLongFieldUpdater;
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater;
import org.jctools.queues.MpscChunkedArrayQueue;

/**
 * The one way out of a connection: every frame to the device (deltas, acks, snapshots, sync
 * reports, handoff frames, presence, token notices, answers, errors) goes through here, in order,
 * and what waits for a device that does not read counts against one bound of bytes and frames. A
 * device that does not read while pushes or answers keep coming is closed with SLOW_CONSUMER once
 * that passes {@code maxQueuedBytes} or {@code maxQueuedFrames}; it resumes later.
 *
 * <p>Two queues, one bound:
 *
 * <ul>
 *   <li>document events from the broker's thread ({@link #offer}) wait in a lock-free MPSC queue
 *       until the event loop drains them into the session's {@code DocumentSession}, which turns
 *       each into a delta, an ack or nothing;
 *   <li>frames sent on the event loop ({@link #send}) are written at once while the socket takes
 *       them and nothing waits before them; otherwise they wait, in order, until the socket is
 *       writable again. Pushes the device did not ask for (handoff prompts, activity and presence
 *       updates, token notices) and answers to its requests count toward the bound (their bytes,
 *       and one frame each) while they wait: a request read before the socket filled (several can
 *       come in one read) or answered by the store after it filled adds its answer to what waits.
 *       The frames of a document sync (a resume's, a Follow's or Resync's snapshots and deltas) do
 *       not: their size is the user's documents', which may be more than the bound, and the device
 *       asked for them once.
 * </ul>
 *
 * <p>Delivery: an event offered on the connection's own event loop (the writer's loop, with the
 * memory engine) while nothing waits before it is delivered at once, without a task; otherwise the
 * outbox asks its loop's {@link LoopDrainer} for a drain, one task per loop for all its outboxes.
 * Either way the writes are flushed once, when the loop's drain task runs.
 *
 * <p>The node's {@link QueueBudget} sees every byte counted here, and every frame held for the
 * socket (answers too); it watches this outbox once it is backed up and may close it ({@link
 * #evict}).
 *
 * <p>Threads: {@link #offer} on any thread (never blocks, allocates the queue on first use); {@link
 * #evict} and the budget's reads on the budget's timer; everything else on the connection's event
 * loop.
 */
final class Outbox implements QueueBudget.Member {
  private static final int DRAIN_BATCH = 512;
  // The cost of an event that becomes this device's own ack instead of a delta.
  private static final int ACK_COST = 64;
  private static final byte LIVE = 1;
  private static final byte DELIVERING = 2;
  private static final AtomicLongFieldUpdater<Backlog> QUEUED_BYTES =
      AtomicLongFieldUpdater.newUpdater(Backlog.class, "queuedBytes");
  private static final AtomicIntegerFieldUpdater<Outbox> DRAIN_SCHEDULED =
      AtomicIntegerFieldUpdater.newUpdater(Outbox.class, "drainScheduled");
  private static final AtomicIntegerFieldUpdater<Backlog> OVERFLOWED =
      AtomicIntegerFieldUpdater.newUpdater(Backlog.class, "overflowed");
  private static final AtomicIntegerFieldUpdater<Backlog> WATCHED =
      AtomicIntegerFieldUpdater.newUpdater(Backlog.class, "watched");
  private static final AtomicReferenceFieldUpdater<Outbox, Backlog> QUEUE =
      AtomicReferenceFieldUpdater.newUpdater(Outbox.class, Backlog.class, "queue");

  private final Shared node;
  private final Owner owner;
  private final Link link;
  private final LoopDrainer drainer;

  // ---- event loop only ----
  // LIVE: events flow to the device (goLive). DELIVERING: inside owner.deliver, where an event
  // offered meanwhile (a re-entrant write) waits in the queue. One byte for both, so that this
  // object stays at 40 bytes on a 64-bit JVM with compressed pointers (an idle connection holds
  // it).
  private byte flags;
  // Written outside a drain (delivered on offer) and not flushed yet; the drain task flushes it.
  private boolean unflushed;

  // ---- written by broker threads, read by the event loop ----
  // The queue of document events and what only a connection with something waiting needs (see
  // Backlog): made by the first event queued or frame held, so an idle connection holds none.
  private volatile Backlog queue;
  private volatile int drainScheduled;
  private volatile boolean dead;
  // Set by close(): the budget has forgotten this outbox, and a late watch() must not register it.
  private volatile boolean closed;

  /**
   * The document events waiting for the event loop, and beside them the counts and frames of a
   * connection that something waits for. Made once, on any thread (the first event queued, frame
   * held, or watch), and kept until the outbox closes.
   */
  private static final class Backlog extends MpscChunkedArrayQueue<DocumentEvent> {
    // ---- event loop only ----
    // Frames sent while the socket was full, and the count and bytes of the bounded ones.
    ArrayDeque<Waiting> waiting;
    int waitingFrames;
    long waitingBytes;
    // Every held frame's bytes, answers too: what the node's budget counts.
    volatile long heldBytes;
    // ---- any thread ----
    volatile long queuedBytes;
    volatile int overflowed;
    volatile int watched;
    volatile long watchedSince;

    Backlog(int maxFrames) {
      super(8, Math.max(16, maxFrames));
    }
  }

  /** This outbox's backlog, made now if it has none. Any thread. */
  private Backlog backlog() {
    Backlog q = queue;
    if (q == null) {
      q = new Backlog(node.config().maxQueuedFrames());
      if (!QUEUE.compareAndSet(this, null, q)) {
        q = queue;
      }
    }
    return q;
  }

  /** Whether no frame waits for the socket. Event loop. */
  boolean noneWaiting() {
    Backlog q = queue;
    return q == null || q.waiting == null;
  }

  /** What every outbox of a node shares. */
  record Shared(ServerConfig config, ServerStats stats, QueueBudget budget) {}

  /**
   * The session an outbox serves. Its methods are called on the event loop: {@link #deliver} takes
   * each document event off the queue, {@link #drained} runs after a drain wrote something (and was
   * flushed), {@link #slow} closes the connection as a slow consumer with the reason given. One
   * object instead of three callbacks: an idle connection carries no lambdas for them.
   */
  interface Owner {
    String deviceId();

    void deliver(DocumentEvent event);

    void drained();

    void slow(String reason);
  }

  Outbox(Shared node, Link link, LoopDrainer drainer, Owner owner) {
    this.node = node;
    this.owner = owner;
    this.link = link;
    this.drainer = drainer;
  }

  /**
   * Hands a document event to this connection. Called on the broker's thread; never blocks. Over
   * the bound, the connection is closed with SLOW_CONSUMER.
   */
  void offer(DocumentEvent event) {
    if (dead) {
      return;
    }
    Backlog q = queue;
    if (drainer.loop().inEventLoop()
        && (flags & (LIVE | DELIVERING)) == LIVE
        && (q == null || (q.waiting == null && q.isEmpty()))
        && link.isWritable()) {
      // On the connection's own loop with nothing before it: deliver now, flush with the loop's
      // drain task (no hop: a task submitted from the loop itself wakes nothing up).
      flags |= DELIVERING;
      try {
        owner.deliver(event);
      } finally {
        flags &= ~DELIVERING;
      }
      unflushed = true;
      scheduleDrain();
      return;
    }
    int size = cost(event);
    if (q == null) {
      // Allocated on the first push, so an idle connection holds no queue at all.
      q = backlog();
    }
    if (!q.offer(event)) {
      overflow();
      return;
    }
    long bytes = QUEUED_BYTES.addAndGet(q, size);
    node.budget().add(QueueBudget.EVENT_WEIGHT * size);
    if (dead) {
      release(); // Closed meanwhile: its clear() may have run before this add.
      return;
    }
    node.stats().maxQueuedBytes.accumulate(bytes);
    if (bytes > node.config().maxQueuedBytes()) {
      overflow();
      return;
    }
    if (bytes >= QueueBudget.WATCH_BYTES) {
      watch();
      if (bytes / QueueBudget.WATCH_BYTES != (bytes - size) / QueueBudget.WATCH_BYTES) {
        node.budget().nudge();
      }
    }
    scheduleDrain();
  }

  private void scheduleDrain() {
    if (DRAIN_SCHEDULED.compareAndSet(this, 0, 1)) {
      try {
        drainer.schedule(this);
      } catch (RejectedExecutionException stopped) {
        dead = true; // The node's event loops are gone (an aborted node): nothing to deliver to.
      }
    }
  }

  /** Bytes an event will cost this device: the delta, or just an ack for its own write. */
  private int cost(DocumentEvent e) {
    return e.isFrom(owner.deviceId()) ? ACK_COST : e.sizeBytes();
  }

  /**
   * Sends {@code frame} to the device, behind everything before it. A {@code bounded} frame (a
   * push, an answer) counts toward the slow-consumer bound while it waits; a frame of a document
   * sync does not (see the class). Event loop.
   */
  void send(ServerFrame frame, boolean bounded) {
    if (noneWaiting() && link.isWritable()) {
      link.write(frame);
    } else {
      hold(frame, bounded ? frame.getSerializedSize() : 0);
    }
  }

  /**
   * Sends an encoded ServerFrame (an ack, or a delta encoded once for every device), as {@link
   * #send} does. The codec copies it into the connection's pooled buffer with its WebSocket header.
   */
  void sendEncoded(byte[] frame, boolean bounded) {
    if (noneWaiting() && link.isWritable()) {
      link.write(frame);
    } else {
      hold(frame, bounded ? frame.length : 0);
    }
  }

  private void hold(Object frame, int bytes) {
    if (dead) {
      return;
    }
    Backlog q = backlog();
    if (q.waiting == null) {
      q.waiting = new ArrayDeque<>();
    }
    int size = frame instanceof byte[] b ? b.length : ((ServerFrame) frame).getSerializedSize();
    q.waiting.add(new Waiting(frame, bytes, size));
    if (bytes > 0) {
      q.waitingFrames++;
    }
    q.waitingBytes += bytes;
    q.heldBytes += size;
    node.budget().add(size);
    watch();
    long total = q.waitingBytes + q.queuedBytes;
    node.stats().maxQueuedBytes.accumulate(total);
    // Both bounds count the bounded frames held here with the document events still queued: many
    // small answers or pushes cost memory beyond their bytes, as many small events do.
    if (total > node.config().maxQueuedBytes()
        || q.waitingFrames + q.size() > node.config().maxQueuedFrames()) {
      overflow();
    }
  }

  /** Whether frames sent now would wait: some already wait, or the socket is full. Event loop. */
  boolean backedUp() {
    return !noneWaiting() || !link.isWritable();
  }

  /** Writes the frames that waited for the socket, while it takes them. Event loop. */
  private boolean writeWaiting() {
    Backlog q = queue;
    ArrayDeque<Waiting> w = q == null ? null : q.waiting;
    if (w == null) {
      return true;
    }
    Waiting f;
    long written = 0;
    while (link.isWritable() && (f = w.poll()) != null) {
      if (f.bytes > 0) {
        q.waitingFrames--;
      }
      q.waitingBytes -= f.bytes;
      written += f.size;
      link.write(f.frame);
    }
    q.heldBytes -= written;
    node.budget().add(-written);
    if (w.isEmpty()) {
      q.waiting = null;
      q.waitingFrames = 0;
      q.waitingBytes = 0;
      return true;
    }
    return false;
  }

  /**
   * The socket stopped taking writes. The node's budget watches this connection from now on, which
   * counts what waits in Netty's buffer: the frame that filled it may have been written at once (a
   * delta delivered on the writer's loop, a sync frame, an answer) and be the last one sent for a
   * while, with nothing held here to have the connection watched. Event loop.
   */
  void unwritable() {
    if (!dead) {
      watch();
    }
  }

  /** From now on document events flow to the device. Event loop. */
  void goLive() {
    flags |= LIVE;
    drain();
  }

  /** The socket takes writes again. Event loop. */
  void writable() {
    boolean wrote = !noneWaiting();
    boolean all = writeWaiting();
    if (wrote) {
      link.flush();
    }
    if (all && (flags & LIVE) != 0) {
      drain();
    }
  }

  /**
   * Processes queued events while the socket is writable, and flushes what this and earlier
   * deliveries wrote. Run by the loop's {@link LoopDrainer}. Event loop only.
   */
  void drain() {
    DRAIN_SCHEDULED.set(this, 0);
    boolean wrote = unflushed;
    unflushed = false;
    if ((flags & LIVE) == 0 || dead) {
      if (wrote) {
        link.flush();
      }
      return;
    }
    Backlog queue = this.queue;
    wrote |= !noneWaiting();
    if (!writeWaiting() || queue == null) {
      if (wrote) {
        link.flush();
        owner.drained();
      }
      return;
    }
    int n = 0;
    long drained = 0;
    DocumentEvent e;
    flags |= DELIVERING;
    try {
      while (n < DRAIN_BATCH && link.isWritable() && (e = queue.relaxedPoll()) != null) {
        int c = cost(e);
        drained += c;
        QUEUED_BYTES.addAndGet(queue, -c);
        owner.deliver(e);
        n++;
      }
    } finally {
      flags &= ~DELIVERING;
    }
    if (drained != 0) {
      node.budget().add(-QueueBudget.EVENT_WEIGHT * drained);
    }
    if (!link.isWritable()) {
      watch();
    }
    if (n > 0 || wrote) {
      link.flush();
      owner.drained();
    }
    if (n == DRAIN_BATCH && !queue.isEmpty()) {
      scheduleDrain(); // Let other channels of this event loop run first.
    }
  }

  private void overflow() {
    shed(node.stats().slowConsumerCloses, "outbound queue over its bound; resume later");
  }

  /**
   * Closes the connection as a slow consumer for the node's budget. The budget's timer; the close
   * itself runs on the event loop.
   */
  @Override
  public boolean evict() {
    return shed(
        node.stats().slowConsumerBudgetCloses,
        "this node's memory for queued pushes is full and this device reads the least; resume"
            + " later");
  }

  private boolean shed(java.util.concurrent.atomic.LongAdder counter, String reason) {
    dead = true;
    if (OVERFLOWED.compareAndSet(backlog(), 0, 1)) {
      counter.increment();
      Runnable close =
          () -> {
            clear();
            owner.slow(reason);
          };
      if (drainer.loop().inEventLoop()) {
        close.run();
      } else {
        try {
          drainer.loop().execute(close);
        } catch (RejectedExecutionException stopped) {
          // The node is gone, and the connection with it.
        }
      }
      return true;
    }
    return false;
  }

  /**
   * The connection is closing: takes no more events or frames, and reads as closing to the node's
   * budget, which no longer chooses it. What waits is dropped when it is closed ({@link #close}).
   * Event loop.
   */
  void stop() {
    dead = true;
  }

  /** Stops taking events and drops what waits. Any thread; the queues are cleared on the loop. */
  void close() {
    dead = true;
    closed = true;
    if (drainer.loop().inEventLoop()) {
      clear();
    }
    node.budget().forget(this);
  }

  private void clear() {
    Backlog q = queue;
    if (q != null) {
      q.clear();
      release();
      q.waiting = null;
      q.waitingFrames = 0;
      q.waitingBytes = 0;
      node.budget().add(-q.heldBytes);
      q.heldBytes = 0;
    }
  }

  /** Takes this outbox's queued bytes off its count and the node's. */
  private void release() {
    node.budget().add(-QueueBudget.EVENT_WEIGHT * QUEUED_BYTES.getAndSet(queue, 0));
  }

  private void watch() {
    Backlog q = backlog();
    if (q.watched == 0 && WATCHED.compareAndSet(q, 0, 1)) {
      q.watchedSince = System.nanoTime();
      node.budget().watch(this);
      if (closed) {
        node.budget().forget(this); // close() ran meanwhile, its forget() perhaps before the add.
      }
    }
  }

  /**
   * The budget's sweep read this outbox empty and stopped watching it. Bytes held or written to the
   * socket after that read called {@link #watch} while the flag was still set, which did nothing:
   * they are looked for again once the flag is clear (either their watch() sees it clear, or this
   * sees them). Budget's timer.
   */
  @Override
  public void unwatched() {
    Backlog q = queue;
    if (q != null) {
      q.watched = 0;
      if (!dead && outboxBytes() + socketBytes() > 0) {
        watch();
      }
    }
  }

  @Override
  public long outboxBytes() {
    Backlog q = queue;
    return q == null ? 0 : QueueBudget.EVENT_WEIGHT * q.queuedBytes + q.heldBytes;
  }

  @Override
  public long socketBytes() {
    return link.pendingOutboundBytes();
  }

  @Override
  public long watchedSinceNanos() {
    Backlog q = queue;
    return q == null ? 0 : q.watchedSince;
  }

  @Override
  public boolean closing() {
    return dead;
  }

  /**
   * A frame waiting for the socket: a ServerFrame or an encoded one, its bytes counted toward the
   * connection's bound (0 for a document sync's frames), and its size.
   */
  private record Waiting(Object frame, int bytes, int size) {}
}
