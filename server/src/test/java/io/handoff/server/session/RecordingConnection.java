package io.handoff.server.session;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * A connection of user "user", device "phone", for tests of one feature's session state without a
 * socket: it records the frames replied and counts flushes; tasks run on the caller's thread at
 * once unless {@link #queueTasks()} made the event loop a list the test runs by hand. Timers never
 * fire.
 */
public class RecordingConnection implements Connection {
  public final List<byte[]> replies = new ArrayList<>();
  public final List<Runnable> queued = new ArrayList<>();
  public int flushes;
  // What backedUp() answers: a test sets it to stand for a socket that does not take frames.
  public boolean socketFull;
  private boolean queue;

  /** From now on, {@link #execute} queues tasks until {@link #runQueued()}. */
  public RecordingConnection queueTasks() {
    queue = true;
    return this;
  }

  /** Runs the tasks queued so far, in order. */
  public void runQueued() {
    List<Runnable> now = new ArrayList<>(queued);
    queued.clear();
    now.forEach(Runnable::run);
  }

  @Override
  public String userId() {
    return "user";
  }

  @Override
  public String deviceId() {
    return "phone";
  }

  @Override
  public void push(ServerFrame frame) {}

  @Override
  public void reply(ServerFrame frame) {
    replies.add(frame.toByteArray());
  }

  @Override
  public void replyEncoded(byte[] frame) {
    replies.add(frame);
  }

  @Override
  public void sync(ServerFrame frame) {
    reply(frame);
  }

  @Override
  public void syncEncoded(byte[] frame) {
    replyEncoded(frame);
  }

  @Override
  public void flush() {
    flushes++;
  }

  @Override
  public boolean backedUp() {
    return socketFull;
  }

  @Override
  public void error(long requestId, Error error) {}

  @Override
  public void execute(Runnable task) {
    if (queue) {
      queued.add(task);
    } else {
      task.run();
    }
  }

  @Override
  public <T> void onLoop(CompletableFuture<T> future, BiConsumer<T, Throwable> then) {
    future.whenComplete(then);
  }

  @Override
  public Future<?> schedule(Runnable task, long delay, TimeUnit unit) {
    return new CompletableFuture<>();
  }

  @Override
  public void arm(Deadline d, long delay, TimeUnit unit) {}

  @Override
  public void disarm(Deadline d) {}

  @Override
  public String remoteAddress() {
    return "127.0.0.1";
  }

  @Override
  public Clock clock() {
    return Clock.systemUTC();
  }

  @Override
  public long nanoTime() {
    return 0;
  }

  @Override
  public boolean active() {
    return true;
  }

  @Override
  public void close(CloseCode code, String reason) {}

  @Override
  public void close(CloseCode code, String reason, long replacedBy) {}

  @Override
  public long instance() {
    return 0;
  }
}
