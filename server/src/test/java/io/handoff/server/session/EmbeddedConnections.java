package io.handoff.server.session;

import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.AccessTokenVerifier;
import io.handoff.server.auth.AccessTokens;
import io.handoff.server.auth.Hs256TokenVerifier;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.SigningKeys;
import io.handoff.server.devices.DeviceSessions;
import io.handoff.server.engine.ResumeStore;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.handoff.HandoffService;
import io.handoff.server.transport.ConnectionHandler;
import io.handoff.server.transport.FrameCodec;
import io.handoff.server.transport.FrameCodecTest;
import io.handoff.server.transport.HttpRequestHandler;
import io.handoff.server.transport.Link;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.util.ReferenceCountUtil;
import java.time.Clock;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * A device's connection on an embedded channel: the node's codec and session handler after the
 * upgrade, whose loop runs its tasks only when the test says so. Also what such connections are
 * served by ({@link #sessions}), and a connection with no channel at all ({@link StubLink}).
 */
final class EmbeddedConnections {
  private EmbeddedConnections() {}

  /** A connection of {@code device} of {@code user}, upgraded, on {@code sessions}. */
  static EmbeddedChannel upgraded(
      String user, String device, ServerConfig config, ServerStats stats, Sessions sessions) {
    EmbeddedChannel ch = new EmbeddedChannel();
    serve(ch, user, device, config, stats, sessions);
    ch.pipeline()
        .fireUserEventTriggered(
            new WebSocketServerProtocolHandler.HandshakeComplete(
                "/ws", EmptyHttpHeaders.INSTANCE, null));
    return ch;
  }

  /**
   * Makes {@code ch} a connection of {@code device} of {@code user}, authenticated for an hour: the
   * node's codec and session handler on {@code sessions}, before the upgrade completes.
   */
  static void serve(
      Channel ch,
      String user,
      String device,
      ServerConfig config,
      ServerStats stats,
      Sessions sessions) {
    ch.attr(HttpRequestHandler.PRINCIPAL)
        .set(new Principal(user, device, System.currentTimeMillis() + 3_600_000));
    ch.pipeline()
        .addLast("codec", FrameCodec.INSTANCE)
        .addLast(
            "session", new ConnectionHandler(config, stats, Scheduler.system(), sessions.get()));
  }

  /**
   * The node's sessions on the memory {@code engine}, with access tokens of an ephemeral key and
   * device sessions of node {@code node}, reading resumes from {@code resumes}.
   */
  static Sessions sessions(
      ServerConfig config,
      ServerStats stats,
      MemoryEngine engine,
      ResumeStore resumes,
      Hub hub,
      HandoffService handoff,
      QueueBudget budget,
      String node) {
    AccessTokens access =
        new AccessTokens(
            SigningKeys.ephemeral(),
            config.tokens().issuer(),
            config.tokens().accessTokenTtl(),
            config.clockSkew(),
            Clock.systemUTC());
    return new Sessions(
        config,
        stats,
        Scheduler.system(),
        hub,
        engine.store(),
        resumes,
        handoff,
        new DeviceSessions(
            config.tokens(), null, access, engine, node, 64, stats, Clock.systemUTC()),
        new AccessTokenVerifier(
            access,
            new Hs256TokenVerifier(config.jwtSecret(), config.clockSkew(), Clock.systemUTC())),
        budget);
  }

  /**
   * Reads what the node wrote: each frame to {@code frames}, a close frame's code to {@code
   * closes}.
   */
  static void read(EmbeddedChannel ch, Consumer<ServerFrame> frames, IntConsumer closes)
      throws InvalidProtocolBufferException {
    Object out;
    while ((out = ch.readOutbound()) != null) {
      try {
        ByteBuf payload =
            out instanceof BinaryWebSocketFrame b
                ? b.content()
                : out instanceof ByteBuf raw ? FrameCodecTest.payload(raw) : null;
        if (payload != null) {
          frames.accept(ServerFrame.parseFrom(ByteBufUtil.getBytes(payload)));
        } else if (out instanceof CloseWebSocketFrame c) {
          closes.accept(c.statusCode());
        }
      } finally {
        ReferenceCountUtil.release(out);
      }
    }
  }

  /**
   * A connection of {@code user}'s device with no socket behind it: it drops what it is written,
   * has no bytes queued and takes writes while {@link #writable}. Tests override what they watch.
   */
  static class StubLink implements Link {
    final EventLoop loop;
    private final String device;
    volatile boolean writable = true;

    StubLink(EventLoop loop, String device) {
      this.loop = loop;
      this.device = device;
    }

    @Override
    public Principal principal() {
      return new Principal("user", device, Long.MAX_VALUE);
    }

    @Override
    public String remoteAddress() {
      return "unknown";
    }

    @Override
    public EventLoop eventLoop() {
      return loop;
    }

    @Override
    public void write(Object frame) {}

    @Override
    public void flush() {}

    @Override
    public boolean isWritable() {
      return writable;
    }

    @Override
    public long pendingOutboundBytes() {
      return 0;
    }

    @Override
    public void established() {}

    @Override
    public void stopReading() {}

    @Override
    public void close(CloseCode code, String reason, long replacedBy) {}
  }
}
