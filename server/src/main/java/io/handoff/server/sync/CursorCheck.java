package io.handoff.server.sync;

/**
 * The live divergence check of a connection's cursor: a pushed delta tells whether the store's
 * history is still the one the device was sent. If the store lost versions the device has and gave
 * their numbers to other writes, the delta of the device's own version arrives with another
 * fingerprint, or the next version's delta arrives with another previous fingerprint. Either way
 * the connection re-reads the document from its position (epoch, version, fingerprint), which
 * answers with a SNAPSHOT of reason DIVERGED.
 */
public final class CursorCheck {
  private CursorCheck() {}

  /**
   * True when event {@code e}'s delta shows that the store's history differs from the device's,
   * which holds {@code version} with {@code fingerprint} of the delta's epoch.
   */
  public static boolean diverged(long version, long fingerprint, DocumentEvent e) {
    if (e.version() == version) {
      return Fingerprint.differ(fingerprint, e.fingerprint());
    }
    if (e.version() == version + 1) {
      return Fingerprint.differ(fingerprint, e.previousFingerprint());
    }
    return false;
  }
}
