package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.handoff.server.RedisProcess;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisURI;
import io.lettuce.core.codec.ByteArrayCodec;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import java.lang.management.ManagementFactory;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The send-buffer check that runs before every document write ({@link
 * RoutedCommands#sendBufferFull}) allocates nothing, on a loop bound to its own connection (the
 * default path) and on another thread (the shared client's connections): real Redis, real epoll
 * loops.
 */
class SendBufferCheckAllocationTest {
  private static final int CHECKS = 20_000;

  private final MultiThreadIoEventLoopGroup loops =
      Epoll.isAvailable() ? new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory()) : null;
  private BoundedClients.Standalone client;
  private LoopConnections bound;

  @AfterEach
  void stop() {
    if (bound != null) {
      bound.close();
    }
    if (client != null) {
      client.shutdown();
    }
    if (loops != null) {
      loops.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
  }

  @Test
  void theCheckBeforeEachWriteAllocatesNothing() throws Exception {
    assumeTrue(Epoll.isAvailable(), "epoll is not offered here");
    RedisURI uri = RedisURI.create(RedisProcess.sharedUrl());
    client = BoundedClients.standalone(uri);
    RoutedCommands routed =
        RoutedCommands.over(client.connect(ByteArrayCodec.INSTANCE).async(), client.sendBuffer());
    // The shared client's other connections: a subscriber and a health probe.
    client.connectPubSub(ByteArrayCodec.INSTANCE);
    client.connect(ByteArrayCodec.INSTANCE);
    bound = LoopConnections.open(uri, ClientOptions.create(), client.getResources(), loops);
    routed.bind(bound);

    long onLoop = loops.next().submit(() -> allocatedBy(routed)).get(30, TimeUnit.SECONDS);
    long elsewhere = allocatedBy(routed);

    assertTrue(onLoop < CHECKS, onLoop + " bytes allocated by " + CHECKS + " checks on a loop");
    assertTrue(
        elsewhere < CHECKS, elsewhere + " bytes allocated by " + CHECKS + " checks on the shared");
  }

  /** The bytes this thread allocates while checking {@link #CHECKS} times (after as many more). */
  private static long allocatedBy(RoutedCommands routed) {
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    for (int i = 0; i < CHECKS; i++) {
      assertFalse(routed.sendBufferFull());
    }
    long before = threads.getCurrentThreadAllocatedBytes();
    boolean any = false;
    for (int i = 0; i < CHECKS; i++) {
      any |= routed.sendBufferFull();
    }
    long allocated = threads.getCurrentThreadAllocatedBytes() - before;
    assertFalse(any, "a send buffer read full");
    return allocated;
  }
}
