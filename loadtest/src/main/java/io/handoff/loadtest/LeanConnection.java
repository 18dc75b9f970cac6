package io.handoff.loadtest;

import io.handoff.client.internal.BoundedConnect;
import io.handoff.client.internal.ClientWire;
import io.handoff.client.internal.ClosedBy;
import io.handoff.client.internal.Handshake;
import io.handoff.client.internal.LookupResolver;
import io.handoff.client.internal.UpgradeFailedException;
import io.handoff.client.internal.WebSocketConnector;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;

/**
 * One connection attempt of a {@link LeanLink}: TCP, the WebSocket upgrade with the token as {@code
 * Authorization: Bearer}, then binary messages handed over where they were read. The upgrade and
 * the framing are the Java client's ({@link ClientWire}: pings answered, what is sent masked, close
 * frames exchanged), so the pipeline is this one handler. Remembers the first close code it learns
 * (close frame, refused upgrade, undecodable data, a cut) and reports the end once, when the
 * channel goes inactive or the lookup or the TCP connect fails (or together outlast the connect
 * timeout); failures map to close codes as in the client ({@link ClosedBy}).
 *
 * <p>Threading: every method runs on the link's event loop; the fields are the link's to read
 * there.
 */
final class LeanConnection extends ClientWire {

  /** What a connection reports; called on its event loop. */
  interface Listener {
    /** The Hello frame to send in the upgrade request, encoded (TCP is connected). */
    byte[] hello(LeanConnection c);

    /**
     * The upgrade succeeded: the Hello goes out now, unless the node read the one of the request
     * ({@code helloRead}).
     */
    void opened(LeanConnection c, boolean helloRead);

    /**
     * One binary message in {@code [from, to)} of {@code buffer}, {@code receivedNanos} when it was
     * read; the bytes are only valid during the call.
     */
    void frame(LeanConnection c, ByteBuf buffer, int from, int to, long receivedNanos);

    /** The connection ended, or never began ({@link #closeCode} and friends say why). Once. */
    void closed(LeanConnection c);
  }

  private final Listener listener;
  Channel channel;
  boolean welcomed;
  // When the Welcome arrived (the link's clock); meaningful once welcomed.
  long welcomedAtNanos;
  boolean synced;
  boolean durableAcks;
  private boolean reported;
  int closeCode;
  String closeReason;
  int disconnectCode;
  String disconnectReason;
  // The HTTP status of a refused upgrade (0 when the upgrade was not refused) and how long the
  // refusal asked to wait (its Retry-After in ms, -1 when it did not say), when that was the end.
  int refusedStatus;
  long retryAfterMillis = -1;
  // Ends the attempt if no Welcome comes in time after the 101 (WelcomeWait); null when none runs.
  ScheduledFuture<?> welcomeTimer;

  private LeanConnection(Handshake handshake, String token, int timeoutMillis, Listener listener) {
    super(handshake, token, timeoutMillis, WebSocketConnector.MAX_FRAME_BYTES);
    this.listener = listener;
  }

  /** Starts a connection attempt to {@code url} on {@code loop}. Event loop. */
  static LeanConnection open(
      URI url,
      String token,
      EventLoop loop,
      InetSocketAddress localAddress,
      Duration connectTimeout,
      Listener listener) {
    int timeoutMillis = (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis());
    LeanConnection c = new LeanConnection(new Handshake(url), token, timeoutMillis, listener);
    Bootstrap b =
        new Bootstrap()
            .group(loop)
            .channel(
                WebSocketConnector.isEpoll(loop)
                    ? EpollSocketChannel.class
                    : NioSocketChannel.class)
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, timeoutMillis)
            .option(ChannelOption.TCP_NODELAY, true)
            // As the client: a name is looked up off the loop, which the other devices share.
            .resolver(LookupResolver.INSTANCE)
            .handler(c);
    InetSocketAddress remote = InetSocketAddress.createUnresolved(url.getHost(), url.getPort());
    // As the client: the lookup and the TCP connect together within the connect timeout.
    ChannelFuture f = BoundedConnect.connect(b, remote, localAddress, timeoutMillis);
    c.channel = f.channel();
    f.addListener(
        done -> {
          if (!done.isSuccess()) {
            c.remember(Device.ABNORMAL_CLOSURE, "could not connect: " + done.cause().getMessage());
            // From a new task: the caller may still be inside open().
            loop.execute(c::report);
          }
        });
    return c;
  }

  /** Cuts the connection without a close frame, as a network failure would. */
  void abort() {
    if (!channel.isOpen()) {
      return;
    }
    remember(Device.ABNORMAL_CLOSURE, "connection dropped by the client");
    ClosedBy.cut(channel);
  }

  /** Cuts the connection without a close frame, {@code why}, as a network failure would. */
  void giveUp(String why) {
    remember(Device.ABNORMAL_CLOSURE, why);
    ClosedBy.cut(channel);
  }

  /** Keeps the first close code and reason learnt. */
  void remember(int code, String reason) {
    if (closeCode == 0) {
      closeCode = code;
      closeReason = reason;
    }
  }

  private void report() {
    if (!reported) {
      reported = true;
      listener.closed(this);
    }
  }

  @Override
  public boolean isSharable() {
    return false;
  }

  @Override
  protected byte[] earlyHello() {
    return listener.hello(this);
  }

  @Override
  protected void opened(ChannelHandlerContext ctx, boolean helloRead) {
    listener.opened(this, helloRead);
  }

  @Override
  protected void message(ChannelHandlerContext ctx, ByteBuf buffer, int from, int to) {
    if (!reported) {
      listener.frame(this, buffer, from, to, System.nanoTime());
    }
  }

  @Override
  protected void closeReceived(ChannelHandlerContext ctx, int code, String reason) {
    remember(code, reason);
    // Answers with a close frame of its own and closes TCP.
    closeConnection(ctx, 1000);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable t) {
    if (closeCode == 0 && t instanceof UpgradeFailedException refused) {
      refusedStatus = refused.status();
      retryAfterMillis = refused.retryAfterMillis();
    }
    ClosedBy close = ClosedBy.failure(t);
    remember(close.code(), close.reason());
    closeConnection(ctx, 1000);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    report();
    super.channelInactive(ctx);
  }
}
