package io.handoff.client.internal;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelPromise;
import io.netty.channel.ConnectTimeoutException;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * Connects a {@link Bootstrap} with one time limit for the name lookup and the TCP connect
 * together. Netty's {@code CONNECT_TIMEOUT_MILLIS} counts from the TCP connect only, so a lookup
 * that hangs ({@link LookupResolver}: a DNS server that does not answer) would hold the attempt
 * until the system resolver gave up. At the limit the attempt fails with a {@link
 * ConnectTimeoutException} and its channel is closed; a lookup still running ends on its own
 * thread, its answer unused.
 */
public final class BoundedConnect {
  private BoundedConnect() {}

  /**
   * Starts {@code bootstrap}'s connect to {@code remote} (from {@code local} unless null). Call on
   * the bootstrap's event loop.
   *
   * @return completes when the channel is connected, or fails when the lookup or the TCP connect
   *     failed or together took longer than {@code timeoutMillis}
   */
  public static ChannelFuture connect(
      Bootstrap bootstrap, InetSocketAddress remote, InetSocketAddress local, long timeoutMillis) {
    ChannelFuture connecting =
        local == null ? bootstrap.connect(remote) : bootstrap.connect(remote, local);
    if (connecting.isDone()) {
      return connecting;
    }
    Channel channel = connecting.channel();
    ChannelPromise attempt = channel.newPromise();
    ScheduledFuture<?> deadline =
        channel
            .eventLoop()
            .schedule(
                () -> {
                  if (attempt.tryFailure(
                      new ConnectTimeoutException(
                          "no connection to "
                              + remote.getHostString()
                              + ":"
                              + remote.getPort()
                              + " within "
                              + timeoutMillis
                              + " ms"))) {
                    channel.close();
                  }
                },
                timeoutMillis,
                TimeUnit.MILLISECONDS);
    connecting.addListener(
        f -> {
          deadline.cancel(false);
          if (f.isSuccess()) {
            attempt.trySuccess();
          } else {
            attempt.tryFailure(f.cause());
          }
        });
    return attempt;
  }
}
