package io.handoff.loadtest;

import io.netty.util.ResourceLeakDetector;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code java -jar handoff-loadtest.jar SCENARIO --url ws://HOST:PORT/ws[,ws://...] --users U
 * --devices D --rate R --duration 30s [--payload BYTES] [--jwt-secret S] [--json]}.
 *
 * <p>Exit codes: 0 when nothing was lost, duplicated or reordered and there were no errors; 1 when
 * the run found a problem; 2 for a bad command line; 3 when the server does not support the
 * scenario.
 */
@Command(
    name = "handoff-loadtest",
    mixinStandardHelpOptions = true,
    version = "handoff-loadtest 0.1.0",
    synopsisSubcommandLabel = "SCENARIO",
    description = "Drives Handoff nodes with many simulated devices and checks every delivery.",
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:nothing lost, duplicated or reordered, no errors",
      "1:the run found a problem (the table or the JSON says which)",
      "2:bad command line",
      "3:the server does not support this scenario"
    },
    subcommands = {
      Main.Fanout.class,
      Main.Reconnect.class,
      Main.Idle.class,
      Main.Handoff.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Callable<Integer> {
  /** Exit code of a scenario the server does not support. */
  static final int EXIT_UNSUPPORTED = 3;

  private final PrintStream out;
  private final PrintStream err;
  // Whether this is the load tester's own process (main), whose scheduling policy the scenarios
  // set; not when a test runs a scenario inside its JVM.
  private final boolean ownProcess;
  // The policy in force for the run, reported in its output; null until a scenario set it.
  private String scheduling;

  @Spec CommandLine.Model.CommandSpec spec;

  private Main(PrintStream out, PrintStream err, boolean ownProcess) {
    this.out = out;
    this.err = err;
    this.ownProcess = ownProcess;
  }

  private static final String EPOLL_WAIT_THRESHOLD = "io.netty.channel.epoll.epollWaitThreshold";

  public static void main(String[] args) {
    // Netty's default leak detection (SIMPLE) records a stack trace for one buffer in 128: in a
    // reconnect storm about 1% of the load tester's CPU. Off from the command line, as in the
    // server's Main, unless asked for (-Dio.netty.leakDetection.level=...); the tests ask for it.
    if (System.getProperty("io.netty.leakDetection.level") == null) {
      ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
    }
    // The write scheduler wakes each loop at every write's time. With Netty's default threshold
    // (10 ms) each epoll sleep shorter than that passes its timeout to epoll_pwait2, which arms and
    // cancels a kernel timer on every sleep, the sleeps between a write's replies included. At 0
    // the loop arms its timerfd once per deadline and sleeps on the replies without a timer, and
    // the timerfd fires without epoll's 50 µs of slack: writes leave on time (p50 -25%, CPU the
    // same within the noise; BENCHMARKS.md). Set before any event loop class loads.
    if (System.getProperty(EPOLL_WAIT_THRESHOLD) == null) {
      System.setProperty(EPOLL_WAIT_THRESHOLD, "0");
    }
    System.exit(run(new Main(System.out, System.err, true), args));
  }

  /**
   * Runs the command line with the given streams and returns the exit code. The process's
   * scheduling policy stays as it is ({@code --scheduling} applies to {@link #main} only).
   */
  public static int run(PrintStream out, PrintStream err, String... args) {
    return run(new Main(out, err, false), args);
  }

  private static int run(Main main, String... args) {
    PrintStream out = main.out;
    PrintStream err = main.err;
    CommandLine cl = new CommandLine(main);
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    cl.setExecutionExceptionHandler(
        (e, commandLine, parseResult) -> {
          if (e instanceof IllegalArgumentException) {
            err.println("handoff-loadtest: " + e.getMessage());
            return CommandLine.ExitCode.USAGE;
          }
          err.println("handoff-loadtest: " + e);
          e.printStackTrace(err);
          return Result.EXIT_FAILED;
        });
    return cl.execute(args);
  }

  @Override
  public Integer call() {
    spec.commandLine().usage(err);
    return CommandLine.ExitCode.USAGE;
  }

  /**
   * Sets the process's scheduling policy for a scenario about to start (its event loops not yet
   * running), if this is the load tester's own process; says what holds on {@code progress}.
   */
  private void schedule(LoadOptions o, PrintStream progress) {
    if (!ownProcess) {
      return;
    }
    scheduling = SchedulingPolicy.apply(o.schedulingPolicy(), ProcessHandle.current().pid());
    progress.println("scheduling policy: " + scheduling);
  }

  /** Runs a scenario and prints its outcome; the exit code says whether it passed. */
  private int finish(LoadOptions o, Result result, String commandLine) throws IOException {
    if (scheduling != null) {
      result.put("loadtest_scheduling", scheduling);
    }
    PrintStream human = o.json ? err : out;
    result.printTable(human);
    if (o.report != null) {
      HtmlReport.write(o.report, commandLine, result);
      human.println("report: " + o.report.toAbsolutePath());
    }
    if (o.json) {
      out.println(result.toJson());
    }
    out.flush();
    return result.exitCode();
  }

  private static String commandLine(CommandLine.Model.CommandSpec spec) {
    StringBuilder b = new StringBuilder("handoff-loadtest");
    for (String arg : spec.commandLine().getParseResult().originalArgs()) {
      b.append(' ').append(arg.startsWith("--jwt-secret=") ? "--jwt-secret=***" : arg);
    }
    return b.toString().replaceAll("(--jwt-secret) \\S+", "$1 ***");
  }

  @Command(
      name = "fanout",
      mixinStandardHelpOptions = true,
      description = {
        "U users x D devices, all connected; writes at a fixed total rate (open loop), each"
            + " delivered to the writer's D-1 other devices. Every delivery is checked for loss,"
            + " duplication and order; latency is receive time minus the write's intended send"
            + " time."
      })
  static final class Fanout implements Callable<Integer> {
    @ParentCommand Main main;
    @Spec CommandLine.Model.CommandSpec spec;
    @Mixin LoadOptions options;

    @Override
    public Integer call() throws IOException {
      options.validate();
      PrintStream progress = options.json ? main.err : main.out;
      main.schedule(options, progress);
      Result r = new WriteRun(options, null, progress).run();
      return main.finish(options, r, commandLine(spec));
    }
  }

  @Command(
      name = "reconnect",
      mixinStandardHelpOptions = true,
      description = {
        "fanout while connections are cut at random (TCP reset, no close frame): devices"
            + " reconnect and resume by themselves. Nothing may be lost: after the run every"
            + " device holds the final version of every document. --storm also cuts every"
            + " connection at once and measures how long until all have resumed."
      })
  static final class Reconnect implements Callable<Integer> {
    @ParentCommand Main main;
    @Spec CommandLine.Model.CommandSpec spec;
    @Mixin LoadOptions options;

    @Option(
        names = "--drop-rate",
        paramLabel = "CUTS_PER_S",
        description = "Connections cut per second at random (default: 1%% of the connections).")
    Double dropRate;

    @Option(
        names = "--warmup-drop-rate",
        paramLabel = "CUTS_PER_S",
        description =
            "More connections cut per second at random during the warm-up only (default: 0), so"
                + " that both JVMs have compiled the reconnect and resume path before a storm;"
                + " half of them are every device of a user at once.")
    double warmupDropRate;

    @Option(
        names = "--warmup-storms",
        paramLabel = "N",
        description =
            "Cut every connection at once this many times during the warm-up, evenly spaced"
                + " (default: 0), so that both JVMs have run the storm's own path (thousands of"
                + " closes, upgrades and resumes at once) before the measured storm.")
    int warmupStorms;

    @Option(names = "--storm", description = "Also cut every connection at once, once.")
    boolean storm;

    @Option(
        names = "--storm-at",
        converter = Durations.class,
        description = "When the storm comes, after the warm-up (default: half the duration).")
    Duration stormAt;

    @Override
    public Integer call() throws IOException {
      options.validate();
      double rate =
          dropRate != null ? dropRate : Math.max(1, options.users * options.devices / 100.0);
      if (rate < 0) {
        throw new IllegalArgumentException("--drop-rate must be >= 0, was " + rate);
      }
      if (warmupDropRate < 0) {
        throw new IllegalArgumentException(
            "--warmup-drop-rate must be >= 0, was " + warmupDropRate);
      }
      if (warmupStorms < 0) {
        throw new IllegalArgumentException("--warmup-storms must be >= 0, was " + warmupStorms);
      }
      Duration at = stormAt != null ? stormAt : options.duration.dividedBy(2);
      if (storm && at.compareTo(options.duration) >= 0) {
        throw new IllegalArgumentException("--storm-at must be within --duration");
      }
      PrintStream progress = options.json ? main.err : main.out;
      main.schedule(options, progress);
      Result r =
          new WriteRun(
                  options,
                  new WriteRun.Churn(rate, warmupDropRate, warmupStorms, storm, at),
                  progress)
              .run();
      return main.finish(options, r, commandLine(spec));
    }
  }

  @Command(
      name = "idle",
      mixinStandardHelpOptions = true,
      description = {
        "U x D connections with heartbeats only, held for the duration. With --server-pid, reports"
            + " the server's memory per connection: live heap after a full GC (jcmd) and RSS, each"
            + " after connecting minus before, divided by the connections."
      })
  static final class Idle implements Callable<Integer> {
    @ParentCommand Main main;
    @Spec CommandLine.Model.CommandSpec spec;
    @Mixin LoadOptions options;

    @Override
    public Integer call() throws IOException {
      options.validate();
      PrintStream progress = options.json ? main.err : main.out;
      main.schedule(options, progress);
      Result r = new IdleRun(options, options.serverPid, progress).run();
      return main.finish(options, r, commandLine(spec));
    }
  }

  @Command(
      name = "handoff",
      mixinStandardHelpOptions = true,
      description = {
        "U users x D devices (D >= 2). Offers at a fixed total rate (open loop), each from one"
            + " device of a user (in turn) to all its other devices; every target accepts at once."
            + " Measures offer-to-prompt (from the intended send time) and accept-to-granted"
            + " latency; checks that exactly one accept wins each offer and that the offerer's"
            + " result names it. A user has at most one offer in flight: one due earlier waits"
            + " and is sent late (its latency grows). --payload is the activity's payload."
      })
  static final class Handoff implements Callable<Integer> {
    @ParentCommand Main main;
    @Spec CommandLine.Model.CommandSpec spec;
    @Mixin LoadOptions options;

    @Override
    public Integer call() throws IOException {
      options.validate();
      HandoffRun.validate(options);
      PrintStream progress = options.json ? main.err : main.out;
      main.schedule(options, progress);
      Result r = new HandoffRun(options, progress).run();
      return main.finish(options, r, commandLine(spec));
    }
  }
}
