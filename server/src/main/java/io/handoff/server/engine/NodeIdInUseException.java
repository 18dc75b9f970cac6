package io.handoff.server.engine;

/**
 * Another process runs a node with this node's id on the same backing store and keeps its claim on
 * the id renewed ({@link Engine#claimNode}): two nodes with one id would take each other's devices'
 * presence and takeovers for their own, so the second refuses to start.
 */
public final class NodeIdInUseException extends IllegalStateException {
  public NodeIdInUseException(String message) {
    super(message);
  }
}
