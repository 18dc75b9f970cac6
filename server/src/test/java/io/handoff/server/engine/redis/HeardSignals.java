package io.handoff.server.engine.redis;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Semaphore;

/** A broker listener for tests: a permit and the origin node of each signal heard. */
final class HeardSignals implements Broker.Listener {
  final Semaphore signals = new Semaphore(0);
  final List<String> origins = new CopyOnWriteArrayList<>();

  @Override
  public void onEvent(DocumentEvent event) {}

  @Override
  public void onSignal(UserSignal signal) {
    origins.add(signal.getOriginNode());
    signals.release();
  }
}
