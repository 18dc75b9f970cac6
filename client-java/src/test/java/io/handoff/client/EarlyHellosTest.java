package io.handoff.client;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.internal.UpgradeFailedException;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import java.net.URI;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Which attempts carry the Hello in the upgrade, outcome by outcome (the socket tests, {@code
 * HelloInUpgradeSocketTest}, show the same on the wire).
 */
class EarlyHellosTest {
  private static final URI A = URI.create("ws://a.example/ws");
  private static final URI B = URI.create("ws://b.example/ws");
  private static final ClientFrame HELLO =
      ClientFrame.newBuilder()
          .setRequestId(SyncEngine.HELLO_REQUEST_ID)
          .setHello(Hello.newBuilder().setClient("test"))
          .build();
  private static final int ABNORMAL = 1006;

  private final EarlyHellos hellos = new EarlyHellos();

  /** An attempt to {@code url} whose upgrade carried the Hello and whose 101 said {@code read}. */
  private EarlyHellos.Attempt carried(URI url, boolean read) {
    EarlyHellos.Attempt attempt = hellos.attempt(url);
    assertNotNull(attempt.hello(() -> HELLO), "the attempt carries no Hello");
    attempt.opened(read);
    return attempt;
  }

  /** An attempt to {@code url} that sent its Hello as a frame and was welcomed. */
  private void welcomedAsFrame(URI url, boolean helloInUpgrade) {
    EarlyHellos.Attempt attempt = hellos.attempt(url);
    assertNull(attempt.hello(() -> HELLO), "the attempt carries the Hello");
    attempt.opened(false);
    attempt.welcomed(helloInUpgrade);
  }

  @Test
  void everyUrlGetsItAtFirst() {
    assertTrue(hellos.offers(A));
    assertTrue(hellos.offers(B));
  }

  @Test
  void aWelcomeThatReadItKeepsItComing() {
    for (int i = 0; i < 5; i++) {
      carried(A, true).welcomed(true);
      assertTrue(hellos.offers(A));
    }
  }

  @Test
  void aWelcomeThatSaysTheNodeDoesNotReadItStopsItUntilOneSaysItDoes() {
    EarlyHellos.Attempt older = carried(A, false);
    older.welcomed(false);
    assertFalse(hellos.offers(A));
    welcomedAsFrame(A, false);
    assertFalse(hellos.offers(A));
    welcomedAsFrame(A, true);
    assertTrue(hellos.offers(A));
  }

  @Test
  void aHelloSaidReadWithoutAWelcomeSendsTheNextAsAFrameAndThreeInARowEndIt() {
    for (int failure = 1; failure <= EarlyHellos.MAX_FAILURES; failure++) {
      carried(A, true).ended(ABNORMAL, null);
      assertFalse(hellos.offers(A), "after failure " + failure);
      assertTrue(hellos.offers(B), "another URL is not concerned");
      welcomedAsFrame(A, true);
      assertTrue(
          hellos.offers(A) == failure < EarlyHellos.MAX_FAILURES, "after failure " + failure);
    }
    welcomedAsFrame(A, true);
    assertFalse(hellos.offers(A));
  }

  @Test
  void aWelcomeOfAHelloReadBetweenFailuresStartsTheCountOver() {
    for (int i = 0; i < 2 * EarlyHellos.MAX_FAILURES; i++) {
      carried(A, true).ended(ABNORMAL, null);
      welcomedAsFrame(A, true);
      carried(A, true).welcomed(true);
    }
    assertTrue(hellos.offers(A));
  }

  @Test
  void theNodesIdleTimeoutBeforeTheWelcomeCountsAndItsOtherCodesDoNot() {
    carried(A, true).ended(CloseCode.SHUTDOWN.code(), null);
    carried(A, true).ended(CloseCode.UNAVAILABLE.code(), null);
    assertTrue(hellos.offers(A));
    carried(A, true).ended(CloseCode.IDLE_TIMEOUT.code(), null);
    assertFalse(hellos.offers(A));
  }

  @ParameterizedTest
  @ValueSource(ints = {400, 431, 414})
  void aRefusalWith400OrForATooLargeRequestEndsItForTheUrl(int status) {
    EarlyHellos.Attempt refused = hellos.attempt(A);
    assertNotNull(refused.hello(() -> HELLO));
    refused.ended(ABNORMAL, new UpgradeFailedException(status, "refused", "invalid_hello"));
    assertFalse(hellos.offers(A));
    welcomedAsFrame(A, true);
    assertFalse(hellos.offers(A));
    assertTrue(hellos.offers(B));
  }

  @Test
  void otherFailuresSayNothingAboutTheHello() {
    for (int status : new int[] {401, 429, 503, 0}) {
      EarlyHellos.Attempt refused = hellos.attempt(A);
      assertNotNull(refused.hello(() -> HELLO));
      refused.ended(ABNORMAL, new UpgradeFailedException(status, "refused", null));
    }
    EarlyHellos.Attempt unreachable = hellos.attempt(A);
    assertNotNull(unreachable.hello(() -> HELLO));
    unreachable.ended(ABNORMAL, new java.net.ConnectException("refused"));
    // A 101 without the subprotocol: the Hello went as a frame, and the connection then dropped.
    carried(A, false).ended(ABNORMAL, null);
    // The node refused the Hello it read (an Error), then the connection dropped.
    EarlyHellos.Attempt refusedByTheNode = carried(A, true);
    refusedByTheNode.refused();
    refusedByTheNode.ended(ABNORMAL, null);
    // A connection dropped after its Welcome.
    EarlyHellos.Attempt welcomed = carried(A, true);
    welcomed.welcomed(true);
    welcomed.ended(ABNORMAL, null);
    assertTrue(hellos.offers(A));
  }

  @Test
  void aHelloOverTheLimitGoesAsAFrameAndItsEndCountsForNothing() {
    ClientFrame large =
        HELLO.toBuilder().setHello(Hello.newBuilder().setClient("x".repeat(2 * 1536))).build();
    EarlyHellos.Attempt attempt = hellos.attempt(A);
    assertNull(attempt.hello(() -> large));
    attempt.opened(true);
    attempt.ended(ABNORMAL, null);
    assertTrue(hellos.offers(A));
  }
}
