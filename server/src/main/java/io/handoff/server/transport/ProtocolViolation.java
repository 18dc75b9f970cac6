package io.handoff.server.transport;

import io.handoff.protocol.CloseCode;

/** A frame broke the protocol; the connection is closed with {@link #code()}. */
final class ProtocolViolation extends RuntimeException {
  private final CloseCode code;

  ProtocolViolation(CloseCode code, String message) {
    super(message, null, false, false);
    this.code = code;
  }

  CloseCode code() {
    return code;
  }
}
