package io.handoff.server;

import io.handoff.server.transport.TransportConfig;
import picocli.CommandLine.Option;

/**
 * The command-line options of the node's device sockets, a picocli mixin of {@link Main}: like
 * every option, each also comes from its {@code HANDOFF_*} variable or the configuration file.
 */
final class SocketOptions {
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
    main.set(
        "socket-send-buffer",
        socketSendBuffer,
        () ->
            b.socketSendBufferBytes(
                (int) Math.min(Integer.MAX_VALUE, ByteSizes.parse(socketSendBuffer))));
  }
}
