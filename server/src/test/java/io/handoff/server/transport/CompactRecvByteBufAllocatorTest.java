package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.UncheckedBooleanSupplier;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The compact handle answers as Netty's adaptive one: driven through the same read loops (as a
 * transport drives them), both guess the same sizes and decide the same about reading on.
 */
class CompactRecvByteBufAllocatorTest {
  @Test
  void guessesAndDecidesAsNettysAdaptiveHandleThroughTheSameReads() {
    SplittableRandom random = new SplittableRandom(16);
    EmbeddedChannel channel = new EmbeddedChannel();
    for (int run = 0; run < 200; run++) {
      // Netty's default of one read per loop (as the server uses it), and sixteen.
      int maxMessages = run % 2 == 0 ? 1 : 16;
      RecvByteBufAllocator.ExtendedHandle netty =
          (RecvByteBufAllocator.ExtendedHandle)
              new AdaptiveRecvByteBufAllocator().maxMessagesPerRead(maxMessages).newHandle();
      RecvByteBufAllocator.ExtendedHandle compact =
          (RecvByteBufAllocator.ExtendedHandle)
              new CompactRecvByteBufAllocator().maxMessagesPerRead(maxMessages).newHandle();
      for (int loop = 0; loop < 300; loop++) {
        channel.config().setAutoRead(random.nextInt(20) != 0);
        netty.reset(channel.config());
        compact.reset(channel.config());
        boolean more = true;
        for (int read = 0; more && read < 20; read++) {
          String at = "run " + run + " loop " + loop + " read " + read;
          assertEquals(netty.guess(), compact.guess(), at);
          ByteBuf buf = compact.allocate(UnpooledByteBufAllocator.DEFAULT);
          assertEquals(netty.guess(), buf.writableBytes(), at);
          buf.release();
          int attempted = netty.guess();
          netty.attemptedBytesRead(attempted);
          compact.attemptedBytesRead(attempted);
          // Reads that fill their buffer, fall short of it, bring nothing, or hit the end.
          int bytes =
              switch (random.nextInt(5)) {
                case 0 -> attempted;
                case 1 -> random.nextInt(attempted + 1);
                case 2 -> random.nextInt(Math.min(attempted, 64) + 1);
                case 3 -> 0;
                default -> random.nextInt(4) == 0 ? -1 : random.nextInt(attempted + 1);
              };
          netty.lastBytesRead(bytes);
          compact.lastBytesRead(bytes);
          assertEquals(netty.lastBytesRead(), compact.lastBytesRead(), at);
          assertEquals(netty.attemptedBytesRead(), compact.attemptedBytesRead(), at);
          if (bytes > 0) {
            netty.incMessagesRead(1);
            compact.incMessagesRead(1);
          }
          boolean maybeMore = random.nextBoolean();
          UncheckedBooleanSupplier supplier = () -> maybeMore;
          assertEquals(netty.continueReading(supplier), compact.continueReading(supplier), at);
          more = netty.continueReading();
          assertEquals(more, compact.continueReading(), at);
        }
        netty.readComplete();
        compact.readComplete();
      }
    }
    channel.finishAndReleaseAll();
  }

  @Test
  void startsAtTwoKibibytesAndStaysWithinSixtyFourBytesAndSixtyFourKibibytes() {
    EmbeddedChannel channel = new EmbeddedChannel();
    RecvByteBufAllocator.Handle h = new CompactRecvByteBufAllocator().newHandle();
    assertEquals(2048, h.guess());
    for (int i = 0; i < 100; i++) {
      h.reset(channel.config());
      h.attemptedBytesRead(h.guess());
      h.lastBytesRead(h.guess());
      h.readComplete();
    }
    assertEquals(65536, h.guess());
    for (int i = 0; i < 200; i++) {
      h.reset(channel.config());
      h.attemptedBytesRead(h.guess());
      h.lastBytesRead(1);
      h.readComplete();
    }
    assertEquals(64, h.guess());
    channel.finishAndReleaseAll();
  }
}
