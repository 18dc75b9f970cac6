package io.handoff.server.sync;

/**
 * A write was not tried because the connection's previous write of the same document failed (not
 * applied, or of unknown fate): applying it first could put the two out of the device's order.
 * Answered PREDECESSOR_NOT_APPLIED; nothing was changed.
 */
final class PredecessorNotAppliedException extends RuntimeException {
  PredecessorNotAppliedException(String document) {
    super(
        "an earlier write of this device to '"
            + document
            + "' on this connection was not applied or its fate is unknown; this one was not"
            + " tried and nothing was changed: re-send the earlier write first, then this one"
            + " (same client_seqs)",
        null,
        false,
        false);
  }
}
