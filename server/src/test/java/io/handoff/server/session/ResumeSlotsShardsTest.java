package io.handoff.server.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.sync.Broker;
import io.handoff.server.sync.OutcomeUnknownException;
import io.netty.channel.DefaultEventLoop;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The line of resumes keeps its "one at a time while timing out" state per shard of the store: a
 * shard whose read timed out gets one read at a time, the others go on at full width, and the state
 * of a shard the store no longer has (a Cluster master failed over) is dropped. A real Netty event
 * loop; the store's answers are completed by the test, as a store's thread would.
 */
class ResumeSlotsShardsTest {
  private final DefaultEventLoop loop = new DefaultEventLoop();
  private final Set<Object> topology = ConcurrentHashMap.newKeySet();
  private final LongAdder refused = new LongAdder();
  private final ResumeSlots slots =
      new ResumeSlots(4, 4, refused, new LongAdder(), user -> user, topology::contains);

  @AfterEach
  void tearDown() {
    loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @Test
  void aShardTimingOutGetsOneReadAtATimeTheOthersFullWidthAndAGoneShardIsDropped()
      throws Exception {
    topology.addAll(Set.of("a", "b"));
    // A read of shard a times out: a is stalled.
    CompletableFuture<String> held = new CompletableFuture<>();
    CompletableFuture<String> first = read("a", held);
    held.completeExceptionally(OutcomeUnknownException.timedOut("timed out", null));
    assertTrue(first.isCompletedExceptionally());
    assertEquals(1, slots.shardsKept(), "the stalled shard's state");

    // Shard a: one read at a time, the next refused at once.
    CompletableFuture<String> probe = new CompletableFuture<>();
    CompletableFuture<String> probing = read("a", probe);
    CompletableFuture<String> second = read("a", new CompletableFuture<>());
    assertNotNull(ResumeSlots.refusal(cause(second)), "refused while a's probe is under way");
    assertEquals(1, refused.sum());

    // Shard b: three reads at once (the node's bound of 4, a's probe holding one).
    CompletableFuture<String> b = new CompletableFuture<>();
    CompletableFuture<String> b1 = read("b", b);
    CompletableFuture<String> b2 = read("b", b);
    CompletableFuture<String> b3 = read("b", b);
    assertEquals(4, slots.inFlight());
    b.complete("welcome");
    assertEquals(
        List.of("welcome", "welcome", "welcome"), List.of(b1.join(), b2.join(), b3.join()));
    assertEquals(1, refused.sum(), "nothing of b refused");

    // Shard a fails over: its master leaves the topology, its probe times out, and the first read
    // of its new master drops a's state.
    topology.remove("a");
    topology.add("c");
    probe.completeExceptionally(OutcomeUnknownException.timedOut("timed out", null));
    assertTrue(probing.isCompletedExceptionally());
    assertEquals(1, slots.shardsKept(), "a, stalled, until a shard new to the line comes");
    CompletableFuture<String> c = new CompletableFuture<>();
    CompletableFuture<String> onC = read("c", c);
    assertEquals(1, slots.shardsKept(), "a dropped; c's read under way");
    c.complete("welcome");
    assertEquals("welcome", onC.join());
    assertEquals(0, slots.shardsKept(), "nothing kept once every read ended otherwise");
    assertEquals(0, slots.inFlight());
  }

  @Test
  void aShardGoneFromTheStoreIsDroppedAtAnyReadAndStartsAfreshIfItComesBack() throws Exception {
    topology.addAll(Set.of("a", "b"));
    CompletableFuture<String> held = new CompletableFuture<>();
    CompletableFuture<String> first = read("a", held);
    held.completeExceptionally(OutcomeUnknownException.timedOut("timed out", null));
    assertTrue(first.isCompletedExceptionally());
    CompletableFuture<String> b = new CompletableFuture<>();
    CompletableFuture<String> onB = read("b", b);
    assertEquals(2, slots.shardsKept(), "a, stalled, and b, read");

    // Master a fails over (its replica is c); the next read is of b, whose state the line has.
    topology.remove("a");
    topology.add("c");
    CompletableFuture<String> onB2 = read("b", b);
    assertEquals(1, slots.shardsKept(), "a dropped at a read of a shard the line already had");

    // a is made master again: its reads go at full width, not held back by its earlier hang.
    topology.add("a");
    CompletableFuture<String> a = new CompletableFuture<>();
    CompletableFuture<String> a1 = read("a", a);
    CompletableFuture<String> a2 = read("a", a);
    assertEquals(0, refused.sum(), "nothing of a refused");
    a.complete("welcome");
    b.complete("welcome");
    assertEquals(
        List.of("welcome", "welcome", "welcome", "welcome"),
        List.of(a1.join(), a2.join(), onB.join(), onB2.join()));
    assertEquals(0, slots.shardsKept());
  }

  /**
   * Two reads of shard a under way when it hangs: the first times out, the second, admitted before
   * the stall, is the shard's one read at a time (the next Hello of a is refused at once, not
   * queued behind it); it holds its slot until its own store call ends, no longer, and its end
   * decides the line: a timeout keeps a stalled with no slot held, an answer opens it to full
   * width.
   */
  @Test
  void aReadAdmittedBeforeItsShardStalledIsTheShardsOneReadUntilItsOwnCallEnds() throws Exception {
    topology.addAll(Set.of("a", "b"));
    CompletableFuture<String> firstCall = new CompletableFuture<>();
    CompletableFuture<String> secondCall = new CompletableFuture<>();
    CompletableFuture<String> first = read("a", firstCall);
    CompletableFuture<String> second = read("a", secondCall);
    firstCall.completeExceptionally(OutcomeUnknownException.timedOut("timed out", null));
    assertTrue(first.isCompletedExceptionally());
    assertEquals(1, slots.stalledShards());
    assertEquals(1, slots.inFlight(), "the read admitted before the stall holds its slot");

    CompletableFuture<String> refusedAtOnce = read("a", new CompletableFuture<>());
    assertNotNull(
        ResumeSlots.refusal(cause(refusedAtOnce)),
        "refused at once while the read admitted before the stall is under way");
    assertEquals(0, slots.waiting(), "nothing of a waits behind a stalled shard's read");
    CompletableFuture<String> b = new CompletableFuture<>();
    CompletableFuture<String> onB = read("b", b);
    b.complete("welcome");
    assertEquals("welcome", onB.join(), "another shard at full width meanwhile");

    secondCall.completeExceptionally(OutcomeUnknownException.timedOut("timed out", null));
    assertTrue(second.isCompletedExceptionally());
    assertEquals(null, ResumeSlots.refusal(cause(second)), "a store failure, not a refusal (4005)");
    assertEquals(0, slots.inFlight(), "its slot freed at its own timeout");
    assertEquals(1, slots.stalledShards(), "its timeout keeps a stalled");

    // The next read of a goes alone; answered, it opens a to full width again.
    CompletableFuture<String> probe = new CompletableFuture<>();
    CompletableFuture<String> probing = read("a", probe);
    probe.complete("welcome");
    assertEquals("welcome", probing.join());
    assertEquals(0, slots.stalledShards());
    CompletableFuture<String> a = new CompletableFuture<>();
    CompletableFuture<String> a1 = read("a", a);
    CompletableFuture<String> a2 = read("a", a);
    assertEquals(2, slots.inFlight());
    a.complete("welcome");
    assertEquals(List.of("welcome", "welcome"), List.of(a1.join(), a2.join()));
    assertEquals(1, refused.sum(), "only the Hello that came while the shard stalled");
    assertEquals(0, slots.shardsKept());
  }

  /**
   * A read whose subscription failed on a server that is not its shard (a Cluster's pub/sub node
   * hung) changes nothing for its shard: it neither stalls a shard that answers nor opens one that
   * is stalled.
   */
  @Test
  void aSubscriptionFailingOffTheUsersShardNeitherStallsNorOpensIt() throws Exception {
    topology.addAll(Set.of("a", "b"));
    Throwable offShard =
        new Broker.OffShardFailure(OutcomeUnknownException.timedOut("timed out", null));
    CompletableFuture<String> onA = read("a", CompletableFuture.failedFuture(offShard));
    assertTrue(onA.isCompletedExceptionally());
    assertEquals(0, slots.stalledShards(), "a answers: not stalled by its users' pub/sub node");
    CompletableFuture<String> a = new CompletableFuture<>();
    CompletableFuture<String> a1 = read("a", a);
    CompletableFuture<String> a2 = read("a", a);
    a.complete("welcome");
    assertEquals(List.of("welcome", "welcome"), List.of(a1.join(), a2.join()));

    CompletableFuture<String> held = new CompletableFuture<>();
    CompletableFuture<String> onB = read("b", held);
    held.completeExceptionally(OutcomeUnknownException.timedOut("timed out", null));
    assertTrue(onB.isCompletedExceptionally());
    CompletableFuture<String> offB = read("b", CompletableFuture.failedFuture(offShard));
    assertTrue(offB.isCompletedExceptionally());
    assertEquals(1, slots.stalledShards(), "b stays stalled: its own read timed out");
    assertEquals(0, refused.sum());
    assertEquals(0, slots.inFlight());
  }

  /** A read of {@code shard} answered by {@code store}, once its start ran on the loop. */
  private CompletableFuture<String> read(Object shard, CompletableFuture<String> store)
      throws Exception {
    CompletableFuture<String> answer = slots.read(loop, shard, () -> true, () -> store);
    loop.submit(() -> {}).get(10, TimeUnit.SECONDS); // The start, queued before this, ran.
    return answer;
  }

  private static Throwable cause(CompletableFuture<?> f) {
    assertTrue(f.isCompletedExceptionally());
    assertFalse(f.isCancelled());
    return f.handle((v, err) -> err).join();
  }
}
