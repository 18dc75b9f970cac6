package io.handoff.server.transport;

import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.util.ArrayList;
import java.util.List;

/**
 * Each user's home event loop: every connection of one user on this node is served by the same
 * worker loop, chosen from the user id. A write then reaches the writer's other devices on the loop
 * that read it, in the same turn: no task handed to another loop, no wake-up of another thread, one
 * flush per device at the end of the turn. Connections are accepted onto any loop (the user is
 * known only from the upgrade's token); {@link Upgrades} moves an authenticated upgrade to its home
 * loop before it answers it, so a connection's session, timers and heartbeats only ever live on its
 * home loop. Immutable; thread-safe.
 */
final class UserLoops {
  private final EventLoop[] loops;

  UserLoops(EventLoopGroup group) {
    List<EventLoop> all = new ArrayList<>();
    for (EventExecutor e : group) {
      all.add((EventLoop) e);
    }
    if (all.isEmpty()) {
      throw new IllegalArgumentException("an event loop group without loops");
    }
    this.loops = all.toArray(new EventLoop[0]);
  }

  /** The loop that serves every connection of {@code userId}. */
  EventLoop home(String userId) {
    // String.hashCode of ids that differ in their last characters differ in the low bits only:
    // mix them before taking the remainder.
    int h = userId.hashCode() * 0x9E3779B9;
    h ^= h >>> 16;
    return loops[Math.floorMod(h, loops.length)];
  }

  int size() {
    return loops.length;
  }
}
