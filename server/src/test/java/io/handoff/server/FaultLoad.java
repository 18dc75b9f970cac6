package io.handoff.server;

import io.handoff.client.ConnectionState;
import io.handoff.client.DocumentChange;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffException;
import io.handoff.client.HandoffListener;
import io.netty.channel.EventLoopGroup;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Load for fault tests, with the ground truth kept per write: real Java clients (each given every
 * node's address) write increasing numbers 1, 2, 3... into a field named after their own device, in
 * one document per user, at a steady pace with a bounded number in flight. Every write's outcome as
 * the application saw it is recorded ({@link Outcome}), so {@link StoreTruth} can hold it against
 * what the store applied.
 */
final class FaultLoad implements AutoCloseable {
  static final String DOC = "doc";

  /** What the application was told about one write. */
  enum State {
    PENDING,
    ACKED,
    /**
     * Failed with {@link HandoffException#mayHaveBeenApplied()}: the client gave up, fate unknown.
     */
    UNKNOWN,
    /** Failed and said to be certainly not applied. */
    NOT_APPLIED
  }

  static final class Outcome {
    final long value;
    final long sentNanos = System.nanoTime();
    volatile State state = State.PENDING;
    volatile long version;
    volatile long doneNanos;
    volatile String error;

    Outcome(long value) {
      this.value = value;
    }
  }

  /** One device: a client and the outcome of every value it wrote. */
  final class Writer implements HandoffListener {
    final String user;
    final String device;
    final HandoffClient client;
    final Map<Long, Outcome> outcomes = new ConcurrentHashMap<>();
    final AtomicInteger inFlight = new AtomicInteger();
    final LongAdder resyncs = new LongAdder();
    private long next = 1;
    private volatile long seenVersion;

    Writer(String user, String device, List<URI> urls) {
      this.user = user;
      this.device = device;
      this.client =
          HandoffClient.builder()
              .urls(urls)
              .token(TestServer.token(user, device))
              .followDocuments(DOC)
              .reconnectBackoff(Duration.ofMillis(20), Duration.ofMillis(250))
              .eventLoopGroup(group)
              .listener(this)
              .build();
    }

    /** Called by one tick thread at a time for this writer. */
    synchronized void tick() {
      if (!writing || inFlight.get() >= maxInFlight) {
        return;
      }
      Outcome o = new Outcome(next++);
      outcomes.put(o.value, o);
      inFlight.incrementAndGet();
      written.increment();
      CompletableFuture<Long> f;
      try {
        f =
            client
                .document(DOC)
                .set(device, Long.toString(o.value).getBytes(StandardCharsets.UTF_8));
      } catch (RuntimeException e) {
        f = CompletableFuture.failedFuture(e);
      }
      f.whenComplete(
          (version, e) -> {
            o.doneNanos = System.nanoTime();
            if (e == null) {
              o.version = version;
              o.state = State.ACKED;
              acked.increment();
            } else {
              Throwable cause =
                  e instanceof java.util.concurrent.CompletionException ? e.getCause() : e;
              o.error = String.valueOf(cause);
              o.state =
                  cause instanceof HandoffException h && !h.mayHaveBeenApplied()
                      ? State.NOT_APPLIED
                      : State.UNKNOWN;
            }
            inFlight.decrementAndGet();
            changed.fire();
          });
    }

    long maxAcked() {
      return outcomes.values().stream()
          .filter(o -> o.state == State.ACKED)
          .mapToLong(o -> o.value)
          .max()
          .orElse(0);
    }

    @Override
    public void onChange(DocumentChange change) {
      if (change.kind() == DocumentChange.Kind.SNAPSHOT && seenVersion > 0) {
        resyncs.increment();
      }
      seenVersion = change.version();
      changed.fire();
    }

    @Override
    public void onStateChanged(ConnectionState state, int closeCode, String reason) {
      if (closeCode != 0) {
        closes.computeIfAbsent(closeCode, c -> new LongAdder()).increment();
        closeTimes.add(new long[] {closeCode, System.nanoTime()});
      }
      changed.fire();
    }
  }

  final List<Writer> writers = new ArrayList<>();
  final Signal changed = new Signal();
  final LongAdder written = new LongAdder();
  final LongAdder acked = new LongAdder();
  final Map<Integer, LongAdder> closes = new ConcurrentHashMap<>();
  private final java.util.Queue<long[]> closeTimes =
      new java.util.concurrent.ConcurrentLinkedQueue<>();
  private final EventLoopGroup group = HandoffClient.newEventLoopGroup(2);
  private final ScheduledExecutorService ticks = Executors.newScheduledThreadPool(2);
  private final Duration interval;
  private final int maxInFlight;
  private volatile boolean writing;
  private final AtomicLong startedNanos = new AtomicLong();

  /**
   * {@code devicesPerUser} devices for each of {@code users}, each writing once per {@code
   * interval} while fewer than {@code maxInFlight} of its writes are unanswered.
   */
  FaultLoad(
      List<URI> urls, List<String> users, int devicesPerUser, Duration interval, int maxInFlight) {
    this.interval = interval;
    this.maxInFlight = maxInFlight;
    for (String user : users) {
      for (int d = 0; d < devicesPerUser; d++) {
        writers.add(new Writer(user, user + "-d" + d, urls));
      }
    }
  }

  static List<URI> urls(HandoffServer... nodes) {
    List<URI> urls = new ArrayList<>();
    for (HandoffServer n : nodes) {
      urls.add(URI.create("ws://127.0.0.1:" + n.port() + "/ws"));
    }
    return urls;
  }

  /** Connects every device, then starts writing. */
  FaultLoad start() throws Exception {
    List<CompletableFuture<Void>> connected = new ArrayList<>();
    for (Writer w : writers) {
      connected.add(w.client.connect());
    }
    CompletableFuture.allOf(connected.toArray(new CompletableFuture<?>[0]))
        .get(60, TimeUnit.SECONDS);
    writing = true;
    startedNanos.set(System.nanoTime());
    long period = interval.toNanos();
    for (Writer w : writers) {
      ticks.scheduleAtFixedRate(
          w::tick, ThreadLocalRandom.current().nextLong(period), period, TimeUnit.NANOSECONDS);
    }
    return this;
  }

  /** Waits until {@code n} more writes than now were acked. */
  void awaitMoreAcked(long n, Duration bound) throws InterruptedException {
    long target = acked.sum() + n;
    changed.await(target + " writes acked", () -> acked.sum() >= target, bound);
  }

  /** Stops issuing writes and waits until every issued one has an outcome. */
  void stopAndSettle(Duration bound) throws InterruptedException {
    writing = false;
    ticks.shutdown();
    ticks.awaitTermination(10, TimeUnit.SECONDS);
    try {
      changed.await(
          "every write has an outcome",
          () -> writers.stream().allMatch(w -> w.inFlight.get() == 0),
          bound);
    } catch (AssertionError e) {
      StringBuilder stuck = new StringBuilder(e.getMessage());
      for (Writer w : writers) {
        if (w.inFlight.get() > 0) {
          stuck.append(
              String.format(
                  "%n%s: %d unanswered, %s, re-sent %d, replica v%d, values %s",
                  w.device,
                  w.inFlight.get(),
                  w.client.state(),
                  w.client.writesResent(),
                  w.client.lastVersion(DOC),
                  w.outcomes.values().stream()
                      .filter(o -> o.state == State.PENDING)
                      .map(o -> o.value)
                      .sorted()
                      .limit(5)
                      .toList()));
        }
      }
      throw new AssertionError(stuck.toString(), e);
    }
  }

  long count(State s) {
    return writers.stream()
        .flatMap(w -> w.outcomes.values().stream())
        .filter(o -> o.state == s)
        .count();
  }

  long resyncs() {
    return writers.stream().mapToLong(w -> w.resyncs.sum()).sum();
  }

  /** Writes the clients sent again with their original number (after OUTCOME_UNKNOWN and such). */
  long writesResent() {
    return writers.stream().mapToLong(w -> w.client.writesResent()).sum();
  }

  long devicesResynced() {
    return writers.stream().filter(w -> w.resyncs.sum() > 0).count();
  }

  Map<Integer, Long> closesByCode() {
    Map<Integer, Long> m = new TreeMap<>();
    closes.forEach((code, n) -> m.put(code, n.sum()));
    return m;
  }

  /** Closes with {@code code} between two {@link System#nanoTime()} readings. */
  long closesBetween(int code, long fromNanos, long toNanos) {
    return closeTimes.stream()
        .filter(c -> c[0] == code && c[1] - fromNanos >= 0 && toNanos - c[1] >= 0)
        .count();
  }

  /**
   * Writes of {@code users} issued after {@code sinceNanos} and acked. Unlike an ack that merely
   * arrived after it, such a write was applied by the store after that moment.
   */
  long ackedIssuedAfter(long sinceNanos, java.util.Set<String> users) {
    return writers.stream()
        .filter(w -> users.contains(w.user))
        .flatMap(w -> w.outcomes.values().stream())
        .filter(o -> o.state == State.ACKED && o.sentNanos - sinceNanos > 0)
        .count();
  }

  /**
   * Milliseconds from {@code sinceNanos} to the first write of {@code users} acked after it, or -1
   * if none was.
   */
  long firstAckAfterMillis(long sinceNanos, java.util.Set<String> users) {
    return writers.stream()
        .filter(w -> users.contains(w.user))
        .flatMap(w -> w.outcomes.values().stream())
        .filter(o -> o.state == State.ACKED && o.doneNanos > sinceNanos)
        .mapToLong(o -> TimeUnit.NANOSECONDS.toMillis(o.doneNanos - sinceNanos))
        .min()
        .orElse(-1);
  }

  @Override
  public void close() {
    writing = false;
    ticks.shutdownNow();
    for (Writer w : writers) {
      w.client.close();
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
  }
}
