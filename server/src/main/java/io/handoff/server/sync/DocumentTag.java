package io.handoff.server.sync;

import io.handoff.protocol.v1.ErrorCode;

/**
 * A compact tag of a document's name, kept with each remembered write outcome so that a write
 * re-sent under a client_seq is answered with that outcome only if it is of the same document: a
 * client that reuses a number for another document is refused ({@link #seqReused}) instead of being
 * told that document is at the first one's version.
 *
 * <p>The tag is FNV-1a (64 bits) over the name's UTF-16 code units, never 0 (0 stands for an
 * outcome remembered without a tag, by a server from before tags, which is answered to any document
 * as it was then). Two names with one tag are told apart no better than before tags: a number
 * reused between them is answered with the first write's outcome. Both engines store the same
 * function.
 */
public final class DocumentTag {
  /** No tag: the outcome was remembered before tags, and answers any document. */
  public static final long NONE = 0;

  private static final long OFFSET = 0xcbf29ce484222325L;
  private static final long PRIME = 0x100000001b3L;

  private DocumentTag() {}

  /** The tag of {@code document}; never {@link #NONE}. */
  public static long of(String document) {
    long h = OFFSET;
    for (int i = 0, n = document.length(); i < n; i++) {
      h = (h ^ document.charAt(i)) * PRIME;
    }
    return h == NONE ? 1 : h;
  }

  /**
   * Whether an outcome remembered with tag {@code remembered} answers a write of {@code document}.
   */
  public static boolean answers(long remembered, String document) {
    return remembered == NONE || remembered == of(document);
  }

  /**
   * The refusal of a write whose client_seq this device already used for a write of another
   * document: nothing is changed, and the first write's outcome stays remembered for its own
   * re-sends.
   */
  public static WriteOutcome seqReused(long seq) {
    return WriteOutcome.refused(
        ErrorCode.BAD_REQUEST,
        "client_seq "
            + Long.toUnsignedString(seq)
            + " was already used by this device for a write of another document; nothing was"
            + " applied: every write needs a client_seq of its own (above Welcome.last_client_seq"
            + " and every number still held)",
        0,
        0);
  }
}
