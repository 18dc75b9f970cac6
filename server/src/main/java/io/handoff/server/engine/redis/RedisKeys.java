package io.handoff.server.engine.redis;

import java.nio.charset.StandardCharsets;

/**
 * Key names. Every key of one user carries the user's hash tag ({@code {user}}), so a user's keys
 * share one Redis Cluster slot and one script can touch them all. Characters that would end the tag
 * early are percent-escaped.
 *
 * <pre>
 * PREFIX{user}:m:DOC     hash   epoch, version, bytes, n (field count), fp (fingerprint), _t (TTLs
 *                               refreshed)
 * PREFIX{user}:f:DOC     hash   the document's fields
 * PREFIX{user}:h:DOC     list   recent deltas (encoded Delta), oldest first
 * PREFIX{user}:docs      set    the user's document names
 * PREFIX{user}:s:DEVICE  hash   outcomes of recent writes by client_seq, _last, _forgot, _t
 * PREFIX{user}:o:DEVICE  list   those client_seqs in the order they were applied
 * PREFIX{user}:wd        set    devices that wrote (their s: and o: keys), for erasure
 * PREFIX{dw}:dw          string empty; written by durable-ack rounds (ReplicaWait), expires in 1 min;
 *                               on a Cluster one per slot written, PREFIX{dw:N}:dw, N chosen to land
 *                               in that slot. Releases before named it for a user, PREFIX{user}:dw,
 *                               which erasure still deletes
 * PREFIX{user}:ch        pub/sub channel of the user's deltas
 * PREFIX{user}:dev       hash   device id -> its live device session id
 * PREFIX{user}:ds:SID    hash   device session: did, name, platform, created, seen, rat (last
 *                               rotation), cur (refresh-token hash), rev (revoked), node, gen
 * PREFIX{user}:do:SID    zset   rotated-out refresh-token hashes of the session, by generation
 * PREFIX{user}:dt        zset   revoked session ids (tombstones) by revocation time
 * PREFIX{user}:act       hash   device → its latest Activity
 * PREFIX{user}:of:ID     hash   one offer: o (Offer), st (outcome, 0 live), by, end, from, to, exp
 * PREFIX{user}:offers    zset   live offer ids scored by deadline
 * PREFIX{user}:ended     zset   recently ended offer ids scored by end time
 * PREFIX{user}:pr        hash   device → "online|connection|last_seen_ms|deadline_ms"
 * PREFIX{user}:ap        zset   the user's pending new-device requests by deadline
 * PREFIX{user}:apk       zset   every request of the user (made with the user, or claimed or
 *                               answered by the user) by end of retention, so erasure knows each by
 *                               name
 * PREFIX{ap:ID}:r        hash   one sign-in request (device code or new device), see approval_*.lua
 * PREFIX{apa:ADDR}:p     zset   pending sign-in requests from one address group by deadline
 * PREFIX{apall}:p        zset   every pending sign-in request of the deployment by deadline
 * PREFIX{user}:att       string failed user-code attempts of the user in this window
 * PREFIX{user}:er        hash   erasure id -> 1, for each erasure of the user under way; expires
 *                               ApprovalStore.ERASING_MILLIS after the latest began
 * PREFIX{att:SCOPE}:n    string failed user-code attempts of an address group in this window
 * PREFIX{node:ID}:lease  string the token of the process running node ID, expires unless renewed
 * PREFIX{node:ID}:refused string claims of node ID refused while its lease was held, read by the
 *                               holder's renewals; expires a lease's time after the lease would lapse
 * PREFIX{life}:life      string the store's life marker (StoreLife), no TTL; on a Cluster one per
 *                               master, PREFIX{life:N}:life, N chosen to land in a slot it owns
 * </pre>
 *
 * <p>A sign-in request lives under a tag of its own (its id), not a user's: a device code has no
 * user until someone claims it. Each operation on it touches that one key.
 */
final class RedisKeys {
  // The fixed parts of the keys a write touches (see writeKeys).
  private static final byte[] EMPTY = {};
  private static final byte[] M = ascii("m:");
  private static final byte[] F = ascii("f:");
  private static final byte[] H = ascii("h:");
  private static final byte[] DOCS = ascii("docs");
  private static final byte[] S = ascii("s:");
  private static final byte[] O = ascii("o:");
  private static final byte[] CH = ascii("ch");
  private static final byte[] WD = ascii("wd");

  private final String prefix;

  RedisKeys(String prefix) {
    this.prefix = prefix;
  }

  byte[] meta(String user, String doc) {
    return key(user, "m:" + doc);
  }

  byte[] fields(String user, String doc) {
    return key(user, "f:" + doc);
  }

  byte[] history(String user, String doc) {
    return key(user, "h:" + doc);
  }

  /**
   * The durable-ack probe of a standalone Redis ({@link ReplicaWait}): an empty key that names no
   * user, so a round that runs after a user's erasure (for a write applied before it) leaves
   * nothing of that user.
   */
  byte[] durableProbe() {
    return key("dw", "dw");
  }

  /**
   * The durable-ack probe in Cluster slot {@code slot}: the first of {@code PREFIX{dw:0}:dw},
   * {@code PREFIX{dw:1}:dw}, ... that hashes there, as {@link #life(int)} finds its marker. None of
   * the first million misses a slot unless the prefix has a hash tag of its own, which puts every
   * key, the users' too, in one slot, the first one's; if none did, the standalone probe, whose
   * write the slot's master refuses (MOVED): the round's writes are answered unconfirmed.
   */
  byte[] durableProbe(int slot) {
    for (int i = 0; i < 1 << 20; i++) {
      byte[] k = key("dw:" + i, "dw");
      if (io.lettuce.core.cluster.SlotHash.getSlot(k) == slot) {
        return k;
      }
    }
    return durableProbe();
  }

  byte[] docs(String user) {
    return key(user, "docs");
  }

  byte[] outcomes(String user, String device) {
    return key(user, "s:" + device);
  }

  byte[] seqOrder(String user, String device) {
    return key(user, "o:" + device);
  }

  byte[] writers(String user) {
    return key(user, "wd");
  }

  byte[] deviceSessions(String user) {
    return key(user, "dev");
  }

  byte[] session(String user, String sessionId) {
    return key(user, "ds:" + sessionId);
  }

  byte[] rotatedOut(String user, String sessionId) {
    return key(user, "do:" + sessionId);
  }

  byte[] tombstones(String user) {
    return key(user, "dt");
  }

  byte[] channel(String user) {
    return key(user, "ch");
  }

  /**
   * A key given to every script that reaches keys of the user it is not given (derived from a set
   * it is given, as erasure does from {@code docs}), last or among the last (its place does not
   * matter: Redis checks every key): the user's channel, which is never a key. While the user's
   * slot is being moved to another Cluster master (MIGRATING, IMPORTING), Redis refuses a script
   * one of whose keys it does not hold (ASK from the old master, TRYAGAIN from the new one), so
   * such a script never runs with its keys split between the two: it would read the keys still on
   * the other master as absent, or stop half-way ("attempted to access a non local key") having
   * written part of its work. Refused, it certainly did not run, and is tried again until the slot
   * has moved. {@code write.lua} is given the channel anyway, to publish on.
   */
  byte[] splitGuard(String user) {
    return channel(user);
  }

  byte[] activities(String user) {
    return key(user, "act");
  }

  byte[] offer(String user, String offerId) {
    return key(user, "of:" + offerId);
  }

  byte[] liveOffers(String user) {
    return key(user, "offers");
  }

  byte[] endedOffers(String user) {
    return key(user, "ended");
  }

  byte[] presence(String user) {
    return key(user, "pr");
  }

  byte[] approvalsOfUser(String user) {
    return key(user, "ap");
  }

  byte[] requestsOfUser(String user) {
    return key(user, "apk");
  }

  byte[] approval(String id) {
    return key("ap:" + id, "r");
  }

  byte[] approvalsOfAddress(String address) {
    return key("apa:" + address, "p");
  }

  byte[] approvalsPending() {
    return key("apall", "p");
  }

  /**
   * The wrong-code counter of {@code scope}: a user's ({@code u:USER}) under the user's tag, so a
   * script counts it only while the user's session is alive (attempt_fail.lua); an address's under
   * a tag of its own.
   */
  byte[] attempts(String scope) {
    if (scope.startsWith("u:")) {
      return key(scope.substring(2), "att");
    }
    return key("att:" + scope, "n");
  }

  /**
   * Where releases before the user's counter moved under the user's tag kept it: erasure deletes it
   * too, for a node of such a release still counting there during a rolling upgrade.
   */
  byte[] userAttemptsOfOldReleases(String user) {
    return key("att:u:" + user, "n");
  }

  byte[] erasing(String user) {
    return key(user, "er");
  }

  /** The lease of node id {@code nodeId} ({@link NodeLease}), under a hash tag of its own. */
  byte[] nodeLease(String nodeId) {
    return key("node:" + nodeId, "lease");
  }

  /** Claims of {@code nodeId} refused while its lease was held ({@link NodeLease}), beside it. */
  byte[] nodeClaimsRefused(String nodeId) {
    return key("node:" + nodeId, "refused");
  }

  /** The life marker of a standalone Redis ({@link StoreLife}). */
  byte[] life() {
    return key("life", "life");
  }

  /**
   * A life marker in Cluster slot {@code slot} ({@link StoreLife}): the first of {@code
   * PREFIX{life:0}:life}, {@code PREFIX{life:1}:life}, ... that hashes there; null if none of the
   * first million does (a prefix with a hash tag of its own puts every key in one slot).
   */
  byte[] life(int slot) {
    for (int i = 0; i < 1 << 20; i++) {
      byte[] k = key("life:" + i, "life");
      if (io.lettuce.core.cluster.SlotHash.getSlot(k) == slot) {
        return k;
      }
    }
    return null;
  }

  private byte[] key(String user, String rest) {
    return (prefix + "{" + escape(user) + "}:" + rest).getBytes(StandardCharsets.UTF_8);
  }

  /**
   * The keys one write touches, in the order write.lua takes them, with the user's part encoded
   * once instead of once per key.
   */
  byte[][] writeKeys(String user, String doc, String device) {
    byte[] base = (prefix + "{" + escape(user) + "}:").getBytes(StandardCharsets.UTF_8);
    byte[] d = doc.getBytes(StandardCharsets.UTF_8);
    byte[] dev = device.getBytes(StandardCharsets.UTF_8);
    return new byte[][] {
      join(base, M, d), join(base, F, d), join(base, H, d), join(base, DOCS, EMPTY),
      join(base, S, dev), join(base, O, dev), join(base, CH, EMPTY), join(base, WD, EMPTY)
    };
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  private static byte[] join(byte[] a, byte[] b, byte[] c) {
    byte[] out = new byte[a.length + b.length + c.length];
    System.arraycopy(a, 0, out, 0, a.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    System.arraycopy(c, 0, out, a.length + b.length, c.length);
    return out;
  }

  static String escape(String user) {
    if (user.indexOf('{') < 0 && user.indexOf('}') < 0 && user.indexOf('%') < 0) {
      return user;
    }
    return user.replace("%", "%25").replace("{", "%7B").replace("}", "%7D");
  }
}
