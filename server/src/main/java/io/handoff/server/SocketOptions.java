package io.handoff.server;

import io.handoff.server.transport.TransportConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The command-line options of the node's device sockets (TLS, the send buffer), a picocli mixin of
 * {@link Main}: like every option, each also comes from its {@code HANDOFF_*} variable or the
 * configuration file.
 */
final class SocketOptions {
  @Option(
      names = "--tls-cert",
      paramLabel = "PEM",
      description = "Certificate chain: serve wss:// and https:// (needs --tls-key).")
  Path tlsCert;

  @Option(names = "--tls-key", paramLabel = "PEM", description = "PKCS#8 key of --tls-cert.")
  Path tlsKey;

  @Option(
      names = "--socket-send-buffer",
      defaultValue = "128k",
      paramLabel = "BYTES",
      description =
          "Kernel send buffer (SO_SNDBUF) of each device connection (128k, 1m); what the kernel"
              + " holds for a device that does not read is outside --queue-budget. 0: the kernel's"
              + " autotuning (up to net.ipv4.tcp_wmem's maximum per connection).")
  String socketSendBuffer;

  /** Sets these options on {@code b}; a refusal names the option and the value. */
  void apply(Main main, TransportConfig.Builder b) {
    if (tlsCert != null || tlsKey != null) {
      readable(main, "tls-cert", tlsCert, "certificate chain");
      readable(main, "tls-key", tlsKey, "private key");
      main.set(tlsCert == null ? "tls-key" : "tls-cert", tlsCert, () -> b.tls(tlsCert, tlsKey));
    }
    main.set(
        "socket-send-buffer",
        socketSendBuffer,
        () ->
            b.socketSendBufferBytes(
                (int) Math.min(Integer.MAX_VALUE, ByteSizes.parse(socketSendBuffer))));
  }

  /**
   * Refuses a TLS file that cannot be read, naming the option; null (not given) passes. Netty would
   * report only that the file "does not contain valid certificates", without the option.
   */
  private static void readable(Main main, String key, Path file, String what) {
    if (file == null) {
      return;
    }
    String why = null;
    if (!Files.exists(file)) {
      why = "there is no such file";
    } else if (Files.isDirectory(file)) {
      why = "it is a directory";
    } else if (!Files.isReadable(file)) {
      why = "permission denied";
    }
    if (why != null) {
      throw new IllegalArgumentException(
          main.origin(key) + ": cannot read the TLS " + what + " " + file + ": " + why);
    }
  }
}
