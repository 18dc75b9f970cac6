package io.handoff.server.sync;

/**
 * Where one device is in one document: the epoch and last version it has been sent, and the state
 * of a read from history under way. Event loop only.
 */
final class Cursor {
  long epoch;
  long version;
  // The fingerprint of version, as the device was sent it; 0 when unknown.
  long fingerprint;
  // A read from history is under way, or waits to be sent again (ReadRetry); events of the
  // document are dropped meanwhile.
  boolean syncing;
  // The highest version seen while syncing: the read is repeated until it caught up.
  long maxSeen;
  // Bumped by each read, so the answer of a superseded read is ignored (compared for equality only,
  // so an int's wrap is harmless; an int keeps the object at 56 bytes with the held event below).
  int generation;
  // Set when events may have been lost while a read was under way, or an event of another epoch
  // came while the stream was held or read: the document is read again once that ends.
  boolean recheck;
  // This connection's own write, the next version on the stream, held until the store answers it
  // (events of the document are dropped meanwhile, as while syncing); null if none.
  DocumentEvent awaiting;

  /**
   * A read sent when the stream had brought up to version {@code seenBefore} found no document.
   * Returns true if the stream brought a version of it meanwhile (a higher one, or of another
   * history): the document was written after the read, so the cursor goes back to no position and
   * stays, and reading it again ({@link DocumentSession#catchUp}) sends that write at once, not at
   * the document's next one. Otherwise the connection stops tracking the document.
   */
  boolean writtenSinceGone(long seenBefore) {
    if (maxSeen <= seenBefore && !recheck) {
      return false;
    }
    epoch = 0;
    version = 0;
    fingerprint = Fingerprint.UNKNOWN;
    return true;
  }
}
