package io.handoff.server.engine.memory;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.WriteOutcome;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Set;

/**
 * One user's records of its devices' writes ({@link DeviceSeqs}) in the memory engine. A device's
 * record goes only once the device has not written for the idle TTL (as its {@code s:} and {@code
 * o:} keys expire on Redis), or with the user's state; it is never dropped to make room for another
 * device, since a device forgotten while it could still re-send a write would have that write
 * applied a second time. Memory stays bounded instead by {@link
 * StoreLimits#maxWritingDevicesPerUser()}: while the user has that many records, none of them
 * expired, a write of a device without one is refused ({@link #full}) and nothing is recorded. Not
 * thread-safe: guarded by its user's monitor.
 */
final class DeviceRecords {
  private final HashMap<String, DeviceSeqs> devices = new HashMap<>();

  /** The device's record, or null if it has none. */
  DeviceSeqs get(String deviceId) {
    return devices.get(deviceId);
  }

  /**
   * The device's record, made at {@code now} if it has none and the user has fewer than {@code max}
   * (after dropping those expired at {@code now}); null if there is no room.
   */
  DeviceSeqs admit(String deviceId, int max, int window, long now, long idleMillis) {
    DeviceSeqs d = devices.get(deviceId);
    if (d == null) {
      if (devices.size() >= max) {
        expire(now, idleMillis);
        if (devices.size() >= max) {
          return null;
        }
      }
      d = new DeviceSeqs(window, now);
      devices.put(deviceId, d);
    }
    return d;
  }

  /**
   * The refusal of a write of a device without a record while the user has {@code max} records,
   * saying when the first of them expires.
   */
  WriteOutcome full(int max, long idleMillis) {
    long oldest = Long.MAX_VALUE;
    for (DeviceSeqs d : devices.values()) {
      oldest = Math.min(oldest, d.lastWrite);
    }
    return WriteOutcome.refused(
        ErrorCode.LIMIT_EXCEEDED,
        max
            + " devices of this user wrote within the idle TTL ("
            + span(idleMillis)
            + "), the most whose writes are remembered ("
            + StoreLimits.WRITING_DEVICES_PER_DEVICE
            + " x max-devices); each device's writes are"
            + " remembered that long so that a re-sent one is never applied twice, so a write of"
            + " another device is refused, and nothing was applied. Room opens when one of them has"
            + " not written for the idle TTL (the first at "
            + Instant.ofEpochMilli(oldest + idleMillis)
            + ") or the user's data is erased; an operator can raise max-devices",
        0,
        0);
  }

  private static String span(long millis) {
    return millis % 86_400_000 == 0
        ? millis / 86_400_000 + " days"
        : Duration.ofMillis(millis).toString();
  }

  /** The highest client_seq the device's writes used; 0 if it has no record. */
  long lastClientSeq(String deviceId) {
    DeviceSeqs d = devices.get(deviceId);
    return d == null ? 0 : d.last;
  }

  /** Drops the records of devices that have not written for {@code idleMillis} at {@code now}. */
  void expire(long now, long idleMillis) {
    devices.values().removeIf(d -> now - d.lastWrite >= idleMillis);
  }

  /**
   * Drops the devices' order records of documents not in {@code documents} (those that went with
   * their documents: at most one per document the user holds, or a device that keeps writing new
   * documents would keep one per document it ever wrote).
   */
  void keepOrderOf(Set<String> documents) {
    for (DeviceSeqs d : devices.values()) {
      d.lastByDocument.keySet().removeIf(name -> !documents.contains(name));
    }
  }

  /** Devices with a record. */
  int size() {
    return devices.size();
  }

  /** The records of the highest client_seq per device and document, for tests. */
  int orderRecords() {
    int n = 0;
    for (DeviceSeqs d : devices.values()) {
      n += d.lastByDocument.size();
    }
    return n;
  }

  /** A copy that shares nothing with this one. */
  DeviceRecords copy() {
    DeviceRecords c = new DeviceRecords();
    devices.forEach((id, d) -> c.devices.put(id, d.copy()));
    return c;
  }
}
