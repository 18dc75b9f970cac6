package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PeerCpuTest {
  private static final long TEN_SECONDS = 10_000_000_000L;

  @Test
  void theRunsOtherProcessesAreAddedToTheTotalAndTakenOutOfTheMachinesRest() {
    Result result =
        new Result("fanout").put("server_cpu_us_per_delivery", 40.0).put("cpu_other_pct", 50.0);
    PeerCpu before = new PeerCpu(0, ticks(100, 200));
    // 200 and 100 ticks in ten seconds: 20% and 10% of a core; at 1,000 deliveries a second, 200
    // and 100 µs each.
    before.putInto(result, new PeerCpu(TEN_SECONDS, ticks(300, 300)), 1_000);

    assertEquals(20.0, result.get("cpu_b_pct"));
    assertEquals(10.0, result.get("cpu_redis_pct"));
    assertEquals(340.0, result.get("total_cpu_us_per_delivery"));
    assertEquals(20.0, result.get("cpu_outside_run_pct"));
  }

  @Test
  void nothingOutsideTheRunIsReportedWhenAProcessCouldNotBeRead() {
    Result result = new Result("fanout").put("cpu_other_pct", 50.0);
    new PeerCpu(0, ticks(100, -1))
        .putInto(result, new PeerCpu(TEN_SECONDS, ticks(300, 300)), 1_000);

    assertEquals(20.0, result.get("cpu_b_pct"));
    assertNull(result.get("cpu_outside_run_pct"));
    assertNull(result.get("total_cpu_us_per_delivery"));
  }

  private static Map<String, Long> ticks(long b, long redis) {
    Map<String, Long> ticks = new LinkedHashMap<>();
    ticks.put("b", b);
    ticks.put("redis", redis);
    return ticks;
  }
}
