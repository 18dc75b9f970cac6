package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.SyncResult;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RestoreArgs;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link DivergenceTest} on a real Redis. History is lost as a failover to a replica that had not
 * received the last writes loses it: the user's keys are put back as they were (DUMP and RESTORE),
 * and the node's connections are cut as the old master's death would cut them.
 */
class RedisDivergenceTest extends DivergenceTest {
  private final Nodes nodes = new Nodes();
  private RedisClient client;
  private StatefulRedisConnection<byte[], byte[]> connection;

  @Override
  protected HandoffServer startNode(StoreLimits limits) throws Exception {
    client = RedisClient.create(RedisProcess.sharedUrl());
    connection = client.connect(ByteArrayCodec.INSTANCE);
    return nodes.redis(RedisProcess.sharedUrl(), "test", limits);
  }

  @AfterEach
  void closeAll() {
    nodes.close();
    if (connection != null) {
      connection.close();
      client.shutdown();
    }
  }

  private String pattern() {
    return nodes.prefix + "{" + user + "}:*";
  }

  @Override
  protected Object backup() {
    RedisCommands<byte[], byte[]> redis = connection.sync();
    Map<byte[], byte[]> dumps = new LinkedHashMap<>();
    for (byte[] key : redis.keys(pattern())) {
      dumps.put(key, redis.dump(key));
    }
    return dumps;
  }

  @Override
  @SuppressWarnings("unchecked")
  protected void restore(Object backup) {
    RedisCommands<byte[], byte[]> redis = connection.sync();
    for (byte[] key : redis.keys(pattern())) {
      redis.del(key);
    }
    // REPLACE: the node's presence keeper may write the user's presence key meanwhile.
    ((Map<byte[], byte[]>) backup)
        .forEach((key, dump) -> redis.restore(key, dump, RestoreArgs.Builder.ttl(0).replace()));
    // The promoted replica is another server: every connection to the old one is gone.
    redis.clientKill(io.lettuce.core.KillArgs.Builder.typePubsub());
  }

  @Test
  void aDeviceResumingFromBeforeAHistoryEntryNoVersionCountsEndsWithTheStoresDocument()
      throws Exception {
    node = startNode();
    TestDevice writer = connect("writer");
    ServerFrame first = write(writer, 1, "a", "1");
    for (int i = 2; i <= 4; i++) {
      write(writer, i, i % 2 == 0 ? "b" : "a", Integer.toString(i));
    }
    writer.close();
    // What a torn write that Redis replayed in part leaves: the last delta twice in history.
    connection
        .sync()
        .eval(
            "local v = redis.call('LINDEX', KEYS[1], -1)"
                + " return redis.call('LINSERT', KEYS[1], 'BEFORE', v, v)",
            ScriptOutputType.INTEGER,
            (nodes.prefix + "{" + user + "}:h:cart").getBytes(StandardCharsets.UTF_8));

    // A device at version 1 without a fingerprint, as data from before fingerprints: read by
    // position, history would give it versions 3, 4 and 4.
    TestDevice old = TestDevice.connect(node.port(), TestServer.token(user, "old"));
    ServerFrame welcome = helloWithoutFingerprint(old, first.getAck().getEpoch(), 1);
    DocumentSync report = welcome.getWelcome().getSync().getDocuments(0);
    assertEquals(DocumentSync.Mode.SNAPSHOT, report.getMode());
    assertEquals(DocumentSync.Reason.DIVERGED, report.getReason());
    Copy copy = new Copy();
    copy.readUntil(old, 4);
    SyncResult store = node.engine().store().read(user, "cart", 0, 0).join();
    assertEquals(store.fields(), copy.fields);
    assertEquals(store.fingerprint(), copy.fingerprint);
    old.close();
  }

  @Test
  void liveDeviceAheadOfTheStoreIsResyncedAfterAFailover() throws Exception {
    node = startNode();
    TestDevice writer = connect("writer");
    TestDevice live = connect("live");
    Copy copy = new Copy();
    write(writer, 1, "a", "kept");
    copy.readUntil(live, 1);
    Object backup = backup();
    write(writer, 2, "a", "lost-2");
    write(writer, 3, "a", "lost-3");
    copy.readUntil(live, 3);
    writer.close();

    restore(backup);
    TestDevice other = connect("other");
    write(other, 1, "b", "after");
    // The store is at v2 now and the device at v3: no delta can tell it, the lost connection does.
    Snapshot s = copy.readUntil(live, 2);
    assertEquals(DocumentSync.Reason.DIVERGED, s.getReason());
    assertEquals(node.engine().store().read(user, "cart", 0, 0).join().fields(), copy.fields);
    assertEquals(1, node.stats().divergenceResyncs.sum());
    live.close();
    other.close();
  }
}
