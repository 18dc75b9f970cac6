package io.handoff.server.handoff;

import io.handoff.protocol.bus.v1.OfferEnded;
import io.handoff.protocol.bus.v1.OfferPrompted;
import io.handoff.protocol.bus.v1.UserSignal;
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
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.handoff.HandoffStore.EndStatus;
import io.handoff.server.handoff.HandoffStore.Made;
import io.handoff.server.handoff.HandoffStore.OfferEnd;
import io.handoff.server.session.Connection;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteValidator;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's offers: the ones this device has been prompted for ({@code prompts}) and its own
 * live ones ({@code own}), each with a timer at the offer's deadline (on the node's scheduler). An
 * offer leaves {@code prompts} or {@code own} exactly once, and only then is the device told it
 * ended: so a target sees one withdrawal and the offerer hears of exactly one outcome per offer,
 * whether the news came by signal, by its own request, by its timer or by a re-read. Event loop
 * only.
 */
final class Offers {
  private static final Logger log = LoggerFactory.getLogger(Offers.class);

  /** The longest {@code OfferActivity.offer_key}, in UTF-8 bytes. */
  static final int MAX_OFFER_KEY_BYTES = 64;

  /**
   * The longest wait between two attempts to end an offer past its deadline while the store does
   * not answer: a device hears how its offer ended at most this long after the store is back.
   */
  static final long RETRY_MAX_MS = 8_000;

  private final Connection connection;
  private final HandoffService service;
  private final Activities activities;
  // Allocated on first use (an idle connection mostly never prompts or offers); until then the
  // shared empty map, which reads, removes and clears like an empty one.
  private Map<String, Prompted> prompts = Collections.emptyMap();
  private Map<String, Prompted> own = Collections.emptyMap();

  Offers(Connection connection, HandoffService service, Activities activities) {
    this.connection = connection;
    this.service = service;
    this.activities = activities;
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

  /** Fills the Welcome's offers and results, and arms a timer for each live offer it tracks. */
  void welcome(Welcome.Builder w, List<Offer> live, List<OfferEnd> ended) {
    long now = now();
    for (Offer o : live) {
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
    for (OfferEnd e : ended) {
      if (e.status() == EndStatus.ENDED) {
        // The resume recorded its expiry (nobody had ended it): news for every device.
        long elapsed = e.endedMs() - e.offer().getCreatedMs();
        count(e.outcome(), elapsed);
        service.signal(user(), ended(e, elapsed));
      }
      if (e.offer().getFromDevice().equals(device())) {
        w.addOfferResults(
            OfferResult.newBuilder()
                .setOfferId(e.offer().getOfferId())
                .setOutcome(e.outcome())
                .setByDevice(e.byDevice())
                .setElapsedMs(e.endedMs() - e.offer().getCreatedMs()));
      }
    }
  }

  /** Brings prompts and own offers in line with the store's live offers. */
  void reread(Collection<Offer> live) {
    Map<String, Offer> liveById = new HashMap<>();
    live.forEach(o -> liveById.put(o.getOfferId(), o));
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
  }

  /** The connection ended: cancels every timer. */
  void closed() {
    prompts.values().forEach(Prompted::cancel);
    own.values().forEach(Prompted::cancel);
    prompts.clear();
    own.clear();
  }

  /** OfferActivity: creates the offer and prompts its targets. */
  void offer(long id, OfferActivity req) {
    String target = req.getTargetDevice();
    if (target.equals(device())) {
      connection.error(id, ErrorCode.BAD_TARGET, "an offer cannot target its own device", false);
      return;
    }
    if (WriteValidator.utf8Length(target) > service.limits.maxTextBytes()) {
      connection.error(id, ErrorCode.BAD_TARGET, "target device id is too long", false);
      return;
    }
    if (!req.hasActivity()) {
      connection.error(id, ErrorCode.BAD_REQUEST, "an offer needs an activity", false);
      return;
    }
    Refusal bad = activities.check(req.getActivity());
    if (bad != null) {
      connection.error(id, bad.code(), bad.message(), false);
      return;
    }
    String key = req.getOfferKey();
    if (WriteValidator.utf8Length(key) > MAX_OFFER_KEY_BYTES) {
      connection.error(
          id,
          ErrorCode.BAD_REQUEST,
          "offer_key is longer than " + MAX_OFFER_KEY_BYTES + " bytes",
          false);
      return;
    }
    long ttl =
        req.getTtlMs() == 0
            ? service.limits.defaultOfferTtl().toMillis()
            : req.getTtlMs() & 0xffffffffL;
    if (ttl > service.limits.maxOfferTtl().toMillis()) {
      connection.error(
          id,
          ErrorCode.LIMIT_EXCEEDED,
          "ttl_ms " + ttl + " is above the limit of " + service.limits.maxOfferTtl().toMillis(),
          false);
      return;
    }
    long now = now();
    Offer offer =
        Offer.newBuilder()
            .setOfferId(
                key.isEmpty() ? service.newOfferId() : HandoffService.keyedOfferId(device(), key))
            .setFromDevice(device())
            .setTargetDevice(target)
            .setActivity(
                req.getActivity().toBuilder().setDeviceId(device()).setUpdatedMs(now).build())
            .setCreatedMs(now)
            .setExpiresMs(now + ttl)
            .build();
    String user = user();
    activities.onLoop(
        service.store.createOffer(user, offer, service.limits.maxLiveOffersPerUser()),
        (created, err) -> {
          if (HandoffSession.failed(connection, id, err)) {
            return;
          }
          if (created.made() == Made.EXISTS) {
            again(id, created.offer());
            return;
          }
          if (created.made() == Made.TOO_MANY) {
            connection.error(
                id,
                ErrorCode.TOO_MANY_OFFERS,
                "the user has "
                    + service.limits.maxLiveOffersPerUser()
                    + " live offers; cancel one or wait for one to end",
                true);
            connection.flush();
            return;
          }
          service.stats.offersCreated.increment();
          ownForWrite().put(offer.getOfferId(), timer(offer));
          HandoffSession.reply(
              connection,
              id,
              ServerFrame.newBuilder().setOfferCreated(OfferCreated.newBuilder().setOffer(offer)));
          service.signal(
              user,
              UserSignal.newBuilder().setOfferPrompted(OfferPrompted.newBuilder().setOffer(offer)));
        });
  }

  /**
   * The device sent an OfferActivity again with the key of an offer it made: the same answer, and
   * the offer's result after it if it has ended meanwhile (the device may have missed it).
   */
  private void again(long id, Offer offer) {
    HandoffSession.reply(
        connection,
        id,
        ServerFrame.newBuilder().setOfferCreated(OfferCreated.newBuilder().setOffer(offer)));
    if (!own.containsKey(offer.getOfferId())) {
      ownForWrite().put(offer.getOfferId(), timer(offer));
    }
    lookUpEnd(offer.getOfferId());
  }

  /** Accept, decline or cancel. */
  void end(long id, String offerId, OfferOutcome outcome) {
    if (offerId.isEmpty() || WriteValidator.utf8Length(offerId) > 64) {
      connection.error(id, ErrorCode.BAD_REQUEST, "bad offer_id", false);
      return;
    }
    if (offerId.chars().anyMatch(Character::isISOControl)) {
      // No offer id has one (they are hex digits), and the answer would echo it into the app's
      // logs; said without the id.
      connection.error(id, ErrorCode.BAD_REQUEST, "bad offer_id: it has control characters", false);
      return;
    }
    String user = user();
    String device = device();
    activities.onLoop(
        service.store.endOffer(user, offerId, device, outcome),
        (answer, err) -> {
          if (HandoffSession.failed(connection, id, err)) {
            return;
          }
          OfferEnd r = answer;
          if (r.status() == EndStatus.ENDED && r.outcome() != outcome) {
            // The deadline had passed with nobody ending the offer: this request recorded it
            // expired, which is news for every device; this one is answered as for any request
            // that comes after the end.
            long elapsed = r.endedMs() - r.offer().getCreatedMs();
            count(r.outcome(), elapsed);
            service.signal(user, ended(r, elapsed));
            r = new OfferEnd(EndStatus.ALREADY_ENDED, r.offer(), r.outcome(), "", r.endedMs());
          }
          boolean again = repeated(r, outcome, device);
          switch (again ? EndStatus.ENDED : r.status()) {
            case ENDED -> {
              long elapsed = r.endedMs() - r.offer().getCreatedMs();
              if (!again) {
                count(outcome, elapsed);
              }
              // Again too: the first answer may have been lost with its signal (a store timeout);
              // a signal seen twice withdraws nothing twice.
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
                    HandoffSession.reply(
                        connection,
                        id,
                        ServerFrame.newBuilder()
                            .setOfferWithdrawn(
                                OfferWithdrawn.newBuilder()
                                    .setOfferId(offerId)
                                    .setOutcome(outcome)
                                    .setByDevice(device)));
                default ->
                    HandoffSession.reply(
                        connection,
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
              connection.error(id, ErrorCode.OFFER_NOT_FOUND, "no offer " + offerId, false);
              connection.flush();
            }
            case NOT_PERMITTED -> {
              connection.error(
                  id,
                  ErrorCode.NOT_PERMITTED,
                  outcome == OfferOutcome.CANCELLED
                      ? "only the offering device may cancel an offer"
                      : "this device is not a target of the offer",
                  false);
              connection.flush();
            }
            default -> {
              // ALREADY_ENDED: withdraw what this device still shows, then say why.
              ended(offerId, r.outcome(), r.byDevice(), r.endedMs() - r.offer().getCreatedMs());
              connection.error(id, ErrorCode.OFFER_WITHDRAWN, withdrawnMessage(r), false);
              connection.flush();
            }
          }
        });
  }

  /**
   * Whether {@code r} is this device's own earlier end of the offer with the same outcome: the
   * device sends an accept, decline or cancel again when it did not get the first answer (a store
   * that did not answer in time, a node that shut down), and gets the same answer, the grant
   * included.
   */
  private static boolean repeated(OfferEnd r, OfferOutcome outcome, String device) {
    if (r.status() != EndStatus.ALREADY_ENDED || r.outcome() != outcome) {
      return false;
    }
    return switch (outcome) {
      case ACCEPTED, DECLINED -> device.equals(r.byDevice());
      case CANCELLED -> device.equals(r.offer().getFromDevice());
      default -> false;
    };
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
      HandoffSession.reply(
          connection,
          id,
          ServerFrame.newBuilder().setOfferGranted(OfferGranted.newBuilder().setOffer(offer)));
      return;
    }
    activities.onLoop(
        service.documents.read(user(), doc, 0, 0),
        (SyncResult r, Throwable err) -> {
          OfferGranted.Builder g = OfferGranted.newBuilder().setOffer(offer);
          if (err != null) {
            log.warn("snapshot for granted offer of {} failed: {}", user(), err.toString());
            connection.error(
                id,
                ErrorCode.UNAVAILABLE,
                "the offer is this device's, but its document could not be read; send the accept"
                    + " again to get it",
                true);
            connection.flush();
            return;
          } else if (r.mode() == DocumentSync.Mode.SNAPSHOT) {
            g.setSnapshot(
                Snapshot.newBuilder()
                    .setDocument(doc)
                    .setEpoch(r.epoch())
                    .setVersion(r.toVersion())
                    .putAllFields(r.fields()));
          }
          HandoffSession.reply(connection, id, ServerFrame.newBuilder().setOfferGranted(g));
        });
  }

  private boolean isTarget(Offer o) {
    return o.getTargetDevice().isEmpty()
        ? !o.getFromDevice().equals(device())
        : o.getTargetDevice().equals(device());
  }

  /** Prompts this device for {@code o} if it is a target, or tracks it if this device made it. */
  void prompt(Offer o) {
    if (o.getExpiresMs() <= now()) {
      return;
    }
    if (isTarget(o)) {
      if (!prompts.containsKey(o.getOfferId())) {
        promptsForWrite().put(o.getOfferId(), timer(o));
        connection.push(
            ServerFrame.newBuilder().setOfferPrompt(OfferPrompt.newBuilder().setOffer(o)).build());
      }
    } else if (o.getFromDevice().equals(device()) && !own.containsKey(o.getOfferId())) {
      ownForWrite().put(o.getOfferId(), timer(o)); // Made by another connection of this device.
    }
  }

  /**
   * The offer ended: withdraw its prompt, or tell the offerer, once. A prompt this device itself
   * accepted goes without a withdrawal: the device won, and its accept sent again gets the grant
   * (its first answer was lost, or it would not be shown any more).
   */
  void ended(String offerId, OfferOutcome outcome, String by, long elapsed) {
    Prompted p = prompts.remove(offerId);
    if (p != null) {
      p.cancel();
    }
    if (p != null && !(outcome == OfferOutcome.ACCEPTED && by.equals(device()))) {
      connection.push(
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
      connection.push(
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
    return new Prompted(connection.schedule(() -> expire(o, 0), delay, TimeUnit.MILLISECONDS));
  }

  private void expire(Offer o, int attempt) {
    String id = o.getOfferId();
    if (!connection.active() || (!prompts.containsKey(id) && !own.containsKey(id))) {
      return;
    }
    connection.onLoop(
        service.store.endOffer(user(), id, "", OfferOutcome.EXPIRED),
        (r, err) -> {
          if (err != null) {
            // How the offer ended is not known: an accept sent before the deadline may still win
            // once the store runs it. So nobody is told anything yet; ask again until the store
            // answers, however long it is away.
            retryExpiry(o, attempt);
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
          connection.flush();
        });
  }

  /** Asks the store again how {@code o} ended, after a wait that grows to {@link #RETRY_MAX_MS}. */
  private void retryExpiry(Offer o, int attempt) {
    String id = o.getOfferId();
    Map<String, Prompted> held =
        prompts.containsKey(id) ? prompts : own.containsKey(id) ? own : null;
    if (held == null) {
      return;
    }
    long delay = Math.min(RETRY_MAX_MS, 1_000L << Math.min(attempt, 4));
    Prompted old =
        held.put(
            id,
            new Prompted(
                connection.schedule(() -> expire(o, attempt + 1), delay, TimeUnit.MILLISECONDS)));
    if (old != null) {
      old.cancel();
    }
  }

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

  /** An offer this device tracks is no longer live: find out how it ended. */
  private void lookUpEnd(String id) {
    connection.onLoop(
        service.store.endOffer(user(), id, "", OfferOutcome.EXPIRED),
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
          connection.flush();
        });
  }

  /** An offer this device shows or made, with its deadline timer. */
  private record Prompted(Future<?> timer) {
    void cancel() {
      timer.cancel(false);
    }
  }
}
