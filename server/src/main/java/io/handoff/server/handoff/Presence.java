package io.handoff.server.handoff;

import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.PresenceUpdate;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.session.Connection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One connection's view of the user's other devices' presence: what it was last told ({@code
 * seen}), so only changes are pushed, whether they come by signal, from the presence keeper's
 * re-read or from a re-read after lost signals. Event loop only.
 */
final class Presence {
  private final Connection connection;
  private final Map<String, DevicePresence> seen = new HashMap<>();

  Presence(Connection connection) {
    this.connection = connection;
  }

  private String device() {
    return connection.deviceId();
  }

  /** Fills the Welcome's presence of the other devices. */
  void welcome(Welcome.Builder w, List<DevicePresence> all) {
    for (DevicePresence p : all) {
      if (!p.getDeviceId().equals(device())) {
        seen.put(p.getDeviceId(), p);
        w.addPresence(p);
      }
    }
  }

  /** Tells the device which other devices went on- or offline since it was last told. */
  void push(List<DevicePresence> entries) {
    PresenceUpdate.Builder u = PresenceUpdate.newBuilder();
    for (DevicePresence p : entries) {
      if (p.getDeviceId().equals(device())) {
        continue;
      }
      DevicePresence before = seen.get(p.getDeviceId());
      if (before == null || before.getOnline() != p.getOnline()) {
        seen.put(p.getDeviceId(), p);
        u.addDevices(p);
      }
    }
    if (u.getDevicesCount() > 0) {
      connection.push(ServerFrame.newBuilder().setPresenceUpdate(u).build());
      connection.flush();
    }
  }
}
