package io.handoff.server.transport;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.DefaultMaxMessagesRecvByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * Netty's {@link AdaptiveRecvByteBufAllocator} with its defaults (reads of 2 KiB first, then sized
 * between 64 B and 64 KiB by what the channel's reads bring), answering exactly as it does, but
 * with a handle of one small object per channel. Netty's handle is three (the handle, its size
 * calculator and a supplier object inside it: 112 bytes), and every connection keeps its handle for
 * its whole life; this one is 40 bytes: the size is an index into one shared table and the handle
 * is its own "maybe more data" supplier. Stateless and shared by every channel; each channel's
 * handle is used on its event loop only.
 *
 * <p>{@code CompactRecvByteBufAllocatorTest} drives this handle and Netty's with the same reads and
 * checks that they guess the same sizes and answer {@code continueReading} the same.
 */
public final class CompactRecvByteBufAllocator extends DefaultMaxMessagesRecvByteBufAllocator {
  private static final int MINIMUM = AdaptiveRecvByteBufAllocator.DEFAULT_MINIMUM;
  private static final int INITIAL = AdaptiveRecvByteBufAllocator.DEFAULT_INITIAL;
  private static final int MAXIMUM = AdaptiveRecvByteBufAllocator.DEFAULT_MAXIMUM;
  private static final int INDEX_INCREMENT = 4;
  private static final int INDEX_DECREMENT = 1;
  // Netty's table of sizes: 16 to 496 by 16, then powers of two from 512.
  private static final int[] SIZE_TABLE = sizeTable();
  private static final byte MIN_INDEX = (byte) indexOf(MINIMUM);
  private static final byte MAX_INDEX = (byte) indexOf(MAXIMUM);
  private static final byte INITIAL_INDEX = (byte) indexOf(INITIAL);

  private static int[] sizeTable() {
    int[] table = new int[31 + 22];
    int n = 0;
    for (int i = 16; i < 512; i += 16) {
      table[n++] = i;
    }
    for (int i = 512; i > 0; i <<= 1) {
      table[n++] = i;
    }
    return table;
  }

  /** The index of {@code size}, which is in the table. */
  private static int indexOf(int size) {
    for (int i = 0; i < SIZE_TABLE.length; i++) {
      if (SIZE_TABLE[i] == size) {
        return i;
      }
    }
    throw new IllegalArgumentException(size + " is not in the size table");
  }

  @Override
  public RecvByteBufAllocator.Handle newHandle() {
    return new Handle(this);
  }

  /**
   * One channel's reads: Netty's {@code MaxMessageHandle} and {@code AdaptiveCalculator} in one
   * object, their logic unchanged.
   */
  private static final class Handle
      implements RecvByteBufAllocator.ExtendedHandle, UncheckedBooleanSupplier {
    private final CompactRecvByteBufAllocator allocator;
    private ChannelConfig config;
    private int totalMessages;
    private int totalBytesRead;
    private int attemptedBytesRead;
    private int lastBytesRead;
    private byte index = INITIAL_INDEX;
    private boolean decreaseNow;

    Handle(CompactRecvByteBufAllocator allocator) {
      this.allocator = allocator;
    }

    @Override
    public void reset(ChannelConfig config) {
      this.config = config;
      totalMessages = totalBytesRead = 0;
    }

    @Override
    public ByteBuf allocate(ByteBufAllocator alloc) {
      return alloc.ioBuffer(guess());
    }

    @Override
    public int guess() {
      return SIZE_TABLE[index];
    }

    @Override
    public void incMessagesRead(int amt) {
      totalMessages += amt;
    }

    @Override
    public void lastBytesRead(int bytes) {
      // A read that filled its buffer may ramp the next guess up at once.
      if (bytes == attemptedBytesRead) {
        record(bytes);
      }
      lastBytesRead = bytes;
      if (bytes > 0) {
        totalBytesRead += bytes;
      }
    }

    @Override
    public int lastBytesRead() {
      return lastBytesRead;
    }

    @Override
    public void attemptedBytesRead(int bytes) {
      attemptedBytesRead = bytes;
    }

    @Override
    public int attemptedBytesRead() {
      return attemptedBytesRead;
    }

    @Override
    public boolean continueReading() {
      return continueReading(this);
    }

    @Override
    public boolean continueReading(UncheckedBooleanSupplier maybeMoreDataSupplier) {
      return config.isAutoRead()
          && (!allocator.respectMaybeMoreData() || maybeMoreDataSupplier.get())
          && totalMessages < allocator.maxMessagesPerRead()
          && totalBytesRead > 0;
    }

    /** The default "maybe more data": the last read filled what it was given. */
    @Override
    public boolean get() {
      return attemptedBytesRead == lastBytesRead;
    }

    @Override
    public void readComplete() {
      record(totalBytesRead < 0 ? Integer.MAX_VALUE : totalBytesRead);
    }

    private void record(int size) {
      if (size <= SIZE_TABLE[Math.max(0, index - INDEX_DECREMENT)]) {
        if (decreaseNow) {
          index = (byte) Math.max(index - INDEX_DECREMENT, MIN_INDEX);
          decreaseNow = false;
        } else {
          decreaseNow = true;
        }
      } else if (size >= SIZE_TABLE[index]) {
        index = (byte) Math.min(index + INDEX_INCREMENT, MAX_INDEX);
        decreaseNow = false;
      }
    }
  }
}
