import com.google.protobuf.InvalidProtocolBufferException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.crypto.MACVerifier;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Pong;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.SyncReport;
import io.handoff.protocol.v1.Welcome;
import io.handoff.protocol.v1.Write;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.metrics.CommandLatencyRecorder;
import io.lettuce.core.protocol.ProtocolVersion;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.lettuce.core.resource.EventLoopGroupProvider;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketDecoderConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshaker;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshakerFactory;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ImmediateEventExecutor;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Date;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The least a node of a two-node deployment must do to speak Handoff's protocol v1 to Handoff's
 * own load tester in its {@code fanout} scenario, with the nodes sharing one Redis: the measuring
 * stick for two nodes, as the bare Netty forwarder is for one. It is that forwarder with the
 * version counter and the fan-out moved to Redis, and nothing more: no history, no idempotency, no
 * persistence beyond the counter, no metrics, no limits, no heartbeats, no resume.
 *
 * <ul>
 *   <li>Upgrade at {@code /ws} with an HS256 JWT, {@code Hello} -> {@code Welcome}, {@code Ping}
 *       -> {@code Pong}, as the bare forwarder. The Welcome waits until the node subscribes the
 *       user's channel, so no delta published after it is missed.
 *   <li>{@code Write} -> one script call: {@code HINCRBY} of the (user, document) counter and the
 *       {@code PUBLISH} of the version and the Delta (without its version) on the user's channel.
 *       The script's answer (the version) becomes the writer's {@code Ack}.
 *   <li>A message on a user's channel: its Delta, with the version set, encoded once and handed to
 *       each of the user's devices on this node but the writer, as one task on the device's loop.
 * </ul>
 *
 * Redis I/O as cheap as this stack allows, as Handoff's nodes do it: one RESP3 connection (which
 * carries commands and subscriptions both) registered with the node's own event loop, so with one
 * worker loop ({@code --workers 1}, the default here, as each node gets in the two-node benchmark)
 * a write's script, its answer, the published copy and the pushes never leave that thread. With
 * more workers the connection is on the first of them. Transport as the bare forwarder's.
 */
public final class BareRedisServer {
  static final int MAX_FRAME_BYTES = 512 * 1024;
  static final int MAX_IN_FLIGHT = 1000;
  static final long EPOCH = 0x5eed_0000_0000_0001L;
  static final String SCRIPT =
      "local v = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)\n"
          + "redis.call('PUBLISH', KEYS[2], v .. '|' .. ARGV[2])\n"
          + "return v\n";

  static String nodeId = "bare-redis";

  public static void main(String[] args) throws Exception {
    String host = "127.0.0.1";
    int port = 23010;
    String secret = System.getenv("HANDOFF_JWT_SECRET");
    String redisUrl = null;
    int workerThreads = 1;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      boolean inline = a.contains("=");
      String k = inline ? a.substring(0, a.indexOf('=')) : a;
      String v = inline ? a.substring(a.indexOf('=') + 1) : (i + 1 < args.length ? args[i + 1] : null);
      switch (k) {
        case "--host" -> host = v;
        case "--port" -> port = Integer.parseInt(v);
        case "--jwt-secret" -> secret = v;
        case "--workers" -> workerThreads = Integer.parseInt(v);
        case "--redis-url" -> redisUrl = v;
        case "--node-id" -> nodeId = v;
        default -> throw new IllegalArgumentException("unknown option " + a);
      }
      if (!inline) {
        i++;
      }
    }
    if (secret == null || secret.length() < 32) {
      throw new IllegalArgumentException("--jwt-secret of at least 32 bytes is required");
    }
    if (redisUrl == null) {
      throw new IllegalArgumentException("--redis-url redis://HOST:PORT is required");
    }
    if (workerThreads < 1) {
      throw new IllegalArgumentException("--workers must be at least 1");
    }
    boolean epoll = Epoll.isAvailable();
    IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
    Class<? extends ServerChannel> channelType =
        epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, io);
    EventLoopGroup workers = new MultiThreadIoEventLoopGroup(workerThreads, io);
    EventLoop redisLoop = (EventLoop) workers.iterator().next();

    ClientResources resources =
        DefaultClientResources.builder()
            .eventLoopGroupProvider(new OneLoop(redisLoop))
            .commandLatencyRecorder(CommandLatencyRecorder.disabled())
            .build();
    RedisClient client = RedisClient.create(resources, RedisURI.create(redisUrl));
    client.setOptions(ClientOptions.builder().protocolVersion(ProtocolVersion.RESP3).build());
    StatefulRedisPubSubConnection<byte[], byte[]> redis = client.connectPubSub(ByteArrayCodec.INSTANCE);
    String sha = redis.sync().scriptLoad(SCRIPT.getBytes(StandardCharsets.UTF_8));
    Registry registry = new Registry(redis, sha);
    redis.addListener(
        new RedisPubSubAdapter<>() {
          @Override
          public void message(byte[] channel, byte[] message) {
            registry.onMessage(channel, message);
          }
        });

    Upgrade upgrade = new Upgrade(new MACVerifier(secret.getBytes(StandardCharsets.UTF_8)), registry);
    ServerBootstrap b =
        new ServerBootstrap()
            .group(boss, workers)
            .channel(channelType)
            .option(ChannelOption.SO_BACKLOG, 4096)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childOption(
                ChannelOption.WRITE_BUFFER_WATER_MARK,
                new WriteBufferWaterMark(32 * 1024, 256 * 1024))
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    ChannelPipeline p = ch.pipeline();
                    p.addLast("http", new HttpServerCodec(4096, 8192, 8192));
                    p.addLast("agg", new HttpObjectAggregator(8192));
                    p.addLast("upgrade", upgrade);
                  }
                });
    Channel server = b.bind(new InetSocketAddress(host, port)).sync().channel();
    System.out.printf(
        "{\"event\":\"listening\",\"host\":\"%s\",\"port\":%d,\"pid\":%d,\"transport\":\"%s\",\"workers\":%d,\"redis\":\"%s\"}%n",
        host, port, ProcessHandle.current().pid(), epoll ? "epoll" : "nio", workerThreads, redisUrl);
    System.out.flush();
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  server.close().awaitUninterruptibly(1000);
                  redis.close();
                  client.shutdown(0, 2, TimeUnit.SECONDS);
                  resources.shutdown(0, 2, TimeUnit.SECONDS);
                  boss.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
                  workers.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).awaitUninterruptibly(2000);
                }));
    server.closeFuture().sync();
  }

  /** HTTP until the upgrade: health check, token check, WebSocket handshake. Shared. */
  @Sharable
  static final class Upgrade extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final MACVerifier verifier;
    private final Registry registry;
    private final WebSocketServerHandshakerFactory factory;

    Upgrade(MACVerifier verifier, Registry registry) {
      this.verifier = verifier;
      this.registry = registry;
      this.factory =
          new WebSocketServerHandshakerFactory(
              "ws://localhost/ws",
              null,
              WebSocketDecoderConfig.newBuilder()
                  .maxFramePayloadLength(MAX_FRAME_BYTES)
                  .allowExtensions(false)
                  .withUTF8Validator(false)
                  .build());
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      QueryStringDecoder q = new QueryStringDecoder(req.uri());
      String path = q.path();
      if (path.equals("/healthz")) {
        respond(ctx, HttpResponseStatus.OK, "ok\n");
        return;
      }
      if (!path.equals("/ws")) {
        respond(ctx, HttpResponseStatus.NOT_FOUND, "not found\n");
        return;
      }
      String token = null;
      String auth = req.headers().get(HttpHeaderNames.AUTHORIZATION);
      if (auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
        token = auth.substring(7).trim();
      } else {
        List<String> t = q.parameters().get("access_token");
        if (t != null && !t.isEmpty()) {
          token = t.get(0);
        }
      }
      String[] who = verify(token);
      if (who == null) {
        FullHttpResponse r =
            new DefaultFullHttpResponse(
                HttpVersion.HTTP_1_1,
                HttpResponseStatus.UNAUTHORIZED,
                Unpooled.copiedBuffer("{\"error\":\"unauthorized\"}", StandardCharsets.UTF_8));
        r.headers()
            .set(HttpHeaderNames.WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")
            .set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
        return;
      }
      WebSocketServerHandshaker hs = factory.newHandshaker(req);
      if (hs == null) {
        WebSocketServerHandshakerFactory.sendUnsupportedVersionResponse(ctx.channel());
        return;
      }
      // The handshake swaps the HTTP codec and aggregator for WebSocket frame codecs.
      ctx.pipeline().replace(this, "session", new Session(registry, who[0], who[1]));
      hs.handshake(ctx.channel(), req)
          .addListener(
              f -> {
                if (!f.isSuccess()) {
                  ctx.channel().close();
                }
              });
    }

    /** {sub, did}, or null when the token is missing, malformed, wrongly signed or expired. */
    private String[] verify(String token) {
      if (token == null || token.isEmpty()) {
        return null;
      }
      try {
        SignedJWT jwt = SignedJWT.parse(token);
        if (!JWSAlgorithm.HS256.equals(jwt.getHeader().getAlgorithm()) || !jwt.verify(verifier)) {
          return null;
        }
        JWTClaimsSet c = jwt.getJWTClaimsSet();
        String sub = c.getSubject();
        Object did = c.getClaim("did");
        Date exp = c.getExpirationTime();
        Date nbf = c.getNotBeforeTime();
        long now = System.currentTimeMillis();
        if (sub == null
            || sub.isEmpty()
            || !(did instanceof String d)
            || d.isEmpty()
            || exp == null
            || exp.getTime() + 30_000 < now
            || (nbf != null && nbf.getTime() - 30_000 > now)) {
          return null;
        }
        return new String[] {sub, d};
      } catch (Exception e) {
        return null;
      }
    }

    private static void respond(ChannelHandlerContext ctx, HttpResponseStatus status, String body) {
      FullHttpResponse r =
          new DefaultFullHttpResponse(
              HttpVersion.HTTP_1_1, status, Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
      r.headers().set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
      ctx.writeAndFlush(r);
    }
  }

  /** Every user with a device on this node since the start (state is never dropped). */
  static final class Registry {
    private final ConcurrentHashMap<String, UserState> users = new ConcurrentHashMap<>();
    private final StatefulRedisPubSubConnection<byte[], byte[]> redis;
    private final String sha;

    Registry(StatefulRedisPubSubConnection<byte[], byte[]> redis, String sha) {
      this.redis = redis;
      this.sha = sha;
    }

    /** Adds {@code s} to its user; completes once the node subscribes the user's channel. */
    CompletableFuture<Void> join(String userId, Session s) {
      UserState u =
          users.computeIfAbsent(
              userId,
              id -> {
                UserState made = new UserState(id);
                made.subscribed =
                    redis.async().subscribe(made.channel).toCompletableFuture().thenApply(x -> null);
                return made;
              });
      u.add(s);
      s.user = u;
      return u.subscribed;
    }

    /** One write: the script bumps the counter and publishes; its answer acks the writer. */
    void write(Session from, long requestId, Write w) {
      String doc = w.getDocument();
      byte[] delta =
          Delta.newBuilder()
              .setDocument(doc)
              .setEpoch(EPOCH)
              .addAllOps(w.getOpsList())
              .setOriginDevice(from.deviceId)
              .setOriginSeq(w.getClientSeq())
              .setTimestampMs(System.currentTimeMillis())
              .build()
              .toByteArray();
      UserState u = from.user;
      redis
          .async()
          .<Long>evalsha(
              sha,
              ScriptOutputType.INTEGER,
              new byte[][] {u.counters, u.channel},
              doc.getBytes(StandardCharsets.UTF_8),
              delta)
          .thenAccept(
              version -> {
                byte[] ack =
                    ServerFrame.newBuilder()
                        .setRequestId(requestId)
                        .setAck(
                            Ack.newBuilder()
                                .setDocument(doc)
                                .setClientSeq(w.getClientSeq())
                                .setEpoch(EPOCH)
                                .setVersion(version))
                        .build()
                        .toByteArray();
                from.push(ack);
              });
    }

    /** A delta published on a user's channel: pushed to the user's devices here but its writer. */
    void onMessage(byte[] channel, byte[] message) {
      UserState u = users.get(new String(channel, 7, channel.length - 7, StandardCharsets.UTF_8));
      if (u == null) {
        return;
      }
      int bar = 0;
      long version = 0;
      while (message[bar] != '|') {
        version = version * 10 + (message[bar++] - '0');
      }
      Delta delta;
      try {
        delta = Delta.parseFrom(Arrays.copyOfRange(message, bar + 1, message.length));
      } catch (InvalidProtocolBufferException e) {
        return;
      }
      byte[] push =
          ServerFrame.newBuilder()
              .setDelta(delta.toBuilder().setVersion(version))
              .build()
              .toByteArray();
      u.deliver(delta.getOriginDevice(), push);
    }
  }

  /** One user on this node: its connected devices, under its monitor. */
  static final class UserState {
    final byte[] channel;
    final byte[] counters;
    CompletableFuture<Void> subscribed;
    private Session[] sessions = new Session[0];

    UserState(String userId) {
      this.channel = ("bare:u:" + userId).getBytes(StandardCharsets.UTF_8);
      this.counters = ("bare:v:{" + userId + "}").getBytes(StandardCharsets.UTF_8);
    }

    synchronized void add(Session s) {
      for (int i = 0; i < sessions.length; i++) {
        if (sessions[i].deviceId.equals(s.deviceId)) {
          Session old = sessions[i];
          sessions[i] = s;
          old.ch.close(); // A newer connection of the same device replaces the old one.
          return;
        }
      }
      sessions = Arrays.copyOf(sessions, sessions.length + 1);
      sessions[sessions.length - 1] = s;
    }

    synchronized void remove(Session s) {
      for (int i = 0; i < sessions.length; i++) {
        if (sessions[i] == s) {
          Session[] next = new Session[sessions.length - 1];
          System.arraycopy(sessions, 0, next, 0, i);
          System.arraycopy(sessions, i + 1, next, i, sessions.length - i - 1);
          sessions = next;
          return;
        }
      }
    }

    synchronized void deliver(String originDevice, byte[] push) {
      for (Session s : sessions) {
        if (!s.deviceId.equals(originDevice)) {
          s.push(push);
        }
      }
    }
  }

  /** One frame for one device: written and flushed on that device's event loop. */
  static final class Push implements Runnable {
    private final Channel ch;
    private final byte[] frame;

    Push(Channel ch, byte[] frame) {
      this.ch = ch;
      this.frame = frame;
    }

    @Override
    public void run() {
      ch.writeAndFlush(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(frame)), ch.voidPromise());
    }
  }

  /** One device's connection after the upgrade. */
  static final class Session extends ChannelInboundHandlerAdapter {
    final Registry registry;
    final String userId;
    final String deviceId;
    Channel ch;
    UserState user;
    boolean welcomed;

    Session(Registry registry, String userId, String deviceId) {
      this.registry = registry;
      this.userId = userId;
      this.deviceId = deviceId;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      ch = ctx.channel();
    }

    void push(byte[] frame) {
      ch.eventLoop().execute(new Push(ch, frame));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof BinaryWebSocketFrame f) {
        ClientFrame frame;
        try {
          frame = ClientFrame.parseFrom(f.content().nioBuffer());
        } catch (InvalidProtocolBufferException e) {
          close(ctx, 1002, "malformed frame");
          return;
        } finally {
          f.release();
        }
        onFrame(ctx, frame);
      } else if (msg instanceof PingWebSocketFrame ping) {
        ctx.writeAndFlush(new PongWebSocketFrame(ping.content()));
      } else if (msg instanceof CloseWebSocketFrame close) {
        ctx.writeAndFlush(close).addListener(ChannelFutureListener.CLOSE);
      } else if (msg instanceof PongWebSocketFrame) {
        ReferenceCountUtil.release(msg);
      } else {
        ReferenceCountUtil.release(msg);
        close(ctx, 1003, "binary protobuf frames only");
      }
    }

    private void onFrame(ChannelHandlerContext ctx, ClientFrame frame) {
      long id = frame.getRequestId();
      switch (frame.getBodyCase()) {
        case HELLO -> {
          if (user != null) {
            error(ctx, id, ErrorCode.UNEXPECTED_FRAME, "Hello was already sent");
            return;
          }
          Welcome welcome =
              Welcome.newBuilder()
                  .setUserId(userId)
                  .setDeviceId(deviceId)
                  .setNodeId(nodeId)
                  .setMaxFrameBytes(MAX_FRAME_BYTES)
                  .setMaxInFlightWrites(MAX_IN_FLIGHT)
                  .setSync(SyncReport.getDefaultInstance())
                  .build();
          byte[] encoded = ServerFrame.newBuilder().setRequestId(id).setWelcome(welcome).build().toByteArray();
          // The Welcome goes out once the user's channel is subscribed here: every delta
          // published after the device was told it is connected reaches it.
          registry
              .join(userId, this)
              .thenRun(
                  () ->
                      ch.eventLoop()
                          .execute(
                              () -> {
                                welcomed = true;
                                ch.writeAndFlush(
                                    new BinaryWebSocketFrame(Unpooled.wrappedBuffer(encoded)),
                                    ch.voidPromise());
                              }));
        }
        case WRITE -> {
          if (!welcomed) {
            error(ctx, id, ErrorCode.UNEXPECTED_FRAME, "send Hello first and wait for Welcome");
            return;
          }
          registry.write(this, id, frame.getWrite());
        }
        case PING ->
            send(
                ctx,
                ServerFrame.newBuilder()
                    .setRequestId(id)
                    .setPong(
                        Pong.newBuilder()
                            .setNonce(frame.getPing().getNonce())
                            .setServerTimeMs(System.currentTimeMillis()))
                    .build());
        default -> error(ctx, id, ErrorCode.BAD_REQUEST, "not supported by this bare server");
      }
    }

    private static void send(ChannelHandlerContext ctx, ServerFrame f) {
      ctx.writeAndFlush(
          new BinaryWebSocketFrame(Unpooled.wrappedBuffer(f.toByteArray())), ctx.voidPromise());
    }

    private static void error(ChannelHandlerContext ctx, long id, ErrorCode code, String message) {
      send(
          ctx,
          ServerFrame.newBuilder()
              .setRequestId(id)
              .setError(Error.newBuilder().setCode(code).setMessage(message))
              .build());
    }

    private static void close(ChannelHandlerContext ctx, int code, String reason) {
      ctx.writeAndFlush(new CloseWebSocketFrame(code, reason))
          .addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (user != null) {
        user.remove(this);
      }
      ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }

  /**
   * Lettuce's source of event loops: always the node's one loop, which it must not shut down.
   */
  static final class OneLoop implements EventLoopGroupProvider {
    private final EventLoop loop;

    OneLoop(EventLoop loop) {
      this.loop = loop;
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends EventLoopGroup> T allocate(Class<T> type) {
      return (T) loop;
    }

    @Override
    public int threadPoolSize() {
      return 1;
    }

    @Override
    public Future<Boolean> release(
        EventExecutorGroup group, long quietPeriod, long timeout, TimeUnit unit) {
      return ImmediateEventExecutor.INSTANCE.newSucceededFuture(true);
    }

    @Override
    public Future<Boolean> shutdown(long quietPeriod, long timeout, TimeUnit unit) {
      return ImmediateEventExecutor.INSTANCE.newSucceededFuture(true);
    }
  }
}
