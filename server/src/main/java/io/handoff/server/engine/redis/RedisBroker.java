package io.handoff.server.engine.redis;

import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.Delta;
import io.handoff.server.Scheduler;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.EventExecutorGroup;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fan-out through Redis pub/sub: one channel per user, which the write script publishes to. This
 * node subscribes to a user's channel when its first listener for that user arrives and
 * unsubscribes after the last leaves, so its Redis traffic grows with its own users.
 *
 * <p>Pub/sub loses messages while the connection is down. Lettuce reconnects and subscribes again;
 * a channel confirmed a second time was therefore down in between, and this broker tells the user's
 * listeners {@link Listener#onPossibleLoss()}, and they re-read their documents. This needs no
 * connection events, so it works the same on a standalone and a cluster pub/sub connection. Every
 * possible loss is told paced, {@link LossPace#BATCH} users at a time, the next batch once the
 * first's re-reads were answered and {@link LossPace#PAUSE} after it ({@link LossPace}): a
 * resubscription confirms all of a connection's channels at once, and every user's sessions then
 * read from Redis.
 *
 * <p>A message on a user's channel is either a {@link Delta} as the write script published it, or a
 * {@link UserSignal} behind a 0x00 byte. No protobuf message starts with 0x00 (field number 0 does
 * not exist), so the first byte tells them apart.
 *
 * <p>Messages arrive on the thread of the connection the channel is subscribed through: Lettuce's
 * own, or the node's event loop that subscribed it ({@link #bind}); listeners deliver at once on
 * their own loop and enqueue otherwise. Thread-safe.
 */
public final class RedisBroker implements Broker {
  private static final Logger log = LoggerFactory.getLogger(RedisBroker.class);

  private static final byte SIGNAL_MARK = 0;

  // The shared pub/sub connection; replaced only by the Cluster's watch (watchPath).
  private volatile StatefulRedisPubSubConnection<byte[], byte[]> connection;
  private final RedisClusterAsyncCommands<byte[], byte[]> commands;
  private final RedisKeys keys;
  private final ConcurrentHashMap<ByteBuffer, Channel> channels = new ConcurrentHashMap<>();
  private volatile LoopConnections loops;
  // Channels of this node's own, published to every second and heard on the shared connection
  // (watchPath): the whole path a user's messages take, through whatever node it is connected to.
  // Two, on two masters' slots where the Cluster has two: a heartbeat published to the node the
  // connection is on is never answered while that node hangs, and would never tell of the hang.
  // Kept on two masters as the topology changes (HeartbeatChannels).
  private volatile HeartbeatChannels heartbeats;
  // When a heartbeat Redis answered as published was sent, none having been heard since; 0 if none.
  private volatile long unheardSince;
  private volatile ScheduledExecutorService watchTimer;
  private volatile Supplier<StatefulRedisPubSubConnection<byte[], byte[]>> opener;
  // Set by watchPath: the shared connection is a Cluster node's, not the shard of its users' state.
  private volatile boolean offShard;
  // Held while the shared connection is replaced, and while a channel is made on it.
  private final Object swap = new Object();
  private static final byte[] HEARTBEAT = {1};
  private static final int SUBSCRIBE_BATCH = 512;
  // Tells possible losses to the channels' listeners, paced.
  private final LossPace<Channel> pace;

  /**
   * Subscribes on {@code connection} and publishes through {@code commands} (a connection in
   * subscriber mode cannot publish); tells possible losses paced on {@code lossTimer}.
   */
  RedisBroker(
      StatefulRedisPubSubConnection<byte[], byte[]> connection,
      RedisClusterAsyncCommands<byte[], byte[]> commands,
      RedisKeys keys,
      EventExecutorGroup lossTimer) {
    this.connection = connection;
    this.commands = commands;
    this.keys = keys;
    this.pace = new LossPace<>(lossTimer, this::tellLoss);
    listenTo(connection);
  }

  /**
   * Watches the shared pub/sub connection (the one a Cluster uses): a heartbeat published every
   * {@code every} that is not heard within {@code within} of Redis answering its PUBLISH means the
   * connection is held by a Redis node that no longer delivers (hung, or cut off without a reset,
   * which TCP notices only after hours; the Cluster meanwhile failed it over). The broker then
   * opens a new shared connection with {@code open} (to a node the topology says is healthy), moves
   * every channel of the old one to it, and closes the old one; each channel's listeners hear of a
   * possible loss once the new connection confirms it. Runs on a thread of its own, since opening a
   * connection may wait for a connect timeout. The heartbeat goes on two channels whose slots two
   * different masters of the topology hold (one if it has one master): whichever node the
   * connection is on, and hung, one of them is published by another master and goes unheard.
   */
  void watchPath(NodePubSub open, Duration every, Duration within) {
    watchPath(open, open::masterOf, every, within, StatefulRedisPubSubConnection::closeAsync);
  }

  /** As above, with one heartbeat channel, to a connection opened by {@code open} (for tests). */
  void watchPath(
      Supplier<StatefulRedisPubSubConnection<byte[], byte[]>> open,
      Duration every,
      Duration within) {
    watchPath(open, every, within, StatefulRedisPubSubConnection::closeAsync);
  }

  /** As above, {@code retire} closing each replaced connection once it was replaced (for tests). */
  void watchPath(
      Supplier<StatefulRedisPubSubConnection<byte[], byte[]>> open,
      Duration every,
      Duration within,
      Consumer<StatefulRedisPubSubConnection<byte[], byte[]>> retire) {
    watchPath(open, name -> null, every, within, retire);
  }

  private void watchPath(
      Supplier<StatefulRedisPubSubConnection<byte[], byte[]>> open,
      Function<byte[], String> masterOf,
      Duration every,
      Duration within,
      Consumer<StatefulRedisPubSubConnection<byte[], byte[]>> retire) {
    opener = open;
    offShard = true;
    heartbeats = new HeartbeatChannels(keys, masterOf);
    connection.async().subscribe(heartbeats.active().toArray(byte[][]::new));
    ScheduledExecutorService timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "handoff-pubsub-watch");
              t.setDaemon(true);
              return t;
            });
    watchTimer = timer;
    long limit = within.toNanos();
    timer.scheduleWithFixedDelay(
        () -> {
          try {
            long since = unheardSince;
            if (since != 0 && System.nanoTime() - since > limit) {
              log.warn(
                  "pub/sub connection heard nothing for {} ms after a publish: moving to another"
                      + " Redis node",
                  within.toMillis());
              if (replaceWith(open, retire)) {
                unheardSince = 0;
              }
              return;
            }
            keepApart(heartbeats);
            for (byte[] beat : heartbeats.active()) {
              publishOnShard(beat, HEARTBEAT)
                  .whenComplete(
                      (n, err) -> {
                        if (err == null && unheardSince == 0) {
                          unheardSince = System.nanoTime();
                        }
                      });
            }
          } catch (RuntimeException e) {
            // A thrown tick would end the schedule: the watch must outlive any one failure.
            log.warn("pub/sub watch: {}", e.toString());
          }
        },
        every.toNanos(),
        every.toNanos(),
        TimeUnit.NANOSECONDS);
  }

  /**
   * Unsubscribes the heartbeat channel replaced at the last tick, and subscribes a new one if the
   * two sit on one master now (a reshard, failovers): it replaces one once confirmed.
   */
  private void keepApart(HeartbeatChannels beats) {
    StatefulRedisPubSubConnection<byte[], byte[]> on = connection;
    byte[] retired = beats.takeRetired();
    if (retired != null) {
      on.async().unsubscribe(retired);
    }
    byte[] fresh = beats.stale();
    if (fresh != null) {
      log.info("pub/sub watch: both heartbeats sit on one master; adding one on another");
      on.async()
          .subscribe(fresh)
          .whenComplete((v, err) -> beats.confirm(fresh, err == null && connection == on));
    }
  }

  /**
   * Moves every channel of the shared connection to a new one; false if none could be opened (the
   * watch tries again at its next tick).
   */
  private boolean replaceWith(
      Supplier<StatefulRedisPubSubConnection<byte[], byte[]>> open,
      Consumer<StatefulRedisPubSubConnection<byte[], byte[]>> retire) {
    StatefulRedisPubSubConnection<byte[], byte[]> fresh;
    try {
      fresh = open.get();
    } catch (RuntimeException e) {
      log.warn("cannot open a new pub/sub connection: {}", e.toString());
      return false;
    }
    listenTo(fresh);
    StatefulRedisPubSubConnection<byte[], byte[]> old;
    List<byte[]> names = new ArrayList<>();
    List<Channel> moved = new ArrayList<>();
    heartbeats.dropPending();
    for (byte[] beat : heartbeats.active()) {
      names.add(beat);
      moved.add(null);
    }
    synchronized (swap) {
      old = connection;
      connection = fresh;
      for (Map.Entry<ByteBuffer, Channel> e : channels.entrySet()) {
        Channel c = e.getValue();
        if (c.via == old) {
          c.via = fresh;
          // Read after via is written, as answered writes answering before reading via: a channel
          // readied on the old connection is seen here though that one's listener now ignores it.
          if (c.answering) {
            c.confirmed.set(true);
          }
          names.add(e.getKey().array());
          moved.add(c);
        }
      }
    }
    // Confirmed channels are confirmed a second time here: their listeners re-read (subscribed).
    // A channel whose first SUBSCRIBE went to the old connection is ready once this one is read,
    // or failed if this one fails: the old one's answer, read after the move or failed as it
    // closes, is not its answer (answered).
    for (int i = 0; i < names.size(); i += SUBSCRIBE_BATCH) {
      int end = Math.min(names.size(), i + SUBSCRIBE_BATCH);
      List<Channel> batch = moved.subList(i, end);
      fresh
          .async()
          .subscribe(names.subList(i, end).toArray(byte[][]::new))
          .whenComplete(
              (v, err) -> {
                for (Channel c : batch) {
                  if (c != null) {
                    answered(c, fresh, err);
                  }
                }
              });
    }
    retire.accept(old);
    return true;
  }

  /**
   * {@code c}'s SUBSCRIBE through {@code sentOn} was answered ({@code err} null) or failed: its
   * ready says so, unless the channel was moved to another connection meanwhile (the watch replaced
   * a connection that stopped delivering), whose own SUBSCRIBE answers for it. Neither the old
   * connection's failure (closing it fails what it held) nor its success counts then: a moved
   * channel is delivered only by the new connection, so until that one confirms it a message
   * published to the user reaches no listener, and a session that read the store on the old answer
   * would miss it with no re-read to follow. A timeout fails it as one, and the line of resumes
   * holds back while they time out, unless the connection's node is not its user's shard (a
   * Cluster's): then the failure is an {@link OffShardFailure}, which the line does not count for
   * the user's shard.
   */
  private void answered(
      Channel c, StatefulRedisPubSubConnection<byte[], byte[]> sentOn, Throwable err) {
    if (err == null) {
      c.answering = true;
    }
    if (c.via != sentOn) {
      return;
    }
    if (err == null) {
      c.ready.complete(null);
    } else {
      Throwable failure = RedisFailures.classify(err);
      c.ready.completeExceptionally(offShard ? new OffShardFailure(failure) : failure);
    }
  }

  private void listenTo(StatefulRedisPubSubConnection<byte[], byte[]> on) {
    on.addListener(
        new RedisPubSubAdapter<>() {
          @Override
          public void message(byte[] channel, byte[] message) {
            HeartbeatChannels beats = heartbeats;
            if (beats != null && beats.contains(channel)) {
              if (on == connection) {
                unheardSince = 0;
              }
              return;
            }
            deliver(on, channel, message);
          }

          @Override
          public void subscribed(byte[] channel, long count) {
            // subscribe() sends SUBSCRIBE only after the channel is in the map, so even the first
            // confirmation finds it.
            Channel c = channels.get(ByteBuffer.wrap(channel));
            if (c != null && c.via == on && !c.confirmed.compareAndSet(false, true)) {
              // Subscribed again after the connection dropped: messages may have been lost. Every
              // channel of the connection is confirmed now, so the telling is paced.
              pace.tell(List.of(c));
            }
          }
        });
  }

  /**
   * From now on, a user's channel is subscribed through the pub/sub connection of the event loop
   * that subscribes it first (see {@link LoopConnections}), so its messages are read and delivered
   * by that loop; from other threads, through the shared connection.
   */
  void bind(LoopConnections bound) {
    for (StatefulRedisPubSubConnection<byte[], byte[]> c : bound.pubSubs()) {
      listenTo(c);
    }
    this.loops = bound;
  }

  /**
   * Stops using {@code bound}'s connections (the node is stopping its loops): channels subscribed
   * through them are forgotten, with their listeners, which belong to the stopping node's sessions.
   */
  void unbind(LoopConnections bound) {
    if (loops == bound) {
      loops = null;
    }
    channels.values().removeIf(c -> c.via != connection);
  }

  /**
   * A message read from {@code on}. Only the connection a channel is subscribed through delivers
   * for it: another may still be subscribed to the same user at Redis (its UNSUBSCRIBE not yet read
   * there, with the user's channel since subscribed through another loop) and gets a copy.
   */
  private void deliver(
      StatefulRedisPubSubConnection<byte[], byte[]> on, byte[] channel, byte[] message) {
    Channel c = channels.get(ByteBuffer.wrap(channel));
    if (c == null || c.via != on) {
      return;
    }
    if (message.length > 0 && message[0] == SIGNAL_MARK) {
      deliverSignal(c, message);
      return;
    }
    DocumentEvent event;
    try {
      // The push frame wraps the message as it is: no second encoding of the delta, and the
      // delta is not parsed, only the fields the delivery path reads.
      event = DocumentEvent.ofDelta(c.userId, message);
    } catch (IllegalArgumentException e) {
      log.warn("dropping undecodable message on {}: {}", c.userId, e.getMessage());
      return;
    }
    for (Listener l : c.listeners) {
      try {
        l.onEvent(event);
      } catch (RuntimeException e) {
        log.warn("listener of {} failed on {}", c.userId, event, e);
      }
    }
  }

  private void deliverSignal(Channel c, byte[] message) {
    UserSignal signal;
    try {
      signal = UserSignal.parseFrom(ByteBuffer.wrap(message, 1, message.length - 1));
    } catch (InvalidProtocolBufferException e) {
      log.warn("dropping undecodable signal on {}: {}", c.userId, e.getMessage());
      return;
    }
    for (Listener l : c.listeners) {
      try {
        l.onSignal(signal);
      } catch (RuntimeException e) {
        log.warn("listener of {} failed on a signal", c.userId, e);
      }
    }
  }

  @Override
  public Subscription subscribe(String userId, Listener listener) {
    byte[] name = keys.channel(userId);
    ByteBuffer key = ByteBuffer.wrap(name);
    boolean[] created = {false};
    LoopConnections bound = loops;
    StatefulRedisPubSubConnection<byte[], byte[]> here = bound == null ? null : bound.pubSubHere();
    Channel channel;
    // Under the lock: a channel made on the shared connection as it is replaced would stay on the
    // old one.
    synchronized (swap) {
      StatefulRedisPubSubConnection<byte[], byte[]> via = here == null ? connection : here;
      channel =
          channels.compute(
              key,
              (k, c) -> {
                if (c == null) {
                  c = new Channel(userId, via);
                  created[0] = true;
                }
                c.listeners.add(listener);
                return c;
              });
    }
    if (created[0]) {
      // Sent only once the channel is in the map, so that its first confirmation finds it.
      StatefulRedisPubSubConnection<byte[], byte[]> sentOn = channel.via;
      sentOn.async().subscribe(name).whenComplete((v, err) -> answered(channel, sentOn, err));
    }
    CompletableFuture<Void> whenReady = channel.ready;
    return new Subscription() {
      private boolean closed;

      @Override
      public CompletableFuture<Void> ready() {
        return whenReady;
      }

      @Override
      public synchronized void close() {
        if (closed) {
          return;
        }
        closed = true;
        channels.computeIfPresent(
            key,
            (k, c) -> {
              c.listeners.remove(listener);
              if (c.listeners.isEmpty()) {
                c.via.async().unsubscribe(name);
                return null;
              }
              return c;
            });
      }
    };
  }

  /** The Redis store publishes inside its write script; this is for callers outside a store. */
  @Override
  public void publish(DocumentEvent event) {
    commands.publish(keys.channel(event.userId()), event.delta().toByteArray());
  }

  /** Publishes on the user's channel; a signal published while Redis is unreachable is dropped. */
  @Override
  public CompletableFuture<?> signal(String userId, UserSignal signal) {
    return publishOnShard(keys.channel(userId), message(signal));
  }

  /** {@code signal} as a message on a user's channel (a script may publish it, as presence.lua). */
  static byte[] message(UserSignal signal) {
    byte[] body = signal.toByteArray();
    byte[] message = new byte[body.length + 1];
    message[0] = SIGNAL_MARK;
    System.arraycopy(body, 0, message, 1, body.length);
    return message;
  }

  // PUBLISH names no key, so a Cluster connection sends it to its default node, which may be a
  // node that hangs or was failed over; a script with the channel as its key goes to the shard
  // that owns it (the user's, as the write script's own PUBLISH), which the topology follows.
  private static final byte[] PUBLISH =
      "return redis.call('PUBLISH', KEYS[1], ARGV[1])"
          .getBytes(java.nio.charset.StandardCharsets.UTF_8);

  private CompletableFuture<Long> publishOnShard(byte[] channel, byte[] message) {
    return commands
        .<Long>eval(
            PUBLISH, io.lettuce.core.ScriptOutputType.INTEGER, new byte[][] {channel}, message)
        .toCompletableFuture();
  }

  /**
   * The event loop that reads {@code userId}'s channel: that of the loop connection it is
   * subscribed through, or null if through the shared connection or not subscribed (for tests).
   */
  EventExecutor readerOf(String userId) {
    Channel c = channels.get(ByteBuffer.wrap(keys.channel(userId)));
    LoopConnections bound = loops;
    return c == null || bound == null ? null : bound.loopOf(c.via);
  }

  /** The heartbeat channels the watch publishes to now (for tests). */
  List<byte[]> heartbeatChannels() {
    return heartbeats.active();
  }

  /** Users this node is subscribed to. */
  public int subscribedUsers() {
    return channels.size();
  }

  /**
   * Tells every listener that events may have been lost (the store failed over: a promoted replica
   * may not have what was published before; or its life marker changed), paced as every possible
   * loss is ({@link LossPace}).
   */
  void possibleLossEverywhere() {
    pace.tell(channels.values());
  }

  /** Sets the pace's timers ({@link LossPace}) on the node's time. */
  @Override
  public void useTime(Scheduler time) {
    pace.useTime(time);
  }

  /** Tells {@code c}'s listeners of a possible loss; returns their re-reads under way. */
  private List<CompletableFuture<?>> tellLoss(Channel c) {
    List<CompletableFuture<?>> rereads = new ArrayList<>();
    for (Listener l : c.listeners) {
      try {
        CompletableFuture<?> f = l.onPossibleLoss();
        if (f != null && !f.isDone()) {
          rereads.add(f);
        }
      } catch (RuntimeException e) {
        log.warn("listener of {} failed on a possible loss", c.userId, e);
      }
    }
    return rereads;
  }

  /**
   * Users told of a possible loss whose re-reads the pace waits for (at most {@link
   * LossPace#BATCH}); 0 between batches.
   */
  public int lossRereading() {
    return pace.rereading();
  }

  /** Users still to be told of a possible loss, by the pace. */
  public int lossWaiting() {
    return pace.waiting();
  }

  boolean isOpen() {
    LoopConnections bound = loops;
    return connection.isOpen() && (bound == null || bound.isOpen());
  }

  @Override
  public void close() {
    ScheduledExecutorService w = watchTimer;
    if (w != null) {
      w.shutdownNow();
    }
    if (opener instanceof AutoCloseable a) {
      try {
        a.close();
      } catch (Exception e) {
        log.warn("closing the pub/sub connector: {}", e.toString());
      }
    }
    channels.clear();
    pace.stop();
    connection.close();
  }

  private static final class Channel {
    final String userId;
    // The pub/sub connection it is subscribed through: the shared one or a loop's (moved only
    // from a shared connection that stopped delivering to its replacement).
    volatile StatefulRedisPubSubConnection<byte[], byte[]> via;
    final List<Listener> listeners = new CopyOnWriteArrayList<>();
    final CompletableFuture<Void> ready = new CompletableFuture<>();
    // Set by the first confirmation of the subscription, or by a move after a SUBSCRIBE was
    // answered (its sessions may have read); a later one means a resubscription: re-read.
    final AtomicBoolean confirmed = new AtomicBoolean();
    // Set once a SUBSCRIBE of it was answered, before answered decides whether that readies it.
    volatile boolean answering;

    Channel(String userId, StatefulRedisPubSubConnection<byte[], byte[]> via) {
      this.userId = userId;
      this.via = via;
    }
  }
}
