package io.handoff.server.transport;

import java.nio.file.Path;
import java.util.Objects;

/**
 * How the node's device sockets are served: the I/O transport and its event loops, TLS,
 * compression, and the buffers between a connection and the kernel. Immutable; built with {@link
 * #builder()}, validated there.
 */
public final class TransportConfig {
  public static final int DEFAULT_WRITE_BUFFER_LOW_BYTES = 16 * 1024;
  public static final int DEFAULT_WRITE_BUFFER_HIGH_BYTES = 64 * 1024;
  public static final int DEFAULT_SOCKET_SEND_BUFFER_BYTES = 128 * 1024;

  private final IoTransport ioTransport;
  private final int eventLoops;
  private final Path tlsCertificate;
  private final Path tlsPrivateKey;
  private final boolean compression;
  private final int writeBufferLowBytes;
  private final int writeBufferHighBytes;
  private final int socketSendBufferBytes;

  private TransportConfig(Builder b) {
    this.ioTransport = b.ioTransport;
    this.eventLoops = b.eventLoops;
    this.tlsCertificate = b.tlsCertificate;
    this.tlsPrivateKey = b.tlsPrivateKey;
    this.compression = b.compression;
    this.writeBufferLowBytes = b.writeBufferLowBytes;
    this.writeBufferHighBytes = b.writeBufferHighBytes;
    this.socketSendBufferBytes = b.socketSendBufferBytes;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The socket I/O transport: {@link IoTransport#AUTO} takes epoll, else io_uring, else NIO. */
  public IoTransport ioTransport() {
    return ioTransport;
  }

  /** Event loop threads serving connections; 0 leaves it to Netty (two per core). */
  public int eventLoops() {
    return eventLoops;
  }

  /** PEM certificate chain for {@code wss://}; null serves plain {@code ws://}. */
  public Path tlsCertificate() {
    return tlsCertificate;
  }

  /** PEM (PKCS#8) private key of {@link #tlsCertificate()}. */
  public Path tlsPrivateKey() {
    return tlsPrivateKey;
  }

  /**
   * Whether permessage-deflate is offered to devices that ask for it. A compressed frame may
   * inflate to at most the node's largest accepted frame; beyond that the connection is closed.
   */
  public boolean compression() {
    return compression;
  }

  /** Below this many bytes in Netty's outbound buffer a connection takes pushes again. */
  public int writeBufferLowBytes() {
    return writeBufferLowBytes;
  }

  /** Above this many bytes in Netty's outbound buffer the connection stops taking pushes. */
  public int writeBufferHighBytes() {
    return writeBufferHighBytes;
  }

  /**
   * The kernel send buffer (SO_SNDBUF) of each device connection, which the kernel doubles for its
   * bookkeeping; 0 leaves it to the kernel's autotuning (up to {@code net.ipv4.tcp_wmem}'s
   * maximum). What the kernel holds for a device that does not read is outside the node's queue
   * budget.
   */
  public int socketSendBufferBytes() {
    return socketSendBufferBytes;
  }

  @Override
  public String toString() {
    return "io="
        + ioTransport
        + ", eventLoops="
        + (eventLoops == 0 ? "auto" : eventLoops)
        + ", tls="
        + (tlsCertificate == null ? "off" : tlsCertificate)
        + ", compression="
        + compression
        + ", writeBuffer="
        + writeBufferLowBytes
        + "/"
        + writeBufferHighBytes
        + ", socketSendBuffer="
        + socketSendBufferBytes;
  }

  /** Builds a {@link TransportConfig}; not thread-safe. */
  public static final class Builder {
    private IoTransport ioTransport = IoTransport.AUTO;
    private int eventLoops;
    private Path tlsCertificate;
    private Path tlsPrivateKey;
    private boolean compression;
    private int writeBufferLowBytes = DEFAULT_WRITE_BUFFER_LOW_BYTES;
    private int writeBufferHighBytes = DEFAULT_WRITE_BUFFER_HIGH_BYTES;
    private int socketSendBufferBytes = DEFAULT_SOCKET_SEND_BUFFER_BYTES;

    private Builder() {}

    public Builder ioTransport(IoTransport ioTransport) {
      this.ioTransport = Objects.requireNonNull(ioTransport, "ioTransport");
      return this;
    }

    public Builder eventLoops(int eventLoops) {
      checkArgument(
          eventLoops >= 0 && eventLoops <= 1024,
          "eventLoops must be 0 (two per core) or 1..1024, got " + eventLoops);
      this.eventLoops = eventLoops;
      return this;
    }

    /** Serves {@code wss://} with this PEM certificate chain and PKCS#8 PEM private key. */
    public Builder tls(Path certificateChain, Path privateKey) {
      checkArgument(
          (certificateChain == null) == (privateKey == null),
          "TLS needs both a certificate chain and a private key");
      this.tlsCertificate = certificateChain;
      this.tlsPrivateKey = privateKey;
      return this;
    }

    public Builder compression(boolean compression) {
      this.compression = compression;
      return this;
    }

    public Builder writeBufferWaterMark(int lowBytes, int highBytes) {
      checkArgument(
          lowBytes > 0 && highBytes >= lowBytes,
          "write buffer water marks need 0 < low <= high, got " + lowBytes + "/" + highBytes);
      this.writeBufferLowBytes = lowBytes;
      this.writeBufferHighBytes = highBytes;
      return this;
    }

    /** SO_SNDBUF of device connections: 0 (the kernel's autotuning) or 4 KiB to 64 MiB. */
    public Builder socketSendBufferBytes(int bytes) {
      checkArgument(
          bytes == 0 || (bytes >= 4096 && bytes <= 64 << 20),
          "socket send buffer must be 0 (the kernel's choice) or 4 KiB to 64 MiB, got " + bytes);
      this.socketSendBufferBytes = bytes;
      return this;
    }

    public TransportConfig build() {
      return new TransportConfig(this);
    }

    private static void checkArgument(boolean ok, String message) {
      if (!ok) {
        throw new IllegalArgumentException(message);
      }
    }
  }
}
