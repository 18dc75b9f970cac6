package io.handoff.server.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.sync.OutcomeUnknownException;
import io.handoff.server.sync.StoreUnavailableException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * {@link ReadWindow}: reads the test answers by hand, so what is sent when is exact. The Redis
 * tests ({@code RedisSyncReadWindowTest}, {@code FollowReadWindowTest}) show the same on real
 * reads.
 */
class ReadWindowTest {
  /** Reads that the test answers: {@code sent.get(i)} is read i's future once it was sent. */
  private static final class Reads {
    final List<CompletableFuture<String>> sent = new ArrayList<>();
    final List<Supplier<CompletableFuture<String>>> reads = new ArrayList<>();

    Reads(int n) {
      for (int i = 0; i < n; i++) {
        reads.add(
            () -> {
              CompletableFuture<String> f = new CompletableFuture<>();
              sent.add(f);
              return f;
            });
      }
    }
  }

  @Test
  void atMostTheWindowIsSentAndEachAnswerSendsTheNextWithResultsInOrder() {
    Reads r = new Reads(10);
    CompletableFuture<List<String>> all = ReadWindow.of(r.reads, 3);
    assertEquals(3, r.sent.size(), "the window's worth sent at once");
    r.sent.get(1).complete("1");
    assertEquals(4, r.sent.size(), "an answer sends the next");
    r.sent.get(1).complete("again"); // A future completes once: nothing more.
    assertEquals(4, r.sent.size());
    for (int i = 0; i < 10; i++) {
      CompletableFuture<String> read = r.sent.get(i);
      if (!read.isDone()) {
        read.complete(i == 4 ? null : Integer.toString(i));
      }
      long answered = r.sent.stream().filter(CompletableFuture::isDone).count();
      assertEquals(Math.min(10, answered + 3), r.sent.size(), "three in flight while any wait");
    }
    assertEquals(10, r.sent.size());
    assertEquals(Arrays.asList("0", "1", "2", "3", null, "5", "6", "7", "8", "9"), all.join());
  }

  @Test
  void aFailedReadSendsNoMoreAndFailsTheLotOnceTheReadsSentHaveEnded() {
    Reads r = new Reads(10);
    CompletableFuture<List<String>> all = ReadWindow.of(r.reads, 3);
    OutcomeUnknownException timeout = new OutcomeUnknownException("no answer from Redis", null);
    r.sent.get(0).completeExceptionally(timeout);
    assertEquals(3, r.sent.size(), "nothing sent after the failure");
    assertFalse(all.isDone(), "two reads still in flight");
    r.sent.get(1).complete("1");
    assertEquals(3, r.sent.size());
    assertFalse(all.isDone(), "one read still in flight");
    r.sent.get(2).completeExceptionally(new StoreUnavailableException("later failure", null));
    assertTrue(all.isCompletedExceptionally());
    CompletionException joined = assertThrows(CompletionException.class, all::join);
    assertSame(timeout, joined.getCause(), "the first failure, as allOf's");
    ExecutionException got = assertThrows(ExecutionException.class, all::get);
    assertInstanceOf(OutcomeUnknownException.class, got.getCause());
    assertEquals(3, r.sent.size());
  }

  @Test
  void readsThatAnswerAtOnceAreSentInALoopNotARecursion() {
    List<Supplier<CompletableFuture<Integer>>> reads = new ArrayList<>();
    for (int i = 0; i < 100_000; i++) {
      int n = i;
      reads.add(() -> CompletableFuture.completedFuture(n));
    }
    List<Integer> results = ReadWindow.of(reads, 1).join();
    assertEquals(100_000, results.size());
    for (int i = 0; i < results.size(); i++) {
      assertEquals(i, results.get(i));
    }
  }

  @Test
  void aReadThatThrowsFailsTheLotAsAFailedReadDoes() {
    List<Supplier<CompletableFuture<String>>> reads = new ArrayList<>();
    reads.add(() -> CompletableFuture.completedFuture("a"));
    reads.add(
        () -> {
          throw new IllegalStateException("corrupt delta in Redis");
        });
    int[] sentAfter = {0};
    reads.add(
        () -> {
          sentAfter[0]++;
          return CompletableFuture.completedFuture("c");
        });
    CompletableFuture<List<String>> all = ReadWindow.of(reads, 1);
    CompletionException e = assertThrows(CompletionException.class, all::join);
    assertInstanceOf(IllegalStateException.class, e.getCause());
    assertEquals(0, sentAfter[0], "no read sent after the failure");
  }

  @Test
  void noReadsIsAnEmptyListAndAWindowBelowOneIsRefused() {
    assertEquals(List.of(), ReadWindow.<String>of(List.of()).join());
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ReadWindow.<String>of(List.of(), 0));
    assertTrue(e.getMessage().contains("window must be at least 1"), e.getMessage());
  }
}
