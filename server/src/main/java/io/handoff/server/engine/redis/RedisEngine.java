package io.handoff.server.engine.redis;

import io.handoff.server.devices.SessionStore;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.NodeIdInUseException;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.protocol.ProtocolVersion;
import io.lettuce.core.resource.EpollProvider;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine for many nodes: {@link RedisDocumentStore}, {@link RedisBroker} and {@link
 * RedisHandoffStore} on one Redis, either standalone ({@link #connect}) or a Redis Cluster ({@link
 * #connectCluster}). Every key of a user carries the user's hash tag, so all of a user's keys live
 * in one slot and each script runs on one shard. Commands are not queued while Redis is
 * unreachable; trouble Redis means as temporary is waited out for a bounded time ({@link
 * RedisFailures}), and a failed write is reported as certainly not applied or as of unknown
 * outcome. {@link StoreHealth} PINGs Redis every second on a connection of its own for {@code
 * /readyz} and logs its state changes.
 */
public final class RedisEngine implements Engine {
  private static final Logger log = LoggerFactory.getLogger(RedisEngine.class);
  public static final Duration DEFAULT_COMMAND_TIMEOUT = Duration.ofSeconds(2);
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
  // How long a stopping node waits for the take-backs of its resumes in flight to be on their way.
  private static final Duration TAKE_BACK_BOUND = Duration.ofSeconds(1);

  /**
   * RESP2, not Lettuce's default RESP3: over RESP3 every pub/sub message is a push message that
   * Lettuce decodes twice (as a push message for its push listeners, then as a pub/sub message),
   * about 7% of a node's CPU samples at the two-node load. The shared connections use nothing of
   * RESP3 (no client-side caching, no push listeners). The event loops' connections ({@link
   * LoopConnections}) do speak RESP3: there one connection carries both commands and channels,
   * which saves more than the decoding costs; see docs/decisions.md.
   */
  static final ProtocolVersion PROTOCOL = ProtocolVersion.RESP2;

  private final AbstractRedisClient client;
  private final RedisDocumentStore store;
  private final RedisBroker broker;
  private final RedisSessionStore sessions;
  private final RedisHandoffStore handoff;
  private final RedisApprovalStore approvals;
  private final RedisResume resumes;
  private final String description;
  private final StoreHealth health;
  private final StoreLife life;
  private final int durableAcks;
  // Standalone only: what bindLoops needs to connect once per loop, and the router it switches.
  private final RedisURI uri;
  private final ClientOptions options;
  private final RoutedCommands routed;
  private LoopConnections bound; // guarded by this
  private final NodeLeases leases; // The node ids this engine claimed.

  private RedisEngine(
      AbstractRedisClient client,
      RedisDocumentStore store,
      RedisBroker broker,
      RedisSessionStore sessions,
      RedisHandoffStore handoff,
      RedisApprovalStore approvals,
      RedisResume resumes,
      String description,
      StoreHealth health,
      StoreLife life,
      int durableAcks,
      RedisURI uri,
      ClientOptions options,
      RoutedCommands routed,
      RedisKeys keys,
      Duration nodeLease,
      RedisClusterAsyncCommands<byte[], byte[]> leaseCommands) {
    this.leases = new NodeLeases(description, keys, nodeLease, leaseCommands, client);
    this.uri = uri;
    this.options = options;
    this.routed = routed;
    this.health = health;
    this.life = life;
    this.durableAcks = durableAcks;
    this.client = client;
    this.store = store;
    this.broker = broker;
    this.sessions = sessions;
    this.handoff = handoff;
    this.approvals = approvals;
    this.resumes = resumes;
    this.description = description;
  }

  /**
   * Connects to a standalone Redis at {@code url} ({@code redis://host:port[/db]}); every key
   * starts with {@code keyPrefix} (e.g. {@code "handoff:"}), so several deployments or tests can
   * share one Redis.
   */
  public static RedisEngine connect(String url, String keyPrefix, StoreLimits limits) {
    return connect(url, keyPrefix, limits, Clock.systemUTC());
  }

  public static RedisEngine connect(String url, String keyPrefix, StoreLimits limits, Clock clock) {
    RedisURI uri = RedisURI.create(url);
    BoundedClients.Standalone client = BoundedClients.standalone(uri);
    ClientOptions options =
        ClientOptions.builder()
            .autoReconnect(true)
            .protocolVersion(PROTOCOL)
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
            .timeoutOptions(TimeoutOptions.enabled(DEFAULT_COMMAND_TIMEOUT))
            .socketOptions(socketOptions())
            .build();
    client.setOptions(options);
    RedisKeys keys = new RedisKeys(keyPrefix);
    try {
      StatefulRedisConnection<byte[], byte[]> commands = client.connect(ByteArrayCodec.INSTANCE);
      RoutedCommands routed = RoutedCommands.over(commands.async(), client.sendBuffer());
      RedisClusterAsyncCommands<byte[], byte[]> redis = routed.commands();
      String description = "Redis at " + masked(url);
      PersistenceCheck.check(description, CompletableFuture.completedFuture(commands.async()));
      StoreHealth health = new StoreHealth(description, StoreHealth.DEFAULT_TIMEOUT);
      RedisDocumentStore store =
          new RedisDocumentStore(
              commands,
              redis,
              keys,
              limits,
              clock,
              failures(client, health),
              replicaWait(client, limits, keys, false, key -> uri),
              key -> routed.sendBufferFull());
      RedisBroker broker =
          new RedisBroker(
              client.connectPubSub(ByteArrayCodec.INSTANCE),
              redis,
              keys,
              client.getResources().eventExecutorGroup());
      RedisClusterAsyncCommands<byte[], byte[]> waiting =
          WaitingCommands.of(redis, failures(client, health));
      RedisSessionStore sessions = new RedisSessionStore(waiting, keys, limits, clock);
      ConnectionNames connections = new ConnectionNames();
      RedisHandoffStore handoff = new RedisHandoffStore(waiting, keys, clock, connections);
      StatefulRedisConnection<byte[], byte[]> probe = client.connect(ByteArrayCodec.INSTANCE);
      StoreLife life = life(description, keys, broker);
      StoreLife.firstSighting(() -> life.check(probe.async()), DEFAULT_COMMAND_TIMEOUT);
      health.start(
          client.getResources().eventExecutorGroup(),
          StoreHealth.DEFAULT_INTERVAL,
          () -> {
            // Sent with the PING, in the same round trip; judged apart from it.
            life.check(probe.async());
            return probe.async().ping().toCompletableFuture();
          });
      return new RedisEngine(
          client,
          store,
          broker,
          sessions,
          handoff,
          new RedisApprovalStore(waiting, keys, limits.erasureMark()),
          new RedisResume(
              redis, keys, limits, clock, failures(client, health), store, connections, handoff),
          description,
          health,
          life,
          limits.durableAcks(),
          uri,
          options,
          routed,
          keys,
          limits.nodeLease(),
          probe.async());
    } catch (RuntimeException e) {
      client.shutdown();
      throw e;
    }
  }

  /**
   * Connects to a Redis Cluster through one or more seed nodes ({@code redis://host:port} each).
   * Lettuce discovers the topology, routes each script call to the shard that owns the user's hash
   * slot, follows MOVED and ASK redirections, and refreshes the topology on redirections and
   * reconnects. Fan-out uses cluster-wide PUBLISH, so a node may subscribe through any shard.
   */
  public static RedisEngine connectCluster(
      List<String> seeds, String keyPrefix, StoreLimits limits) {
    return connectCluster(seeds, keyPrefix, limits, Clock.systemUTC());
  }

  public static RedisEngine connectCluster(
      List<String> seeds, String keyPrefix, StoreLimits limits, Clock clock) {
    if (seeds.isEmpty()) {
      throw new IllegalArgumentException("a Redis Cluster needs at least one seed node");
    }
    List<RedisURI> uris = new ArrayList<>();
    for (String seed : seeds) {
      RedisURI uri = RedisURI.create(seed.contains("://") ? seed : "redis://" + seed);
      // Lettuce asks every node for its view of the topology with the seeds' timeout (60 s by
      // default): one hung node would hold up every refresh, and with it the following of a
      // failover, for a minute.
      uri.setTimeout(DEFAULT_COMMAND_TIMEOUT);
      uris.add(uri);
    }
    BoundedClients.Cluster client = BoundedClients.cluster(uris);
    client.setOptions(
        ClusterClientOptions.builder()
            .autoReconnect(true)
            .protocolVersion(PROTOCOL)
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
            .timeoutOptions(TimeoutOptions.enabled(DEFAULT_COMMAND_TIMEOUT))
            .socketOptions(socketOptions())
            .maxRedirects(5)
            .topologyRefreshOptions(
                ClusterTopologyRefreshOptions.builder()
                    // MOVED, ASK, persistent reconnects and unknown nodes refresh at once; the
                    // default rate limit (one adaptive refresh per 30 s) would leave a shard
                    // whose master failed unserved until the next one.
                    .enableAllAdaptiveRefreshTriggers()
                    .adaptiveRefreshTriggersTimeout(Duration.ofMillis(500))
                    .refreshTriggersReconnectAttempts(1)
                    .enablePeriodicRefresh(Duration.ofSeconds(1))
                    .closeStaleConnections(true)
                    .build())
            .build());
    RedisKeys keys = new RedisKeys(keyPrefix);
    try {
      StatefulRedisClusterConnection<byte[], byte[]> commands =
          client.connect(ByteArrayCodec.INSTANCE);
      List<String> shown = new ArrayList<>();
      seeds.forEach(s -> shown.add(masked(s)));
      String description = "Redis Cluster via " + String.join(",", shown);
      for (RedisClusterNode node : commands.getPartitions()) {
        // Replicas too: a replica promoted by a failover keeps its own settings. A failed node may
        // stay listed until it is forgotten: only live ones are asked.
        if (!node.is(RedisClusterNode.NodeFlag.FAIL)
            && !node.is(RedisClusterNode.NodeFlag.EVENTUAL_FAIL)
            && !node.is(RedisClusterNode.NodeFlag.NOADDR)
            && node.getUri() != null) {
          PersistenceCheck.check(
              "Redis Cluster "
                  + (node.is(RedisClusterNode.NodeFlag.UPSTREAM) ? "master " : "replica ")
                  + node.getUri().getHost()
                  + ":"
                  + node.getUri().getPort(),
              commands.getConnectionAsync(node.getNodeId()).thenApply(c -> c.async()));
        }
      }
      ClusterShards shards = new ClusterShards(commands);
      // Answers from other shards say nothing about a hung one: only the PINGs judge here.
      StoreHealth health = new StoreHealth(description, StoreHealth.DEFAULT_TIMEOUT, false);
      RedisDocumentStore store =
          new RedisDocumentStore(
              commands,
              commands.async(),
              keys,
              limits,
              clock,
              failures(client, health),
              replicaWait(client, limits, keys, true, shards::masterUri),
              key -> client.sendBufferFull(commands, key));
      RedisBroker broker =
          new RedisBroker(
              client.connectPubSub(ByteArrayCodec.INSTANCE),
              commands.async(),
              keys,
              client.getResources().eventExecutorGroup());
      RedisClusterAsyncCommands<byte[], byte[]> waiting =
          WaitingCommands.of(commands.async(), failures(client, health));
      RedisSessionStore sessions = new RedisSessionStore(waiting, keys, limits, clock);
      ConnectionNames connections = new ConnectionNames();
      RedisHandoffStore handoff = new RedisHandoffStore(waiting, keys, clock, connections);
      // Every master, not just the one a keyless PING is routed to: a hung shard is noticed. On a
      // connection of its own, so the PING never waits behind this node's backlog.
      StatefulRedisClusterConnection<byte[], byte[]> probe =
          client.connect(ByteArrayCodec.INSTANCE);
      StoreLife life = life(description, keys, broker);
      StoreLife.firstSighting(
          () -> life.checkCluster(probe.async(), probe.getPartitions()), DEFAULT_COMMAND_TIMEOUT);
      health.start(
          client.getResources().eventExecutorGroup(),
          StoreHealth.DEFAULT_INTERVAL,
          () -> {
            // Sent with the PINGs, one to each master, in the same round trip; judged apart.
            life.checkCluster(probe.async(), probe.getPartitions());
            return probe.async().upstream().commands().ping().toCompletableFuture();
          });
      FailoverWatch.watch(client, health, broker);
      // The pub/sub connection stays with the node it first reached; if that node hangs, the
      // Cluster fails it over but the connection, still open, would hear nothing for hours.
      broker.watchPath(
          new NodePubSub(client, uris.get(0)), Duration.ofSeconds(1), Duration.ofSeconds(3));
      return new RedisEngine(
          client,
          store,
          broker,
          sessions,
          handoff,
          new RedisApprovalStore(waiting, keys, limits.erasureMark()),
          new RedisResume(
              commands.async(),
              keys,
              limits,
              clock,
              failures(client, health),
              store,
              connections,
              handoff,
              shards),
          description,
          health,
          life,
          limits.durableAcks(),
          null,
          null,
          null,
          keys,
          limits.nodeLease(),
          probe.async());
    } catch (RuntimeException e) {
      client.shutdown();
      throw e;
    }
  }

  /** The life marker's check, which re-checks every session of the node, paced, on a reset. */
  private static StoreLife life(String description, RedisKeys keys, RedisBroker broker) {
    return new StoreLife(description, keys, broker::possibleLossEverywhere);
  }

  private static RedisFailures failures(AbstractRedisClient client, StoreHealth health) {
    return new RedisFailures(
        client.getResources().eventExecutorGroup(), RedisFailures.DEFAULT_WAIT, health);
  }

  /** Durable acks' replica confirmation, or null when they are off. */
  private static ReplicaWait replicaWait(
      AbstractRedisClient client,
      StoreLimits limits,
      RedisKeys keys,
      boolean cluster,
      Function<byte[], RedisURI> masterOf) {
    if (limits.durableAcks() == 0) {
      return null;
    }
    return new ReplicaWait(
        client.getResources(),
        limits.durableAcks(),
        limits.durableAckTimeout(),
        keys,
        cluster,
        masterOf);
  }

  static SocketOptions socketOptions() {
    return SocketOptions.builder().connectTimeout(CONNECT_TIMEOUT).keepAlive(true).build();
  }

  private static String masked(String url) {
    return url.replaceAll(":[^:@/]*@", ":****@");
  }

  @Override
  public RedisDocumentStore store() {
    return store;
  }

  @Override
  public RedisBroker broker() {
    return broker;
  }

  @Override
  public SessionStore sessions() {
    return sessions;
  }

  @Override
  public io.handoff.server.handoff.HandoffStore handoff() {
    return handoff;
  }

  @Override
  public io.handoff.server.devices.ApprovalStore approvals() {
    return approvals;
  }

  /** One {@code resume.lua} call on the user's shard (see {@link RedisResume}). */
  @Override
  public CompletableFuture<Resumed> resume(Request request) {
    return resumes.resume(request);
  }

  /** The Cluster master that owns the user's slot, by node id; one shard standalone. */
  @Override
  public Object shardOf(String userId) {
    return resumes.shardOf(userId);
  }

  @Override
  public boolean hasShard(Object shard) {
    return resumes.hasShard(shard);
  }

  /**
   * With a standalone Redis and loops on epoll (the transport Lettuce uses here), connects once per
   * loop ({@link LoopConnections}) and routes each loop's commands and subscriptions through its
   * own connections. A Redis Cluster keeps the shared connections: its client keeps one connection
   * per shard and follows the topology by itself. If the loops' connections cannot be made, the
   * node goes on with the shared ones and says so.
   */
  @Override
  public synchronized LoopBinding bindLoops(EventLoopGroup loops, String transport) {
    if (bound != null) {
      return LoopBinding.NONE;
    }
    if (routed == null) {
      return ownThreads();
    }
    if (!"epoll".equals(transport) || !EpollProvider.isAvailable()) {
      log.info("Redis I/O on its own threads: the node's loops use {}, Redis epoll", transport);
      return ownThreads();
    }
    LoopConnections made;
    try {
      made = LoopConnections.open(uri, options, client.getResources(), loops);
    } catch (RuntimeException e) {
      log.warn(
          "Redis I/O on its own threads: connecting on the node's loops failed: {}", e.toString());
      return ownThreads();
    }
    bound = made;
    broker.bind(made);
    routed.bind(made);
    log.info(
        "Redis I/O on the node's {} event loops (a connection and a subscriber each)",
        made.loops());
    return new LoopBinding() {
      @Override
      public void close() {
        unbind(made, true);
      }

      @Override
      public void abandon() {
        unbind(made, false);
      }
    };
  }

  /**
   * Redis I/O stays on the engine's own threads (always on a Redis Cluster), but the node's stop
   * takes back the resumes in flight all the same, as {@link #unbind} does: their scripts went
   * through the shared connections, and the take-backs go behind them there before the engine
   * closes those connections (a script held in a paused Redis then fails, and the node, its loops
   * stopped, could send nothing more). A node stopped as a crash would only forgets them.
   */
  @Override
  public LoopBinding ownThreads() {
    return new LoopBinding() {
      @Override
      public void close() {
        resumes.takeBackInFlight(TAKE_BACK_BOUND);
      }

      @Override
      public void abandon() {
        resumes.abandonInFlight();
      }
    };
  }

  /**
   * Stops routing through {@code made} and closes it; first takes back the resumes in flight, or,
   * for a node that stops as a crash would, only forgets them ({@link
   * RedisResume#abandonInFlight}).
   */
  private synchronized void unbind(LoopConnections made, boolean takeBack) {
    if (bound != made) {
      return;
    }
    if (takeBack) {
      resumes.takeBackInFlight(TAKE_BACK_BOUND);
    } else {
      resumes.abandonInFlight();
    }
    routed.bind(null);
    broker.unbind(made);
    made.close();
    bound = null;
  }

  /**
   * The node event loop that reads the pub/sub messages for {@code userId}, or null when they are
   * read by the Redis client's own threads (for tests).
   */
  public EventExecutor subscriberLoop(String userId) {
    return broker.readerOf(userId);
  }

  @Override
  public String name() {
    return "redis";
  }

  @Override
  public String durability() {
    String where =
        durableAcks > 0
            ? "in Redis and on " + durableAcks + " of its replicas (durable acks)"
            : "in Redis (not yet on a replica: see --durable-acks)";
    return description
        + ": every acked write is "
        + where
        + " before its ack; it survives this node and is as durable as the Redis deployment"
        + " (persistence and replication settings).";
  }

  /**
   * Claims {@code nodeId} with a lease in Redis ({@link NodeLease}): {@code PREFIX{node:ID}:lease}
   * holds a token of this engine's and expires {@link StoreLimits#nodeLease()} after its last
   * renewal. Waits up to that long for the lease of a process that stopped renewing it to lapse.
   */
  @Override
  public Runnable claimNode(String nodeId, Consumer<NodeIdInUseException> taken)
      throws InterruptedException {
    return leases.claim(nodeId, taken);
  }

  @Override
  public boolean holdsNode(String nodeId) {
    return leases.holds(nodeId);
  }

  @Override
  public boolean confirmsNode(String nodeId) {
    return leases.confirms(nodeId);
  }

  @Override
  public long nodeClaimsRefused(String nodeId) {
    return leases.claimsRefused(nodeId);
  }

  @Override
  public boolean healthy() {
    return store.isOpen() && broker.isOpen() && health.healthy();
  }

  /** The most bytes waiting to Redis on any of the node's connections (see SendBuffer; tests). */
  public long sendBufferBytes() {
    return BoundedClients.pendingBytes(client, routed);
  }

  @Override
  public long storeResets() {
    return life.resets();
  }

  /** Runs {@code listener} after every change of the store's health (for tests). */
  public void onHealthChange(Runnable listener) {
    health.onChange(listener);
  }

  @Override
  public void close() {
    synchronized (this) {
      if (bound != null) {
        unbind(bound, true);
      }
    }
    leases.releaseAll();
    health.close();
    broker.close();
    store.close();
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
  }
}
