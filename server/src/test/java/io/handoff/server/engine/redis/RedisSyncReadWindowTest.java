package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Position;
import io.handoff.server.RedisProcess;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.FollowFilter;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import io.handoff.server.util.ReadWindow;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.event.command.CommandFailedEvent;
import io.lettuce.core.event.command.CommandListener;
import io.lettuce.core.event.command.CommandStartedEvent;
import io.lettuce.core.event.command.CommandSucceededEvent;
import io.lettuce.core.protocol.CommandType;
import io.lettuce.core.protocol.RedisCommand;
import io.netty.util.concurrent.DefaultEventExecutor;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link RedisDocumentStore#sync} of a user's many documents keeps at most {@link ReadWindow#READS}
 * of its {@code read.lua} calls in flight on its Redis connection at once, as Lettuce's own command
 * events show, and still answers every document as one read each would. Without the window, the
 * reads of all 110 documents go out at once (the listing's answer sends them, on Lettuce's thread,
 * before any reply can be read).
 */
class RedisSyncReadWindowTest {
  private static final int DOCUMENTS = 100;

  /** The script calls Lettuce sent and has not seen answered, and the most at once. */
  private static final class ScriptsInFlight implements CommandListener {
    private final Set<RedisCommand<?, ?, ?>> sent = new HashSet<>();
    private int most;
    private int started;

    @Override
    public synchronized void commandStarted(CommandStartedEvent e) {
      if (!script(e.getCommand())) {
        return;
      }
      // The command's own state, not its succeeded event: Lettuce tells listeners after the
      // future's callbacks, which send the window's next read.
      sent.removeIf(RedisCommand::isDone);
      sent.add(e.getCommand());
      started++;
      most = Math.max(most, sent.size());
    }

    @Override
    public synchronized void commandSucceeded(CommandSucceededEvent e) {
      sent.remove(e.getCommand());
    }

    @Override
    public synchronized void commandFailed(CommandFailedEvent e) {
      sent.remove(e.getCommand());
    }

    synchronized void reset() {
      sent.clear();
      most = 0;
      started = 0;
    }

    synchronized int most() {
      return most;
    }

    synchronized int started() {
      return started;
    }

    private static boolean script(RedisCommand<?, ?, ?> c) {
      return c.getType() == CommandType.EVALSHA || c.getType() == CommandType.EVAL;
    }
  }

  @Test
  void aSyncOfManyDocumentsHasAtMostTheWindowOfReadsInFlightAndAnswersEveryDocument()
      throws Exception {
    StoreLimits limits = StoreLimits.builder().build();
    ScriptsInFlight scripts = new ScriptsInFlight();
    RedisClient client = RedisClient.create(RedisProcess.sharedUrl());
    client.addListener(scripts);
    DefaultEventExecutor timer = new DefaultEventExecutor();
    try (StatefulRedisConnection<byte[], byte[]> c = client.connect(ByteArrayCodec.INSTANCE)) {
      RedisDocumentStore store =
          new RedisDocumentStore(
              c,
              c.async(),
              new RedisKeys("test-" + UUID.randomUUID() + ":"),
              limits,
              Clock.systemUTC(),
              new RedisFailures(
                  timer, Duration.ofSeconds(10), new StoreHealth("Redis", Duration.ofSeconds(1))),
              null,
              key -> false);
      Map<String, WriteOutcome> written =
          Writes.documents(store, "ann", "laptop", DOCUMENTS, d -> "value " + d + " ".repeat(d));
      // Positions: ten documents the device holds at their version, five that do not exist.
      List<Position> positions = new ArrayList<>();
      for (int d = 0; d < 10; d++) {
        positions.add(Writes.position("doc/" + d, written.get("doc/" + d)));
      }
      for (int g = 0; g < 5; g++) {
        positions.add(
            Position.newBuilder().setDocument("gone/" + g).setEpoch(7).setVersion(3).build());
      }
      scripts.reset();

      List<SyncResult> results =
          store
              .sync(
                  "ann",
                  FollowFilter.of(FollowSpec.newBuilder().addPrefixes("").build()),
                  positions)
              .get(30, TimeUnit.SECONDS);

      assertTrue(
          scripts.most() <= ReadWindow.READS,
          scripts.most() + " read.lua calls in flight at once; the window is " + ReadWindow.READS);
      assertEquals(DOCUMENTS + 5, scripts.started(), "one read.lua per document");
      assertEquals(DOCUMENTS + 5, results.size());
      Map<String, SyncResult> byName = new HashMap<>();
      results.forEach(r -> byName.put(r.document(), r));
      assertEquals(DOCUMENTS + 5, byName.size(), "each document once");
      for (int d = 0; d < DOCUMENTS; d++) {
        SyncResult r = byName.get("doc/" + d);
        WriteOutcome o = written.get("doc/" + d);
        assertEquals(o.epoch(), r.epoch(), r.toString());
        assertEquals(1, r.toVersion(), r.toString());
        if (d < 10) {
          assertEquals(DocumentSync.Mode.UP_TO_DATE, r.mode(), r.toString());
          assertTrue(r.fields().isEmpty(), r.toString());
        } else {
          assertEquals(DocumentSync.Mode.SNAPSHOT, r.mode(), r.toString());
          assertEquals(
              Map.of("f", ByteString.copyFromUtf8("value " + d + " ".repeat(d))), r.fields());
        }
      }
      for (int g = 0; g < 5; g++) {
        assertEquals(DocumentSync.Mode.GONE, byName.get("gone/" + g).mode());
      }
    } finally {
      client.shutdown();
      timer.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }
  }
}
