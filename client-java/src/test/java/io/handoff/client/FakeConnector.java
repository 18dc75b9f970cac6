package io.handoff.client;

import io.handoff.client.internal.FrameChannel;
import io.handoff.client.internal.FrameListener;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;

/** Records connection attempts instead of opening sockets. */
final class FakeConnector implements Connector {
  final List<FakeChannel> attempts = new ArrayList<>();

  /** The endpoint of each attempt, in order. */
  final List<URI> endpoints = new ArrayList<>();

  @Override
  public FrameChannel connect(URI endpoint, FrameListener listener) {
    FakeChannel channel = new FakeChannel(listener);
    attempts.add(channel);
    endpoints.add(endpoint);
    return channel;
  }

  FakeChannel last() {
    return attempts.get(attempts.size() - 1);
  }
}
