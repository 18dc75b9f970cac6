package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Write;
import io.handoff.server.RedisProcess;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * A crash can tear Redis's append-only file in the middle of a write script's transaction (the
 * script's effects are logged between MULTI and EXEC; a SIGKILL during the {@code write()} of a
 * buffer longer than a page leaves part of it). Redis's own loader, with {@code aof-load-truncated
 * yes} (its default), cuts such a file after its last whole command, inside the transaction: the
 * start-up drops the torn write, but the file keeps an open MULTI with the write's first commands,
 * and at the next restart the commands written since are read into that transaction and the torn
 * write's first commands run again with them. For Handoff's write script that is a delta appended
 * to history that no version counts. docs/redis.md has operators refuse such a file ({@code
 * aof-load-truncated no}) and repair it with {@code redis-check-aof --fix}, which cuts it back to
 * before the transaction; {@link RedisProcess} does the same for every test. Every read checks that
 * the deltas it serves line up with the document's version, so a history that does not is never
 * served as deltas.
 */
class TornAppendOnlyFileTest {
  private final String prefix = "test-" + UUID.randomUUID() + ":";

  @Test
  void aWriteTornByACrashIsRepairedAwayWholeAndNothingOfItComesBackAtTheNextRestart()
      throws Exception {
    try (RedisProcess redis = RedisProcess.start()) {
      tearTheThirdWrite(
          redis,
          r -> {
            r.startAgain();
            assertTrue(
                r.lastRepair().contains("Successfully truncated"),
                "the repair cut the torn transaction: " + r.lastRepair());
          },
          (engine, raw) -> {
            assertEquals(4L, raw.llen(history()), "one delta per version after the repair");
            SyncResult all = engine.store().read("u", "doc", epoch(engine), 0).join();
            assertEquals(DocumentSync.Mode.DELTAS, all.mode());
            assertEquals(List.of(1L, 2L, 3L, 4L), versions(all.deltas()));
          });
    }
  }

  @Test
  void redisOwnLoaderKeepsPartOfATornWriteAndHandoffServesASnapshotRatherThanItsHistory()
      throws Exception {
    try (RedisProcess redis =
        RedisProcess.start(
            List.of(
                "appendonly yes", "appendfsync always", "save \"\"", "aof-load-truncated yes"))) {
      tearTheThirdWrite(
          redis,
          RedisProcess::startAgainUnrepaired,
          (engine, raw) -> {
            // What this test guards against: the torn write's delta is back, beside its re-send.
            // A Redis that cuts a torn file before its transaction leaves nothing to replay.
            assumeTrue(
                raw.llen(history()) == 5L, "this Redis replays no part of a torn transaction");
            SyncResult all = engine.store().read("u", "doc", epoch(engine), 0).join();
            assertEquals(DocumentSync.Mode.SNAPSHOT, all.mode(), "never five deltas for four");
            assertEquals(DocumentSync.Reason.DIVERGED, all.reason());
            assertEquals(4, all.toVersion());
            assertEquals(ByteString.copyFromUtf8("value 4"), all.fields().get("f"));
          });
    }
  }

  @Test
  void aHistoryWithAnEntryTooManyIsServedAsASnapshotWhateverTheDeviceKnows() {
    try (EngineWithRawRedis fixture =
        new EngineWithRawRedis(prefix, StoreLimits.builder().build(), Clock.systemUTC())) {
      long epoch = 0;
      for (int seq = 1; seq <= 5; seq++) {
        epoch = fixture.engine.store().write("u", "d1", write(seq)).join().epoch();
      }
      SyncResult fromTwo = fixture.engine.store().read("u", "doc", epoch, 2).join();
      assertEquals(DocumentSync.Mode.DELTAS, fromTwo.mode());
      long fingerprintOfTwo = fromTwo.deltas().get(0).previousFingerprint();
      // What a torn transaction replayed leaves: the last delta twice.
      fixture.redis.eval(
          "local v = redis.call('LINDEX', KEYS[1], -1)"
              + " return redis.call('LINSERT', KEYS[1], 'BEFORE', v, v)",
          ScriptOutputType.INTEGER,
          history());
      for (long fingerprint : new long[] {0, fingerprintOfTwo}) {
        SyncResult read = fixture.engine.store().read("u", "doc", epoch, 2, fingerprint).join();
        assertEquals(DocumentSync.Mode.SNAPSHOT, read.mode(), "fingerprint " + fingerprint);
        assertEquals(5, read.toVersion());
      }
      SyncResult fromFour = fixture.engine.store().read("u", "doc", epoch, 4).join();
      assertEquals(DocumentSync.Mode.DELTAS, fromFour.mode(), "the last delta still lines up");
      assertEquals(List.of(5L), versions(fromFour.deltas()));
    }
  }

  /**
   * Writes 1 and 2, then 3, which a crash tears after its history append; starts Redis again with
   * {@code startAgain}; re-sends 3 (lost whole, so applied again), writes 4, restarts Redis cleanly
   * and hands the engine and a raw connection to {@code check}.
   */
  private void tearTheThirdWrite(RedisProcess redis, Consumer<RedisProcess> startAgain, Check check)
      throws Exception {
    try (RedisEngine engine =
        RedisEngine.connect(redis.url(), prefix, StoreLimits.builder().build())) {
      for (int seq = 1; seq <= 3; seq++) {
        assertTrue(engine.store().write("u", "d1", write(seq)).join().isApplied());
      }
      redis.crash();
      tearInsideLastTransaction(redis.appendOnlyFile());
      startAgain.accept(redis);
      WriteOutcome again = engine.store().write("u", "d1", write(3)).join();
      assertTrue(again.isApplied(), again.toString());
      assertFalse(again.duplicate(), "the torn write was lost whole, so its re-send applies");
      assertEquals(3, again.version());
      assertEquals(4, engine.store().write("u", "d1", write(4)).join().version());
      redis.restart();
      RedisClient client = RedisClient.create(redis.url());
      try (StatefulRedisConnection<String, String> c = client.connect()) {
        check.accept(engine, c.sync());
      } finally {
        client.shutdown();
      }
    }
  }

  private interface Check {
    void accept(RedisEngine engine, io.lettuce.core.api.sync.RedisCommands<String, String> raw)
        throws Exception;
  }

  /**
   * Cuts {@code aof} three bytes into the command after the history append of its last MULTI block:
   * the script's first commands are whole, the rest and the EXEC are gone.
   */
  private void tearInsideLastTransaction(Path aof) throws IOException {
    byte[] file = Files.readAllBytes(aof);
    List<int[]> commands = new ArrayList<>(); // {start, end}
    List<String> names = new ArrayList<>();
    List<String> firstKeys = new ArrayList<>();
    int at = 0;
    while (at < file.length) {
      int start = at;
      int argc = Integer.parseInt(line(file, at + 1));
      at = next(file, at);
      String name = null;
      String key = null;
      for (int i = 0; i < argc; i++) {
        int length = Integer.parseInt(line(file, at + 1));
        at = next(file, at);
        String arg = new String(file, at, length, StandardCharsets.ISO_8859_1);
        if (i == 0) {
          name = arg;
        } else if (i == 1) {
          key = arg;
        }
        at += length + 2;
      }
      commands.add(new int[] {start, at});
      names.add(name.toUpperCase());
      firstKeys.add(key);
    }
    int multi = names.lastIndexOf("MULTI");
    assertTrue(multi >= 0, "the write script's effects are logged in a transaction");
    int push = -1;
    for (int i = multi + 1; i < names.size(); i++) {
      if (names.get(i).equals("RPUSH") && history().equals(firstKeys.get(i))) {
        push = i;
        break;
      }
    }
    assertTrue(push > multi && push + 1 < names.size(), "a command follows the history append");
    try (FileChannel ch = FileChannel.open(aof, StandardOpenOption.WRITE)) {
      ch.truncate(commands.get(push + 1)[0] + 3L);
    }
  }

  private static String line(byte[] b, int from) {
    int end = from;
    while (b[end] != '\r') {
      end++;
    }
    return new String(b, from, end - from, StandardCharsets.ISO_8859_1);
  }

  private static int next(byte[] b, int from) {
    int end = from;
    while (b[end] != '\n') {
      end++;
    }
    return end + 1;
  }

  private long epoch(RedisEngine engine) {
    return engine.store().read("u", "doc", 0, 0).join().epoch();
  }

  private static List<Long> versions(List<DocumentEvent> deltas) {
    List<Long> out = new ArrayList<>();
    deltas.forEach(d -> out.add(d.version()));
    return out;
  }

  private static Write write(int seq) {
    return Writes.set("doc", seq, "f", "value " + seq);
  }

  private String history() {
    return prefix + "{u}:h:doc";
  }
}
