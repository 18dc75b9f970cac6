package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class CpuMeterTest {
  @Test
  void machineBusyIsTheWallTimeOfEveryCpuLessIdleAndIowait() {
    CpuMeter.Machine before =
        CpuMeter.parseMachine(
            "cpu  100 2 30 9000 7 4 5 6 1 0\ncpu0 50 1 15 4500 3 2 2 3 0 0\n"
                + "cpu1 50 1 15 4500 4 2 3 3 1 0\nintr 1 2 3\nctxt 9\n");
    assertEquals(9000 + 7, before.idle());
    assertEquals(4 + 5, before.interrupts());
    assertEquals(6, before.steal());
    assertEquals(2, before.cores());
    // Ten seconds later on two CPUs (2,000 ticks of wall time), 1,500 more ticks idle: 500 busy,
    // whatever the sampled user and system columns say.
    CpuMeter.Machine after =
        CpuMeter.parseMachine("cpu  110 2 32 10400 107 9 9 20 1 0\ncpu0 1\ncpu1 1\n");
    assertEquals(500, before.busySince(after, 10));
  }

  @Test
  void machineBusyIsUnknownWhenProcStatCannotBeRead() {
    assertEquals(-1, CpuMeter.Machine.UNKNOWN.busySince(CpuMeter.Machine.UNKNOWN, 10));
    assertEquals(CpuMeter.Machine.UNKNOWN, CpuMeter.parseMachine("intr 1 2 3\n"));
  }

  @Test
  void theMachineReadingOfThisHostCountsItsCpus() {
    // Linux in the build; elsewhere the reading is unknown.
    CpuMeter.Machine m = CpuMeter.machineTicks();
    assertTrue(
        m.cores() >= 1 && m.idle() >= 0 || !System.getProperty("os.name").startsWith("Linux"),
        "" + m);
  }

  @Test
  void otherWorkIsTheMachineLessTheProcessesAndStealButNotTheSampledSoftirqs() {
    // A one-node run: the tick sampled 20.2% of a core in softirqs, which the two processes' own
    // figures mostly hold already; taking it out too read no other work at all.
    Result result = new Result("fanout");
    new CpuMeter.Usage(40.9, 20.0, 17.7, 20.2, 1.3, 1.5, 2.8).putInto(result);
    assertEquals(1.9, result.get("cpu_other_pct"));
    assertEquals(20.2, result.get("cpu_softirq_pct"));
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

  @Test
  void compilerThreadsAreTheJvmsC1AndC2ThreadsByTheirLinuxNames() {
    assertTrue(CpuMeter.isCompilerThread("12 (C2 CompilerThre) S 1 2 3 0 -1 0 0 0 0 0 7 1 0"));
    assertTrue(CpuMeter.isCompilerThread("13 (C1 CompilerThre) S 1 2 3 0 -1 0 0 0 0 0 7 1 0"));
    assertFalse(CpuMeter.isCompilerThread("14 (epollEventLoo) S 1 2 3 0 -1 0 0 0 0 0 7 1 0"));
  }

  @Test
  void compilerTicksOfThisJvmAreRead() {
    // This test runs in a HotSpot JVM on Linux in the build; elsewhere the reading is -1.
    long ticks = CpuMeter.compilerTicks("self");
    assertTrue(ticks >= 0 || !System.getProperty("os.name").startsWith("Linux"), "" + ticks);
  }
}
