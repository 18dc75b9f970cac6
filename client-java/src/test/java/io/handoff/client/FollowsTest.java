package io.handoff.client;

import static io.handoff.client.Frames.error;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DeviceList;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.ListDevices;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.SyncReport;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/**
 * {@link Follows} in a {@link SyncEngine} without sockets: which frames a change sends, in which
 * order the answers change the set the next Hello carries, and a change while connecting. The event
 * loop is the test thread. The same against a real node: the server's {@code ClientFollowTest}.
 */
class FollowsTest {
  private final FakeEngine fake = new FakeEngine(FakeEngine.builder().followDocuments("player"));
  private final FakeConnector connector = fake.connector;
  private final ManualScheduler scheduler = fake.scheduler;
  private final SyncEngine engine = fake.engine;

  private FakeChannel connected() {
    return fake.connected();
  }

  private static ServerFrame answer(long requestId) {
    return ServerFrame.newBuilder()
        .setRequestId(requestId)
        .setSyncReport(SyncReport.getDefaultInstance())
        .build();
  }

  /** The follow set of the Hello the next connection sends. */
  private FollowSpec nextHello() {
    connector.last().closeWith(1006, "gone");
    scheduler.runPending();
    ClientFrame hello = connector.last().open().drain().get(0);
    assertTrue(hello.hasHello(), () -> "not a Hello: " + hello);
    return hello.getHello().getFollow();
  }

  @Test
  void anUnfollowAnsweredBeforeTheFollowSentBeforeItIsTakenAfterIt() {
    FakeChannel channel = connected();
    CompletableFuture<Void> followed =
        engine.follows.change("follow", true, List.of("x"), List.of());
    CompletableFuture<Void> unfollowed =
        engine.follows.change("unfollow", false, List.of("x"), List.of());
    List<ClientFrame> sent = channel.drain();
    assertEquals("x", sent.get(0).getFollow().getSpec().getDocuments(0));
    assertEquals("x", sent.get(1).getUnfollow().getSpec().getDocuments(0));

    // The node answers the Unfollow at once, ahead of the Follow still reading.
    channel.receive(answer(sent.get(1).getRequestId()));
    assertTrue(unfollowed.isDone() && !unfollowed.isCompletedExceptionally());
    channel.receive(answer(sent.get(0).getRequestId()));
    assertTrue(followed.isDone() && !followed.isCompletedExceptionally());

    assertEquals(List.of("player"), nextHello().getDocumentsList());
  }

  @Test
  void aRefusedFollowFailsWithTheServersCodeAndLeavesTheSetAsItWas() {
    FakeChannel channel = connected();
    CompletableFuture<Void> followed =
        engine.follows.change("follow", true, List.of("x"), List.of());
    ClientFrame sent = channel.drain().get(0);
    channel.receive(
        error(ErrorCode.LIMIT_EXCEEDED, "", 0, false, 0).toBuilder()
            .setRequestId(sent.getRequestId())
            .build());

    CompletionException e = assertThrows(CompletionException.class, followed::join);
    HandoffException refused = assertInstanceOf(HandoffException.class, e.getCause());
    assertEquals(ErrorCode.LIMIT_EXCEEDED, refused.errorCode());
    assertEquals(List.of("player"), nextHello().getDocumentsList());
  }

  @Test
  void aFollowOverTheLimitOrOfABadNameSendsNothing() {
    FakeChannel channel = connected();
    List<String> many = java.util.stream.IntStream.range(0, 256).mapToObj(i -> "d" + i).toList();

    assertThrows(
        IllegalArgumentException.class,
        () -> engine.follows.change("follow", true, many, List.of()));
    assertThrows(
        IllegalArgumentException.class,
        () -> engine.follows.change("follow", true, List.of(), List.of("bad\u0001")));
    assertEquals(List.of(), channel.drain());
    assertEquals(List.of("player"), nextHello().getDocumentsList());
  }

  @Test
  void aFollowOverTheLimitWithTheFollowsStillUnansweredSendsNothing() {
    FakeChannel channel = connected();
    List<String> first = java.util.stream.IntStream.range(0, 200).mapToObj(i -> "a" + i).toList();
    List<String> second = java.util.stream.IntStream.range(0, 100).mapToObj(i -> "b" + i).toList();

    CompletableFuture<Void> taken = engine.follows.change("follow", true, first, List.of());
    CompletableFuture<Void> over = engine.follows.change("follow", true, second, List.of());
    assertEquals(1, channel.drain().size(), "only the first follow goes");
    CompletionException e = assertThrows(CompletionException.class, over::join);
    assertTrue(
        assertInstanceOf(IllegalArgumentException.class, e.getCause())
            .getMessage()
            .contains("following 301 names and prefixes; the limit is 256"),
        e::toString);
    // Lost with its connection, the first is taken: the next Hello is within the node's limit.
    assertEquals(201, nextHello().getDocumentsCount());
    taken.join();
  }

  @Test
  void aFollowRefusedBehindOneStillUnansweredDoesNotCountAgainstTheLimit() {
    FakeChannel channel = connected();
    List<String> first = java.util.stream.IntStream.range(0, 200).mapToObj(i -> "a" + i).toList();
    List<String> second = java.util.stream.IntStream.range(0, 50).mapToObj(i -> "b" + i).toList();
    List<String> third = java.util.stream.IntStream.range(0, 50).mapToObj(i -> "c" + i).toList();

    engine.follows.change("follow", true, first, List.of());
    CompletableFuture<Void> refused = engine.follows.change("follow", true, second, List.of());
    List<ClientFrame> sent = channel.drain();
    channel.receive(
        error(ErrorCode.RATE_LIMITED, "", 0, true, 0).toBuilder()
            .setRequestId(sent.get(1).getRequestId())
            .build());
    assertTrue(refused.isCompletedExceptionally());

    engine.follows.change("follow", true, third, List.of());
    assertEquals(
        1,
        channel.drain().size(),
        "the third follow, within the limit without the refused one, goes");
  }

  private CompletableFuture<ServerFrame> listDevices() {
    return engine.request(
        ClientFrame.newBuilder().setListDevices(ListDevices.getDefaultInstance()));
  }

  private static void assertLimit(CompletableFuture<Void> change, String message) {
    assertTrue(change.isCompletedExceptionally(), "not refused at once");
    CompletionException e = assertThrows(CompletionException.class, change::join);
    HandoffException refused = assertInstanceOf(HandoffException.class, e.getCause());
    assertEquals(ErrorCode.LIMIT_EXCEEDED, refused.errorCode());
    assertEquals(message, refused.getMessage());
  }

  @Test
  void changesRefusedWhileTooManyRequestsWaitAreDroppedAtOnceNotKeptUntilTheHeldOneIsAnswered() {
    FakeChannel channel = connected();
    CompletableFuture<Void> held = engine.follows.change("follow", true, List.of("x"), List.of());
    List<CompletableFuture<ServerFrame>> others = new ArrayList<>();
    for (int i = 1; i < HandoffRequests.MAX_PENDING; i++) {
      others.add(listDevices());
    }
    List<ClientFrame> sent = channel.drain();
    assertEquals(HandoffRequests.MAX_PENDING, sent.size());

    // The node holds its answer to the follow: every change now is refused before it is sent.
    for (int i = 0; i < 3 * Follows.MAX_SENT; i++) {
      assertLimit(
          engine.follows.change("follow", true, List.of("y"), List.of()),
          HandoffRequests.MAX_PENDING + " handoff requests are waiting for answers");
    }
    assertEquals(List.of(), channel.drain());
    assertEquals(1, engine.follows.sent(), "only the follow held waits to be taken");

    // The other requests answered, a change goes again: none refused stands in its way.
    for (int i = 1; i < sent.size(); i++) {
      channel.receive(
          ServerFrame.newBuilder()
              .setRequestId(sent.get(i).getRequestId())
              .setDeviceList(DeviceList.getDefaultInstance())
              .build());
    }
    others.forEach(CompletableFuture::join);
    CompletableFuture<Void> after = engine.follows.change("follow", true, List.of("z"), List.of());
    List<ClientFrame> next = channel.drain();
    assertEquals(1, next.size(), "the follow after them was not sent");
    channel.receive(answer(next.get(0).getRequestId()));
    channel.receive(answer(sent.get(0).getRequestId()));
    held.join();
    after.join();
    assertEquals(List.of("player", "x", "z"), nextHello().getDocumentsList());
  }

  @Test
  void changesAnsweredBehindOneStillReadingWaitToBeTakenUpToTheLimitAndMoreAreRefused() {
    FakeChannel channel = connected();
    CompletableFuture<Void> held = engine.follows.change("follow", true, List.of("x"), List.of());
    long heldId = channel.drain().get(0).getRequestId();
    // The node answers each Unfollow at once, ahead of the Follow still reading.
    for (int i = 1; i < Follows.MAX_SENT; i++) {
      CompletableFuture<Void> unfollowed =
          engine.follows.change("unfollow", false, List.of("u" + i), List.of());
      channel.receive(answer(channel.drain().get(0).getRequestId()));
      unfollowed.join();
    }
    assertEquals(Follows.MAX_SENT, engine.follows.sent());

    assertLimit(
        engine.follows.change("unfollow", false, List.of("player"), List.of()),
        Follows.MAX_SENT
            + " follows and unfollows are waiting for answers (theirs or an earlier one's)");
    assertEquals(List.of(), channel.drain(), "the change over the limit was sent");

    channel.receive(answer(heldId));
    held.join();
    assertEquals(0, engine.follows.sent());
    CompletableFuture<Void> after =
        engine.follows.change("unfollow", false, List.of("player"), List.of());
    channel.receive(answer(channel.drain().get(0).getRequestId()));
    after.join();
    assertEquals(List.of("x"), nextHello().getDocumentsList());
  }

  @Test
  void aChangeAfterTheHelloWentOutLeavesTheAttemptAndTheNextCarriesIt() {
    engine.connect();
    FakeChannel first = connector.last().open();
    assertEquals(List.of("player"), first.drain().get(0).getHello().getFollow().getDocumentsList());

    CompletableFuture<Void> followed =
        engine.follows.change("follow", true, List.of("x"), List.of());
    assertTrue(followed.isDone() && !followed.isCompletedExceptionally());
    assertTrue(first.closed, "the attempt whose Hello follows less was not left");
    scheduler.runDueWithin(0);
    assertEquals(2, connector.attempts.size(), "the next attempt did not go at once");
    ClientFrame hello = connector.last().open().drain().get(0);
    assertEquals(List.of("player", "x"), hello.getHello().getFollow().getDocumentsList());
  }

  @Test
  void aChangeBeforeThe101OfAnUpgradeCarryingTheHelloLeavesTheAttemptOnlyAtThe101() {
    engine.connect();
    FakeChannel first = connector.last();
    ClientFrame carried = first.listener.hello(); // TCP is connected: the upgrade request's Hello.
    assertEquals(List.of("player"), carried.getHello().getFollow().getDocumentsList());

    CompletableFuture<Void> followed =
        engine.follows.change("follow", true, List.of("x"), List.of());
    assertTrue(followed.isDone() && !followed.isCompletedExceptionally());
    // The node may not have numbered the connection yet: left now, it could be taken for the
    // device's newer connection and close the next one with REPLACED.
    assertTrue(!first.closed, "the attempt was left before its 101");
    scheduler.runDueWithin(0);
    assertEquals(1, connector.attempts.size(), "the next attempt went before the 101");

    first.listener.onOpen(first, true);
    assertTrue(first.closed, "the attempt whose Hello follows less was not left at its 101");
    assertEquals(List.of(), first.drain(), "sent on the attempt left");
    scheduler.runDueWithin(0);
    assertEquals(2, connector.attempts.size(), "the next attempt did not go at once");
    ClientFrame hello = connector.last().open().drain().get(0);
    assertEquals(List.of("player", "x"), hello.getHello().getFollow().getDocumentsList());
  }

  @Test
  void aChangeUndoneBeforeThe101KeepsTheAttemptWhoseUpgradeCarriedTheHello() {
    engine.connect();
    FakeChannel first = connector.last();
    first.listener.hello();

    engine.follows.change("follow", true, List.of("x"), List.of()).join();
    engine.follows.change("unfollow", false, List.of("x"), List.of()).join();
    first.listener.onOpen(first, true);
    assertTrue(!first.closed, "an attempt whose Hello holds again at its 101 was left");
    scheduler.runDueWithin(0);
    assertEquals(1, connector.attempts.size());
  }

  @Test
  void aChangeThatLeavesTheHelloAsItWasKeepsTheAttempt() {
    engine.connect();
    FakeChannel first = connector.last().open();
    first.drain();

    engine.follows.change("follow", true, List.of("player"), List.of()).join();
    assertEquals(1, connector.attempts.size());
    assertTrue(!first.closed, "an attempt whose Hello still holds was left");
  }

  @Test
  void aFollowWhoseAnswerIsLostWithItsConnectionIsTakenAndTheNextHelloCarriesIt() {
    FakeChannel channel = connected();
    CompletableFuture<Void> followed =
        engine.follows.change("follow", true, List.of("x"), List.of());
    assertTrue(channel.drain().get(0).hasFollow());
    assertTrue(!followed.isDone());

    assertEquals(List.of("player", "x"), nextHello().getDocumentsList());
    followed.join(); // Resolved, not failed with the connection's end.
  }

  @Test
  void anUnfollowWhoseAnswerIsLostWithItsConnectionIsTakenAndTheNextHelloLacksIt() {
    FakeChannel channel = connected();
    CompletableFuture<Void> unfollowed =
        engine.follows.change("unfollow", false, List.of("player"), List.of());
    assertTrue(channel.drain().get(0).hasUnfollow());

    assertEquals(List.of(), nextHello().getDocumentsList());
    unfollowed.join();
  }

  @Test
  void changesLostWithTheirConnectionAreTakenInOrderAndARefusedOneBehindThemStaysRefused() {
    FakeChannel channel = connected();
    CompletableFuture<Void> followed =
        engine.follows.change("follow", true, List.of("x", "y"), List.of());
    CompletableFuture<Void> unfollowed =
        engine.follows.change("unfollow", false, List.of("x"), List.of());
    CompletableFuture<Void> refused =
        engine.follows.change("follow", true, List.of("z"), List.of());
    List<ClientFrame> sent = channel.drain();
    channel.receive(
        error(ErrorCode.LIMIT_EXCEEDED, "", 0, false, 0).toBuilder()
            .setRequestId(sent.get(2).getRequestId())
            .build());
    assertTrue(refused.isCompletedExceptionally());

    // The follow at the head and the unfollow after it are taken, in that order; z is not.
    assertEquals(List.of("player", "y"), nextHello().getDocumentsList());
    followed.join();
    unfollowed.join();
  }

  @Test
  void aChangeInFlightWhenTheAppClosesTheClientFails() {
    FakeChannel channel = connected();
    CompletableFuture<Void> followed =
        engine.follows.change("follow", true, List.of("x"), List.of());
    channel.drain();

    engine.close();
    CompletionException e = assertThrows(CompletionException.class, followed::join);
    assertTrue(e.getCause().getMessage().startsWith("the client was closed"), e::toString);
  }

  @Test
  void aChangeInFlightWhenTheNodeStopsTheClientForGoodFails() {
    FakeChannel channel = connected();
    CompletableFuture<Void> followed =
        engine.follows.change("follow", true, List.of("x"), List.of());
    channel.drain();

    channel.closeWith(CloseCode.SESSION_REVOKED.code(), "revoked");
    CompletionException e = assertThrows(CompletionException.class, followed::join);
    assertTrue(assertInstanceOf(HandoffException.class, e.getCause()).mayHaveBeenApplied());
    // Connecting again carries the set as it was.
    engine.connect();
    ClientFrame hello = connector.last().open().drain().get(0);
    assertEquals(List.of("player"), hello.getHello().getFollow().getDocumentsList());
  }
}
