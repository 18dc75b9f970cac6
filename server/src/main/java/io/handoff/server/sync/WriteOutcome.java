package io.handoff.server.sync;

import io.handoff.protocol.v1.ErrorCode;

/**
 * The result of {@link DocumentStore#write}: either applied (with the version it created) or
 * refused (with a code and a message a person can act on). Immutable.
 */
public final class WriteOutcome {
  private final ErrorCode error;
  private final String message;
  private final long epoch;
  private final long version;
  private final boolean duplicate;
  private final long fingerprint;
  private final boolean noWriteRecord;

  private WriteOutcome(
      ErrorCode error,
      String message,
      long epoch,
      long version,
      boolean duplicate,
      long fingerprint,
      boolean noWriteRecord) {
    this.error = error;
    this.message = message;
    this.epoch = epoch;
    this.version = version;
    this.duplicate = duplicate;
    this.fingerprint = fingerprint;
    this.noWriteRecord = noWriteRecord;
  }

  /** The write created {@code version}; {@code duplicate} when it had been applied before. */
  public static WriteOutcome applied(long epoch, long version, boolean duplicate) {
    return applied(epoch, version, Fingerprint.UNKNOWN, duplicate);
  }

  /** The write created {@code version}, whose {@link Fingerprint} is {@code fingerprint}. */
  public static WriteOutcome applied(
      long epoch, long version, long fingerprint, boolean duplicate) {
    return new WriteOutcome(null, null, epoch, version, duplicate, fingerprint, false);
  }

  /**
   * The write was refused and nothing changed. {@code epoch} and {@code version} say where the
   * document is (0 when it does not exist).
   */
  public static WriteOutcome refused(ErrorCode error, String message, long epoch, long version) {
    return new WriteOutcome(error, message, epoch, version, false, Fingerprint.UNKNOWN, false);
  }

  /**
   * The refusal of {@code seq}, a number at or below one the device's remembered writes no longer
   * hold and not itself remembered: the store cannot tell whether a write under it was applied or
   * the number was never used, and the message says only that.
   */
  public static WriteOutcome staleSequence(long seq) {
    return refused(
        ErrorCode.STALE_SEQUENCE,
        "client_seq "
            + seq
            + " is not among the writes remembered for this device and not above the numbers it"
            + " forgot: a write under it may have been applied, or the number never used; the"
            + " server cannot tell. Sending it again gets this answer again; a write that was not"
            + " applied needs a new client_seq above every number used",
        0,
        0);
  }

  /** The same outcome, marked as the answer to a re-sent write. */
  public WriteOutcome asDuplicate() {
    return new WriteOutcome(error, message, epoch, version, true, fingerprint, noWriteRecord);
  }

  /**
   * The same refusal, marked as made with no record of the device's earlier writes (none yet, or
   * its record went): it covers this send only, and an earlier send of the same client_seq may have
   * been applied ({@code Error.no_write_record}). An applied outcome is returned as it is.
   */
  public WriteOutcome withoutWriteRecord() {
    return isApplied()
        ? this
        : new WriteOutcome(error, message, epoch, version, duplicate, fingerprint, true);
  }

  /** True for a refusal made with no record of the device's earlier writes. */
  public boolean noWriteRecord() {
    return noWriteRecord;
  }

  public boolean isApplied() {
    return error == null;
  }

  /** The refusal code, or {@code null} when applied. */
  public ErrorCode error() {
    return error;
  }

  public String message() {
    return message;
  }

  public long epoch() {
    return epoch;
  }

  /** The version the write created, or for a refusal the document's current version. */
  public long version() {
    return version;
  }

  /** The fingerprint of the version an applied write created; 0 when unknown or refused. */
  public long fingerprint() {
    return fingerprint;
  }

  public boolean duplicate() {
    return duplicate;
  }

  @Override
  public String toString() {
    return isApplied()
        ? "applied v" + version + (duplicate ? " (duplicate)" : "")
        : "refused " + error + (noWriteRecord ? " (no write record)" : "") + ": " + message;
  }
}
