package io.handoff.server;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The kernel's view of a loopback TCP connection (Linux {@code /proc/net/tcp} and {@code tcp6}),
 * for a test on fake time that must know the node has read what a device sent before it moves time
 * on, when answering would take another frame from the device (which would count as heard too).
 */
final class Loopback {
  private static final List<Path> TABLES =
      List.of(Path.of("/proc/net/tcp"), Path.of("/proc/net/tcp6"));

  private Loopback() {}

  /**
   * Returns once everything {@code device} sent to the node listening on {@code nodePort} was taken
   * by the node: acked by its kernel (nothing in the device's send queue) and read from its socket
   * (nothing in the node's receive queue). A Netty event loop handles a read through to {@code
   * channelReadComplete} before it runs a task handed to it later, such as a timer's. Skips the
   * test where the kernel does not show its tables.
   */
  static void awaitReadByNode(Socket device, int nodePort, Duration bound) {
    assumeTrue(Files.isReadable(TABLES.get(0)), "needs Linux's /proc/net/tcp");
    int devicePort = device.getLocalPort();
    Conditions.await(
        "the node read everything port " + devicePort + " sent",
        () -> {
          long[] sent = queues(devicePort, nodePort);
          long[] received = queues(nodePort, devicePort);
          return sent != null && received != null && sent[0] == 0 && received[1] == 0;
        },
        bound);
  }

  /** {tx_queue, rx_queue} of the socket {@code local} to {@code remote}, or null if none. */
  private static long[] queues(int local, int remote) {
    for (Path table : TABLES) {
      List<String> lines;
      try {
        lines = Files.readAllLines(table);
      } catch (IOException e) {
        if (Files.exists(table)) {
          throw new UncheckedIOException(e);
        }
        continue;
      }
      // "sl local_address rem_address st tx_queue:rx_queue ...", addresses as HEX:PORT.
      for (String line : lines.subList(1, lines.size())) {
        String[] f = line.trim().split("\\s+");
        if (port(f[1]) == local && port(f[2]) == remote) {
          String[] q = f[4].split(":");
          return new long[] {Long.parseLong(q[0], 16), Long.parseLong(q[1], 16)};
        }
      }
    }
    return null;
  }

  private static int port(String address) {
    return Integer.parseInt(address.substring(address.indexOf(':') + 1), 16);
  }
}
