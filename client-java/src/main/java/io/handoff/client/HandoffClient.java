// Over 600 lines because it is the client's whole public entry point: each method and each Builder
// setter carries the Javadoc of its contract (threads, bounds, failures); the machinery is in
// SyncEngine and the package's other classes.
package io.handoff.client;

import static io.handoff.client.BuilderChecks.UP_TO;
import static io.handoff.client.BuilderChecks.check;
import static io.handoff.client.BuilderChecks.checkDelay;
import static io.handoff.client.BuilderChecks.checkUrl;
import static io.handoff.client.BuilderChecks.checkUrls;

import io.handoff.client.internal.Handshake;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.DeviceInfo;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferGranted;
import io.handoff.protocol.v1.OfferResult;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * A connection to a Handoff server for one device of one user, with a local replica of each
 * document it follows.
 *
 * <pre>{@code
 * HandoffClient client = HandoffClient.builder()
 *     .url(URI.create("ws://localhost:8080/ws"))
 *     .tokenSource(auth::freshAccessToken) // CompletionStage<String>, e.g. POST /v1/token
 *     .listener(new HandoffListener() {
 *       public void onChange(DocumentChange change) { ... }
 *     })
 *     .build();
 * client.connect();
 * client.document("player").set("position", bytes).thenAccept(v -> ...);
 * }</pre>
 *
 * <p>Lifecycle: {@link #connect()} starts connecting; the client then stays connected by itself,
 * reconnecting with exponential backoff and resuming from its replicas' versions, until the server
 * closes with a terminal code (but for a {@code REPLACED} whose Disconnect names this client's own
 * instance: an attempt of its own, left before its 101, set up by the node after the next one; the
 * client reconnects after it) (or refuses the Hello with an Error: then a {@link HandoffException}
 * with its error code; or the client cannot use the access token, or is welcomed as another user or
 * device: then it stops by itself under close code {@code 4502 UNAUTHORIZED}, as for the server's
 * terminal close) or {@link #close()} is called. Given several URLs ({@link Builder#urls}), it
 * moves to the next one after each failed attempt or lost connection. After a terminal code the
 * client is {@link ConnectionState#CLOSED}, keeps its replicas and may be {@link #connect()
 * connected} again (e.g. with a fresh token), also from the listener that hears of the CLOSED
 * state: the writes and the {@code connect()} future that the terminal code failed are those made
 * before it, not the ones the listener makes; after {@link #close()} it is finished.
 *
 * <p>Threading: a client lives on one Netty event loop, chosen when it is built. All its state
 * changes there; every future it returns is completed there and every listener is called there, so
 * callbacks must not block. All public methods are safe to call from any thread; methods that
 * change something hand the work to the event loop. Many clients can share one {@link
 * EventLoopGroup} ({@link Builder#eventLoopGroup}); a client has no thread of its own.
 */
public final class HandoffClient implements AutoCloseable {

  /** Default first reconnect delay ceiling. */
  public static final Duration DEFAULT_RECONNECT_INITIAL = Duration.ofMillis(100);

  /** Default largest reconnect delay. */
  public static final Duration DEFAULT_RECONNECT_MAX = Duration.ofSeconds(30);

  /**
   * Default largest delay before reconnecting after the server closed because its store was
   * unavailable, and before re-sending a write answered {@code UNAVAILABLE} or {@code
   * OUTCOME_UNKNOWN}.
   */
  public static final Duration DEFAULT_UNAVAILABLE_BACKOFF_MAX = Duration.ofSeconds(2);

  /**
   * Default bound on the bytes held by writes not yet acked (16 MiB): each write counts its encoded
   * document name and operations plus a fixed {@value WriteQueue#PER_WRITE_OVERHEAD_BYTES} bytes.
   */
  public static final long DEFAULT_MAX_UNACKED_WRITE_BYTES = 16L * 1024 * 1024;

  /** Default number of writes sent and not yet acked. */
  public static final int DEFAULT_MAX_IN_FLIGHT_WRITES = 1_000;

  /** Default limit for the TCP connect, the WebSocket upgrade, and the wait for the Welcome. */
  public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);

  /** Default {@link Builder#heartbeatMargin}: silence past two heartbeat intervals plus this. */
  public static final Duration DEFAULT_HEARTBEAT_MARGIN = Duration.ofSeconds(5);

  /** Default client description sent in Hello. */
  public static final String DEFAULT_CLIENT_NAME = "handoff-java/0.1";

  private final ClientConfig config;
  private final ClientLoop loop;
  private final SyncEngine engine;
  private final HandoffCalls calls;

  private HandoffClient(ClientConfig config) {
    this.config = config;
    this.loop = new ClientLoop(config.eventLoopGroup);
    Backoff backoff =
        new Backoff(
            config.reconnectInitial.toNanos(),
            config.reconnectMax.toNanos(),
            () -> ThreadLocalRandom.current().nextDouble());
    this.engine =
        new SyncEngine(
            config,
            new EndpointConnector(config, loop.eventLoop()),
            loop,
            loop,
            backoff,
            System::nanoTime);
    this.calls = new HandoffCalls(engine);
  }

  /**
   * A group of {@code threads} event loops on daemon threads to share among many clients ({@link
   * Builder#eventLoopGroup}): epoll when Netty's native epoll transport is available (Linux, with
   * {@code netty-transport-native-epoll} on the class path), NIO otherwise. The caller shuts it
   * down after closing its clients.
   */
  public static EventLoopGroup newEventLoopGroup(int threads) {
    return ClientLoop.newGroup(threads);
  }

  /** A builder with every setting at its default; {@link Builder#url} is required. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Starts connecting, if not already connected or connecting. The future completes when the first
   * Welcome arrives; it fails with a {@link HandoffException} if the connection closes with a
   * terminal code first (its {@link HandoffException#closeCode()}), if the server answers the Hello
   * with an Error (its {@link HandoffException#errorCode()}), if the access token cannot be used
   * (close code {@code 4502 UNAUTHORIZED}), or if the client is closed. It does not time out by
   * itself while the client keeps retrying (use {@link CompletableFuture#orTimeout}).
   *
   * <p><b>Completing is not being caught up:</b> the snapshots and deltas the Welcome announces
   * arrive after it, so right after {@code connect().join()} a document may still hold its old
   * version (or nothing). To act on up-to-date documents, wait for {@link
   * HandoffListener#onSynced()}, which comes once the catch-up of this connection is applied, or
   * react to each {@link HandoffListener#onChange} as it comes. What the Welcome itself carries is
   * held by then: {@link #activities()}, {@link #prompts()} and {@link #presence()} are this
   * connection's from the moment it completes (and from {@code onStateChanged(CONNECTED)}), also
   * after a reconnect to another node, never what was live before it.
   */
  public CompletableFuture<Void> connect() {
    return engine.connect();
  }

  /**
   * The handle for a document; the local replica is created, empty, on first use. Cheap: the same
   * handle is returned for the same name.
   *
   * @throws IllegalArgumentException if the name is null or empty
   */
  public Document document(String name) {
    if (name == null || name.isEmpty()) {
      throw new IllegalArgumentException("document name must not be empty");
    }
    return engine.document(name);
  }

  /**
   * Follows more documents, by exact name and by prefix ({@code ""}: every document), from now on.
   * Connected, it completes once the server answered (the documents' catch-up comes after it, as
   * {@link HandoffListener#onChange}); it fails with the server's error code if refused (the follow
   * set is then as it was), with LIMIT_EXCEEDED, nothing sent, when 1,024 requests, or follows and
   * unfollows, wait for answers already, or if the client is closed or stops for good first. Not
   * connected, or if the connection ends before the answer, it changes what the next Hello carries
   * and completes; an attempt whose Hello went out already is left (at its 101, if its upgrade
   * carried it) and made again at once, carrying the new set.
   *
   * @throws IllegalArgumentException nothing sent, for a null, or a name or prefix the server
   *     refuses (as {@link Builder#followDocuments} and {@link Builder#followPrefixes}), or when
   *     the names and prefixes followed would be over the server's limit of 256 follow entries (the
   *     future fails with it when another thread's follow took the last entries meanwhile, or with
   *     the follows still waiting for their answers it would be)
   */
  public CompletableFuture<Void> follow(Collection<String> documents, Collection<String> prefixes) {
    return engine.follows.change("follow", true, documents, prefixes);
  }

  /** Follows every document of the user: {@link #follow} of the prefix {@code ""}. */
  public CompletableFuture<Void> followAll() {
    return engine.follows.change("followAll", true, List.of(), List.of(""));
  }

  /**
   * Stops following these names and prefixes, exactly as given (unfollowing {@code player} leaves a
   * prefix {@code p} that covers it; following all ends only with the prefix {@code ""}). As {@link
   * #follow}; connected, it completes once the server stopped their pushes: no Delta of a document
   * no longer followed arrives after it. The replicas and listeners of documents no longer followed
   * stay, at the version they had.
   */
  public CompletableFuture<Void> unfollow(
      Collection<String> documents, Collection<String> prefixes) {
    return engine.follows.change("unfollow", false, documents, prefixes);
  }

  // ---------------------------------------------------------------------------------------------
  // Activities, offers, presence
  // ---------------------------------------------------------------------------------------------

  /**
   * Publishes what this device is doing now (replacing its previous activity); {@code null} clears
   * it. The user's other devices see it at once and in their next Welcome. Completes with the
   * activity as stored (device id and time set by the server); fails with a {@link
   * HandoffException} ({@code PAYLOAD_TOO_LARGE}, {@code RATE_LIMITED}, ...) or when not connected.
   */
  public CompletableFuture<Activity> publishActivity(Activity activity) {
    return calls.publishActivity(activity);
  }

  /**
   * Offers {@code activity} to one device ({@code targetDevice}) or, with {@code null}, to all the
   * user's other devices, live for {@code ttl} ({@code null}: the server's default). An offer whose
   * answer is lost (its connection ended first, or the server said {@code UNAVAILABLE}) is sent
   * again with the same key once connected, within its TTL (30 s for the default) and at most five
   * times; the server answers with the offer it made, so one call makes at most one offer. Made
   * while not connected, it fails at once.
   */
  public OutgoingOffer offer(String targetDevice, Activity activity, Duration ttl) {
    return calls.offer(targetDevice, activity, ttl);
  }

  /**
   * Accepts an offer. Of all devices accepting one offer exactly one gets the {@link OfferGranted}
   * (the activity and its document's latest snapshot); the others fail with {@code
   * OFFER_WITHDRAWN}, an unknown offer with {@code OFFER_NOT_FOUND}.
   */
  public CompletableFuture<OfferGranted> accept(String offerId) {
    return calls.accept(offerId);
  }

  /** Declines an offer: it ends (DECLINED) for every target and the offerer hears of it. */
  public CompletableFuture<Void> decline(String offerId) {
    return calls.decline(offerId);
  }

  /** Cancels an offer this device made; completes with its CANCELLED result. */
  public CompletableFuture<OfferResult> cancel(String offerId) {
    return calls.cancel(offerId);
  }

  /**
   * The user's signed-in devices (id, name, platform, created, last seen, online now, and which one
   * is this device). Needs a server-issued access token; development tokens have no session.
   */
  public CompletableFuture<List<DeviceInfo>> devices() {
    return calls.devices();
  }

  /**
   * Revokes another device of the user: its refresh token dies and its sockets close on every node
   * with {@code SESSION_REVOKED}. Completes with the revoked device ids; an unknown device fails
   * with {@code UNKNOWN_DEVICE}.
   */
  public CompletableFuture<List<String>> revokeDevice(String deviceId) {
    return calls.revokeDevice(deviceId);
  }

  /** Revokes every device of the user except this one ("sign out everywhere else"). */
  public CompletableFuture<List<String>> revokeOtherDevices() {
    return calls.revokeOtherDevices();
  }

  /** Signing in the user's other devices: user codes and "is this you?" prompts. */
  public Approvals approvals() {
    return new Approvals(engine, engine.handoff);
  }

  /** The latest activity of each of the user's other devices, as last heard. */
  public Map<String, Activity> activities() {
    return Map.copyOf(engine.handoff.activities);
  }

  /** Offers addressed to this device that are live, as last heard. */
  public List<Offer> prompts() {
    return List.copyOf(engine.handoff.prompts.values());
  }

  /** The user's other devices and their presence, as last heard. */
  public Map<String, DevicePresence> presence() {
    return Map.copyOf(engine.handoff.presence);
  }

  /**
   * Drops the current connection as a network failure would: the TCP connection is reset, without a
   * close frame. The client then reconnects (after its reconnect backoff) and resumes from its
   * replicas, as after any lost connection: writes in flight are re-sent, requests in flight fail.
   * Does nothing when there is no connection or attempt. For tests and load tests of resumption.
   */
  public void dropConnection() {
    engine.dropConnection();
  }

  /**
   * Checks the connection now (say, on a network change the platform reports): sends a {@code Ping}
   * and, if its {@code Pong} does not come back within {@link Builder#heartbeatMargin} (at least 1
   * s), gives it up as dead (RECONNECTING, 1006) and reconnects at once. Only that Pong answers the
   * check: deltas the node still pushes over a link that lost the client's direction, or frames it
   * sent before the network went, do not. Does nothing when not connected or while a check waits.
   * Any thread.
   */
  public void checkConnection() {
    engine.checkConnection();
  }

  /**
   * How many times this client has sent a write again with its original sequence number: after a
   * lost connection, an unknown outcome, or a refusal that may succeed later. The server applies
   * each write once however often it is sent. Any thread.
   */
  public long writesResent() {
    return engine.writesResent();
  }

  /** The current connection state. */
  public ConnectionState state() {
    return engine.state();
  }

  /** The device id from the last Welcome, or {@code null} before the first one. */
  public String deviceId() {
    return engine.deviceId();
  }

  /** The user id from the last Welcome, or {@code null} before the first one. */
  public String userId() {
    return engine.userId();
  }

  /** The last version applied to the local replica of a document; 0 if there is none. */
  public long lastVersion(String document) {
    return engine.lastVersion(document);
  }

  /**
   * Closes the connection (normal closure, 1000), stops reconnecting, fails every pending write and
   * an incomplete {@link #connect()} future with a {@link HandoffException}, and moves to {@link
   * ConnectionState#CLOSED}. That {@code onStateChanged(CLOSED)} is the last call any listener of
   * the client gets, even when a listener calls {@code close()} in the middle of handling a frame
   * (a Welcome, say): what the client had still to tell about it is dropped. If the client created
   * its own event loop group, it is shut down; a group given to the builder is left running.
   * Idempotent. When called from a thread other than the client's event loop, waits (a few seconds
   * at most) until the close frame has been sent.
   */
  @Override
  public void close() {
    loop.close(engine::close);
  }

  /** The event loop this client lives on. */
  EventLoop eventLoop() {
    return loop.eventLoop();
  }

  @Override
  public String toString() {
    return "HandoffClient" + config + " " + engine.state();
  }

  /**
   * Settings of a {@link HandoffClient}. Every setter validates its argument and throws {@link
   * IllegalArgumentException} naming the setting. Not thread-safe; {@link #build()} copies the
   * settings, so a builder can be reused.
   */
  public static final class Builder {
    final List<URI> urls = new ArrayList<>();
    Supplier<String> tokenSupplier;
    Supplier<? extends CompletionStage<String>> tokenSource;
    // Whether a refused token may be followed by a good one (a supplier or source, not a fixed
    // one).
    boolean renewableToken;
    final FollowSet follow = new FollowSet();
    EventLoopGroup eventLoopGroup;
    InetSocketAddress localAddress;
    Duration reconnectInitial = DEFAULT_RECONNECT_INITIAL;
    Duration reconnectMax = DEFAULT_RECONNECT_MAX;
    Duration unavailableBackoffMax = DEFAULT_UNAVAILABLE_BACKOFF_MAX;
    long maxUnackedWriteBytes = DEFAULT_MAX_UNACKED_WRITE_BYTES;
    int maxInFlightWrites = DEFAULT_MAX_IN_FLIGHT_WRITES;
    Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
    Duration heartbeatMargin = DEFAULT_HEARTBEAT_MARGIN;
    String clientName = DEFAULT_CLIENT_NAME;
    final List<HandoffListener> listeners = new ArrayList<>();
    final List<OfferListener> offerListeners = new ArrayList<>();
    final List<PresenceListener> presenceListeners = new ArrayList<>();
    final List<ApprovalListener> approvalListeners = new ArrayList<>();

    private Builder() {}

    /** Adds a listener for activities and offer prompts. */
    public Builder offerListener(OfferListener listener) {
      check(listener != null, "offerListener must not be null");
      offerListeners.add(listener);
      return this;
    }

    /** Adds a listener for "is this you?" prompts of the user's new devices. */
    public Builder approvalListener(ApprovalListener listener) {
      check(listener != null, "approvalListener must not be null");
      approvalListeners.add(listener);
      return this;
    }

    /** Adds a listener for the presence of the user's other devices. */
    public Builder presenceListener(PresenceListener listener) {
      check(listener != null, "presenceListener must not be null");
      presenceListeners.add(listener);
      return this;
    }

    /**
     * The server's WebSocket endpoint, {@code ws://host:port/ws} or {@code wss://...}. This or
     * {@link #urls} is required; replaces earlier endpoints.
     */
    public Builder url(URI url) {
      return urls(List.of(checkUrl(url)));
    }

    /**
     * Several endpoints of one deployment (nodes, regions, or fallback hosts), each {@code
     * ws://host:port/ws} or {@code wss://...}; replaces earlier endpoints. The client connects to
     * the first, and after each failed attempt or lost connection moves to the next one (after the
     * last, the first again), with the reconnect backoff in between. To spread many devices over
     * the endpoints, give each device the list in a different order (e.g. rotated or shuffled).
     */
    public Builder urls(List<URI> urls) {
      List<URI> checked = checkUrls(urls);
      this.urls.clear();
      this.urls.addAll(checked);
      return this;
    }

    /**
     * A fixed access token, sent as {@code Authorization: Bearer <token>} on every upgrade.
     *
     * @throws IllegalArgumentException if it is empty or holds a character an HTTP header cannot
     *     carry (a line break, a space, a control or non-ASCII character)
     */
    public Builder token(String token) {
      check(token != null && !token.isEmpty(), "token must not be empty");
      Handshake.checkToken(token);
      this.tokenSupplier = () -> token;
      this.tokenSource = null;
      this.renewableToken = false;
      return this;
    }

    /**
     * Supplies the access token; called on the event loop before every connection attempt and when
     * the server announces that the connection's token expires soon (TokenExpiring), so it must
     * return quickly: a cached token that the application keeps fresh (e.g. renewed through {@code
     * POST /v1/token} in the background). On TokenExpiring the client sends the supplied token in
     * band (RefreshToken) and the connection continues without reconnecting; if the server still
     * reaches the expiry, it closes with TOKEN_EXPIRED (4003) and the client reconnects, asking the
     * supplier again; an upgrade refused with 401 or 403 is tried again the same way, after the
     * reconnect backoff (a fixed {@link #token} stops the client instead). If it throws, the
     * attempt counts as failed and the client retries with backoff. A null result sends no
     * Authorization header. A token that can never be sent (empty, or holding a character an HTTP
     * header cannot carry) stops the client at once, as a terminal close code would: {@link
     * HandoffListener#onError} and the {@link #connect} future get a {@link HandoffException} with
     * close code {@code 4502 UNAUTHORIZED}, and the client is CLOSED (as the TypeScript client).
     */
    public Builder tokenSupplier(Supplier<String> tokenSupplier) {
      check(tokenSupplier != null, "tokenSupplier must not be null");
      this.tokenSupplier = tokenSupplier;
      this.tokenSource = null;
      this.renewableToken = true;
      return this;
    }

    /**
     * Supplies access tokens asynchronously, e.g. by calling {@code POST /v1/token} with the
     * device's refresh token: called before every connection attempt (which waits for the token)
     * and when the server announces that the connection's token expires soon (the token is then
     * sent in band, and the connection continues). The stage may complete on any thread. A failed
     * stage, or one that does not complete within the {@link #connectTimeout}, fails the attempt,
     * which is retried with backoff (a stage completing later is ignored). A token that can never
     * be sent stops the client as for {@link #tokenSupplier}. Replaces {@link #token} and {@link
     * #tokenSupplier}. Every token must be for the same user and device: a client welcomed as
     * another stops ({@code 4502 UNAUTHORIZED}) and fails what it holds rather than send it under
     * the new identity.
     */
    public Builder tokenSource(Supplier<? extends CompletionStage<String>> tokenSource) {
      check(tokenSource != null, "tokenSource must not be null");
      this.tokenSource = tokenSource;
      this.tokenSupplier = null;
      this.renewableToken = true;
      return this;
    }

    /** Follows all of the user's documents (the default). Clears documents and prefixes. */
    public Builder followAll() {
      follow.followAll();
      return this;
    }

    /**
     * Follows these documents by exact name (in addition to earlier {@code followDocuments} and
     * {@code followPrefixes} calls). With no names and no prefixes, the client follows nothing and
     * only writes.
     *
     * @throws IllegalArgumentException for a name the server refuses (empty, over 256 UTF-8 bytes,
     *     or with control characters), or when the names and prefixes followed would be over the
     *     server's limit of 256 follow entries
     */
    public Builder followDocuments(String... names) {
      follow.addDocuments(names);
      return this;
    }

    /**
     * Follows every document whose name starts with one of these prefixes ({@code ""}: every
     * document).
     *
     * @throws IllegalArgumentException for a prefix the server refuses (over 256 UTF-8 bytes, or
     *     with control characters: a prefix follows the rule of document names, but may be empty or
     *     a partial name), or when the names and prefixes followed would be over the server's limit
     *     of 256 follow entries
     */
    public Builder followPrefixes(String... prefixes) {
      follow.addPrefixes(prefixes);
      return this;
    }

    /**
     * A shared event loop group, NIO or epoll (see {@link HandoffClient#newEventLoopGroup}): the
     * client picks one of its loops and lives there. {@link HandoffClient#close()} does not shut it
     * down. Without one, each client creates a group with one daemon thread (epoll when available).
     */
    public Builder eventLoopGroup(EventLoopGroup group) {
      check(group != null, "eventLoopGroup must not be null");
      check(
          ClientLoop.canLiveOn(group),
          "eventLoopGroup must be a NIO or epoll group (MultiThreadIoEventLoopGroup with"
              + " NioIoHandler or EpollIoHandler)");
      this.eventLoopGroup = group;
      return this;
    }

    /** The local address to connect from (port 0: any), e.g. to spread load-test connections. */
    public Builder localAddress(InetSocketAddress localAddress) {
      check(localAddress != null, "localAddress must not be null");
      this.localAddress = localAddress;
      return this;
    }

    /**
     * Reconnect delays: the n-th consecutive reconnect waits a random time in {@code [0, min(max,
     * initial * 2^n))}; the count starts over when a welcomed connection ends after lasting at
     * least 10 s, not after a shorter one (a node that drops each connection right after its
     * Welcome is not called back at the shortest delay for ever). The same delays space re-sends of
     * a write the server refused with a retryable error. After a close because the store was
     * unavailable, or an upgrade refused with 503, the ceiling is lower ({@link
     * #unavailableBackoffMax}). After an upgrade refused with 429 or 503 and a {@code Retry-After}
     * (in seconds), the wait is at least that (taken as at most 60 s) plus a random extra of up to
     * half of it. Both at most 2,147,483,647 ms, as every delay of this builder and of the
     * TypeScript client's options.
     */
    public Builder reconnectBackoff(Duration initial, Duration max) {
      checkDelay(initial, Duration.ofNanos(1), "reconnectBackoff initial must be > 0 and " + UP_TO);
      checkDelay(max, initial, "reconnectBackoff max must be >= initial and " + UP_TO);
      this.reconnectInitial = initial;
      this.reconnectMax = max;
      return this;
    }

    /**
     * The largest delay before reconnecting after the server closed with {@code UNAVAILABLE} (4005:
     * its store was unreachable) or refused the upgrade with 503 (without a {@code Retry-After}),
     * and before re-sending a write answered {@code UNAVAILABLE} or {@code OUTCOME_UNKNOWN}: the
     * store, not this device, was the problem, so the device comes back soon after the store does.
     * Never above the reconnect backoff's max. At most 2,147,483,647 ms.
     */
    public Builder unavailableBackoffMax(Duration max) {
      checkDelay(max, Duration.ofNanos(1), "unavailableBackoffMax must be > 0 and " + UP_TO);
      this.unavailableBackoffMax = max;
      return this;
    }

    /**
     * The memory bound on writes: how many bytes the writes submitted and not yet acked (waiting to
     * be sent, in flight, or waiting to be re-sent) may hold together. Each write counts its
     * encoded document name and operations plus {@value WriteQueue#PER_WRITE_OVERHEAD_BYTES} bytes.
     * The client never gives up on a write by itself while it runs (it re-sends it, through
     * outages, until the server answers); instead, a new write that would take the total past this
     * bound fails at once with {@code LIMIT_EXCEEDED}, unsent, and earlier writes keep their place.
     */
    public Builder maxUnackedWriteBytes(long maxUnackedWriteBytes) {
      check(
          maxUnackedWriteBytes > 0,
          "maxUnackedWriteBytes must be > 0, was " + maxUnackedWriteBytes);
      this.maxUnackedWriteBytes = maxUnackedWriteBytes;
      return this;
    }

    /**
     * How many writes may be sent and not yet acked. The server's {@code max_in_flight_writes}
     * (from Welcome) lowers it if smaller.
     */
    public Builder maxInFlightWrites(int maxInFlightWrites) {
      check(maxInFlightWrites > 0, "maxInFlightWrites must be > 0, was " + maxInFlightWrites);
      this.maxInFlightWrites = maxInFlightWrites;
      return this;
    }

    /**
     * Time limit for each of: the wait for the {@link #tokenSource}'s token, the server name's
     * lookup and the TCP connect together, the WebSocket upgrade, and the wait for the Welcome
     * after the upgrade (also while the server pings: a node that holds the Welcome back is given
     * up, and the next attempt goes to the next URL). Until the Welcome states the server's
     * heartbeat interval, it is also how long the client waits on a silent connection. 1 ms to
     * 2,147,483,647 ms (its parts are counted in whole milliseconds).
     */
    public Builder connectTimeout(Duration connectTimeout) {
      checkDelay(
          connectTimeout, Duration.ofMillis(1), "connectTimeout must be >= 1 ms and " + UP_TO);
      this.connectTimeout = connectTimeout;
      return this;
    }

    /**
     * How long past two of the server's heartbeat intervals (its Welcome states the interval) a
     * connection may stay silent before the client gives it up ({@code 4002 IDLE_TIMEOUT}) and
     * reconnects: room for a round trip and a late timer. Default 5 s (55 s with the server's
     * default interval), as the TypeScript client's {@code heartbeatMarginMs}; 0 to 2,147,483,647
     * ms.
     */
    public Builder heartbeatMargin(Duration margin) {
      checkDelay(margin, Duration.ZERO, "heartbeatMargin must be >= 0 and " + UP_TO);
      this.heartbeatMargin = margin;
      return this;
    }

    /** Free text sent in Hello for the server's logs and metrics. */
    public Builder clientName(String clientName) {
      check(clientName != null, "clientName must not be null");
      this.clientName = clientName;
      return this;
    }

    /** Adds a listener; listeners are called in the order they were added. */
    public Builder listener(HandoffListener listener) {
      check(listener != null, "listener must not be null");
      listeners.add(listener);
      return this;
    }

    /**
     * Builds the client (not yet connected). Without a shared {@link #eventLoopGroup}, this starts
     * the client's own event loop thread.
     */
    public HandoffClient build() {
      check(!urls.isEmpty(), "url is required");
      return new HandoffClient(new ClientConfig(this));
    }

    @Override
    public String toString() {
      return "HandoffClient.Builder" + new ClientConfig(this);
    }
  }
}
