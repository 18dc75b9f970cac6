package io.handoff.loadtest;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * The local addresses connections are made from. One source address gives at most the kernel's
 * ephemeral port range (about 28,000 ports on Linux) of connections to one server address;
 * spreading connections over several 127.0.0.x addresses gets past that. Every 127.0.0.0/8 address
 * is a loopback address on Linux, so nothing needs to be configured.
 */
final class SourceAddresses {
  /** Up to this many connections, the automatic choice binds no source address. */
  static final int AUTO_UNBOUND_CONNECTIONS = 25_000;

  /** Connections per source address when the count is chosen automatically. */
  static final int AUTO_CONNECTIONS_PER_ADDRESS = 10_000;

  private SourceAddresses() {}

  /**
   * Parses {@code --source-addresses}: a count {@code N} (127.0.0.1 to 127.0.0.N, N at most 254) or
   * a comma-separated list of IP literals. {@code null} or {@code auto} picks from the number of
   * connections: none (the kernel chooses) up to {@value #AUTO_UNBOUND_CONNECTIONS}, else one per
   * {@value #AUTO_CONNECTIONS_PER_ADDRESS}.
   *
   * @return the addresses to bind, with port 0; empty when the kernel should choose
   * @throws IllegalArgumentException naming the bad part
   */
  static List<InetSocketAddress> parse(String spec, long connections) {
    List<InetSocketAddress> out = new ArrayList<>();
    if (spec == null || spec.isBlank() || spec.trim().equalsIgnoreCase("auto")) {
      if (connections <= AUTO_UNBOUND_CONNECTIONS) {
        return out;
      }
      return loopbacks((int) Math.min(254, ceilDiv(connections, AUTO_CONNECTIONS_PER_ADDRESS)));
    }
    String s = spec.trim();
    if (s.chars().allMatch(Character::isDigit)) {
      int n = Integer.parseInt(s);
      if (n < 1 || n > 254) {
        throw new IllegalArgumentException("--source-addresses count must be 1 to 254, was " + n);
      }
      return loopbacks(n);
    }
    for (String part : s.split(",")) {
      String p = part.trim();
      if (!p.matches("[0-9.]+|[0-9a-fA-F:]+")) {
        throw new IllegalArgumentException(
            "--source-addresses takes IP literals or a count, not '" + p + "'");
      }
      try {
        out.add(new InetSocketAddress(InetAddress.getByName(p), 0));
      } catch (UnknownHostException e) {
        throw new IllegalArgumentException("--source-addresses: bad address '" + p + "'", e);
      }
    }
    return out;
  }

  private static List<InetSocketAddress> loopbacks(int n) {
    List<InetSocketAddress> out = new ArrayList<>(n);
    for (int i = 1; i <= n; i++) {
      try {
        out.add(
            new InetSocketAddress(InetAddress.getByAddress(new byte[] {127, 0, 0, (byte) i}), 0));
      } catch (UnknownHostException e) {
        throw new AssertionError("a 4-byte address is always valid", e);
      }
    }
    return out;
  }

  private static long ceilDiv(long a, long b) {
    return (a + b - 1) / b;
  }
}
