package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The refresh-token reuse interval over real HTTP on two nodes sharing a real Redis: concurrent
 * retries of one refresh token all get the same successor; a reuse after the interval revokes.
 */
class RefreshReuseIntervalTest {
  private static final Duration INTERVAL = Duration.ofSeconds(5);
  private final AppBackend app = new AppBackend();
  private final MutableClock clock = new MutableClock();
  private final Nodes nodes = new Nodes();

  @AfterEach
  void stop() {
    nodes.close();
  }

  private HandoffServer node(String name) throws Exception {
    return nodes.redis(
        RedisProcess.sharedUrl(),
        name,
        clock,
        b -> b.tokens(app.tokens().refreshReuseInterval(INTERVAL).build()));
  }

  @Test
  void fiveConcurrentRefreshesWithOneTokenAllHoldWorkingTokensAndTheSessionSurvives()
      throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi[] apis = {new HttpApi(n1.port()), new HttpApi(n2.port())};
    HttpApi.Answer a = apis[0].signIn(app.identity("rita"), "phone", "Rita's phone", "android");
    assertEquals(201, a.status(), a.toString());
    String rt0 = a.field("refresh_token");
    ExecutorService pool = Executors.newFixedThreadPool(5);
    List<HttpApi.Answer> answers = new ArrayList<>();
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<CompletableFuture<HttpApi.Answer>> calls = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        HttpApi api = apis[i % 2];
        calls.add(
            CompletableFuture.supplyAsync(
                () -> {
                  try {
                    go.await();
                  } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                  }
                  return api.refresh(rt0);
                },
                pool));
      }
      go.countDown();
      for (CompletableFuture<HttpApi.Answer> c : calls) {
        answers.add(c.get(20, TimeUnit.SECONDS));
      }
    } finally {
      pool.shutdownNow();
    }
    Set<String> successors = new HashSet<>();
    for (HttpApi.Answer r : answers) {
      assertEquals(200, r.status(), r.toString());
      successors.add(r.field("refresh_token"));
      // Every caller's access token opens a socket on either node.
      assertEquals(101, TestDevice.upgradeStatus(n1.port(), r.field("access_token")));
      assertEquals(101, TestDevice.upgradeStatus(n2.port(), r.field("access_token")));
    }
    assertEquals(1, successors.size(), "all callers got the same successor: " + successors);
    assertEquals(
        0, n1.stats().anomalyRefreshTokenReuse.sum() + n2.stats().anomalyRefreshTokenReuse.sum());
    assertEquals(4, n1.stats().refreshRetries.sum() + n2.stats().refreshRetries.sum());
    // The session lives on: the successor rotates as usual.
    HttpApi.Answer next = apis[1].refresh(successors.iterator().next());
    assertEquals(200, next.status(), next.toString());
  }

  @Test
  void reuseAfterTheIntervalRevokesTheSessionAndCountsAnAnomaly() throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi api1 = new HttpApi(n1.port());
    HttpApi api2 = new HttpApi(n2.port());
    HttpApi.Answer a = api1.signIn(app.identity("sam"), "phone", "Sam's phone", "ios");
    String rt0 = a.field("refresh_token");
    HttpApi.Answer r1 = api1.refresh(rt0);
    assertEquals(200, r1.status(), r1.toString());
    HttpApi.Answer retry = api2.refresh(rt0);
    assertEquals(200, retry.status(), "within the interval: a retry");
    assertEquals(r1.field("refresh_token"), retry.field("refresh_token"));
    try (TestDevice d = TestDevice.connect(n2.port(), r1.field("access_token"))) {
      d.hello();
      clock.advance(INTERVAL.plusMillis(1));
      HttpApi.Answer reuse = api2.refresh(rt0);
      assertEquals(400, reuse.status(), reuse.toString());
      assertEquals("invalid_grant", reuse.field("error"));
      assertEquals(1, n2.stats().anomalyRefreshTokenReuse.sum());
      assertEquals(CloseCode.SESSION_REVOKED.code(), d.awaitClose());
      HttpApi.Answer newest = api1.refresh(r1.field("refresh_token"));
      assertEquals(400, newest.status(), "the whole family is revoked: " + newest);
      assertTrue(newest.field("message").contains("revoked"), newest.toString());
    }
  }

  @Test
  void anOlderTokenThanThePreviousOneRevokesEvenWithinTheInterval() throws Exception {
    HandoffServer n1 = node("n1");
    HttpApi api = new HttpApi(n1.port());
    HttpApi.Answer a = api.signIn(app.identity("tia"), "phone", "Tia's phone", "ios");
    String rt0 = a.field("refresh_token");
    HttpApi.Answer r1 = api.refresh(rt0);
    HttpApi.Answer r2 = api.refresh(r1.field("refresh_token"));
    assertEquals(200, r2.status(), r2.toString());
    HttpApi.Answer reuse = api.refresh(rt0);
    assertEquals(400, reuse.status(), "rt0 is two rotations back: " + reuse);
    assertEquals(1, n1.stats().anomalyRefreshTokenReuse.sum());
  }
}
