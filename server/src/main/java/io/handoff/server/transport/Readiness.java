package io.handoff.server.transport;

import java.util.function.BooleanSupplier;

/**
 * Whether a node should get new connections, and if not, why: {@code /readyz} answers 200 {@code
 * ready} or 503 with the reason ({@code draining}, {@code store unreachable}, {@code starting},
 * {@code node id lease not confirmed}, ...). Implementations are called from any thread and must
 * not block.
 */
@FunctionalInterface
public interface Readiness extends BooleanSupplier {
  /** Null while ready, else a short reason a person reads on the readiness probe. */
  String problem();

  @Override
  default boolean getAsBoolean() {
    return problem() == null;
  }
}
