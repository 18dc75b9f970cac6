package io.handoff.client;

import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;

/** The validated, immutable settings of one {@link HandoffClient}, taken from its builder. */
final class ClientConfig {
  final List<URI> urls;
  final Supplier<String> tokenSupplier;
  final Supplier<? extends java.util.concurrent.CompletionStage<String>> tokenSource;
  final boolean followAll;
  final List<String> followDocuments;
  final List<String> followPrefixes;
  final EventLoopGroup eventLoopGroup;
  final InetSocketAddress localAddress;
  final boolean renewableToken;
  final Duration reconnectInitial;
  final Duration reconnectMax;
  final long maxUnackedWriteBytes;
  final Duration unavailableBackoffMax;
  final int maxInFlightWrites;
  final Duration connectTimeout;
  final Duration heartbeatMargin;
  final String clientName;
  final List<HandoffListener> listeners;
  final List<OfferListener> offerListeners;
  final List<PresenceListener> presenceListeners;
  final List<ApprovalListener> approvalListeners;

  ClientConfig(HandoffClient.Builder b) {
    this.urls = List.copyOf(b.urls);
    this.tokenSupplier = b.tokenSupplier;
    this.tokenSource = b.tokenSource;
    this.renewableToken = b.renewableToken;
    this.followAll = b.follow.all();
    this.followDocuments = List.copyOf(b.follow.documents());
    this.followPrefixes = List.copyOf(b.follow.prefixes());
    this.eventLoopGroup = b.eventLoopGroup;
    this.localAddress = b.localAddress;
    this.reconnectInitial = b.reconnectInitial;
    this.reconnectMax = b.reconnectMax;
    this.maxUnackedWriteBytes = b.maxUnackedWriteBytes;
    this.unavailableBackoffMax = b.unavailableBackoffMax;
    this.maxInFlightWrites = b.maxInFlightWrites;
    this.connectTimeout = b.connectTimeout;
    this.heartbeatMargin = b.heartbeatMargin;
    this.clientName = b.clientName;
    this.listeners = List.copyOf(b.listeners);
    this.offerListeners = List.copyOf(b.offerListeners);
    this.presenceListeners = List.copyOf(b.presenceListeners);
    this.approvalListeners = List.copyOf(b.approvalListeners);
  }

  /** Also the builder's {@code toString()}; the token is never printed. */
  @Override
  public String toString() {
    return "{urls="
        + urls
        + ", token="
        + (tokenSupplier != null || tokenSource != null ? "****" : "none")
        + ", follow="
        + (followAll ? "all" : "documents" + followDocuments + " prefixes" + followPrefixes)
        + ", eventLoopGroup="
        + (eventLoopGroup == null ? "own" : "shared")
        + (localAddress == null ? "" : ", localAddress=" + localAddress)
        + ", reconnectBackoff="
        + reconnectInitial.toMillis()
        + ".."
        + reconnectMax.toMillis()
        + "ms (unavailable: "
        + unavailableBackoffMax.toMillis()
        + "ms), maxUnackedWriteBytes="
        + maxUnackedWriteBytes
        + ", maxInFlightWrites="
        + maxInFlightWrites
        + ", connectTimeout="
        + connectTimeout.toMillis()
        + "ms, heartbeatMargin="
        + heartbeatMargin.toMillis()
        + "ms, clientName="
        + clientName
        + ", listeners="
        + listeners.size()
        + "}";
  }
}
