package io.handoff.server.sync;

import io.handoff.server.transport.TokenBucket;
import java.util.ArrayDeque;

/**
 * One connection's Follow and Resync requests, the requests that read documents from the store: at
 * most one is being read at a time, and it starts only while the socket takes what is sent (the
 * previous one's snapshots included); the others wait behind it in the order they came, at most
 * {@link #MAX_WAITING} of them holding at most a user's document limit of positions. Each takes a
 * token of the connection's bucket when it arrives. Made by the connection's first Follow or
 * Resync. Event loop only.
 */
final class SyncLane {
  /** Requests that may wait behind the one being read. */
  static final int MAX_WAITING = 32;

  /** The rate limit; null when the node sets none. */
  final TokenBucket bucket;

  /** A request is being read, or its answer is being sent. */
  boolean busy;

  /** Inside {@link #startWaiting}: a request that ends at once does not start the next itself. */
  boolean starting;

  private ArrayDeque<Waiting> waiting; // Made by the first request that has to wait.
  private int waitingPositions;

  private record Waiting(int positions, Runnable start) {}

  SyncLane(TokenBucket bucket) {
    this.bucket = bucket;
  }

  boolean hasWaiting() {
    return waiting != null && !waiting.isEmpty();
  }

  int waiting() {
    return waiting == null ? 0 : waiting.size();
  }

  int waitingPositions() {
    return waitingPositions;
  }

  void add(int positions, Runnable start) {
    if (waiting == null) {
      waiting = new ArrayDeque<>();
    }
    waiting.add(new Waiting(positions, start));
    waitingPositions += positions;
  }

  /** The next waiting request's start, taken off the lane. */
  Runnable next() {
    Waiting w = waiting.poll();
    waitingPositions -= w.positions();
    if (waiting.isEmpty()) {
      waiting = null; // A connection that synced once holds no empty queue.
    }
    return w.start();
  }

  void clear() {
    waiting = null;
    waitingPositions = 0;
  }
}
