package io.handoff.server.handoff;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.engine.Engine;
import io.handoff.server.session.Connection;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.WriteValidator;
import io.handoff.server.util.CopyOnWrite;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's part of activities, offers and presence: what every {@link HandoffSession} shares, the
 * sessions whose devices are online here, and the presence keeper.
 *
 * <p>The keeper runs on its own thread, on the node's {@link Scheduler}, and keeps every user once
 * every third of the presence TTL, spread over twenty slices of that period so the store sees no
 * burst. For each user with a device online here it refreshes the presence entries of this node's
 * live devices (deadline: three fifths of the TTL ahead, so a refresh may come a quarter of the TTL
 * late), then re-reads the user's presence and hands it to the user's sessions, which push what
 * changed. So a device of a node that died reads offline everywhere within the TTL, without any
 * message from the dead node. The keeper thread only picks the users: each user's store call is
 * made from the event loop of one of the user's sessions, so its answer is read on that loop (its
 * own Redis connection, with the Redis I/O on the loops) and handed to sessions that share the loop
 * without waking another thread. The keeper thread waits for those calls, a batch at a time, and
 * nothing else runs on it, so its waits hold up no connection's timers. {@link #stop()} ends the
 * keeper and every store write of this node's sessions, as a crash would.
 */
public final class HandoffService {
  private static final Logger log = LoggerFactory.getLogger(HandoffService.class);
  private static final int KEEPER_BATCH = 256;
  private static final int KEEPER_SLICES = 20;

  final ServerConfig config;
  final HandoffLimits limits;
  final HandoffStore store;
  final DocumentStore documents;
  final Broker broker;
  final ServerStats stats;
  final WriteValidator validator;
  private final Scheduler time;
  private final Duration entryTtl;
  private final SecureRandom random = new SecureRandom();
  private final AtomicLong connections = new AtomicLong();
  private final ScheduledExecutorService keeper;
  // This node's sessions whose devices are online, by user: copy-on-write arrays.
  private final ConcurrentHashMap<String, HandoffSession[]> online = new ConcurrentHashMap<>();
  // The keeper's current round: users still to keep this period, and how many per slice. Keeper
  // thread only.
  private final ArrayDeque<String> round = new ArrayDeque<>();
  private int perSlice;
  private long sliceMillis;
  // When the store last answered one of the keeper's calls (node's nanos): set on the loops.
  private volatile long lastAnswer;
  private volatile boolean stopped;
  private final Set<CompletableFuture<?>> leaving = ConcurrentHashMap.newKeySet();

  public HandoffService(ServerConfig config, Engine engine, ServerStats stats, Scheduler time) {
    this.config = config;
    this.limits = config.handoffLimits();
    // Once: Duration.dividedBy goes through BigDecimal, and every resume asks for it.
    this.entryTtl = entryTtl(limits.presenceTtl());
    this.store = engine.handoff();
    this.documents = engine.store();
    this.broker = engine.broker();
    this.stats = stats;
    this.time = time;
    this.validator = new WriteValidator(config.storeLimits());
    this.keeper =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "handoff-presence-" + config.nodeId());
              t.setDaemon(true);
              return t;
            });
  }

  /** Starts the presence keeper. */
  public void start() {
    // Every user is kept once a period, a slice at a time, so the store sees a steady trickle
    // instead of a burst per period that would queue the writes behind it.
    long period = keeperPeriod(limits.presenceTtl()).toMillis();
    sliceMillis = Math.max(1, period / KEEPER_SLICES);
    lastAnswer = time.nanoTime();
    armKeeper(time.nanoTime());
  }

  /**
   * Sets the next slice one slice after {@code sliceStart} (nanos of the node's time), or, if that
   * passed already (the store held the keeper), one slice from now.
   */
  private void armKeeper(long sliceStart) {
    if (!stopped) {
      long next = sliceStart + TimeUnit.MILLISECONDS.toNanos(sliceMillis);
      if (next - time.nanoTime() > 0) {
        time.scheduleAt(keeper, this::keepSlice, next);
      } else {
        time.schedule(keeper, this::keepSlice, sliceMillis, TimeUnit.MILLISECONDS);
      }
    }
  }

  /** Stops the keeper; this node's sessions no longer write to the store. Idempotent. */
  public void stop() {
    stopped = true;
    keeper.shutdownNow();
  }

  /** The handoff part of a new connection. */
  public HandoffSession session(Connection connection) {
    return new HandoffSession(connection, this);
  }

  boolean stopped() {
    return stopped;
  }

  /**
   * How far ahead a presence refresh sets the deadline: three fifths of the TTL. With a refresh and
   * a re-read every third ({@link #keeperPeriod}), a dead node's devices read offline everywhere
   * within fourteen fifteenths of the TTL (the deadline, then up to one period until a peer
   * re-reads).
   */
  Duration entryTtl() {
    return entryTtl;
  }

  static Duration entryTtl(Duration presenceTtl) {
    return presenceTtl.multipliedBy(3).dividedBy(5);
  }

  /** How often the keeper keeps each user: a third of the TTL (at least 10 ms). */
  static Duration keeperPeriod(Duration presenceTtl) {
    return Duration.ofMillis(Math.max(10, presenceTtl.toMillis() / 3));
  }

  long newConnection() {
    return connections.incrementAndGet();
  }

  String newOfferId() {
    byte[] b = new byte[16];
    random.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  /**
   * The id of the offer {@code device} makes with {@code key}: the same for the same pair, and
   * never one {@link #newOfferId} makes (those are 32 hex digits; these start with a k).
   */
  static String keyedOfferId(String device, String key) {
    byte[] d = device.getBytes(StandardCharsets.UTF_8);
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
    // The device's length first, so no other device and key run together into the same bytes.
    sha.update(ByteBuffer.allocate(4).putInt(d.length).array());
    sha.update(d);
    sha.update(key.getBytes(StandardCharsets.UTF_8));
    return "k" + HexFormat.of().formatHex(sha.digest(), 0, 16);
  }

  CompletableFuture<?> signal(String userId, UserSignal.Builder signal) {
    if (stopped) {
      return CompletableFuture.completedFuture(null);
    }
    return broker.signal(userId, signal.setOriginNode(config.nodeId()).build());
  }

  /**
   * {@code mark}, a closed session's offline mark and its signal, or the removal behind a failed
   * resume and its signal ({@link HandoffSession#resume}), is waited for by {@link #awaitLeaving}
   * until it is done. At most one of each per session, so bounded as sessions are.
   */
  void leaving(CompletableFuture<?> mark) {
    if (!mark.isDone()) {
      leaving.add(mark);
      mark.whenComplete((r, err) -> leaving.remove(mark));
    }
  }

  /**
   * Waits, up to {@code bound}, for the offline marks of the sessions that closed and the removals
   * behind failed resumes (and their signals) to reach the store, so that a draining node does not
   * close its store connections under them: the user's devices on other nodes would see the device
   * online until their next re-read. True if none is left.
   */
  public boolean awaitLeaving(Duration bound) {
    CompletableFuture<?>[] settled = new CompletableFuture<?>[leaving.size()];
    int n = 0;
    for (CompletableFuture<?> mark : leaving) {
      if (n == settled.length) {
        break; // Sessions still closing add theirs: those are not waited for.
      }
      settled[n++] = mark.handle((r, err) -> null); // A failed mark is done too.
    }
    try {
      CompletableFuture.allOf(Arrays.copyOf(settled, n))
          .get(bound.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (ExecutionException | TimeoutException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** {@code s}'s device went online here: the keeper refreshes it from now on. */
  void joined(HandoffSession s) {
    online.compute(
        s.userId(),
        (user, cur) -> {
          if (cur == null) {
            return new HandoffSession[] {s};
          }
          HandoffSession[] next = Arrays.copyOf(cur, cur.length + 1);
          next[cur.length] = s;
          return next;
        });
  }

  /** {@code s}'s connection ended. */
  void left(HandoffSession s) {
    online.computeIfPresent(
        s.userId(),
        (user, cur) -> {
          // Not a stream: a reconnect storm runs this once per connection at once, and a stream's
          // dozen small methods are that much more for the JIT to compile then.
          HandoffSession[] next = CopyOnWrite.without(cur, s);
          return next.length == 0 ? null : next;
        });
  }

  /**
   * Keeps the next slice of this node's users: over KEEPER_SLICES calls, every user once. The
   * slice's users go in batches of KEEPER_BATCH, each sent once the one before it was answered.
   * While the store answered any of the keeper's calls within two periods, a batch is waited for at
   * most its share of the slice: calls that hang (a hung shard of a Cluster holds its users') keep
   * neither the slice's other batches nor the next slices from the users whose shards answer, whose
   * entries would otherwise lapse (KeeperHungShardTest). Once nothing answered for two periods (the
   * store is down or paused), each batch is waited for until answered or failed (the store's
   * command timeout) or the presence TTL, so a paused Redis is not sent every user's call every
   * period, to hold and run all at once when it resumes.
   */
  private void keepSlice() {
    if (stopped) {
      return;
    }
    long start = time.nanoTime();
    try {
      if (round.isEmpty()) {
        round.addAll(online.keySet());
        perSlice = Math.max(1, (round.size() + KEEPER_SLICES - 1) / KEEPER_SLICES);
      }
      int batches = (Math.min(perSlice, round.size()) + KEEPER_BATCH - 1) / KEEPER_BATCH;
      long sliceNanos = TimeUnit.MILLISECONDS.toNanos(sliceMillis);
      long answering = 2 * keeperPeriod(limits.presenceTtl()).toNanos();
      int sent = 0;
      for (int done = 0; done < perSlice && !round.isEmpty() && !stopped; sent++) {
        List<CompletableFuture<?>> batch = new ArrayList<>();
        while (batch.size() < KEEPER_BATCH && done < perSlice && !round.isEmpty()) {
          batch.add(keepOnLoop(round.poll()));
          done++;
        }
        long now = time.nanoTime();
        long wait =
            now - lastAnswer < answering
                ? start + sliceNanos * (sent + 1) / Math.max(1, batches) - now
                : limits.presenceTtl().toNanos();
        if (!await(CompletableFuture.allOf(batch.toArray(new CompletableFuture<?>[0])), wait)) {
          return; // Interrupted: the keeper is stopping.
        }
      }
    } catch (RuntimeException e) {
      log.warn("presence refresh failed: {}", e.toString());
    } finally {
      armKeeper(start);
    }
  }

  /** Waits up to {@code nanos} for {@code batch}; false if interrupted. */
  private static boolean await(CompletableFuture<?> batch, long nanos) {
    try {
      batch.get(Math.max(0, nanos), TimeUnit.NANOSECONDS);
    } catch (ExecutionException | TimeoutException e) {
      // Failed calls are logged by keepUser; calls still out are left to finish on their own.
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
    return true;
  }

  /**
   * Keeps {@code user} from the event loop of one of its sessions here; completes when that is done
   * or cannot be (the loop already stopped).
   */
  private CompletableFuture<?> keepOnLoop(String user) {
    HandoffSession[] sessions = online.get(user);
    if (sessions == null) {
      return CompletableFuture.completedFuture(null);
    }
    CompletableFuture<Void> kept = new CompletableFuture<>();
    try {
      sessions[0].connection.execute(
          () -> keepUser(user).whenComplete((ignored, e) -> kept.complete(null)));
    } catch (RejectedExecutionException e) {
      kept.complete(null); // The node is stopping: its loops take no more tasks.
    }
    return kept;
  }

  private CompletableFuture<?> keepUser(String user) {
    HandoffSession[] sessions = online.get(user);
    if (sessions == null) {
      return CompletableFuture.completedFuture(null);
    }
    List<HandoffStore.Live> live = new ArrayList<>(sessions.length);
    for (HandoffSession s : sessions) {
      if (s.isOnline()) {
        live.add(
            new HandoffStore.Live(
                s.deviceId(), s.connectionNumber(), s.connection.instance(), s.onlineSince()));
      }
    }
    return store
        .keep(user, live, entryTtl(), config.storeLimits().maxDevicesPerUser())
        .thenAccept(
            (List<DevicePresence> all) -> {
              lastAnswer = time.nanoTime();
              for (HandoffSession s : sessions) {
                s.presenceRead(all);
              }
            })
        .exceptionally(
            e -> {
              log.debug("presence refresh of {} failed: {}", user, e.toString());
              return null;
            });
  }
}
