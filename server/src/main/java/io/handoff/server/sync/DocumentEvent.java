package io.handoff.server.sync;

import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.ServerFrame;

/**
 * One accepted write of one user's document, as the stores keep it in history and the brokers fan
 * it out. Immutable and shared by every connection that receives it: the encoded push frame is made
 * once and reused for every recipient.
 */
public final class DocumentEvent {
  private final String userId;
  private final Delta delta;
  private volatile byte[] frame;

  public DocumentEvent(String userId, Delta delta) {
    this.userId = userId;
    this.delta = delta;
  }

  public String userId() {
    return userId;
  }

  public Delta delta() {
    return delta;
  }

  public String document() {
    return delta.getDocument();
  }

  public long epoch() {
    return delta.getEpoch();
  }

  public long version() {
    return delta.getVersion();
  }

  public String originDevice() {
    return delta.getOriginDevice();
  }

  public long originSeq() {
    return delta.getOriginSeq();
  }

  /**
   * The encoded {@code ServerFrame{delta}} push. Computed on first use; a race computes it twice,
   * which is harmless because both results are equal.
   */
  public byte[] frame() {
    byte[] f = frame;
    if (f == null) {
      f = ServerFrame.newBuilder().setDelta(delta).build().toByteArray();
      frame = f;
    }
    return f;
  }

  /** Approximate bytes this event holds, for queue accounting. */
  public int sizeBytes() {
    return delta.getSerializedSize() + 64;
  }

  @Override
  public String toString() {
    return "DocumentEvent{" + document() + " v" + version() + " from " + originDevice() + "}";
  }
}
