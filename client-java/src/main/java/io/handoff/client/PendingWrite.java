package io.handoff.client;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Write;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** A write submitted and not yet acked or given up on. Event loop only (except the constructor). */
final class PendingWrite {
  final Document document;
  final List<FieldOp> ops;
  final long expectedVersion;
  final CompletableFuture<Long> future;
  // What the write counts against maxUnackedWriteBytes.
  final int bytes;
  // When it was made, among this client's writes: the order new writes go out in.
  long order;
  // 0 until first sent after a Welcome; never changes after that.
  long seq;
  // Sent on the current connection and neither acked nor failed: it occupies the in-flight window.
  boolean sent;
  boolean done;
  // How many times it was sent; every send after the first is a re-send with the same seq.
  int attempts;
  // Whether the server may have applied it under seq: an answer it never got (the connection
  // ended while it was sent) or one that said so (OUTCOME_UNKNOWN). While false, every answer said
  // "not applied", and a number the server has forgotten may be replaced by a new one.
  boolean uncertain;
  // How many times it got a new number (bounded: see WriteQueue.MAX_RENUMBERS).
  int renumbers;
  // Consecutive retryable refusals: the exponent of the backoff before the next re-send.
  int retries;
  Scheduler.Task retryTask;
  private ClientFrame frame;

  PendingWrite(
      Document document, List<FieldOp> ops, long expectedVersion, CompletableFuture<Long> future) {
    this.document = document;
    this.ops = ops;
    this.expectedVersion = expectedVersion;
    this.future = future;
    int size = WriteQueue.PER_WRITE_OVERHEAD_BYTES + document.name().length() * 3;
    for (FieldOp op : ops) {
      size += op.getSerializedSize();
    }
    this.bytes = size;
  }

  /** The Write frame; built once, so every re-send is the same frame with the same seq. */
  ClientFrame frame() {
    if (frame == null) {
      Write.Builder write =
          Write.newBuilder().setDocument(document.name()).setClientSeq(seq).addAllOps(ops);
      if (expectedVersion != SyncEngine.NO_EXPECTED_VERSION) {
        write.setExpectedVersion(expectedVersion);
      }
      frame = ClientFrame.newBuilder().setWrite(write).build();
    }
    return frame;
  }

  /**
   * Gives the write a new number: only for one the server certainly never applied under the old one
   * (see {@link #uncertain}), whose old number it has forgotten.
   */
  void renumber(long newSeq) {
    seq = newSeq;
    frame = null;
  }

  void cancelRetry() {
    if (retryTask != null) {
      retryTask.cancel();
      retryTask = null;
    }
  }
}
