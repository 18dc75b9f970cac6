package io.handoff.server.engine.redis;

import java.nio.charset.StandardCharsets;

/**
 * Key names. Every key of one user carries the user's hash tag ({@code {user}}), so a user's keys
 * share one Redis Cluster slot and one script can touch them all. Characters that would end the tag
 * early are percent-escaped.
 *
 * <pre>
 * PREFIX{user}:m:DOC     hash   epoch, version, bytes
 * PREFIX{user}:f:DOC     hash   the document's fields
 * PREFIX{user}:h:DOC     list   recent deltas (encoded Delta), oldest first
 * PREFIX{user}:docs      set    the user's document names
 * PREFIX{user}:s:DEVICE  hash   outcomes of recent writes by client_seq, _last, _forgot
 * PREFIX{user}:o:DEVICE  list   those client_seqs in the order they were applied
 * PREFIX{user}:wd        set    devices that wrote (their s: and o: keys), for erasure
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
 * </pre>
 */
final class RedisKeys {
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

  private byte[] key(String user, String rest) {
    return (prefix + "{" + escape(user) + "}:" + rest).getBytes(StandardCharsets.UTF_8);
  }

  static String escape(String user) {
    if (user.indexOf('{') < 0 && user.indexOf('}') < 0 && user.indexOf('%') < 0) {
      return user;
    }
    return user.replace("%", "%25").replace("{", "%7B").replace("}", "%7D");
  }
}
