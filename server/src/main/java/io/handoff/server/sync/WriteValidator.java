package io.handoff.server.sync;

import io.handoff.protocol.Names;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Write;
import io.handoff.server.engine.StoreLimits;
import java.util.List;

/**
 * The checks on a write (and on a follow set or an Unfollow) that need no stored state: names, op
 * shapes, value sizes. Every engine runs them before touching its store, so both engines refuse the
 * same writes with the same messages. Stateless and thread-safe.
 */
public final class WriteValidator {
  /**
   * The largest client_seq taken, 2^53 - 1: the Redis engine's write script compares sequence
   * numbers as Lua numbers (doubles), which tell integers apart only up to 2^53.
   */
  public static final long MAX_CLIENT_SEQ = (1L << 53) - 1;

  /**
   * The largest version a document can reach, 2^53 - 1, for the same reason (versions count writes
   * one by one, so none ever gets there): a larger expected_version is refused, and a larger
   * position is beyond every document.
   */
  public static final long MAX_VERSION = (1L << 53) - 1;

  /** {@code version} (unsigned, from the wire) as a number every engine orders exactly. */
  public static long clampVersion(long version) {
    return Long.compareUnsigned(version, MAX_VERSION) > 0 ? MAX_VERSION : version;
  }

  private final StoreLimits limits;

  public WriteValidator(StoreLimits limits) {
    this.limits = limits;
  }

  /** {@code null} when the write is well-formed, otherwise the refusal to send back. */
  public WriteOutcome check(Write w) {
    String nameProblem = checkName("document name", w.getDocument());
    if (nameProblem != null) {
      return bad(nameProblem);
    }
    if (w.getClientSeq() == 0) {
      return bad("client_seq must be > 0");
    }
    if (Long.compareUnsigned(w.getClientSeq(), MAX_CLIENT_SEQ) > 0) {
      return bad(
          "client_seq "
              + Long.toUnsignedString(w.getClientSeq())
              + " is over the largest taken, 2^53-1 ("
              + MAX_CLIENT_SEQ
              + "); number a device's writes 1, 2, 3, ... from the Welcome's last_client_seq + 1");
    }
    if (w.hasExpectedVersion() && Long.compareUnsigned(w.getExpectedVersion(), MAX_VERSION) > 0) {
      return bad(
          "expected_version "
              + Long.toUnsignedString(w.getExpectedVersion())
              + " is over the largest version a document can have, 2^53-1 ("
              + MAX_VERSION
              + ")");
    }
    if (w.getOpsCount() == 0) {
      return bad("a write needs at least one field operation");
    }
    if (w.getOpsCount() > limits.maxOpsPerWrite()) {
      return limit(
          "write has " + w.getOpsCount() + " ops; the limit is " + limits.maxOpsPerWrite());
    }
    for (FieldOp op : w.getOpsList()) {
      String fieldProblem = checkName("field name", op.getField());
      if (fieldProblem != null) {
        return bad(fieldProblem);
      }
      switch (op.getOpCase()) {
        case SET -> {
          if (op.getSet().size() > limits.maxValueBytes()) {
            return limit(
                "value of field '"
                    + op.getField()
                    + "' is "
                    + op.getSet().size()
                    + " bytes; the limit is "
                    + limits.maxValueBytes());
          }
        }
        case REMOVE -> {
          if (!op.getRemove()) {
            return bad("remove must be true on field '" + op.getField() + "'");
          }
        }
        default -> {
          return bad("field '" + op.getField() + "' has neither set nor remove");
        }
      }
    }
    return null;
  }

  /** {@code null} when {@code name} is a valid document or field name, else what is wrong. */
  public String checkName(String what, String name) {
    return Names.problem(what, name, limits.maxNameBytes());
  }

  /** The UTF-8 length of {@code s} without encoding it. */
  public static int utf8Length(String s) {
    return Names.utf8Length(s);
  }

  private static WriteOutcome bad(String message) {
    return WriteOutcome.refused(ErrorCode.BAD_REQUEST, message, 0, 0);
  }

  private static WriteOutcome limit(String message) {
    return WriteOutcome.refused(ErrorCode.LIMIT_EXCEEDED, message, 0, 0);
  }

  /**
   * What is wrong with following {@code filter} from {@code positions}, or null: {@code
   * LIMIT_EXCEEDED} for more than {@code maxFollowEntries} names and prefixes or more positions
   * than a user may have documents, {@code BAD_REQUEST} for a name or prefix the name rule refuses.
   */
  public Error checkFollow(FollowFilter filter, List<Position> positions, int maxFollowEntries) {
    if (filter.size() > maxFollowEntries) {
      return refusal(
          ErrorCode.LIMIT_EXCEEDED,
          "following " + filter.size() + " names and prefixes; the limit is " + maxFollowEntries);
    }
    if (positions.size() > limits.maxDocumentsPerUser()) {
      return refusal(
          ErrorCode.LIMIT_EXCEEDED,
          positions.size() + " positions; the limit is " + limits.maxDocumentsPerUser());
    }
    Error bad = checkNames(filter.documents(), filter.prefixes());
    if (bad != null) {
      return bad;
    }
    for (Position p : positions) {
      String problem = checkName("document name", p.getDocument());
      if (problem != null) {
        return refusal(ErrorCode.BAD_REQUEST, problem);
      }
    }
    return null;
  }

  /**
   * What is wrong with the names and prefixes of an Unfollow, or null: {@code BAD_REQUEST} for one
   * the name rule refuses, as in a Follow. No count limit: an Unfollow only removes.
   */
  public Error checkUnfollow(FollowSpec spec) {
    return checkNames(spec.getDocumentsList(), spec.getPrefixesList());
  }

  private Error checkNames(Iterable<String> documents, Iterable<String> prefixes) {
    for (String d : documents) {
      String p = checkName("document name", d);
      if (p != null) {
        return refusal(ErrorCode.BAD_REQUEST, p);
      }
    }
    for (String prefix : prefixes) {
      String p = Names.prefixProblem("follow prefix", prefix, limits.maxNameBytes());
      if (p != null) {
        return refusal(ErrorCode.BAD_REQUEST, p);
      }
    }
    return null;
  }

  private static Error refusal(ErrorCode code, String message) {
    return Error.newBuilder().setCode(code).setMessage(message).build();
  }
}
