package io.handoff.client;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ActivityUpdate;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferResult;
import io.handoff.protocol.v1.OfferWithdrawn;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's side of activities, offers and presence: requests waiting for their answers (by
 * request id), offers this client made, prompts shown, and the last known activities and presence
 * of the user's other devices.
 *
 * <p>Threading: event loop only, except the {@code activities}, {@code prompts} and {@code
 * presence} maps, which any thread may read.
 */
final class HandoffRequests {
  /** Requests waiting for an answer; more fail at once with LIMIT_EXCEEDED. */
  static final int MAX_PENDING = 1024;

  private static final Logger log = LoggerFactory.getLogger(HandoffRequests.class);
  // Above the range where other requests would be numbered, so ids never collide.
  private long nextId = 1L << 40;
  private final LinkedHashMap<Long, CompletableFuture<ServerFrame>> pending = new LinkedHashMap<>();
  private final Map<String, OutgoingOffer> outgoing = new HashMap<>();
  final ConcurrentHashMap<String, Activity> activities = new ConcurrentHashMap<>();
  final ConcurrentHashMap<String, Offer> prompts = new ConcurrentHashMap<>();
  final ConcurrentHashMap<String, DevicePresence> presence = new ConcurrentHashMap<>();
  // Approval prompts shown now, in arrival order (bounded by the server: 64 at once).
  final java.util.Map<String, io.handoff.protocol.v1.ApprovalRequest> approvalPrompts =
      java.util.Collections.synchronizedMap(new LinkedHashMap<>());
  private final List<OfferListener> offerListeners;
  private final List<PresenceListener> presenceListeners;
  private final List<ApprovalListener> approvalListeners;

  HandoffRequests(
      List<OfferListener> offers,
      List<PresenceListener> presence,
      List<ApprovalListener> approvals) {
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

  void track(String offerId, OutgoingOffer offer) {
    outgoing.put(offerId, offer);
  }

  /** The connection ended: requests without an answer fail (their outcome is unknown). */
  void connectionLost(HandoffException error) {
    List<CompletableFuture<ServerFrame>> waiting = new ArrayList<>(pending.values());
    pending.clear();
    waiting.forEach(f -> f.completeExceptionally(error));
  }

  /** The client is closed for good: outgoing offers will not hear of their results. */
  void closed(HandoffException error) {
    connectionLost(error);
    outgoing.values().forEach(o -> o.result.completeExceptionally(error));
    outgoing.clear();
  }

  void onWelcome(Welcome w) {
    prompts.clear();
    approvalPrompts.clear(); // The server prompts again for what still waits.
    activities.clear();
    presence.clear();
    for (Activity a : w.getActivitiesList()) {
      activities.put(a.getDeviceId(), a);
      offerListeners.forEach(l -> call(() -> l.onActivity(a.getDeviceId(), a)));
    }
    for (Offer o : w.getOffersList()) {
      prompts.put(o.getOfferId(), o);
      offerListeners.forEach(l -> call(() -> l.onPrompt(o)));
    }
    for (OfferResult r : w.getOfferResultsList()) {
      OutgoingOffer o = outgoing.remove(r.getOfferId());
      if (o != null) {
        o.result.complete(r); // It ended while this client was away.
      }
    }
    w.getPresenceList().forEach(p -> presence.put(p.getDeviceId(), p));
    if (w.getPresenceCount() > 0) {
      presenceListeners.forEach(l -> call(() -> l.onPresence(w.getPresenceList())));
    }
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
        }
      }
      case OFFER_WITHDRAWN -> {
        OfferWithdrawn w = frame.getOfferWithdrawn();
        if (prompts.remove(w.getOfferId()) != null && frame.getRequestId() == 0) {
          offerListeners.forEach(
              l -> call(() -> l.onWithdrawn(w.getOfferId(), w.getOutcome(), w.getByDevice())));
        }
      }
      case OFFER_GRANTED -> prompts.remove(frame.getOfferGranted().getOffer().getOfferId());
      case OFFER_CREATED -> {}
      case OFFER_RESULT -> {
        OutgoingOffer o = outgoing.remove(frame.getOfferResult().getOfferId());
        if (o != null) {
          o.result.complete(frame.getOfferResult());
        }
      }
      case APPROVAL_PROMPT -> {
        io.handoff.protocol.v1.ApprovalRequest r = frame.getApprovalPrompt().getRequest();
        if (frame.getRequestId() == 0 && approvalPrompts.put(r.getApprovalId(), r) == null) {
          approvalListeners.forEach(l -> call(() -> l.onApprovalPrompt(r)));
        }
      }
      case APPROVAL_ANSWERED -> approvalPrompts.remove(frame.getApprovalAnswered().getApprovalId());
      case APPROVAL_WITHDRAWN -> {
        io.handoff.protocol.v1.ApprovalWithdrawn w = frame.getApprovalWithdrawn();
        if (approvalPrompts.remove(w.getApprovalId()) != null) {
          approvalListeners.forEach(
              l ->
                  call(
                      () ->
                          l.onApprovalWithdrawn(
                              w.getApprovalId(), w.getOutcome(), w.getByDevice())));
        }
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

  private static void call(Runnable listenerCall) {
    try {
      listenerCall.run();
    } catch (RuntimeException e) {
      log.warn("a handoff listener threw", e);
    }
  }
}
