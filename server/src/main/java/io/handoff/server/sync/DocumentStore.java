package io.handoff.server.sync;

import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Write;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The state store and history of every user's documents.
 *
 * <h2>Contract</h2>
 *
 * <ul>
 *   <li><b>Atomic writes.</b> {@link #write} applies all of a write's field operations or none. A
 *       write that is refused (conflict, limit) changes nothing.
 *   <li><b>Versions.</b> Each applied write gives its document the next version (previous + 1); the
 *       first write creates version 1 and a fresh random, non-zero epoch. An epoch names one
 *       lifetime of a document's history: when history is lost the epoch changes.
 *   <li><b>Publication order.</b> Every applied write is handed to the {@link Broker} as a {@link
 *       DocumentEvent} before the returned future completes, and the events of one document are
 *       published in version order.
 *   <li><b>Idempotency.</b> A write is identified by (user, device, client_seq). A write whose
 *       client_seq was already applied or refused returns the recorded outcome marked duplicate and
 *       changes nothing. Outcomes are remembered for {@link StoreLimits#seqWindow()} writes per
 *       device; an older client_seq is refused with STALE_SEQUENCE.
 *   <li><b>Bounds.</b> Every limit of {@link StoreLimits} is enforced and named in the refusal.
 *   <li><b>Fingerprints.</b> Every applied version gets a {@link Fingerprint}, computed in the same
 *       atomic step as the write and kept with the version and its history entry; deltas carry it
 *       and the previous version's.
 *   <li><b>Failure.</b> When the store certainly did not apply a write (it could not be reached
 *       before sending, or it refused the command) the future fails with {@link
 *       StoreUnavailableException}; when the write's fate is unknown (a timeout, or the connection
 *       was lost after sending) it fails with {@link OutcomeUnknownException}. Either way the
 *       client may re-send the same write: writes are idempotent. Futures may complete on any
 *       thread.
 * </ul>
 *
 * <p>Implementations are thread-safe. The user id always comes from the authenticated token, never
 * from a frame, so one user cannot name another's state.
 */
public interface DocumentStore extends AutoCloseable {

  /** Applies {@code write} for {@code deviceId} of {@code userId}. See the class contract. */
  CompletableFuture<WriteOutcome> write(String userId, String deviceId, Write write);

  /**
   * Brings one document up to date from a position: the deltas after {@code version} when history
   * still holds all of them and {@code epoch} is current, a snapshot otherwise, UP_TO_DATE when
   * there is nothing newer, GONE when the document does not exist. {@code epoch == 0} (no position)
   * always gives a snapshot of an existing document.
   */
  default CompletableFuture<SyncResult> read(
      String userId, String document, long epoch, long version) {
    return read(userId, document, epoch, version, Fingerprint.UNKNOWN);
  }

  /**
   * {@link #read} from a position that also names the {@link Fingerprint} of its version. A
   * position of the current epoch whose version is beyond the document's, or whose fingerprint is
   * not the document's for that version, gets a SNAPSHOT with reason DIVERGED: the store lost
   * history the device had seen. An unknown fingerprint (0) matches any.
   */
  CompletableFuture<SyncResult> read(
      String userId, String document, long epoch, long version, long fingerprint);

  /**
   * {@link #read} for several documents at once: every existing document that {@code filter}
   * follows, plus every followed document named in {@code positions}, each from its position (or
   * from nothing). A store that reads each document with a command of its own has at most {@link
   * io.handoff.server.util.ReadWindow#READS} of them in flight at once; the first that fails fails
   * the whole, once those already sent have ended.
   */
  CompletableFuture<List<SyncResult>> sync(
      String userId, FollowFilter filter, Collection<Position> positions);

  /** The names of every document of the user. */
  CompletableFuture<java.util.Set<String>> documents(String userId);

  /** The highest client_seq applied for this device, 0 if none. */
  CompletableFuture<Long> lastClientSeq(String userId, String deviceId);

  /**
   * Deletes every document of the user, its history and the write sequences of its devices. Events
   * already published are not recalled; devices still connected should be disconnected.
   */
  CompletableFuture<Void> erase(String userId);

  /**
   * Drops every user whose documents were not written for {@link StoreLimits#idleTtl()} as of
   * {@code now}. A store whose backing keys expire by themselves (Redis TTLs) does nothing here.
   */
  CompletableFuture<Void> sweep(Instant now);

  @Override
  void close();
}
