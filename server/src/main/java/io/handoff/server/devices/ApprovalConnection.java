package io.handoff.server.devices;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.auth.Principal;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.function.BiConsumer;

/** What {@link ApprovalPrompts} needs of a live connection. All methods: its event loop only. */
interface ApprovalConnection {
  /** The connection's current principal (its token may have been renewed). */
  Principal principal();

  /** The device's network address, as the server sees it. */
  String address();

  /** Pushes a frame the device did not ask for (a prompt, a withdrawal) and flushes. */
  void push(ServerFrame frame);

  /** Sends the answer to one of the device's requests and flushes. */
  void reply(ServerFrame frame);

  void error(long requestId, ErrorCode code, String message, boolean retryable);

  /**
   * Lets device request {@code id} (a {@code request}, as the protocol names it) go to the store
   * within the connection's rate and in-flight bound ({@link DeviceRequests}), or answers it with
   * the refusal and returns false. One let through is followed by {@link #answered}.
   */
  boolean admit(long id, String request);

  /** A request {@link #admit} let through has its answer. */
  void answered();

  /**
   * Runs {@code action} on the event loop when {@code f} completes, unless the connection closed.
   */
  <T> void onLoop(CompletableFuture<T> f, BiConsumer<T, Throwable> action);

  /** Runs {@code task} on the event loop (from any thread), unless the connection closed. */
  void execute(Runnable task);

  Future<?> schedule(Runnable task, long delayMillis);
}
