package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.lettuce.core.RedisConnectionException;
import java.time.Duration;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/** How a PING's fate and the command connection's answers decide the store's health. */
class StoreHealthTest {
  private final StoreHealth health = new StoreHealth("Redis under test", Duration.ofMillis(1500));

  @Test
  void unansweredPingWithNoOtherAnswerMeansHung() {
    health.progress();
    long sent = System.nanoTime();
    health.judge(sent, new TimeoutException());
    assertEquals(StoreHealth.State.HUNG, health.state());
  }

  @Test
  void busyRedisThatKeepsAnsweringCommandsIsNotHung() {
    long sent = System.nanoTime();
    health.progress(); // the command connection got an answer after the PING went out
    health.judge(sent, new TimeoutException());
    assertEquals(StoreHealth.State.UP, health.state());
  }

  @Test
  void answersAfterAHangBringTheStoreBack() {
    health.judge(System.nanoTime(), new TimeoutException());
    assertEquals(StoreHealth.State.HUNG, health.state());
    long sent = System.nanoTime();
    health.progress();
    health.judge(sent, new TimeoutException());
    assertEquals(StoreHealth.State.UP, health.state());
  }

  @Test
  void refusedConnectionMeansLostEvenWhileOldAnswersArrive() {
    long sent = System.nanoTime();
    health.progress();
    health.judge(sent, new RedisConnectionException("Connection refused"));
    assertEquals(StoreHealth.State.LOST, health.state());
  }
}
