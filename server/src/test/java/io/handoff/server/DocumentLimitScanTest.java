package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Promise 9 (CPU): a user at its document limit that keeps writing new document names costs the
 * store bounded work per refused write. On Redis, write.lua looked at every name of the user's
 * documents (SMEMBERS and one EXISTS per name) for each such write, inside Redis's one thread: at
 * the default limit, a thousand lookups per write, at the write rate of 1,000/s per connection.
 */
class DocumentLimitScanTest {
  private static final int MAX_DOCUMENTS = 200;
  private static final int REFUSED_WRITES = 50;

  private final Nodes nodes = new Nodes();
  private RedisProcess redis;

  @AfterEach
  void stop() {
    nodes.close();
    if (redis != null) {
      redis.stop();
    }
  }

  @Test
  void writesOfNewDocumentsPastTheLimitDoNotEachScanEveryDocumentName() throws Exception {
    redis = RedisProcess.start();
    HandoffServer node =
        nodes.redis(
            redis.url(), "n1", StoreLimits.builder().maxDocumentsPerUser(MAX_DOCUMENTS).build());
    try (TestDevice device = TestDevice.connect(node.port(), TestServer.token("mallory", "d"))) {
      device.hello();
      long seq = 1;
      for (int i = 0; i < MAX_DOCUMENTS; i++, seq++) {
        assertTrue(device.answerTo(device.write("doc" + i, seq, "f", "v")).hasAck());
      }
      long before = existsCalls();
      long startedAt = System.nanoTime();
      for (int i = 0; i < REFUSED_WRITES; i++, seq++) {
        ServerFrame f = device.answerTo(device.write("new" + i, seq, "f", "v"));
        assertEquals(ErrorCode.LIMIT_EXCEEDED, f.getError().getCode(), f.toString());
      }
      long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - startedAt);
      long lookups = existsCalls() - before;
      // The script scans the names at most once a second per user, so the bound grows with the
      // time the writes took (one scan more for a second begun on either side): a loaded machine
      // slows the writes, not the count per second. One scan per write, the defect, is 50.
      long scans = seconds + 2;
      assertTrue(
          scans < REFUSED_WRITES,
          "the refused writes took " + seconds + " s: too slow to tell a scan per write apart");
      assertTrue(
          lookups <= scans * MAX_DOCUMENTS,
          REFUSED_WRITES
              + " refused writes of new documents in "
              + seconds
              + " s made Redis look up "
              + lookups
              + " document keys (the user has "
              + MAX_DOCUMENTS
              + " documents; at most one scan a second)");
    }
  }

  /** Calls of EXISTS so far, scripts' included (INFO commandstats). */
  private long existsCalls() {
    try (RedisClient client = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      for (String line : c.sync().info("commandstats").split("\r?\n")) {
        if (line.startsWith("cmdstat_exists:")) {
          String calls = line.substring(line.indexOf("calls=") + 6);
          return Long.parseLong(calls.substring(0, calls.indexOf(',')));
        }
      }
      return 0;
    }
  }
}
