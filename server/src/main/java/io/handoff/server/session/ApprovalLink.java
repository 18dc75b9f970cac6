package io.handoff.server.session;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.auth.Principal;
import io.handoff.server.devices.ApprovalConnection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/** A {@link SessionHandler} as the device-approval feature sees it. */
final class ApprovalLink implements ApprovalConnection {
  private final SessionHandler session;

  ApprovalLink(SessionHandler session) {
    this.session = session;
  }

  @Override
  public Principal principal() {
    return session.principal();
  }

  @Override
  public String address() {
    return session.address();
  }

  @Override
  public void send(ServerFrame frame) {
    session.write(frame);
    session.flush();
  }

  @Override
  public void error(long requestId, ErrorCode code, String message, boolean retryable) {
    session.sendError(requestId, code, message, null, 0, 0, 0, retryable);
    session.flush();
  }

  @Override
  public <T> void onLoop(CompletableFuture<T> f, BiConsumer<T, Throwable> action) {
    session.onLoop(f, action);
  }

  @Override
  public void execute(Runnable task) {
    session
        .loop()
        .execute(
            () -> {
              if (session.active()) {
                task.run();
              }
            });
  }

  @Override
  public Future<?> schedule(Runnable task, long delayMillis) {
    return session
        .loop()
        .schedule(
            () -> {
              if (session.active()) {
                task.run();
              }
            },
            delayMillis,
            TimeUnit.MILLISECONDS);
  }
}
