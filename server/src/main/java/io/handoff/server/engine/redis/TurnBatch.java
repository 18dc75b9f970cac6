package io.handoff.server.engine.redis;

import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.output.NestedMultiOutput;
import io.lettuce.core.protocol.AsyncCommand;
import io.lettuce.core.protocol.Command;
import io.lettuce.core.protocol.CommandArgs;
import io.lettuce.core.protocol.CommandType;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.FastThreadLocal;
import io.netty.util.internal.ThreadExecutorMap;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;

/**
 * Sends script calls to Redis once per turn of the event loop that makes them: the first call an
 * event loop makes in a turn schedules one task on that loop, which runs after the turn's I/O and
 * hands every call made meanwhile to Lettuce as one batch ({@link StatefulConnection#dispatch(
 * java.util.Collection)}). So the writes of all the devices one of the server's loops read in a
 * turn (or all the writes one batch of answers set off on Lettuce's thread) cross to Lettuce's
 * thread as one task and reach Redis in one system call; sent one by one, each cost a task, a
 * wake-up of Lettuce's thread and a system call. A thread that is no event loop (a test, a timer)
 * sends at once. The batch goes through Lettuce's usual path: commands are rejected while the
 * connection is down and time out as any other.
 *
 * <p>Thread-safe: each event loop's thread keeps its own batch, at most what it sends in a turn.
 */
final class TurnBatch {
  private final StatefulConnection<byte[], byte[]> connection;
  private final FastThreadLocal<Pending> pending =
      new FastThreadLocal<>() {
        @Override
        protected Pending initialValue() {
          return new Pending();
        }
      };

  TurnBatch(StatefulConnection<byte[], byte[]> connection) {
    this.connection = connection;
  }

  /** {@code EVALSHA sha keys argv} with a nested multi-bulk reply, sent at the end of this turn. */
  CompletableFuture<List<Object>> evalsha(String sha, byte[][] keys, byte[][] argv) {
    CommandArgs<byte[], byte[]> args =
        new CommandArgs<>(ByteArrayCodec.INSTANCE)
            .add(sha)
            .add(keys.length)
            .addKeys(keys)
            .addValues(argv);
    AsyncCommand<byte[], byte[], List<Object>> command =
        new AsyncCommand<>(
            new Command<>(
                CommandType.EVALSHA, new NestedMultiOutput<>(ByteArrayCodec.INSTANCE), args));
    EventExecutor here = ThreadExecutorMap.currentExecutor();
    if (here == null) {
      dispatch(List.of(command));
      return command;
    }
    Pending p = pending.get();
    p.commands.add(command);
    if (!p.scheduled) {
      p.scheduled = true;
      try {
        here.execute(p);
      } catch (RejectedExecutionException e) {
        p.run(); // The loop is stopping: send now rather than never.
      }
    }
    return command;
  }

  private void dispatch(List<AsyncCommand<byte[], byte[], List<Object>>> commands) {
    try {
      connection.dispatch(commands);
    } catch (RuntimeException e) {
      commands.forEach(c -> c.completeExceptionally(e));
    }
  }

  /** One thread's calls of the current turn, and its task that sends them. */
  private final class Pending implements Runnable {
    final ArrayList<AsyncCommand<byte[], byte[], List<Object>>> commands = new ArrayList<>();
    boolean scheduled;

    @Override
    public void run() {
      scheduled = false;
      List<AsyncCommand<byte[], byte[], List<Object>>> batch = new ArrayList<>(commands);
      commands.clear();
      dispatch(batch);
    }
  }
}
