package io.handoff.client;

import static io.handoff.client.Frames.welcome;

import java.net.URI;
import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * A {@link SyncEngine} on a {@link FakeConnector} and a {@link ManualScheduler}, its event loop the
 * test thread and its clock fixed, for the unit tests of one part of the engine (approvals, handoff
 * requests, follows, the app's connection check). {@link #builder} is every such engine's start: a
 * URL nothing listens on, a fixed token, reconnects after 100 ms to 1 s; a test adds its listeners.
 */
final class FakeEngine {
  final FakeConnector connector = new FakeConnector();
  final ManualScheduler scheduler = new ManualScheduler();
  final SyncEngine engine;

  static HandoffClient.Builder builder() {
    return HandoffClient.builder()
        .url(URI.create("ws://127.0.0.1:9/ws"))
        .token("t")
        .reconnectBackoff(Duration.ofMillis(100), Duration.ofSeconds(1));
  }

  FakeEngine(HandoffClient.Builder builder) {
    this(builder, () -> 42L);
  }

  /** With {@code nanos} as the engine's clock. */
  FakeEngine(HandoffClient.Builder builder, LongSupplier nanos) {
    ClientConfig config = new ClientConfig(builder);
    engine =
        new SyncEngine(
            config,
            connector,
            scheduler,
            Runnable::run,
            new Backoff(
                config.reconnectInitial.toNanos(), config.reconnectMax.toNanos(), () -> 0.5),
            nanos);
  }

  /** Connects, opens the attempt and welcomes it; the frames sent until then are drained. */
  FakeChannel connected() {
    engine.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(welcome(0));
    channel.drain();
    return channel;
  }
}
