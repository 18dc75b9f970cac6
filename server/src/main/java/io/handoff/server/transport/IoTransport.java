package io.handoff.server.transport;

import io.netty.channel.IoHandlerFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringIoHandlerConfig;
import io.netty.channel.uring.IoUringServerSocketChannel;
import java.util.Locale;

/**
 * The node's socket I/O: Netty's epoll transport where the kernel offers it, io_uring otherwise,
 * Java NIO last ({@link #AUTO}), or one of them by name. Chosen once when the node starts; the
 * choice and, when a native transport is passed over, the reason are logged.
 */
public enum IoTransport {
  AUTO,
  IO_URING,
  EPOLL,
  NIO;

  // Completion queue entries per event loop (16 bytes each).
  private static final int IO_URING_COMPLETIONS = 16_384;

  /** A transport ready to use: its I/O handlers, its server channel type, why it was chosen. */
  public record Chosen(
      IoTransport transport,
      IoHandlerFactory handlers,
      Class<? extends ServerChannel> serverChannel,
      String why) {}

  /**
   * Parses a setting ({@code auto}, {@code io_uring}, {@code epoll}, {@code nio}; any case, {@code
   * -} for {@code _}).
   *
   * @throws IllegalArgumentException naming the accepted values
   */
  public static IoTransport parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "unknown I/O transport '" + s + "'; use auto, io_uring, epoll or nio", e);
    }
  }

  /**
   * The transport to run: this one, or for {@link #AUTO} the best the kernel offers.
   *
   * @throws IllegalStateException if this names a native transport the kernel (or the container's
   *     seccomp profile) refuses, with the reason
   */
  public Chosen choose() {
    return switch (this) {
      case AUTO -> {
        // epoll before io_uring: measured side by side on the same load, io_uring cost the node
        // as much or more CPU per delivery (docs/decisions.md); it stays one setting away.
        if (Epoll.isAvailable()) {
          yield epoll("auto: epoll (io_uring only when set)");
        }
        String noEpoll = "epoll unavailable (" + cause(Epoll.unavailabilityCause()) + ")";
        if (IoUring.isAvailable()) {
          yield ioUring("auto: " + noEpoll);
        }
        yield nio(
            "auto: "
                + noEpoll
                + ", io_uring unavailable ("
                + cause(IoUring.unavailabilityCause())
                + ")");
      }
      case IO_URING -> {
        if (!IoUring.isAvailable()) {
          throw refused(IoUring.unavailabilityCause());
        }
        yield ioUring("set by configuration");
      }
      case EPOLL -> {
        if (!Epoll.isAvailable()) {
          throw refused(Epoll.unavailabilityCause());
        }
        yield epoll("set by configuration");
      }
      case NIO -> nio("set by configuration");
    };
  }

  private IllegalStateException refused(Throwable cause) {
    return new IllegalStateException(
        "the I/O transport "
            + this
            + " was asked for but this kernel or container refuses it ("
            + cause(cause)
            + "); use auto",
        cause);
  }

  private static Chosen ioUring(String why) {
    // A completion queue of 4 x Netty's default (4,096): 3,000 devices connecting at once
    // overflowed
    // the default one (the kernel then holds completions aside, which Netty logs).
    IoUringIoHandlerConfig config = new IoUringIoHandlerConfig().setCqSize(IO_URING_COMPLETIONS);
    return new Chosen(
        IO_URING, IoUringIoHandler.newFactory(config), IoUringServerSocketChannel.class, why);
  }

  private static Chosen epoll(String why) {
    return new Chosen(EPOLL, EpollIoHandler.newFactory(), EpollServerSocketChannel.class, why);
  }

  private static Chosen nio(String why) {
    return new Chosen(NIO, NioIoHandler.newFactory(), NioServerSocketChannel.class, why);
  }

  private static String cause(Throwable t) {
    if (t == null) {
      return "no reason given";
    }
    while (t.getCause() != null) {
      t = t.getCause();
    }
    return t.toString();
  }

  @Override
  public String toString() {
    return name().toLowerCase(Locale.ROOT);
  }
}
