package io.handoff.loadtest;

/**
 * Entry point of {@code handoff-loadtest.jar}. The scenarios (fanout, reconnect, handoff, idle) are
 * built by the load tester's own issue; until then this prints the command line it will take.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.out.println(
        "usage: java -jar loadtest/target/handoff-loadtest.jar SCENARIO --url ws://HOST:PORT/ws[,ws://...]\n"
            + "         --users U --devices D --rate R --duration 30s [--payload BYTES]"
            + " [--jwt-secret S] [--json]\n"
            + "scenarios: fanout, reconnect, handoff, idle (not implemented yet)");
    if (args.length > 0) {
      System.exit(2);
    }
  }
}
