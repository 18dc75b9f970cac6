package io.handoff.server;

import io.netty.channel.EventLoopGroup;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * What a node's start has made so far, each part with what gives it back: its metrics (which hold
 * the JVM's GC listeners), presence keeper and queue budget (a thread each), event loops (threads
 * and epoll or io_uring descriptors), the engine's binding to them (Redis connections), its
 * listener, and first of all the node id it claimed (a lease the engine renews while it is open). A
 * start that fails at any point gives back everything it made, newest first, the node id last, so a
 * program that starts {@link HandoffServer} itself and goes on after the failure keeps no thread,
 * descriptor, connection or lease of it. The starting thread only.
 */
final class MadeSoFar {
  private final ArrayDeque<Runnable> giveBacks = new ArrayDeque<>();

  /** A start that claimed its node id, given back by {@code releaseNode}. */
  MadeSoFar(Runnable releaseNode) {
    giveBacks.push(releaseNode);
  }

  /** The part just made is given back by {@code giveBack} if the start fails. */
  void then(Runnable giveBack) {
    giveBacks.push(giveBack);
  }

  /**
   * {@code loops}, just made: shut down if the start fails, which then waits until they ended
   * (their threads gone and their descriptors closed).
   */
  <T extends EventLoopGroup> T loops(T loops) {
    giveBacks.push(
        () -> loops.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).awaitUninterruptibly());
    return loops;
  }

  /**
   * The start failed with {@code failure}: gives back every part, newest first. A part whose giving
   * back fails is added to {@code failure} as suppressed, and the others are still given back.
   */
  void giveBack(Throwable failure) {
    while (!giveBacks.isEmpty()) {
      try {
        giveBacks.pop().run();
      } catch (RuntimeException | Error e) {
        failure.addSuppressed(e);
      }
    }
  }
}
