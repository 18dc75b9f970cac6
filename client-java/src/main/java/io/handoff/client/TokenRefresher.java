package io.handoff.client;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.RefreshToken;
import io.handoff.protocol.v1.ServerFrame;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Renews a connection's access token in band: when the server says it expires soon, asks the app's
 * token source (or supplier) for the current one and sends it as a RefreshToken, again after a
 * growing wait while the server refuses it for now. If that fails, the server closes the connection
 * with TOKEN_EXPIRED at expiry, and the reconnect asks the source again. Event loop only; a token
 * source's answer hops back onto it through {@code executor}.
 */
final class TokenRefresher {
  private static final Logger log = LoggerFactory.getLogger(TokenRefresher.class);

  private final ClientConfig config;
  private final Executor executor;
  private final Scheduler scheduler;
  private final Backoff backoff;
  private final long retryMaxNanos;
  private final HandoffRequests requests;
  private final Listeners listeners;

  TokenRefresher(
      ClientConfig config,
      Executor executor,
      Scheduler scheduler,
      Backoff backoff,
      long retryMaxNanos,
      HandoffRequests requests,
      Listeners listeners) {
    this.config = config;
    this.executor = executor;
    this.scheduler = scheduler;
    this.backoff = backoff;
    this.retryMaxNanos = retryMaxNanos;
    this.requests = requests;
    this.listeners = listeners;
  }

  /**
   * The server says the access token of connection {@code l} expires soon: ask the token source or
   * supplier for the current one and hand it over in band.
   */
  void expiring(Link l) {
    if (config.tokenSource != null) {
      CompletionStage<String> next;
      try {
        next = config.tokenSource.get();
      } catch (RuntimeException e) {
        sourceFailed(e);
        return;
      }
      next.whenComplete(
          (token, err) ->
              executor.execute(
                  () -> {
                    if (err != null) {
                      sourceFailed(
                          err instanceof java.util.concurrent.CompletionException
                                  && err.getCause() != null
                              ? err.getCause()
                              : err);
                    } else if (l.isCurrent()) {
                      send(l, token);
                    }
                  }));
      return;
    }
    if (config.tokenSupplier == null) {
      return;
    }
    try {
      send(l, config.tokenSupplier.get());
    } catch (RuntimeException e) {
      sourceFailed(e);
    }
  }

  /**
   * The token source or supplier failed when the token was about to expire: the connection goes on
   * until the server closes it at the expiry (4003) and the client reconnects, asking again. Told
   * to onError, as the TypeScript client tells its "error" listeners, so the app learns of it now.
   */
  private void sourceFailed(Throwable err) {
    HandoffException failed =
        HandoffException.local("token source failed; reconnecting at token expiry: " + err, err);
    log.warn("{}", failed.getMessage());
    listeners.error(failed);
  }

  private void send(Link l, String token) {
    if (token == null || token.isEmpty()) {
      return;
    }
    send(l, token, 0);
  }

  /**
   * Hands {@code token} over in band. Refused for now (RATE_LIMITED or TOO_MANY_IN_FLIGHT: the
   * connection's device requests are over their bound, or a RefreshToken of it is still being
   * checked; UNAVAILABLE: the node could not reach its session store to check the token), it is
   * sent again after a growing wait, as a refused Resync is: else the connection would be closed at
   * the token's expiry. Other refusals (INVALID_TOKEN, ...) go to the listeners. Before the Welcome
   * (a TokenExpiring may come first) it goes unnumbered, and a refusal goes to the listeners.
   */
  private void send(Link l, String token, int retries) {
    ClientFrame.Builder frame =
        ClientFrame.newBuilder().setRefreshToken(RefreshToken.newBuilder().setAccessToken(token));
    if (!l.welcomed) {
      l.channel.send(frame.build());
      return;
    }
    CompletableFuture<ServerFrame> answer = new CompletableFuture<>();
    long id = requests.register(answer);
    if (id <= 0) {
      l.channel.send(frame.build());
      return;
    }
    answer.whenComplete(
        (ok, err) -> {
          if (err == null || !l.isCurrent()) {
            return;
          }
          HandoffException refused =
              err instanceof HandoffException h ? h : HandoffException.local(err.toString(), err);
          ErrorCode code = refused.errorCode();
          if (code == null) {
            return; // The connection ended meanwhile.
          }
          if (code == ErrorCode.RATE_LIMITED
              || code == ErrorCode.TOO_MANY_IN_FLIGHT
              || code == ErrorCode.UNAVAILABLE) {
            scheduler.schedule(
                () -> {
                  if (l.isCurrent() && l.welcomed) {
                    send(l, token, retries + 1);
                  }
                },
                backoff.delayNanos(retries, retryMaxNanos) + 50_000_000L);
            return;
          }
          listeners.error(refused);
        });
    l.channel.send(frame.setRequestId(id).build());
  }
}
