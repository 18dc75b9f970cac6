package io.handoff.server.engine;

import io.handoff.server.devices.SessionStore;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentStore;
import io.netty.channel.EventLoopGroup;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The engine parts one node runs on: a {@link DocumentStore}, the {@link Broker} it publishes to,
 * the {@link SessionStore} of device sessions, and the {@link HandoffStore} of activities, offers
 * and presence. The in-memory engine is the embedded default; a Redis one serves many nodes.
 */
public interface Engine extends ResumeStore, AutoCloseable {
  DocumentStore store();

  Broker broker();

  /** Device sessions and their refresh tokens. */
  SessionStore sessions();

  /** Activities, handoff offers and presence, on the same backing store. */
  HandoffStore handoff();

  /** Pending sign-ins of new devices (device codes, new-device approval). */
  io.handoff.server.devices.ApprovalStore approvals();

  /**
   * Erases everything of the user in every store: sign-in requests, device sessions, sign-in
   * requests and device sessions again, then documents, activities, offers and presence.
   *
   * <p>In that order a device-code poll that consumed an approval before the erase either made its
   * session before the sessions went (erased with them) or finds, once it made it, that its request
   * is gone, and takes the session back ({@code DeviceApprovals.poll}). A lookup or an answer by
   * one of the user's sessions binds a request to the user only while that session is alive,
   * checked atomically where the requests' second pass finds it ({@link
   * io.handoff.server.devices.ApprovalStore#claim}): so the second pass deletes every request such
   * a lookup or answer bound during the first two steps, and none is bound after them. The
   * sessions' second pass takes the session a poll made in between out of an approval that landed
   * during the erasure (and settled before the requests' second pass; one settled after it finds
   * its request gone and takes its session back).
   *
   * <p>A device session made during the erasure (a sign-in, a poll) is alive although the user's
   * sessions went: so the user is marked as being erased ({@link
   * io.handoff.server.devices.ApprovalStore#beginErasure}) after the sessions' first pass, before
   * the requests' second, until the end. A claim or an answer by any session binds nothing while
   * the mark holds, and one that bound before it is found by the requests' second pass; nor is a
   * wrong code counted for the user. The mark ends whether the erasure succeeded or failed; one
   * that lapsed before the end fails the erasure (send it again).
   */
  default CompletableFuture<Void> erase(String userId) {
    String mark = java.util.UUID.randomUUID().toString();
    CompletableFuture<Void> erased =
        approvals()
            .erase(userId)
            .thenCompose(v -> sessions().erase(userId))
            .thenCompose(v -> approvals().beginErasure(userId, mark))
            .thenCompose(v -> approvals().erase(userId))
            .thenCompose(v -> sessions().erase(userId))
            .thenCompose(v -> store().erase(userId))
            .thenCompose(v -> handoff().erase(userId));
    return erased
        .handle((v, err) -> err)
        .thenCompose(
            err ->
                approvals()
                    .endErasure(userId, mark)
                    .handle(
                        (held, ended) -> {
                          if (err != null) {
                            throw err instanceof java.util.concurrent.CompletionException c
                                ? c
                                : new java.util.concurrent.CompletionException(err);
                          }
                          if (ended != null) {
                            throw new java.util.concurrent.CompletionException(ended);
                          }
                          if (!held) {
                            throw new IllegalStateException(
                                "the erasure of "
                                    + userId
                                    + " outlasted its mark; its sign-in requests may not all be"
                                    + " gone");
                          }
                          return null;
                        }));
  }

  /** Runs every store's {@code sweep(now)}. */
  default CompletableFuture<Void> sweep(Instant now) {
    return CompletableFuture.allOf(
        store().sweep(now), sessions().sweep(now), handoff().sweep(now), approvals().sweep(now));
  }

  /**
   * A device's resume in one call (see {@link ResumeStore}). This default makes the separate calls
   * of each store; engines override it with one round trip to their backing store.
   */
  @Override
  default CompletableFuture<Resumed> resume(Request request) {
    return ResumeStore.separately(this, request);
  }

  /** A short name for logs: "memory", "redis". */
  String name();

  /** What survives a restart of this node, said plainly for the start-up log and the docs. */
  String durability();

  /**
   * Lets the engine do its I/O on the node's own event loops: the commands a loop sends, their
   * answers and the pushes for the users that loop serves are then handled by that loop's thread,
   * with no hand-off to a thread of the engine's and back. {@code transport} names the loops'
   * socket transport ("epoll", "io_uring", "nio"); an engine that cannot use them keeps its own
   * threads. Returns what undoes it, which the node closes before it stops its loops. The default
   * (the in-memory engine, which does no I/O) binds nothing.
   */
  default LoopBinding bindLoops(EventLoopGroup loops, String transport) {
    return LoopBinding.NONE;
  }

  /**
   * For a node that keeps the engine's I/O on the engine's own threads (its loops not offered to
   * {@link #bindLoops}): binds nothing, and returns what the node closes, or abandons, before it
   * stops its loops all the same, as it would a binding (the Redis engine takes back its resumes in
   * flight there). The default does nothing.
   */
  default LoopBinding ownThreads() {
    return LoopBinding.NONE;
  }

  /**
   * What {@link #bindLoops} did; closing it stops the engine's use of the loops. Either way, the
   * node closes it (a stop) or abandons it (a crash) while its loops still run.
   */
  interface LoopBinding extends AutoCloseable {
    LoopBinding NONE = () -> {};

    @Override
    void close();

    /**
     * As {@link #close}, for a node that stops as a crash would: nothing is sent to the store on
     * behalf of the node's devices (no take-backs of their resumes in flight).
     */
    default void abandon() {
      close();
    }
  }

  /**
   * Claims {@code nodeId} for this process among every node on the same backing store, before the
   * node serves: two processes running nodes with one id would take each other's devices' takeovers
   * and presence for their own. Blocks while the id is held by a process that stopped without
   * giving it back (killed), up to the engine's lease time; throws {@link NodeIdInUseException}
   * when another process is running a node with the id. Claiming an id this engine holds already
   * succeeds. Once claimed, {@code taken} is told, once, if another running process is found
   * holding the id (this one was cut off from the store for longer than the lease, and the other
   * claimed the id meanwhile), on the engine's timer: it must not block. Returns what gives the id
   * back, which the node runs when it stops cleanly (closing the engine gives back every id it
   * holds). The default (the in-memory engine, whose store no other process shares) claims nothing.
   */
  default Runnable claimNode(String nodeId, Consumer<NodeIdInUseException> taken)
      throws InterruptedException {
    return () -> {};
  }

  /** {@link #claimNode(String, Consumer)}, with nothing told if the id is taken later. */
  default Runnable claimNode(String nodeId) throws InterruptedException {
    return claimNode(nodeId, e -> {});
  }

  /**
   * Whether this process holds {@code nodeId} as far as the engine last saw: false while its claim
   * was found held by another process (whether that one runs or stopped is being watched), and from
   * when another running process was found holding it on. Always true without a shared store.
   */
  default boolean holdsNode(String nodeId) {
    return true;
  }

  /**
   * Whether the store confirmed this process's claim on {@code nodeId} recently enough that it
   * cannot have lapsed unseen: false once no renewal of the claim was answered (as held) within the
   * claim's time, as after a store outage longer than the claim, until the next renewal is; the
   * claim may then have lapsed and been taken by another process. Always true without a shared
   * store.
   */
  default boolean confirmsNode(String nodeId) {
    return true;
  }

  /**
   * How many claims of {@code nodeId} by other processes the store refused while this process held
   * it, as far as the engine has read (each a process configured with this node's id refused at its
   * start, or one that lost the id finding this process holding it). Never decreases. Always 0
   * without a shared store, where no other process claims ids.
   */
  default long nodeClaimsRefused(String nodeId) {
    return 0;
  }

  /** False while the engine cannot reach its backing store; drives {@code /readyz}. */
  default boolean healthy() {
    return true;
  }

  /**
   * How many times the engine saw its store lose data while it stayed connected (a wipe, a dataset
   * loaded in place, another Redis process behind the same address), each time making every session
   * re-read its documents. Always 0 in memory.
   */
  default long storeResets() {
    return 0;
  }

  @Override
  void close();
}
