package io.handoff.client;

import io.handoff.client.internal.FrameChannel;
import io.handoff.client.internal.FrameListener;
import java.util.ArrayList;
import java.util.List;

/** Records connection attempts instead of opening sockets. */
final class FakeConnector implements Connector {
  final List<FakeChannel> attempts = new ArrayList<>();

  @Override
  public FrameChannel connect(FrameListener listener) {
    FakeChannel channel = new FakeChannel(listener);
    attempts.add(channel);
    return channel;
  }

  FakeChannel last() {
    return attempts.get(attempts.size() - 1);
  }
}
