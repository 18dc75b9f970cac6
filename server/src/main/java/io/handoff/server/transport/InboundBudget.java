package io.handoff.server.transport;

import io.netty.util.internal.PlatformDependent;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A node's bound on the memory its connections hold for large messages still arriving: each
 * connection may hold a message up to {@code max-frame-bytes} while its frames come in, and without
 * a bound for the node a few thousand connections doing so at once would take all of its memory.
 * Only buffers over {@link #COUNTED_ABOVE} bytes count (one socket read's worth is never counted,
 * so common messages cost nothing here). A connection whose buffers would take the node past the
 * limit is closed with {@code UNAVAILABLE} (reconnect soon) and its buffers freed; others are
 * untouched. Thread-safe.
 */
final class InboundBudget {
  /** Buffers up to this size are not counted: one read of Netty's adaptive allocator at most. */
  static final int COUNTED_ABOVE = 64 * 1024;

  private final AtomicLong held = new AtomicLong();
  private final long limit;

  InboundBudget(long limit) {
    if (limit <= 0) {
      throw new IllegalArgumentException("the inbound budget must be > 0 bytes, got " + limit);
    }
    this.limit = limit;
  }

  /** An eighth of the smaller of the JVM's heap and direct memory. */
  static InboundBudget fromJvm() {
    long heap = Runtime.getRuntime().maxMemory();
    long direct = PlatformDependent.maxDirectMemory();
    long smaller = direct > 0 ? Math.min(heap, direct) : heap;
    return new InboundBudget(Math.max(COUNTED_ABOVE, smaller / 8));
  }

  /** The bytes a buffer counts for: its capacity when over {@link #COUNTED_ABOVE}, else none. */
  static long counted(io.netty.buffer.ByteBuf b) {
    return b == null || b.capacity() <= COUNTED_ABOVE ? 0 : b.capacity();
  }

  /**
   * Adds {@code delta} bytes (negative: freed). Returns false when bytes were added and the node
   * now holds more than its limit: the caller frees its buffers (giving the bytes back) and closes.
   */
  boolean add(long delta) {
    long now = held.addAndGet(delta);
    return delta <= 0 || now <= limit;
  }

  long held() {
    return held.get();
  }

  long limit() {
    return limit;
  }
}
