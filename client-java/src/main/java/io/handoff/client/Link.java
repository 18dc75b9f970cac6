package io.handoff.client;

import io.handoff.client.internal.FrameChannel;
import io.handoff.client.internal.FrameListener;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Disconnect;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * One connection attempt of a {@link SyncEngine}, from its start through the Welcome to its end, as
 * the TypeScript client's {@code Link}: its channel, its Welcome, what the Welcome's sync report
 * still has to bring, the Disconnect the node sent before closing (which says why the connection
 * ended over a close without a Handoff code after it), the wait for the Welcome, the app's check of
 * the connection, and what the attempt says about the Hello in the upgrade ({@link EarlyHellos}).
 * What happens on it goes to the engine while it is the engine's current attempt; callbacks from an
 * attempt that is no longer current are ignored.
 *
 * <p>Event loop only. Its fields are the engine's and its parts' ({@link Replicas}, {@link
 * TokenRefresher}).
 */
final class Link implements FrameListener {
  static final int ABNORMAL_CLOSURE = 1006;
  private static final int NORMAL_CLOSURE = 1000;

  private final SyncEngine engine;
  private final Scheduler scheduler;
  final URI url;
  FrameChannel channel;
  boolean welcomed;
  long welcomedAtNanos;
  // The server acks only writes its replicas hold (Welcome.durable_ack_replicas > 0).
  boolean durableAcks;
  // Documents the Welcome's sync report still has to bring up to date, by name.
  final Map<String, DocumentSync> catchingUp = new HashMap<>();
  boolean synced;
  // What the node's Disconnect said before it closed the connection; 0 if none came.
  private int disconnectCode;
  private String disconnectReason;
  private long replacedBy; // Its replaced_by_instance.
  // Ends the attempt if no Welcome comes within the connect timeout of the upgrade.
  private Scheduler.Task welcomeTimer;
  // The app's check of this connection, if any (check).
  private final ConnectionProbe probe;
  // Whether the Hello goes in the upgrade, and what the attempt's end says about that.
  private final EarlyHellos.Attempt early;
  // What the Hello of this attempt follows, once built (carried in the upgrade, or sent at the
  // 101).
  Follows.Spec helloFollows;
  // The 101 came: the node has numbered the connection (restart).
  private boolean open;
  // Left to be made again (restart): the next attempt goes at once.
  private boolean restarted;

  Link(SyncEngine engine, Scheduler scheduler, URI url, EarlyHellos earlyHellos) {
    this.engine = engine;
    this.scheduler = scheduler;
    this.url = url;
    this.probe = new ConnectionProbe(scheduler);
    this.early = earlyHellos.attempt(url);
  }

  /** True while this is the engine's connection (or attempt); false once it ended. */
  boolean isCurrent() {
    return engine.current() == this;
  }

  /**
   * Gives the attempt up, as one that failed, if no Welcome comes within {@code timeout} (the
   * connect timeout) of now, the upgrade. A timer of its own, not the read timeout: a node that
   * pings while it holds the Welcome back (its store is slow) is never silent, and would keep the
   * client from trying another one.
   */
  void awaitWelcome(Duration timeout) {
    welcomeTimer =
        scheduler.schedule(
            () -> {
              welcomeTimer = null;
              if (!welcomed) {
                giveUp("no Welcome within " + timeout.toMillis() + " ms");
              }
            },
            timeout.toNanos());
  }

  /**
   * The Welcome came at {@code now}: the wait for it is over, and the connection is given up when
   * nothing is read for two of the server's heartbeat intervals and {@code heartbeatMargin}.
   */
  void welcomed(Welcome welcome, long now, Duration heartbeatMargin) {
    welcomed = true;
    cancelWelcomeTimer();
    durableAcks = welcome.getDurableAckReplicas() > 0;
    int heartbeat = welcome.getHeartbeatIntervalMs();
    channel.readTimeout(heartbeat > 0 ? 2L * heartbeat + heartbeatMargin.toMillis() : 0);
    welcomedAtNanos = now;
  }

  /**
   * Checks a welcomed connection now, as {@link HandoffClient#checkConnection} says: a {@code
   * Ping}, and the connection given up, {@code why}, if the {@code Pong} answering it does not come
   * back within {@code waitNanos}. Nothing before the Welcome, whose wait has its own timer.
   */
  void check(long waitNanos, String why) {
    if (welcomed) {
      probe.start(channel, waitNanos, () -> giveUp(why));
    }
  }

  /** The node's Disconnect came: it is about to close the connection, and says why. */
  void disconnected(Disconnect disconnect) {
    disconnectCode = disconnect.getCode();
    disconnectReason = disconnect.getReason();
    replacedBy = disconnect.getReplacedByInstance();
  }

  /**
   * Whether the attempt ended with {@code closeCode} REPLACED by a connection whose Hello carried
   * this client's instance: an attempt of its own, left before its 101 (its timeout, a dropped
   * connection, a network change) and set up by the node after this one. The device has no other
   * instance to give way to: the client reconnects, after the usual backoff. A REPLACED that names
   * another instance, or none (another node's connection, a node that does not know), stays
   * terminal.
   */
  boolean replacedByItsOwn(int closeCode) {
    return closeCode == CloseCode.REPLACED.code() && replacedBy == engine.instance;
  }

  /**
   * Whether the next attempt goes at once: the app's check found this connection dead, or it was
   * {@link #restart}ed.
   */
  boolean retryAtOnce() {
    return probe.failed() || restarted;
  }

  /**
   * Leaves this attempt, still current, with a close frame, {@code why}, and has the next one go at
   * once: its Hello no longer says what the client follows ({@link Follows}). Says nothing of the
   * Hello in the upgrade ({@link EarlyHellos}). Before the 101 it does nothing: {@link #onOpen}
   * leaves the attempt then if its Hello still says what the client follows no more. The node
   * numbers a connection when it sets it up, and one of a device it numbers later replaces the
   * other with the terminal REPLACED; an attempt left before its 101 may not be numbered yet (a
   * proxy's connection to the node, or the node's event loop, late), and would close the next.
   */
  void restart(String why) {
    if (!open) {
      return;
    }
    restarted = true;
    channel.close();
    engine.onClosed(this, NORMAL_CLOSURE, why, null);
  }

  /** The attempt ended: the wait for the Welcome and a check under way are over. */
  void ended() {
    cancelWelcomeTimer();
    probe.stop();
  }

  /**
   * Gives the connection up as a network failure would have, {@code why}, if it is still current.
   */
  private void giveUp(String why) {
    if (isCurrent()) {
      channel.abort();
      onClose(ABNORMAL_CLOSURE, why, null);
    }
  }

  private void cancelWelcomeTimer() {
    if (welcomeTimer != null) {
      welcomeTimer.cancel();
      welcomeTimer = null;
    }
  }

  // Built when TCP is connected, for the upgrade request, if its URL gets it (EarlyHellos): Hellos
  // says why it still holds at the 101.
  @Override
  public ClientFrame hello() {
    if (!isCurrent()) {
      return null;
    }
    ClientFrame carried = early.hello(engine::hello);
    helloFollows = carried == null ? null : engine.follows.now();
    return carried;
  }

  @Override
  public void onOpen(FrameChannel opened, boolean helloRead) {
    if (!isCurrent()) {
      opened.close();
      return;
    }
    early.opened(helloRead);
    open = true;
    if (helloFollows == null) {
      helloFollows = engine.follows.now(); // The Hello goes now, built anew.
    } else if (!helloFollows.sameAs(engine.follows.now())) {
      restart("the follow set changed while connecting"); // The upgrade's Hello holds no more.
      return;
    }
    engine.onOpen(this, helloRead ? null : early.unread(engine::hello));
  }

  @Override
  public void onFrame(ServerFrame frame) {
    if (isCurrent()) {
      if (frame.hasPong()) {
        probe.answered(frame.getPong().getNonce());
      } else if (frame.hasWelcome()) {
        early.welcomed(frame.getWelcome().getHelloInUpgrade());
      } else if (!welcomed
          && frame.hasError()
          && frame.getRequestId() == SyncEngine.HELLO_REQUEST_ID) {
        early.refused();
      }
      engine.onFrame(this, frame);
    }
  }

  @Override
  public void onClose(int closeCode, String reason, Throwable cause) {
    if (!isCurrent()) {
      return;
    }
    // The node's Disconnect says why it closed; a close without a Handoff code after it (none at
    // all, 1006, or a standard code a proxy put in its place) does not know better.
    if (!CloseCode.isHandoffCode(closeCode) && disconnectCode != 0) {
      early.ended(disconnectCode, cause);
      engine.onClosed(this, disconnectCode, disconnectReason, cause);
    } else {
      early.ended(closeCode, cause);
      engine.onClosed(this, closeCode, reason, cause);
    }
  }
}
