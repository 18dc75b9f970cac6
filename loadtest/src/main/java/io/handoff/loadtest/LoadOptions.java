package io.handoff.loadtest;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import picocli.CommandLine.Option;

/**
 * The options every scenario takes (a picocli mixin). The first group is the stable command line of
 * the load tester (kept stable for scripts); the rest are extras. {@link #validate()} checks them
 * together.
 */
final class LoadOptions {
  /** Devices per user that {@link DocLog} can tell apart. */
  static final int MAX_DEVICES_PER_USER = 1_000;

  @Option(
      names = "--url",
      required = true,
      split = ",",
      paramLabel = "ws://HOST:PORT/ws",
      description =
          "WebSocket endpoint(s) of one deployment. Every device gets all of them and moves to the"
              + " next when one fails; device i starts on the (i mod n)-th.")
  List<URI> urls = new ArrayList<>();

  @Option(
      names = "--users",
      defaultValue = "100",
      description = "Users (default ${DEFAULT-VALUE}).")
  int users;

  @Option(
      names = "--devices",
      defaultValue = "3",
      description = "Devices per user, each one connection (default ${DEFAULT-VALUE}).")
  int devices;

  @Option(
      names = "--rate",
      defaultValue = "100",
      description = "Writes per second in total, spread over users (default ${DEFAULT-VALUE}).")
  double rate;

  @Option(
      names = "--tick",
      defaultValue = "0s",
      converter = Durations.class,
      description =
          "Send the writes (handoff: the offers) in groups, every TICK: each is due at the first"
              + " tick at or after its time in the schedule, and its latency counts from that tick,"
              + " as with a driver whose timer fires once per tick (Node's timers: 1ms). Default"
              + " 0s: each at its own time.")
  Duration tick;

  @Option(
      names = "--duration",
      defaultValue = "30s",
      converter = Durations.class,
      description = "How long to write (idle: to hold) after the warm-up (default 30s).")
  Duration duration;

  @Option(
      names = "--payload",
      defaultValue = "256",
      paramLabel = "BYTES",
      description = "Bytes per write, at least 12 (default ${DEFAULT-VALUE}).")
  int payload;

  @Option(
      names = "--jwt-secret",
      defaultValue = "${env:HANDOFF_JWT_SECRET}",
      paramLabel = "SECRET",
      description =
          "The server's HS256 secret (env HANDOFF_JWT_SECRET): the one it was started with, or the"
              + " development secret it printed.")
  String jwtSecret;

  @Option(
      names = "--json",
      description = "Print one JSON object on the last line of stdout (progress goes to stderr).")
  boolean json;

  @Option(
      names = "--report",
      paramLabel = "FILE",
      description = "Write an HTML page with latency over time and a latency histogram.")
  Path report;

  @Option(
      names = "--warmup",
      defaultValue = "0s",
      converter = Durations.class,
      description =
          "Write at the same rate for this long first, without timing it (default 0s). Its"
              + " deliveries are still checked.")
  Duration warmup;

  @Option(
      names = "--documents",
      defaultValue = "1",
      description = "Documents per user; writes cycle through them (default ${DEFAULT-VALUE}).")
  int documents;

  @Option(
      names = "--drain-timeout",
      defaultValue = "10s",
      converter = Durations.class,
      description = "After the last write, how long to wait for deliveries (default 10s).")
  Duration drainTimeout;

  @Option(
      names = "--connect-timeout",
      defaultValue = "120s",
      converter = Durations.class,
      description = "How long connecting every device may take (default 120s).")
  Duration connectTimeout;

  @Option(
      names = "--connect-concurrency",
      defaultValue = "256",
      description = "Handshakes in progress at once while connecting (default ${DEFAULT-VALUE}).")
  int connectConcurrency;

  @Option(
      names = "--source-addresses",
      paramLabel = "ADDRS|COUNT",
      description =
          "Local addresses to connect from, to get past the ephemeral-port limit: a list"
              + " (127.0.0.1,127.0.0.2) or a count N (127.0.0.1 to 127.0.0.N). Keep at most"
              + " 10,000 connections per address. Default: none up to 25,000 connections, else one"
              + " per 10,000.")
  String sourceAddresses;

  @Option(
      names = "--threads",
      defaultValue = "0",
      description = "Event-loop threads shared by all clients (default: one per core).")
  int threads;

  @Option(
      names = "--scheduling",
      defaultValue = "batch",
      paramLabel = "batch|normal",
      description =
          "Linux CPU scheduling policy of the load tester's threads when run from the command"
              + " line. batch (default): SCHED_BATCH, set with chrt, so the load tester's wake-ups"
              + " never preempt the server it measures on a shared machine (the server finishes"
              + " sending a write's frames before the load tester reads them); normal: as started.")
  String scheduling;

  @Option(
      names = "--full-client",
      description =
          "fanout: drive each device with the Java client (handoff-client) instead of the load"
              + " tester's lean connection, which speaks the same protocol and makes the same"
              + " checks at a fraction of the CPU per delivery.")
  boolean fullClient;

  @Option(
      names = "--user-prefix",
      description =
          "Prefix of user ids (default: random per run, so runs against one server never share"
              + " state).")
  String userPrefix;

  @Option(
      names = "--server-pid",
      paramLabel = "PID",
      description =
          "The server's process id on this machine: adds its CPU use to the figures, and (idle)"
              + " its memory per connection.")
  Long serverPid;

  @Option(
      names = "--also-pid",
      paramLabel = "NAME=PID",
      description =
          "Another process the run loads (a second node, Redis), repeatable: its CPU over the"
              + " measured window as cpu_NAME_pct and NAME_cpu_us_per_delivery, and all of them"
              + " plus the server's as total_cpu_us_per_delivery (fanout, reconnect).")
  java.util.Map<String, Long> alsoPids = new java.util.LinkedHashMap<>();

  @Option(
      names = "--allow-remote",
      description = "Allow targets other than loopback addresses (refused by default).")
  boolean allowRemote;

  private String generatedPrefix;

  /**
   * Checks the options together.
   *
   * @throws IllegalArgumentException with a message naming the option
   */
  void validate() {
    check(!urls.isEmpty(), "--url is required");
    check(new java.util.HashSet<>(urls).size() == urls.size(), "--url lists a URL twice: " + urls);
    for (URI url : urls) {
      check(
          "ws".equalsIgnoreCase(url.getScheme()) || "wss".equalsIgnoreCase(url.getScheme()),
          "--url must be ws:// or wss://, was " + url);
      check(url.getHost() != null, "--url must name a host, was " + url);
      check(
          allowRemote || isLoopback(url.getHost()),
          "--url "
              + url
              + " is not a loopback address; pass --allow-remote to load a remote server");
    }
    check(users > 0, "--users must be > 0, was " + users);
    check(
        devices > 0 && devices <= MAX_DEVICES_PER_USER,
        "--devices must be 1 to " + MAX_DEVICES_PER_USER + ", was " + devices);
    check((long) users * devices <= 1_000_000, "--users x --devices must be at most 1,000,000");
    check(rate > 0 && !Double.isInfinite(rate), "--rate must be > 0, was " + rate);
    check(!duration.isZero(), "--duration must be above 0");
    check(
        payload >= Payload.HEADER_BYTES && payload <= 64 * 1024,
        "--payload must be " + Payload.HEADER_BYTES + " to 65536 bytes, was " + payload);
    check(documents > 0 && documents <= 1000, "--documents must be 1 to 1000, was " + documents);
    check(connectConcurrency > 0, "--connect-concurrency must be > 0");
    check(threads >= 0, "--threads must be >= 0");
    check(!tick.isNegative(), "--tick must not be negative, was " + tick);
    schedulingPolicy();
    check(
        jwtSecret != null && !jwtSecret.isEmpty(),
        "--jwt-secret is required: the secret the server was started with (--jwt-secret), or the"
            + " development secret it printed at start");
    sourceAddresses();
  }

  /** The {@code --scheduling} policy; throws IllegalArgumentException for another word. */
  SchedulingPolicy.Policy schedulingPolicy() {
    switch (scheduling == null ? "" : scheduling) {
      case "batch":
        return SchedulingPolicy.Policy.BATCH;
      case "normal":
        return SchedulingPolicy.Policy.NORMAL;
      default:
        throw new IllegalArgumentException(
            "--scheduling must be batch or normal, was " + scheduling);
    }
  }

  /** Event-loop threads to use. */
  int threads() {
    return threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
  }

  /** Source addresses to bind; empty to let the kernel choose. */
  List<InetSocketAddress> sourceAddresses() {
    return SourceAddresses.parse(sourceAddresses, (long) users * devices);
  }

  /** The prefix of user ids: the given one, or a random one chosen once. */
  String userPrefix() {
    if (userPrefix != null) {
      return userPrefix;
    }
    if (generatedPrefix == null) {
      generatedPrefix =
          "lt" + Long.toString(ThreadLocalRandom.current().nextLong(1L << 40), 36) + "-";
    }
    return generatedPrefix;
  }

  private static boolean isLoopback(String host) {
    String h = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
    if (h.equalsIgnoreCase("localhost")) {
      return true;
    }
    if (!h.matches("[0-9.]+|[0-9a-fA-F:]+")) {
      return false;
    }
    try {
      return InetAddress.getByName(h).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  private static void check(boolean condition, String message) {
    if (!condition) {
      throw new IllegalArgumentException(message);
    }
  }
}
