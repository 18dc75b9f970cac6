package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffLimits;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The presence keeper waits for each batch of its store calls on a thread of its own: with Redis
 * paused (SIGSTOP), the keeper's thread sits in that wait, and a connection's event loop still runs
 * its heartbeat timer and answers the device's frames meanwhile; and those waits keep a paused
 * Redis from being sent every user's call every period. On a real Redis process and the real clock:
 * the waits to observe are the keeper's, in real time.
 */
@Tag("fault") // 16 s of Redis paused on the real clock: in the faults profile, not the default run.
class KeeperThreadTest {
  private static final String NODE = "keeper-thread";
  // A slice every 100 ms. Once the paused Redis answered nothing for two periods (4 s), the keeper
  // waits for each call until the store's command timeout (2 s).
  private static final Duration PRESENCE_TTL = Duration.ofSeconds(6);
  private static final Duration HEARTBEAT = Duration.ofMillis(200);

  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());
  private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aKeeperWaitingOnAPausedRedisDelaysNoHeartbeat() throws Exception {
    HandoffServer node = node(PRESENCE_TTL, HEARTBEAT);
    RawSocket tv = nodes.add(RawSocket.connect(node.port(), TestServer.token("u", "tv"), 0));
    tv.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
    assertTrue(tv.readFrame().hasWelcome());

    redis.pause();
    // Seen waiting for a batch in keepSlice, then the heartbeat timer pings the tv (answered, so
    // it stays open), then seen in the same wait still: the timer ran while the keeper waited.
    AtomicReference<String> last = new AtomicReference<>("never seen waiting");
    Conditions.await(
        "the tv pinged by its event loop's heartbeat timer while the keeper waits, once",
        () -> {
          ThreadInfo before = keeperWaiting();
          if (before == null) {
            return false;
          }
          try {
            tv.sendFrame(0xA, tv.readUntilPing());
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
          ThreadInfo after = keeperWaiting();
          last.set(
              "waited "
                  + before.getWaitedCount()
                  + " times before the ping, "
                  + (after == null ? "not waiting" : after.getWaitedCount() + " times")
                  + " after it");
          return after != null && after.getWaitedCount() == before.getWaitedCount();
        },
        Duration.ofSeconds(60),
        Duration.ofMillis(1));
    System.out.println("KeeperThreadTest: " + last.get());
  }

  /** A node on the test's Redis with {@code presenceTtl} and {@code heartbeat}, on real time. */
  private HandoffServer node(Duration presenceTtl, Duration heartbeat) throws Exception {
    StoreLimits limits = StoreLimits.builder().build();
    return nodes.start(
        NODE,
        RedisEngine.connect(redis.url(), nodes.prefix, limits),
        b ->
            b.storeLimits(limits)
                .heartbeatInterval(heartbeat)
                .handoffLimits(HandoffLimits.builder().presenceTtl(presenceTtl).build()));
  }

  /**
   * The keeper does not wait for a hung call longer than its slice while the store answers others
   * (KeeperHungShardTest), but once a paused Redis answered nothing for two periods it waits for
   * each batch again: else the paused Redis would be sent every user's call every period, to hold
   * and run all at once when it resumes. Counted in Redis's MONITOR: each keep call carries the
   * time the node sent it.
   */
  @Test
  void aPausedRedisIsNotSentEveryUsersKeepCallEveryPeriod() throws Exception {
    Duration ttl = Duration.ofMillis(1500); // a period of 500 ms
    int users = 40;
    HandoffServer node = node(ttl, Duration.ofMinutes(1));
    for (int i = 0; i < users; i++) {
      TestDevice d = nodes.add(TestDevice.connect(node.port(), TestServer.token("m" + i, "phone")));
      assertTrue(d.hello().hasWelcome());
    }
    List<Long> sent = new CopyOnWriteArrayList<>();
    Pattern keep = Pattern.compile("\"EVALSHA\" \"[0-9a-f]+\" \"1\" \"[^\"]*\\}:pr\" \"(\\d+)\"");
    try (Socket monitor = new Socket("127.0.0.1", redis.port())) {
      monitor.getOutputStream().write("MONITOR\r\n".getBytes(StandardCharsets.US_ASCII));
      BufferedReader lines =
          new BufferedReader(
              new InputStreamReader(monitor.getInputStream(), StandardCharsets.UTF_8));
      Thread reader =
          new Thread(
              () -> {
                try {
                  for (String line; (line = lines.readLine()) != null; ) {
                    Matcher m = keep.matcher(line);
                    if (m.find()) {
                      sent.add(Long.parseLong(m.group(1)));
                    }
                  }
                } catch (IOException closed) {
                  // The test is over.
                }
              },
              "monitor");
      reader.setDaemon(true);
      reader.start();
      Conditions.await("keep calls seen", () -> sent.size() >= users, Duration.ofSeconds(20));

      long paused = System.currentTimeMillis();
      redis.pause();
      Duration pause = Duration.ofSeconds(8); // 16 periods
      Conditions.await(
          "the pause lasted " + pause,
          () -> System.currentTimeMillis() - paused >= pause.toMillis(),
          pause.multipliedBy(3));
      long resumed = System.currentTimeMillis();
      redis.resume();
      // Redis runs what it held first, then what was sent since.
      Conditions.await(
          "keep calls sent after the pause run",
          () -> sent.stream().anyMatch(t -> t > resumed + 2 * 500),
          Duration.ofSeconds(30));
      long held = sent.stream().filter(t -> t > paused && t < resumed).count();
      System.out.println(
          "KeeperThreadTest: " + held + " keep calls sent to Redis in " + pause + " of pause");
      // Every user every period would be 640; two periods' worth and a batch every 1.5 s is ~90.
      assertTrue(
          held <= 3 * users,
          held + " keep calls sent to a paused Redis in " + pause + " for " + users + " users");
    }
  }

  /** The keeper's thread if it is parked in keepSlice (waiting for a batch), else null. */
  private ThreadInfo keeperWaiting() {
    for (ThreadInfo t : threads.dumpAllThreads(false, false)) {
      if (t.getThreadName().equals("handoff-presence-" + NODE)
          && (t.getThreadState() == Thread.State.WAITING
              || t.getThreadState() == Thread.State.TIMED_WAITING)
          && Arrays.stream(t.getStackTrace())
              .anyMatch(f -> f.getMethodName().equals("keepSlice"))) {
        return t;
      }
    }
    return null;
  }
}
