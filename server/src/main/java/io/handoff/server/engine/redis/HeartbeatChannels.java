package io.handoff.server.engine.redis;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * The watch's heartbeat channels ({@link RedisBroker#watchPath}): this node's own (random names:
 * two nodes never share one), two at most, each in a slot of another master where the topology has
 * two. A reshard or failovers may later leave both on one master; {@link #stale} finds that, and a
 * new channel on another master replaces one of them once its SUBSCRIBE is confirmed ({@link
 * #confirm}), so that a heartbeat is watched throughout and a fresh channel is never counted
 * unheard before it is subscribed. At most three channels are subscribed: two, and one replacing.
 * Thread-safe.
 */
final class HeartbeatChannels {
  private final RedisKeys keys;
  // The master of a channel's slot as the topology knows it now; null if not known.
  private final Function<byte[], String> masterOf;
  private final SecureRandom random = new SecureRandom();
  // Published and counted by the watch.
  private volatile List<byte[]> active;
  // Subscribed, not yet confirmed: not published until it replaces one of active.
  private volatile byte[] pending;
  // Replaced, still subscribed until the next tick (a publish to it may still be on its way).
  private volatile byte[] retired;

  HeartbeatChannels(RedisKeys keys, Function<byte[], String> masterOf) {
    this.keys = keys;
    this.masterOf = masterOf;
    List<byte[]> picked = new ArrayList<>();
    byte[] first = newName();
    picked.add(first);
    String master = masterOf.apply(first);
    if (master != null) {
      byte[] second = elsewhere(master);
      if (second != null) {
        picked.add(second);
      }
    }
    this.active = List.copyOf(picked);
  }

  /** The channels the watch publishes to. */
  List<byte[]> active() {
    return active;
  }

  /** Every channel subscribed, for a new connection: active and one replacing. */
  List<byte[]> subscribed() {
    byte[] p = pending;
    if (p == null) {
      return active;
    }
    List<byte[]> all = new ArrayList<>(active);
    all.add(p);
    return all;
  }

  boolean contains(byte[] channel) {
    for (byte[] beat : active) {
      if (Arrays.equals(channel, beat)) {
        return true;
      }
    }
    return Arrays.equals(channel, pending) || Arrays.equals(channel, retired);
  }

  /** The channel retired at the last replacement, to unsubscribe now; null if none. */
  byte[] takeRetired() {
    byte[] r = retired;
    retired = null;
    return r;
  }

  /**
   * A new channel to subscribe if the active ones sit on one master (or there is one while the
   * topology now has two masters) and no replacement is under way; null otherwise. It is in a slot
   * of a master other than the first active channel's.
   */
  byte[] stale() {
    if (pending != null) {
      return null;
    }
    List<byte[]> now = active;
    String first = masterOf.apply(now.get(0));
    if (first == null) {
      return null;
    }
    if (now.size() == 2) {
      String second = masterOf.apply(now.get(1));
      if (second == null || !second.equals(first)) {
        return null;
      }
    }
    byte[] fresh = elsewhere(first);
    pending = fresh;
    return fresh;
  }

  /**
   * {@code fresh}'s SUBSCRIBE was confirmed ({@code ok}) or failed: it replaces the second active
   * channel (which is retired), or is given up (the next tick picks again).
   */
  void confirm(byte[] fresh, boolean ok) {
    if (pending != fresh) {
      return;
    }
    if (ok) {
      List<byte[]> now = active;
      if (now.size() == 2) {
        retired = now.get(1);
      }
      active = List.of(now.get(0), fresh);
    }
    pending = null;
  }

  /** A replacement under way is dropped (the connection it was subscribed on was replaced). */
  void dropPending() {
    pending = null;
  }

  private byte[] elsewhere(String master) {
    for (int i = 0; i < 256; i++) {
      byte[] name = newName();
      String other = masterOf.apply(name);
      if (other != null && !other.equals(master)) {
        return name;
      }
    }
    return null;
  }

  private byte[] newName() {
    return keys.channel("hb:" + Long.toHexString(random.nextLong() & Long.MAX_VALUE));
  }
}
