package io.handoff.loadtest;

import io.handoff.client.HandoffClient;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * All simulated devices of a run: {@code users x devices} clients on one shared event-loop group
 * (the lean devices of one user on one of its loops, users taking the loops in turn), spread
 * round-robin over the source addresses. Every device gets every target URL, as an app would, so it
 * moves to the next node when one fails; device {@code i} gets the list rotated by {@code i}, so it
 * starts on URL {@code i % urls} and a user's devices start on different nodes when there are
 * several. Device {@code i} is slot {@code i % devices} of user {@code i / devices}.
 *
 * <p>Lifecycle: built (tokens minted, clients built, nothing connected), {@link #connectAll}, used,
 * then {@link #close()}: every client is closed and the event loops stop. Methods other than the
 * getters are called from the main thread.
 */
final class Fleet implements AutoCloseable {
  /**
   * How long a connection must have lasted since its Welcome for its end to start the reconnect
   * backoff over: client-java's {@code Reconnects.STABLE_CONNECTION_NANOS}, which the lean
   * connection restates.
   */
  static final long STABLE_NANOS = LeanLink.STABLE_CONNECTION_NANOS;

  /** Clients closed at once when the fleet closes. */
  private static final int CLOSE_THREADS = 32;

  private final EventLoopGroup group;
  private final Device[] devices;
  private final DocLog[][] logs;
  private final int users;
  private final int devicesPerUser;
  private final Stats stats;
  private final List<URI> urls;

  /**
   * @param dropsExpected whether connections cut by the load tester are part of the run
   * @param tokenTtl how long the minted tokens stay valid
   * @param lean whether the devices use the lean connection ({@link LeanLink}, writes only) rather
   *     than the Java client
   */
  Fleet(LoadOptions o, Stats stats, boolean dropsExpected, Duration tokenTtl, boolean lean) {
    this.users = o.users;
    this.devicesPerUser = o.devices;
    this.stats = stats;
    this.urls = List.copyOf(o.urls);
    List<InetSocketAddress> sources = o.sourceAddresses();
    Tokens tokens = new Tokens(o.jwtSecret);
    String prefix = o.userPrefix();
    this.group = HandoffClient.newEventLoopGroup(o.threads());
    this.logs = new DocLog[users][];
    this.devices = new Device[users * devicesPerUser];
    try {
      for (int u = 0; u < users; u++) {
        logs[u] = new DocLog[o.documents];
        for (int d = 0; d < o.documents; d++) {
          logs[u][d] = new DocLog();
        }
        String user = prefix + "u" + u;
        // A user's devices (lean or Java clients) share one event loop, as the server serves them:
        // the frames one write brings them (an ack and the deltas) wake one thread of the tester,
        // not several, and that loop's timer submits their writes (WriteScheduler).
        EventLoop userLoop = group.next();
        for (int s = 0; s < devicesPerUser; s++) {
          int i = u * devicesPerUser + s;
          Device device = new Device(i, u, s, devicesPerUser, logs[u], stats, dropsExpected);
          String token = tokens.mint(user, device.deviceId, tokenTtl);
          if (lean) {
            device.attach(
                new LeanLink(
                    device,
                    userLoop,
                    rotated(o.urls, i),
                    sources.isEmpty() ? null : sources.get(i % sources.size()),
                    token,
                    "handoff-loadtest",
                    o.connectTimeout,
                    o.payload,
                    o.documents,
                    System::nanoTime));
            devices[i] = device;
            continue;
          }
          HandoffClient.Builder b =
              HandoffClient.builder()
                  .urls(rotated(o.urls, i))
                  .token(token)
                  .followAll()
                  .eventLoopGroup(userLoop)
                  .clientName("handoff-loadtest")
                  .listener(device)
                  .offerListener(device);
          if (!sources.isEmpty()) {
            b.localAddress(sources.get(i % sources.size()));
          }
          device.attach(b.build(), userLoop);
          devices[i] = device;
        }
      }
    } catch (RuntimeException e) {
      group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      throw e;
    }
  }

  /** {@code urls} starting at index {@code i % size}, wrapping around. */
  static List<URI> rotated(List<URI> urls, int i) {
    List<URI> out = new ArrayList<>(urls.size());
    int start = i % urls.size();
    for (int k = 0; k < urls.size(); k++) {
      out.add(urls.get((start + k) % urls.size()));
    }
    return out;
  }

  /** Sum over the devices of {@link HandoffClient#writesResent()}. */
  long writesResent() {
    long n = 0;
    for (Device d : devices) {
      if (d != null) {
        n += d.writesResent();
      }
    }
    return n;
  }

  /** Notes for each device whether it is connected and caught up now ({@link Device#markEnd}). */
  void markEnd() {
    for (Device d : devices) {
      d.markEnd();
    }
  }

  int users() {
    return users;
  }

  private volatile String connectProblem;

  int devicesPerUser() {
    return devicesPerUser;
  }

  int size() {
    return devices.length;
  }

  Device device(int user, int slot) {
    return devices[user * devicesPerUser + slot];
  }

  Device device(int index) {
    return devices[index];
  }

  /** The documents of {@code user}. */
  DocLog[] logs(int user) {
    return logs[user];
  }

  /**
   * Connects every device, at most {@code concurrency} handshakes at a time, and waits until all
   * have a Welcome or {@code timeout} passed. Prints a progress line each second.
   *
   * @return how many devices are connected
   */
  int connectAll(Duration timeout, int concurrency, PrintStream progress) {
    Semaphore permits = new Semaphore(concurrency);
    AtomicInteger failed = new AtomicInteger();
    AtomicLong done = new AtomicLong();
    long start = System.nanoTime();
    long deadline = start + timeout.toNanos();
    long nextPrint = start + TimeUnit.SECONDS.toNanos(1);
    int issued = 0;
    try {
      while (System.nanoTime() < deadline
          && (issued < devices.length || done.get() < devices.length)) {
        if (issued < devices.length && permits.tryAcquire(100, TimeUnit.MILLISECONDS)) {
          Device d = devices[issued++];
          long t0 = System.nanoTime();
          d.connect()
              .orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS)
              .whenComplete(
                  (ok, error) -> {
                    permits.release();
                    done.incrementAndGet();
                    if (error == null) {
                      stats.connect.recordValue((System.nanoTime() - t0) / 1_000);
                    } else {
                      failed.incrementAndGet();
                      stats.sample("device " + d.index + " could not connect: " + error);
                    }
                  });
        } else if (issued >= devices.length) {
          Thread.sleep(20);
        }
        if (stats.connected.get() == 0
            && issued > 0
            && (issued == devices.length || permits.availablePermits() == 0)
            && everyIssuedFailed(issued)) {
          // Not one device got in and each tried: waiting longer only repeats the refusal.
          connectProblem = ConnectFailures.describe(devices[0].firstFailure(), urls);
          progress.printf("giving up: no device could connect: %s%n", connectProblem);
          break;
        }
        long now = System.nanoTime();
        if (now >= nextPrint) {
          nextPrint += TimeUnit.SECONDS.toNanos(1);
          progress.printf(
              "connecting %5.1fs  connected %d/%d  failed %d%n",
              (now - start) / 1e9, stats.connected.get(), devices.length, failed.get());
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    int connected = stats.connected.get();
    progress.printf(
        "connected %d/%d devices in %.1fs (%d failed)%n",
        connected, devices.length, (System.nanoTime() - start) / 1e9, failed.get());
    if (connected < devices.length && connectProblem == null) {
      for (Device d : devices) {
        if (d.firstFailure() != null) {
          connectProblem = ConnectFailures.describe(d.firstFailure(), urls);
          progress.printf("first connection failure: %s%n", connectProblem);
          break;
        }
      }
    }
    return connected;
  }

  private boolean everyIssuedFailed(int issued) {
    for (int i = 0; i < issued; i++) {
      if (devices[i].firstFailure() == null) {
        return false;
      }
    }
    return true;
  }

  /**
   * Why devices could not connect, in words a person acts on ("connection refused by ...", the
   * server's reason for refusing a token), or null when every device connected.
   */
  String connectProblem() {
    return connectProblem;
  }

  /**
   * The problem line of a run in which only {@code connected} devices connected within {@code
   * timeout}, with the first connection failure when there was one.
   */
  String connectShortfall(int connected, Duration timeout) {
    return "only "
        + connected
        + " of "
        + devices.length
        + " devices connected within "
        + Durations.format(timeout)
        + (connectProblem == null ? "" : ": " + connectProblem);
  }

  /**
   * Cuts the connections of up to {@code n} random connected devices ({@link
   * HandoffClient#dropConnection()}: a TCP reset, no close frame); returns how many.
   */
  int cutRandom(int n, Random random) {
    List<Device> up = new ArrayList<>(devices.length);
    for (Device d : devices) {
      if (d.isUp()) {
        up.add(d);
      }
    }
    Collections.shuffle(up, random);
    List<Device> picked = up.subList(0, Math.min(n, up.size()));
    picked.forEach(Device::dropConnection);
    stats.drops.add(picked.size());
    return picked.size();
  }

  /**
   * Cuts every device of up to {@code users} random users whose devices are all connected, each
   * user's devices together; returns how many devices. The user leaves the node and comes back
   * whole, as a user with one device does each time it goes away: what a warm-up of single cuts
   * never makes the server do, and a storm makes it do for every user at once.
   */
  int cutRandomUsers(int users, Random random) {
    List<Integer> whole = new ArrayList<>(this.users);
    for (int u = 0; u < this.users; u++) {
      boolean allUp = true;
      for (int s = 0; s < devicesPerUser && allUp; s++) {
        allUp = devices[u * devicesPerUser + s].isUp();
      }
      if (allUp) {
        whole.add(u);
      }
    }
    Collections.shuffle(whole, random);
    int cut = 0;
    for (int u : whole.subList(0, Math.min(users, whole.size()))) {
      for (int s = 0; s < devicesPerUser; s++) {
        devices[u * devicesPerUser + s].dropConnection();
        cut++;
      }
    }
    stats.drops.add(cut);
    return cut;
  }

  /** Cuts the connection of every connected device at once; returns how many. */
  int cutAll() {
    int cut = 0;
    for (Device d : devices) {
      if (d.isUp()) {
        d.dropConnection();
        cut++;
      }
    }
    stats.drops.add(cut);
    return cut;
  }

  /**
   * How many devices, at {@code now} ({@link System#nanoTime()}), are down or connected for less
   * than {@link #STABLE_NANOS}: a cut of such a device does not start its reconnect backoff over.
   */
  int unsettled(long now) {
    int n = 0;
    for (Device d : devices) {
      if (!d.isUp() || now - d.upSinceNanos() < STABLE_NANOS) {
        n++;
      }
    }
    return n;
  }

  /**
   * Whether a storm's cut ({@link #cutAll}) may come at {@code now}: every device is connected and
   * has been for {@link #STABLE_NANOS}, or {@code deadline} has come whatever their state. Both
   * clients start their reconnect backoff over only when a connection that lasted that long ends,
   * and nothing else starts it over: a device that the warm-up's random cuts left with a grown
   * backoff, back shortly before the storm, waited up to 30 s after the cut (one storm took 27.5 s
   * for one device while every other resumed within 7 s).
   */
  boolean readyForStorm(long now, long deadline) {
    return now >= deadline || unsettled(now) == 0;
  }

  /**
   * Closes every client (a few at a time, each sends a close frame) and stops the event loops.
   * Afterwards no listener runs any more, so the devices' state can be read from this thread.
   */
  @Override
  public void close() {
    for (Device d : devices) {
      if (d != null) {
        d.closing();
      }
    }
    ExecutorService pool =
        Executors.newFixedThreadPool(
            CLOSE_THREADS,
            r -> {
              Thread t = new Thread(r, "loadtest-close");
              t.setDaemon(true);
              return t;
            });
    for (Device d : devices) {
      if (d != null) {
        pool.execute(d::close);
      }
    }
    pool.shutdown();
    try {
      pool.awaitTermination(60, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
  }
}
