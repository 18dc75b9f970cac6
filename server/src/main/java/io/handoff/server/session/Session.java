package io.handoff.server.session;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.devices.ApprovalPrompts;
import io.handoff.server.devices.TokenKeeper;
import io.handoff.server.engine.ResumeStore;
import io.handoff.server.handoff.HandoffSession;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.DocumentSession;
import io.handoff.server.transport.Endpoint;
import io.handoff.server.transport.Link;
import io.netty.channel.EventLoop;
import java.time.Clock;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * One device's connection after the WebSocket upgrade: its phases (Hello, resume, live), the
 * dispatch of each frame to the feature that owns its family, and the {@link Connection} those
 * features reach the device through. Owns the connection's one {@link Outbox}.
 *
 * <ul>
 *   <li>documents ({@code Write}, {@code Follow}, {@code Unfollow}, {@code Resync}) go to the
 *       connection's {@link DocumentSession};
 *   <li>activities and offers ({@code PublishActivity}, {@code OfferActivity}, {@code AcceptOffer},
 *       {@code DeclineOffer}, {@code CancelOffer}) to its {@link HandoffSession};
 *   <li>tokens and devices ({@code RefreshToken}, {@code ListDevices}, {@code RevokeDevice}) to its
 *       {@link TokenKeeper};
 *   <li>signing in new devices ({@code VerifyUserCode}, {@code AnswerApproval}) to its {@link
 *       ApprovalPrompts};
 *   <li>{@code Hello} and {@code Ping} are the session's own.
 * </ul>
 *
 * <p>Threads: everything runs on the channel's event loop, except {@link #offer}, {@link
 * #replaced}, {@link #kick}, {@link #recheck}, {@link #signal} and {@link #approvalSignal}, which
 * the {@link Hub} calls from the broker's thread: they enqueue or hop. Store futures hop back onto
 * the event loop ({@link #onLoop}) before touching any state.
 */
public final class Session extends SessionState implements Endpoint, Connection, Outbox.Owner {
  private final Sessions node;
  // The node's number for this connection, taken as its event loop sets it up (Hub): larger for
  // one opened after another's 101, but not always for one opened just after another's connect.
  final long opened;
  // Its Hello's instance (0 until the Hello, or if it carried none): a connection of the device it
  // replaces, or that finds it registered, is told it, and so is the store. Written on the event
  // loop before its register; other loops read it once they see it in the Hub's volatile array.
  long instance;
  private Link link;
  // Store calls the session's features wait for (onLoop), answered or not yet; event loop only.
  private int awaited;
  private Outbox outbox;
  private DocumentSession documents;
  private HandoffSession handoff;
  private TokenKeeper tokens;
  private ApprovalPrompts approvals;
  volatile boolean dead; // Also read by ResumeSlots, on any thread.

  Session(Sessions node) {
    this.node = node;
    this.opened = node.nextOpened();
  }

  // ---------------------------------------------------------------------------------------------
  // Endpoint: what the transport tells the session
  // ---------------------------------------------------------------------------------------------

  @Override
  public void opened(Link link) {
    this.link = link;
    // The connection holds a slot of the user's from now on, Hello or not.
    if (!node.hub().admit(this, node.config().maxConnectionsPerUser())) {
      close(
          CloseCode.POLICY_VIOLATION,
          "this user already holds the most connections this node takes for one user ("
              + node.config().maxConnectionsPerUser()
              + ", max-connections-per-user)");
      return;
    }
    set(ADMITTED, true);
    documents = node.documents(this);
    outbox = new Outbox(node.outboxes(), link, node.drainer(link.eventLoop()), this);
    handoff = node.handoff(this);
    tokens = node.tokens(this, link.principal());
    tokens.start();
    phase(Phase.AWAIT_HELLO);
  }

  @Override
  public void frame(ClientFrame frame) {
    if (is(CLOSING) || phase() == Phase.CLOSED || phase() == Phase.OPENING) {
      return;
    }
    long id = frame.getRequestId();
    ClientFrame.BodyCase body = frame.getBodyCase();
    if (phase() == Phase.AWAIT_HELLO
        && body != ClientFrame.BodyCase.HELLO
        && body != ClientFrame.BodyCase.PING) {
      error(id, ErrorCode.UNEXPECTED_FRAME, "send Hello first", false);
      flush();
      return;
    }
    switch (body) {
      case HELLO -> hello(id, frame.getHello());
      case PING -> reply(node.pong(id, frame.getPing()));
      case WRITE, FOLLOW, UNFOLLOW, RESYNC -> documents.onFrame(id, frame);
      case PUBLISH_ACTIVITY, OFFER_ACTIVITY, ACCEPT_OFFER, DECLINE_OFFER, CANCEL_OFFER ->
          handoff.onFrame(id, frame);
      case REFRESH_TOKEN, LIST_DEVICES, REVOKE_DEVICE -> tokens.onFrame(id, frame);
      case VERIFY_USER_CODE, ANSWER_APPROVAL -> approvals().onFrame(id, frame);
      default ->
          error(
              id,
              ErrorCode.BAD_REQUEST,
              "empty frame, or a frame type this server does not know",
              false);
    }
  }

  @Override
  public void writable() {
    if (outbox != null) {
      outbox.writable();
      if (!is(CLOSING) && phase() != Phase.CLOSED) {
        documents.writable(); // Follow and Resync requests that waited for the socket.
      }
      finishDrainIfDone(); // The answers that waited for the socket are written now.
    }
  }

  /**
   * The connection is closing, closed by this session or by the transport itself (silence, a socket
   * left full, the handshake limit, a broken frame): the session sends nothing more, and its outbox
   * takes nothing more and reads as closing to the node's queue budget.
   */
  @Override
  public void closing() {
    set(CLOSING, true);
    dead = true;
    if (outbox != null) {
      outbox.stop();
    }
  }

  @Override
  public void unwritable() {
    if (outbox != null) {
      outbox.unwritable();
    }
  }

  /**
   * Drains this session: reads no more requests, lets the writes in flight be acked (for at most
   * the drain timeout), then tells the device to reconnect elsewhere (SHUTDOWN) and closes.
   */
  @Override
  public void drain() {
    if (is(CLOSING) || phase() == Phase.CLOSED) {
      return;
    }
    set(DRAINING, true);
    link.stopReading();
    loop()
        .schedule(
            () -> close(CloseCode.SHUTDOWN, CloseCode.SHUTDOWN.reason()),
            node.config().drainTimeout().toMillis(),
            TimeUnit.MILLISECONDS);
    finishDrainIfDone();
  }

  // ---------------------------------------------------------------------------------------------
  // Outbox.Owner: what the outbox hands back (event loop)
  // ---------------------------------------------------------------------------------------------

  @Override
  public void deliver(DocumentEvent event) {
    documents.onEvent(event);
  }

  @Override
  public void drained() {
    finishDrainIfDone();
  }

  @Override
  public void slow(String reason) {
    close(CloseCode.SLOW_CONSUMER, reason);
  }

  /**
   * A draining session closes as soon as its last write in flight has its answer, every other store
   * call its features wait for (an accept and its grant's read, a device request) has been
   * answered, and no frame waits in the outbox for a full socket: a request in flight at the drain
   * is answered, not lost, but a resume waiting in the line never starts. The close's Disconnect
   * goes straight to the socket: written before answers waiting in the outbox, it would drop them.
   */
  private void finishDrainIfDone() {
    if (is(DRAINING)
        && awaited == (waitsInLine() ? 1 : 0) // Its one call then: the resume's turn.
        && (documents == null || documents.settled())
        && (outbox == null || outbox.noneWaiting())) {
      close(CloseCode.SHUTDOWN, CloseCode.SHUTDOWN.reason());
    }
  }

  @Override
  public void closed() {
    Phase was = phase();
    phase(Phase.CLOSED);
    dead = true;
    node.resumeSlots().closed(this); // Its place in the line of resumes, if it waited there.
    if (is(ADMITTED)) {
      set(ADMITTED, false);
      node.hub().leave(this, is(REGISTERED)); // Once its Hello's resume had a slot.
    }
    if (was == Phase.OPENING) {
      return;
    }
    handoff.closed();
    if (approvals != null) {
      approvals.closed();
    }
    tokens.stop();
    outbox.close();
    documents.closed();
  }

  // ---------------------------------------------------------------------------------------------
  // Hello and resume
  // ---------------------------------------------------------------------------------------------

  private void hello(long id, Hello hello) {
    if (phase() != Phase.AWAIT_HELLO) {
      error(id, ErrorCode.UNEXPECTED_FRAME, "Hello was already sent", false);
      return;
    }
    Error problem = documents.hello(hello);
    if (problem != null) {
      error(id, problem);
      return;
    }
    phase(Phase.SYNCING);
    instance = hello.getInstance(); // Before its register, which reads it (Hub).
    link.established();
    boolean promptsHeld = hello.getApprovalPromptsHeld();
    // Read once the fan-out subscription is live (a write after the read is pushed; a revocation
    // before it is seen), in one store call (ResumeStore), as the node's ResumeSlots let it.
    onLoop(
        node.resumeSlots().read(this, this::registerAndResume),
        (r, err) -> {
          if (err != null) {
            close(CloseCode.UNAVAILABLE, node.resumeSlots().failed(err, this, nanoTime()));
            return;
          }
          String gone = tokens.sessionProblem(r.session());
          if (gone != null) {
            close(CloseCode.SESSION_REVOKED, gone);
            return;
          }
          DocumentSession.Resume documentsResume =
              new DocumentSession.Resume(r.lastClientSeq(), r.documents());
          Welcome.Builder welcome = node.welcome(userId(), deviceId());
          documents.welcome(welcome, documentsResume);
          tokens.welcome(welcome);
          handoff.welcome(welcome, r);
          reply(ServerFrame.newBuilder().setRequestId(id).setWelcome(welcome).build());
          tokens.welcomed();
          documents.welcomed(documentsResume);
          phase(Phase.LIVE);
          handoff.welcomed();
          // Pending sign-ins: read unless the resume found none and no signal since may be lost.
          boolean mayBePending = r.pendingApprovals() != 0 || is(RECHECK_WHEN_LIVE);
          ApprovalPrompts.welcomed(
              approvals, node.deviceApprovals(), this, this::approvals, promptsHeld, mayBePending);
          if (is(RECHECK_WHEN_LIVE)) {
            // The broker may have lost events and signals after the resume's read: its documents
            // and its session check are read again (pending approvals were, above).
            set(RECHECK_WHEN_LIVE, false);
            documents.recheck();
            tokens.recheck();
          }
          flush();
          outbox.goLive();
        });
  }

  // Event loop, once the node has a slot for it (ResumeSlots).
  private CompletableFuture<ResumeStore.Resumed> registerAndResume() {
    set(REGISTERED, true);
    CompletableFuture<Void> live = node.hub().register(this);
    if (live == null) { // A later connection of this device got its turn in the line first.
      close(CloseCode.REPLACED, CloseCode.REPLACED.reason(), node.hub().instanceOf(this));
      return CompletableFuture.failedFuture(new CancellationException("replaced"));
    }
    return live.thenCompose(v -> resume())
        .thenApply(
            r -> {
              if (r.sessionAlive()) {
                handoff.wentOnline();
              }
              return r;
            });
  }

  /** This device's resume, once the subscription is live. */
  private CompletableFuture<ResumeStore.Resumed> resume() {
    return handoff.resume(
        node.resumes(),
        tokens.sessionToCheck(),
        documents.following(),
        documents.helloPositions(),
        tokens.sessionInactivityMillis());
  }

  // ---------------------------------------------------------------------------------------------
  // From the Hub (the broker's thread)
  // ---------------------------------------------------------------------------------------------

  /** A document event of this user. Any thread; never blocks. */
  void offer(DocumentEvent event) {
    if (!dead) {
      outbox.offer(event);
    }
  }

  /** An activity, offer or presence signal of this user. Any thread. */
  void signal(UserSignal signal) {
    if (!dead) {
      handoff.onSignal(signal);
    }
  }

  /**
   * A device-approval signal of this user (a prompt to show, one that ended). Any thread. Before
   * the Welcome it is not shown, but makes the Welcome read what is pending (ApprovalPrompts).
   */
  void approvalSignal(UserSignal signal) {
    if (!dead) {
      execute(
          () -> {
            if ((phase() == Phase.LIVE || phase() == Phase.SYNCING) && active()) {
              approvals().onSignal(signal);
            }
          });
    }
  }

  /** The connection's approval prompts, made on first use (most connections never have one). */
  private ApprovalPrompts approvals() {
    if (approvals == null) {
      approvals = node.approvals(this, tokens, phase() == Phase.LIVE);
    }
    return approvals;
  }

  /**
   * The broker may have lost events and signals: re-read what this session shows. Any thread.
   * Returns what completes once the store answered the reads this sent (documents, the device
   * session, approvals, and activities, offers and presence): the broker paces by it
   * (docs/redis.md). A session not live yet reads again after its resume, outside it.
   */
  CompletableFuture<?> recheck() {
    if (dead) {
      return CompletableFuture.completedFuture(null);
    }
    CompletableFuture<Object> done = new CompletableFuture<>();
    try {
      // thenCompose makes a throw of rereadAll a failed future: done completes either way.
      execute(
          () ->
              CompletableFuture.completedFuture(null)
                  .thenCompose(v -> rereadAll())
                  .whenComplete((v, err) -> done.complete(null)));
    } catch (RejectedExecutionException e) {
      done.complete(null); // The loop is stopping, and the session with it.
      return done;
    }
    return CompletableFuture.allOf(done, handoff.reconcile());
  }

  /** {@link #recheck}'s reads, on the event loop. */
  private CompletableFuture<?> rereadAll() {
    if (phase() == Phase.SYNCING && !is(CLOSING)) {
      set(RECHECK_WHEN_LIVE, true); // The resume's read may predate the loss.
    } else if (phase() == Phase.LIVE && !is(CLOSING)) {
      CompletableFuture<?> docs = documents.recheck();
      CompletableFuture<?> session = tokens.recheck();
      // Approval prompts and withdrawals come by signal only: re-read what is pending.
      CompletableFuture<?> pending =
          ApprovalPrompts.reread(approvals, node.deviceApprovals(), this, this::approvals);
      return CompletableFuture.allOf(docs, session, pending);
    }
    return CompletableFuture.completedFuture(null);
  }

  /**
   * Another connection of the same device took over, its Hello's instance {@code by}. Any thread.
   */
  void replaced(long by) {
    dead = true;
    execute(() -> close(CloseCode.REPLACED, CloseCode.REPLACED.reason(), by));
  }

  /** Closes this session with {@code code}, as another node or an operator asked. Any thread. */
  void kick(CloseCode code, String reason) {
    dead = true;
    execute(() -> close(code, reason.isEmpty() ? code.reason() : reason));
  }

  /**
   * Closes this session with {@code code} if its access token, as renewed on the socket, belongs to
   * the device session {@code sessionId}. Any thread; decided on the event loop.
   */
  void kickSession(String sessionId, CloseCode code, String reason) {
    execute(
        () -> {
          if (tokens != null && tokens.onSession(sessionId)) {
            dead = true;
            close(code, reason.isEmpty() ? code.reason() : reason);
          }
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Connection: what the features may do
  // ---------------------------------------------------------------------------------------------

  @Override
  public String userId() {
    return link.principal().userId();
  }

  @Override
  public long instance() {
    return instance;
  }

  @Override
  public String deviceId() {
    return link.principal().deviceId();
  }

  @Override
  public void push(ServerFrame frame) {
    if (!is(CLOSING) && phase() != Phase.CLOSED) {
      outbox.send(frame, true);
    }
  }

  @Override
  public void reply(ServerFrame frame) {
    if (!is(CLOSING) && phase() != Phase.CLOSED) {
      outbox.send(frame, true);
    }
  }

  @Override
  public void replyEncoded(byte[] frame) {
    if (!is(CLOSING) && phase() != Phase.CLOSED) {
      outbox.sendEncoded(frame, true);
    }
  }

  @Override
  public void sync(ServerFrame frame) {
    if (!is(CLOSING) && phase() != Phase.CLOSED) {
      outbox.send(frame, false);
    }
  }

  @Override
  public void syncEncoded(byte[] frame) {
    if (!is(CLOSING) && phase() != Phase.CLOSED) {
      outbox.sendEncoded(frame, false);
    }
  }

  @Override
  public void flush() {
    link.flush();
    finishDrainIfDone();
  }

  @Override
  public boolean backedUp() {
    return outbox.backedUp();
  }

  @Override
  public void error(long requestId, Error error) {
    reply(ServerFrame.newBuilder().setRequestId(requestId).setError(error).build());
  }

  @Override
  public <T> void onLoop(CompletableFuture<T> f, BiConsumer<T, Throwable> action) {
    if (!loop().inEventLoop()) {
      execute(() -> onLoop(f, action)); // counted on the loop, as everything of the session
      return;
    }
    awaited++;
    f.whenComplete(
        (value, err) -> {
          if (loop().inEventLoop()) {
            answered(value, err, action);
          } else {
            loop().execute(() -> answered(value, err, action));
          }
        });
  }

  private <T> void answered(T value, Throwable err, BiConsumer<T, Throwable> action) {
    awaited--;
    if (active()) {
      action.accept(value, err);
    }
    finishDrainIfDone();
  }

  @Override
  public void execute(Runnable task) {
    loop().execute(task);
  }

  @Override
  public Future<?> schedule(Runnable task, long delay, TimeUnit unit) {
    return node.time().schedule(loop(), task, delay, unit);
  }

  @Override
  public void arm(Deadline d, long delay, TimeUnit unit) {
    if (!loop().inEventLoop()) {
      loop().execute(() -> arm(d, delay, unit));
      return;
    }
    LoopDeadlines.current().arm(d, unit.toNanos(delay), loop(), node.time());
  }

  @Override
  public void disarm(Deadline d) {
    if (!loop().inEventLoop()) {
      loop().execute(() -> disarm(d));
      return;
    }
    LoopDeadlines.current().disarm(d);
  }

  @Override
  public String remoteAddress() {
    return link.remoteAddress();
  }

  @Override
  public Clock clock() {
    return node.time().clock();
  }

  @Override
  public long nanoTime() {
    return node.time().nanoTime();
  }

  @Override
  public boolean active() {
    return phase() != Phase.CLOSED && !is(CLOSING);
  }

  @Override
  public void close(CloseCode code, String reason) {
    close(code, reason, 0);
  }

  @Override
  public void close(CloseCode code, String reason, long replacedBy) {
    if (is(CLOSING) || phase() == Phase.CLOSED) {
      return;
    }
    set(CLOSING, true);
    dead = true;
    link.close(code, reason, replacedBy);
  }

  /** The connection's event loop (the link keeps it: the session holds no copy). Any thread. */
  EventLoop loop() {
    return link.eventLoop();
  }
}
