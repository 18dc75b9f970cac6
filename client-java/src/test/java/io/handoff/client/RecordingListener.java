package io.handoff.client;

import java.util.ArrayList;
import java.util.List;

/** Remembers every listener call. Used on one thread (engine tests run the loop inline). */
final class RecordingListener implements HandoffListener {
  record StateChange(ConnectionState state, int closeCode, String reason) {}

  final List<DocumentChange> changes = new ArrayList<>();
  final List<StateChange> states = new ArrayList<>();
  final List<HandoffException> errors = new ArrayList<>();
  final List<String> outOfTurn = new ArrayList<>();
  int synced;

  @Override
  public void onDeltaOutOfTurn(String document, long held, long received) {
    outOfTurn.add(document + " held " + held + " got " + received);
  }

  @Override
  public void onSynced() {
    synced++;
  }

  @Override
  public void onChange(DocumentChange change) {
    changes.add(change);
  }

  @Override
  public void onStateChanged(ConnectionState state, int closeCode, String reason) {
    states.add(new StateChange(state, closeCode, reason));
  }

  @Override
  public void onError(HandoffException error) {
    errors.add(error);
  }
}
