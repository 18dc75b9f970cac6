package io.handoff.client;

import io.handoff.client.internal.FrameChannel;
import io.handoff.client.internal.FrameListener;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ServerFrame;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;

/** A connection attempt made by {@link FakeConnector}: records what the engine sends. */
final class FakeChannel implements FrameChannel {
  final FrameListener listener;

  /** Frames written and flushed, in order. */
  final List<ClientFrame> sent = new ArrayList<>();

  private final List<ClientFrame> unflushed = new ArrayList<>();
  long readTimeoutMillis = -1;
  boolean closed;

  FakeChannel(FrameListener listener) {
    this.listener = listener;
  }

  /** The WebSocket handshake completes. */
  FakeChannel open() {
    listener.onOpen(this, false);
    return this;
  }

  void receive(ServerFrame frame) {
    listener.onFrame(frame);
  }

  /** The connection ends with this close code. */
  void closeWith(int code, String reason) {
    closed = true;
    listener.onClose(code, reason, null);
  }

  /** Removes and returns the frames sent since the last call. */
  List<ClientFrame> drain() {
    List<ClientFrame> out = new ArrayList<>(sent);
    sent.clear();
    return out;
  }

  @Override
  public void write(ClientFrame frame) {
    unflushed.add(frame);
  }

  @Override
  public void flush() {
    sent.addAll(unflushed);
    unflushed.clear();
  }

  @Override
  public void readTimeout(long millis) {
    readTimeoutMillis = millis;
  }

  boolean aborted;

  @Override
  public void abort() {
    aborted = true;
  }

  @Override
  public Future<?> close() {
    closed = true;
    return CompletableFuture.completedFuture(null);
  }
}
