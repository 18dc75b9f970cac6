package io.handoff.server.devices;

import io.handoff.server.util.AddressGroups;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Pending sign-in requests of devices that hold no session yet, and counters of failed attempts.
 *
 * <h2>Contract</h2>
 *
 * <ul>
 *   <li><b>One record per request</b>, addressed by its id (a normalised user code, or a random id
 *       for a new-device approval), so every operation on it is atomic on one key (one Redis
 *       Cluster slot).
 *   <li><b>Bounded.</b> {@link #create} refuses a request when its address's group ({@link
 *       Request#addressGroup}), or its user (for requests made with a user), already has the
 *       maximum of requests pending, or when the store as a whole does (every node sharing it:
 *       {@link Bounds#total}); nothing is stored then. A request stops counting once decided,
 *       expired or erased.
 *   <li><b>Claimed once.</b> {@link #claim} binds a request made without a user to the first user
 *       who looks it up; to every other user it is as if it did not exist.
 *   <li><b>Decided exactly once.</b> Of all {@link #decide} calls on one pending, unexpired
 *       request, on any node, exactly one returns {@link Decision.Status#DECIDED}; the others see
 *       the decision (or the expiry) that stands.
 *   <li><b>Consumed exactly once.</b> Of all {@link #poll} calls presenting the request's secret
 *       after it was approved, exactly one returns {@link Poll.Status#APPROVED}; once the node made
 *       its session and {@link #settle settled} it, later ones {@link Poll.Status#CONSUMED}. Until
 *       then they return {@link Poll.Status#SETTLING}, and one {@link #CONSUME_LEASE_MILLIS} or
 *       more after the consuming poll (its node lost the answer to a store timeout, or died, before
 *       making the session) {@link Poll.Status#APPROVED} again, once per lease: so a device whose
 *       poll's answer was lost is still signed in, once, by polling on. A poll sooner than the
 *       request's interval after the previous one returns {@link Poll.Status#SLOW_DOWN} while
 *       pending, and raises the interval by {@value #SLOW_DOWN_STEP_MILLIS} ms (RFC 8628 §3.5).
 *   <li><b>Expiry</b> compares the request's deadline with {@code nowMillis} as given (the engine's
 *       clock); the first operation after the deadline turns the request EXPIRED and says so once
 *       ({@code firstSeen}). Records stay readable for {@link #RETAIN_MILLIS} after their deadline
 *       (so a late poll gets {@code expired_token}, not {@code invalid_grant}), then go.
 *   <li><b>Failure:</b> futures fail when the backing store cannot be reached. Futures may complete
 *       on any thread. Implementations are thread-safe.
 * </ul>
 */
public interface ApprovalStore {
  long SLOW_DOWN_STEP_MILLIS = 5_000;
  long RETAIN_MILLIS = 10 * 60_000;

  /**
   * How long a consumed approval waits to be {@link #settle settled} before a poll may consume it
   * again: far beyond what a node takes to make a session (a few store calls of at most the store's
   * command timeout each).
   */
  long CONSUME_LEASE_MILLIS = 30_000;

  /** The attempt-counter scope of a user ({@link #fail}); {@link #erase} removes it. */
  static String userScope(String userId) {
    return "u:" + userId;
  }

  enum State {
    PENDING,
    APPROVED,
    DENIED,
    CONSUMED,
    EXPIRED
  }

  /**
   * One request. {@code userId} is empty until claimed (device codes) or set at creation (new
   * device approval, {@code kind} "new_device"); {@code address} is the requesting device's, as
   * shown to the approving user; {@code secretHash} is the SHA-256 of the device code's secret,
   * hex.
   */
  record Request(
      String id,
      String kind,
      String userId,
      String deviceId,
      String name,
      String platform,
      String address,
      long createdMillis,
      long expiresMillis,
      long intervalMillis,
      String secretHash,
      State state,
      String byDevice,
      long decidedMillis) {
    /** What the request counts against for the per-address bound: its address's group. */
    public String addressGroup() {
      return AddressGroups.of(address);
    }

    public Request withState(State s, String by, long at) {
      return new Request(
          id,
          kind,
          userId,
          deviceId,
          name,
          platform,
          address,
          createdMillis,
          expiresMillis,
          intervalMillis,
          secretHash,
          s,
          by,
          at);
    }

    public Request withUser(String user) {
      return new Request(
          id,
          kind,
          user,
          deviceId,
          name,
          platform,
          address,
          createdMillis,
          expiresMillis,
          intervalMillis,
          secretHash,
          state,
          byDevice,
          decidedMillis);
    }
  }

  enum Created {
    CREATED,
    /** The id is in use (a user-code collision): pick another. */
    ID_TAKEN,
    ADDRESS_LIMIT,
    USER_LIMIT,
    /** The store holds {@link Bounds#total} pending requests already, from any addresses. */
    FULL
  }

  /**
   * The most requests pending at once: in the whole store ({@code total}, shared by every node
   * using it), from one address's group ({@link AddressGroups}), and of one user (for requests made
   * with a user).
   */
  record Bounds(int total, int perAddress, int perUser) {
    public Bounds {
      if (total < 1 || perAddress < 1 || perUser < 1) {
        throw new IllegalArgumentException(
            "bounds must be at least 1: " + total + ", " + perAddress + ", " + perUser);
      }
    }
  }

  /** The result of {@link #decide}; {@code request} is the record as it stands after the call. */
  record Decision(Status status, Request request, boolean firstSeenExpired) {
    public enum Status {
      DECIDED,
      /** Decided before (see the request's state and byDevice), or consumed. */
      ALREADY_DECIDED,
      EXPIRED,
      /** No such request, or one of another user. */
      NOT_FOUND,
      /**
       * An unclaimed request the answering device session could not bind: the session is gone
       * (erased, revoked or expired) by the time the answer would have bound it.
       */
      SESSION_GONE
    }
  }

  /** The result of {@link #poll}. */
  record Poll(Status status, Request request, boolean firstSeenExpired) {
    public enum Status {
      PENDING,
      SLOW_DOWN,
      APPROVED,
      DENIED,
      EXPIRED,
      CONSUMED,
      /**
       * Consumed by a poll whose node has not settled it yet, within {@link #CONSUME_LEASE_MILLIS}:
       * poll again.
       */
      SETTLING,
      /** No such request, or a wrong secret. */
      UNKNOWN
    }
  }

  /** Stores {@code r} unless its id is taken or one of {@code bounds} is reached. */
  CompletableFuture<Created> create(Request r, Bounds bounds);

  /**
   * The request as {@code userId} may see it: binds an unclaimed pending request to {@code userId};
   * null when there is none, it is another user's, or it ended. A request is bound to the user only
   * while the user's device session {@code sessionId} (the one looking it up; empty for none, a
   * development token) is alive, checked atomically with binding it where {@link #erase} finds it:
   * with that session gone, an unclaimed request stays unclaimed and the answer is null.
   */
  CompletableFuture<Request> claim(String id, String userId, String sessionId, long nowMillis);

  /** {@link #claim(String, String, String, long)} with no device session to check. */
  default CompletableFuture<Request> claim(String id, String userId, long nowMillis) {
    return claim(id, userId, "", nowMillis);
  }

  /**
   * Approves or denies the request for {@code userId}, answered by device {@code byDevice}. An
   * unclaimed request is bound to the user by this answer, only while the device session {@code
   * sessionId} (empty for none) is alive, as for {@link #claim}: with it gone, nothing changes and
   * the status is {@link Decision.Status#SESSION_GONE}.
   */
  CompletableFuture<Decision> decide(
      String id, String userId, String byDevice, String sessionId, boolean approve, long nowMillis);

  /** {@link #decide(String, String, String, String, boolean, long)} with no session to check. */
  default CompletableFuture<Decision> decide(
      String id, String userId, String byDevice, boolean approve, long nowMillis) {
    return decide(id, userId, byDevice, "", approve, nowMillis);
  }

  CompletableFuture<Poll> poll(String id, String secretHash, long nowMillis);

  /**
   * Gives back an approval that {@link #poll} consumed but the node could not turn into a session
   * (the user's device limit, a store error): polled again with the same secret, it is {@code
   * APPROVED} once more, until its retention ends. Nothing unless it is {@code CONSUMED}. Completes
   * with whether it was given back.
   */
  CompletableFuture<Boolean> unconsume(String id, String secretHash);

  /**
   * The node made the session of an approval {@link #poll} consumed: from now on every poll gets
   * {@link Poll.Status#CONSUMED}. Completes with false when the request is no longer there consumed
   * with this secret (the user erased it meanwhile).
   */
  CompletableFuture<Boolean> settle(String id, String secretHash);

  /** The user's pending new-device requests, oldest first. */
  CompletableFuture<List<Request>> pending(String userId, long nowMillis);

  /** Failed attempts of {@code scope} in its current window (0 when none). */
  CompletableFuture<Long> failures(String scope, long nowMillis);

  /**
   * Counts one failed attempt of {@code scope}; a window starts with the first. Returns the count.
   */
  CompletableFuture<Long> fail(String scope, long windowMillis, long nowMillis);

  /**
   * Counts one failed attempt in the scope of {@code userId} ({@link #userScope}), made by the
   * user's device session {@code sessionId}, as {@link #fail} does, but only while that session is
   * alive and no erasure of the user is under way ({@link #beginErasure}), checked atomically with
   * the count; else counts nothing and completes with {@link #ERASING} while an erasure's mark
   * holds, else -1 (the session is gone). An empty {@code sessionId} (a development token) is
   * counted unchecked.
   */
  CompletableFuture<Long> failBySession(
      String userId, String sessionId, long windowMillis, long nowMillis);

  /**
   * Takes back one attempt {@link #fail} counted, for an attempt that turned out right: never below
   * zero, and nothing once the window ended. Returns the count. Counting first and taking back
   * after is what bounds attempts made at once: each sees its own count.
   */
  CompletableFuture<Long> forgive(String scope, long nowMillis);

  /**
   * Erases every request of {@code userId} (new-device requests and the device codes the user
   * claimed or answered, whatever their state: an approved one can no longer be polled into a
   * session; and those the user's claim or answer was binding, not bound yet) and the user's
   * failed-attempt counter. Other users' requests stay. Run again after the user's device sessions
   * are erased ({@link io.handoff.server.engine.Engine#erase}), it also finds every request that a
   * claim or an answer by one of those sessions bound after the first run: binding needs the
   * session alive, atomically ({@link #claim}).
   */
  CompletableFuture<Void> erase(String userId);

  /**
   * Whether a held sign-in of device {@code deviceId} of {@code userId}, stored already, can still
   * be approved: no erasure of the user is under way ({@link #beginErasure}) and the user has a
   * live device session on another device, checked atomically with respect to the user's sessions
   * and mark. Asked after {@link #create}: a yes means an erasure of the user either ended before
   * (the approving session outlived it) or is still to find the request ({@link #erase} after the
   * sessions' first pass).
   */
  CompletableFuture<Approvable> approvable(String userId, String deviceId);

  /** What {@link #approvable} found. */
  enum Approvable {
    /** Another device of the user has a live session, and no erasure of the user is under way. */
    YES,
    /** No other device of the user has a live session (revoked, erased): nobody could approve. */
    NO_APPROVER,
    /**
     * An erasure of the user is under way, or its mark outlived it (its node died, or its end
     * failed): whether another device could approve is not known, so the sign-in is neither held
     * (the erasure may have read the requests already) nor signed in unapproved.
     */
    ERASING
  }

  /**
   * Deletes request {@code r} of its user, as {@link #erase} would, freeing its places in the
   * bounds: a held sign-in taken back when {@link #approvable} says other than yes.
   */
  CompletableFuture<Void> withdraw(Request r);

  /** What {@link #failBySession} completes with while an erasure of the user is under way. */
  long ERASING = -2;

  /** The longest an erasure's mark holds ({@link #beginErasure}). */
  long ERASING_MILLIS = 5 * 60_000L;

  /**
   * Marks {@code userId} as being erased, by erasure {@code erasureId}, until {@link #endErasure}
   * or at most {@link #ERASING_MILLIS}: meanwhile no claim or answer by a device session binds a
   * request to the user (as if the session were gone, whichever session it is, even one made during
   * the erasure), and no wrong code of such a session is counted for the user ({@link
   * #failBySession}). Erasures of the same user at once each hold their own mark.
   */
  CompletableFuture<Void> beginErasure(String userId, String erasureId);

  /**
   * Ends the mark {@link #beginErasure} made; completes with whether it still held (false: it
   * lapsed, the erasure took longer than {@link #ERASING_MILLIS}, or it was never made).
   */
  CompletableFuture<Boolean> endErasure(String userId, String erasureId);

  /**
   * Drops records past their retention and attempt windows that ended, as of {@code now}. A store
   * whose backing keys expire by themselves does nothing here.
   */
  CompletableFuture<Void> sweep(java.time.Instant now);
}
