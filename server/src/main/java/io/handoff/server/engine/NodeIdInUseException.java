package io.handoff.server.engine;

/**
 * Another process runs a node with this node's id on the same backing store and keeps its claim on
 * the id renewed ({@link Engine#claimNode}): two nodes with one id would take each other's devices'
 * presence and takeovers for their own, so the second refuses to start; a node that finds another
 * running process holding its id after it claimed it (it was cut off from the store longer than the
 * claim lasts) drains and stops with it ({@link
 * io.handoff.server.HandoffServer#stoppedForTakenId}).
 */
public final class NodeIdInUseException extends IllegalStateException {
  public NodeIdInUseException(String message) {
    super(message);
  }
}
