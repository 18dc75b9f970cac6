package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class CpuMeterTest {
  @Test
  void machineBusyIsEverythingButIdleAndIowait() {
    CpuMeter.Machine m = CpuMeter.parseMachine("cpu  100 2 30 9000 7 4 5 6 1 0");
    assertEquals(100 + 2 + 30 + 4 + 5 + 6, m.busy());
    assertEquals(4 + 5, m.interrupts());
    assertEquals(6, m.steal());
  }

  @Test
  void processTimeIsUserPlusSystemEvenWithAStrangeCommandName() {
    String stat =
        "4301 (java (x) y) S 1 4301 4301 0 -1 4194560 49185 0 0 0 421 100 0 0 20 0 35 0 4560";
    assertEquals(521, CpuMeter.parseProcessTicks(stat));
  }

  @Test
  void cpuPerDeliveryIsTheShareOfACoreOverDeliveriesPerSecondAndTheLoadIsTheOneMinuteFigure() {
    // 12% of one core at 4,000 deliveries/s: 0.12 s of CPU per second over 4,000 = 30 µs each.
    assertEquals(30.0, CpuMeter.perDelivery(12, 4_000));
    assertEquals(2.78, CpuMeter.parseLoadAverage("2.78 1.43 1.76 3/812 4242\n"));
  }
}
