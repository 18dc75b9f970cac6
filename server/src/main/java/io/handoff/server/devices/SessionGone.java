package io.handoff.server.devices;

/** The connection's device session is gone (revoked, erased or expired); the message says which. */
public final class SessionGone extends RuntimeException {
  SessionGone(String message) {
    super(message, null, false, false);
  }
}
