package io.handoff.client;

import io.handoff.client.internal.FrameChannel;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Every write the application submitted and that is neither acked nor given up on: when it is sent,
 * re-sent and given up on. Event loop only (see {@link SyncEngine}).
 *
 * <p>Order: each document has a lane, its writes in the order the device made them. Only the head
 * of a lane is ever numbered or sent; the next write of the document waits until the head is acked
 * or given up on (docs/decisions.md: "one write in flight per document"). So a re-sent write can
 * never land after a newer write of the same document, whatever the server, the store or the
 * network do. Writes of different documents go out side by side, up to the in-flight window.
 *
 * <p>Outcomes: an Ack (or the Delta of the write itself) settles a write. A write whose fate is
 * unknown (the connection ended before its answer, or {@code OUTCOME_UNKNOWN}) or that was
 * certainly not applied but may be later ({@code UNAVAILABLE}, {@code RATE_LIMITED}, {@code
 * TOO_MANY_IN_FLIGHT}, or any other error the server marks retryable, except {@code INTERNAL}) is
 * sent again with its original client_seq: after a backoff on the same connection, at once on the
 * next. Writes are given up on, and their futures failed, only for a refusal that re-sending cannot
 * change, a terminal close, the client's close, or the memory bound: a new write that would take
 * the bytes held past {@code maxUnackedWriteBytes} fails at once, unsent.
 */
final class WriteQueue {
  /**
   * Bytes counted for each write on top of its encoded document name and operations: the objects
   * that hold it (future, frame, lane entry). Keeps many tiny writes within the bound too.
   */
  static final int PER_WRITE_OVERHEAD_BYTES = 256;

  // Heads ready to go: those re-sent with their original number first, in number order, then new
  // ones in the order they were made.
  private static final Comparator<PendingWrite> SEND_ORDER =
      Comparator.comparing((PendingWrite w) -> w.seq == 0)
          .thenComparingLong(w -> w.seq)
          .thenComparingLong(w -> w.order);

  private final ClientConfig config;
  private final Scheduler scheduler;
  private final Backoff backoff;
  private final long unavailableMaxNanos;

  private final Map<Document, ArrayDeque<PendingWrite>> lanes = new LinkedHashMap<>();
  private final PriorityQueue<PendingWrite> ready = new PriorityQueue<>(SEND_ORDER);
  // Numbered heads by client_seq, to match acks, deltas and errors.
  private final Map<Long, PendingWrite> numbered = new HashMap<>();
  private FrameChannel channel;
  // The last client_seq handed out (or the server's last_client_seq, if higher).
  private long nextSeq;
  private long made;
  // Reserved on the app's thread when a write is submitted (before its hop onto the event loop,
  // whose task queue has no bound of its own), given back on the loop when it is settled.
  private final AtomicLong heldBytes = new AtomicLong();
  private int inFlight;
  private int window;
  private int maxFrameBytes;
  // A write the server keeps calling stale under new numbers is given up on after this many.
  static final int MAX_RENUMBERS = 4;

  private volatile long resent;
  private volatile long renumbered;

  WriteQueue(ClientConfig config, Scheduler scheduler, Backoff backoff) {
    this.config = config;
    this.scheduler = scheduler;
    this.backoff = backoff;
    this.unavailableMaxNanos =
        Math.min(config.unavailableBackoffMax.toNanos(), config.reconnectMax.toNanos());
    this.window = config.maxInFlightWrites;
  }

  /** How many times a write was sent again with its original number. Any thread. */
  long resent() {
    return resent;
  }

  /**
   * How many writes got a new number because the server had forgotten their old one, under which it
   * had certainly applied nothing. Any thread.
   */
  long renumbered() {
    return renumbered;
  }

  /** Bytes held by writes not yet acked or given up on, as counted against the bound. */
  long heldBytes() {
    return heldBytes.get();
  }

  /**
   * Counts a new write's bytes against the bound, or fails it at once if they would take the bytes
   * held past it. Any thread: called before the write hops onto the event loop, so writes waiting
   * for the loop count too; a reserved write is then {@link #submit submitted} or {@link #unreserve
   * given back}.
   */
  boolean reserve(PendingWrite w) {
    long bound = config.maxUnackedWriteBytes;
    long held;
    do {
      held = heldBytes.get();
      if (held + w.bytes > bound) {
        w.done = true;
        w.future.completeExceptionally(
            HandoffException.limit(
                w.document.name(),
                "write to '"
                    + w.document.name()
                    + "' refused and not sent: "
                    + held
                    + " bytes of earlier writes are waiting for their acks and this one needs "
                    + w.bytes
                    + " (maxUnackedWriteBytes="
                    + bound
                    + ")"));
        return false;
      }
    } while (!heldBytes.compareAndSet(held, held + w.bytes));
    return true;
  }

  /** Gives back the bytes of a {@link #reserve reserved} write that will not be submitted. */
  void unreserve(PendingWrite w) {
    heldBytes.addAndGet(-w.bytes);
  }

  /** Takes a new write, {@link #reserve reserved} first. Event loop. */
  void submit(PendingWrite w) {
    w.order = ++made;
    ArrayDeque<PendingWrite> lane = lanes.computeIfAbsent(w.document, d -> new ArrayDeque<>());
    lane.add(w);
    if (lane.size() == 1) {
      ready.add(w);
    }
  }

  /**
   * A Welcome arrived on {@code channel}: numbered writes go out again first (same numbers, in
   * number order), then new ones, numbered above {@code lastClientSeq}.
   */
  void connected(FrameChannel channel, long lastClientSeq, int serverWindow, int maxFrameBytes) {
    this.channel = channel;
    this.nextSeq = Math.max(nextSeq, lastClientSeq);
    this.window =
        serverWindow > 0
            ? Math.min(config.maxInFlightWrites, serverWindow)
            : config.maxInFlightWrites;
    this.maxFrameBytes = maxFrameBytes;
    inFlight = 0;
    ready.clear();
    for (ArrayDeque<PendingWrite> lane : lanes.values()) {
      PendingWrite head = lane.peek();
      head.cancelRetry();
      head.sent = false;
      ready.add(head);
    }
  }

  /** The connection ended: nothing is in flight any more; every write stays. */
  void disconnected() {
    channel = null;
    inFlight = 0;
    for (ArrayDeque<PendingWrite> lane : lanes.values()) {
      PendingWrite head = lane.peek();
      head.uncertain |= head.sent; // its answer, whatever it was, is lost
      head.sent = false;
      head.cancelRetry();
    }
  }

  /** Sends what the in-flight window allows; one flush for the lot. */
  void pump() {
    FrameChannel ch = channel;
    if (ch == null) {
      return;
    }
    boolean wrote = false;
    while (channel == ch && inFlight < window && !ready.isEmpty()) {
      PendingWrite w = ready.poll();
      if (w.done || w.sent) {
        continue;
      }
      if (w.seq == 0) {
        w.seq = ++nextSeq;
        numbered.put(w.seq, w);
      }
      wrote |= transmit(ch, w);
    }
    if (wrote && channel == ch) {
      ch.flush();
    }
  }

  private boolean transmit(FrameChannel ch, PendingWrite w) {
    ClientFrame frame = w.frame();
    if (maxFrameBytes > 0 && frame.getSerializedSize() > maxFrameBytes) {
      HandoffException tooLarge =
          HandoffException.limit(
              w.document.name(),
              "write to '"
                  + w.document.name()
                  + "' is "
                  + frame.getSerializedSize()
                  + " bytes, over the server's max_frame_bytes of "
                  + maxFrameBytes);
      // Sent before to a node that took frames this large, its answer lost: that node may have
      // applied it, and this one cannot be asked.
      giveUp(w, w.uncertain ? tooLarge.withOutcomeUnknown() : tooLarge);
      return false;
    }
    if (w.attempts > 0) {
      resent++;
    }
    w.attempts++;
    w.sent = true;
    inFlight++;
    ch.write(frame);
    return true;
  }

  /**
   * The write numbered {@code seq} of {@code document} was applied (its Ack, or its own Delta):
   * removes and returns it, or returns {@code null} if no such write is waiting. The caller
   * completes its future, then calls {@link #pump()}.
   */
  PendingWrite applied(long seq, Document document) {
    PendingWrite w = numbered.get(seq);
    if (w == null || (document != null && w.document != document)) {
      return null;
    }
    remove(w);
    return w;
  }

  /**
   * The server refused the write numbered {@code error.client_seq}. Returns false if no such write
   * is in flight (the caller reports the error to the listeners). A write that may succeed later is
   * sent again after a backoff; any other fails.
   */
  boolean refused(io.handoff.protocol.v1.Error error) {
    PendingWrite w = numbered.get(error.getClientSeq());
    if (w == null || !w.sent) {
      return false;
    }
    ErrorCode code = error.getCode();
    if (code == ErrorCode.OUTCOME_UNKNOWN) {
      w.uncertain = true;
    }
    if (code == ErrorCode.STALE_SEQUENCE && !w.uncertain && w.renumbers < MAX_RENUMBERS) {
      // Every answer said "not applied", and meanwhile so many later writes were handled that the
      // server forgot this number: nothing was applied under it, so a new one takes its place.
      numbered.remove(w.seq);
      w.renumber(++nextSeq);
      w.renumbers++;
      numbered.put(w.seq, w);
      w.sent = false;
      inFlight--;
      renumbered++;
      ready.add(w);
      pump();
      return true;
    }
    boolean unavailable = code == ErrorCode.UNAVAILABLE || code == ErrorCode.OUTCOME_UNKNOWN;
    if (unavailable || isRetryable(error)) {
      w.sent = false;
      inFlight--;
      long delay =
          unavailable
              ? backoff.delayNanos(w.retries, unavailableMaxNanos)
              : backoff.delayNanos(w.retries);
      if (w.retries < Integer.MAX_VALUE) {
        w.retries++;
      }
      w.cancelRetry();
      FrameChannel ch = channel;
      w.retryTask =
          scheduler.schedule(
              () -> {
                w.retryTask = null;
                if (!w.done && !w.sent && channel == ch) {
                  ready.add(w);
                  pump();
                }
              },
              delay);
      return true;
    }
    HandoffException failed = HandoffException.fromError(error, w.document.name());
    // A number the server no longer remembers, or a refusal the store made with no record of the
    // device's writes (it covers this send only): a write whose fate was once unknown may have been
    // applied by an earlier send.
    boolean unknown = (code == ErrorCode.STALE_SEQUENCE || error.getNoWriteRecord()) && w.uncertain;
    giveUp(w, unknown ? failed.withOutcomeUnknown() : failed);
    pump();
    return true;
  }

  // STALE_SEQUENCE: handled long ago and forgotten; the same number can never get another answer.
  // INTERNAL: a server bug; re-sending would hit it again and hold back every later write of the
  // document behind it.
  private static boolean isRetryable(io.handoff.protocol.v1.Error error) {
    ErrorCode code = error.getCode();
    if (code == ErrorCode.STALE_SEQUENCE || code == ErrorCode.INTERNAL) {
      return false;
    }
    return error.getRetryable()
        || code == ErrorCode.RATE_LIMITED
        || code == ErrorCode.TOO_MANY_IN_FLIGHT;
  }

  /**
   * Fails every write (terminal close, client closed); sent ones say they may have been applied.
   */
  void failAll(HandoffException error) {
    fail(takeAll(), error);
  }

  /**
   * Takes every write out of the queue, to be failed with {@link #fail}: writes submitted after
   * this call (by a listener the caller notifies in between) are not among them.
   */
  List<PendingWrite> takeAll() {
    List<PendingWrite> all = new ArrayList<>();
    for (ArrayDeque<PendingWrite> lane : lanes.values()) {
      all.addAll(lane);
    }
    lanes.clear();
    ready.clear();
    numbered.clear();
    for (PendingWrite w : all) {
      heldBytes.addAndGet(-w.bytes);
    }
    inFlight = 0;
    return all;
  }

  /** Fails writes {@link #takeAll() taken}; sent ones say they may have been applied. */
  static void fail(List<PendingWrite> all, HandoffException error) {
    HandoffException unknown = error.withOutcomeUnknown();
    for (PendingWrite w : all) {
      w.done = true;
      w.sent = false;
      w.cancelRetry();
      w.future.completeExceptionally(w.attempts > 0 ? unknown : error);
    }
  }

  private void giveUp(PendingWrite w, HandoffException error) {
    remove(w);
    w.future.completeExceptionally(error);
  }

  /** Takes a head out of its lane and the window; the next write of its document becomes ready. */
  private void remove(PendingWrite w) {
    ArrayDeque<PendingWrite> lane = lanes.get(w.document);
    if (lane == null || lane.peek() != w) {
      throw new IllegalStateException("only the head of a document's writes is ever answered");
    }
    lane.poll();
    if (w.seq != 0) {
      numbered.remove(w.seq);
    }
    if (w.sent) {
      inFlight--;
      w.sent = false;
    }
    w.done = true;
    w.cancelRetry();
    heldBytes.addAndGet(-w.bytes);
    PendingWrite next = lane.peek();
    if (next == null) {
      lanes.remove(w.document);
    } else {
      ready.add(next);
    }
  }
}
