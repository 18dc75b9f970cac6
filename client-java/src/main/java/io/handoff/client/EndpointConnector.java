package io.handoff.client;

import io.handoff.client.internal.DeferredFrameChannel;
import io.handoff.client.internal.FrameChannel;
import io.handoff.client.internal.FrameListener;
import io.handoff.client.internal.Handshake;
import io.handoff.client.internal.WebSocketConnector;
import io.netty.channel.EventLoop;
import java.net.URI;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;

/**
 * The {@link Connector} of a {@link HandoffClient}: starts each attempt with the {@link
 * WebSocketConnector} of the endpoint asked for, on the client's event loop, carrying the access
 * token of the configured token supplier (asked at each attempt) or token source (waited for, at
 * most the connect timeout, before any socket is opened). A token that can never be sent opens no
 * socket: it is refused with an {@link io.handoff.client.internal.InvalidTokenException} (thrown,
 * or as the cause of the attempt's close), on which the {@link SyncEngine} stops instead of
 * retrying.
 *
 * <p>Immutable; {@link #connect} is called on the client's event loop.
 */
final class EndpointConnector implements Connector {
  private final Map<URI, WebSocketConnector> endpoints = new HashMap<>();
  private final EventLoop loop;
  // Both null when the client sends no token; at most one is set.
  private final Supplier<String> tokenSupplier;
  private final Supplier<? extends CompletionStage<String>> tokenSource;
  private final long tokenTimeoutMillis;

  EndpointConnector(ClientConfig config, EventLoop loop) {
    this.loop = loop;
    for (URI url : config.urls) {
      endpoints.put(
          url, new WebSocketConnector(url, loop, config.localAddress, config.connectTimeout));
    }
    this.tokenSupplier = config.tokenSupplier;
    this.tokenSource = config.tokenSource;
    this.tokenTimeoutMillis = config.connectTimeout.toMillis();
  }

  @Override
  public FrameChannel connect(URI url, FrameListener listener) {
    if (tokenSource != null) {
      return DeferredFrameChannel.connect(
          tokenSource.get(),
          loop,
          tokenTimeoutMillis,
          token -> endpoints.get(url).connect(checkedToken(token), listener),
          listener);
    }
    return endpoints
        .get(url)
        .connect(tokenSupplier == null ? null : checkedToken(tokenSupplier.get()), listener);
  }

  /**
   * {@code token} if it can be sent on an upgrade (null: none), before any socket is opened.
   *
   * @throws io.handoff.client.internal.InvalidTokenException if it is empty or holds a character an
   *     HTTP header cannot carry: the client stops under close code 4502 instead of retrying
   */
  private static String checkedToken(String token) {
    if (token != null) {
      Handshake.checkToken(token);
    }
    return token;
  }
}
