package io.handoff.loadtest;

import static io.handoff.loadtest.Run.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.OfferWithdrawn;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.HandoffServer;
import io.handoff.server.ServerConfig;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.handoff.HandoffLimits;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A real node behind a proxy that misbehaves on the wire towards one device (d1): it sends a delta
 * (or a handoff prompt) twice, drops one, or swaps two, while the connection stays up. The load
 * tester says it checks every delivery for loss, duplication and order; each of these must fail the
 * run and show in the matching count.
 */
class DeliveryFaultsTest {
  private static final String SECRET = DevTokens.randomSecret();

  private static MemoryEngine engine;
  private static HandoffServer server;

  @BeforeAll
  static void startNode() throws InterruptedException {
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("loadtest-faults")
            .jwtSecret(SECRET)
            .heartbeatInterval(Duration.ofSeconds(10))
            // The handoff runs' one user makes 60 offers, so each device sends about 60 offers and
            // accepts; at the default 20 a second (bursts of 20) some would be refused
            // RATE_LIMITED,
            // and an offer whose accepts both were has no winner and holds the run until its drain
            // timeout. The limit has tests of its own in the server.
            .handoffLimits(HandoffLimits.builder().maxRequestsPerSecond(1_000).build())
            .build();
    engine = new MemoryEngine(config.storeLimits());
    server = HandoffServer.start(config, engine);
  }

  @AfterAll
  static void stopNode() {
    server.close();
    engine.close();
  }

  @Test
  void fanoutCountsADeltaDeliveredTwice() throws Exception {
    try (DeltaFaultProxy proxy =
        new DeltaFaultProxy(server.port(), "d1", DeltaFaultProxy.Fault.DUPLICATE, 0)) {
      Run run = write("fanout", proxy);
      assertTrue(proxy.faultsApplied() > 0, "the proxy sent deltas twice");
      Map<String, String> json = run.json();
      assertTrue(Long.parseLong(json.get("duplicated")) > 0, "duplicated: " + run.lastLine());
      assertEquals(1, run.exit(), "the run must fail: " + run.lastLine());
    }
  }

  @Test
  void fanoutCountsADeltaThatNeverArrived() throws Exception {
    try (DeltaFaultProxy proxy =
        new DeltaFaultProxy(server.port(), "d1", DeltaFaultProxy.Fault.DROP, 5)) {
      Run run = write("fanout", proxy);
      assertEquals(1, proxy.faultsApplied(), "the proxy dropped one delta");
      Map<String, String> json = run.json();
      assertTrue(
          Long.parseLong(json.get("lost")) + Long.parseLong(json.get("reordered")) > 0,
          "a dropped push shows as lost or as a gap (reordered): " + run.lastLine());
      assertEquals(1, run.exit(), "the run must fail: " + run.lastLine());
    }
  }

  @Test
  void fanoutCountsTwoDeltasDeliveredOutOfOrder() throws Exception {
    try (DeltaFaultProxy proxy =
        new DeltaFaultProxy(server.port(), "d1", DeltaFaultProxy.Fault.SWAP, 5)) {
      Run run = write("fanout", proxy);
      assertEquals(1, proxy.faultsApplied(), "the proxy swapped two deltas");
      Map<String, String> json = run.json();
      assertTrue(Long.parseLong(json.get("reordered")) > 0, "reordered: " + run.lastLine());
      assertEquals(1, run.exit(), "the run must fail: " + run.lastLine());
    }
  }

  @Test
  void reconnectCountsADeltaThatNeverArrivedOnALiveConnection() throws Exception {
    try (DeltaFaultProxy proxy =
        new DeltaFaultProxy(server.port(), "d1", DeltaFaultProxy.Fault.DROP, 5)) {
      Run run = write("reconnect", proxy, "--drop-rate", "0");
      assertEquals(1, proxy.faultsApplied(), "the proxy dropped one delta");
      Map<String, String> json = run.json();
      assertEquals("0", json.get("cut"), "no connection was cut: " + run.lastLine());
      assertTrue(
          Long.parseLong(json.get("lost")) + Long.parseLong(json.get("reordered")) > 0,
          "a dropped push shows as lost or as a gap (reordered): " + run.lastLine());
      assertEquals(1, run.exit(), "the run must fail: " + run.lastLine());
    }
  }

  @Test
  void handoffCountsAPromptDeliveredTwice() throws Exception {
    try (DeltaFaultProxy proxy =
        new DeltaFaultProxy(
            server.port(), "d1", DeltaFaultProxy.Fault.DUPLICATE, 0, f -> f.hasOfferPrompt())) {
      Run run = write("handoff", proxy);
      assertTrue(proxy.faultsApplied() > 0, "the proxy sent prompts twice");
      Map<String, String> json = run.json();
      assertTrue(Long.parseLong(json.get("duplicate_prompts")) > 0, run.lastLine());
      assertTrue(Long.parseLong(json.get("duplicated")) > 0, "duplicated: " + run.lastLine());
      assertEquals(1, run.exit(), "the run must fail: " + run.lastLine());
    }
  }

  @Test
  void handoffCountsAPromptThatNeverArrived() throws Exception {
    try (DeltaFaultProxy proxy =
        new DeltaFaultProxy(
            server.port(), "d1", DeltaFaultProxy.Fault.DROP, 5, f -> f.hasOfferPrompt())) {
      // The offer whose prompt was dropped ends only at the drain timeout (the run cannot tell a
      // lost prompt from a late one): 3 s, not 10, is still hundreds of times a prompt's latency
      // on this node. Its user's later offers wait for it and must all be answered before the
      // drain ends, a second after it: 20 offers in 1 s leave about 10 to go then.
      Run run = throughProxy("handoff", proxy, "20", "1s", "3s");
      assertEquals(1, proxy.faultsApplied(), "the proxy dropped one prompt");
      Map<String, String> json = run.json();
      // At least the dropped one: on a machine so busy that a prompt takes longer than the drain
      // (p50 3.2 s seen at a load average of 27), a late prompt counts as missing too, since the
      // run cannot tell it from a lost one.
      assertTrue(Long.parseLong(json.get("missing_prompts")) >= 1, run.lastLine());
      assertEquals(1, run.exit(), "the run must fail: " + run.lastLine());
    }
  }

  @Test
  void handoffCountsAWithdrawalPushedToTheWinnerAfterItsGrant() throws Exception {
    try (DeltaFaultProxy proxy =
        new DeltaFaultProxy(
            server.port(),
            "d1",
            DeltaFaultProxy.Fault.FOLLOW,
            0,
            ServerFrame::hasOfferGranted,
            granted ->
                ServerFrame.newBuilder()
                    .setOfferWithdrawn(
                        OfferWithdrawn.newBuilder()
                            .setOfferId(granted.getOfferGranted().getOffer().getOfferId())
                            .setOutcome(OfferOutcome.ACCEPTED)
                            .setByDevice("d1"))
                    .build())) {
      Run run = write("handoff", proxy);
      assertTrue(proxy.faultsApplied() > 0, "d1 won offers and was told each was withdrawn");
      Map<String, String> json = run.json();
      assertTrue(Long.parseLong(json.get("wrong_withdrawals")) > 0, run.lastLine());
      assertEquals(1, run.exit(), "the run must fail: " + run.lastLine());
    }
  }

  @Test
  void stormResumeTimeEndsAtTheLastResumeOfTheStormNotAtLaterRandomCuts() {
    Run run =
        run(
            "reconnect",
            "--url",
            "ws://127.0.0.1:" + server.port() + "/ws",
            "--users",
            "20",
            "--devices",
            "3",
            "--rate",
            "200",
            "--duration",
            "1500ms",
            "--drop-rate",
            "80",
            "--storm",
            "--storm-at",
            "500ms",
            "--drain-timeout",
            "20s",
            "--jwt-secret",
            SECRET,
            "--json");
    Map<String, String> json = run.json();
    double all = Double.parseDouble(json.get("storm_all_resumed_ms"));
    double slowest = Double.parseDouble(json.get("resume_max_ms"));
    // Every device is cut at the same instant, so the last of them resumes at most the slowest
    // resume (plus the time to notice the cut) after it: a figure well past that is measuring
    // something else (devices cut at random after the storm, resuming later).
    assertTrue(all > 0, "the storm ended: " + run.lastLine());
    assertTrue(
        all <= slowest + 50,
        "storm_all_resumed_ms "
            + all
            + " vs the slowest resume "
            + slowest
            + ": "
            + run.lastLine());
  }

  /**
   * 1 user x 3 devices through the proxy, 60 writes (or offers) in a quarter of a second: d1 gets
   * about 40 of them, enough for a fault at the 5th and for d1 to win offers.
   */
  private static Run write(String scenario, DeltaFaultProxy proxy, String... more) {
    return throughProxy(scenario, proxy, "240", "250ms", "10s", more);
  }

  /**
   * 1 user x 3 devices through the proxy, {@code rate} for {@code duration}, with {@code
   * drainTimeout}.
   */
  private static Run throughProxy(
      String scenario,
      DeltaFaultProxy proxy,
      String rate,
      String duration,
      String drainTimeout,
      String... more) {
    List<String> args =
        new ArrayList<>(
            List.of(
                scenario,
                "--url",
                proxy.url(),
                "--users",
                "1",
                "--devices",
                "3",
                "--rate",
                rate,
                "--duration",
                duration,
                "--drain-timeout",
                drainTimeout,
                "--jwt-secret",
                SECRET,
                "--json"));
    args.addAll(List.of(more));
    return run(args.toArray(String[]::new));
  }
}
