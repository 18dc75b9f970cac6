package io.handoff.server.devices;

import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Device sessions of every user: one per signed-in device, each with the hash of its current
 * refresh token and the hashes of the ones it replaced (the token family).
 *
 * <h2>Contract</h2>
 *
 * <ul>
 *   <li><b>One session per device.</b> {@link #create} for a device that has a session replaces it
 *       (the old one is revoked). A user holds at most {@link StoreLimits#maxDevicesPerUser()}
 *       sessions; one more is refused ({@link Created#limitReached()}) and nothing changes.
 *   <li><b>Atomic rotation.</b> {@link #rotate} compares the presented refresh-token hash with the
 *       session's current one and swaps in the new hash in one step, so of two concurrent uses of
 *       one token exactly one rotates. A hash that was current before (a rotated-out token) revokes
 *       the session ({@link Rotation.Outcome#REUSED}), unless it is the immediately previous one
 *       back within the reuse interval ({@link Rotation.Outcome#RETRIED}). A session whose refresh
 *       token was not used for {@code inactivityMillis} is expired and refuses rotation: its
 *       current token and its rotated-out ones alike get {@link Rotation.Outcome#EXPIRED}, never
 *       REUSED (a dead session is not revoked, and its tokens' use is no anomaly).
 *   <li><b>Inactivity.</b> Such a session is dead before anyone presents its refresh token: {@link
 *       #status} reads it as gone (not alive, not revoked), {@link #list} leaves it out and {@link
 *       #create} drops it (as if idle-expired) instead of counting it toward the limit. Being seen
 *       (connected) does not keep it alive; only rotation does.
 *   <li><b>Revocation is final.</b> A revoked session never rotates or reports alive again; its
 *       record is kept (as a tombstone) so that later use of its tokens is recognised as such.
 *   <li><b>Idle expiry.</b> A session not seen (signed in, rotated, connected) for {@link
 *       StoreLimits#idleTtl()} is gone, as if it never existed.
 *   <li><b>Time</b> comes from the engine's clock. <b>Failure:</b> futures fail when the backing
 *       store cannot be reached; nothing was changed then. Futures may complete on any thread.
 * </ul>
 *
 * <p>Implementations are thread-safe. The user id always comes from a verified token.
 */
public interface SessionStore {

  /** One device session as listed to its user. {@code node} names the node it is connected to. */
  record DeviceSession(
      String sessionId,
      String deviceId,
      String name,
      String platform,
      long createdMillis,
      long lastSeenMillis,
      String node) {
    public boolean online() {
      return node != null && !node.isEmpty();
    }
  }

  /** The result of {@link #create}: the replaced session id, if any, or a refusal at the limit. */
  record Created(boolean limitReached, int devices, String replacedSessionId) {}

  /**
   * The result of {@link #rotate}. {@code sealedSuccessor} is set for {@link Outcome#RETRIED}: what
   * the rotation that made the current token stored with it.
   */
  record Rotation(Outcome outcome, String deviceId, byte[] sealedSuccessor) {
    public Rotation(Outcome outcome, String deviceId) {
      this(outcome, deviceId, null);
    }

    public enum Outcome {
      /** The presented token was current; the new hash is current now. */
      ROTATED,
      /**
       * The presented token is the one the current token replaced, back within the reuse interval
       * (a retry): nothing changes, and the current token's sealed copy is returned.
       */
      RETRIED,
      /** The presented token had been rotated out: the session is revoked now. */
      REUSED,
      /** The session was revoked before. */
      REVOKED,
      /**
       * The refresh token was unused for longer than the inactivity limit: presented the current
       * token, the session is deleted (not revoked: it is gone as if idle-expired); presented a
       * rotated-out one, nothing changes.
       */
      EXPIRED,
      /** No such session, or a token that never belonged to it. */
      UNKNOWN
    }
  }

  /** Liveness of a session: alive, and for which device. */
  record Status(boolean alive, boolean revoked, String deviceId) {}

  /**
   * Creates the session as the contract says; sessions of other devices whose refresh token was
   * unused for longer than {@code inactivityMillis} are dropped first and do not count.
   */
  CompletableFuture<Created> create(
      String userId,
      String sessionId,
      String deviceId,
      String name,
      String platform,
      byte[] refreshHash,
      long inactivityMillis);

  /**
   * {@link #create(String, String, String, String, String, byte[], long)} with no inactivity limit.
   */
  default CompletableFuture<Created> create(
      String userId,
      String sessionId,
      String deviceId,
      String name,
      String platform,
      byte[] refreshHash) {
    return create(userId, sessionId, deviceId, name, platform, refreshHash, Long.MAX_VALUE);
  }

  /** {@link #rotate(String, String, byte[], byte[], byte[], long, long)} with no reuse interval. */
  default CompletableFuture<Rotation> rotate(
      String userId,
      String sessionId,
      byte[] presentedHash,
      byte[] newHash,
      long inactivityMillis) {
    return rotate(userId, sessionId, presentedHash, newHash, new byte[0], inactivityMillis, 0);
  }

  /**
   * Rotates as the contract says, keeping {@code sealedNew} (an opaque copy of the new token that
   * only a holder of the presented one can open) beside the new hash. When the presented hash is
   * the one the current token replaced and that rotation was at most {@code reuseIntervalMillis}
   * ago (and the interval is above 0), answers {@link Rotation.Outcome#RETRIED} with that
   * rotation's sealed copy instead of revoking. Any other rotated-out hash still revokes.
   */
  CompletableFuture<Rotation> rotate(
      String userId,
      String sessionId,
      byte[] presentedHash,
      byte[] newHash,
      byte[] sealedNew,
      long inactivityMillis,
      long reuseIntervalMillis);

  /**
   * Whether the session exists and is not revoked, nor idle-expired, nor dead of inactivity (its
   * refresh token unused for longer than {@code inactivityMillis}: gone, not revoked).
   */
  CompletableFuture<Status> status(String userId, String sessionId, long inactivityMillis);

  /** {@link #status(String, String, long)} with no inactivity limit. */
  default CompletableFuture<Status> status(String userId, String sessionId) {
    return status(userId, sessionId, Long.MAX_VALUE);
  }

  /**
   * Records that the session's device is seen now: connected to {@code node} (non-empty), or
   * disconnected from {@code node} (clears the mark only if it still names that node). A session
   * revoked, or idle for the idle TTL (gone, even if a connection made before is still open), stays
   * as it is.
   */
  CompletableFuture<Void> seen(String userId, String sessionId, String node, boolean connected);

  /**
   * The user's live device sessions, oldest first: not revoked, not idle, and with a refresh token
   * used within {@code inactivityMillis}.
   */
  CompletableFuture<List<DeviceSession>> list(String userId, long inactivityMillis);

  /** {@link #list(String, long)} with no inactivity limit. */
  default CompletableFuture<List<DeviceSession>> list(String userId) {
    return list(userId, Long.MAX_VALUE);
  }

  /**
   * Revokes the session of {@code deviceId}, or of every device but {@code deviceId} when {@code
   * allOthers}. Returns the device ids revoked (empty when there was none).
   */
  CompletableFuture<List<String>> revoke(String userId, String deviceId, boolean allOthers);

  /** Deletes every session of the user, tombstones included. */
  CompletableFuture<Void> erase(String userId);

  /**
   * Drops sessions and tombstones idle for {@link StoreLimits#idleTtl()} as of {@code now}, and
   * users left with none. A store whose backing keys expire by themselves does nothing here.
   */
  CompletableFuture<Void> sweep(Instant now);
}
