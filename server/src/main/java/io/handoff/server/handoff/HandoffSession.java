package io.handoff.server.handoff;

import io.handoff.protocol.bus.v1.ActivityChanged;
import io.handoff.protocol.bus.v1.OfferEnded;
import io.handoff.protocol.bus.v1.OfferPrompted;
import io.handoff.protocol.bus.v1.PresenceChanged;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ActivityUpdate;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferActivity;
import io.handoff.protocol.v1.OfferCreated;
import io.handoff.protocol.v1.OfferGranted;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.OfferPrompt;
import io.handoff.protocol.v1.OfferResult;
import io.handoff.protocol.v1.OfferWithdrawn;
import io.handoff.protocol.v1.PresenceUpdate;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.handoff.HandoffStore.OfferEnd;
import io.handoff.server.session.SessionHandler;
import io.handoff.server.sync.SyncResult;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's activities, offers and presence, beside its {@link SessionHandler}.
 *
 * <p>Threads: everything runs on the session's event loop, except {@link #onSignal}, {@link
 * #reconcile} and {@link #presenceRead}, which any thread may call: they only hop onto the loop,
 * through a bounded count of pending hops (beyond it, signals are dropped and the session re-reads
 * the store instead).
 *
 * <p>State: which offers this device has been prompted for ({@code prompts}) and which of its own
 * offers are live ({@code own}), each with a timer at the offer's deadline; and what it has been
 * told of the other devices' activities and presence, so that only changes are pushed. An offer
 * leaves {@code prompts} or {@code own} exactly once, and only then is the device told it ended: so
 * a target sees one withdrawal and the offerer hears of exactly one outcome per offer, whether the
 * news came by signal, by its own request, by its timer or by a re-read.
 */
public final class HandoffSession {
  private static final Logger log = LoggerFactory.getLogger(HandoffSession.class);
  private static final int MAX_PENDING_HOPS = 256;

  private final SessionHandler session;
  private final HandoffService service;
  private final HandoffStore store;
  private final HandoffLimits limits;
  private final AtomicInteger pendingHops = new AtomicInteger();
  private volatile boolean hopsLost;
  private volatile boolean online;
  private volatile boolean closed;
  private volatile String connectionId;

  // ---- event loop only ----
  private boolean live;
  private boolean rereadAfterWelcome;
  // Allocated on first use (an idle connection mostly never prompts, offers or sees an activity);
  // until then the shared empty map, which reads, removes and clears like an empty one.
  private Map<String, Prompted> prompts = Collections.emptyMap();
  private Map<String, Prompted> own = Collections.emptyMap();
  private Map<String, Activity> activitiesSeen = Collections.emptyMap();
  private final Map<String, DevicePresence> presenceSeen = new HashMap<>();
  private double tokens;
  private long tokensAtNanos = System.nanoTime();

  public HandoffSession(SessionHandler session, HandoffService service) {
    this.session = session;
    this.service = service;
    this.store = service.store;
    this.limits = service.limits;
    this.tokens = limits.maxRequestsPerSecond();
  }

  public boolean isOnline() {
    return online && !service.stopped();
  }

  public String connectionId() {
    return connectionId;
  }

  private String user() {
    return session.userId();
  }

  private String device() {
    return session.deviceId();
  }

  private long now() {
    return store.clock().millis();
  }

  /** What the Welcome carries besides sync. */
  public record Extras(
      List<Activity> activities,
      List<Offer> offers,
      List<DevicePresence> presence,
      List<OfferEnd> ended) {}

  // ---------------------------------------------------------------------------------------------
  // Connect and close
  // ---------------------------------------------------------------------------------------------

  /**
   * Marks the device online and reads what its Welcome needs. Call once the user's subscription is
   * live, so a change after the read is signalled to this session. Any thread.
   */
  public CompletableFuture<Extras> connect() {
    connectionId = service.newConnectionId();
    String user = user();
    String device = device();
    return store
        .online(
            user,
            device,
            connectionId,
            service.entryTtl(),
            service.config.storeLimits().maxDevicesPerUser())
        .thenCompose(
            v -> {
              online = true;
              if (closed) {
                online = false; // Closed while going online: undo, as closed() could not.
                store.offline(user, device, connectionId);
              }
              service.signal(
                  user,
                  UserSignal.newBuilder()
                      .setPresenceChanged(
                          PresenceChanged.newBuilder()
                              .setPresence(
                                  DevicePresence.newBuilder()
                                      .setDeviceId(device)
                                      .setOnline(true)
                                      .setLastSeenMs(now()))));
              CompletableFuture<List<Activity>> a = store.activities(user);
              CompletableFuture<List<Offer>> o = store.liveOffers(user);
              CompletableFuture<List<DevicePresence>> p = store.presence(user);
              CompletableFuture<List<OfferEnd>> e = store.recentlyEnded(user);
              return CompletableFuture.allOf(a, o, p, e)
                  .thenApply(x -> new Extras(a.join(), o.join(), p.join(), e.join()));
            });
  }

  /** Fills the Welcome and takes on what it announces. Event loop. */
  public void welcome(Welcome.Builder w, Extras x) {
    long now = now();
    for (Activity a : x.activities()) {
      if (!a.getDeviceId().equals(device())) {
        activitiesForWrite().put(a.getDeviceId(), a);
        w.addActivities(a);
      }
    }
    for (Offer o : x.offers()) {
      if (o.getExpiresMs() <= now) {
        continue;
      }
      if (isTarget(o)) {
        promptsForWrite().put(o.getOfferId(), timer(o));
        w.addOffers(o);
      } else if (o.getFromDevice().equals(device())) {
        ownForWrite().put(o.getOfferId(), timer(o));
      }
    }
    for (OfferEnd e : x.ended()) {
      if (e.offer().getFromDevice().equals(device())) {
        w.addOfferResults(
            OfferResult.newBuilder()
                .setOfferId(e.offer().getOfferId())
                .setOutcome(e.outcome())
                .setByDevice(e.byDevice())
                .setElapsedMs(e.endedMs() - e.offer().getCreatedMs()));
      }
    }
    for (DevicePresence p : x.presence()) {
      if (!p.getDeviceId().equals(device())) {
        presenceSeen.put(p.getDeviceId(), p);
        w.addPresence(p);
      }
    }
    w.setMaxActivityPayloadBytes(limits.maxActivityPayloadBytes())
        .setMaxOfferTtlMs((int) limits.maxOfferTtl().toMillis())
        .setDefaultOfferTtlMs((int) limits.defaultOfferTtl().toMillis());
  }

  /** After the Welcome went out: from now on pushes flow. Event loop. */
  public void welcomed() {
    live = true;
    if (rereadAfterWelcome) {
      rereadAfterWelcome = false;
      reread();
    }
  }

  /** The connection ended. Event loop. */
  public void closed() {
    closed = true;
    live = false;
    prompts.values().forEach(Prompted::cancel);
    own.values().forEach(Prompted::cancel);
    prompts.clear();
    own.clear();
    if (!online || service.stopped()) {
      return;
    }
    online = false;
    String user = user();
    String device = device();
    store
        .offline(user, device, connectionId)
        .whenComplete(
            (changed, err) -> {
              if (err != null) {
                log.debug("offline of {}/{} failed: {}", user, device, err.toString());
              } else if (changed) {
                service.signal(
                    user,
                    UserSignal.newBuilder()
                        .setPresenceChanged(
                            PresenceChanged.newBuilder()
                                .setPresence(
                                    DevicePresence.newBuilder()
                                        .setDeviceId(device)
                                        .setOnline(false)
                                        .setLastSeenMs(now()))));
              }
            });
  }

  // ---------------------------------------------------------------------------------------------
  // Hops from other threads
  // ---------------------------------------------------------------------------------------------

  /** A signal about this user. Any thread. */
  public void onSignal(UserSignal signal) {
    hop(() -> apply(signal));
  }

  /** Signals may have been lost: re-read activities, offers and presence. Any thread. */
  public void reconcile() {
    hopsLost = true;
    hop(() -> {});
  }

  /** The presence keeper read the user's presence. Any thread. */
  public void presenceRead(List<DevicePresence> all) {
    hop(
        () -> {
          if (live) {
            pushPresence(all);
          }
        });
  }

  private void hop(Runnable task) {
    if (pendingHops.incrementAndGet() > MAX_PENDING_HOPS) {
      pendingHops.decrementAndGet();
      hopsLost = true;
      return;
    }
    session
        .loop()
        .execute(
            () -> {
              pendingHops.decrementAndGet();
              if (!session.active()) {
                return;
              }
              if (hopsLost) {
                hopsLost = false;
                if (live) {
                  reread();
                } else {
                  rereadAfterWelcome = true;
                }
              }
              task.run();
            });
  }

  private void apply(UserSignal s) {
    if (s.hasPresenceChanged()
        && s.getPresenceChanged().getPresence().getDeviceId().equals(device())) {
      return; // This device's own presence: nothing to tell it.
    }
    if (!live) {
      rereadAfterWelcome = true; // The Welcome's read may predate it.
      return;
    }
    switch (s.getBodyCase()) {
      case ACTIVITY_CHANGED -> {
        ActivityChanged c = s.getActivityChanged();
        if (!c.getDeviceId().equals(device())) {
          pushActivity(c.getDeviceId(), c.hasActivity() ? c.getActivity() : null);
        }
      }
      case OFFER_PROMPTED -> prompt(s.getOfferPrompted().getOffer());
      case OFFER_ENDED -> {
        OfferEnded e = s.getOfferEnded();
        ended(e.getOfferId(), e.getOutcome(), e.getByDevice(), e.getElapsedMs());
      }
      case PRESENCE_CHANGED -> pushPresence(List.of(s.getPresenceChanged().getPresence()));
      default -> {}
    }
    session.flush();
  }

  // ---------------------------------------------------------------------------------------------
  // Frames from the device
  // ---------------------------------------------------------------------------------------------

  /** Handles frames 40-59. Event loop. */
  public void onFrame(long id, ClientFrame f) {
    if (!takeToken()) {
      session.sendError(
          id,
          ErrorCode.RATE_LIMITED,
          "more than " + limits.maxRequestsPerSecond() + " activity and offer requests a second",
          null,
          0,
          0,
          0,
          true);
      return;
    }
    switch (f.getBodyCase()) {
      case PUBLISH_ACTIVITY ->
          publish(id, f.getPublishActivity().getActivity(), f.getPublishActivity().hasActivity());
      case OFFER_ACTIVITY -> offer(id, f.getOfferActivity());
      case ACCEPT_OFFER -> end(id, f.getAcceptOffer().getOfferId(), OfferOutcome.ACCEPTED);
      case DECLINE_OFFER -> end(id, f.getDeclineOffer().getOfferId(), OfferOutcome.DECLINED);
      case CANCEL_OFFER -> end(id, f.getCancelOffer().getOfferId(), OfferOutcome.CANCELLED);
      default -> throw new IllegalArgumentException("not a handoff frame: " + f.getBodyCase());
    }
  }

  private boolean takeToken() {
    long nanos = System.nanoTime();
    int rate = limits.maxRequestsPerSecond();
    tokens = Math.min(rate, tokens + (nanos - tokensAtNanos) * rate / 1e9);
    tokensAtNanos = nanos;
    if (tokens < 1) {
      return false;
    }
    tokens -= 1;
    return true;
  }

  private void publish(long id, Activity activity, boolean present) {
    String user = user();
    String device = device();
    if (!present) {
      session.onLoop(
          store.clearActivity(user, device),
          (v, err) -> {
            if (failed(id, err)) {
              return;
            }
            service.signal(
                user,
                UserSignal.newBuilder()
                    .setActivityChanged(ActivityChanged.newBuilder().setDeviceId(device)));
            reply(
                id,
                ServerFrame.newBuilder()
                    .setActivityUpdate(ActivityUpdate.newBuilder().setDeviceId(device)));
          });
      return;
    }
    String problem = checkActivity(activity);
    if (problem != null) {
      ErrorCode code =
          problem.startsWith("payload") ? ErrorCode.PAYLOAD_TOO_LARGE : ErrorCode.BAD_REQUEST;
      session.sendError(id, code, problem, null, 0, 0, 0, false);
      return;
    }
    Activity stamped = activity.toBuilder().setDeviceId(device).setUpdatedMs(now()).build();
    session.onLoop(
        store.putActivity(user, stamped, limits.activityRetention()),
        (v, err) -> {
          if (failed(id, err)) {
            return;
          }
          service.stats.activitiesPublished.increment();
          service.signal(
              user,
              UserSignal.newBuilder()
                  .setActivityChanged(
                      ActivityChanged.newBuilder().setDeviceId(device).setActivity(stamped)));
          reply(
              id,
              ServerFrame.newBuilder()
                  .setActivityUpdate(
                      ActivityUpdate.newBuilder().setDeviceId(device).setActivity(stamped)));
        });
  }

  /** Null if the activity is within bounds, else what is wrong ("payload ..." for its size). */
  private String checkActivity(Activity a) {
    if (a.getPayload().size() > limits.maxActivityPayloadBytes()) {
      return "payload is "
          + a.getPayload().size()
          + " bytes; the limit is "
          + limits.maxActivityPayloadBytes();
    }
    if (!a.getDocument().isEmpty()) {
      String p = service.validator.checkName("activity document", a.getDocument());
      if (p != null) {
        return p;
      }
    }
    if (utf8Length(a.getKind()) > limits.maxTextBytes()
        || utf8Length(a.getTitle()) > limits.maxTextBytes()) {
      return "activity kind and title may have at most " + limits.maxTextBytes() + " bytes";
    }
    return null;
  }

  private void offer(long id, OfferActivity req) {
    String target = req.getTargetDevice();
    if (target.equals(device())) {
      session.sendError(
          id, ErrorCode.BAD_TARGET, "an offer cannot target its own device", null, 0, 0, 0, false);
      return;
    }
    if (utf8Length(target) > limits.maxTextBytes()) {
      session.sendError(
          id, ErrorCode.BAD_TARGET, "target device id is too long", null, 0, 0, 0, false);
      return;
    }
    if (!req.hasActivity()) {
      session.sendError(
          id, ErrorCode.BAD_REQUEST, "an offer needs an activity", null, 0, 0, 0, false);
      return;
    }
    String problem = checkActivity(req.getActivity());
    if (problem != null) {
      ErrorCode code =
          problem.startsWith("payload") ? ErrorCode.PAYLOAD_TOO_LARGE : ErrorCode.BAD_REQUEST;
      session.sendError(id, code, problem, null, 0, 0, 0, false);
      return;
    }
    long ttl =
        req.getTtlMs() == 0 ? limits.defaultOfferTtl().toMillis() : req.getTtlMs() & 0xffffffffL;
    if (ttl > limits.maxOfferTtl().toMillis()) {
      session.sendError(
          id,
          ErrorCode.LIMIT_EXCEEDED,
          "ttl_ms " + ttl + " is above the limit of " + limits.maxOfferTtl().toMillis(),
          null,
          0,
          0,
          0,
          false);
      return;
    }
    long now = now();
    Offer offer =
        Offer.newBuilder()
            .setOfferId(service.newOfferId())
            .setFromDevice(device())
            .setTargetDevice(target)
            .setActivity(
                req.getActivity().toBuilder().setDeviceId(device()).setUpdatedMs(now).build())
            .setCreatedMs(now)
            .setExpiresMs(now + ttl)
            .build();
    String user = user();
    session.onLoop(
        store.createOffer(user, offer, limits.maxLiveOffersPerUser()),
        (created, err) -> {
          if (failed(id, err)) {
            return;
          }
          if (!created) {
            session.sendError(
                id,
                ErrorCode.TOO_MANY_OFFERS,
                "the user has "
                    + limits.maxLiveOffersPerUser()
                    + " live offers; cancel one or wait for one to end",
                null,
                0,
                0,
                0,
                true);
            session.flush();
            return;
          }
          service.stats.offersCreated.increment();
          ownForWrite().put(offer.getOfferId(), timer(offer));
          reply(
              id,
              ServerFrame.newBuilder().setOfferCreated(OfferCreated.newBuilder().setOffer(offer)));
          service.signal(
              user,
              UserSignal.newBuilder().setOfferPrompted(OfferPrompted.newBuilder().setOffer(offer)));
        });
  }

  /** Accept, decline or cancel. */
  private void end(long id, String offerId, OfferOutcome outcome) {
    if (offerId.isEmpty() || utf8Length(offerId) > 64) {
      session.sendError(id, ErrorCode.BAD_REQUEST, "bad offer_id", null, 0, 0, 0, false);
      return;
    }
    String user = user();
    String device = device();
    session.onLoop(
        store.endOffer(user, offerId, device, outcome),
        (r, err) -> {
          if (failed(id, err)) {
            return;
          }
          switch (r.status()) {
            case ENDED -> {
              long elapsed = r.endedMs() - r.offer().getCreatedMs();
              count(outcome, elapsed);
              service.signal(user, ended(r, elapsed));
              Prompted p = prompts.remove(offerId);
              if (p != null) {
                p.cancel();
              }
              Prompted mine = own.remove(offerId);
              if (mine != null) {
                mine.cancel();
              }
              switch (outcome) {
                case ACCEPTED -> grant(id, r.offer());
                case DECLINED ->
                    reply(
                        id,
                        ServerFrame.newBuilder()
                            .setOfferWithdrawn(
                                OfferWithdrawn.newBuilder()
                                    .setOfferId(offerId)
                                    .setOutcome(outcome)
                                    .setByDevice(device)));
                default ->
                    reply(
                        id,
                        ServerFrame.newBuilder()
                            .setOfferResult(
                                OfferResult.newBuilder()
                                    .setOfferId(offerId)
                                    .setOutcome(outcome)
                                    .setElapsedMs(elapsed)));
              }
            }
            case NOT_FOUND -> {
              session.sendError(
                  id, ErrorCode.OFFER_NOT_FOUND, "no offer " + offerId, null, 0, 0, 0, false);
              session.flush();
            }
            case NOT_PERMITTED -> {
              session.sendError(
                  id,
                  ErrorCode.NOT_PERMITTED,
                  outcome == OfferOutcome.CANCELLED
                      ? "only the offering device may cancel an offer"
                      : "this device is not a target of the offer",
                  null,
                  0,
                  0,
                  0,
                  false);
              session.flush();
            }
            default -> {
              // ALREADY_ENDED: withdraw what this device still shows, then say why.
              ended(offerId, r.outcome(), r.byDevice(), r.endedMs() - r.offer().getCreatedMs());
              session.sendError(
                  id, ErrorCode.OFFER_WITHDRAWN, withdrawnMessage(r), null, 0, 0, 0, false);
              session.flush();
            }
          }
        });
  }

  private static String withdrawnMessage(OfferEnd r) {
    return switch (r.outcome()) {
      case ACCEPTED -> "the offer was already accepted by device " + r.byDevice();
      case DECLINED -> "the offer was declined by device " + r.byDevice();
      case CANCELLED -> "the offer was cancelled by its device";
      default -> "the offer expired";
    };
  }

  private void count(OfferOutcome outcome, long elapsed) {
    switch (outcome) {
      case ACCEPTED -> {
        service.stats.offersAccepted.increment();
        service.stats.recordHandoffTransition(elapsed);
      }
      case DECLINED -> service.stats.offersDeclined.increment();
      case CANCELLED -> service.stats.offersCancelled.increment();
      default -> service.stats.offersExpired.increment();
    }
  }

  private static UserSignal.Builder ended(OfferEnd r, long elapsed) {
    return UserSignal.newBuilder()
        .setOfferEnded(
            OfferEnded.newBuilder()
                .setOfferId(r.offer().getOfferId())
                .setOutcome(r.outcome())
                .setByDevice(r.byDevice())
                .setFromDevice(r.offer().getFromDevice())
                .setElapsedMs(elapsed));
  }

  /** Sends the winner its activity with the document's latest snapshot. */
  private void grant(long id, Offer offer) {
    String doc = offer.getActivity().getDocument();
    if (doc.isEmpty()) {
      reply(
          id, ServerFrame.newBuilder().setOfferGranted(OfferGranted.newBuilder().setOffer(offer)));
      return;
    }
    session.onLoop(
        service.documents.read(user(), doc, 0, 0),
        (SyncResult r, Throwable err) -> {
          OfferGranted.Builder g = OfferGranted.newBuilder().setOffer(offer);
          if (err != null) {
            log.warn("snapshot for granted offer of {} failed: {}", user(), err.toString());
          } else if (r.mode() == DocumentSync.Mode.SNAPSHOT) {
            g.setSnapshot(
                Snapshot.newBuilder()
                    .setDocument(doc)
                    .setEpoch(r.epoch())
                    .setVersion(r.toVersion())
                    .putAllFields(r.fields()));
          }
          reply(id, ServerFrame.newBuilder().setOfferGranted(g));
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Offers: prompts, ends, timers
  // ---------------------------------------------------------------------------------------------

  private boolean isTarget(Offer o) {
    return o.getTargetDevice().isEmpty()
        ? !o.getFromDevice().equals(device())
        : o.getTargetDevice().equals(device());
  }

  private void prompt(Offer o) {
    if (o.getExpiresMs() <= now()) {
      return;
    }
    if (isTarget(o)) {
      if (!prompts.containsKey(o.getOfferId())) {
        promptsForWrite().put(o.getOfferId(), timer(o));
        session.write(
            ServerFrame.newBuilder().setOfferPrompt(OfferPrompt.newBuilder().setOffer(o)).build());
      }
    } else if (o.getFromDevice().equals(device()) && !own.containsKey(o.getOfferId())) {
      ownForWrite().put(o.getOfferId(), timer(o)); // Made by another connection of this device.
    }
  }

  /** The offer ended: withdraw its prompt, or tell the offerer, once. */
  private void ended(String offerId, OfferOutcome outcome, String by, long elapsed) {
    Prompted p = prompts.remove(offerId);
    if (p != null) {
      p.cancel();
      session.write(
          ServerFrame.newBuilder()
              .setOfferWithdrawn(
                  OfferWithdrawn.newBuilder()
                      .setOfferId(offerId)
                      .setOutcome(outcome)
                      .setByDevice(by))
              .build());
    }
    Prompted mine = own.remove(offerId);
    if (mine != null) {
      mine.cancel();
      session.write(
          ServerFrame.newBuilder()
              .setOfferResult(
                  OfferResult.newBuilder()
                      .setOfferId(offerId)
                      .setOutcome(outcome)
                      .setByDevice(by)
                      .setElapsedMs(elapsed))
              .build());
    }
  }

  /** A timer at the offer's deadline that ends it as EXPIRED (once, whichever node is first). */
  private Prompted timer(Offer o) {
    long delay = Math.max(0, o.getExpiresMs() - now()) + 1;
    return new Prompted(session.loop().schedule(() -> expire(o, 0), delay, TimeUnit.MILLISECONDS));
  }

  private void expire(Offer o, int attempt) {
    String id = o.getOfferId();
    if (!session.active() || (!prompts.containsKey(id) && !own.containsKey(id))) {
      return;
    }
    session.onLoop(
        store.endOffer(user(), id, "", OfferOutcome.EXPIRED),
        (r, err) -> {
          if (err != null) {
            // The deadline passed: the prompt goes whatever the store says; the offerer hears
            // the outcome from a re-read once the store is back.
            withdrawPromptOnly(id);
            if (attempt < 5 && own.containsKey(id)) {
              Prompted old =
                  ownForWrite()
                      .put(
                          id,
                          new Prompted(
                              session
                                  .loop()
                                  .schedule(() -> expire(o, attempt + 1), 1, TimeUnit.SECONDS)));
              if (old != null) {
                old.cancel();
              }
            }
            session.flush();
            return;
          }
          switch (r.status()) {
            case ENDED -> {
              count(OfferOutcome.EXPIRED, r.endedMs() - o.getCreatedMs());
              service.signal(user(), ended(r, r.endedMs() - o.getCreatedMs()));
              ended(id, OfferOutcome.EXPIRED, "", r.endedMs() - o.getCreatedMs());
            }
            case ALREADY_ENDED ->
                ended(id, r.outcome(), r.byDevice(), r.endedMs() - o.getCreatedMs());
            case NOT_YET_EXPIRED -> {
              // Clocks of nodes differ a little: try again at the store's deadline.
              Prompted t = timer(o);
              Prompted old =
                  prompts.containsKey(id) ? promptsForWrite().put(id, t) : ownForWrite().put(id, t);
              if (old != null) {
                old.cancel();
              }
            }
            default -> ended(id, OfferOutcome.EXPIRED, "", o.getExpiresMs() - o.getCreatedMs());
          }
          session.flush();
        });
  }

  private void withdrawPromptOnly(String id) {
    Prompted p = prompts.remove(id);
    if (p != null) {
      p.cancel();
      session.write(
          ServerFrame.newBuilder()
              .setOfferWithdrawn(
                  OfferWithdrawn.newBuilder().setOfferId(id).setOutcome(OfferOutcome.EXPIRED))
              .build());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Re-reading the store
  // ---------------------------------------------------------------------------------------------

  private Map<String, Prompted> promptsForWrite() {
    if (prompts.isEmpty() && !(prompts instanceof HashMap)) {
      prompts = new HashMap<>();
    }
    return prompts;
  }

  private Map<String, Prompted> ownForWrite() {
    if (own.isEmpty() && !(own instanceof HashMap)) {
      own = new HashMap<>();
    }
    return own;
  }

  private Map<String, Activity> activitiesForWrite() {
    if (activitiesSeen.isEmpty() && !(activitiesSeen instanceof HashMap)) {
      activitiesSeen = new HashMap<>();
    }
    return activitiesSeen;
  }

  /** Brings prompts, own offers, activities and presence in line with the store. Event loop. */
  private void reread() {
    String user = user();
    CompletableFuture<List<Offer>> offers = store.liveOffers(user);
    CompletableFuture<List<Activity>> activities = store.activities(user);
    CompletableFuture<List<DevicePresence>> presence = store.presence(user);
    session.onLoop(
        CompletableFuture.allOf(offers, activities, presence),
        (v, err) -> {
          if (err != null) {
            log.debug("re-read of {}/{} failed: {}", user, device(), err.toString());
            return;
          }
          Map<String, Offer> liveById = new HashMap<>();
          offers.join().forEach(o -> liveById.put(o.getOfferId(), o));
          liveById.values().forEach(this::prompt);
          for (String id : List.copyOf(prompts.keySet())) {
            if (!liveById.containsKey(id)) {
              lookUpEnd(id);
            }
          }
          for (String id : List.copyOf(own.keySet())) {
            if (!liveById.containsKey(id)) {
              lookUpEnd(id);
            }
          }
          Map<String, Activity> now = new HashMap<>();
          activities.join().forEach(a -> now.put(a.getDeviceId(), a));
          for (String d : List.copyOf(activitiesSeen.keySet())) {
            if (!now.containsKey(d)) {
              pushActivity(d, null);
            }
          }
          now.forEach(
              (d, a) -> {
                if (!d.equals(device())) {
                  pushActivity(d, a);
                }
              });
          pushPresence(presence.join());
          session.flush();
        });
  }

  /** An offer this device tracks is no longer live: find out how it ended. */
  private void lookUpEnd(String id) {
    session.onLoop(
        store.endOffer(user(), id, "", OfferOutcome.EXPIRED),
        (r, err) -> {
          if (err != null) {
            return;
          }
          switch (r.status()) {
            case ENDED -> {
              long elapsed = r.endedMs() - r.offer().getCreatedMs();
              count(OfferOutcome.EXPIRED, elapsed);
              service.signal(user(), ended(r, elapsed));
              ended(id, OfferOutcome.EXPIRED, "", elapsed);
            }
            case ALREADY_ENDED ->
                ended(id, r.outcome(), r.byDevice(), r.endedMs() - r.offer().getCreatedMs());
            case NOT_FOUND -> ended(id, OfferOutcome.EXPIRED, "", 0);
            default -> {}
          }
          session.flush();
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Activities and presence pushes
  // ---------------------------------------------------------------------------------------------

  private void pushActivity(String device, Activity a) {
    Activity before =
        a == null ? activitiesSeen.remove(device) : activitiesForWrite().put(device, a);
    if (a == null ? before == null : a.equals(before)) {
      return;
    }
    ActivityUpdate.Builder u = ActivityUpdate.newBuilder().setDeviceId(device);
    if (a != null) {
      u.setActivity(a);
    }
    session.write(ServerFrame.newBuilder().setActivityUpdate(u).build());
  }

  private void pushPresence(List<DevicePresence> entries) {
    PresenceUpdate.Builder u = PresenceUpdate.newBuilder();
    for (DevicePresence p : entries) {
      if (p.getDeviceId().equals(device())) {
        continue;
      }
      DevicePresence before = presenceSeen.get(p.getDeviceId());
      if (before == null || before.getOnline() != p.getOnline()) {
        presenceSeen.put(p.getDeviceId(), p);
        u.addDevices(p);
      }
    }
    if (u.getDevicesCount() > 0) {
      session.write(ServerFrame.newBuilder().setPresenceUpdate(u).build());
      session.flush();
    }
  }

  // ---------------------------------------------------------------------------------------------

  private boolean failed(long id, Throwable err) {
    if (err == null) {
      return false;
    }
    log.warn("handoff request of {}/{} failed: {}", user(), device(), err.toString());
    session.sendError(
        id,
        ErrorCode.UNAVAILABLE,
        "the store could not be reached; nothing was changed, try again",
        null,
        0,
        0,
        0,
        true);
    session.flush();
    return true;
  }

  private void reply(long id, ServerFrame.Builder f) {
    session.write(f.setRequestId(id).build());
    session.flush();
  }

  private static int utf8Length(String s) {
    return s.getBytes(StandardCharsets.UTF_8).length;
  }

  /** An offer this device shows or made, with its deadline timer. */
  private record Prompted(ScheduledFuture<?> timer) {
    void cancel() {
      timer.cancel(false);
    }
  }
}
