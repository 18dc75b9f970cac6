package io.handoff.client;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ActivityUpdate;
import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.OfferResult;
import io.handoff.protocol.v1.OfferWithdrawn;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's side of activities, offers and presence: requests waiting for their answers (by
 * request id), offers this client made, prompts shown, and the last known activities and presence
 * of the user's other devices.
 *
 * <p>Threading: event loop only, except the {@code activities}, {@code prompts} and {@code
 * presence} maps, which any thread may read. Once the client is closed, no listener is called.
 */
final class HandoffRequests {
  /** Requests waiting for an answer; more fail at once with LIMIT_EXCEEDED. */
  static final int MAX_PENDING = 1024;

  /**
   * Approval prompts kept at once (the server shows at most 64); over it, the oldest goes, as in
   * the TypeScript client's {@code MAX_APPROVAL_PROMPTS}.
   */
  static final int MAX_APPROVAL_PROMPTS = 64;

  private static final Logger log = LoggerFactory.getLogger(HandoffRequests.class);
  // Above the range where other requests would be numbered, so ids never collide.
  private long nextId = 1L << 40;
  private final LinkedHashMap<Long, CompletableFuture<ServerFrame>> pending = new LinkedHashMap<>();
  // Requests that wait for the next Welcome to be sent, each with its answer.
  private final List<Waiting> afterWelcome = new ArrayList<>();
  // Requests that wait for a delay to pass to be sent again.
  private final List<Waiting> delayed = new ArrayList<>();
  private final Map<String, OutgoingOffer> outgoing = new HashMap<>();
  // When each outgoing offer is forgotten if its result has not come (its expiry plus the grace).
  private final Map<String, Scheduler.Task> forgetting = new HashMap<>();
  private final Scheduler scheduler;
  final ConcurrentHashMap<String, Activity> activities = new ConcurrentHashMap<>();
  final ConcurrentHashMap<String, Offer> prompts = new ConcurrentHashMap<>();
  final ConcurrentHashMap<String, DevicePresence> presence = new ConcurrentHashMap<>();
  // Approval prompts shown now, in arrival order: at most MAX_APPROVAL_PROMPTS (the server shows at
  // most 64 at once, and the client bounds its own map too); a new one over it makes the oldest go,
  // without a withdrawal, as in the TypeScript client.
  final java.util.Map<String, io.handoff.protocol.v1.ApprovalRequest> approvalPrompts =
      java.util.Collections.synchronizedMap(
          new LinkedHashMap<>() {
            @Override
            protected boolean removeEldestEntry(
                Map.Entry<String, io.handoff.protocol.v1.ApprovalRequest> eldest) {
              return size() > MAX_APPROVAL_PROMPTS;
            }
          });
  // Approval prompts heard before the last Welcome that the server has not prompted for again: one
  // it does is shown again without a listener call; the rest are withdrawn when the server says it
  // prompted again for all that still wait (ApprovalPromptsSent), or at their deadline from a
  // server that does not say so.
  private final Map<String, Scheduler.Task> carried = new LinkedHashMap<>();
  private final List<OfferListener> offerListeners;
  private final List<PresenceListener> presenceListeners;
  private final List<ApprovalListener> approvalListeners;
  // The client was closed: no listener is called any more.
  private boolean closed;
  // What the offer listeners last heard of activities and prompts, kept from a Welcome taken in
  // until its news is told (null otherwise), so that a Welcome whose news never is (its connection
  // ended first) is told with the next one.
  private Map<String, Activity> toldActivities;
  private Map<String, Offer> toldPrompts;

  /**
   * How long after an offer's expiry this client still waits for its result (the server sends
   * EXPIRED at the deadline) before it forgets the offer.
   */
  static final Duration RESULT_GRACE = Duration.ofSeconds(10);

  HandoffRequests(
      List<OfferListener> offers,
      List<PresenceListener> presence,
      List<ApprovalListener> approvals,
      Scheduler scheduler) {
    this.scheduler = scheduler;
    this.offerListeners = offers;
    this.presenceListeners = presence;
    this.approvalListeners = approvals;
  }

  /** Registers a request; returns its id, or -1 if too many are waiting (future failed). */
  long register(CompletableFuture<ServerFrame> answer) {
    if (pending.size() >= MAX_PENDING) {
      answer.completeExceptionally(
          HandoffException.limit(null, MAX_PENDING + " handoff requests are waiting for answers"));
      return -1;
    }
    long id = nextId++;
    pending.put(id, answer);
    return id;
  }

  /**
   * Runs {@code send} after the next Welcome; fails {@code answer} instead if the client is closed
   * first, or at once if {@link #MAX_PENDING} requests wait already.
   */
  void afterWelcome(Runnable send, CompletableFuture<ServerFrame> answer) {
    if (waiting() >= MAX_PENDING) {
      answer.completeExceptionally(
          HandoffException.limit(null, MAX_PENDING + " handoff requests wait to be sent"));
      return;
    }
    afterWelcome.add(new Waiting(send, answer::completeExceptionally));
  }

  /**
   * Runs {@code send} after {@code delayNanos}; runs {@code fail} instead if the client is closed
   * first, or at once if {@link #MAX_PENDING} requests wait already.
   */
  void later(long delayNanos, Runnable send, Consumer<HandoffException> fail) {
    if (waiting() >= MAX_PENDING) {
      fail.accept(HandoffException.limit(null, MAX_PENDING + " handoff requests wait to be sent"));
      return;
    }
    Waiting w = new Waiting(send, fail);
    delayed.add(w);
    scheduler.schedule(
        () -> {
          if (delayed.remove(w)) {
            send.run();
          }
        },
        delayNanos);
  }

  private int waiting() {
    return pending.size() + afterWelcome.size() + delayed.size();
  }

  /** The client stopped for good: requests waiting to be sent fail with {@code error}. */
  void stopWaiting(HandoffException error) {
    failWaiting(takeWaiting(), error);
  }

  /** Takes the requests waiting to be sent, to be failed with {@link #failWaiting}. */
  List<Waiting> takeWaiting() {
    List<Waiting> waiting = new ArrayList<>(afterWelcome);
    waiting.addAll(delayed);
    afterWelcome.clear();
    delayed.clear();
    return waiting;
  }

  static void failWaiting(List<Waiting> waiting, HandoffException error) {
    waiting.forEach(w -> w.fail().accept(error));
  }

  record Waiting(Runnable send, Consumer<HandoffException> fail) {}

  /**
   * Holds {@code offer} until its result comes, or until its lifetime (as the server set it) and
   * {@link #RESULT_GRACE} have passed from now: then it is forgotten and its result fails, so an
   * offer whose result never comes (the client stayed away) costs nothing after its expiry.
   */
  void track(Offer created, OutgoingOffer offer) {
    String offerId = created.getOfferId();
    outgoing.put(offerId, offer);
    long lifetime = Math.max(0, created.getExpiresMs() - created.getCreatedMs());
    long delay = TimeUnit.MILLISECONDS.toNanos(lifetime) + RESULT_GRACE.toNanos();
    forgetting.put(offerId, scheduler.schedule(() -> forget(offerId, lifetime), delay));
  }

  private void forget(String offerId, long lifetimeMs) {
    forgetting.remove(offerId);
    OutgoingOffer o = outgoing.remove(offerId);
    if (o != null) {
      o.result.completeExceptionally(
          HandoffException.outcomeUnknown(
              "offer "
                  + offerId
                  + " expired "
                  + RESULT_GRACE.toSeconds()
                  + " s ago (it was live for "
                  + lifetimeMs
                  + " ms) and its result did not reach this client; it has ended, but how is"
                  + " unknown"));
    }
  }

  /** The offer's result came: it is no longer held. */
  private OutgoingOffer resolved(String offerId) {
    Scheduler.Task t = forgetting.remove(offerId);
    if (t != null) {
      t.cancel();
    }
    return outgoing.remove(offerId);
  }

  /** Offers waiting for their results. */
  int outgoing() {
    return outgoing.size();
  }

  /** The connection ended: requests without an answer fail (their outcome is unknown). */
  void connectionLost(HandoffException error) {
    connectionLost(() -> error);
  }

  /**
   * The connection ended: every request waiting for an answer fails with the error {@code error}
   * makes (made only if one waits: most connections end with none, and an exception's stack trace
   * is not free in a reconnect storm).
   */
  void connectionLost(Supplier<HandoffException> error) {
    if (pending.isEmpty()) {
      return;
    }
    HandoffException e = error.get();
    List<CompletableFuture<ServerFrame>> waiting = new ArrayList<>(pending.values());
    pending.clear();
    waiting.forEach(f -> f.completeExceptionally(e));
  }

  /** Whether the client is closed ({@link #closed}). */
  boolean isClosed() {
    return closed;
  }

  /** The client is closed for good: outgoing offers will not hear of their results. */
  void closed(HandoffException error) {
    closed = true;
    connectionLost(error);
    stopWaiting(error);
    outgoing.values().forEach(o -> o.result.completeExceptionally(error));
    outgoing.clear();
    forgetting.values().forEach(Scheduler.Task::cancel);
    forgetting.clear();
    carried.values().forEach(Scheduler.Task::cancel);
    carried.clear();
  }

  /** Approval prompts are shown, or carried from before a reconnect: the next Hello says so. */
  boolean holdsApprovalPrompts() {
    return !approvalPrompts.isEmpty() || !carried.isEmpty();
  }

  /**
   * Carries a prompt over a reconnect until the server prompts again, says it prompted again for
   * all that still wait, or its deadline passes.
   */
  private void carry(String id, io.handoff.protocol.v1.ApprovalRequest r) {
    Scheduler.Task before = carried.remove(id);
    if (before != null) {
      before.cancel();
    }
    long left = Math.max(0, r.getExpiresMs() - System.currentTimeMillis());
    carried.put(
        id,
        scheduler.schedule(
            () -> {
              if (carried.remove(id) != null) {
                endedWhileAway(id);
              }
            },
            TimeUnit.MILLISECONDS.toNanos(left)));
  }

  /** A carried prompt ended while this client was away; how is not known. */
  private void endedWhileAway(String id) {
    approvalListeners.forEach(
        l ->
            call(
                () -> l.onApprovalWithdrawn(id, ApprovalOutcome.APPROVAL_OUTCOME_UNSPECIFIED, "")));
  }

  /** A carried prompt is shown or ended again: true if it was carried. */
  private boolean uncarry(String id) {
    Scheduler.Task t = carried.remove(id);
    if (t == null) {
      return false;
    }
    t.cancel();
    return true;
  }

  /**
   * A Welcome says what is live now: it becomes what {@link #activities}, {@link #prompts} and
   * {@link #presence} hold at once, before the client says it is connected, so whoever reads them
   * from then on (a listener of the CONNECTED state, a callback of the connect future) sees this
   * connection's view, not the one from before the reconnect. Returns what is still to be done, run
   * once the client said so: what ended while this client was away is withdrawn (or cleared) for
   * the listeners, what is new or changed announced, and what they already know left as it is;
   * results of offers that ended meanwhile are handed over, and requests waiting for the Welcome
   * sent. A Welcome whose rest is never run (its connection ended first) leaves the listeners where
   * they were: the next Welcome is told against what they heard last.
   */
  Runnable welcomed(Welcome w) {
    if (toldActivities == null) {
      toldActivities = new HashMap<>(activities);
      toldPrompts = new HashMap<>(prompts);
    }
    Map<String, Offer> hadPrompts = new HashMap<>(toldPrompts);
    Map<String, Activity> hadActivities = new HashMap<>(toldActivities);
    prompts.clear();
    // The server prompts again for what still waits, after this Welcome; a prompt it does not
    // prompt for again ended while this client was away and goes at its deadline.
    synchronized (approvalPrompts) {
      approvalPrompts.forEach(this::carry);
      approvalPrompts.clear();
    }
    activities.clear();
    presence.clear();
    List<Activity> changed = new ArrayList<>();
    for (Activity a : w.getActivitiesList()) {
      activities.put(a.getDeviceId(), a);
      if (!a.equals(hadActivities.remove(a.getDeviceId()))) {
        changed.add(a);
      }
    }
    List<Offer> prompted = new ArrayList<>();
    for (Offer o : w.getOffersList()) {
      prompts.put(o.getOfferId(), o);
      if (hadPrompts.remove(o.getOfferId()) == null) {
        prompted.add(o);
      }
    }
    w.getPresenceList().forEach(p -> presence.put(p.getDeviceId(), p));
    return () -> {
      toldActivities = null;
      toldPrompts = null;
      for (Activity a : changed) {
        offerListeners.forEach(l -> call(() -> l.onActivity(a.getDeviceId(), a)));
      }
      for (String gone : hadActivities.keySet()) {
        offerListeners.forEach(l -> call(() -> l.onActivity(gone, null)));
      }
      for (Offer o : prompted) {
        offerListeners.forEach(l -> call(() -> l.onPrompt(o)));
      }
      for (String gone : hadPrompts.keySet()) {
        // Ended while this client was away; how is not known here.
        offerListeners.forEach(
            l -> call(() -> l.onWithdrawn(gone, OfferOutcome.OFFER_OUTCOME_UNSPECIFIED, "")));
      }
      for (OfferResult r : w.getOfferResultsList()) {
        OutgoingOffer o = resolved(r.getOfferId());
        if (o != null) {
          o.result.complete(r); // It ended while this client was away.
        }
      }
      if (w.getPresenceCount() > 0) {
        presenceListeners.forEach(l -> call(() -> l.onPresence(w.getPresenceList())));
      }
      List<Waiting> waiting = List.copyOf(afterWelcome);
      afterWelcome.clear();
      waiting.forEach(r -> r.send().run());
    };
  }

  /** An Error frame; true if it answered a handoff request. */
  boolean onError(ServerFrame frame) {
    CompletableFuture<ServerFrame> f = pending.remove(frame.getRequestId());
    if (f == null) {
      return false;
    }
    f.completeExceptionally(HandoffException.fromError(frame.getError(), null));
    return true;
  }

  /** Frames 40-59 (answers and pushes), and answers to device requests (frames 32-33). */
  void onFrame(ServerFrame frame) {
    switch (frame.getBodyCase()) {
      case ACTIVITY_UPDATE -> {
        ActivityUpdate u = frame.getActivityUpdate();
        if (frame.getRequestId() == 0) {
          Activity a = u.hasActivity() ? u.getActivity() : null;
          if (a == null) {
            activities.remove(u.getDeviceId());
          } else {
            activities.put(u.getDeviceId(), a);
          }
          offerListeners.forEach(l -> call(() -> l.onActivity(u.getDeviceId(), a)));
        }
      }
      case OFFER_PROMPT -> {
        Offer o = frame.getOfferPrompt().getOffer();
        if (prompts.put(o.getOfferId(), o) == null) {
          offerListeners.forEach(l -> call(() -> l.onPrompt(o)));
        } else {
          offerListeners.forEach(l -> call(() -> l.onPromptRepeated(o)));
        }
      }
      case OFFER_WITHDRAWN -> {
        OfferWithdrawn w = frame.getOfferWithdrawn();
        boolean held = prompts.remove(w.getOfferId()) != null;
        if (frame.getRequestId() == 0 && held) {
          offerListeners.forEach(
              l -> call(() -> l.onWithdrawn(w.getOfferId(), w.getOutcome(), w.getByDevice())));
        } else if (frame.getRequestId() == 0) {
          offerListeners.forEach(
              l ->
                  call(() -> l.onWithdrawnUnheld(w.getOfferId(), w.getOutcome(), w.getByDevice())));
        }
      }
      case OFFER_GRANTED -> prompts.remove(frame.getOfferGranted().getOffer().getOfferId());
      case OFFER_CREATED -> {}
      case OFFER_RESULT -> {
        OutgoingOffer o = resolved(frame.getOfferResult().getOfferId());
        if (o != null) {
          o.result.complete(frame.getOfferResult());
        }
      }
      case APPROVAL_PROMPT -> {
        io.handoff.protocol.v1.ApprovalRequest r = frame.getApprovalPrompt().getRequest();
        if (frame.getRequestId() == 0
            && approvalPrompts.put(r.getApprovalId(), r) == null
            && !uncarry(r.getApprovalId())) {
          approvalListeners.forEach(l -> call(() -> l.onApprovalPrompt(r)));
        }
      }
      case APPROVAL_ANSWERED -> {
        approvalPrompts.remove(frame.getApprovalAnswered().getApprovalId());
        uncarry(frame.getApprovalAnswered().getApprovalId());
      }
      case APPROVAL_WITHDRAWN -> {
        io.handoff.protocol.v1.ApprovalWithdrawn w = frame.getApprovalWithdrawn();
        boolean shown = approvalPrompts.remove(w.getApprovalId()) != null;
        if (uncarry(w.getApprovalId()) || shown) {
          approvalListeners.forEach(
              l ->
                  call(
                      () ->
                          l.onApprovalWithdrawn(
                              w.getApprovalId(), w.getOutcome(), w.getByDevice())));
        }
      }
      case APPROVAL_PROMPTS_SENT -> {
        // Every request still waiting was prompted for again since the Welcome: the carried
        // prompts left ended while this client was away.
        List<String> ended = List.copyOf(carried.keySet());
        ended.forEach(this::uncarry);
        ended.forEach(this::endedWhileAway);
      }
      case PRESENCE_UPDATE -> {
        List<DevicePresence> changed = frame.getPresenceUpdate().getDevicesList();
        changed.forEach(p -> presence.put(p.getDeviceId(), p));
        presenceListeners.forEach(l -> call(() -> l.onPresence(changed)));
      }
      default -> {}
    }
    if (frame.getRequestId() != 0) {
      CompletableFuture<ServerFrame> f = pending.remove(frame.getRequestId());
      if (f != null) {
        f.complete(frame);
      }
    }
  }

  private void call(Runnable listenerCall) {
    if (closed) {
      return; // The client was closed, maybe by a listener called just before.
    }
    try {
      listenerCall.run();
    } catch (VirtualMachineError e) {
      throw e;
    } catch (Throwable e) {
      log.warn("a handoff listener threw", e);
    }
  }
}
