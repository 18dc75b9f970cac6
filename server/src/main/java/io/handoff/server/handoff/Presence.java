package io.handoff.server.handoff;

import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.PresenceUpdate;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.session.Connection;
import java.util.Arrays;
import java.util.List;

/**
 * One connection's view of the user's other devices' presence: what it was last told ({@code
 * seen}), so only changes are pushed, whether they come by signal, from the presence keeper's
 * re-read or from a re-read after lost signals. Event loop only.
 *
 * <p>The connection's {@link HandoffSession} extends this class, so that an idle connection's
 * handoff part is one object, not two (see docs/decisions.md, "One object per connection part").
 */
abstract class Presence {
  final Connection connection;
  // What the device was last told, per other device: its id and its online state (a Boolean, so
  // one of two shared objects) side by side in one array, as long as it needs to be (a user has a
  // handful of devices; a map would cost an idle connection ~160 bytes, two arrays 24 more than
  // one, a count 8).
  private Object[] seen = NONE;

  private static final Object[] NONE = new Object[0];

  Presence(Connection connection) {
    this.connection = connection;
  }

  private String device() {
    return connection.deviceId();
  }

  /** Fills the Welcome's presence of the other devices. */
  final void welcomePresence(Welcome.Builder w, List<DevicePresence> all) {
    for (DevicePresence p : all) {
      if (!p.getDeviceId().equals(device())) {
        remember(p);
        w.addPresence(p);
      }
    }
  }

  /**
   * Tells the device which other devices went on- or offline since it was last told. No flush: the
   * caller flushes (a hop, once for the hops queued together).
   */
  final void pushPresence(List<DevicePresence> entries) {
    PresenceUpdate.Builder u = PresenceUpdate.newBuilder();
    for (DevicePresence p : entries) {
      if (p.getDeviceId().equals(device())) {
        continue;
      }
      if (remember(p)) {
        u.addDevices(p);
      }
    }
    if (u.getDevicesCount() > 0) {
      connection.push(ServerFrame.newBuilder().setPresenceUpdate(u).build());
    }
  }

  /**
   * Whether the device was told, for each of {@code entries} about another device, the same online
   * state (entries about this device itself agree by definition).
   */
  final boolean presenceAgrees(List<DevicePresence> entries) {
    for (DevicePresence p : entries) {
      if (p.getDeviceId().equals(device())) {
        continue;
      }
      int i = indexOf(p.getDeviceId());
      if (i < 0 || onlineAt(i) != p.getOnline()) {
        return false;
      }
    }
    return true;
  }

  private int indexOf(String id) {
    for (int i = 0; 2 * i < seen.length; i++) {
      if (seen[2 * i].equals(id)) {
        return i;
      }
    }
    return -1;
  }

  private boolean onlineAt(int i) {
    return (Boolean) seen[2 * i + 1];
  }

  /** Notes {@code p}; true if the device had not been told of it or was told the other state. */
  private boolean remember(DevicePresence p) {
    int i = indexOf(p.getDeviceId());
    if (i >= 0) {
      if (onlineAt(i) == p.getOnline()) {
        return false;
      }
      seen[2 * i + 1] = p.getOnline();
      return true;
    }
    int at = seen.length;
    seen = Arrays.copyOf(seen, at + 2);
    seen[at] = p.getDeviceId();
    seen[at + 1] = p.getOnline();
    return true;
  }
}
