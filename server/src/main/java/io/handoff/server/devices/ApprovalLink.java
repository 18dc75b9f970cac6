package io.handoff.server.devices;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.auth.Principal;
import io.handoff.server.session.Connection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * A session's {@link Connection} as the device-approval feature sees it: prompts and withdrawals
 * are pushes through the connection's outbox, answers are replies; the principal is the one the
 * connection's {@link TokenKeeper} holds (renewed on the socket). Event loop only, but {@link
 * #execute}.
 */
final class ApprovalLink implements ApprovalConnection {
  private final Connection conn;
  private final TokenKeeper tokens;

  ApprovalLink(Connection conn, TokenKeeper tokens) {
    this.conn = conn;
    this.tokens = tokens;
  }

  @Override
  public Principal principal() {
    return tokens.principal();
  }

  @Override
  public String address() {
    return conn.remoteAddress();
  }

  @Override
  public void push(ServerFrame frame) {
    conn.push(frame);
    conn.flush();
  }

  @Override
  public void reply(ServerFrame frame) {
    conn.reply(frame);
    conn.flush();
  }

  @Override
  public void error(long requestId, ErrorCode code, String message, boolean retryable) {
    conn.error(requestId, code, message, retryable);
    conn.flush();
  }

  @Override
  public boolean admit(long id, String request) {
    return tokens.requests().admit(id, request);
  }

  @Override
  public void answered() {
    tokens.requests().answered();
  }

  @Override
  public <T> void onLoop(CompletableFuture<T> f, BiConsumer<T, Throwable> action) {
    conn.onLoop(f, action);
  }

  @Override
  public void execute(Runnable task) {
    conn.execute(
        () -> {
          if (conn.active()) {
            task.run();
          }
        });
  }

  @Override
  public Future<?> schedule(Runnable task, long delayMillis) {
    return conn.schedule(
        () -> {
          if (conn.active()) {
            task.run();
          }
        },
        delayMillis,
        TimeUnit.MILLISECONDS);
  }
}
