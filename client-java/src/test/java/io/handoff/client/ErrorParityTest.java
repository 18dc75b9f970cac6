package io.handoff.client;

import static io.handoff.client.Frames.bytes;
import static io.handoff.client.Frames.welcome;
import static io.handoff.client.Frames.welcomeBuilder;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DeviceList;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ListDevices;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferGranted;
import io.handoff.protocol.v1.ServerFrame;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/**
 * What the application sees when the client refuses or gives up on something, the same as from the
 * TypeScript client (README, "What the application sees"; client-js/test/error-parity.test.ts): the
 * codes of the protocol's tables and the same words. No sockets: the engine is driven frame by
 * frame, as in {@link SyncEngineTest}.
 */
class ErrorParityTest {
  private final FakeConnector connector = new FakeConnector();
  private final ManualScheduler scheduler = new ManualScheduler();
  private final RecordingListener listener = new RecordingListener();
  private final SyncEngine engine = engine(b -> b.token("t"));

  private SyncEngine engine(java.util.function.Consumer<HandoffClient.Builder> token) {
    return engine(token, connector);
  }

  private SyncEngine engine(
      java.util.function.Consumer<HandoffClient.Builder> token, Connector connector) {
    HandoffClient.Builder builder =
        HandoffClient.builder()
            .url(URI.create("ws://127.0.0.1:9/ws"))
            .reconnectBackoff(Duration.ofMillis(100), Duration.ofSeconds(1))
            .listener(listener);
    token.accept(builder);
    ClientConfig config = new ClientConfig(builder);
    return new SyncEngine(
        config,
        connector,
        scheduler,
        Runnable::run,
        new Backoff(config.reconnectInitial.toNanos(), config.reconnectMax.toNanos(), () -> 0.5),
        () -> 42);
  }

  private static HandoffException failure(CompletableFuture<?> future) {
    assertTrue(future.isCompletedExceptionally(), "future should have failed");
    CompletionException e = assertThrows(CompletionException.class, future::join);
    return assertInstanceOf(HandoffException.class, e.getCause());
  }

  @Test
  void aTerminalCloseNamesItsCodeAndTheProtocolsReasonWhenTheCloseGaveNone() {
    CompletableFuture<Void> connected = engine.connect();
    connector.last().open().closeWith(4503, "");

    HandoffException e = failure(connected);
    assertEquals(4503, e.closeCode());
    assertNull(e.errorCode());
    assertEquals(
        "connection closed for good with code 4503 (SESSION_REVOKED): device session revoked",
        e.getMessage());
  }

  @Test
  void aHelloRefusedForGoodFailsTheWritesWithTheRefusalAndClosesWithoutACloseCode() {
    CompletableFuture<Void> connected = engine.connect();
    CompletableFuture<Long> written = engine.document("cart").set("f", bytes("1"));
    FakeChannel channel = connector.last().open();
    channel.receive(
        ServerFrame.newBuilder()
            .setRequestId(SyncEngine.HELLO_REQUEST_ID)
            .setError(
                io.handoff.protocol.v1.Error.newBuilder()
                    .setCode(ErrorCode.LIMIT_EXCEEDED)
                    .setMessage("1001 documents, the limit is 1000"))
            .build());

    String refused =
        "the server refused the Hello: LIMIT_EXCEEDED: 1001 documents, the limit is 1000";
    for (HandoffException e :
        new HandoffException[] {failure(connected), failure(written), listener.errors.get(0)}) {
      assertEquals(ErrorCode.LIMIT_EXCEEDED, e.errorCode());
      assertEquals(0, e.closeCode());
      assertEquals(refused, e.getMessage());
      assertFalse(e.mayHaveBeenApplied());
    }
    assertEquals(
        new RecordingListener.StateChange(ConnectionState.CLOSED, 0, refused),
        listener.states.get(listener.states.size() - 1));
  }

  @Test
  void aWelcomeForAnotherDeviceStopsTheClientWith4502ReportedAsAnError() {
    FakeChannel first = welcomed();
    first.closeWith(4000, "draining");
    scheduler.runPending();
    FakeChannel second = connector.last().open();

    second.receive(welcome(welcomeBuilder(0).setDeviceId("tablet")));

    assertEquals(ConnectionState.CLOSED, engine.state());
    RecordingListener.StateChange last = listener.states.get(listener.states.size() - 1);
    assertEquals(4502, last.closeCode(), last.toString());
    HandoffException e = listener.errors.get(listener.errors.size() - 1);
    assertEquals(4502, e.closeCode());
    assertNull(e.errorCode());
    assertTrue(
        e.getMessage()
            .startsWith(
                "connection closed for good with code 4502 (UNAUTHORIZED): the access token cannot"
                    + " be used: it is for "),
        e.getMessage());
    CompletableFuture<ServerFrame> later = new CompletableFuture<>();
    engine.requestOnceConnected(
        ClientFrame.newBuilder().setListDevices(ListDevices.getDefaultInstance()), later);
    assertSame(e, failure(later), "a request made now fails with the same error");
  }

  @Test
  void aTokenSourceThatFailsWhenTheTokenExpiresSoonIsReportedAsAnError() {
    // The engine's connector here asks no token: the source is first asked at the TokenExpiring.
    SyncEngine sourced =
        engine(
            b ->
                b.tokenSource(
                    () ->
                        CompletableFuture.failedFuture(
                            new IllegalStateException("the auth server is down"))));
    sourced.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(welcome(0));
    channel.drain();

    channel.receive(
        ServerFrame.newBuilder()
            .setTokenExpiring(
                io.handoff.protocol.v1.TokenExpiring.newBuilder().setExpiresAtMs(60_000))
            .build());

    assertEquals(1, listener.errors.size(), listener.errors.toString());
    HandoffException e = listener.errors.get(0);
    assertTrue(
        e.getMessage()
            .startsWith(
                "token source failed; reconnecting at token expiry:"
                    + " java.lang.IllegalStateException: the auth server is down"),
        e.getMessage());
    assertEquals(ConnectionState.CONNECTED, sourced.state(), "the connection goes on");
  }

  @Test
  void anOfferPromptAnsweredWhenTooManyRequestsWaitStaysShownUntilTheServerAnswers() {
    engine.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(welcome(welcomeBuilder(0).addOffers(Offer.newBuilder().setOfferId("o1"))));
    channel.drain();
    List<CompletableFuture<ServerFrame>> waiting = new ArrayList<>();
    for (int i = 0; i < HandoffRequests.MAX_PENDING; i++) {
      waiting.add(
          engine.request(
              ClientFrame.newBuilder().setListDevices(ListDevices.getDefaultInstance())));
    }
    HandoffCalls calls = new HandoffCalls(engine);

    HandoffException full = failure(calls.accept("o1"));

    assertEquals(ErrorCode.LIMIT_EXCEEDED, full.errorCode(), "the client's own limit");
    assertTrue(
        engine.handoff.prompts.containsKey("o1"),
        "still shown: the accept never reached the server, which refused nothing");

    // Once a request is answered there is room: the server's refusal ends the prompt.
    ClientFrame first = channel.drain().get(0);
    channel.receive(
        ServerFrame.newBuilder()
            .setRequestId(first.getRequestId())
            .setDeviceList(DeviceList.getDefaultInstance())
            .build());
    assertTrue(waiting.get(0).isDone());
    CompletableFuture<OfferGranted> accepted = calls.accept("o1");
    ClientFrame accept = channel.drain().get(0);
    assertTrue(accept.hasAcceptOffer());
    channel.receive(
        ServerFrame.newBuilder()
            .setRequestId(accept.getRequestId())
            .setError(
                io.handoff.protocol.v1.Error.newBuilder()
                    .setCode(ErrorCode.OFFER_WITHDRAWN)
                    .setMessage("taken by tv"))
            .build());
    assertEquals(ErrorCode.OFFER_WITHDRAWN, failure(accepted).errorCode());
    assertFalse(
        engine.handoff.prompts.containsKey("o1"), "the server answered: the prompt is over");
  }

  private static final String SENT =
      "; the write had been sent and may or may not have been applied";

  @Test
  void aWriteGivenUpOnAfterItWasSentSaysSoAfterTheCausesMessage() {
    FakeChannel channel = welcomed();
    CompletableFuture<Long> sent = engine.document("cart").set("n", bytes("1"));
    assertTrue(channel.drain().stream().anyMatch(ClientFrame::hasWrite), "the write went out");

    channel.closeWith(4503, "");

    HandoffException e = failure(sent);
    assertEquals(4503, e.closeCode());
    assertTrue(e.mayHaveBeenApplied());
    assertEquals(
        "connection closed for good with code 4503 (SESSION_REVOKED): device session revoked"
            + SENT,
        e.getMessage());
  }

  @Test
  void aRequestWhoseConnectionEndedBeforeItsAnswerMayHaveBeenAppliedAndMayBeSentAgain() {
    FakeChannel channel = welcomed();
    CompletableFuture<ServerFrame> asked =
        engine.request(ClientFrame.newBuilder().setListDevices(ListDevices.getDefaultInstance()));

    channel.closeWith(1006, "");

    HandoffException e = failure(asked);
    assertNull(e.errorCode());
    assertEquals(0, e.closeCode());
    assertTrue(e.retryable());
    assertTrue(e.mayHaveBeenApplied());
    assertEquals(
        "the connection ended before the answer; the request may or may not have been applied",
        e.getMessage());
  }

  @Test
  void closingTheClientFailsWhatItHoldsWithTheClientWasClosed() {
    FakeChannel channel = welcomed();
    CompletableFuture<Long> sent = engine.document("cart").set("n", bytes("1"));
    channel.drain();
    CompletableFuture<ServerFrame> asked =
        engine.request(ClientFrame.newBuilder().setListDevices(ListDevices.getDefaultInstance()));

    engine.close();

    HandoffException write = failure(sent);
    assertEquals("the client was closed" + SENT, write.getMessage());
    assertTrue(write.mayHaveBeenApplied());
    // A request waiting for its answer too, not as a lost connection's (retryable, which it is
    // not on a closed client).
    HandoffException request = failure(asked);
    assertEquals(
        "the client was closed; the request had been sent and may or may not have been applied",
        request.getMessage());
    assertTrue(request.mayHaveBeenApplied());
    assertFalse(request.retryable());
    assertNull(request.errorCode());
    assertEquals(0, request.closeCode());
  }

  @Test
  void aConnectionAttemptThatCannotStartIsReportedAndTriedAgain() {
    java.util.concurrent.atomic.AtomicInteger attempts =
        new java.util.concurrent.atomic.AtomicInteger();
    SyncEngine failing =
        engine(
            b -> b.token("t"),
            (url, l) -> {
              attempts.incrementAndGet();
              throw new IllegalStateException("no event loop");
            });
    failing.connect();

    HandoffException e = listener.errors.get(0);
    assertEquals("cannot start a connection attempt: no event loop", e.getMessage());
    assertNull(e.errorCode());
    assertEquals(0, e.closeCode());
    assertTrue(e.retryable());
    assertEquals(ConnectionState.RECONNECTING, failing.state());
    scheduler.runPending();
    assertEquals(2, attempts.get(), "tried again after the backoff");
  }

  @Test
  void aHelloRefusedForNowIsReportedAndTheClientConnectsAgain() {
    CompletableFuture<Void> connected = engine.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(
        ServerFrame.newBuilder()
            .setRequestId(SyncEngine.HELLO_REQUEST_ID)
            .setError(
                io.handoff.protocol.v1.Error.newBuilder()
                    .setCode(ErrorCode.UNAVAILABLE)
                    .setRetryable(true)
                    .setMessage("the store did not answer"))
            .build());

    HandoffException e = listener.errors.get(0);
    assertEquals(ErrorCode.UNAVAILABLE, e.errorCode());
    assertEquals(
        "the server refused the Hello: UNAVAILABLE: the store did not answer", e.getMessage());
    assertFalse(connected.isDone(), "not stopped");
    assertTrue(channel.aborted, "the connection is dropped, as a lost one");
    channel.closeWith(1006, ""); // what the abort reports
    assertEquals(ConnectionState.RECONNECTING, engine.state());
    scheduler.runPending();
    connector.last().open().receive(welcome(0));
    assertTrue(connected.isDone() && !connected.isCompletedExceptionally());
  }

  /** Connects the engine and welcomes it on the connection it opened. */
  private FakeChannel welcomed() {
    engine.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(welcome(0));
    return channel;
  }

  @Test
  void aFollowOrFollowAllOverTheLimitOfFollowEntriesNamesTheCallTheAppMade() {
    List<String> names = new ArrayList<>();
    for (int i = 0; i < 256; i++) {
      names.add("d/" + i);
    }
    try (HandoffClient client =
        FakeEngine.builder().followDocuments(names.toArray(String[]::new)).build()) {
      IllegalArgumentException all =
          assertThrows(IllegalArgumentException.class, client::followAll);
      assertEquals(
          "followAll: following 257 names and prefixes; the limit is 256 follow entries",
          all.getMessage());
      IllegalArgumentException more =
          assertThrows(
              IllegalArgumentException.class, () -> client.follow(List.of("x"), List.of()));
      assertEquals(
          "follow: following 257 names and prefixes; the limit is 256 follow entries",
          more.getMessage());
    }
  }
}
