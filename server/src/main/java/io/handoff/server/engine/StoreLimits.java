package io.handoff.server.engine;

import io.handoff.protocol.Names;
import java.time.Duration;

/**
 * Limits every {@link DocumentStore} enforces, so that one user's state stays bounded. Immutable;
 * built with {@link #builder()}.
 */
public final class StoreLimits {
  public static final int DEFAULT_HISTORY_LENGTH = 1000;
  public static final Duration DEFAULT_HISTORY_MAX_AGE = Duration.ofDays(1);
  public static final int DEFAULT_MAX_DOCUMENT_BYTES = 256 * 1024;
  public static final int DEFAULT_MAX_VALUE_BYTES = 64 * 1024;
  public static final int DEFAULT_MAX_FIELDS_PER_DOCUMENT = 1024;
  public static final int DEFAULT_MAX_DOCUMENTS_PER_USER = 1000;
  public static final int DEFAULT_MAX_OPS_PER_WRITE = 256;
  public static final int DEFAULT_MAX_NAME_BYTES = Names.DEFAULT_MAX_NAME_BYTES;
  public static final int DEFAULT_SEQ_WINDOW = 1024;
  public static final int DEFAULT_MAX_DEVICES_PER_USER = 64;

  /**
   * {@link #maxWritingDevicesPerUser()} is this many times {@link #maxDevicesPerUser()}: room for
   * devices signed out, revoked or whose browser cleared its storage (a new device id) while their
   * records of writes live on for the idle TTL.
   */
  public static final int WRITING_DEVICES_PER_DEVICE = 4;

  public static final Duration DEFAULT_IDLE_TTL = Duration.ofDays(30);
  public static final Duration DEFAULT_DURABLE_ACK_TIMEOUT = Duration.ofSeconds(1);

  /**
   * How long a node waits for the store's answer to a write (besides the durable-ack wait): above
   * the Redis engine's own bounds (10 s of waiting out temporary trouble, a 2 s command timeout, a
   * script reload), so it ends only an answer that was lost.
   */
  public static final Duration DEFAULT_WRITE_ANSWER_TIMEOUT = Duration.ofSeconds(30);

  /**
   * How long a node id stays claimed on Redis after its node stops renewing the claim (killed): a
   * node started with that id waits up to this long ({@link Engine#claimNode}).
   */
  public static final Duration DEFAULT_NODE_LEASE = Duration.ofSeconds(10);

  /**
   * Most replicas durable acks may wait for (Redis itself has no such limit; this catches typos).
   */
  public static final int MAX_DURABLE_ACKS = 16;

  private final int historyLength;
  private final Duration historyMaxAge;
  private final int maxDocumentBytes;
  private final int maxValueBytes;
  private final int maxFieldsPerDocument;
  private final int maxDocumentsPerUser;
  private final int maxOpsPerWrite;
  private final int maxNameBytes;
  private final int seqWindow;
  private final int maxDevicesPerUser;
  private final Duration idleTtl;
  private final int durableAcks;
  private final Duration durableAckTimeout;
  private final Duration writeAnswerTimeout;
  private final Duration nodeLease;
  private final Duration erasureMark;

  private StoreLimits(Builder b) {
    this.nodeLease = b.nodeLease;
    this.erasureMark = b.erasureMark;
    this.historyLength = b.historyLength;
    this.historyMaxAge = b.historyMaxAge;
    this.maxDocumentBytes = b.maxDocumentBytes;
    this.maxValueBytes = b.maxValueBytes;
    this.maxFieldsPerDocument = b.maxFieldsPerDocument;
    this.maxDocumentsPerUser = b.maxDocumentsPerUser;
    this.maxOpsPerWrite = b.maxOpsPerWrite;
    this.maxNameBytes = b.maxNameBytes;
    this.seqWindow = b.seqWindow;
    this.maxDevicesPerUser = b.maxDevicesPerUser;
    this.idleTtl = b.idleTtl;
    this.durableAcks = b.durableAcks;
    this.durableAckTimeout = b.durableAckTimeout;
    this.writeAnswerTimeout = b.writeAnswerTimeout;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Deltas kept per document for resume; older ones fall back to a snapshot. */
  public int historyLength() {
    return historyLength;
  }

  /** Deltas older than this are dropped from history. */
  public Duration historyMaxAge() {
    return historyMaxAge;
  }

  /** Sum of field name and value bytes of one document. */
  public int maxDocumentBytes() {
    return maxDocumentBytes;
  }

  public int maxValueBytes() {
    return maxValueBytes;
  }

  public int maxFieldsPerDocument() {
    return maxFieldsPerDocument;
  }

  public int maxDocumentsPerUser() {
    return maxDocumentsPerUser;
  }

  public int maxOpsPerWrite() {
    return maxOpsPerWrite;
  }

  /** Longest document or field name, in UTF-8 bytes. */
  public int maxNameBytes() {
    return maxNameBytes;
  }

  /** Outcomes of this many recent writes are remembered per device to answer re-sent writes. */
  public int seqWindow() {
    return seqWindow;
  }

  /** Signed-in device sessions, presence entries and activities per user. */
  public int maxDevicesPerUser() {
    return maxDevicesPerUser;
  }

  /**
   * Devices of one user whose records of their writes the in-memory engine holds at once: {@link
   * #WRITING_DEVICES_PER_DEVICE} times {@link #maxDevicesPerUser()} (256 by default). A device's
   * record is kept until it has not written for the {@link #idleTtl()}, never dropped for another
   * device: a write of a device without a record while the user has this many is refused
   * LIMIT_EXCEEDED. (Redis keeps every device's record for the idle TTL, without this bound.)
   */
  public int maxWritingDevicesPerUser() {
    return (int) Math.min(Integer.MAX_VALUE, (long) WRITING_DEVICES_PER_DEVICE * maxDevicesPerUser);
  }

  /**
   * A user's stored state not written for this long expires (Redis engine: key TTLs refreshed on
   * every write).
   */
  public Duration idleTtl() {
    return idleTtl;
  }

  /**
   * Replicas that must hold a write before it is acked (Redis {@code WAIT}); 0: acked once the
   * store applied it. Only a replicated Redis can honour it.
   */
  public int durableAcks() {
    return durableAcks;
  }

  /**
   * How long a write waits for {@link #durableAcks()} replicas; past it the write (applied, not
   * confirmed) is answered OUTCOME_UNKNOWN.
   */
  public Duration durableAckTimeout() {
    return durableAckTimeout;
  }

  /**
   * How long a write handed to the store may go without an answer before the node answers it
   * OUTCOME_UNKNOWN itself: {@link #DEFAULT_WRITE_ANSWER_TIMEOUT} unless set, plus twice the {@link
   * #durableAckTimeout()} when durable acks are on (a write may wait for the confirmation round
   * under way, then for its own).
   */
  public Duration writeAnswerDeadline() {
    return durableAcks > 0
        ? writeAnswerTimeout.plus(durableAckTimeout.multipliedBy(2))
        : writeAnswerTimeout;
  }

  /** The lease of a node's id on a shared store ({@link #DEFAULT_NODE_LEASE}). */
  public Duration nodeLease() {
    return nodeLease;
  }

  /**
   * The longest an erasure's mark holds ({@link
   * io.handoff.server.devices.ApprovalStore#beginErasure}), should its node die before it ends;
   * each mark lapses on its own. {@link io.handoff.server.devices.ApprovalStore#ERASING_MILLIS}
   * unless a test sets it short.
   */
  public Duration erasureMark() {
    return erasureMark;
  }

  @Override
  public String toString() {
    return "StoreLimits{historyLength="
        + historyLength
        + ", historyMaxAge="
        + historyMaxAge
        + ", maxDocumentBytes="
        + maxDocumentBytes
        + ", maxValueBytes="
        + maxValueBytes
        + ", maxFieldsPerDocument="
        + maxFieldsPerDocument
        + ", maxDocumentsPerUser="
        + maxDocumentsPerUser
        + ", maxOpsPerWrite="
        + maxOpsPerWrite
        + ", maxNameBytes="
        + maxNameBytes
        + ", seqWindow="
        + seqWindow
        + ", maxDevicesPerUser="
        + maxDevicesPerUser
        + ", idleTtl="
        + idleTtl
        + ", durableAcks="
        + durableAcks
        + ", durableAckTimeout="
        + durableAckTimeout
        + ", writeAnswerTimeout="
        + writeAnswerTimeout
        + ", nodeLease="
        + nodeLease
        + ", erasureMark="
        + erasureMark
        + "}";
  }

  /** Builds {@link StoreLimits}; not thread-safe. */
  public static final class Builder {
    private int historyLength = DEFAULT_HISTORY_LENGTH;
    private Duration historyMaxAge = DEFAULT_HISTORY_MAX_AGE;
    private int maxDocumentBytes = DEFAULT_MAX_DOCUMENT_BYTES;
    private int maxValueBytes = DEFAULT_MAX_VALUE_BYTES;
    private int maxFieldsPerDocument = DEFAULT_MAX_FIELDS_PER_DOCUMENT;
    private int maxDocumentsPerUser = DEFAULT_MAX_DOCUMENTS_PER_USER;
    private int maxOpsPerWrite = DEFAULT_MAX_OPS_PER_WRITE;
    private int maxNameBytes = DEFAULT_MAX_NAME_BYTES;
    private int seqWindow = DEFAULT_SEQ_WINDOW;
    private int maxDevicesPerUser = DEFAULT_MAX_DEVICES_PER_USER;
    private Duration idleTtl = DEFAULT_IDLE_TTL;
    private int durableAcks;
    private Duration durableAckTimeout = DEFAULT_DURABLE_ACK_TIMEOUT;
    private Duration writeAnswerTimeout = DEFAULT_WRITE_ANSWER_TIMEOUT;
    private Duration nodeLease = DEFAULT_NODE_LEASE;
    private Duration erasureMark =
        Duration.ofMillis(io.handoff.server.devices.ApprovalStore.ERASING_MILLIS);

    private Builder() {}

    /** See {@link StoreLimits#erasureMark()}; 1ms to 10min (tests use short ones). */
    public Builder erasureMark(Duration v) {
      check(
          v.toMillis() >= 1 && v.compareTo(Duration.ofMinutes(10)) <= 0,
          "erasureMark must be between 1ms and 10min, got " + v);
      erasureMark = v;
      return this;
    }

    /** Acks only writes that {@code replicas} Redis replicas hold (0: off). */
    public Builder durableAcks(int replicas) {
      check(
          replicas >= 0 && replicas <= MAX_DURABLE_ACKS,
          "durableAcks must be between 0 (off) and " + MAX_DURABLE_ACKS + ", got " + replicas);
      durableAcks = replicas;
      return this;
    }

    public Builder durableAckTimeout(Duration v) {
      check(
          v.toMillis() >= 1 && v.compareTo(Duration.ofSeconds(60)) <= 0,
          "durableAckTimeout must be between 1ms and 60s, got " + v);
      durableAckTimeout = v;
      return this;
    }

    /**
     * How long the node waits for the store's answer to a write (see {@link
     * #writeAnswerDeadline()}).
     */
    public Builder writeAnswerTimeout(Duration v) {
      check(
          v.toMillis() >= 1 && v.compareTo(Duration.ofMinutes(10)) <= 0,
          "writeAnswerTimeout must be between 1ms and 10min, got " + v);
      writeAnswerTimeout = v;
      return this;
    }

    /** See {@link StoreLimits#nodeLease()}; 100ms to 10min (tests use short ones). */
    public Builder nodeLease(Duration v) {
      check(
          v.toMillis() >= 100 && v.compareTo(Duration.ofMinutes(10)) <= 0,
          "nodeLease must be between 100ms and 10min, got " + v);
      nodeLease = v;
      return this;
    }

    public Builder idleTtl(Duration v) {
      check(v.getSeconds() >= 1, "idleTtl must be >= 1s, got " + v);
      idleTtl = v;
      return this;
    }

    public Builder historyLength(int v) {
      check(v >= 1, "historyLength must be >= 1, got " + v);
      historyLength = v;
      return this;
    }

    public Builder historyMaxAge(Duration v) {
      check(v.toMillis() >= 1, "historyMaxAge must be >= 1ms, got " + v);
      historyMaxAge = v;
      return this;
    }

    public Builder maxDocumentBytes(int v) {
      check(v >= 64, "maxDocumentBytes must be >= 64, got " + v);
      maxDocumentBytes = v;
      return this;
    }

    public Builder maxValueBytes(int v) {
      check(v >= 1, "maxValueBytes must be >= 1, got " + v);
      maxValueBytes = v;
      return this;
    }

    public Builder maxFieldsPerDocument(int v) {
      check(v >= 1, "maxFieldsPerDocument must be >= 1, got " + v);
      maxFieldsPerDocument = v;
      return this;
    }

    public Builder maxDocumentsPerUser(int v) {
      check(v >= 1, "maxDocumentsPerUser must be >= 1, got " + v);
      maxDocumentsPerUser = v;
      return this;
    }

    public Builder maxOpsPerWrite(int v) {
      check(v >= 1, "maxOpsPerWrite must be >= 1, got " + v);
      maxOpsPerWrite = v;
      return this;
    }

    public Builder maxNameBytes(int v) {
      check(v >= 8, "maxNameBytes must be >= 8, got " + v);
      maxNameBytes = v;
      return this;
    }

    public Builder seqWindow(int v) {
      check(v >= 1, "seqWindow must be >= 1, got " + v);
      seqWindow = v;
      return this;
    }

    public Builder maxDevicesPerUser(int v) {
      check(v >= 1, "maxDevicesPerUser must be >= 1, got " + v);
      maxDevicesPerUser = v;
      return this;
    }

    public StoreLimits build() {
      check(
          maxValueBytes <= maxDocumentBytes,
          "maxValueBytes (" + maxValueBytes + ") must be <= maxDocumentBytes");
      return new StoreLimits(this);
    }

    private static void check(boolean ok, String message) {
      if (!ok) {
        throw new IllegalArgumentException(message);
      }
    }
  }
}
