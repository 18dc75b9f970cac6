package io.handoff.server.sync;

import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.session.Connection;
import io.handoff.server.transport.TokenBucket;
import java.util.ArrayDeque;

/**
 * One connection's Follow and Resync requests, the requests that read documents from the store.
 *
 * <ul>
 *   <li><b>Rate.</b> Each takes a token of the connection's bucket when it arrives ({@link
 *       #admit}); without one it is refused RATE_LIMITED, retryable, the wait in the message.
 *   <li><b>One at a time.</b> At most one is being read; it starts only while the socket takes
 *       frames, so the next waits until the previous one's snapshots are written ({@link
 *       #writable}). The others wait behind it in the order they came, at most {@link #MAX_WAITING}
 *       of them, holding at most a user's document limit of positions; beyond that a request is
 *       refused TOO_MANY_IN_FLIGHT, retryable.
 *   <li><b>After the Welcome.</b> None starts before the connection's Welcome is sent ({@link
 *       #welcomed}): those sent right after the Hello wait in the same bounded line. Read before
 *       the resume (which may wait its turn at the node), one would send a document's frames before
 *       the Welcome and the Welcome's frames of it again after them.
 * </ul>
 *
 * Made by the connection's first Follow or Resync. Event loop only.
 */
final class SyncLane {
  /** Requests that may wait behind the one being read. */
  static final int MAX_WAITING = 32;

  private final Connection connection;
  private final DocumentSession.Node node;
  private final TokenBucket bucket; // Null when the node sets no rate.
  private boolean busy; // A request is being read, or its answer sent.
  private boolean starting; // Inside startWaiting(): a request answered at once does not recurse.
  private boolean beforeWelcome; // The Welcome is not sent yet: nothing starts.
  private ArrayDeque<Waiting> waiting; // Made by the first request that has to wait.
  private int waitingPositions;

  private record Waiting(int positions, Runnable start) {}

  SyncLane(Connection connection, DocumentSession.Node node, boolean beforeWelcome) {
    this.connection = connection;
    this.node = node;
    this.beforeWelcome = beforeWelcome;
    double rate = node.config().syncRatePerSecond();
    this.bucket =
        rate > 0 ? new TokenBucket(rate, node.config().syncBurst(), connection.nanoTime()) : null;
  }

  /**
   * Takes a token for request {@code id}; without one refuses it RATE_LIMITED (naming {@code
   * document}, if not null) and returns false.
   */
  boolean admit(long id, String document) {
    if (bucket == null || bucket.tryTake(connection.nanoTime())) {
      return true;
    }
    node.stats().syncRequestsRateLimited.increment();
    double rate = node.config().syncRatePerSecond();
    refuse(
        id,
        ErrorCode.RATE_LIMITED,
        "more than "
            + io.handoff.server.ServerConfig.rate(rate)
            + " Follow and Resync requests a second on this connection; send it again in "
            + bucket.millisToNextToken()
            + " ms",
        document);
    return false;
  }

  /**
   * Starts {@code sync} (request {@code id}, reading {@code positions} documents) now if no other
   * request is being read or waits, the Welcome is sent and the socket takes frames; otherwise it
   * waits its turn, unless the lane is full: then it is refused TOO_MANY_IN_FLIGHT. {@code sync}
   * calls {@link #done} once answered.
   */
  void submit(long id, String document, int positions, Runnable sync) {
    if (mayStartNow()) {
      busy = true;
      sync.run();
      return;
    }
    if (refusedAsFull(id, document, positions)) {
      return;
    }
    if (waiting == null) {
      waiting = new ArrayDeque<>();
    }
    waiting.add(new Waiting(positions, sync));
    waitingPositions += positions;
  }

  /**
   * Whether request {@code id}, reading {@code positions} documents, finds the lane full: if so it
   * is refused TOO_MANY_IN_FLIGHT (naming {@code document}, if not null) and this returns true. A
   * request that changes the connection's state before it is read (a Follow grows the follow set)
   * asks first, so that a refused one changes nothing.
   */
  boolean refusedAsFull(long id, String document, int positions) {
    if (mayStartNow()) {
      return false; // It would start at once.
    }
    int count = waiting == null ? 0 : waiting.size();
    if (count < MAX_WAITING
        && (count == 0
            || waitingPositions + positions <= node.config().storeLimits().maxDocumentsPerUser())) {
      return false;
    }
    node.stats().syncRequestsOverWaiting.increment();
    refuse(
        id,
        ErrorCode.TOO_MANY_IN_FLIGHT,
        count
            + " Follow and Resync requests (with "
            + waitingPositions
            + " positions) wait behind the one being read, the most this connection may hold;"
            + " send it again once their SyncReports arrived",
        document);
    return true;
  }

  private boolean mayStartNow() {
    return !busy && waiting == null && !beforeWelcome && !connection.backedUp();
  }

  /** The connection's Welcome is sent: the requests that waited for it may start. */
  void welcomed() {
    beforeWelcome = false;
    startWaiting();
  }

  /** The request being read was answered: the next may start. */
  void done() {
    busy = false;
    startWaiting();
  }

  /** The socket takes frames again: a request waiting for it may start. */
  void writable() {
    startWaiting();
  }

  /** True when no request is being read and none waits. */
  boolean idle() {
    return !busy && waiting == null;
  }

  void clear() {
    waiting = null;
    waitingPositions = 0;
  }

  private void startWaiting() {
    if (starting) {
      return; // A request answered at once inside the loop below: the loop goes on.
    }
    starting = true;
    boolean started = false;
    try {
      while (!busy
          && waiting != null
          && !beforeWelcome
          && connection.active()
          && !connection.backedUp()) {
        Waiting next = waiting.poll();
        waitingPositions -= next.positions();
        if (waiting.isEmpty()) {
          waiting = null; // A connection that synced once holds no empty queue.
        }
        busy = true;
        started = true;
        next.start().run();
      }
    } finally {
      starting = false;
    }
    if (started) {
      connection.flush(); // What the requests answered at once sent.
    }
  }

  private void refuse(long id, ErrorCode code, String message, String document) {
    Error.Builder e = Error.newBuilder().setCode(code).setMessage(message).setRetryable(true);
    if (document != null) {
      e.setDocument(document);
    }
    connection.error(id, e.build());
  }
}
