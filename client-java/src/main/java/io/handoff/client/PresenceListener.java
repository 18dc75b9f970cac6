package io.handoff.client;

import io.handoff.protocol.v1.DevicePresence;
import java.util.List;

/**
 * Receives the online state of the user's other devices. Called on the client's event loop; must
 * not block (see {@link HandoffListener}).
 */
public interface PresenceListener {
  /**
   * Devices whose presence changed (on connect: every device the server knows of). {@link
   * HandoffClient#presence()} holds the whole picture.
   */
  void onPresence(List<DevicePresence> changed);
}
