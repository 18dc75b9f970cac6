package io.handoff.client;

import io.handoff.client.internal.FrameChannel;
import io.handoff.client.internal.FrameListener;
import io.handoff.client.internal.InvalidTokenException;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's protocol state machine: connection lifecycle, local replicas, and the pending-write
 * queue with its sequence numbers. It knows nothing of sockets: it starts connection attempts
 * through a {@link Connector}, receives what happens on them as {@link FrameListener} calls to
 * their {@link Link}, and sends {@link ClientFrame}s on a {@link FrameChannel}.
 *
 * <p>Threading: every field below the "event loop only" line, every listener call and every future
 * completion belongs to one thread, the client's event loop. Methods documented as "any thread" hop
 * onto it through {@code executor}; all others must be called on it. {@link Document} readers and
 * {@link #state()} read volatile snapshots and never hop.
 *
 * <p>Writes live in a {@link WriteQueue}: per document in the order they were made, one in flight
 * per document, re-sent with their original numbers until an answer settles them, bounded by
 * memory. After a reconnect, numbered writes are sent again first, in sequence order, then new
 * ones.
 *
 * <p>Parts of their own: one connection attempt, its Welcome timer and the app's check of it
 * ({@link Link}), which endpoint the next attempt goes to and after what wait ({@link Reconnects}),
 * the replicas and the frames that move them ({@link Replicas}), the write queue ({@link
 * WriteQueue}), requests answered by id ({@link HandoffRequests}), what the client follows ({@link
 * Follows}), in-band token renewal ({@link TokenRefresher}) and the app's listeners ({@link
 * Listeners}). This class keeps the connection's lifecycle (the current link, closed by the app or
 * stopped for good, the connect future) and hands each frame to its part.
 */
final class SyncEngine {
  /** Marks a write without an expected version. */
  static final long NO_EXPECTED_VERSION = -1;

  private static final int NORMAL_CLOSURE = 1000;

  /**
   * The request id of every Hello: an Error carrying it before the Welcome is the server's refusal
   * of the Hello. Far below the ids of {@link HandoffRequests} (from 2^40); other frames sent
   * before the Welcome (a RefreshToken) carry none.
   */
  static final long HELLO_REQUEST_ID = 1;

  private static final Logger log = LoggerFactory.getLogger(SyncEngine.class);

  private final ClientConfig config;
  private final Connector connector;
  private final Scheduler scheduler;
  private final Executor executor;
  private final LongSupplier nanoClock;
  private final Listeners listeners;
  final HandoffRequests handoff;
  private final WriteQueue writes;
  final Replicas replicas;
  final Follows follows;
  private final TokenRefresher tokens;
  private final Reconnects reconnects;
  private final EarlyHellos earlyHellos = new EarlyHellos();
  final long instance = Hellos.instance();

  private volatile ConnectionState state = ConnectionState.CLOSED;
  private volatile String userId;
  private volatile String deviceId;

  // ---- event loop only ----
  private Link link;
  private CompletableFuture<Void> connectFuture;
  private boolean closedByUser;
  // Why the client stopped connecting for good, until connect() is called again; null otherwise.
  private HandoffException stoppedWith;

  /**
   * @param executor runs a task on the event loop (inline when already on it)
   * @param backoff reconnect backoff; also sets the delays between retries of a refused write
   * @param nanoClock {@link System#nanoTime()} or a test clock, for {@link
   *     DocumentChange#receivedNanos()}
   */
  SyncEngine(
      ClientConfig config,
      Connector connector,
      Scheduler scheduler,
      Executor executor,
      Backoff backoff,
      LongSupplier nanoClock) {
    this.config = config;
    this.connector = connector;
    this.scheduler = scheduler;
    this.executor = executor;
    this.nanoClock = nanoClock;
    this.listeners = new Listeners(config.listeners);
    this.handoff =
        new HandoffRequests(
            config.offerListeners, config.presenceListeners, config.approvalListeners, scheduler);
    this.writes = new WriteQueue(config, scheduler, backoff);
    long unavailableMaxNanos =
        Math.min(config.unavailableBackoffMax.toNanos(), config.reconnectMax.toNanos());
    this.reconnects =
        new Reconnects(config.urls, scheduler, backoff, unavailableMaxNanos, this::attempt);
    this.replicas = new Replicas(this, writes, listeners, scheduler, backoff, unavailableMaxNanos);
    this.follows = new Follows(this, config);
    this.tokens =
        new TokenRefresher(
            config, executor, scheduler, backoff, unavailableMaxNanos, handoff, listeners);
  }

  // ------------------------------------------------------------------------------------------
  // Any thread
  // ------------------------------------------------------------------------------------------

  ConnectionState state() {
    return state;
  }

  String userId() {
    return userId;
  }

  String deviceId() {
    return deviceId;
  }

  /** How many times a write was sent again with its original number. Any thread. */
  long writesResent() {
    return writes.resent();
  }

  /** How many writes got a new number, the server having forgotten one it applied nothing under. */
  long writesRenumbered() {
    return writes.renumbered();
  }

  /** The handle for a document, created (empty) on first use. Any thread. */
  Document document(String name) {
    return replicas.document(name);
  }

  /** The last version applied to a document's replica, 0 if none. Any thread. */
  long lastVersion(String name) {
    return replicas.lastVersion(name);
  }

  /** Starts connecting (once); completes at the first Welcome. Any thread. */
  CompletableFuture<Void> connect() {
    CompletableFuture<Void> result = new CompletableFuture<>();
    if (!run(() -> startConnecting(result))) {
      result.completeExceptionally(HandoffException.clientClosed());
    }
    return result;
  }

  /** Queues a write. Any thread. */
  CompletableFuture<Long> submitWrite(Document document, List<FieldOp> ops, long expectedVersion) {
    CompletableFuture<Long> future = new CompletableFuture<>();
    PendingWrite write = new PendingWrite(document, ops, expectedVersion, future);
    if (!writes.reserve(write)) {
      return future;
    }
    if (!run(() -> enqueue(write))) {
      writes.unreserve(write);
      future.completeExceptionally(HandoffException.clientClosed());
    }
    return future;
  }

  /**
   * Sends an activity or offer request on the current connection; the future completes with the
   * answering frame, or fails with the server's error, or when the connection ends first (then the
   * request may or may not have been applied). Requests are not queued while disconnected. Any
   * thread.
   */
  CompletableFuture<ServerFrame> request(ClientFrame.Builder frame) {
    return request(frame, new CompletableFuture<>());
  }

  /**
   * As {@link #request(ClientFrame.Builder)}, completing {@code answer}: callbacks the caller
   * attached to it before this call run on the event loop as the answer is handled, before any
   * later frame (an offer's result must not overtake the tracking of the offer). Any thread.
   */
  CompletableFuture<ServerFrame> request(
      ClientFrame.Builder frame, CompletableFuture<ServerFrame> answer) {
    boolean queued =
        run(
            () -> {
              Link l = link;
              if (l == null || !l.welcomed) {
                answer.completeExceptionally(
                    HandoffException.local("not connected; try again once connected", null));
                return;
              }
              long id = handoff.register(answer);
              if (id > 0) {
                l.channel.send(frame.setRequestId(id).build());
              }
            });
    if (!queued) {
      answer.completeExceptionally(HandoffException.clientClosed());
    }
    return answer;
  }

  /**
   * As {@link #request(ClientFrame.Builder, CompletableFuture)}, but a request made while
   * disconnected waits for the next Welcome (it fails if the client is closed first). Event loop
   * only.
   */
  void requestOnceConnected(ClientFrame.Builder frame, CompletableFuture<ServerFrame> answer) {
    if (closedByUser || stoppedWith != null) {
      answer.completeExceptionally(
          stoppedWith != null ? stoppedWith : HandoffException.clientClosed());
      return;
    }
    Link l = link;
    if (l == null || !l.welcomed) {
      handoff.afterWelcome(() -> requestOnceConnected(frame, answer), answer);
      return;
    }
    long id = handoff.register(answer);
    if (id > 0) {
      l.channel.send(frame.setRequestId(id).build());
    }
  }

  /**
   * Drops the current connection (or the attempt in progress) as a network failure would; the
   * client then reconnects and resumes as after any lost connection. Any thread.
   */
  void dropConnection() {
    run(
        () -> {
          Link l = link;
          if (l != null && l.channel != null) {
            l.channel.abort();
          }
        });
  }

  /**
   * Checks a welcomed connection now, as {@link HandoffClient#checkConnection} says. Any thread.
   */
  void checkConnection() {
    long wait = ConnectionProbe.waitNanos(config.heartbeatMargin);
    String why = "the app asked for a check, and a ping had no answer within " + wait / 1_000_000;
    run(
        () -> {
          Link l = link;
          if (l != null) {
            l.check(wait, why + " ms");
          }
        });
  }

  /** The connection (or attempt) the client has now, {@code null} if none. Event loop only. */
  Link current() {
    return link;
  }

  /** Runs {@code task} on the event loop; false if it is shut down. Any thread. */
  boolean run(Runnable task) {
    try {
      executor.execute(task);
      return true;
    } catch (RejectedExecutionException e) {
      return false;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Event loop: lifecycle
  // ------------------------------------------------------------------------------------------

  private void startConnecting(CompletableFuture<Void> result) {
    if (closedByUser) {
      result.completeExceptionally(HandoffException.clientClosed());
      return;
    }
    if (state == ConnectionState.CLOSED) {
      stoppedWith = null;
      connectFuture = new CompletableFuture<>();
      setState(ConnectionState.CONNECTING, 0, null);
      attempt();
    }
    connectFuture.whenComplete(
        (ok, error) -> {
          if (error != null) {
            result.completeExceptionally(error);
          } else {
            result.complete(null);
          }
        });
  }

  /**
   * Closes the connection for good, fails every pending write and the connect future. Returns the
   * connection's close future, or {@code null} if there was no connection.
   */
  Future<?> close() {
    if (closedByUser) {
      return null;
    }
    closedByUser = true;
    reconnects.cancel();
    Link current = link;
    link = null;
    if (current != null) {
      current.ended();
    }
    Future<?> closing = current == null ? null : current.channel.close();
    // Requests waiting for answers fail as closed, not as lost (which says to send them again).
    handoff.connectionLost(HandoffException::clientClosedUnanswered);
    connectionLost();
    setState(ConnectionState.CLOSED, NORMAL_CLOSURE, "closed by the client");
    listeners.close(); // CLOSED was the last call, even for a close() from a listener.
    HandoffException closed = HandoffException.clientClosed();
    writes.failAll(closed);
    handoff.closed(closed);
    if (connectFuture != null) {
      connectFuture.completeExceptionally(closed);
    }
    return closing;
  }

  private void attempt() {
    if (closedByUser || state == ConnectionState.CLOSED || link != null) {
      return;
    }
    Link attempt = new Link(this, scheduler, reconnects.endpoint(), earlyHellos);
    link = attempt;
    try {
      attempt.channel = connector.connect(attempt.url, attempt);
    } catch (InvalidTokenException e) {
      link = null;
      refuseToken(e);
    } catch (RuntimeException e) {
      link = null;
      listeners.error(
          HandoffException.local("cannot start a connection attempt: " + e.getMessage(), e));
      setState(ConnectionState.RECONNECTING, 0, e.toString());
      reconnects.afterFailedStart();
    }
  }

  /**
   * The Hello of the attempt {@link #current()}, asked by its connection when TCP is connected (to
   * go in the upgrade request), or at the 101 if the request carried none.
   */
  ClientFrame hello() {
    return Hellos.hello(config.clientName, instance, follows.now(), replicas, handoff);
  }

  /**
   * The attempt {@code l}, still current, is open: sends {@code hello} (null when the node read the
   * one of the upgrade request), and waits for the Welcome.
   */
  void onOpen(Link l, ClientFrame hello) {
    if (hello != null) {
      l.channel.send(hello);
    }
    l.awaitWelcome(config.connectTimeout);
  }

  /**
   * The server answered the Hello with an Error instead of a Welcome (e.g. a follow set over its
   * limit): the same Hello would be refused again, so the client stops, as after a terminal close
   * code, and reports the error. A refusal the server marks retryable is treated as a lost
   * connection instead (reconnect with backoff).
   */
  private void onHelloRefused(Link l, io.handoff.protocol.v1.Error error) {
    HandoffException refused = HandoffException.helloRefused(error);
    log.warn("{}", refused.getMessage());
    if (error.getRetryable()) {
      listeners.error(refused);
      l.channel.abort();
      return;
    }
    link = null;
    connectionLost();
    l.channel.close();
    stop(refused, 0, refused.getMessage());
    listeners.error(refused);
  }

  /**
   * The access token can never be sent (empty, or holding a character an HTTP header cannot carry):
   * retrying with it would fail forever, so the client stops, even with a token source, under
   * {@code 4502 UNAUTHORIZED} as the TypeScript client does, and reports it to onError too.
   */
  private void refuseToken(InvalidTokenException e) {
    unusableToken("the access token cannot be used: " + e.getMessage(), e);
  }

  /** Stops under 4502 for a token this client cannot use, and reports it to onError. */
  private void unusableToken(String reason, Throwable cause) {
    int code = CloseCode.UNAUTHORIZED.code();
    HandoffException unusable = HandoffException.closed(code, reason, cause);
    log.warn("{}", unusable.getMessage());
    stop(unusable, code, reason);
    listeners.error(unusable);
  }

  /**
   * The attempt {@code l}, still current, failed or its connection ended, with {@code closeCode}
   * for {@code why} (the node's Disconnect's, if it said why it closed) and {@code cause}, if any.
   */
  void onClosed(Link l, int closeCode, String why, Throwable cause) {
    l.ended();
    link = null;
    // The upgrade's 401 or 403, or a 4502 in band (a proxy's: no node closes with it). A fixed
    // token stays refused, but a supplier may hand a good one next time: the cached token expired
    // while the device slept, and the app renews it in the background.
    boolean renewable = closeCode == CloseCode.UNAUTHORIZED.code() && config.renewableToken;
    boolean again = CloseCode.isReconnect(closeCode) || renewable || l.replacedByItsOwn(closeCode);
    if (again && !closedByUser && !(cause instanceof InvalidTokenException)) {
      follows.connectionLost(); // Taken: the next Hello carries them.
    }
    connectionLost();
    if (closedByUser) {
      return;
    }
    if (cause instanceof InvalidTokenException invalid) {
      refuseToken(invalid);
      return;
    }
    log.debug("connection to {} closed: {} {}", l.url, closeCode, why);
    if (again) {
      long now = nanoClock.getAsLong();
      setState(ConnectionState.RECONNECTING, closeCode, why);
      if (closedByUser || state == ConnectionState.CLOSED) {
        // A listener of the RECONNECTING just told closed the client: a task now would hold it on a
        // shared event loop for up to the backoff's max, as the TypeScript client's kept Node
        // running.
        return;
      }
      reconnects.afterClose(l, closeCode, cause, now);
    } else {
      stop(HandoffException.closed(closeCode, why, cause), closeCode, why);
    }
  }

  /** Stops connecting for good: CLOSED, pending writes and the connect future fail with it. */
  private void stop(HandoffException error, int closeCode, String reason) {
    stoppedWith = error;
    // What this stop ends is set aside before the listeners hear CLOSED: one that connects again
    // or writes from onStateChanged starts afresh, and its connect and writes are not failed here.
    CompletableFuture<Void> connecting = connectFuture;
    List<PendingWrite> doomed = writes.takeAll();
    List<HandoffRequests.Waiting> waiting = handoff.takeWaiting();
    setState(ConnectionState.CLOSED, closeCode, reason);
    WriteQueue.fail(doomed, error);
    HandoffRequests.failWaiting(waiting, error);
    if (connecting != null) {
      connecting.completeExceptionally(error);
    }
  }

  /** Forgets everything tied to the connection that just ended; pending writes stay pending. */
  private void connectionLost() {
    handoff.connectionLost(
        () ->
            HandoffException.unanswered(
                "the connection ended before the answer; the request may or may not have been"
                    + " applied"));
    writes.disconnected();
    replicas.connectionLost();
  }

  private void setState(ConnectionState next, int closeCode, String reason) {
    if (state == next) {
      return;
    }
    state = next;
    listeners.stateChanged(next, closeCode, reason);
  }

  // ------------------------------------------------------------------------------------------
  // Event loop: frames
  // ------------------------------------------------------------------------------------------

  /** A frame came on the attempt {@code l}, still current. */
  void onFrame(Link l, ServerFrame frame) {
    long now = nanoClock.getAsLong();
    switch (frame.getBodyCase()) {
      case WELCOME -> onWelcome(l, frame.getWelcome(), now);
      case ACK -> replicas.onAck(frame.getAck(), now);
      case DELTA -> replicas.onDelta(l, frame.getDelta(), now);
      case SNAPSHOT -> replicas.onSnapshot(l, frame.getSnapshot(), now);
      case SYNC_REPORT -> {
        replicas.onSyncReport(l, frame.getSyncReport(), now);
        handoff.onFrame(frame); // With a request id: a Follow's or an Unfollow's answer.
      }
      case ERROR -> {
        if (!l.welcomed && frame.getRequestId() == HELLO_REQUEST_ID) {
          onHelloRefused(l, frame.getError());
        } else if (!replicas.resyncRefused(l, frame.getError()) && !handoff.onError(frame)) {
          onError(frame.getError());
        }
      }
      case TOKEN_EXPIRING -> tokens.expiring(l);
      case TOKEN_REFRESHED -> {
        log.debug(
            "access token refreshed in band, expires at {}",
            frame.getTokenRefreshed().getExpiresAtMs());
        handoff.onFrame(frame); // The answer to a numbered RefreshToken.
      }
      case DEVICE_LIST, DEVICES_REVOKED -> handoff.onFrame(frame); // Answers by request id.
      case APPROVAL_PROMPT, APPROVAL_ANSWERED, APPROVAL_WITHDRAWN, APPROVAL_PROMPTS_SENT ->
          handoff.onFrame(frame);
      case ACTIVITY_UPDATE,
          OFFER_CREATED,
          OFFER_PROMPT,
          OFFER_WITHDRAWN,
          OFFER_RESULT,
          OFFER_GRANTED,
          PRESENCE_UPDATE ->
          handoff.onFrame(frame);
      case DISCONNECT -> l.disconnected(frame.getDisconnect());
      default -> log.debug("ignoring {} frame", frame.getBodyCase());
    }
  }

  private void onWelcome(Link l, Welcome welcome, long now) {
    if (userId != null
        && (!userId.equals(welcome.getUserId()) || !deviceId.equals(welcome.getDeviceId()))) {
      // The documents and writes held are another device's: they must not go out under this one.
      link = null;
      connectionLost();
      l.channel.close();
      unusableToken(
          "the access token cannot be used: it is for "
              + welcome.getUserId()
              + "/"
              + welcome.getDeviceId()
              + " but this client holds the state of "
              + userId
              + "/"
              + deviceId
              + ": build a client per user and device",
          null);
      return;
    }
    l.welcomed(welcome, now, config.heartbeatMargin);
    userId = welcome.getUserId();
    deviceId = welcome.getDeviceId();
    // Activities, prompts and presence are this Welcome's before anyone hears CONNECTED.
    Runnable handoffNews = handoff.welcomed(welcome);
    writes.connected(
        l.channel,
        welcome.getLastClientSeq(),
        welcome.getMaxInFlightWrites(),
        welcome.getMaxFrameBytes());
    setState(ConnectionState.CONNECTED, 0, null);
    connectFuture.complete(null);
    // A listener or a callback of the connect future may have closed the client, or dropped this
    // connection: the rest of this Welcome is then for no one.
    if (!l.isCurrent()) {
      return;
    }
    replicas.welcomed(l, welcome.getSync(), now);
    if (!l.isCurrent()) {
      return;
    }
    handoffNews.run();
    writes.pump();
    replicas.checkSynced(l);
  }

  private void onError(io.handoff.protocol.v1.Error error) {
    if (error.getClientSeq() == 0 || !writes.refused(error)) {
      listeners.error(HandoffException.fromError(error, null));
    }
  }

  // ------------------------------------------------------------------------------------------
  // Event loop: writes
  // ------------------------------------------------------------------------------------------

  private void enqueue(PendingWrite w) {
    if (closedByUser) {
      writes.unreserve(w);
      w.future.completeExceptionally(HandoffException.clientClosed());
      return;
    }
    writes.submit(w);
    writes.pump();
  }
}
