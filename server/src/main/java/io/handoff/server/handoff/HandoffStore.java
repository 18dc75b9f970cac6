package io.handoff.server.handoff;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;

/**
 * Where activities, handoff offers and device presence of each user live. The truth is here; the
 * broker's signals only say that something changed, and nodes re-read after a possible loss.
 *
 * <h2>Contract</h2>
 *
 * <ul>
 *   <li>Time is {@link #clock()}'s: offer deadlines and presence deadlines are compared with it on
 *       every read, so expiry is exact even where the backing store expires keys lazily.
 *   <li>{@link #endOffer} is atomic and linearizable per offer: of any number of concurrent calls,
 *       from any nodes, at most one returns {@link EndStatus#ENDED}; every later call sees the
 *       outcome and device of that one. This is what makes "first accept wins" exactly-once.
 *   <li>An offer is live from {@link #createOffer} until it ends or until its {@code expires_ms}
 *       passes, whichever comes first; {@link #liveOffers} never returns an offer past its
 *       deadline. Ended and expired offers are remembered for {@link #ENDED_RETENTION} so late
 *       requests get "withdrawn" rather than "unknown".
 *   <li>A presence entry is online only until its deadline ({@code now + ttl} at the last {@link
 *       #online} call); a node that dies stops refreshing and its devices read offline once their
 *       deadlines pass. {@link #offline} only affects the entry of the same connection, so an old
 *       connection closing never hides a newer one.
 *   <li>Everything a user holds is bounded: one activity per device, {@code maxLive} live offers,
 *       one presence entry per device (at most {@code maxDevices}; the longest-offline entry is
 *       dropped to make room, and with every entry online a newcomer is not listed).
 *   <li>{@link #erase} leaves nothing of the user behind; {@link #sweep} keeps the store bounded by
 *       what is live or retained, never by how many users were ever seen.
 *   <li>Failures (store unreachable) complete the futures exceptionally; nothing is half-applied.
 * </ul>
 */
public interface HandoffStore {
  /** How long an ended or expired offer is remembered after its deadline. */
  Duration ENDED_RETENTION = Duration.ofMinutes(10);

  /** The most ended offers per user {@link #recentlyEnded} remembers. */
  int MAX_RECENTLY_ENDED = 256;

  /** How long a user's presence entries outlive their last change. */
  Duration PRESENCE_RETENTION = Duration.ofDays(7);

  Clock clock();

  /**
   * Replaces the activity of {@code activity.device_id}; kept for {@code retention}. The user keeps
   * at most {@code maxDevices} activities (a device's presence entry is bounded the same way): a
   * new device's activity makes room by dropping the least recently updated one of another device,
   * so a user that goes through many device ids (signing in and revoking) cannot grow them.
   */
  CompletableFuture<Void> putActivity(
      String userId, Activity activity, Duration retention, int maxDevices);

  CompletableFuture<Void> clearActivity(String userId, String deviceId);

  /** The latest activity of each of the user's devices. */
  CompletableFuture<List<Activity>> activities(String userId);

  /**
   * Stores a new live offer, atomically, unless the user already holds an offer with its id (live,
   * or ended within {@link #ENDED_RETENTION}): that one is returned unchanged ({@link
   * Made#EXISTS}); or unless the user already has {@code maxLive} live offers ({@link
   * Made#TOO_MANY}).
   */
  CompletableFuture<Creation> createOffer(String userId, Offer offer, int maxLive);

  /** The user's offers that are live now. */
  CompletableFuture<List<Offer>> liveOffers(String userId);

  /**
   * Ends a live offer with {@code outcome}, atomically: ACCEPTED and DECLINED only by a target of
   * the offer, CANCELLED only by its offerer, EXPIRED by anyone once the deadline has passed
   * ({@code deviceId} may be empty then). Any other outcome asked at or past the deadline of an
   * offer nobody ended records it EXPIRED at its deadline, with no device, and returns {@link
   * EndStatus#ENDED} with that outcome: the caller tells its device the offer expired, so no later
   * call (through a store whose clock, which is the calling node's, is behind) may end it
   * otherwise.
   */
  CompletableFuture<OfferEnd> endOffer(
      String userId, String offerId, String deviceId, OfferOutcome outcome);

  /**
   * The user's offers that ended, or passed their deadline, within {@link #ENDED_RETENTION}, at
   * most {@link #MAX_RECENTLY_ENDED} of them, each as an {@link OfferEnd} with status ALREADY_ENDED
   * (an offer past its deadline that nobody ended reads EXPIRED at its deadline).
   */
  CompletableFuture<List<OfferEnd>> recentlyEnded(String userId);

  /**
   * Marks a device online through {@code connection} until {@code now + ttl}. A connection is named
   * by the number its node gave it (unique among the node's connections while the node runs); a
   * store that several nodes share (the Redis engine) tells their numbers apart itself, and keeps
   * {@code instance}, the connection's Hello instance (0: none), for {@link #heldElsewhere}.
   */
  CompletableFuture<Void> online(
      String userId, String deviceId, long connection, long instance, Duration ttl, int maxDevices);

  /**
   * Marks the device offline (last seen now) if {@code connection} is still the one it is online
   * through; completes with true if it was online through it.
   */
  CompletableFuture<Boolean> offline(String userId, String deviceId, long connection);

  /**
   * Whether the device is online, as of now, through a connection other than {@code connection}:
   * the store marked it online for a newer connection (a connection's resume marks it whatever the
   * entry held), so {@code connection} was replaced. Empty if not; else the Hello instance of the
   * connection that holds it, 0 when not known (a store of one node, which keeps none: there the
   * node itself replaces connections; or an entry written by a node that kept none).
   */
  CompletableFuture<OptionalLong> heldElsewhere(String userId, String deviceId, long connection);

  /** Every device of the user the store knows of, with its presence as of now. */
  CompletableFuture<List<DevicePresence>> presence(String userId);

  /**
   * The presence keeper's call: marks each of {@code live} online as {@link #online} does, where
   * the store's entry for it is not newer news than the keeper, then reads every device of the user
   * as {@link #presence} does. The keeper names a connection while it is open, but the call may
   * reach the store after that connection closed and marked the device offline, or after the device
   * came online through another connection (maybe on another node) and even left it; refreshing
   * then would show a device online that left. So a device's entry is refreshed only when it is
   * missing, online through the connection named, or held by another connection that stopped being
   * refreshed (online past its deadline) or went offline before the named connection came online
   * ({@link Live#sinceMs}).
   */
  CompletableFuture<List<DevicePresence>> keep(
      String userId, List<Live> live, Duration ttl, int maxDevices);

  /**
   * A device online through a connection, as {@link #keep} refreshes it; {@code instance} is the
   * connection's Hello instance (as {@link #online} keeps it), {@code sinceMs} when that connection
   * came online (the store's clock, before its resume).
   */
  record Live(String deviceId, long connection, long instance, long sinceMs) {}

  /**
   * Deletes everything of the user: activities, live and ended offers, presence entries. Signals
   * already sent are not recalled.
   */
  CompletableFuture<Void> erase(String userId);

  /**
   * Drops what outlived its retention as of {@code now}: activities past their retention, offers
   * {@link #ENDED_RETENTION} past their deadline or end, presence entries {@link
   * #PRESENCE_RETENTION} past their last change, and users left with nothing. A store whose backing
   * keys expire by themselves (Redis TTLs) does nothing here.
   */
  CompletableFuture<Void> sweep(Instant now);

  /** What {@link #createOffer} did. */
  enum Made {
    /** The offer is stored and live. */
    CREATED,
    /** An offer with this id was made before; {@link Creation#offer} is that one. */
    EXISTS,
    /** The user has the most live offers already; nothing was stored. */
    TOO_MANY
  }

  /** The result of {@link #createOffer}: the offer stored under the id (null for TOO_MANY). */
  record Creation(Made made, Offer offer) {}

  /** What {@link #endOffer} did. */
  enum EndStatus {
    /** This call ended the offer. */
    ENDED,
    /** No such offer (or it was forgotten). */
    NOT_FOUND,
    /** It had ended already: {@code outcome} and {@code byDevice} say how. */
    ALREADY_ENDED,
    /** The device may not do this to the offer (not a target, not the offerer). */
    NOT_PERMITTED,
    /** EXPIRED was asked before the deadline. */
    NOT_YET_EXPIRED
  }

  /**
   * The result of {@link #endOffer}. {@code offer} is set unless NOT_FOUND; {@code outcome} and
   * {@code byDevice} describe the end for ENDED and ALREADY_ENDED; {@code endedMs} is when it
   * ended.
   */
  record OfferEnd(
      EndStatus status, Offer offer, OfferOutcome outcome, String byDevice, long endedMs) {
    public static OfferEnd notFound() {
      return new OfferEnd(EndStatus.NOT_FOUND, null, OfferOutcome.OFFER_OUTCOME_UNSPECIFIED, "", 0);
    }
  }
}
