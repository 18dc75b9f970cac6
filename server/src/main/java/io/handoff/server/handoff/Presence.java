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
 */
final class Presence {
  private final Connection connection;
  // What the device was last told, per other device: ids and online flags side by side, grown on
  // demand (a user has a handful of devices; a map would cost an idle connection ~160 bytes).
  private String[] seenIds = NONE;
  private boolean[] seenOnline;
  private int seenCount;

  private static final String[] NONE = new String[0];

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
        remember(p);
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
      if (remember(p)) {
        u.addDevices(p);
      }
    }
    if (u.getDevicesCount() > 0) {
      connection.push(ServerFrame.newBuilder().setPresenceUpdate(u).build());
      connection.flush();
    }
  }

  /**
   * Whether the device was told, for each of {@code entries} about another device, the same online
   * state (entries about this device itself agree by definition).
   */
  boolean agrees(List<DevicePresence> entries) {
    for (DevicePresence p : entries) {
      if (p.getDeviceId().equals(device())) {
        continue;
      }
      int i = indexOf(p.getDeviceId());
      if (i < 0 || seenOnline[i] != p.getOnline()) {
        return false;
      }
    }
    return true;
  }

  private int indexOf(String id) {
    for (int i = 0; i < seenCount; i++) {
      if (seenIds[i].equals(id)) {
        return i;
      }
    }
    return -1;
  }

  /** Notes {@code p}; true if the device had not been told of it or was told the other state. */
  private boolean remember(DevicePresence p) {
    String id = p.getDeviceId();
    for (int i = 0; i < seenCount; i++) {
      if (seenIds[i].equals(id)) {
        if (seenOnline[i] == p.getOnline()) {
          return false;
        }
        seenOnline[i] = p.getOnline();
        return true;
      }
    }
    if (seenCount == seenIds.length) {
      int n = Math.max(2, seenCount * 2);
      seenIds = Arrays.copyOf(seenIds, n);
      seenOnline = seenOnline == null ? new boolean[n] : Arrays.copyOf(seenOnline, n);
    }
    seenIds[seenCount] = id;
    seenOnline[seenCount++] = p.getOnline();
    return true;
  }
}
