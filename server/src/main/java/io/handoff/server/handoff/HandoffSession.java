package io.handoff.server.handoff;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.bus.v1.ActivityChanged;
import io.handoff.protocol.bus.v1.OfferEnded;
import io.handoff.protocol.bus.v1.PresenceChanged;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.engine.ResumeStore;
import io.handoff.server.session.Connection;
import io.handoff.server.sync.FollowFilter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's activities, offers and presence: the handoff feature's face to the session. It
 * dispatches the handoff frames and signals to {@link Activities}, {@link Offers} and {@link
 * Presence}, and marks the device online and offline.
 *
 * <p>Threads: everything runs on the connection's event loop, except {@link #connecting}, {@link
 * #wentOnline}, {@link #onSignal}, {@link #reconcile} and {@link #presenceRead}, which any thread
 * may call: they only hop onto the loop, through a bounded count of pending hops (beyond it,
 * signals are dropped and the session re-reads the store instead). The last of the hops pending
 * together flushes what they pushed.
 */
public final class HandoffSession extends Presence {
  private static final Logger log = LoggerFactory.getLogger(HandoffSession.class);
  private static final int MAX_PENDING_HOPS = 256;
  private static final Runnable NOTHING = () -> {};
  private static final AtomicIntegerFieldUpdater<HandoffSession> PENDING_HOPS =
      AtomicIntegerFieldUpdater.newUpdater(HandoffSession.class, "pendingHops");
  private static final int MAX_EARLY_PRESENCE = 16;

  private final HandoffService service;
  // Both made on first use: an idle connection that was told of no activity or offer holds none.
  private Activities activities;
  private Offers offers;
  private volatile int pendingHops; // Through PENDING_HOPS: no AtomicInteger per connection.
  private volatile boolean hopsLost;
  private volatile boolean online;
  private volatile boolean closed;
  private volatile long connectionNumber;
  // When this connection came online (the store's clock, taken before the resume marks it).
  private volatile long onlineSince;

  private static final CompletableFuture<?> DONE = CompletableFuture.completedFuture(null);

  // ---- event loop only ----
  // LIVE, REREAD_AFTER_WELCOME and CLAIMED_ELSEWHERE in one byte: every write and read of them is
  // on the connection's event loop (the volatile flags above are apart: other threads write them).
  private byte loopFlags;
  // Pushes flow: the Welcome went out and the connection has not ended.
  private static final byte LIVE = 1;
  // Signals may have been missed before the Welcome: re-read once it went out.
  private static final byte REREAD_AFTER_WELCOME = 2;
  // Another node said this device came online there before this connection was welcomed.
  private static final byte CLAIMED_ELSEWHERE = 4;
  // The last re-read of activities, offers and presence (reconcile waits for it); DONE once read.
  private CompletableFuture<?> lastReread = DONE;
  // Presence signals received before the Welcome, at most MAX_EARLY_PRESENCE; null when none.
  private List<DevicePresence> earlyPresence;

  HandoffSession(Connection connection, HandoffService service) {
    super(connection);
    this.service = service;
  }

  private boolean is(byte flag) {
    return (loopFlags & flag) != 0;
  }

  private void set(byte flag, boolean on) {
    loopFlags = (byte) (on ? loopFlags | flag : loopFlags & ~flag);
  }

  boolean isOnline() {
    return online && !service.stopped();
  }

  long connectionNumber() {
    return connectionNumber;
  }

  long onlineSince() {
    return onlineSince;
  }

  String userId() {
    return connection.userId();
  }

  String deviceId() {
    return connection.deviceId();
  }

  private String user() {
    return connection.userId();
  }

  private String device() {
    return connection.deviceId();
  }

  private long now() {
    return service.store.clock().millis();
  }

  // ---------------------------------------------------------------------------------------------
  // Connect and close
  // ---------------------------------------------------------------------------------------------

  /**
   * Numbers this connection (unique on this node) for the device's presence entry, which the
   * resume's store call sets (see {@link ResumeStore}). Any thread, once, before the resume.
   */
  public long connecting() {
    onlineSince = now();
    connectionNumber = service.newConnection();
    return connectionNumber;
  }

  /**
   * Sends this device's resume to {@code store}, its presence entry naming this connection ({@link
   * #connecting}). When the store marks the connection offline behind a failed resume ({@link
   * ResumeStore.Request#takenBack}: the Redis engine, whose timed-out script may still run), that
   * removal tells the user's other devices (unless the store told them) and holds a drain as {@link
   * #closed}'s offline mark does: one that read the user's presence between the late script and the
   * removal saw the device online. Any thread, once.
   */
  public CompletableFuture<ResumeStore.Resumed> resume(
      ResumeStore store,
      String sessionId,
      FollowFilter follow,
      Collection<Position> positions,
      long sessionInactivityMillis) {
    String user = user();
    String device = device();
    return store.resume(
        new ResumeStore.Request(
            user,
            device,
            sessionId,
            follow,
            positions,
            connecting(),
            connection.instance(),
            presenceTtl(),
            maxDevices(),
            sessionInactivityMillis,
            removal -> service.leaving(wentOffline(user, device, removal))));
  }

  /** After {@code mark}: tells the user's devices that {@code device} went offline, if it did. */
  private CompletableFuture<?> wentOffline(
      String user, String device, CompletableFuture<Boolean> mark) {
    return mark.thenCompose(
            changed ->
                changed
                    ? service.signal(user, presenceSignal(device, false))
                    : CompletableFuture.completedFuture(null))
        .whenComplete(
            (r, err) -> {
              if (err != null) {
                log.debug("offline of {}/{} failed: {}", user, device, err.toString());
              }
            });
  }

  /** How long the presence entry the resume sets stays online without a refresh. */
  public Duration presenceTtl() {
    return service.entryTtl();
  }

  /** The most presence entries of a user. */
  public int maxDevices() {
    return service.config.storeLimits().maxDevicesPerUser();
  }

  /**
   * The resume's store call marked the device online: the keeper refreshes it from now on and the
   * user's other devices are told. Any thread (the store's), once, right after that call.
   */
  public void wentOnline() {
    String user = user();
    String device = device();
    online = true;
    if (closed) {
      // Closed while going online: undone as closed() would have, told as a disconnect is (a
      // device may have read the entry the call set), never told online. Not once the node
      // stopped, as closed() is not: a crash sends nothing, and a stop took the resume back.
      online = false;
      if (service.stopped()) {
        return;
      }
      service.leaving(
          wentOffline(user, device, service.store.offline(user, device, connectionNumber)));
      return;
    }
    service.joined(this);
    if (closed) {
      service.left(this); // Closed while joining.
    }
    service.signal(user, presenceSignal(device, true));
  }

  private UserSignal.Builder presenceSignal(String device, boolean isOnline) {
    return UserSignal.newBuilder()
        .setPresenceChanged(
            PresenceChanged.newBuilder()
                .setPresence(
                    DevicePresence.newBuilder()
                        .setDeviceId(device)
                        .setOnline(isOnline)
                        .setLastSeenMs(now())));
  }

  /** Fills the Welcome from the resume's read and takes on what it announces. Event loop. */
  public void welcome(Welcome.Builder w, ResumeStore.Resumed x) {
    if (!x.activities().isEmpty()) {
      activities().welcome(w, x.activities());
    }
    if (!x.offers().isEmpty() || !x.ended().isEmpty()) {
      offers().welcome(w, x.offers(), x.ended());
    }
    welcomePresence(w, x.presence());
    w.setMaxActivityPayloadBytes(service.limits.maxActivityPayloadBytes())
        .setMaxOfferTtlMs((int) service.limits.maxOfferTtl().toMillis())
        .setDefaultOfferTtlMs((int) service.limits.defaultOfferTtl().toMillis());
  }

  /** After the Welcome went out: from now on pushes flow. Event loop. */
  public void welcomed() {
    set(LIVE, true);
    if (is(CLAIMED_ELSEWHERE)) {
      set(CLAIMED_ELSEWHERE, false);
      closeIfReplaced();
    }
    if (earlyPresence != null) {
      // Presence signals that came between the subscription and the Welcome: the Welcome's read
      // may predate them. Where each agrees with what the Welcome said, nothing was missed; only
      // a disagreement costs a re-read (in a reconnect storm a user's devices come back together,
      // and each would otherwise re-read everything once per sibling).
      if (!presenceAgrees(earlyPresence)) {
        set(REREAD_AFTER_WELCOME, true);
      }
      earlyPresence = null;
    }
    if (is(REREAD_AFTER_WELCOME)) {
      set(REREAD_AFTER_WELCOME, false);
      reread();
    }
  }

  /** The connection ended. Event loop. */
  public void closed() {
    closed = true;
    set(LIVE, false);
    if (offers != null) {
      offers.closed();
    }
    if (!online || service.stopped()) {
      return;
    }
    online = false;
    service.left(this);
    String user = user();
    String device = device();
    service.leaving(
        wentOffline(user, device, service.store.offline(user, device, connectionNumber)));
  }

  // ---------------------------------------------------------------------------------------------
  // Hops from other threads
  // ---------------------------------------------------------------------------------------------

  /** An activity, offer or presence signal about this user. Any thread. */
  public void onSignal(UserSignal signal) {
    hop(() -> apply(signal));
  }

  /**
   * Signals may have been lost: re-read activities, offers and presence. Any thread. Returns what
   * completes once the store answered that re-read (at once if the session is not live: it reads
   * after its Welcome; at once, reading nothing, if its event loop is stopping). A re-read already
   * under way counts instead when the hop that would start this one was dropped for the bound on
   * hops.
   */
  public CompletableFuture<?> reconcile() {
    hopsLost = true;
    hop(NOTHING);
    CompletableFuture<Object> done = new CompletableFuture<>();
    try {
      // After the hop above on the same loop, which started the re-read (or one before it did).
      connection.execute(
          () -> {
            if (is(LIVE) && connection.active()) {
              lastReread.whenComplete((v, err) -> done.complete(null));
            } else {
              done.complete(null);
            }
          });
    } catch (RejectedExecutionException e) {
      done.complete(null); // The loop is stopping.
    }
    return done;
  }

  /** The presence keeper read the user's presence. Any thread. */
  void presenceRead(List<DevicePresence> all) {
    hop(
        () -> {
          if (is(LIVE)) {
            pushPresence(all);
          }
        });
  }

  private void hop(Runnable task) {
    Runnable run = task;
    while (true) {
      int pending = pendingHops;
      if (pending >= MAX_PENDING_HOPS) {
        // Dropped: the session re-reads instead. A hop not started yet sees the flag after its
        // start; if every hop started meanwhile, one more (doing nothing else) is queued for it.
        hopsLost = true;
        if (pendingHops != 0) {
          return;
        }
        run = NOTHING;
      } else if (PENDING_HOPS.compareAndSet(this, pending, pending + 1)) {
        break; // Never above the bound, even for a moment (the last hop's check below reads it).
      }
    }
    try {
      connection.execute(hopped(run));
    } catch (RejectedExecutionException stopping) {
      // The loop is stopping, and the session with it: nothing to do, and nothing to throw at the
      // broker's thread (it tells the user's other sessions too).
      PENDING_HOPS.decrementAndGet(this);
    }
  }

  /** {@link #hop}'s task on the event loop. */
  private Runnable hopped(Runnable queued) {
    return () -> {
      PENDING_HOPS.decrementAndGet(this);
      if (!connection.active()) {
        return;
      }
      try {
        if (hopsLost) {
          hopsLost = false;
          if (is(LIVE)) {
            reread();
          } else {
            set(REREAD_AFTER_WELCOME, true);
          }
        }
        queued.run();
      } finally {
        // One flush for the hops queued together (a reconnect storm brings a user's devices'
        // offline and online signals at once): the last of them sends what all pushed, also
        // when one of them threw.
        if (PENDING_HOPS.get(this) == 0) {
          connection.flush();
        }
      }
    };
  }

  private void apply(UserSignal s) {
    if (s.hasPresenceChanged()
        && s.getPresenceChanged().getPresence().getDeviceId().equals(device())) {
      // This device's own presence: nothing to tell it. Online on another node, though, may be a
      // newer connection of it there, which replaces this one as on one node (the Hub does that).
      if (s.getPresenceChanged().getPresence().getOnline()
          && !s.getOriginNode().equals(service.config.nodeId())) {
        if (is(LIVE)) {
          closeIfReplaced();
        } else {
          set(CLAIMED_ELSEWHERE, true);
        }
      }
      return;
    }
    if (!is(LIVE)) {
      // The Welcome's read may predate it.
      if (s.hasPresenceChanged() && !is(REREAD_AFTER_WELCOME)) {
        if (earlyPresence == null) {
          earlyPresence = new ArrayList<>(2);
        }
        if (earlyPresence.size() < MAX_EARLY_PRESENCE) {
          earlyPresence.add(s.getPresenceChanged().getPresence());
          return;
        }
      }
      set(REREAD_AFTER_WELCOME, true);
      earlyPresence = null;
      return;
    }
    switch (s.getBodyCase()) {
      case ACTIVITY_CHANGED -> {
        ActivityChanged c = s.getActivityChanged();
        if (!c.getDeviceId().equals(device())) {
          activities().push(c.getDeviceId(), c.hasActivity() ? c.getActivity() : null);
        }
      }
      case OFFER_PROMPTED -> offers().prompt(s.getOfferPrompted().getOffer());
      case OFFER_ENDED -> {
        OfferEnded e = s.getOfferEnded();
        offers().ended(e.getOfferId(), e.getOutcome(), e.getByDevice(), e.getElapsedMs());
      }
      case PRESENCE_CHANGED -> pushPresence(List.of(s.getPresenceChanged().getPresence()));
      default -> {}
    }
  }

  /**
   * Closes this connection with REPLACED if the store holds the device online through another one:
   * a connection's resume marks the device online through it whatever the entry held, so the entry
   * names the newest connection, and a signal that came late or out of order from the node of an
   * older one finds this connection named and changes nothing. The close names the Hello instance
   * the entry keeps (0 if none), so a client replaced by an attempt of its own reconnects. Event
   * loop.
   */
  private void closeIfReplaced() {
    connection.onLoop(
        service.store.heldElsewhere(user(), device(), connectionNumber),
        (holder, err) -> {
          if (err != null) {
            log.debug("takeover check of {}/{} failed: {}", user(), device(), err.toString());
          } else if (holder.isPresent() && connection.active()) {
            connection.close(CloseCode.REPLACED, CloseCode.REPLACED.reason(), holder.getAsLong());
          }
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Frames from the device
  // ---------------------------------------------------------------------------------------------

  /** PublishActivity, OfferActivity, AcceptOffer, DeclineOffer and CancelOffer. Event loop. */
  public void onFrame(long id, ClientFrame f) {
    if (!takeToken()) {
      connection.error(
          id,
          ErrorCode.RATE_LIMITED,
          "more than "
              + service.limits.maxRequestsPerSecond()
              + " activity and offer requests a second",
          true);
      return;
    }
    int waiting = activities().full();
    if (waiting >= 0) {
      connection.error(
          id,
          ErrorCode.TOO_MANY_IN_FLIGHT,
          waiting
              + " activity and offer requests of this connection wait for the store, the most it"
              + " may have; send this one again once one is answered",
          true);
      return;
    }
    switch (f.getBodyCase()) {
      case PUBLISH_ACTIVITY ->
          activities()
              .publish(
                  id, f.getPublishActivity().getActivity(), f.getPublishActivity().hasActivity());
      case OFFER_ACTIVITY -> offers().offer(id, f.getOfferActivity());
      case ACCEPT_OFFER -> offers().end(id, f.getAcceptOffer().getOfferId(), OfferOutcome.ACCEPTED);
      case DECLINE_OFFER ->
          offers().end(id, f.getDeclineOffer().getOfferId(), OfferOutcome.DECLINED);
      case CANCEL_OFFER ->
          offers().end(id, f.getCancelOffer().getOfferId(), OfferOutcome.CANCELLED);
      default -> throw new IllegalArgumentException("not a handoff frame: " + f.getBodyCase());
    }
  }

  private Activities activities() {
    if (activities == null) {
      activities = new Activities(connection, service);
    }
    return activities;
  }

  private Offers offers() {
    if (offers == null) {
      offers = new Offers(connection, service, activities());
    }
    return offers;
  }

  /**
   * Takes one of the request rate limit's tokens. The limit lives in {@link Activities}, which
   * every request makes anyway (publishing, and {@link #offers} for the others), so an idle
   * connection that never sent one holds neither; the first request always finds a token.
   */
  private boolean takeToken() {
    return activities().takeToken(connection.nanoTime());
  }

  /**
   * Brings prompts, own offers, activities and presence in line with the service.store. Event loop.
   */
  private void reread() {
    String user = user();
    CompletableFuture<List<Offer>> live = service.store.liveOffers(user);
    CompletableFuture<List<Activity>> acts = service.store.activities(user);
    CompletableFuture<List<DevicePresence>> pres = service.store.presence(user);
    CompletableFuture<Void> all = CompletableFuture.allOf(live, acts, pres);
    lastReread = all;
    connection.onLoop(
        all,
        (v, err) -> {
          if (lastReread == all) {
            lastReread = DONE; // Nothing of the answer kept for an idle connection.
          }
          if (err != null) {
            log.debug("re-read of {}/{} failed: {}", user, device(), err.toString());
            return;
          }
          offers().reread(live.join());
          activities().reread(acts.join());
          pushPresence(pres.join());
          connection.flush();
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Answers shared by activities and offers
  // ---------------------------------------------------------------------------------------------

  /**
   * If {@code err} is set, answers request {@code id} with UNAVAILABLE and returns true. The store
   * may have applied the request all the same (an answer that did not come in time): an accept,
   * decline or cancel sent again gets the answer the first would have had.
   */
  static boolean failed(Connection connection, long id, Throwable err) {
    if (err == null) {
      return false;
    }
    log.warn(
        "handoff request of {}/{} failed: {}",
        connection.userId(),
        connection.deviceId(),
        err.toString());
    connection.error(
        id,
        ErrorCode.UNAVAILABLE,
        "the store did not answer; the request may have been applied. Send it again: an accept,"
            + " decline or cancel sent again gets the first one's answer",
        true);
    connection.flush();
    return true;
  }

  /** Answers request {@code id} with {@code f}. */
  static void reply(Connection connection, long id, ServerFrame.Builder f) {
    connection.reply(f.setRequestId(id).build());
    connection.flush();
  }
}
