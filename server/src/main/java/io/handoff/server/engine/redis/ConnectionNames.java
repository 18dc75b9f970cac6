package io.handoff.server.engine.redis;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * Names connections in the presence entries every node shares. A node numbers its own connections
 * ({@link io.handoff.server.handoff.HandoffStore#online}); this engine puts a prefix drawn at
 * random when it is made (one per engine, and one engine per node process) in front of the number,
 * so the numbers of two nodes, or of one node's process before and after a restart, never name the
 * same connection. Thread-safe (immutable).
 */
final class ConnectionNames {
  private final String prefix;

  ConnectionNames() {
    byte[] random = new byte[6];
    new SecureRandom().nextBytes(random);
    this.prefix = HexFormat.of().formatHex(random) + "/";
  }

  /** The name of this node's connection number {@code connection}, as the scripts store it. */
  byte[] of(long connection) {
    return (prefix + connection).getBytes(StandardCharsets.UTF_8);
  }
}
